"""Gamma decay, theory: SymPy proofs of the derivations, their numeric twins, independent
cross-checks of the quadratures, bad input (theory/gamma_decay.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from bnreg.theory import bn_noise as B
from bnreg.theory import gamma_decay as G
from bnreg.theory.distributions import FAMILIES, family_moments, population_mean

M, u, g, rho = G.M, G.u, G.g, G.rho


@pytest.mark.derivation
@pytest.mark.parametrize("center", [True, False])
def test_deviation_coeffs_equal_derivation(center):
    d = G.derive_deviation_moments(2, center)
    c = G.deviation_coeffs(u, rho, g, G.m5, G.m6, center)
    for k in range(1, 5):
        twin = c[k, 1] / M + c[k, 2] / M**2
        assert sp.expand(d[k] - twin) == 0, k


@pytest.mark.derivation
def test_second_moment_agrees_with_bn_noise_derivation():
    # Two code paths (generic D^k here, (hhat-hbar)^2 in bn_noise) give the same E[D^2|u].
    d2 = G.derive_deviation_moments(2, True)[2]
    assert sp.expand(d2 * G.gamma**2 - B.derive_bn_deviation_ms(2)) == 0


def test_truncation_stable():
    # Order-1 series is the leading part of the order-2 series.
    d1, d2 = G.derive_deviation_moments(1, True), G.derive_deviation_moments(2, True)
    for k in (1, 2):
        lead = sp.limit(sp.expand(d2[k] * M), M, sp.oo)
        assert sp.simplify(lead - sp.expand(d1[k] * M)) == 0


def test_first_order_mean_shift_form_and_zero_average():
    d = G.derive_first_order_mean()
    assert sp.simplify(d["E[D|u]"] - (g / 2 + 3 * (rho + 2) * u / 8 - u**3 / 2) / M) == 0
    assert d["E_u E[D|u] (x M)"] == 0
    assert sp.simplify(G.bn_mean_shift(M, u, rho, g) - d["E[D|u]"]) == 0  # the numeric twin


def test_zeta_derivation_and_seed_difference():
    z = G.derive_zeta(True)
    F, mu, Gg = G.F_gamma, G.mu_d2A, G.G_gamma
    assert sp.simplify(z["zeta"] - ((rho + 2) / (8 * M) * F + mu / (2 * M) + g * Gg / (2 * M))) == 0
    assert sp.simplify(z["missing_in_seed"] - g * Gg / (2 * M)) == 0
    assert sp.simplify(G.derive_zeta(False)["zeta"] - (rho + 2) / (8 * M) * F) == 0
    assert sp.simplify(G.zeta(M, rho, F, mu, g, Gg) - z["zeta"]) == 0


@pytest.mark.parametrize("case,expected", [
    ("identity", sp.Rational(3, 4)), ("squared", sp.Rational(3, 2)), ("no_bias", sp.Rational(1, 2)),
    ("relu", sp.Rational(3, 8))])
def test_special_cases_gaussian(case, expected):
    z = G.derive_zeta_special(case)["zeta"]
    z = z.subs({G.gamma: 1, G.beta: 0}) if case == "relu" else z
    assert sp.simplify(z - expected / M) == 0
    assert G.zeta_special(case, 32) == pytest.approx(float(expected) / 32, rel=1e-10)


def test_poisson_closed_form_and_numeric():
    z = G.derive_zeta_special("poisson")["zeta"]
    gm, bt = G.gamma, G.beta
    closed = sp.exp(bt + gm**2 / 2) * ((1 + gm**2) / 4 + sp.Rational(1, 2)) / M
    assert sp.simplify(z - closed) == 0
    assert G.zeta_special("poisson", 16, 0.7, -0.3) == pytest.approx(
        math.exp(-0.3 + 0.245) * ((1 + 0.49) / 4 + 0.5) / 16, rel=1e-9)


def test_logistic_and_relu_quadrature_vs_gauss_hermite():
    # Independent numeric path: probabilists' Gauss-Hermite (smooth integrand), and Phi for ReLU.
    x, w = np.polynomial.hermite_e.hermegauss(120)
    w = w / w.sum()
    s = 1 / (1 + np.exp(-(2.0 * x + 0.5)))
    a = s * (1 - s)
    F, mu = float(np.sum(w * a * x**2)), float(np.sum(w * a))
    assert G.zeta_special("logistic", 10, 2.0, 0.5) == pytest.approx((2 / 8 * F + mu / 2) / 10, rel=1e-9)
    st = G.glm_stats("relu", 1.0, 0.5)
    from scipy.stats import norm
    assert st["mu_d2A"] == pytest.approx(norm.cdf(0.5), rel=1e-10)
    # the write-up's sigmoid approximation of the active fraction differs when beta != 0
    sig = G.glm_stats("relu", 1.0, 0.5, approx="sigmoid")["mu_d2A"]
    assert sig == pytest.approx(float(np.sum(w / (1 + np.exp(-(x + 0.5))))), rel=1e-9)
    assert abs(sig - st["mu_d2A"]) > 0.05


@pytest.mark.parametrize("family", FAMILIES)
def test_population_mean_reproduces_moments(family):
    fm = family_moments(family)
    for k in range(7):
        assert population_mean(family, lambda x, k=k: x**k) == pytest.approx(fm.m[k], rel=1e-8, abs=1e-10)


def test_squared_exact_identities_and_factor_two():
    d = G.derive_squared_exact(4)
    for key in ("mean xhat^2 - 1", "mean xhat", "mean u xhat - s", "no centring: mean (u/r)^2 - 1",
                "no centring: mean u (u/r) - r"):
        assert d[key] == 0, key
    for ex, ze in (("ratio_exact_series", "ratio_zeta_series"),
                   ("ratio_exact_no_bias_series", "ratio_zeta_no_bias_series")):
        lead_ex = sp.limit(sp.expand((d[ex] - 1) * M), M, sp.oo)
        lead_ze = sp.limit(sp.expand((d[ze] - 1) * M), M, sp.oo)
        assert sp.simplify(lead_ze - 2 * lead_ex) == 0  # PN + zeta gamma^2 doubles the shrinkage
    assert sp.simplify(sp.limit(sp.expand((d["ratio_exact_series"] - 1) * M), M, sp.oo) + (rho + 6) / 8) == 0


@pytest.mark.parametrize("family", ["gaussian", "laplace", "exponential"])
def test_derived_shrinkage_matches_exact_series_at_first_order(family):
    # 1 - ratio_derived = (rho+6)/(8M) exactly at O(1/M) for squared loss, any input.
    r = family_moments(family).rho
    for Mv in (16, 64):
        assert 1 - G.optimal_gamma_ratio("squared", Mv, family=family) == pytest.approx((r + 6) / (8 * Mv), rel=1e-6)
        assert 1 - G.optimal_gamma_ratio("squared", Mv, family=family, variant="zeta") == pytest.approx(
            (r + 6) / (4 * Mv), rel=1e-9)


def test_excess_parts_add_up_and_seed_variant():
    a = G.bn_loss_excess("poisson", 32, 0.75, 0.0, 0.5, 0.0, part="first")
    b = G.bn_loss_excess("poisson", 32, 0.75, 0.0, 0.5, 0.0, part="second")
    t = G.bn_loss_excess("poisson", 32, 0.75, 0.0, 0.5, 0.0)
    assert t == pytest.approx(a + b, rel=1e-10)
    # squared loss: first + second is linear in gamma (the gamma^2 parts cancel exactly)
    f = lambda gm: G.bn_loss_excess("squared", 32, gm, 0.0, 1.0, 0.0)
    assert f(2.0) - 2 * f(1.0) == pytest.approx(0.0, abs=1e-12)
    assert G.bn_loss_excess("squared", 32, 1.5, 0.0, 1.0, 0.0, variant="luo2019") == pytest.approx(1.5 / 32 * 2.25)


def test_bn_mean_shift_numeric():
    assert G.bn_mean_shift(10, 1.0) == pytest.approx((0 + 0.75 - 0.5) / 10)
    assert G.bn_mean_shift(M, u, rho, g) == (g / 2 + 3 * rho * u / 8 - u**3 / 2 + 3 * u / 4) / M


def test_pn_equals_wn_only_for_isotropic_covariance():
    d = G.derive_pn_wn(3)
    assert d["PN - WN (Sigma = a I)"] == 0
    an = d["anisotropic sigma_P/(sqrt(a) ||w||)"]
    syms = sorted(an.free_symbols, key=str)
    vals = {s: 1.0 for s in syms}
    assert float(an.subs(vals)) == pytest.approx(1.0)  # a_i = a: equal
    vals[sp.Symbol("a1", positive=True)] = 4.0
    assert abs(float(an.subs(vals)) - 1.0) > 0.1  # anisotropic: not equal


def test_pn_with_training_set_statistics_is_not_wn():
    # Population covariance I, but PN uses the training set's covariance S (P samples, N inputs):
    # sigma_P^2/||w||^2 = w'Sw/||w||^2 spans the Marchenko-Pastur support; for w along S's top
    # eigenvector it is the upper edge (1 + 1/sqrt(alpha))^2, alpha = P/N, not 1.  Finite-size bound:
    # the top eigenvalue fluctuates by O(N^-2/3) (Tracy-Widom), ~3% here; we allow 10%.
    rng = np.random.default_rng(11)
    N, P = 200, 400
    X = rng.laplace(size=(P, N)) / np.sqrt(2)  # non-Gaussian, unit variance
    S = np.cov(X, rowvar=False, bias=True)
    lam, vec = np.linalg.eigh(S)
    ratio_top = float(vec[:, -1] @ S @ vec[:, -1])
    edge = (1 + 1 / np.sqrt(P / N)) ** 2
    assert ratio_top == pytest.approx(edge, rel=0.10)
    assert abs(ratio_top - 1.0) > 0.10 * edge  # power: "PN = WN" (ratio 1) is rejected
    w = rng.standard_normal(N)
    assert float(w @ S @ w / (w @ w)) == pytest.approx(1.0, abs=6 * np.sqrt(2 / P))  # random w: ~1


"""Teacher-student, theory: SymPy proofs, the Marchenko-Pastur law and the generalization curves,
bad input (theory/teacher_student.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from scipy import integrate

from bnreg.params import ParameterError
from bnreg.theory import teacher_student as TS
from bnreg.theory.catalog import evaluate

S = TS.SYMBOLS


alpha, lam, delta2, zeta = S["alpha"], S["lam"], S["delta2"], S["zeta"]


POINTS = [(0.3, 0.05), (0.5, 0.25), (1.0, 0.1), (2.0, 0.02), (3.0, 1.5)]


# ------------------------------------------------------------------------------ SymPy
def test_stieltjes_root_solves_equation_and_equals_closed_form():
    d = TS.derive_mp_stieltjes()
    G = d["G"]
    assert sp.simplify(d["equation"].subs(S["G"], G)) == 0
    radicand = (lam + (1 + sp.sqrt(alpha)) ** 2) * (lam + (1 - sp.sqrt(alpha)) ** 2)
    assert sp.expand(radicand - ((lam + alpha - 1) ** 2 + 4 * lam)) == 0
    # both square roots are of the same positive number, so root == closed form
    closed = d["G_closed"].subs(sp.sqrt(lam + (1 - sp.sqrt(alpha)) ** 2) * sp.sqrt(lam + (1 + sp.sqrt(alpha)) ** 2),
                                sp.sqrt(sp.expand(radicand)))
    assert sp.simplify(G - closed) == 0
    for a, l in POINTS:
        assert float(G.subs({alpha: a, lam: l})) == pytest.approx(TS.mp_stieltjes(a, l), rel=1e-12)
        assert float(d["dG_dlam"].subs({alpha: a, lam: l})) == pytest.approx(TS.mp_stieltjes_dlam(a, l), rel=1e-10)


def test_stieltjes_is_transform_of_density_plus_atom():
    for a, l in POINTS:
        lo, hi = TS.mp_edges(a)
        cont = integrate.quad(lambda x: float(TS.mp_density(x, a)) / (x + l), lo, hi, limit=200)[0]
        assert cont + TS.mp_atom(a) / l == pytest.approx(TS.mp_stieltjes(a, l), rel=1e-7)
        mass = integrate.quad(lambda x: float(TS.mp_density(x, a)), lo, hi, limit=200)[0]
        mean = integrate.quad(lambda x: x * float(TS.mp_density(x, a)), lo, hi, limit=200)[0]
        assert mass + TS.mp_atom(a) == pytest.approx(1.0, abs=1e-8)
        assert mean == pytest.approx(a, rel=1e-8)  # (1/N) tr X^T X/N = P/N


def test_ridge_error_and_optimum():
    r = TS.derive_ridge_error()
    for a, l in POINTS:
        assert float(r["eps"].subs({alpha: a, lam: l, delta2: 0.25})) == pytest.approx(
            TS.gen_error_ridge(a, l, 0.25), rel=1e-10)
    ratio = TS.derive_ridge_optimum()["ratio"]
    assert delta2 not in ratio.free_symbols
    assert sp.simplify(ratio - 2 * alpha / ((lam + alpha - 1) ** 2 + 4 * lam) ** sp.Rational(3, 2)) == 0  # > 0
    assert TS.ridge_optimal_lam(0.25) == 0.25
    grid = np.linspace(0.05, 1.0, 96)
    for a in (0.5, 1.0, 2.0):
        assert grid[np.argmin([TS.gen_error_ridge(a, x, 0.25) for x in grid])] == pytest.approx(0.25, abs=0.011)


def test_sgd_limits_from_ridge_and_the_writeup_sign_error():
    d = TS.derive_sgd_limits()
    assert sp.simplify(d["alpha<1"] - (1 - alpha + alpha * delta2 / (1 - alpha))) == 0
    assert sp.simplify(d["alpha>1"] - delta2 / (alpha - 1)) == 0
    assert TS.gen_error_sgd(3.0, 0.25) == 0.125 > 0 > 0.25 / (1 - 3.0)  # the write-up's value is negative
    assert TS.gen_error_sgd(1.0, 0.25) == math.inf


def test_exact_finite_n_pinv_tends_to_the_limit():
    N = sp.Symbol("N", positive=True)
    for a_val in (sp.Rational(1, 2), sp.Integer(3)):
        P = a_val * N
        exact = ((N - P) / N + delta2 * P / (N - P - 1)) if a_val < 1 else delta2 * N / (P - N - 1)
        assert sp.simplify(sp.limit(exact, N, sp.oo) - TS.derive_sgd_limits()["alpha<1" if a_val < 1 else "alpha>1"]
                           .subs(alpha, a_val)) == 0
    assert TS.gen_error_sgd_exact(128, 64, 0.25) == pytest.approx(0.5 + 0.25 * 64 / 63)
    assert TS.gen_error_sgd_exact(128, 128, 0.25) == math.inf


def test_bn_limit_derivation_and_shrinkage():
    d = TS.derive_bn_limit()
    assert sp.simplify(d["v_star"] - sp.Symbol("v_ls", real=True) / (1 + zeta)) == 0
    for a in (0.5, 2.0):
        z = TS.zeta_bn(32)
        expr = d["alpha<1" if a < 1 else "alpha>1"]
        assert float(expr.subs({alpha: a, zeta: z, delta2: 0.25})) == pytest.approx(
            TS.gen_error_bn_limit(a, 0.25, 32, "gamma_decay"), rel=1e-12)
    # kappa = E[sigma_B]/sigma = 1 - 3/(4M) + O(M^-2)
    for M in (32, 256, 2048):
        assert M * (1 - TS.bn_shrinkage(M)) == pytest.approx(0.75, abs=2.0 / M)
    # the identity behind kappa: inside any batch, mean_i z_i u_i = sigma_B (z = batch-standardized u)
    u = np.random.default_rng(0).standard_normal(32)
    z = (u - u.mean()) / u.std()
    assert np.mean(z * u) == pytest.approx(u.std(), rel=1e-12) and np.mean(z * z) == pytest.approx(1.0)


def test_gd_learning_curve_limits():
    for a in (0.5, 2.0):
        assert TS.gen_error_gd(a, 0.0, 0.25) == pytest.approx(1.0, abs=1e-12)  # v = 0: error |w*|^2 = 1
        assert TS.gen_error_gd(a, 1e7, 0.25) == pytest.approx(TS.gen_error_sgd(a, 0.25), rel=1e-6)
    assert TS.gen_error_gd(1.0, 10.0, 0.25) < TS.gen_error_gd(1.0, 1000.0, 0.25)  # early stopping helps at alpha = 1


# -------------------------------------------------------------------- MP vs samples
@pytest.mark.mc
def test_mp_density_matches_sampled_eigenvalues():
    """Empirical spectral CDF of X^T X/N (N = 400, 4 matrices) vs the MP CDF.  Eigenvalues are
    rigid (fluctuations O(log N / N) in the bulk, O(N^-2/3) at the edges), so sup|F_N - F| < 0.02
    is a loose bound; the wrong ratio 1/alpha must violate it."""
    rng = np.random.default_rng(11)
    N = 400
    for a in (0.5, 2.0):
        s = np.sort(np.concatenate([np.linalg.eigvalsh((X := rng.standard_normal((int(a * N), N))).T @ X / N)
                                    for _ in range(4)]))
        lo, hi = TS.mp_edges(a)
        grid = np.linspace(lo, hi, 41)
        cdf = [TS.mp_atom(a) + integrate.quad(lambda x: float(TS.mp_density(x, a)), lo, g)[0] for g in grid]
        emp = np.searchsorted(s, grid, side="right") / len(s)
        assert np.max(np.abs(emp - cdf)) < 0.02
        wrong = [integrate.quad(lambda x: float(TS.mp_density(x, 1 / a)), *TS.mp_edges(1 / a))[0]]
        assert abs(wrong[0] + TS.mp_atom(1 / a) - 1) < 1e-6  # a valid law, but not this one:
        wl, wh = TS.mp_edges(1 / a)
        cdf_w = [TS.mp_atom(1 / a)
                 + integrate.quad(lambda x: float(TS.mp_density(x, 1 / a)), wl, min(max(g, wl), wh))[0]
                 for g in grid]
        assert np.max(np.abs(emp - cdf_w)) > 0.1


def test_bai_silverstein_correction_explains_the_finite_n_bias():
    rng = np.random.default_rng(5)
    N, a, l = 32, 2.0, 0.1
    vals = [np.mean(1 / (np.linalg.eigvalsh((X := rng.standard_normal((64, N))).T @ X / N) + l)) for _ in range(4000)]
    bias = np.mean(vals) - TS.mp_stieltjes(a, l)
    se = np.std(vals) / math.sqrt(len(vals))
    corr = TS.stieltjes_finite_n_correction(a, l, N)
    assert abs(bias) > 8 * se  # a real O(1/N) bias at N = 32 ...
    assert abs(bias - corr) < abs(bias) / 4  # ... which the derived 1/N term accounts for


# ------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("call, word", [
    (lambda: TS.mp_stieltjes(0.0, 0.1), "alpha > 0"),
    (lambda: TS.mp_stieltjes(1.0, -1.0), "lam > 0"),
    (lambda: TS.gen_error_sgd(float("nan")), "alpha"),
    (lambda: TS.gen_error_ridge(1.0, 0.1, -0.1), "delta2 >= 0"),
    (lambda: TS.zeta_to_lam(1.0, 0.0), "zeta > 0"),
    (lambda: TS.bn_shrinkage(1), "M >= 2"),
    (lambda: TS.gen_error_sgd_exact(0, 3), "N >= 1"),
    (lambda: TS.mp_density([1.0, np.inf], 0.5), "finite"),
    (lambda: evaluate("gen_error_ridge", alpha=2), "lam"),
])
def test_bad_input_is_named(call, word):
    with pytest.raises(ParameterError, match=word.replace("(", r"\(")):
        call()



@pytest.mark.parametrize("alpha", [0.5, 2.0])
@pytest.mark.parametrize("tau", [1e-3, 0.3, 1.0, 3.0, 30.0])
def test_early_stopping_lam_minimises_the_derived_distance(alpha, tau):
    """Twin: the SymPy distance per eigenvalue (derive_early_stopping), lambdified and integrated by
    scipy quad against the MP density (not the numeric twin's Gauss-Legendre rule), is smallest at
    early_stopping_lam: lower than at lam x (1 +- 1e-3); and lam -> alpha/(2 tau) as tau -> 0 (the
    derived first-order mapping)."""
    from scipy.integrate import quad

    d = TS.derive_early_stopping()
    dist = sp.lambdify((TS.s, TS.lam), d["distance_per_eigenvalue"].subs({TS.alpha: alpha, TS.tau: tau,
                                                                          TS.delta2: 0.25}), "math")
    a, b = TS.mp_edges(alpha)

    def D(lam):
        return quad(lambda x: dist(x, lam) * math.sqrt((x - a) * (b - x)) / (2 * math.pi * x), a, b,
                    epsabs=0, epsrel=1e-12, limit=200)[0]

    lam_hat = TS.early_stopping_lam(alpha, tau)
    assert lam_hat > 0 and math.isfinite(lam_hat)
    if lam_hat > 1e-9:  # at tau = 30, alpha = 0.5 the minimiser sits at the search's floor (lam -> 0)
        assert D(lam_hat) <= D(lam_hat * 1.001) and D(lam_hat) <= D(lam_hat / 1.001)
    assert float(d["lam_first_order"].subs({TS.alpha: alpha, TS.tau: tau})) == pytest.approx(alpha / (2 * tau))
    if tau == 1e-3:
        assert lam_hat == pytest.approx(alpha / (2 * tau), rel=0.01)
    else:
        assert lam_hat < alpha / (2 * tau)  # ridge shrinks more at second order: the closest lam is smaller

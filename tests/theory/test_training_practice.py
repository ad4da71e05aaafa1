"""Training practice, theory: the SymPy derivations and the numeric twins against them and against
quadrature, bad input (theory/training_practice.py, docs/training_practice.md)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import sympy as sp

from bnreg.params import ParameterError
from bnreg.theory import training_practice as TP
from bnreg.theory import training_practice_init as TPI
from bnreg.theory.catalog import evaluate


# ------------------------------------------------------------------------------ SymPy
def test_activation_moments_closed_forms():
    assert TP.derive_activation_moments("relu") == {"E phi^2": TP.q / 2, "E phi'^2": sp.Rational(1, 2)}
    assert TP.derive_activation_moments("linear")["E phi^2"] == TP.q
    r = TP.derive_relu_depth()
    assert r["critical sigma_w2"] == 2 and r["linear critical sigma_w2"] == 1


def test_init_twins_equal_the_relu_depth_law():
    """init_forward_q and init_backward_r (ReLU, linear) against the SymPy depth laws q_L, r_1."""
    r = TP.derive_relu_depth()
    L, q0 = sp.symbols("L q0", positive=True)
    for init, width in (("he", 256), ("xavier", 64), ("small", 100)):
        s2 = TP.init_sigma_w2(init, width)
        for depth in (1, 2, 10, 50):
            sub = {TP.s2w: s2, L: depth, q0: 0.5}
            assert TP.init_forward_q("relu", init, depth, width, 0.5) == pytest.approx(float(r["q_L"].subs(sub)),
                                                                                       rel=1e-14)
            assert TP.init_backward_r("relu", init, depth, width) == pytest.approx(float(r["r_1"].subs(sub)), rel=1e-14)
            lin = TP.derive_activation_moments("linear")["E phi^2"] / TP.q  # = 1: q_L = s2 q0 s2^(L-1)
            assert TP.init_forward_q("linear", init, depth, width, 0.5) == pytest.approx(
                float((TP.s2w * (TP.s2w * lin) ** (L - 1) * q0).subs(sub)), rel=1e-14)


@pytest.mark.parametrize("act", ["tanh", pytest.param("sigmoid", marks=pytest.mark.derivation)])
def test_small_q_series_matches_quadrature(act):
    m = TP.derive_activation_moments(act, 3)
    for qv in (1e-3, 1e-2):
        num = TP.activation_moments(act, qv)
        for k, key in enumerate(("E phi^2", "E phi'^2")):
            assert float(m[key].subs(TP.q, qv)) == pytest.approx(num[k], rel=1e-6 if qv < 5e-3 else 1e-4)


@pytest.mark.derivation
def test_tanh_decays_like_one_over_2l():
    assert TP.derive_tanh_small_q()["large l"] == 1 / (2 * sp.Symbol("l", positive=True))
    q = TP.forward_variance("tanh", 1.0, 2000)
    assert q[-1] * 2 * 2000 == pytest.approx(1.0, rel=0.05)


@pytest.mark.derivation
def test_ema_derivations_are_identities():
    u = TP.derive_ema_unrolled(5)
    assert u["recursion - unrolled"] == 0 and u["sum w_k - (1 - Pi)"] == 0
    c = TP.derive_ema_constant()
    assert c["sum w_k^2 - (1-d)(1-d^2t)/(1+d)"] == 0 and c["t -> oo"] == sp.Rational(1, 19)
    w = TP.derive_ema_warmup()
    assert w["Pi_t - 9! t!/(t+9)!"] == 0 and w["t^9 Pi_t as t -> oo"] == math.factorial(9)


def test_minibatch_noise_by_enumeration():
    for N, M in ((4, 2), (5, 3), (6, 1)):
        r = TP.derive_minibatch_noise(N, M)
        assert r["without replacement - sigma^2 (N-M)/(M(N-1))"] == 0
        assert r["with replacement - sigma^2/M"] == 0


@pytest.mark.derivation
def test_sgd_lyapunov_and_soft_threshold():
    assert TP.derive_sgd_excess_loss()["excess - lr tr(C)/4"] == 0
    st = TP.derive_soft_threshold()
    for lam, w, s in ((0.5, 0.0, 1.0), (1.0, 2.0, 1.0), (2.0, -0.7, 1.5)):
        sub = {TP.lam: lam, TP.ws: abs(w), TP.sig: s}  # the symbols are positive: |w*| (the law is symmetric)
        assert float(st["lasso risk"].subs(sub)) == pytest.approx(TP.lasso_orthonormal_risk(lam, w, s), rel=1e-10)
        assert float(st["lasso P(w = 0)"].subs(sub)) == pytest.approx(TP.lasso_zero_prob(lam, w, s), rel=1e-10)
        assert float(st["ridge risk"].subs(sub)) == pytest.approx(TP.ridge_orthonormal_risk(lam, w, s), rel=1e-12)


# ------------------------------------------------------------------------------ numerics
def test_ema_numerics_match_closed_forms():
    for d, t in ((0.9, 1), (0.9, 37), (0.99, 500)):
        pi, w = TP.ema_weights(d, t)
        assert pi == pytest.approx(d**t, rel=1e-12) and w.sum() == pytest.approx(1 - d**t, rel=1e-12)
        assert TP.ema_variance(d, t, 1.0) == pytest.approx((1 - d) * (1 - d ** (2 * t)) / (1 + d), rel=1e-10)
    for t in (1, 5, 20):  # pure warm-up phase (the cap d = 0.999 is not reached before k = 8991)
        pi, w = TP.ema_weights(0.999, t, warmup=True)
        assert pi == pytest.approx(math.factorial(9) * math.factorial(t) / math.factorial(t + 9), rel=1e-12)
        assert pi + w.sum() == pytest.approx(1.0, abs=1e-14)
    assert TP.ema_decays(0.9, 100, True)[-1] == 0.9 and TP.ema_decays(0.9, 3, True)[0] == pytest.approx(0.1)


def test_running_stats_twins_equal_the_derivations():
    """running_* (constant decay and pure warm-up) against the SymPy sums; sgd_excess_loss and
    minibatch_mean_var against the Lyapunov and enumeration derivations."""
    c, w = TP.derive_ema_constant(), TP.derive_ema_warmup()
    def at(e, d, t):  # substitute by name: the derivation's d and t carry their own assumptions
        return float(e.subs({s: (d if s.name == "d" else t) for s in e.free_symbols}))
    for d, t in ((0.9, 1), (0.9, 37), (0.99, 500)):
        sw2 = at(c["sum w_k^2"], d, t)
        assert TP.running_mean_var(8, d, t, 2.0) == pytest.approx(4.0 / 8 * sw2, rel=1e-12)
        assert TP.running_var_var(8, d, t, 2.0, 1.5) == pytest.approx(16.0 * (2 / 7 + 1.5 / 8) * sw2, rel=1e-12)
        pi = 1 - at(c["sum w_k"], d, t)
        assert TP.running_mean_bias(d, t, 0.0, 1.0) == pytest.approx(-pi, rel=1e-12)
        assert TP.running_var_bias(d, t, 3.0, 1.0) == pytest.approx(2.0 * pi, rel=1e-12)
    for t in (1, 5, 20):  # pure warm-up (d = 0.999 is not reached before k = 8991)
        pi = at(w["Pi_t (warm-up)"], 0.999, t)
        assert TP.running_mean_bias(0.999, t, 0.0, 1.0, warmup=True) == pytest.approx(-pi, rel=1e-12)
    ex = TP.derive_sgd_excess_loss()["excess loss"]
    sub = {s: {"lr": 0.01, "c11": 2.0, "c22": 3.0}[s.name] for s in ex.free_symbols}
    assert TP.sgd_excess_loss(0.01, 1, 5.0, replace=True) == pytest.approx(float(ex.subs(sub)), rel=1e-14)
    for N, M in ((5, 2), (6, 3), (7, 1)):
        fac = TP.derive_minibatch_noise(N, M)
        assert TP.minibatch_mean_var(M, N, 1.0) == pytest.approx(float(fac["factor without"]), rel=1e-14)
        assert TP.sgd_excess_loss(0.01, M, 5.0, N) == pytest.approx(0.01 * float(fac["factor without"]) * 5 / 4,
                                                                    rel=1e-14)


def test_ema_brute_force():
    """The recursion itself, run on fixed numbers, equals the weighted sum."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal(30)
    for warm in (False, True):
        s = 0.7
        for k, dk in enumerate(TP.ema_decays(0.95, 30, warm)):
            s = dk * s + (1 - dk) * x[k]
        pi, w = TP.ema_weights(0.95, 30, warm)
        assert s == pytest.approx(pi * 0.7 + w @ x, rel=1e-12)


def test_minibatch_factor_by_enumeration_numeric():
    g = np.random.default_rng(0).standard_normal(7)
    s2 = g.var()
    for M in (1, 3, 6, 7):
        means = [np.mean(b) for b in itertools.combinations(g, M)]
        assert np.mean((np.array(means) - g.mean()) ** 2) == pytest.approx(TP.minibatch_mean_var(M, 7, s2), abs=1e-14)
    with pytest.raises(ParameterError):
        TP.minibatch_factor(5, 6)
    assert TP.minibatch_factor(5, 6, replace=True) == pytest.approx(1 / 6)
    assert TP.minibatch_factor(None, 4) == 0.25 and evaluate("minibatch_mean_var", M=64) == 1 / 64


def test_tanh_series_coefficients_are_the_derived_ones():
    """The small-q branch of activation_moments uses the SymPy series to O(q^5)."""
    m = TP.derive_activation_moments("tanh", 5)
    series = []
    for key, row in zip(("E phi^2", "E phi'^2"), TPI._TANH_SERIES, strict=True):
        want = [float(c) for c in sp.Poly(m[key], TP.q).all_coeffs()[::-1]]
        assert want == list(row)
        series.append(lambda qv, w=want: sum(c * qv**k for k, c in enumerate(w)))
    for qv in (1e-300, 1e-8, 9.9e-5, 1.01e-4, 3e-4):  # both sides of the switch to quadrature at 1e-4 agree
        for got, f in zip(TP.activation_moments("tanh", qv), series, strict=True):
            assert got == pytest.approx(f(qv), rel=1e-14)


def test_ema_closed_form_equals_the_weights():
    """ema_terms (O(1) in t: the warm-up sums in exact rationals) against the explicit weights."""
    for d, t, warm in itertools.product((0.0, 0.3, 0.9, 0.95, 0.999), (0, 1, 2, 9, 10, 80, 81, 300), (False, True)):
        pi, w = TP.ema_weights(d, t, warm)
        assert TP.ema_pi(d, t, warm) == pytest.approx(pi, rel=1e-13, abs=1e-300)
        assert TP.ema_sum_w2(d, t, warm) == pytest.approx(float(w @ w), rel=1e-13, abs=1e-300)
        assert TP.ema_bias(d, t, 0.7, -0.2, warm) == pytest.approx(0.9 * pi, rel=1e-13, abs=1e-300)
    assert TP.ema_terms(0.9, 100, True)[:2] == (362880 / math.prod(range(81, 90)), 20)  # switch at k = 80


def test_relu_dead_fraction_orthant_closed_forms():
    """Two and three equicorrelated Gaussians: 1/4 + arcsin(c)/(2 pi), 1/8 + 3 arcsin(c)/(4 pi)
    (Sheppard; the second checks the log-space quadrature)."""
    for c in (1e-300, 1e-8, 0.3, 0.9, 1 - 1e-9):
        assert TP.relu_dead_fraction(c, 2) == pytest.approx(0.25 + math.asin(c) / (2 * math.pi), rel=1e-15)
        assert TP.relu_dead_fraction(c, 3) == pytest.approx(0.125 + 3 * math.asin(c) / (4 * math.pi), rel=1e-14)


def test_relu_dead_fraction_limits_and_brute_force():
    assert TP.relu_dead_fraction(0.0, 10) == pytest.approx(2.0**-10)
    assert TP.relu_dead_fraction(1.0, 10) == 0.5
    rng = np.random.default_rng(2)
    c, B = 0.8, 16
    h = math.sqrt(c) * rng.standard_normal((200_000, 1)) + math.sqrt(1 - c) * rng.standard_normal((200_000, B))
    assert np.mean(np.all(h <= 0, axis=1)) == pytest.approx(TP.relu_dead_fraction(c, B), abs=4e-3)
    assert TP.relu_correlation_map(1.0) == pytest.approx(1.0)
    assert TP.relu_correlation_map(0.0) == pytest.approx(1 / math.pi)


def test_forward_and_backward_closed_forms():
    q = TP.forward_variance("relu", 3.0, 6, q0=0.5)
    assert q == pytest.approx(3.0 * 0.5 * 1.5 ** np.arange(6))
    r = TP.backward_variance("relu", 3.0, 6)
    assert r == pytest.approx(1.5 ** np.arange(5, -1, -1))
    assert np.all(np.isinf(TP.forward_variance("relu", 1e200, 5)[2:]))
    assert TP.init_sigma_w2("small", 100) == pytest.approx(0.01) and TP.init_sigma_w2("xavier", 7) == 1.0


def test_registered_formulas_evaluate():
    assert evaluate("running_mean_bias", d=0.9, t=10) == pytest.approx(-(0.9**10))
    assert evaluate("running_var_var", M=4, d=0.5, t=1, sigma=1, rho=0) == pytest.approx(0.25 * 2 / 3)
    assert evaluate("minibatch_mean_var", N=10, M=10) == 0.0
    assert evaluate("init_forward_q", activation="relu", init="he", depth=50) == pytest.approx(2.0)
    assert evaluate("init_backward_r", activation="relu", init="xavier", depth=11) == pytest.approx(2.0**-10)
    with pytest.raises(ParameterError, match="d"):
        evaluate("running_mean_var", M=4, d=1.0)


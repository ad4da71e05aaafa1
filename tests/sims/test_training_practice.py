"""Training practice, simulations: random deep nets, running statistics, minibatch noise and SGD
against the theory (sims/training_practice.py, docs/training_practice.md)."""

from __future__ import annotations

import numpy as np
import pytest

from bnreg.sims import training_practice as S
from bnreg.theory import training_practice as TP


def test_sgd_stationary_excess_tends_to_first_order():
    X, y, w = S.linear_dataset(100, 4, 1.0, seed=3)
    G = S.per_example_gradients(X, y, w)
    tr = float(np.sum((G - G.mean(axis=0)) ** 2) / 100)
    for rep in (False, True):
        lr = 1e-4
        assert TP.sgd_stationary_excess(X, y, lr, 8, rep) == pytest.approx(TP.sgd_excess_loss(lr, 8, tr, 100, rep),
                                                                              rel=1e-3)
    assert TP.sgd_stationary_excess(X, y, 0.3, 8) > TP.sgd_excess_loss(0.3, 8, tr, 100)


# ---------------------------------------------------------------------------- simulations
def test_init_simulation_agrees_with_mean_field():
    r = S.simulate_init("tanh", "xavier", width=64, depth=5, batch=32, n_nets=4, seed=0)
    q = TP.forward_variance("tanh", 1.0, 5)
    for layer in range(5):
        assert abs(r.q[layer].estimate - q[layer]) < 5 * r.q[layer].se + 0.05 * q[layer]
    lin = S.simulate_init("linear", "he", width=32, depth=3, batch=8, n_nets=2, seed=0)
    assert lin.sigma_w2 == 2.0


def test_deep_net_gradients_are_backprop():
    """DeepNet.backward against a finite difference of L = sum g . h_depth (float64)."""
    rng = np.random.default_rng(0)
    net = S.DeepNet("tanh", 1.5, 6, 3, rng)
    x = rng.standard_normal((4, 6))
    g = rng.standard_normal((4, 6))
    net.forward(x)
    net.backward(g)
    W = net.dense[0].W
    i, j, eps = 2, 3, 1e-6
    base = W.value[i, j]
    W.value[i, j] = base + eps
    lp = float(np.sum(g * net.forward(x)[-1]))
    W.value[i, j] = base - eps
    lm = float(np.sum(g * net.forward(x)[-1]))
    W.value[i, j] = base
    assert W.grad[i, j] == pytest.approx((lp - lm) / (2 * eps), rel=1e-6)


@pytest.mark.mc
def test_running_stats_simulation_small():
    r = S.simulate_running_stats(M=4, d=0.8, steps=(3, 12), n_runs=4096, seed=1)
    for j, t in enumerate(r.steps):
        m = r.mean_of_mean(j)
        assert abs(m.estimate - (1.0 + TP.running_mean_bias(0.8, int(t), 0.0, 1.0))) < 5 * m.se
        v = r.var_of_mean(j)
        assert abs(v.estimate - TP.running_mean_var(4, 0.8, int(t), 2.0)) < 5 * v.se


def test_train_mlp_l1_makes_exact_zeros():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 10)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    r1 = S.train_mlp(x, y, x, y, x, y, hidden=16, penalty="l1", lam=0.05, lr=0.1, epochs=5, batch=16)
    r2 = S.train_mlp(x, y, x, y, x, y, hidden=16, penalty="l2", lam=0.05, lr=0.1, epochs=5, batch=16)
    assert r1["zero_frac"] > 0.05 and r2["zero_frac"] == 0.0
    assert 1 <= r1["best_epoch"] <= 5 and len(r1["curves"]["val_loss"]) == 5



# ------------------------------------------------- helpers of the checks (sims/checks_training_practice.py)
def test_dead_relu_simulation_limits():
    """c = 0: independent inputs, 2^-B; c = 1 (one shared draw) and B = 1: 1/2."""
    for c, B, p in ((0.0, 3, 0.125), (1.0, 16, 0.5), (0.7, 1, 0.5)):
        r = S.simulate_dead_relu(c, B, 200_000, seed=4, n_chunks=16)
        assert abs(r.estimate - p) < 5 * r.se


def test_orthonormal_estimates_at_lam_zero_and_against_theory():
    r = S.simulate_orthonormal_estimates(0.0, 0.7, 1.5, 100_000, seed=2, n_chunks=16)
    assert r["ridge_risk"].estimate == pytest.approx(r["lasso_risk"].estimate, rel=1e-12)  # both are z itself
    assert r["lasso_zero"].estimate == 0.0
    assert abs(r["ridge_risk"].estimate - 1.5**2) < 5 * r["ridge_risk"].se
    r = S.simulate_orthonormal_estimates(0.8, -0.4, 1.0, 100_000, seed=3, n_chunks=16)
    for k, f in (("ridge_risk", TP.ridge_orthonormal_risk), ("lasso_risk", TP.lasso_orthonormal_risk),
                 ("lasso_zero", TP.lasso_zero_prob)):
        th = f(0.8, -0.4)
        assert abs(r[k].estimate - th) < 5 * r[k].se, k


def test_finite_width_terms_match_the_exact_depth_2_average():
    """At depth 2 the 1/n terms are exact averages over Q_1 = sigma_w2 chi2_n/n:
    E[q_2] = sigma_w2 E[Ephi^2(Q_1)], E[r_1] = sigma_w2 E[Ephi'^2(Q_1)]; n (exact - mean field) -> the terms."""
    from scipy import integrate, stats

    from bnreg.sims.training_practice_checks_init import finite_width_q, finite_width_r2

    assert finite_width_q("relu", 2.0, 10) == finite_width_r2("linear", 1.0) == 0.0
    n = 400
    lo, hi = n - 12 * (2 * n) ** 0.5, n + 12 * (2 * n) ** 0.5
    for s2 in (1.0, 2.0):
        for j, term in ((0, finite_width_q("tanh", s2, 2)), (1, finite_width_r2("tanh", s2))):
            mf = s2 * TP.activation_moments("tanh", s2)[j]
            exact = integrate.quad(lambda x: s2 * TP.activation_moments("tanh", s2 * x / n)[j] * stats.chi2.pdf(x, n),
                                   lo, hi, epsabs=0, epsrel=1e-12)[0]
            assert n * (exact - mf) == pytest.approx(term, rel=0.03)


def test_sgd_allowance_is_the_lr2_term_and_covers_the_rest():
    """The allowance of sgd.excess_loss: exact - first order = lr^2 term (1 + O(lr)); at the check's
    points the rest beyond the lr^2 term is below the term itself (the factor 2 covers it)."""
    from bnreg.sims.checks_training_practice import _excess_points, _sgd_orders, _small_data

    X, y, tr = _small_data()
    for p in _excess_points("quick") + [dict(lr=1e-4, M=4, replace=False, N=40)]:
        first = TP.sgd_excess_loss(p["lr"], p["M"], tr, 40, p["replace"])
        second, burn = _sgd_orders(p["lr"], p["M"], p["replace"])
        rest = TP.sgd_stationary_excess(X, y, p["lr"], p["M"], p["replace"]) - first - second
        assert abs(rest) < (0.2 if p["lr"] > 1e-3 else 1e-3) * second and burn > 0

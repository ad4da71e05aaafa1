"""BN student at a finite learning rate (theory/bn_dynamics.py, sims/bn_dynamics.py): SymPy
proofs, the numeric formulas against their derivations and limits, the scaled-SGD kernel against
the plain BN epoch, the noise model's assumption (E|grad L_B|^2) measured on sampled batches, and
one stationary run against the same-data prediction."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from bnreg.params import ParameterError
from bnreg.sims.bn_dynamics import SameData, stationary_run, training_run
from bnreg.sims.kernels.bn_dynamics import bn_epoch_scaled
from bnreg.sims.kernels.teacher_student import bn_epoch
from bnreg.sims.teacher_student import teacher_data
from bnreg.theory import bn_dynamics as BD
from bnreg.theory import teacher_student as TS
from bnreg.theory.catalog import evaluate

S = BD.SYMBOLS


# ------------------------------------------------------------------------------ SymPy
@pytest.mark.derivation
def test_direction_gradient_identities_are_zero():
    for k, v in BD.derive_direction_gradient().items():
        assert v == 0, k


@pytest.mark.derivation
def test_noise_ridge_is_the_ridge_solution():
    d = BD.derive_noise_ridge()
    assert d["direction gradient at ridge"] == sp.zeros(3, 1)
    assert d["predictor - ridge"] == sp.zeros(3, 1)


def test_weight_norm_law_and_equilibrium():
    d = BD.derive_weight_norm()
    assert d["W'(W*) - W* (fixed point)"] == 0
    W0, G2 = sp.symbols("W0 G2", positive=True)
    assert sp.simplify(d["W(t), wd = 0"] ** 2 - (W0**2 + 2 * S["eta"] ** 2 * G2 * S["t"])) == 0
    # the leading order of lr_eff* in eta wd
    r = sp.simplify(d["lr_eff* = eta/W*"] / d["lr_eff*, leading order in eta wd"])
    assert sp.limit(r, S["wd"], 0) == 1


def test_stationary_slope_matches_formula_and_finite_difference():
    d = BD.derive_stationary_error()
    a, d2, k = S["alpha"], S["delta2"], S["kappa"]
    target = 2 * k * (1 - k) / (a - 1) - 2 * k**2 * d2 * a / (a - 1) ** 3
    assert sp.simplify(d["d eps/d lam at 0"] - target) == 0
    assert sp.simplify(d["eps at 0 (= BN limit)"] - ((1 - k) ** 2 + d2 * k**2 / (a - 1))) == 0
    for alpha, N in ((1.5, 256), (2.0, 512), (3.0, 128)):
        h = 1e-7
        fd = (BD.bn_stationary_error(alpha, 32, 0.25, h, N) - TS.gen_error_bn_limit(alpha, 0.25, 32)) / h
        assert fd == pytest.approx(BD.bn_stationary_slope(alpha, 32, 0.25, N), rel=1e-3)


# ------------------------------------------------------------------------------ numerics
def test_stationary_error_limits_and_monotone():
    for a in (1.25, 1.5, 2.0, 3.0):
        assert BD.bn_stationary_error(a, 32, 0.25, 1e-12, 256) == pytest.approx(TS.gen_error_bn_limit(a, 0.25, 32),
                                                                                 rel=1e-9)
        e = [BD.bn_stationary_error(a, 32, 0.25, x, 256) for x in (0.001, 0.003, 0.01)]
        assert e[0] > e[1] > e[2]
    # kappa x ridge: with nu set by hand the formula is the kappa-scaled ridge error
    a, nu = 1.5, 0.004
    lr = nu / BD.bn_noise_ridge(a, 32, 0.25, 1.0, 256)
    v2 = 1 - 2 * a * nu * TS.mp_stieltjes(a, a * nu) - (a * nu) ** 2 * TS.mp_stieltjes_dlam(a, a * nu) \
        + 0.25 * (TS.mp_stieltjes(a, a * nu) + a * nu * TS.mp_stieltjes_dlam(a, a * nu))
    k = TS.bn_shrinkage(32)
    assert BD.bn_stationary_error(a, 32, 0.25, lr, 256) == pytest.approx(
        k * k * v2 - 2 * k * (1 - a * nu * TS.mp_stieltjes(a, a * nu)) + 1, rel=1e-12)
    # at kappa = 1 it would be the ridge error: check the moments reproduce gen_error_ridge
    assert v2 - 2 * (1 - a * nu * TS.mp_stieltjes(a, a * nu)) + 1 == pytest.approx(
        TS.gen_error_ridge(a, a * nu, 0.25), rel=1e-10)


def test_noise_ridge_and_growth_law_values():
    N, M, a = 256, 32, 1.2
    P = round(a * N)
    res = 0.25 * (P - N - 1) / P
    g = ((P - M) / (P - 1) - 2 / M) * M / (M - 3)
    assert BD.bn_noise_ridge(a, M, 0.25, 0.01, N) == pytest.approx(0.01 * N * res * g / M, rel=1e-12)
    assert BD.bn_weight_norm_growth(a, M, 0.25, 0.05, 0.0, N, w0_sq=2.0) == pytest.approx(2.0)
    G2 = BD.bn_grad_norm2(a, M, 0.25, N)
    assert BD.bn_weight_norm_growth(a, M, 0.25, 0.05, 1000, N) ** 2 == pytest.approx(1 + 2 * 0.05**2 * G2 * 1000)


def test_wd_equilibrium_is_a_fixed_point():
    a, M, N, lr, wd = 1.5, 32, 256, 0.0625, 0.005
    e = BD.bn_wd_effective_lr(a, M, 0.25, lr, wd, N)
    W = lr / e
    G2 = BD.bn_grad_norm2(a, M, 0.25, N, e)
    assert (1 - lr * wd) ** 2 * W + lr * lr * G2 / W == pytest.approx(W, rel=1e-9)
    assert e == pytest.approx(math.sqrt(2 * lr * wd / G2), rel=0.01)
    assert BD.bn_wd_stationary_error(a, M, 0.25, lr, wd, N) == pytest.approx(BD.bn_stationary_error(a, M, 0.25, e, N))


def test_next_order_bounds_signs():
    nx = BD.bn_stationary_next_order(1.25, 32, 0.25, 0.01, 256)
    assert nx["fluctuation"] > 0 and nx["feedback"] < 0 and 0 < nx["q"] < 1
    small = BD.bn_stationary_next_order(1.25, 32, 0.25, 0.001, 256)
    assert small["fluctuation"] < nx["fluctuation"] and abs(small["feedback"]) < abs(nx["feedback"])


def test_registry_and_bad_input():
    assert evaluate("bn_stationary_error", alpha=1.2, M=32, delta2=0.25, lr_eff=0.01, N=256) == pytest.approx(
        BD.bn_stationary_error(1.2, 32, 0.25, 0.01, 256))
    assert evaluate("bn_wd_effective_lr", alpha="1.5", lr="0.0625", wd="0.005", N="256") > 0
    with pytest.raises(ParameterError, match="N"):
        evaluate("bn_stationary_error", alpha=1.2, lr_eff=0.01)
    with pytest.raises(ParameterError, match="alpha"):
        BD.bn_stationary_error(0.8, 32, 0.25, 0.01, 256)
    with pytest.raises(ParameterError, match="lr_eff"):
        BD.bn_stationary_error(1.5, 32, 0.25, 0.0, 256)
    with pytest.raises(ParameterError):
        BD.bn_wd_effective_lr(1.5, 32, 0.25, 1.0, 3.0, 256)


# ------------------------------------------------------------------------------ kernel
def _data(N=64, P=128, seed=3):
    rng = np.random.default_rng(seed)
    X, y, w_star = teacher_data(N, P, 0.25, rng)
    return X, y, w_star, rng


def test_scaled_kernel_without_scaling_is_bn_epoch():
    X, y, _, rng = _data()
    perm = rng.permutation(X.shape[0])
    w0 = rng.standard_normal(X.shape[1]) / 8
    outs = []
    for scaled in (False, True):
        w, g, rm, rv = w0.copy(), np.ones(1), np.zeros(1), np.ones(1)
        if scaled:
            acc = np.zeros(4)
            bn_epoch_scaled(X, y, perm, 16, 0.05, 0.0, 0.0, w, g, rm, rv, 0.1, 1e-5, acc)
        else:
            bn_epoch(X, y, perm, 16, 0.05, w, g, rm, rv, 0.1, 1e-5, np.zeros(1))
        outs.append((w, g[0], rm[0], rv[0]))
    np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=1e-12, atol=1e-14)
    assert outs[0][1:] == pytest.approx(outs[1][1:], rel=1e-12)


def test_scaled_kernel_renorm_weight_decay_and_gradient_norm():
    X, y, _, rng = _data()
    perm = np.arange(16)  # one step
    w0 = rng.standard_normal(X.shape[1]) * 0.7
    lr, wd = 0.05, 0.3
    w, g, acc = w0.copy(), np.ones(1), np.zeros(4)
    bn_epoch_scaled(X, y, perm, 16, lr, wd, 0.0, w, g, np.zeros(1), np.ones(1), 0.1, 1e-5, acc)
    w_plain = w0.copy()
    bn_epoch_scaled(X, y, perm, 16, lr, 0.0, 0.0, w_plain, np.ones(1), np.zeros(1), np.ones(1), 0.1, 1e-5, np.zeros(4))
    step = w_plain - w0
    # orthogonal to w up to the BN eps (1e-5 against var(h) ~ 30 here)
    assert abs(step @ w0) < 1e-5 * np.linalg.norm(step) * np.linalg.norm(w0)
    np.testing.assert_allclose(w, (1 - lr * wd) * w0 + step, rtol=1e-10)
    assert acc[0] == pytest.approx(lr / (w0 @ w0))
    assert acc[3] == pytest.approx((w0 @ w0) * (step @ step) / lr**2, rel=1e-3)
    w_r = w0.copy()
    bn_epoch_scaled(X, y, perm, 16, lr, 0.0, 1.0, w_r, np.ones(1), np.zeros(1), np.ones(1), 0.1, 1e-5, np.zeros(4))
    assert w_r @ w_r == pytest.approx(1.0)
    np.testing.assert_allclose(w_r, w_plain / np.linalg.norm(w_plain), rtol=1e-10)


# ------------------------------------------------------------------------------ assumptions, sims
def test_squared_batch_gradient_at_the_limit_matches_the_noise_model():
    """E_B |grad_u L_B|^2 at the lr -> 0 state (direction of the centred LS fit, gamma = kappa x the
    PN gamma) sampled over 4000 batches vs 4 |v|^2 N rho2/M: the assumption behind nu."""
    N, P, M = 256, 384, 32
    X, y, w_star, rng = _data(N, P, seed=11)
    sd = SameData(X, y, w_star, M)
    v = sd.ridge(0.0)
    w = v / np.linalg.norm(v)
    Xc = X - X.mean(0)
    gam = sd.kappa * math.sqrt(v @ (Xc.T @ (Xc @ v)) / P)
    tot = 0.0
    nb = 0
    for _ in range(4000 // (P // M)):
        perm = rng.permutation(P)
        for b in range(P // M):
            r = perm[b * M:(b + 1) * M]
            h = X[r] @ w
            s = h.std()
            z = (h - h.mean()) / s
            yb = y[r]
            rho = yb - yb.mean() - z * np.mean(yb * z)
            grad = -2 * gam / (M * s) * ((X[r] - X[r].mean(0)).T @ rho)
            tot += grad @ grad
            nb += 1
    pred = 4 * (sd.kappa * np.linalg.norm(v)) ** 2 * N * sd.resid * BD.noise_factor(M, P) / M
    assert tot / nb == pytest.approx(pred, rel=0.08)


def test_same_data_limit_agrees_with_the_teacher_student_reference():
    X, y, w_star, _ = _data(64, 128, seed=5)
    sd = SameData(X, y, w_star, 32)
    xbar = X.mean(0)
    v_c = np.linalg.lstsq(X - xbar, y, rcond=None)[0]
    k = TS.bn_shrinkage(32)
    assert sd.references()["eps_limit"] == pytest.approx(np.sum((k * v_c - w_star) ** 2) + (k * v_c @ xbar) ** 2,
                                                         rel=1e-8)


@pytest.mark.mc
def test_stationary_run_sits_on_the_same_data_prediction():
    """8 data sets at alpha = 1.5, N = 128, lr_eff = 0.02: the paired difference to kappa x ridge(nu)
    is inside 4 SE + the next-order bound, while the lr -> 0 limit is far outside."""
    d, lim = [], []
    for s in range(8):
        r = stationary_run(128, 1.5, 0.25, 32, 0.02, s)
        d.append(r.eps - r.extra["eps_theory"])
        lim.append(r.extra["eps_limit"] - r.extra["eps_theory"])
        bound = r.extra["fluctuation"] + abs(r.extra["feedback"])
    m, se = np.mean(d), np.std(d, ddof=1) / math.sqrt(len(d))
    assert abs(m) < 4 * se + bound
    assert np.mean(lim) > 4 * se + bound


def test_training_run_plain_grows_w_and_weight_decay_bounds_it():
    plain = training_run(64, 2.0, 0.25, 16, 0.1, 60, 1, n_record=5)
    wd = training_run(64, 2.0, 0.25, 16, 0.1, 60, 1, wd=0.5, n_record=5)
    fixed = training_run(64, 2.0, 0.25, 16, 0.02, 20, 1, renorm=True, n_record=5)
    assert np.all(np.diff(plain.w_sq) > 0) and plain.w_sq[-1] > wd.w_sq[-1]
    assert np.all(np.diff(plain.lr_eff) < 0)
    assert fixed.w_sq == pytest.approx(np.ones_like(fixed.w_sq)) and fixed.lr_eff == pytest.approx(0.02)
    assert np.all(np.isfinite(plain.eps)) and np.all(plain.grad2 > 0)


@pytest.mark.figures
def test_bn_learning_rate_figure_quick(tmp_path):
    import csv

    from bnreg.figures.run import make_figure

    r = make_figure("bn_learning_rate", scale="quick", out=tmp_path, progress=False)
    assert r["status"] == "written"
    with open(tmp_path / "bn_learning_rate.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    kinds = {row["kind"] for row in rows}
    assert {"stationary", "theory", "time_plain", "time_wd", "time_fixed"} <= kinds
    st = [row for row in rows if row["kind"] == "stationary"]
    assert all(math.isfinite(float(row["eps"])) and float(row["theory"]) < float(row["limit"]) for row in st)
    plain = [float(row["w_sq"]) for row in rows if row["kind"] == "time_plain"]
    assert plain[-1] > plain[0]

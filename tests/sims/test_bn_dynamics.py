"""BN at a finite learning rate, simulations: the scaled-SGD kernel and the stationary runs against the
theory, the bn_learning_rate figure at the quick scale (sims/bn_dynamics.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bnreg.params import ParameterError
from bnreg.sims.bn_dynamics import SameData, norm_run, stationary_run, training_run
from bnreg.sims.kernels.bn_dynamics import bn_epoch_scaled
from bnreg.sims.kernels.teacher_student import bn_epoch
from bnreg.sims.teacher_student import teacher_data
from bnreg.theory import bn_dynamics as BD
from bnreg.theory import teacher_student as TS


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


def test_limit_state_is_kappa_times_the_centred_fit_and_fit_nu_recovers_a_ridge():
    X, y, w_star, _ = _data(64, 160, seed=4)
    sd = SameData(X, y, w_star, 32)
    u, gam = sd.limit_state()
    assert u @ u == pytest.approx(1.0)
    Xc = X - X.mean(0)
    v = gam * u / math.sqrt(u @ (Xc.T @ (Xc @ u)) / X.shape[0])  # the predictor with training-set statistics
    np.testing.assert_allclose(v, sd.kappa * sd.ridge(0.0), rtol=1e-9, atol=1e-12)
    for nu in (0.003, 0.05):  # any scale, any weights: exact on a ridge direction
        assert sd.fit_nu(2.7 * sd.ridge(nu), 0.01) == pytest.approx(nu, rel=1e-7)
    assert sd.fit_nu(sd.ridge(0.0), 0.01) == pytest.approx(0.0, abs=1e-10)


def test_norm_run_obeys_the_exact_norm_identity_and_starts_at_the_wd_equilibrium():
    lr = 0.02
    r = norm_run(64, 2.0, 0.25, 16, lr, 3, steps=800)
    assert r.w_sq_start == pytest.approx(1.0) and r.steps == 800
    # |w'|^2 = |w|^2 + lr^2 G_t^2/|w|^2 exactly: |w_T|^4 - |w_0|^4 = 2 lr^2 T <G^2> + sum lr^4 G^4/|w|^4
    growth = r.w_sq_end**2 - 1
    assert 2 * lr**2 * r.steps * r.grad2 < growth < 2 * lr**2 * r.steps * r.grad2 * 1.01
    assert r.lr_eff < lr
    e = norm_run(64, 2.0, 0.25, 16, 0.05, 3, steps=160, wd=0.002, w0_sq=None)
    assert e.w_sq_start**2 == pytest.approx(0.05 * e.grad2_same / (0.002 * (2 - 1e-4)))
    assert e.w4 == pytest.approx(e.w_sq_start**2, rel=0.1)
    with pytest.raises(ParameterError):
        norm_run(64, 2.0, 0.25, 16, 0.05, 3, steps=10, w0_sq=None)


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


"""Input dropout in the teacher-student model (theory/dropout.py, docs/dropout.md, part 1)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from bnreg.params import ParameterError
from bnreg.sims.kernels.teacher_student import linear_epoch, mask_rows
from bnreg.sims.teacher_student import Protocol, sgd_schedule, solve_dropout_ridge, train_student
from bnreg.theory import dropout as DO
from bnreg.theory import teacher_student as TS
from bnreg.theory.catalog import evaluate

S = DO.SYMBOLS


def test_expected_objective_is_a_diagonal_ridge():
    d = DO.derive_dropout_objective()
    assert d["mask sum - closed form (N = n)"] == 0
    assert sp.simplify(d["mask mean"] - 1) == 0
    assert sp.simplify(d["mask variance"] - (1 - S["keep"]) / S["keep"]) == 0


def test_mapping_has_alpha_and_is_not_the_drop_rate():
    d = DO.derive_dropout_to_lam()
    assert sp.simplify(d["lam"] - S["alpha"] * (1 - S["keep"]) / S["keep"]) == 0
    assert DO.dropout_to_lam(2.0, 0.5) == pytest.approx(2.0)
    assert DO.dropout_to_lam(0.5, 0.8) == pytest.approx(0.125)
    assert DO.dropout_to_lam(3.0, 1.0) == 0.0
    assert evaluate("dropout_to_lam", alpha="2", keep="0.8") == pytest.approx(0.5)
    assert DO.gen_error_dropout(2.0, 1.0) == TS.gen_error_sgd(2.0)
    assert DO.gen_error_dropout(2.0, 0.5, 0.3) == pytest.approx(TS.gen_error_ridge(2.0, 2.0, 0.3))


@pytest.mark.parametrize("call", [
    lambda: DO.dropout_to_lam(2.0, 0.0), lambda: DO.dropout_to_lam(2.0, 1.5), lambda: DO.dropout_to_lam(0.0, 0.5),
    lambda: DO.dropout_to_lam(float("nan"), 0.5), lambda: DO.dropout_to_lam(2.0, "x"),
    lambda: DO.gen_error_dropout(2.0, 0.5, -1.0), lambda: DO.dropout_diag_correction(2.0, 0.5, N=0),
    lambda: DO.gen_error_dropout_bn_limit(2.0, 0.5, stats="other"), lambda: DO.gen_error_dropout_bn_limit(2, 0.5, M=1),
    lambda: evaluate("dropout_to_lam", alpha=2), lambda: evaluate("dropout_to_lam", alpha=-1, keep=0.5)])
def test_bad_input_is_rejected(call):
    with pytest.raises(ParameterError):
        call()


def test_finite_n_numeric_twin_equals_the_derivation():
    corr = DO.derive_dropout_finite_n()["correction"]
    assert DO.derive_dropout_finite_n()["E[1/s]"] == S["P"] / (S["P"] - 2)
    G, G1, G2 = sp.symbols("G G1 G2")
    for a, k, N in ((2.0, 0.5, 128), (0.5, 0.8, 64), (3.0, 0.8, 128)):
        lam = DO.dropout_to_lam(a, k)
        g = TS.mp_stieltjes(a, lam)
        h = 1e-5 * lam
        g1 = TS.mp_stieltjes_dlam(a, lam)
        g2 = (TS.mp_stieltjes_dlam(a, lam + h) - TS.mp_stieltjes_dlam(a, lam - h)) / (2 * h)
        v = float(corr.subs({S["alpha"]: a, S["lam"]: lam, S["delta2"]: 0.25, S["P"]: a * N, G: g, G1: g1, G2: g2}))
        assert DO.dropout_diag_correction(a, k, 0.25, N=N) == pytest.approx(v, rel=1e-6)


def _exact_pair(N, alpha, keep, n, seed=0, d2=0.25):
    """Exact E over (w*, eps) of eps(diagonal ridge) - eps(scalar ridge), averaged over n design matrices."""
    rng = np.random.default_rng(seed)
    P = round(alpha * N)
    a = P / N
    lam = DO.dropout_to_lam(a, keep)
    out = []
    for _ in range(n):
        X = rng.standard_normal((P, N))
        A = X.T @ X / N
        Sd = np.diag(np.diag(A) / a)
        Ri = np.linalg.inv(A + lam * np.eye(N))
        Mi = np.linalg.inv(A + lam * Sd)
        out.append((lam**2 * np.trace(Mi @ Sd @ Sd @ Mi) + d2 * np.trace(Mi @ A @ Mi)
                    - lam**2 * np.trace(Ri @ Ri) - d2 * np.trace(Ri @ A @ Ri)) / N)
    return a, float(np.mean(out)), float(np.std(out, ddof=1) / math.sqrt(n))


@pytest.mark.mc
@pytest.mark.parametrize("alpha,keep", [(2.0, 0.5), (0.5, 0.8)])
def test_finite_n_correction_explains_the_diagonal_gap(alpha, keep):
    """The O(1/N) term accounts for the exact matrix average at N = 64 to within 15 % (the rest is O(1/N^2))."""
    a, m, se = _exact_pair(64, alpha, keep, 200)
    pred = DO.dropout_diag_correction(a, keep, N=64)
    assert abs(m - pred) < 0.15 * abs(pred) + 4 * se


def test_bn_limit_reduces_to_bn_and_ridge():
    assert DO.gen_error_dropout_bn_limit(2.0, 1.0, M=32) == TS.gen_error_bn_limit(2.0, 0.25, 32)
    for a, k in ((0.5, 0.5), (2.0, 0.8)):
        # rho = 1 is the ridge itself
        lam = DO.dropout_to_lam(a, k)
        g, g1 = TS.mp_stieltjes(a, lam), TS.mp_stieltjes_dlam(a, lam)
        q = 1 - 2 * lam * g - lam**2 * g1 + 0.25 * (g + lam * g1)
        assert q - 2 * (1 - lam * g) + 1 == pytest.approx(DO.gen_error_dropout(a, k))
        assert DO.dropout_bn_scale(a, k) > 1
    d = DO.derive_dropout_bn()
    assert all(v == 0 for key, v in d.items() if key.endswith("- closed form"))


def test_solve_dropout_ridge_both_spaces():
    rng = np.random.default_rng(1)
    for P, N in ((40, 16), (10, 16)):
        X = rng.standard_normal((P, N))
        y = rng.standard_normal(P)
        c = DO.mask_variance(0.7)
        for center in (False, True):
            Xc = X - X.mean(axis=0) if center else X
            want = np.linalg.solve(Xc.T @ Xc + c * np.diag(np.sum(X * X, axis=0)), Xc.T @ y)
            assert np.allclose(solve_dropout_ridge(X, y, 0.7, center), want)
    with pytest.raises(ParameterError):
        solve_dropout_ridge(X, y, 1.0)


def test_mask_rows_rate_and_scale():
    X = np.random.default_rng(0).standard_normal((64, 101)).astype(np.float32)
    buf = np.empty((64, 101), np.float32)
    st = mask_rows(X, np.arange(64), 0.3, np.uint64(7), buf)
    on = buf != 0
    assert abs(on.mean() - 0.3) < 4 * math.sqrt(0.3 * 0.7 / on.size)
    assert np.allclose(buf[on], X[on] / np.float32(0.3))
    buf2 = np.empty_like(buf)
    assert mask_rows(X, np.arange(64), 0.3, np.uint64(7), buf2) == st and np.array_equal(buf, buf2)


def test_keep_one_is_the_plain_epoch():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((64, 16)).astype(np.float32)
    y = rng.standard_normal(64)
    w1, w2 = np.zeros(16), np.zeros(16)
    linear_epoch(X, y, np.arange(64), 8, 0.05, w1)
    linear_epoch(X, y, np.arange(64), 8, 0.05, w2, 1.0, 123)
    assert np.array_equal(w1, w2)


def test_dropout_student_is_reproducible_and_near_its_ridge():
    pr = Protocol(M=16, epochs=300)
    r1 = train_student("dropout", 32, 3.0, 0.25, 0.0, pr, seed=5, with_reference=True, keep=0.5)
    r2 = train_student("dropout", 32, 3.0, 0.25, 0.0, pr, seed=5, with_reference=True, keep=0.5)
    assert r1.eps_gen == r2.eps_gen
    assert abs(r1.eps_gen - r1.extra["eps_dropout_diag_same_data"]) < 0.05
    assert r1.extra["eps_dropout_ridge_same_data"] > 0
    b = train_student("bn_dropout", 32, 3.0, 0.25, 0.0, pr, seed=5, with_reference=True, keep=0.5)
    assert 0 < b.extra["var_ratio"] < 1 and "eps_bn_dropout_limit_same_data" in b.extra
    sched = sgd_schedule(pr, 32, 3.0, "dropout", 0.5)
    assert len(sched) == 300 and sched[0] == (pytest.approx(0.5 * 0.5 * 16 / 32), 6)
    assert DO.sgd_excess_error(3.0, 0.5, 0.25, 16, 32, sched) > 0
    with pytest.raises(ParameterError):
        train_student("dropout", 32, 3.0, keep=0.0)

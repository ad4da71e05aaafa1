"""Input dropout, simulations: trained dropout students and the masked-SGD kernel against the
dropout ridge (sims/teacher_student.py, docs/dropout.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bnreg.params import ParameterError
from bnreg.sims.kernels.teacher_student import linear_epoch, mask_rows
from bnreg.sims.teacher_student import Protocol, sgd_schedule, solve_dropout_ridge, train_student
from bnreg.theory import dropout as DO


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



def _normalized_design(N, P, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((P, N))
    X /= np.sqrt(np.einsum("ij,ij->j", X, X) / P)  # column norms^2 = P: diag(A~) = alpha
    return X.T @ X / N


def test_ridge_gradient_of_the_control_variate_matches_finite_differences():
    from bnreg.sims.checks_dropout import _ridge_eps, _ridge_grad

    N, P, lam = 12, 24, 0.7
    At = _normalized_design(N, P, 2)
    c, U = np.linalg.eigh(At)
    d = 1e-6 * np.random.default_rng(3).standard_normal(N)
    Ad = (1 + d)[:, None] * At * (1 + d)[None, :]
    fd = _ridge_eps(np.linalg.eigvalsh(Ad), lam) - _ridge_eps(np.clip(c, 0, None), lam)
    assert fd == pytest.approx(float(_ridge_grad(np.clip(c, 0, None), U, lam) @ d), rel=1e-4)


@pytest.mark.mc
def test_dropout_side_is_averaged_over_the_column_norms_exactly():
    """E_S eps_D = (P/(P-2)) eps~ - (2/(P-2)) lam^2 (1/N) sum R~_jj^2 for a fixed normalized design X~, against
    20000 draws of s_j ~ chi2_P/P solved directly (the identity teacher.dropout_diag_correction averages with)."""
    from bnreg.sims.checks_dropout import DELTA2, _ridge_eps

    N, P, lam = 6, 12, 0.8
    At = _normalized_design(N, P, 5)
    c, U = np.linalg.eigh(At)
    rjj = (U * U) @ (1 / (np.clip(c, 0, None) + lam))
    closed = P / (P - 2) * _ridge_eps(np.clip(c, 0, None), lam) - 2 / (P - 2) * lam**2 * np.mean(rjj**2)
    s = np.random.default_rng(6).chisquare(P, size=(20000, N)) / P
    A = np.sqrt(s)[:, :, None] * At[None] * np.sqrt(s)[:, None, :]
    D = s  # diag(A)/alpha
    R = np.linalg.inv(A + lam * D[:, None, :] * np.eye(N)[None])
    RD = R * D[:, None, :]
    eps = (lam**2 * np.sum(RD * RD, axis=(1, 2)) + DELTA2 * np.einsum("kij,kjl,kil->k", R, A, R)) / N
    assert abs(eps.mean() - closed) < 4 * eps.std(ddof=1) / math.sqrt(eps.size)

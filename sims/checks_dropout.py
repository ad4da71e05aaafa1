"""Input-dropout checks: trained dropout students against the exact dropout ridge and the mapped ridge.

docs/dropout.md.
The input-dropout student is trained under the teacher-student protocol of
sims/checks_teacher_student.py (same N, noise, schedule) and checked twice on the same trained
students: against the exact minimizer of its expected objective (the ridge with the data-dependent
diagonal) and against the scalar ridge at the mapped lam = alpha (1 - keep)/keep
(theory.dropout.dropout_to_lam).

Closed forms on sampled designs (no training; budget n_X = S/2^16 designs per point, 64 / 512 / 4096):
- teacher.dropout_diag_correction: the O(1/N) coefficient of E[eps(diagonal dropout ridge) - eps(scalar
  ridge at lam)], teacher-averaged exactly per design.  Gaussian X = X~ S^1/2 with the column norms s_j
  independent of the directions X~, so the dropout side is averaged over S exactly
  (E_S eps_D = (P/(P-2)) eps~ - (2/(P-2)) lam^2 (1/N) sum_j R~_jj^2, theory.dropout.derive_dropout_finite_n)
  and the scalar ridge gets the control variate sum_j g_j (sqrt(s_j) - 1 - m1), g_j its first derivative at
  X~ (independent of s), m1 = E sqrt(s) - 1 exact: both have mean 0, the per-design spread drops ~20-fold.
  The O(1/N) coefficient is estimated by Richardson extrapolation, 2 (2N) d(2N) - N d(N) at N = 64, 128,
  which removes every O(1/N^2) term of d without deriving it.
- teacher.dropout_bn_limit: the error of rho x the centred dropout ridge (the BN + dropout student's limit,
  docs/dropout.md) at N = 128 with 16 teachers per design, against its large-N closed form.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np

from bnreg.runtime import MCResult, derive_seed, mc_from_values, one_blas_thread
from bnreg.testing.judge import Check, Params
from bnreg.theory import dropout as DO
from bnreg.theory import teacher_student as TS

from .checks_teacher_student import DELTA2, N_TRAIN, TRAIN_PROTOCOL, n_seeds
from .teacher_student import Protocol, n_samples, sgd_schedule, solve_dropout_ridge, teacher_data, train_student

__all__ = ["CHECKS"]

CHECKS: list[Check] = []
_add = CHECKS.append


@lru_cache(maxsize=64)
def _dropout_runs(alpha: float, keep: float, M: int, n: int, seed: int) -> tuple[tuple[float, float], ...]:
    """Per dataset: (eps_trained - eps(diagonal dropout ridge), eps_trained - eps(ridge at the mapped lam)),
    both on the student's own data."""
    pr = Protocol(**{**TRAIN_PROTOCOL.as_dict(), "M": M})
    out = []
    for k in range(n):
        r = train_student("dropout", N_TRAIN, alpha, DELTA2, 0.0, pr, seed=seed + k, with_reference=True, keep=keep)
        out.append((r.eps_gen - r.extra["eps_dropout_diag_same_data"],
                    r.eps_gen - r.extra["eps_dropout_ridge_same_data"]))
    return tuple(out)


def _dropout_paired(which: int, p: Params, S: int, seed: int) -> MCResult:
    # both checks draw their datasets from the same seed (the point's alpha, keep, M), so they share runs
    runs = _dropout_runs(p["alpha"], p["keep"], p["M"], n_seeds(S), seed % 2**31)
    return mc_from_values([r[which] for r in runs], 1)


def _alpha_exact(p: Params) -> float:
    return n_samples(N_TRAIN, p["alpha"]) / N_TRAIN


def _sgd_excess(p: Params) -> float:
    pr = Protocol(**{**TRAIN_PROTOCOL.as_dict(), "M": p["M"]})
    return DO.sgd_excess_error(_alpha_exact(p), p["keep"], DELTA2, p["M"], N_TRAIN,
                               sgd_schedule(pr, N_TRAIN, p["alpha"], "dropout", p["keep"]))


def _ridge_at(p: Params, lam: float) -> float:
    return TS.gen_error_ridge(p["alpha"], lam, DELTA2)


def _dropout_wrong(lam_of: Callable[[Params], float]) -> Callable[[Params], float]:
    """The expected paired difference if the student were the ridge at lam_of(p) instead of the mapped lam."""
    return lambda p: _ridge_at(p, lam_of(p)) - _ridge_at(p, DO.dropout_to_lam(p["alpha"], p["keep"]))


_DROPOUT_WRONG = {
    "lam = 1 - keep (the drop rate)": _dropout_wrong(lambda p: 1 - p["keep"]),
    "no alpha: lam = (1 - keep)/keep (the per-sample coefficient)": _dropout_wrong(
        lambda p: (1 - p["keep"]) / p["keep"]),
}


def _dropout_points(scale: str) -> list[Params]:
    return [dict(alpha=a, keep=k, M=32) for a in (0.5, 2.0, 3.0) for k in (0.5, 0.8)]


_SGD_DOC = ("theory.dropout.sgd_excess_error: the SGD noise left at the end of the protocol's schedule "
            "(per MP mode, independent minibatch noise 2 L* h/M; reshuffling only lowers it)")

_add(Check(
    "teacher.dropout_exact", "gen_error_dropout",
    "input-dropout SGD (inverted Bernoulli(keep) masks, M = 32, 1500 epochs, lr 0.5 keep M/N, annealed) "
    "reaches the exact minimizer of its expected objective, the ridge (A + c diag A)^-1 X^T y/N, "
    "c = (1-keep)/keep: E[eps_drop - eps(diagonal ridge; same data)] = 0",
    _dropout_points,
    lambda p, S, seed: _dropout_paired(0, p, S, seed),
    lambda p: 0.0, _DROPOUT_WRONG,
    allowance=lambda p: 2 * _sgd_excess(p),
    allowance_doc="2 x " + _SGD_DOC,
    shown={"SGD excess (derived)": _sgd_excess}))

_add(Check(
    "teacher.dropout_ridge", "dropout_to_lam",
    "the same trained input-dropout students against the scalar ridge at lam = alpha (1 - keep)/keep on the "
    "same data: E[eps_drop - eps_ridge(lam; same data)] = 0 up to the O(1/N) diagonal term",
    _dropout_points,
    lambda p, S, seed: _dropout_paired(1, p, S, seed),
    lambda p: 0.0, _DROPOUT_WRONG,
    allowance=lambda p: 2 * (abs(DO.dropout_diag_correction(_alpha_exact(p), p["keep"], DELTA2, N=N_TRAIN))
                             + _sgd_excess(p)),
    allowance_doc="2 x (|O(1/N) diagonal term| (theory.dropout.dropout_diag_correction) + " + _SGD_DOC + ")",
    shown={"diagonal O(1/N) term": lambda p: DO.dropout_diag_correction(_alpha_exact(p), p["keep"], DELTA2, N=N_TRAIN),
           "SGD excess (derived)": _sgd_excess}))


# ------------------------------------------------------------------------------ closed forms on sampled designs
def _n_x(samples: int) -> int:
    return max(16, samples // 2**16)


def _ridge_eps(c: np.ndarray, lam: float) -> float:
    """Teacher-averaged eps of the scalar ridge from the eigenvalues c of A: mean of (lam^2 + delta2 c)/(c + lam)^2."""
    return float(np.mean((lam * lam + DELTA2 * c) / (c + lam) ** 2))


def _ridge_grad(c: np.ndarray, U: np.ndarray, lam: float) -> np.ndarray:
    """d eps_ridge/d Delta_j at Delta = 0 for A(Delta) = (1 + Delta) A (1 + Delta), A = U diag(c) U^T:
    eps = (delta2/N) tr R + ((lam^2 - delta2 lam)/N) tr R^2, R = (A + lam)^-1, dA = e_j a_j^T + a_j e_j^T, so
    g_j = -(2 delta2/N) (A R^2)_jj - (4 (lam^2 - delta2 lam)/N) (A R^3)_jj."""
    r = 1.0 / (c + lam)
    return (U * U) @ (-2 * DELTA2 * c * r * r - 4 * (lam * lam - DELTA2 * lam) * c * r**3) / c.shape[0]


def _diag_gap(N: int, P: int, lam: float, rng: np.random.Generator) -> float:
    """One design: E_S[eps_D | X~] - (eps_ridge(X) - control variate), teacher-averaged (mean = E[eps_D - eps_R])."""
    X = rng.standard_normal((P, N))
    s = np.einsum("ij,ij->j", X, X) / P  # chi2_P/P, independent of the column directions
    A = X.T @ X / N
    root = np.sqrt(s)
    ct, U = np.linalg.eigh(A / np.outer(root, root))  # A~ = X~^T X~/N, diag(A~) = alpha
    ct = np.clip(ct, 0.0, None)
    rjj = (U * U) @ (1.0 / (ct + lam))
    eps_d = P / (P - 2) * _ridge_eps(ct, lam) - 2 / (P - 2) * lam * lam * float(np.mean(rjj * rjj))
    eps_r = _ridge_eps(np.clip(np.linalg.eigvalsh(A), 0.0, None), lam)
    m1 = math.exp(0.5 * math.log(2 / P) + math.lgamma((P + 1) / 2) - math.lgamma(P / 2)) - 1  # E sqrt(s) - 1
    return eps_d - eps_r + float(np.sum(_ridge_grad(ct, U, lam) * (root - 1 - m1)))


_N_RICH = 64  # Richardson pair (N, 2N)


@lru_cache(maxsize=64)
def _diag_rich(alpha: float, keep: float, n: int, seed: int) -> MCResult:
    """Mean over n independent design pairs of 2 (2N) d(2N) - N d(N), N = 64: the O(1/N) coefficient."""
    vals = []
    with one_blas_thread():
        for k in range(n):
            rng = np.random.default_rng(derive_seed(seed, "dropout_diag", k))
            lam = DO.dropout_to_lam(alpha, keep)
            e = [m * _diag_gap(m, round(alpha * m), lam, rng) for m in (_N_RICH, 2 * _N_RICH)]
            vals.append(2 * e[1] - e[0])
    return mc_from_values(vals, 1)


def _c1(p: Params) -> float:
    """N x dropout_diag_correction (independent of N: every term is O(1/P), P = alpha N)."""
    return _N_RICH * DO.dropout_diag_correction(p["alpha"], p["keep"], DELTA2, N=_N_RICH)


def _c1_first(p: Params) -> float:
    """N x (2/P)(eps - lam^2 G^2): the E[1/s] part alone (no design difference D_eps)."""
    lam = DO.dropout_to_lam(p["alpha"], p["keep"])
    g = TS.mp_stieltjes(p["alpha"], lam)
    return 2 / p["alpha"] * (TS.gen_error_ridge(p["alpha"], lam, DELTA2) - lam * lam * g * g)


def _diag_allow(p: Params) -> float:
    """2 |Richardson remainder of (2/(P-2) - 2/P)(eps - lam^2 G^2)|, the one O(1/N^2) piece known in closed form
    (N (a) = 4 X/(alpha (alpha N - 2)) -> remainder (4 X/alpha)/((alpha N - 1)(alpha N - 2)), X = eps - lam^2 G^2)."""
    a, n = p["alpha"], _N_RICH
    x = _c1_first(p) * a / 2
    return 2 * abs(4 * x / a / ((a * n - 1) * (a * n - 2)))


_add(Check(
    "teacher.dropout_diag_correction", "dropout_diag_correction",
    "Gaussian designs, exact solves (teacher-averaged): the O(1/N) coefficient of E[eps(diagonal dropout ridge, "
    "lam D, D = diag(X^T X)/P) - eps(scalar ridge at lam = alpha (1 - keep)/keep)], estimated by Richardson "
    "extrapolation at N = 64, 128, = N x dropout_diag_correction",
    lambda scale: [dict(alpha=a, keep=k) for a, k in ((0.5, 0.5), (0.5, 0.8), (2.0, 0.5), (3.0, 0.5), (3.0, 0.8))],
    lambda p, S, seed: _diag_rich(p["alpha"], p["keep"], _n_x(S), seed % 2**31),
    _c1,
    {"zero (the scalar ridge at lam is exact at O(1/N))": lambda p: 0.0,
     "only the E[1/s] part (2/P)(eps - lam^2 G^2), no design difference": _c1_first,
     "only the design difference -D_eps": lambda p: _c1(p) - _c1_first(p)},
    allowance=_diag_allow,
    allowance_doc="2 x |Richardson remainder of the O(1/N^2) piece known in closed form, (2/(P-2) - 2/P)(eps - "
                  "lam^2 G^2) (exact E[1/s] = P/(P - 2))|; the other O(1/N^2) pieces (the 1/N terms of eps~ and "
                  "(1/N) sum R_jj^2, third and fourth order of the design difference) are removed by the "
                  "extrapolation, their O(1/N^3) remainders are not derived",
    shown={"(2/P)(eps - lam^2 G^2) part": _c1_first}))


def _moments(alpha: float, lam: float) -> tuple[float, float]:
    """(Q, C) = (|v|^2, v . w*) of the ridge at lam, large N (theory.dropout.derive_dropout_bn)."""
    g, g1 = TS.mp_stieltjes(alpha, lam), TS.mp_stieltjes_dlam(alpha, lam)
    return 1 - 2 * lam * g - lam * lam * g1 + DELTA2 * (g + lam * g1), 1 - lam * g


def _qc(alpha: float, keep: float) -> tuple[float, float, float]:
    """(Q, C, lam) of the dropout ridge at lam = alpha (1 - keep)/keep."""
    lam = DO.dropout_to_lam(alpha, keep)
    return (*_moments(alpha, lam), lam)


def _rho(p: Params, stats: str | None = None) -> float:
    k = TS.bn_shrinkage(p["M"])
    return k * DO.dropout_bn_scale(p["alpha"], p["keep"], DELTA2) if (stats or p["stats"]) == "recomputed" else k


def _eps_rho(alpha: float, keep: float, rho: float) -> float:
    q, c, _ = _qc(alpha, keep)
    return rho * rho * q - 2 * rho * c + 1


_N_BN = 128
_TEACHERS = 16


@lru_cache(maxsize=64)
def _bn_dropout(alpha: float, keep: float, M: int, n: int, seed: int) -> tuple[MCResult, MCResult]:
    """(running, recomputed): mean over n designs x 16 teachers of eps(rho v_Dc) + (rho v_Dc . xbar)^2, v_Dc the
    centred dropout ridge; rho = kappa, or kappa x the same data's sqrt(Var_train/Var_test) of h = v_Dc . x."""
    N, P, kap, c = _N_BN, round(alpha * _N_BN), TS.bn_shrinkage(M), DO.mask_variance(keep)
    run, rec = [], []
    with one_blas_thread():
        for k in range(n):
            rng = np.random.default_rng(derive_seed(seed, "bn_dropout_limit", k))
            X, _, _ = teacher_data(N, P, DELTA2, rng)
            W = rng.standard_normal((N, _TEACHERS)) / math.sqrt(N)
            Y = X @ W + math.sqrt(DELTA2) * rng.standard_normal((P, _TEACHERS))
            V = solve_dropout_ridge(X, Y, keep, center=True)
            xbar = X.mean(axis=0)
            h_var = ((X - xbar) @ V).var(axis=0)
            scale = np.sqrt(1 + c * np.einsum("jk,j->k", V * V, np.mean(X * X, axis=0)) / h_var)
            for out, rho in ((run, kap), (rec, kap * scale)):
                U = rho * V
                out.append(float(np.mean(np.sum((U - W) ** 2, axis=0) + (xbar @ U) ** 2)))
    return mc_from_values(run, _TEACHERS), mc_from_values(rec, _TEACHERS)


def _bn_finite_n(p: Params) -> float:
    """Sum of |O(1/N) terms| of eps(rho v_Dc) at fixed rho: the intercept rho^2 Q/P; centring (P - 1 samples at the
    same lam); Bai-Silverstein of rho^2 (s^2 + delta2 s)/(s + lam)^2 - 2 rho s/(s + lam); the diagonal D."""
    a, keep, rho, N = p["alpha"], p["keep"], _rho(p), _N_BN
    q, _, lam = _qc(a, keep)
    q1, c1 = _moments(a - 1 / N, lam)
    centring = rho * rho * q1 - 2 * rho * c1 + 1 - _eps_rho(a, keep, rho)
    bs = TS.spectral_mean_correction(
        lambda s: rho * rho * (s * s + DELTA2 * s) / (s + lam) ** 2 - 2 * rho * s / (s + lam), a) / N
    diag = DO.dropout_diag_correction(a, keep, DELTA2, N=N)
    return abs(rho * rho * q / (a * N)) + abs(centring) + abs(bs) + abs(diag)


_add(Check(
    "teacher.dropout_bn_limit", "gen_error_dropout_bn_limit",
    "BN + input dropout at convergence = rho x the centred dropout ridge (penalty on the uncentred second moments): "
    "on Gaussian designs (N = 128, 16 teachers each, exact solves) E[|rho v_Dc - w*|^2 + (rho v_Dc . xbar)^2] = "
    "rho^2 Q - 2 rho (1 - lam G) + 1, rho = kappa (running statistics) or kappa sqrt(1 + lam Q/V) (recomputed; the "
    "simulation uses the same data's variance ratio); the training itself is not simulated",
    lambda scale: [dict(alpha=a, keep=k, M=M, stats=st) for a, k, M in ((0.5, 0.5, 32), (2.0, 0.5, 32), (2.0, 0.8, 8),
                                                                         (3.0, 0.5, 8))
                   for st in ("running", "recomputed")],
    lambda p, S, seed: _bn_dropout(p["alpha"], p["keep"], p["M"], _n_x(S), seed % 2**31)[
        p["stats"] == "recomputed"],
    lambda p: DO.gen_error_dropout_bn_limit(p["alpha"], p["keep"], DELTA2, p["M"], p["stats"]),
    {"rho without kappa (1, resp. sqrt(1 + lam Q/V))":
     lambda p: _eps_rho(p["alpha"], p["keep"], _rho(p) / TS.bn_shrinkage(p["M"])),
     "the other statistics' value (running for recomputed and vice versa)":
     lambda p: DO.gen_error_dropout_bn_limit(p["alpha"], p["keep"], DELTA2, p["M"],
                                              "running" if p["stats"] == "recomputed" else "recomputed")},
    allowance=lambda p: 2 * _bn_finite_n(p),
    allowance_doc="2 x the sum of |O(1/N) terms| at fixed rho: intercept rho^2 Q/P (xbar independent of the "
                  "centred data), centring (P - 1 samples, lam unchanged), Bai-Silverstein term of the rho-weighted "
                  "ridge moments, theory.dropout.dropout_diag_correction (at rho = 1); not derived: its rho-"
                  "dependence, O((1 - rho)/N), and the finite-N bias of the same-data variance ratio (recomputed)",
    shared_over=("stats",)))

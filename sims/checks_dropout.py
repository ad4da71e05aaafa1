"""Input-dropout checks: trained dropout students against the exact dropout ridge and the mapped ridge.

docs/dropout.md.
The input-dropout student is trained under the teacher-student protocol of
sims/checks_teacher_student.py (same N, noise, schedule) and checked twice on the same trained
students: against the exact minimizer of its expected objective (the ridge with the data-dependent
diagonal) and against the scalar ridge at the mapped lam = alpha (1 - keep)/keep
(theory.dropout.dropout_to_lam).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from bnreg.runtime import MCResult, mc_from_values
from bnreg.testing.judge import Check, Params
from bnreg.theory import dropout as DO
from bnreg.theory import teacher_student as TS

from .checks_teacher_student import DELTA2, N_TRAIN, TRAIN_PROTOCOL, n_seeds
from .teacher_student import Protocol, n_samples, sgd_schedule, train_student

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

"""Early stopping as a ridge, simulated (theory: `theory.teacher_student.early_stopping_lam`;
docs/teacher_student.md, "Early stopping as a ridge").

For each dataset (x ~ N(0, I_N), w*_i ~ N(0, 1/N), y = w*.x + eps, Var eps = delta2, P = alpha N),
in the eigenbasis of A = X^T X/N (eigenvalues s_i, least-squares components u_i): gradient flow
stopped at time tau from v = 0 is the filter f_tau(s) = 1 - exp(-2 s tau/alpha) on u, ridge at lam
the filter s/(s + lam).  The dataset's fitted ridge coefficient is
    lam_hat = argmin_lam sum_i (f_tau(s_i) - s_i/(s_i + lam))^2 u_i^2 = argmin_lam |v_tau - v_lam|^2,
found by a bounded scalar search in log lam.  No training loop: both predictors are exact."""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize_scalar

from bnreg.params import check_float, check_int
from bnreg.runtime import MCResult, derive_seed, mc_from_values, one_blas_thread

from .teacher_student import n_samples, teacher_data

__all__ = ["simulate_early_stopping_lam"]


def _fitted_lam(s: np.ndarray, u2: np.ndarray, alpha: float, tau: float) -> float:
    f = -np.expm1(-2.0 * s * tau / alpha)

    def dist(x: float) -> float:
        lam = math.exp(x)
        return float(np.sum((f - s / (s + lam)) ** 2 * u2))

    r = minimize_scalar(dist, bounds=(math.log(1e-12), math.log(1e12)), method="bounded", options={"xatol": 1e-10})
    return math.exp(r.x)


def simulate_early_stopping_lam(N: int, alpha: float, delta2: float, taus: tuple[float, ...], n_seeds: int,
                                seed: int = 0) -> dict[float, MCResult]:
    """Mean over n_seeds datasets of the fitted ridge coefficient lam_hat of gradient flow stopped at
    each tau in `taus` (one dataset serves every tau).  Returns {tau: MCResult (SE over datasets)}."""
    N = check_int("N", N, 2)
    P = n_samples(N, alpha)
    delta2 = check_float("delta2", delta2, 0.0)
    n_seeds = check_int("n_seeds", n_seeds, 2)
    taus = tuple(check_float("tau", t, 0.0, lo_open=True) for t in taus)
    vals: dict[float, list[float]] = {t: [] for t in taus}
    with one_blas_thread():
        for k in range(n_seeds):
            X, y, _ = teacher_data(N, P, delta2, np.random.default_rng(derive_seed(seed, "early_stopping", N, k)))
            s, U = np.linalg.eigh(X.T @ X / N)
            b = U.T @ (X.T @ y / N)
            keep = s > 1e-10 * s.max()  # the null space (alpha < 1): both filters are 0 there
            u2 = (b[keep] / s[keep]) ** 2
            for t in taus:
                vals[t].append(_fitted_lam(s[keep], u2, alpha, t))
    return {t: mc_from_values(v, P) for t, v in vals.items()}

"""Training-practice checks (docs/training_practice.md): BN's running statistics (the EMA of batch
means and unbiased batch variances, with and without the warm-up min(d, (1+t)/(10+t))), the
minibatch-gradient noise of linear least squares, with and without replacement, and SGD's stationary
excess loss, exact and to first order in lr.  All formulas but the first-order excess loss are exact,
so their allowance is 0; that one's is twice its derived lr^2 term.  The checks at initialization
(training_practice_checks_init) and of L1 vs L2 (training_practice_checks_penalties) are appended
to CHECKS.  Aggregated by sims/catalog.py."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from bnreg.runtime import MCResult
from bnreg.testing.judge import N_CHUNKS, Check, Params
from bnreg.theory import training_practice as TP
from bnreg.theory.distributions import family_moments

from .training_practice import (
    RunningStatsResult,
    linear_dataset,
    per_example_gradients,
    simulate_minibatch_noise,
    simulate_running_stats,
    simulate_sgd_linear,
)
from .training_practice_checks_init import CHECKS as _INIT_CHECKS
from .training_practice_checks_penalties import CHECKS as _PENALTY_CHECKS

__all__ = ["CHECKS"]

CHECKS: list[Check] = []
_add = CHECKS.append

MU, SIGMA, S0_MEAN, S0_VAR = 1.0, 2.0, 0.0, 1.0  # PyTorch starts the running mean at 0 and variance at 1


@lru_cache(maxsize=256)
def _ema(family: str, M: int, d: float, t: int, warmup: bool, samples: int, seed: int) -> RunningStatsResult:
    # one run costs M t draws: keep the draws per point at the scale's budget
    n_runs = max(samples // (M * t), 4 * N_CHUNKS)
    return simulate_running_stats(M, d, (t,), warmup, family, MU, SIGMA, S0_MEAN, S0_VAR, n_runs, seed, N_CHUNKS)


def _ema_points(scale: str) -> list[Params]:
    return [dict(family=f, M=M, d=d, t=t, warmup=w) for f in ("gaussian", "laplace") for M in (4, 32)
            for d in (0.9, 0.99) for t in (10, 100) for w in (False, True)]


def _sim(stat: str):
    def simulate(p: Params, samples: int, seed: int) -> MCResult:
        r = _ema(p["family"], p["M"], p["d"], p["t"], p["warmup"], samples, seed)
        return getattr(r, stat)(0)
    return simulate


def _rho(p: Params) -> float:
    return family_moments(p["family"]).rho


def _mean_mean(p: Params, warmup: bool | None = None) -> float:
    w = p["warmup"] if warmup is None else warmup
    return MU + TP.running_mean_bias(p["d"], p["t"], S0_MEAN, MU, w)


def _mean_var(p: Params, warmup: bool | None = None, ddof0: bool = False) -> float:
    w = p["warmup"] if warmup is None else warmup
    target = SIGMA**2 * ((p["M"] - 1) / p["M"] if ddof0 else 1.0)
    return target + TP.ema_bias(p["d"], p["t"], S0_VAR, target, w)


def _var_mean(p: Params, warmup: bool | None = None) -> float:
    w = p["warmup"] if warmup is None else warmup
    return TP.running_mean_var(p["M"], p["d"], p["t"], SIGMA, w)


def _var_var(p: Params, rho: float | None = None) -> float:
    return TP.running_var_var(p["M"], p["d"], p["t"], SIGMA, _rho(p) if rho is None else rho, p["warmup"])


_add(Check(
    "running.mean_bias", "running_mean_bias",
    "E[running mean] = mu + Pi_t (s0 - mu): the start value is forgotten like d^t, or like 9! t!/(t+9)! with warm-up",
    _ema_points, _sim("mean_of_mean"), _mean_mean,
    {"no bias (running mean = mu)": lambda p: MU,
     "warm-up ignored (Pi = d^t)": lambda p: _mean_mean(p, warmup=False),
     "warm-up assumed (Pi of min(d, (1+t)/(10+t)))": lambda p: _mean_mean(p, warmup=True)},
    shown={"bias": lambda p: _mean_mean(p) - MU}))

_add(Check(
    "running.mean_var", "running_mean_var",
    "Var(running mean) = (sigma^2/M) sum_k w_k^2, w_k = (1 - d_k) prod_{j>k} d_j",
    _ema_points, _sim("var_of_mean"), _var_mean,
    {"stationary (1-d)/(1+d) sigma^2/M": lambda p: (1 - p["d"]) / (1 + p["d"]) * SIGMA**2 / p["M"],
     "warm-up ignored": lambda p: _var_mean(p, warmup=False),
     "warm-up assumed": lambda p: _var_mean(p, warmup=True)},
    shown={"stationary": lambda p: (1 - p["d"]) / (1 + p["d"]) * SIGMA**2 / p["M"]}))

_add(Check(
    "running.var_bias", "running_var_bias",
    "E[running variance] = sigma^2 + Pi_t (s0 - sigma^2) for the EMA of unbiased batch variances",
    _ema_points, _sim("mean_of_var"), _mean_var,
    {"biased batch variance (ddof 0): target (M-1)/M sigma^2": lambda p: _mean_var(p, ddof0=True),
     "warm-up ignored": lambda p: _mean_var(p, warmup=False)}))

_add(Check(
    "running.var_var", "running_var_var",
    "Var(running variance) = sigma^4 (2/(M-1) + rho/M) sum_k w_k^2, rho the excess kurtosis",
    _ema_points, _sim("var_of_var"), _var_var,
    {"kurtosis ignored (Gaussian formula)": lambda p: _var_var(p, rho=0.0),
     "2 sigma^4/M per batch": lambda p: 2 * SIGMA**4 / p["M"] * TP.ema_variance(p["d"], p["t"], 1.0, p["warmup"])},
    shown={"Gaussian formula": lambda p: _var_var(p, rho=0.0)}))


# ------------------------------------------------------------------ minibatch-gradient noise
@lru_cache(maxsize=16)
def _gradients(N: int, dim: int) -> tuple[np.ndarray, float]:
    """Per-example gradients of a fixed linear least-squares problem at a point away from the
    optimum (w_ls + 0.3), and tr of their population covariance."""
    X, y, w = linear_dataset(N, dim, noise=1.0, seed=7)
    G = per_example_gradients(X, y, w + 0.3)
    Gc = G - G.mean(axis=0)
    return G, float(np.sum(Gc * Gc) / N)


def _noise_points(scale: str) -> list[Params]:
    return [dict(N=N, M=M, replace=r, dim=5) for N, Ms in ((20, (1, 5, 10, 19)), (200, (1, 10, 100, 190)))
            for M in Ms for r in (False, True)]


def _noise_sim(p: Params, samples: int, seed: int) -> MCResult:
    G, _ = _gradients(p["N"], p["dim"])
    return simulate_minibatch_noise(G, p["M"], p["replace"], max(samples // p["M"], 4 * N_CHUNKS), seed, N_CHUNKS)


def _noise_theory(p: Params, replace: bool | None = None) -> float:
    _, tr = _gradients(p["N"], p["dim"])
    return TP.minibatch_mean_var(p["M"], p["N"], tr, p["replace"] if replace is None else replace)


_add(Check(
    "minibatch.grad_noise", "minibatch_mean_var",
    "tr Cov(minibatch gradient) = tr Sigma_g (N-M)/(M(N-1)) without replacement, tr Sigma_g/M with (linear model)",
    _noise_points, _noise_sim, _noise_theory,
    {"Sigma/M whatever the sampling": lambda p: _noise_theory(p, replace=True),
     "finite-population factor whatever the sampling": lambda p: _noise_theory(p, replace=False),
     "Sigma (N-M)/(M N) (no N - 1)": lambda p: _noise_theory(p) if p["replace"] else
        _noise_theory(p) * (p["N"] - 1) / p["N"]},
    min_M=1, shown={"with replacement": lambda p: _noise_theory(p, replace=True)}))


# ----------------------------------------------------------------- SGD's stationary excess loss
@lru_cache(maxsize=4)
def _sgd_data() -> tuple[np.ndarray, np.ndarray, float]:
    X, y, w = linear_dataset(200, 5, noise=1.0, seed=2)
    G = per_example_gradients(X, y, w)
    return X, y, float(np.sum((G - G.mean(axis=0)) ** 2) / len(y))


def _sgd_points(scale: str) -> list[Params]:
    return [dict(lr=lr, M=M, replace=r) for lr, M in ((0.04, 4), (0.3, 4), (0.16, 16), (0.64, 64))
            for r in (False, True)]


def _sgd_sim(p: Params, samples: int, seed: int) -> MCResult:
    X, y, _ = _sgd_data()
    steps = max(samples // (32 * p["M"]), 2000)
    return simulate_sgd_linear(X, y, p["lr"], p["M"], steps, steps // 10, p["replace"], 32, seed)


def _sgd_theory(p: Params) -> float:
    X, y, _ = _sgd_data()
    return TP.sgd_stationary_excess(X, y, p["lr"], p["M"], p["replace"])


def _sgd_first(p: Params) -> float:
    return TP.sgd_excess_loss(p["lr"], p["M"], _sgd_data()[2], 200, p["replace"])


_add(Check(
    "sgd.stationary_excess", "sgd_stationary_excess",
    "constant-step SGD on least squares: E[L(w)] - L(w*) = tr(H S)/2, H S + S H - lr E[Hb S Hb] = lr C (exact); "
    "lr tr(C)/4 is its first order",
    _sgd_points, _sgd_sim, _sgd_theory,
    {"first order lr tr(C)/4": _sgd_first,
     "additive noise only (H S + S H - lr H S H = lr C)": lambda p: _sgd_additive(p)},
    shown={"first order": _sgd_first}))


def _sgd_additive(p: Params) -> float:
    """The Lyapunov equation with the exact lr^2 term but the minibatch Hessian's noise dropped
    (E[Hb S Hb] replaced by H S H), diagonalized in H's eigenbasis."""
    X, y, _ = _sgd_data()
    N = len(y)
    H = X.T @ X / N
    w = np.linalg.lstsq(X, y, rcond=None)[0]
    G = (X @ w - y)[:, None] * X
    C = TP.minibatch_factor(N, p["M"], p["replace"]) * G.T @ G / N
    lam_, U = np.linalg.eigh(H)
    Ct = U.T @ C @ U
    St = p["lr"] * Ct / (lam_[:, None] + lam_[None, :] - p["lr"] * lam_[:, None] * lam_[None, :])
    return float(np.sum(lam_ * np.diag(St)) / 2)


# -------------------------------------------------- SGD's excess loss to first order in lr
@lru_cache(maxsize=4)
def _small_data() -> tuple[np.ndarray, np.ndarray, float]:
    """A small problem (N = 40, dim 4), so that the finite-population factor (N-M)/(N-1) is far from 1."""
    X, y, w = linear_dataset(40, 4, noise=1.0, seed=2)
    G = per_example_gradients(X, y, w)
    return X, y, float(np.sum(G * G) / len(y))  # the per-example gradients at w* have mean 0


def _ehsh(X: np.ndarray, S: np.ndarray, M: int, replace: bool) -> np.ndarray:
    """E[Hb S Hb] of a minibatch Hessian Hb = (1/M) sum_B x x^T: (1/M^2) [p1 Q + p2 (N^2 H S H - Q)],
    Q = sum_i (x_i^T S x_i) x_i x_i^T, p1 = M/N, p2 = M(M-1)/(N(N-1)) without replacement,
    Q/(N M) + (1 - 1/M) H S H with (theory.training_practice.sgd_stationary_excess)."""
    N = X.shape[0]
    H = X.T @ X / N
    Q = (X * np.einsum("ij,ij->i", X @ S, X)[:, None]).T @ X
    if replace:
        return Q / (N * M) + (1.0 - 1.0 / M) * H @ S @ H
    return (M / N * Q + M * (M - 1) / (N * (N - 1)) * (N * N * H @ S @ H - Q)) / (M * M)


@lru_cache(maxsize=64)
def _sgd_orders(lr: float, M: int, replace: bool) -> tuple[float, int]:
    """(lr^2 term, burn-in).  The stationary S = E[e e^T] solves H S + S H - lr E[Hb S Hb] = lr C; with
    S = lr S1 + lr^2 S2 + ..., H S1 + S1 H = C and H S2 + S2 H = E[Hb S1 Hb], so the excess loss
    tr(H S)/2 = lr tr(C)/4 + lr^2 tr(E[Hb S1 Hb])/4 + O(lr^3).  Burn-in: S_t - S = -T^t(S) for the
    self-adjoint positive map T(S) = E[(I - lr Hb) S (I - lr Hb)] of spectral radius rho, so after b
    steps |tr(H (S_t - S))| <= |H|_F |S|_F rho^t; b makes rho^b <= 1e-12."""
    X, y, _ = _small_data()
    N, dim = X.shape
    H = X.T @ X / N
    w = np.linalg.lstsq(X, y, rcond=None)[0]
    G = (X @ w - y)[:, None] * X
    C = TP.minibatch_factor(N, M, replace) * G.T @ G / N
    lam_, U = np.linalg.eigh(H)
    S1 = U @ ((U.T @ C @ U) / (lam_[:, None] + lam_[None, :])) @ U.T
    second = lr * lr * float(np.trace(_ehsh(X, S1, M, replace))) / 4
    T = np.empty((dim * dim, dim * dim))
    for k in range(dim * dim):
        E = np.zeros(dim * dim)
        E[k] = 1.0
        S = E.reshape(dim, dim)
        T[:, k] = (S - lr * (H @ S + S @ H) + lr * lr * _ehsh(X, S, M, replace)).ravel()
    rho = float(np.max(np.abs(np.linalg.eigvals(T))))
    return second, math.ceil(math.log(1e-12) / math.log(rho))


def _excess_points(scale: str) -> list[Params]:
    return [dict(lr=lr, M=M, replace=r, N=40) for lr in (0.005, 0.02)
            for M, r in ((1, False), (8, False), (8, True), (20, False), (20, True))]


def _excess_sim(p: Params, samples: int, seed: int) -> MCResult:
    X, y, _ = _small_data()
    steps = max(samples // (32 * max(p["M"], 8)), 2000)  # a step costs about max(M, 8) gradient rows
    _, burn = _sgd_orders(p["lr"], p["M"], p["replace"])
    return simulate_sgd_linear(X, y, p["lr"], p["M"], steps + burn, burn, p["replace"], 32, seed)


def _excess(p: Params, replace: bool | None = None) -> float:
    return TP.sgd_excess_loss(p["lr"], p["M"], _small_data()[2], p["N"], p["replace"] if replace is None else replace)


_add(Check(
    "sgd.excess_loss", "sgd_excess_loss",
    "constant-step SGD on least squares (N = 40, dim 4): E[L(w)] - L(w*) = lr factor(N, M) tr(Sigma_g(w*))/4 "
    "+ O(lr^2), factor (N-M)/(M(N-1)) without replacement, 1/M with",
    _excess_points, _excess_sim, _excess,
    {"1/M whatever the sampling": lambda p: _excess(p, replace=True),
     "(N-M)/(M(N-1)) whatever the sampling": lambda p: _excess(p, replace=False),
     "lr factor tr/2 (Lyapunov as H S = C)": lambda p: 2 * _excess(p),
     "batch ignored: lr tr(Sigma_g)/4": lambda p: p["lr"] * _small_data()[2] / 4},
    allowance=lambda p: 2 * abs(_sgd_orders(p["lr"], p["M"], p["replace"])[0]),
    allowance_doc="2 x |derived lr^2 term| lr^2 tr(E[Hb S1 Hb])/4 (H S1 + S1 H = C; the factor 2 covers the "
                  "O(lr^3) rest); burn-in until rho^b <= 1e-12 (transient bound |H|_F |S|_F rho^b, negligible)",
    min_M=1, shown={"exact (sgd_stationary_excess)": lambda p: TP.sgd_stationary_excess(
        *_small_data()[:2], p["lr"], p["M"], p["replace"]),
        "with the lr^2 term": lambda p: _excess(p) + _sgd_orders(p["lr"], p["M"], p["replace"])[0]}))


CHECKS += _INIT_CHECKS + _PENALTY_CHECKS

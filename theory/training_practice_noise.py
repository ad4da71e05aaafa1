"""Minibatch-gradient noise, numerically: the minibatch covariance factor and SGD's stationary excess loss.

Part 3 of the training-practice topic (the model and the public names: theory/training_practice.py;
the derivations: training_practice_derive): the covariance of a minibatch mean of M of N per-example
gradients, with and without replacement, and constant-step SGD on linear least squares (first order
in lr, and exact).
"""

from __future__ import annotations

import math

import numpy as np

from bnreg.params import ParameterError, check_bool, check_float, check_int

from .double_double import product

__all__ = ["minibatch_factor", "minibatch_mean_var", "gradient_noise_cov", "sgd_excess_loss", "sgd_stationary_excess"]


def minibatch_factor(N: int | None, M: int, replace: bool = False) -> float:
    """Cov(minibatch mean) / Sigma: (N - M)/(M (N - 1)) without replacement, 1/M with (and for an
    infinite population, N = None)."""
    replace = check_bool("replace", replace)
    if N is None:
        return 1.0 / check_int("M", M, 1)
    N = check_int("N", N, 2)
    M = check_int("M", M, 1, None if replace else N)
    return 1.0 / M if replace else (N - M) / (M * (N - 1))


def minibatch_mean_var(M: int, N: int | None = None, sigma2: float = 1.0, replace: bool = False) -> float:
    """Variance of the mean of a minibatch of M of N fixed per-example values (gradient components)
    with population variance sigma2 = (1/N) sum (g_i - gbar)^2: sigma2 (N - M)/(M (N - 1)) without
    replacement, sigma2/M with (or for N = None, an infinite population); exact."""
    return check_float("sigma2", sigma2, 0.0) * minibatch_factor(N, M, replace)


def gradient_noise_cov(X: np.ndarray, y: np.ndarray, w: np.ndarray, M: int, replace: bool = False) -> np.ndarray:
    """The exact covariance of the minibatch gradient of L = (1/2N) sum (x_i . w - y_i)^2 at w:
    factor(N, M) Sigma_g, Sigma_g the population covariance of g_i = (x_i . w - y_i) x_i."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.asarray(w, dtype=float)
    if X.ndim != 2 or y.shape != (X.shape[0],) or w.shape != (X.shape[1],):
        raise ParameterError(f"X must be (N, d), y (N,), w (d,) (got {X.shape}, {y.shape}, {w.shape})")
    G = (X @ w - y)[:, None] * X
    Gc = G - G.mean(axis=0)
    return minibatch_factor(X.shape[0], M, replace) * (Gc.T @ Gc) / X.shape[0]


def sgd_excess_loss(lr: float, M: int, trace_sigma: float, N: int | None = None, replace: bool = False) -> float:
    """Stationary E[L(w)] - L(w*) of SGD with step lr and minibatches of M of N examples, to first
    order in lr: lr factor(N, M) tr(Sigma_g(w*))/4 (Lyapunov equation; module docstring)."""
    lr = check_float("lr", lr, 0.0, lo_open=True)
    return product(lr, minibatch_factor(N, M, replace), check_float("trace_sigma", trace_sigma, 0.0), 0.25)


def sgd_stationary_excess(X: np.ndarray, y: np.ndarray, lr: float, M: int, replace: bool = False) -> float:
    """The exact stationary E[L(w)] - L(w*) of constant-step SGD with i.i.d. minibatches of M rows on
    L = (1/2N) |X w - y|^2, any lr below the stability edge.  With e = w - w*, a batch B gives
    e' = (I - lr Hb) e - lr xi_B, Hb = (1/M) sum_B x x^T, xi_B the minibatch gradient at w*
    (mean 0, covariance C = factor(N, M) Sigma_g(w*)); e is independent of B and E[e] = 0, so the
    cross terms vanish and S = E[e e^T] solves  H S + S H - lr E[Hb S Hb] = lr C  exactly, with
    E[Hb S Hb] = (1/M^2) [p1 Q + p2 (N^2 H S H - Q)], Q = sum_i A_i S A_i, A_i = x_i x_i^T,
    p1 = M/N, p2 = M(M-1)/(N(N-1)) without replacement (with: E = (1/M)(Q/N) + (1 - 1/M) H S H).
    Returns tr(H S)/2 (inf if lr is beyond the edge, where no stationary law exists)."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    N, dim = X.shape
    lr = check_float("lr", lr, 0.0, lo_open=True)
    replace = check_bool("replace", replace)
    M = check_int("M", M, 1, None if replace else N)
    H = X.T @ X / N
    w_star = np.linalg.lstsq(X, y, rcond=None)[0]
    G = (X @ w_star - y)[:, None] * X
    C = minibatch_factor(N, M, replace) * (G.T @ G) / N

    def op(S: np.ndarray) -> np.ndarray:
        XS = X @ S
        Q = (X * np.einsum("ij,ij->i", XS, X)[:, None]).T @ X  # sum_i (x_i^T S x_i) x_i x_i^T
        HSH = H @ S @ H
        if replace:
            E = Q / (N * M) + (1.0 - 1.0 / M) * HSH
        else:
            E = (M / N * Q + M * (M - 1) / (N * (N - 1)) * (N * N * HSH - Q)) / (M * M)
        return H @ S + S @ H - lr * E

    A = np.empty((dim * dim, dim * dim))
    for k in range(dim * dim):
        B = np.zeros(dim * dim)
        B[k] = 1.0
        A[:, k] = op(B.reshape(dim, dim)).ravel()
    S = np.linalg.solve(A, lr * C.ravel()).reshape(dim, dim)
    S = (S + S.T) / 2
    if np.min(np.linalg.eigvalsh(S)) < -1e-12 * max(np.max(np.abs(S)), 1e-300):
        return math.inf
    return float(np.trace(H @ S) / 2)

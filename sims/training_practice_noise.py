"""Minibatch-gradient noise, simulated: minibatch means of per-example gradients and constant-step SGD.

Part 3 of the training-practice simulations (the public face: sims/training_practice.py; theory:
bnreg.theory.training_practice, minibatch_factor and sgd_excess_loss): linear least squares, with
minibatches drawn with or without replacement by numba kernels.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from bnreg.params import check_bool, check_float, check_int
from bnreg.runtime import MCResult, derive_seed, jackknife, mc_from_values, run_chunks, split_batches

__all__ = ["linear_dataset", "per_example_gradients", "minibatch_noise_kernel", "simulate_minibatch_noise",
           "sgd_linear_kernel", "simulate_sgd_linear"]


def linear_dataset(N: int, dim: int = 5, noise: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray,
                                                                                       np.ndarray]:
    """(X, y, w_ls): X ~ N(0, I_dim) (N rows), y = X w_true + noise eps with w_true ~ N(0, I/dim),
    w_ls the least-squares solution (the minimum of L = (1/2N) |X w - y|^2)."""
    N = check_int("N", N, 2)
    dim = check_int("dim", dim, 1)
    rng = np.random.default_rng(derive_seed(seed, "linear_dataset", N, dim))
    X = rng.standard_normal((N, dim))
    y = X @ (rng.standard_normal(dim) / math.sqrt(dim)) + check_float("noise", noise, 0.0) * rng.standard_normal(N)
    return X, y, np.linalg.lstsq(X, y, rcond=None)[0]


def per_example_gradients(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """g_i = (x_i . w - y_i) x_i, the gradients of (x_i . w - y_i)^2/2 (rows)."""
    return (X @ w - y)[:, None] * X


@nb.njit(cache=True, nogil=True)
def _fy_draw(rng, perm, M, replace, idx):  # pragma: no cover - njit
    N = perm.shape[0]
    for i in range(M):
        if replace:
            j = int(rng.random() * N)
            idx[i] = j if j < N else N - 1
        else:
            j = i + int(rng.random() * (N - i))
            if j >= N:
                j = N - 1
            tmp = perm[i]
            perm[i] = perm[j]
            perm[j] = tmp
            idx[i] = perm[i]


@nb.njit(cache=True, nogil=True)
def minibatch_noise_kernel(rng, G, gbar, M, replace, n, perm, idx, out):  # pragma: no cover - njit
    """n minibatches of M rows of G (partial Fisher-Yates without replacement, or uniform with):
    adds |mean of the rows - gbar|^2 to out[0]."""
    dim = G.shape[1]
    for _ in range(n):
        _fy_draw(rng, perm, M, replace, idx)
        tot = 0.0
        for k in range(dim):
            s = 0.0
            for i in range(M):
                s += G[idx[i], k]
            e = s / M - gbar[k]
            tot += e * e
        out[0] += tot


def simulate_minibatch_noise(G: np.ndarray, M: int, replace: bool = False, n_batches: int = 100_000, seed: int = 0,
                             n_chunks: int = 64, threads: int | None = None) -> MCResult:
    """MC of tr Cov(minibatch mean gradient) = E|ghat - gbar|^2 for per-example gradients G (N, dim)
    (theory: factor(N, M) tr Sigma_g, minibatch_factor).  Returns an MCResult (jackknife)."""
    G = np.ascontiguousarray(G, dtype=float)
    N = G.shape[0]
    M = check_int("M", M, 1, None if replace else N)
    replace = check_bool("replace", replace)
    gbar = G.mean(axis=0)
    per = split_batches(n_batches, n_chunks)

    def chunk(i: int, rng: np.random.Generator) -> np.ndarray:
        out = np.zeros(2)
        minibatch_noise_kernel(rng, G, gbar, M, replace, per, np.arange(N), np.empty(M, dtype=np.int64), out)
        out[1] = per
        return out

    sums = run_chunks(chunk, n_chunks, seed, threads)
    return jackknife(lambda t: t[0] / t[1], sums, per * n_chunks)


@nb.njit(cache=True, nogil=True)
def sgd_linear_kernel(rng, X, y, w_star, H, lr, M, replace, steps, burn, w, perm, idx, grad):  # pragma: no cover
    """Constant-step SGD on (1/2N) |X w - y|^2 with i.i.d. minibatches; returns the mean over the
    steps after `burn` of the excess loss (w - w*)^T H (w - w*)/2."""
    dim = X.shape[1]
    acc = 0.0
    for step in range(steps):
        _fy_draw(rng, perm, M, replace, idx)
        for k in range(dim):
            grad[k] = 0.0
        for i in range(M):
            r = -y[idx[i]]
            for k in range(dim):
                r += X[idx[i], k] * w[k]
            for k in range(dim):
                grad[k] += r * X[idx[i], k]
        for k in range(dim):
            w[k] -= lr * grad[k] / M
        if step >= burn:
            e = 0.0
            for a in range(dim):
                da = w[a] - w_star[a]
                for b in range(dim):
                    e += da * H[a, b] * (w[b] - w_star[b])
            acc += 0.5 * e
    return acc / max(steps - burn, 1)


def simulate_sgd_linear(X: np.ndarray, y: np.ndarray, lr: float, M: int, steps: int = 20_000, burn: int = 2_000,
                        replace: bool = False, n_chains: int = 16, seed: int = 0) -> MCResult:
    """Stationary excess loss E[L(w)] - L(w*) of constant-step SGD on L = (1/2N)|X w - y|^2 with
    i.i.d. minibatches of M, started at w*, averaged over steps after `burn`; SE over independent
    chains (theory, first order in lr: sgd_excess_loss)."""
    X = np.ascontiguousarray(X, dtype=float)
    y = np.ascontiguousarray(y, dtype=float)
    N, dim = X.shape
    lr = check_float("lr", lr, 0.0, lo_open=True)
    M = check_int("M", M, 1, None if replace else N)
    steps = check_int("steps", steps, 1)
    burn = check_int("burn", burn, 0, steps - 1)
    n_chains = check_int("n_chains", n_chains, 2)
    w_star = np.linalg.lstsq(X, y, rcond=None)[0]
    H = X.T @ X / N
    vals = []
    for c in range(n_chains):
        rng = np.random.default_rng(derive_seed(seed, "sgd_linear", c))
        vals.append(sgd_linear_kernel(rng, X, y, w_star, H, lr, M, bool(replace), steps, burn, w_star.copy(),
                                      np.arange(N), np.empty(M, dtype=np.int64), np.empty(dim)))
    return mc_from_values(vals, (steps - burn) * M)

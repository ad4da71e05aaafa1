"""Kernels for batch statistics.  Each batch lives in a length-M buffer (no large temporaries):
draw, normalize, accumulate.  `draw` is a numba sampler `draw_builtin(rng, code) -> float`."""

from __future__ import annotations

import numba as nb
import numpy as np

from ..families import draw_builtin

# Per-batch quantities q, accumulated as sums S[k] = sum q_k and C[k, l] = sum q_k q_l:
Q_MU, Q_SD, Q_ERR, Q_X1 = 0, 1, 2, 3
N_Q = 4
N_ACC = N_Q + N_Q * N_Q


@nb.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def batch_stats_kernel(rng, code, raw_mean, raw_std, mu, sigma, M, n_batches, hist_lo, hist_hi, hist, out):
    """For n_batches batches of M draws x = mu + sigma (raw - raw_mean)/raw_std accumulate
    q = (mu_B, sigma_B, mean_i (b_i - a_i)^2, x_1) into `out` (length N_ACC), where
    a = (x - mu)/sigma and b = (x - mu_B)/sigma_B; histogram sigma_B into `hist` if non-empty."""
    buf = np.empty(M)
    q = np.empty(N_Q)
    nbins = hist.shape[0]
    inv_w = nbins / (hist_hi - hist_lo) if nbins > 0 else 0.0
    c = sigma / raw_std
    inv_sigma = 1.0 / sigma
    for _ in range(n_batches):
        s = 0.0
        for i in range(M):
            x = mu + (draw_builtin(rng, code) - raw_mean) * c
            buf[i] = x
            s += x
        m = s / M
        v = 0.0
        for i in range(M):
            d = buf[i] - m
            v += d * d
        sd = np.sqrt(v / M)
        # An all-equal batch (possible for inputs with an atom, e.g. ReLU) normalizes to 0,
        # which is what BN with any eps > 0 returns.
        inv_sd = 1.0 / sd if sd > 0.0 else 0.0
        err = 0.0
        for i in range(M):
            e = (buf[i] - m) * inv_sd - (buf[i] - mu) * inv_sigma
            err += e * e
        q[Q_MU] = m
        q[Q_SD] = sd
        q[Q_ERR] = err / M
        q[Q_X1] = buf[0]
        for k in range(N_Q):
            out[k] += q[k]
            for j in range(N_Q):
                out[N_Q + k * N_Q + j] += q[k] * q[j]
        if nbins > 0:
            b = int(np.floor((sd - hist_lo) * inv_w))
            if 0 <= b < nbins:
                hist[b] += 1


# Not disk-cached: it is inlined into its callers (which are), and a cache index of its own would
# record every sampler type it was ever compiled for (see sims.families.kernel_for).
@nb.njit(nogil=True, fastmath=True, inline="always")
def draw_standardized(rng, code, raw_mean, inv_std, buf):  # pragma: no cover - njit
    """Fill buf with standardized draws (draw_builtin(rng, code) - raw_mean) * inv_std; return their sum."""
    s = 0.0
    for i in range(buf.shape[0]):
        z = (draw_builtin(rng, code) - raw_mean) * inv_std
        buf[i] = z
        s += z
    return s


@nb.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def member_deviation_kernel(rng, code, raw_mean, raw_std, M, n_batches, u_grid, out):
    """For each u in u_grid, a sample with standardized value u sits in a batch with M-1 fresh
    standardized draws (the same draws for every u: common random numbers).  Accumulates
    out[k, 0] += D, out[k, 1] += D^2 with D = ((u - mu_B)/sigma_B - u)^2."""
    n = M - 1
    buf = np.empty(n)
    inv_std = 1.0 / raw_std
    K = u_grid.shape[0]
    for _ in range(n_batches):
        zbar = draw_standardized(rng, code, raw_mean, inv_std, buf) / n
        ss = 0.0
        for i in range(n):
            d = buf[i] - zbar
            ss += d * d
        for k in range(K):
            u = u_grid[k]
            # Pooled sum of squares of {u} and the others: ss + (n/M)(u - zbar)^2.
            du = u - zbar
            var = (ss + n * du * du / M) / M
            m = (u + n * zbar) / M
            dev = ((u - m) / np.sqrt(var) if var > 0.0 else 0.0) - u
            D = dev * dev
            out[k, 0] += D
            out[k, 1] += D * D

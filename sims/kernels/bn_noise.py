"""Kernels for batch statistics.  Batches live in small buffers (no large temporaries): draw
(`fill_builtin(rng, code, buf)`: the family's raw draws), normalize, accumulate."""

from __future__ import annotations

import numba as nb
import numpy as np

from ..families import fill_builtin

# Per-batch quantities q, accumulated as sums S[k] = sum q_k and C[k, l] = sum q_k q_l:
Q_MU, Q_SD, Q_ERR, Q_X1 = 0, 1, 2, 3
N_Q = 4
N_ACC = N_Q + N_Q * N_Q


# Batches drawn and reduced together: G*M ~ GROUP_ELEMS values (4 KiB, L1-resident).  Reducing G
# independent batches pass by pass gives the CPU independent work to overlap (one batch alone is a
# serial chain sum -> mean -> squared deviations -> sqrt -> divide -> error) and lets the sqrt and
# divide vectorize over the group: 0.72 -> 0.95 of the generator's speed at M = 32 (docs/performance.md).
GROUP_ELEMS = 512


@nb.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def batch_stats_kernel(rng, code, raw_mean, raw_std, mu, sigma, M, n_batches, hist_lo, hist_hi, hist, out):
    """For n_batches batches of M draws x = mu + sigma (raw - raw_mean)/raw_std accumulate
    q = (mu_B, sigma_B, mean_i (b_i - a_i)^2, x_1) into `out` (length N_ACC), where
    a = (x - mu)/sigma and b = (x - mu_B)/sigma_B; histogram sigma_B into `hist` if non-empty.
    The error is computed literally from b and a (not from the identity 2 - 2 sigma_B/sigma), so
    the Monte Carlo is an independent test of that identity.  Batches are drawn in order (the
    random stream does not depend on the grouping) and accumulated in order."""
    G = max(1, GROUP_ELEMS // M)
    buf = np.empty(G * M)
    m_b = np.empty(G)
    sd_b = np.empty(G)
    inv_sd_b = np.empty(G)
    err_b = np.empty(G)
    q = np.empty(N_Q)
    nbins = hist.shape[0]
    inv_w = nbins / (hist_hi - hist_lo) if nbins > 0 else 0.0
    c = sigma / raw_std
    inv_sigma = 1.0 / sigma
    inv_m = 1.0 / M
    done = 0
    while done < n_batches:
        g_n = min(G, n_batches - done)
        xs = buf[:g_n * M]
        fill_builtin(rng, code, xs)  # a tight generator loop runs at the generator's speed
        # Moments of the raw draws, mapped to x = mu + c (raw - raw_mean) per batch (affine).
        for g in range(g_n):
            s = 0.0
            for i in range(M):  # range(M) with an offset vectorizes; range(g*M, (g+1)*M) did not
                s += xs[g * M + i]
            m_b[g] = s * inv_m
        for g in range(g_n):
            m = m_b[g]
            v = 0.0
            for i in range(M):
                d = xs[g * M + i] - m
                v += d * d
            sd_b[g] = c * np.sqrt(v * inv_m)
            m_b[g] = mu + (m - raw_mean) * c
        for g in range(g_n):
            # An all-equal batch (possible for inputs with an atom, e.g. ReLU) normalizes to 0,
            # which is what BN with any eps > 0 returns.
            inv_sd_b[g] = 1.0 / sd_b[g] if sd_b[g] > 0.0 else 0.0
        for g in range(g_n):
            m = m_b[g]
            inv_sd = inv_sd_b[g]
            err = 0.0
            for i in range(M):
                x = mu + (xs[g * M + i] - raw_mean) * c
                e = (x - m) * inv_sd - (x - mu) * inv_sigma
                err += e * e
            err_b[g] = err * inv_m
        for g in range(g_n):
            q[Q_MU] = m_b[g]
            q[Q_SD] = sd_b[g]
            q[Q_ERR] = err_b[g]
            q[Q_X1] = mu + (xs[g * M] - raw_mean) * c
            for k in range(N_Q):
                out[k] += q[k]
                for j in range(N_Q):
                    out[N_Q + k * N_Q + j] += q[k] * q[j]
            if nbins > 0:
                b = int(np.floor((sd_b[g] - hist_lo) * inv_w))
                if 0 <= b < nbins:
                    hist[b] += 1
        done += g_n


# Not disk-cached: it is inlined into its callers (which are), and a cache index of its own would
# record every sampler type it was ever compiled for (see sims.families.kernel_for).
@nb.njit(nogil=True, fastmath=True, inline="always")
def draw_standardized(rng, code, raw_mean, inv_std, buf):  # pragma: no cover - njit
    """Fill buf with standardized draws (raw - raw_mean) * inv_std, raw from `fill_builtin`; return their sum."""
    fill_builtin(rng, code, buf)
    s = 0.0
    for i in range(buf.shape[0]):
        z = (buf[i] - raw_mean) * inv_std
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

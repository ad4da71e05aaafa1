"""Kernel for the dropout variance shift: one unit z = sum_i w_i m_i x_i before BN, sampled in
train mode (with the multiplicative noise m) and test mode (m = 1) from the same inputs."""

from __future__ import annotations

import numba as nb
import numpy as np

from ..families import draw_builtin

BERNOULLI, GAUSSIAN, UOUT = 0, 1, 2
# Accumulated sums: test z, test z^2, train z, train z^2 (z centred at its known mean c sum w).
N_ACC = 4


@nb.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def shift_kernel(rng, code, raw_mean, inv_std, n, w, c, sd, load_shared, load_own, noise, keep, beta,
                 out):  # pragma: no cover - njit
    """For n samples: x_i = c + sd (load_shared F + load_own E_i) with F, E_i standardized draws
    (pairwise correlation load_shared^2), z_test = sum w_i x_i, z_train = sum w_i m_i x_i with
    m = a/keep (a ~ Bernoulli(keep)), 1 + sqrt((1-keep)/keep) N(0,1), or 1 + U(-beta, beta).
    Adds sums of (z - c sum w) and their squares to out[0:4]."""
    d = w.shape[0]
    inv_keep = 1.0 / keep
    g_sd = np.sqrt((1.0 - keep) / keep)
    s1 = 0.0
    for i in range(d):
        s1 += w[i]
    centre = c * s1
    for _ in range(n):
        F = (draw_builtin(rng, code) - raw_mean) * inv_std
        zt = 0.0
        zy = 0.0
        for i in range(d):
            E = (draw_builtin(rng, code) - raw_mean) * inv_std
            x = c + sd * (load_shared * F + load_own * E)
            if noise == BERNOULLI:
                m = inv_keep if rng.random() < keep else 0.0
            elif noise == GAUSSIAN:
                m = 1.0 + g_sd * rng.standard_normal()
            else:
                m = 1.0 + beta * (2.0 * rng.random() - 1.0)
            zt += w[i] * x
            zy += w[i] * m * x
        zt -= centre
        zy -= centre
        out[0] += zt
        out[1] += zt * zt
        out[2] += zy
        out[3] += zy * zy

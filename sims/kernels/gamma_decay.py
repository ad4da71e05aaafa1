"""Kernel for the BN-vs-PN loss of a GLM unit (Luo et al., ICLR 2019, arXiv:1809.00846, §2;
docs/gamma_decay.md): every member of every batch contributes, so each batch of M draws gives M
exchangeable samples inside their own batch."""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from .bn_noise import draw_standardized

# GLM kinds: A(eta) = eta^2/2 | eta^2 | log(1 + e^eta) | e^eta | max(eta, 0)^2/2
IDENTITY, SQUARED, LOGISTIC, POISSON, RELU = 0, 1, 2, 3, 4
# Statistics accumulated per gamma (sums over members):
S_DL, S_FIRST, S_SECOND, S_GRAD_BN, S_CURV_BN, S_GRAD_PN = 0, 1, 2, 3, 4, 5
N_STAT = 6


@nb.njit(cache=True, nogil=True, inline="always")
def glm_a(kind, eta, k):  # pragma: no cover - njit
    """A^(k)(eta), k = 0, 1, 2."""
    if kind == IDENTITY:
        return 0.5 * eta * eta if k == 0 else (eta if k == 1 else 1.0)
    if kind == SQUARED:
        return eta * eta if k == 0 else (2.0 * eta if k == 1 else 2.0)
    if kind == LOGISTIC:
        if k == 0:
            return max(eta, 0.0) + math.log1p(math.exp(-abs(eta)))
        s = 1.0 / (1.0 + math.exp(-eta))
        return s if k == 1 else s * (1.0 - s)
    if kind == POISSON:
        return math.exp(eta)
    p = max(eta, 0.0)
    return 0.5 * p * p if k == 0 else (p if k == 1 else (1.0 if eta > 0.0 else 0.0))


@nb.njit(cache=True, nogil=True, error_model="numpy")
def glm_bn_kernel(rng, code, raw_mean, raw_std, M, n_batches, center, kind, gammas, beta, gamma0, beta0,
                  out):  # pragma: no cover - njit
    """Batches of M standardized draws u; xhat = (u - m)/s (center) or u/r (r = batch RMS).
    With y_eff = A'(gamma0 u + beta0) = E[y|u] (the loss is linear in y), for each gamma in `gammas`
    accumulate into out[k, :] the member sums of
      dL     = l(hhat) - l(hbar),  l(eta) = A(eta) - y_eff eta, hhat = gamma xhat + beta, hbar = gamma u + beta
      first  = (A'(hbar) - y_eff)(hhat - hbar),  second = A''(hbar)(hhat - hbar)^2/2
      grad_bn = dl(hhat)/dgamma, curv_bn = d^2 l(hhat)/dgamma^2, grad_pn = dl(hbar)/dgamma."""
    buf = np.empty(M)
    inv_std = 1.0 / raw_std
    K = gammas.shape[0]
    for _ in range(n_batches):
        s1 = draw_standardized(rng, code, raw_mean, inv_std, buf)
        m = s1 / M if center else 0.0
        v = 0.0
        for i in range(M):
            d = buf[i] - m
            v += d * d
        sd = math.sqrt(v / M)
        inv_sd = 1.0 / sd if sd > 0.0 else 0.0  # all-equal batch -> 0, as BN with eps > 0
        for i in range(M):
            uu = buf[i]
            xh = (uu - m) * inv_sd
            y = glm_a(kind, gamma0 * uu + beta0, 1)
            for k in range(K):
                g = gammas[k]
                hb = g * uu + beta
                hh = g * xh + beta
                dev = hh - hb
                a1b = glm_a(kind, hb, 1)
                out[k, S_DL] += glm_a(kind, hh, 0) - glm_a(kind, hb, 0) - y * dev
                out[k, S_FIRST] += (a1b - y) * dev
                out[k, S_SECOND] += 0.5 * glm_a(kind, hb, 2) * dev * dev
                out[k, S_GRAD_BN] += (glm_a(kind, hh, 1) - y) * xh
                out[k, S_CURV_BN] += glm_a(kind, hh, 2) * xh * xh
                out[k, S_GRAD_PN] += (a1b - y) * uu

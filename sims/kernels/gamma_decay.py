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
def glm_a012(kind, eta):  # pragma: no cover - njit
    """(A(eta), A'(eta), A''(eta)), with one exponential for the logistic and Poisson kinds."""
    if kind == IDENTITY:
        return 0.5 * eta * eta, eta, 1.0
    if kind == SQUARED:
        return eta * eta, 2.0 * eta, 2.0
    if kind == LOGISTIC:
        t = math.exp(-abs(eta))
        inv = 1.0 / (1.0 + t)
        s = inv if eta >= 0.0 else t * inv  # sigmoid(eta) without overflow
        return max(eta, 0.0) + math.log1p(t), s, s * (1.0 - s)
    if kind == POISSON:
        e = math.exp(eta)
        return e, e, e
    p = max(eta, 0.0)
    return 0.5 * p * p, p, (1.0 if eta > 0.0 else 0.0)


@nb.njit(cache=True, nogil=True, inline="always")
def _member_sums(kind, g, beta, M, u, xh, y, out_k):  # pragma: no cover - njit
    """out_k[:] += the member sums of one batch (see glm_bn_kernel) at one gamma g.  Inlined with a
    constant `kind`, so each GLM gets its own branch-free loop with the sums in registers."""
    s_dl = 0.0
    s_first = 0.0
    s_second = 0.0
    s_grad_bn = 0.0
    s_curv_bn = 0.0
    s_grad_pn = 0.0
    for i in range(M):
        uu = u[i]
        hb = g * uu + beta
        hh = g * xh[i] + beta
        dev = hh - hb
        a0b, a1b, a2b = glm_a012(kind, hb)
        a0h, a1h, a2h = glm_a012(kind, hh)
        yi = y[i]
        s_dl += a0h - a0b - yi * dev
        s_first += (a1b - yi) * dev
        s_second += 0.5 * a2b * dev * dev
        s_grad_bn += (a1h - yi) * xh[i]
        s_curv_bn += a2h * xh[i] * xh[i]
        s_grad_pn += (a1b - yi) * uu
    out_k[S_DL] += s_dl
    out_k[S_FIRST] += s_first
    out_k[S_SECOND] += s_second
    out_k[S_GRAD_BN] += s_grad_bn
    out_k[S_CURV_BN] += s_curv_bn
    out_k[S_GRAD_PN] += s_grad_pn


@nb.njit(cache=True, nogil=True, error_model="numpy")
def glm_bn_kernel(rng, code, raw_mean, raw_std, M, n_batches, center, kind, gammas, beta, gamma0, beta0,
                  out):  # pragma: no cover - njit
    """Batches of M standardized draws u; xhat = (u - m)/s (center) or u/r (r = batch RMS).
    With y_eff = A'(gamma0 u + beta0) = E[y|u] (the loss is linear in y), for each gamma in `gammas`
    accumulate into out[k, :] the member sums of
      dL     = l(hhat) - l(hbar),  l(eta) = A(eta) - y_eff eta, hhat = gamma xhat + beta, hbar = gamma u + beta
      first  = (A'(hbar) - y_eff)(hhat - hbar),  second = A''(hbar)(hhat - hbar)^2/2
      grad_bn = dl(hhat)/dgamma, curv_bn = d^2 l(hhat)/dgamma^2, grad_pn = dl(hbar)/dgamma.
    Per batch the member sums are formed first and then added to out (one addition per batch)."""
    buf = np.empty(M)
    xh = np.empty(M)
    y = np.empty(M)
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
            xh[i] = (buf[i] - m) * inv_sd
            y[i] = glm_a012(kind, gamma0 * buf[i] + beta0)[1]
        for k in range(K):
            # the kind is tested once per batch, not per member
            if kind == IDENTITY:
                _member_sums(IDENTITY, gammas[k], beta, M, buf, xh, y, out[k])
            elif kind == SQUARED:
                _member_sums(SQUARED, gammas[k], beta, M, buf, xh, y, out[k])
            elif kind == LOGISTIC:
                _member_sums(LOGISTIC, gammas[k], beta, M, buf, xh, y, out[k])
            elif kind == POISSON:
                _member_sums(POISSON, gammas[k], beta, M, buf, xh, y, out[k])
            else:
                _member_sums(RELU, gammas[k], beta, M, buf, xh, y, out[k])

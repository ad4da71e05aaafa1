"""One epoch of minibatch SGD for the three linear students of the teacher-student model.

X is (P, N) C-contiguous, y (P,), `perm` the epoch's sample order; the epoch runs
len(perm) // M full batches (the remainder is dropped; the next epoch's permutation differs).
Loss per batch: (1/M) sum_i (phi_i - y_i)^2 (no 1/2, as in the teacher-student model of Luo et al.,
ICLR 2019, arXiv:1809.00846; docs/teacher_student.md) plus, for WN,
zeta g^2.  Each step streams its M rows of X twice (pre-activations, then the weight update);
the second pass hits cache, so an epoch costs about one read of X from memory.

Students:
  linear  phi = w.x
  wn      phi = g w.x/|w|                           (Salimans & Kingma 2016), gamma decay zeta g^2
  bn      phi = gamma (w.x - mu_B)/sigma_B, beta = 0  (the shared kernels.batchnorm, C = 1)
The epoch functions update the weights (w, g or gamma, running statistics) and the effective-time
accumulator `acc` in place; lr is the step size.

Input dropout (linear and bn, `keep` < 1; docs/dropout.md): each step first writes its M rows with
a fresh inverted Bernoulli(keep) mask, x_ik m_ik / keep, into a batch buffer (`mask_rows`), and
the same step then runs on the buffer; keep = 1 (the default) is the plain student, unchanged.
The masks come from a splitmix64 stream started at the epoch's `seed` (local state: reproducible
and thread-safe), 32 bits per mask.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .batchnorm import bn_backward, bn_forward, update_running

__all__ = ["linear_epoch", "wn_epoch", "bn_epoch", "batch_dots", "batch_axpy", "mask_rows"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_LOW32 = np.uint64(0xFFFFFFFF)


@njit(cache=True, nogil=True)
def _splitmix(z):  # pragma: no cover - njit
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True)
def mask_rows(X, rows, keep, state, buf):  # pragma: no cover - njit
    """buf[i, k] = X[rows[i], k] m_ik / keep with m_ik ~ Bernoulli(keep) (P(m = 1) = keep to 2^-32), from
    the splitmix64 stream at `state` (uint64); returns the advanced state."""
    n = X.shape[1]
    thr = np.uint64(keep * 4294967296.0)
    scale = 1.0 / keep
    for i in range(rows.shape[0]):
        r = rows[i]
        k = 0
        while k < n:
            state += _GOLDEN
            bits = _splitmix(state)
            buf[i, k] = X[r, k] * scale if (bits & _LOW32) < thr else 0.0
            if k + 1 < n:
                buf[i, k + 1] = X[r, k + 1] * scale if (bits >> np.uint64(32)) < thr else 0.0
            k += 2
    return state


@njit(cache=True, nogil=True, fastmath=True)
def batch_dots(X, rows, w, h):  # pragma: no cover - njit
    """h[i] = X[rows[i]] . w, four rows per sweep so each w[k] load serves four rows."""
    n = X.shape[1]
    m = rows.shape[0]
    i = 0
    while i + 4 <= m:
        r0, r1, r2, r3 = rows[i], rows[i + 1], rows[i + 2], rows[i + 3]
        a0 = a1 = a2 = a3 = 0.0
        for k in range(n):
            wk = w[k]
            a0 += X[r0, k] * wk
            a1 += X[r1, k] * wk
            a2 += X[r2, k] * wk
            a3 += X[r3, k] * wk
        h[i], h[i + 1], h[i + 2], h[i + 3] = a0, a1, a2, a3
        i += 4
    while i < m:
        r = rows[i]
        a = 0.0
        for k in range(n):
            a += X[r, k] * w[k]
        h[i] = a
        i += 1


@njit(cache=True, nogil=True, fastmath=True)
def batch_axpy(X, rows, coef, w):  # pragma: no cover - njit
    """w += sum_i coef[i] X[rows[i]], four rows per sweep (one read-modify-write of w per four rows)."""
    n = X.shape[1]
    m = rows.shape[0]
    i = 0
    while i + 4 <= m:
        r0, r1, r2, r3 = rows[i], rows[i + 1], rows[i + 2], rows[i + 3]
        c0, c1, c2, c3 = coef[i], coef[i + 1], coef[i + 2], coef[i + 3]
        for k in range(n):
            w[k] += c0 * X[r0, k] + c1 * X[r1, k] + c2 * X[r2, k] + c3 * X[r3, k]
        i += 4
    while i < m:
        r = rows[i]
        c = coef[i]
        for k in range(n):
            w[k] += c * X[r, k]
        i += 1


@njit(cache=True, nogil=True)
def linear_epoch(X, y, perm, M, lr, w, keep=1.0, seed=0):  # pragma: no cover - njit
    """Plain SGD on (1/M) sum (w.x - y)^2; with keep < 1 on inverted-dropout inputs x m/keep (masks
    from `seed`, module docstring).  Returns the mean batch loss (on the masked inputs)."""
    nb = perm.shape[0] // M
    h = np.empty(M)
    coef = np.empty(M)
    drop = keep < 1.0
    buf = np.empty((M if drop else 0, X.shape[1]), X.dtype)
    idx = np.arange(M)
    state = np.uint64(seed)
    loss = 0.0
    for b in range(nb):
        rows = perm[b * M:(b + 1) * M]
        if drop:
            state = mask_rows(X, rows, keep, state, buf)
            batch_dots(buf, idx, w, h)
        else:
            batch_dots(X, rows, w, h)
        for i in range(M):
            r = h[i] - y[rows[i]]
            loss += r * r
            coef[i] = -lr * 2.0 * r / M
        if drop:
            batch_axpy(buf, idx, coef, w)
        else:
            batch_axpy(X, rows, coef, w)
    return loss / (nb * M)


@njit(cache=True, nogil=True)
def wn_epoch(X, y, perm, M, lr, zeta, w, g, acc):  # pragma: no cover - njit
    """SGD on (1/M) sum (g w.x/|w| - y)^2 + zeta g^2 (g is a length-1 array).
    d/dg = sum_i r_i h_i/|w| + 2 zeta g,  d/dw = (g/|w|) (sum_i r_i x_i - (sum_i r_i h_i) w/|w|^2),
    r_i = 2 (phi_i - y_i)/M.  acc[0] += lr g^2/|w|^2 per step (effective step of v = g w/|w|
    across the direction).  Returns the mean batch data loss."""
    nb = perm.shape[0] // M
    h = np.empty(M)
    coef = np.empty(M)
    loss = 0.0
    nw2 = 0.0
    for k in range(w.shape[0]):
        nw2 += w[k] * w[k]
    for b in range(nb):
        rows = perm[b * M:(b + 1) * M]
        batch_dots(X, rows, w, h)
        inv = 1.0 / np.sqrt(nw2)
        srh = 0.0
        for i in range(M):
            e = g[0] * h[i] * inv - y[rows[i]]
            loss += e * e
            r = 2.0 * e / M
            srh += r * h[i]
            coef[i] = -lr * g[0] * inv * r
        dg = srh * inv + 2.0 * zeta * g[0]
        acc[0] += lr * g[0] * g[0] * inv * inv
        # radial part of d/dw: - (g/|w|) srh w/|w|^2; applied before the data part (both use the old w)
        shrink = 1.0 + lr * g[0] * inv * srh * inv * inv
        for k in range(w.shape[0]):
            w[k] *= shrink
        batch_axpy(X, rows, coef, w)
        g[0] -= lr * dg
        nw2 = 0.0
        for k in range(w.shape[0]):
            nw2 += w[k] * w[k]
    return loss / (nb * M)


@njit(cache=True, nogil=True)
def bn_unit_work(M):  # pragma: no cover - njit
    """Work buffers of `bn_unit_step` for batch size M: h, out, xhat, dy, dh of shape (M, 1) and
    mean, inv_std, dgamma, dbeta, beta of shape (1,) (beta stays 0)."""
    return (np.empty((M, 1)), np.empty((M, 1)), np.empty((M, 1)), np.empty((M, 1)), np.empty((M, 1)),
            np.empty(1), np.empty(1), np.empty(1), np.empty(1), np.zeros(1))


@njit(cache=True, nogil=True)
def bn_unit_step(hv, y, rows, gamma, running_mean, running_var, momentum, eps, work, dh_out):  # pragma: no cover
    """One BN unit (C = 1, beta = 0) on the batch pre-activations hv (length M): forward
    out = gamma (h - mu_B)/sigma_B through the shared kernels.batchnorm, residual e = out - y[rows],
    backward of (1/M) sum e^2, running statistics updated.  Writes dL/dh into dh_out and returns
    (sum of e^2, dL/dgamma, 1/sigma_B)."""
    h, out, xhat, dy, dh, mean, inv_std, dgamma, dbeta, beta = work
    M = hv.shape[0]
    for i in range(M):
        h[i, 0] = hv[i]
    bn_forward(h, gamma, beta, eps, True, True, out, xhat, mean, inv_std)
    lb = 0.0
    for i in range(M):
        e = out[i, 0] - y[rows[i]]
        lb += e * e
        dy[i, 0] = 2.0 * e / M
    bn_backward(dy, h, xhat, gamma, mean, inv_std, True, True, dh, dgamma, dbeta)
    update_running(running_mean, running_var, mean, inv_std, eps, M, momentum)
    for i in range(M):
        dh_out[i] = dh[i, 0]
    return lb, dgamma[0], inv_std[0]


@njit(cache=True, nogil=True)
def bn_epoch(X, y, perm, M, lr, w, gamma, running_mean, running_var, momentum, eps, acc, keep=1.0,
             seed=0):  # pragma: no cover - njit
    """SGD on (1/M) sum (gamma (h - mu_B)/sigma_B - y)^2, h = w.x, beta fixed at 0, through the
    shared BN forward/backward (C = 1, `bn_unit_step`); running statistics updated every step.  keep < 1:
    h = w.(x m)/keep (input dropout, masks from `seed`), so the running statistics are learned with dropout on.
    acc[0] += lr gamma^2 inv_std^2 per step: the effective step of the weight direction (the
    BN gradient in w is scaled by gamma/sigma_B, so the induced step in v = gamma w/sigma is
    lr gamma^2/sigma^2).  Returns the mean batch loss."""
    nb = perm.shape[0] // M
    work = bn_unit_work(M)
    hv = np.empty(M)
    coef = np.empty(M)
    drop = keep < 1.0
    buf = np.empty((M if drop else 0, X.shape[1]), X.dtype)
    idx = np.arange(M)
    state = np.uint64(seed)
    loss = 0.0
    for b in range(nb):
        rows = perm[b * M:(b + 1) * M]
        if drop:
            state = mask_rows(X, rows, keep, state, buf)
            batch_dots(buf, idx, w, hv)
        else:
            batch_dots(X, rows, w, hv)
        lb, dgamma, inv_std = bn_unit_step(hv, y, rows, gamma, running_mean, running_var, momentum, eps, work, coef)
        loss += lb
        acc[0] += lr * gamma[0] * gamma[0] * inv_std * inv_std
        for i in range(M):
            coef[i] *= -lr
        if drop:
            batch_axpy(buf, idx, coef, w)
        else:
            batch_axpy(X, rows, coef, w)
        gamma[0] -= lr * dgamma
    return loss / (nb * M)

"""The one batch-normalization implementation (forward/backward), shared by every model in sims/.

Layout: x is (N, C) C-contiguous, statistics per column c over the N rows (for a conv layer,
N = batch * positions in channels-last layout).  Conventions (Ioffe & Szegedy 2015, eq. 1-2):
  mu_c = mean_n x[n, c],  var_c = mean_n (x[n, c] - mu_c)^2   (ddof = 0, as in training-mode BN)
  xhat = (x - mu) * inv_std,  inv_std = 1 / sqrt(var + eps),  y = gamma * xhat + beta
Variants (the "WN + variance-only BN" and "WN + mean-only BN" of the CNN experiments in Luo et al.,
ICLR 2019, arXiv:1809.00846; docs/cnn_library.md): center=False -> variance-only BN (xhat = x * inv_std, var still
centred); scale=False -> mean-only BN (xhat = x - mu).  With fixed statistics (population
normalization, inference with running statistics) use `norm_apply` / `norm_apply_backward`.

Fused ReLU (the CNN's norm -> ReLU, one pass instead of two): with relu=True the forward kernels
write y = max(gamma * xhat + beta, 0) and the backward kernels `bn_backward_relu` /
`norm_apply_backward_relu` take that y and use the upstream gradient dy [y > 0] in place of dy
(the ReLU subgradient 0 at 0, as PyTorch).  relu=False (the default) is plain BN; the numbers are
the same as BN followed by a separate ReLU.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["bn_forward", "bn_backward", "bn_backward_relu", "norm_apply", "norm_apply_backward",
           "norm_apply_backward_relu", "update_running"]


@njit(cache=True, nogil=True)
def bn_forward(x, gamma, beta, eps, center, scale, y, xhat, mean, inv_std, relu=False,
               group=1):  # pragma: no cover - njit
    """Training-mode BN of x (N, C): fills y, xhat (N, C), mean (C,), inv_std (C,) in place;
    y = gamma xhat + beta, or max(gamma xhat + beta, 0) with relu=True.  group > 1 (C-contiguous
    arrays): the sums run over blocks of `group` rows as flat vectors of group*C values (per-channel
    partial sums folded at the end, float64) - the same formulas, vectorized for few channels."""
    n, c = x.shape
    if group > 1:
        _bn_forward_grouped(x, gamma, beta, eps, center, scale, y, xhat, mean, inv_std, relu, group)
        return
    mean[:] = 0.0
    for i in range(n):
        for j in range(c):
            mean[j] += x[i, j]
    mean /= n
    var = np.zeros(c)
    for i in range(n):
        for j in range(c):
            d = x[i, j] - mean[j]
            var[j] += d * d
    for j in range(c):
        inv_std[j] = 1.0 / np.sqrt(var[j] / n + eps) if scale else 1.0
    _apply_rows(x, gamma, beta, mean, inv_std, center, relu, 0, n, xhat, y)


@njit(cache=True, nogil=True, inline="always")
def _apply_rows(x, gamma, beta, mean, inv_std, center, relu, r0, r1, xhat, y):  # pragma: no cover - njit
    """Rows r0 <= i < r1: xhat = (x - mean) inv_std (x inv_std without centering), y = gamma xhat + beta
    (max(., 0) with relu)."""
    for i in range(r0, r1):
        for j in range(x.shape[1]):
            v = (x[i, j] - mean[j]) if center else x[i, j]
            v *= inv_std[j]
            xhat[i, j] = v
            o = gamma[j] * v + beta[j]
            y[i, j] = max(o, 0.0) if relu else o


@njit(cache=True, nogil=True, inline="always")
def _fold(acc, c, out):  # pragma: no cover - njit
    """out[j] += sum_k acc[k C + j] (partial sums of a block of rows, in row order)."""
    for k in range(acc.shape[0] // c):
        for j in range(c):
            out[j] += acc[k * c + j]


@njit(cache=True, nogil=True, inline="always")
def _tile(v, c, length):  # pragma: no cover - njit
    """v (C,) repeated to length `length` (= rows * C): t -> v[t % C]."""
    out = np.empty(length)
    for t in range(length):
        out[t] = v[t % c]
    return out


@njit(cache=True, nogil=True)
def _bn_forward_grouped(x, gamma, beta, eps, center, scale, y, xhat, mean, inv_std, relu,
                        group):  # pragma: no cover - njit
    """`bn_forward` over flat blocks of `group` rows (L = group*C values, channel of value t = t mod C):
    acc[t] = sum over blocks of x, folded to mu_c; then sum (x - mu)^2 likewise (two-pass variance);
    then xhat = (x - mu) inv_std, y = gamma xhat + beta (max(., 0) with relu) with per-value tiles of
    the per-channel constants.  Rows after the last full block go row by row."""
    n, c = x.shape
    length = group * c
    ng = n // group
    xf, yf, hf = x.reshape(-1), y.reshape(-1), xhat.reshape(-1)
    acc = np.zeros(length)
    for g in range(ng):
        seg = xf[g * length:(g + 1) * length]
        for t in range(length):
            acc[t] += seg[t]
    s = np.zeros(c)
    _fold(acc, c, s)
    for i in range(ng * group, n):
        for j in range(c):
            s[j] += x[i, j]
    for j in range(c):
        mean[j] = s[j] / n
    mt = _tile(mean, c, length)
    acc[:] = 0.0
    for g in range(ng):
        seg = xf[g * length:(g + 1) * length]
        for t in range(length):
            d = seg[t] - mt[t]
            acc[t] += d * d
    var = np.zeros(c)
    _fold(acc, c, var)
    for i in range(ng * group, n):
        for j in range(c):
            d = x[i, j] - mean[j]
            var[j] += d * d
    for j in range(c):
        inv_std[j] = 1.0 / np.sqrt(var[j] / n + eps) if scale else 1.0
    if not center:
        mt[:] = 0.0
    at, gt, bt = _tile(inv_std, c, length), _tile(gamma, c, length), _tile(beta, c, length)
    for g in range(ng):
        seg = xf[g * length:(g + 1) * length]
        hs = hf[g * length:(g + 1) * length]
        ys = yf[g * length:(g + 1) * length]
        for t in range(length):
            v = (seg[t] - mt[t]) * at[t]
            hs[t] = v
            o = gt[t] * v + bt[t]
            ys[t] = max(o, 0.0) if relu else o
    _apply_rows(x, gamma, beta, mean, inv_std, center, relu, ng * group, n, xhat, y)


@njit(cache=True, nogil=True, inline="always")
def _grad_in(dy, y, i, j, relu):  # pragma: no cover - njit
    """The upstream gradient of element (i, j): dy, or dy [y > 0] behind a fused ReLU."""
    d = dy[i, j]
    if relu and not y[i, j] > 0:
        return d * 0
    return d


@njit(cache=True, nogil=True, inline="always")
def _dx(d, gamma, g, dbeta, dgamma, sdyx, xhat, x, mean, inv_std, n, center, scale):  # pragma: no cover - njit
    """dL/dx of one element (the formulas of `bn_backward`; g = gamma inv_std), given its incoming
    gradient d and its channel's sums dbeta, dgamma, sdyx."""
    if center and scale:
        return g * (d - dbeta / n - xhat * dgamma / n)
    if center:
        return gamma * (d - dbeta / n)
    if scale:
        return g * (d - (x - mean) * inv_std * inv_std * sdyx / n)
    return gamma * d


@njit(cache=True, nogil=True)
def bn_backward(dy, x, xhat, gamma, mean, inv_std, center, scale, dx, dgamma, dbeta):  # pragma: no cover - njit
    """Backward of `bn_forward` through the batch statistics: fills dx (N, C), dgamma, dbeta (C,).

    full BN:       dx = gamma inv_std (dy - mean(dy) - xhat mean(dy xhat))
    mean-only:     dx = gamma (dy - mean(dy))
    variance-only: dx = gamma inv_std (dy - (x - mu) inv_std^2 mean(dy x))
    """
    _bn_backward(dy, dy, False, x, xhat, gamma, mean, inv_std, center, scale, dx, dgamma, dbeta)


@njit(cache=True, nogil=True)
def bn_backward_relu(dy, y, x, xhat, gamma, mean, inv_std, center, scale, dx, dgamma, dbeta,
                     group=1):  # pragma: no cover - njit
    """Backward of `bn_forward(..., relu=True)` with output `y`: `bn_backward` with g = dy [y > 0]
    in place of dy; `group` as in `bn_forward` (flat blocks of rows, C-contiguous arrays)."""
    if group > 1:
        _bn_backward_grouped(dy, y, x, xhat, gamma, mean, inv_std, center, scale, dx, dgamma, dbeta, group)
    else:
        _bn_backward(dy, y, True, x, xhat, gamma, mean, inv_std, center, scale, dx, dgamma, dbeta)


@njit(cache=True, nogil=True)
def _bn_backward_grouped(dy, yy, x, xhat, gamma, mean, inv_std, center, scale, dx, dgamma, dbeta,
                         group):  # pragma: no cover - njit
    """`_bn_backward` (relu=True) over flat blocks of `group` rows: the same formulas."""
    n, c = dy.shape
    length = group * c
    ng = n // group
    df, yf, xf, hf, of = dy.reshape(-1), yy.reshape(-1), x.reshape(-1), xhat.reshape(-1), dx.reshape(-1)
    ag, ab, axs = np.zeros(length), np.zeros(length), np.zeros(length)
    for g in range(ng):
        o = g * length
        for t in range(length):
            d = df[o + t] if yf[o + t] > 0 else df[o + t] * 0
            ag[t] += d * hf[o + t]
            ab[t] += d
            axs[t] += d * xf[o + t]
    dgamma[:] = 0.0
    dbeta[:] = 0.0
    sdyx = np.zeros(c)
    _fold(ag, c, dgamma)
    _fold(ab, c, dbeta)
    _fold(axs, c, sdyx)
    for i in range(ng * group, n):
        for j in range(c):
            d = _grad_in(dy, yy, i, j, True)
            dgamma[j] += d * xhat[i, j]
            dbeta[j] += d
            sdyx[j] += d * x[i, j]
    gi = np.empty(c)
    for j in range(c):
        gi[j] = gamma[j] * inv_std[j]
    gt, git, mt, it = _tile(gamma, c, length), _tile(gi, c, length), _tile(mean, c, length), _tile(inv_std, c, length)
    bt, dgt, st = _tile(dbeta, c, length), _tile(dgamma, c, length), _tile(sdyx, c, length)
    for g in range(ng):
        o = g * length
        for t in range(length):
            d = df[o + t] if yf[o + t] > 0 else df[o + t] * 0
            of[o + t] = _dx(d, gt[t], git[t], bt[t], dgt[t], st[t], hf[o + t], xf[o + t], mt[t], it[t], n, center,
                            scale)
    for i in range(ng * group, n):
        for j in range(c):
            dx[i, j] = _dx(_grad_in(dy, yy, i, j, True), gamma[j], gi[j], dbeta[j], dgamma[j], sdyx[j], xhat[i, j],
                           x[i, j], mean[j], inv_std[j], n, center, scale)


@njit(cache=True, nogil=True, inline="always")
def _bn_backward(dy, yy, relu, x, xhat, gamma, mean, inv_std, center, scale, dx, dgamma, dbeta):  # pragma: no cover
    """The formulas of `bn_backward`, row by row; g = dy [yy > 0] in place of dy when relu."""
    n, c = dy.shape
    dgamma[:] = 0.0
    dbeta[:] = 0.0
    sdyx = np.zeros(c)
    for i in range(n):
        for j in range(c):
            d = _grad_in(dy, yy, i, j, relu)
            dgamma[j] += d * xhat[i, j]
            dbeta[j] += d
            sdyx[j] += d * x[i, j]
    for i in range(n):
        for j in range(c):
            dx[i, j] = _dx(_grad_in(dy, yy, i, j, relu), gamma[j], gamma[j] * inv_std[j], dbeta[j], dgamma[j],
                           sdyx[j], xhat[i, j], x[i, j], mean[j], inv_std[j], n, center, scale)


@njit(cache=True, nogil=True)
def norm_apply(x, gamma, beta, mean, inv_std, y, xhat, relu=False):  # pragma: no cover - njit
    """Normalization with fixed statistics: xhat = (x - mean) inv_std, y = gamma xhat + beta
    (max(gamma xhat + beta, 0) with relu=True)."""
    _apply_rows(x, gamma, beta, mean, inv_std, True, relu, 0, x.shape[0], xhat, y)


@njit(cache=True, nogil=True)
def norm_apply_backward(dy, xhat, gamma, inv_std, dx, dgamma, dbeta):  # pragma: no cover - njit
    """Backward of `norm_apply` (statistics are constants): dx = gamma inv_std dy."""
    _norm_apply_backward(dy, dy, False, xhat, gamma, inv_std, dx, dgamma, dbeta)


@njit(cache=True, nogil=True)
def norm_apply_backward_relu(dy, y, xhat, gamma, inv_std, dx, dgamma, dbeta):  # pragma: no cover - njit
    """Backward of `norm_apply(..., relu=True)` with output `y`: dx = gamma inv_std dy [y > 0]."""
    _norm_apply_backward(dy, y, True, xhat, gamma, inv_std, dx, dgamma, dbeta)


@njit(cache=True, nogil=True, inline="always")
def _norm_apply_backward(dy, yy, relu, xhat, gamma, inv_std, dx, dgamma, dbeta):  # pragma: no cover - njit
    """dx = gamma inv_std g, dgamma = sum g xhat, dbeta = sum g with g = dy (dy [yy > 0] when relu)."""
    n, c = dy.shape
    dgamma[:] = 0.0
    dbeta[:] = 0.0
    for i in range(n):
        for j in range(c):
            d = _grad_in(dy, yy, i, j, relu)
            dgamma[j] += d * xhat[i, j]
            dbeta[j] += d
            dx[i, j] = gamma[j] * inv_std[j] * d


@njit(cache=True, nogil=True)
def update_running(running_mean, running_var, mean, inv_std, eps, n, momentum):  # pragma: no cover
    """running <- (1 - momentum) running + momentum batch (PyTorch convention, momentum = 0.1);
    the running variance uses the unbiased batch variance var * n/(n-1), as PyTorch does."""
    for j in range(mean.shape[0]):
        d = inv_std[j] * inv_std[j]
        var = 1.0 / d - eps if d > 0.0 else np.inf  # a diverging run (inv_std underflowed): no ZeroDivisionError
        running_mean[j] = (1.0 - momentum) * running_mean[j] + momentum * mean[j]
        running_var[j] = (1.0 - momentum) * running_var[j] + momentum * var * n / max(n - 1, 1)

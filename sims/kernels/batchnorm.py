"""The one batch-normalization implementation (forward/backward), shared by every model in sims/.

Layout: x is (N, C) C-contiguous, statistics per column c over the N rows (for a conv layer,
N = batch * positions in channels-last layout).  Conventions (Ioffe & Szegedy 2015, eq. 1-2):
  mu_c = mean_n x[n, c],  var_c = mean_n (x[n, c] - mu_c)^2   (ddof = 0, as in training-mode BN)
  xhat = (x - mu) * inv_std,  inv_std = 1 / sqrt(var + eps),  y = gamma * xhat + beta
Variants (the "WN + variance-only BN" and "WN + mean-only BN" of the CNN experiments in Luo et al.,
ICLR 2019, arXiv:1809.00846; docs/cnn_library.md): center=False -> variance-only BN (xhat = x * inv_std, var still
centred); scale=False -> mean-only BN (xhat = x - mu).  With fixed statistics (population
normalization, inference with running statistics) use `norm_apply` / `norm_apply_backward`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["bn_forward", "bn_backward", "norm_apply", "norm_apply_backward", "update_running"]


@njit(cache=True, nogil=True)
def bn_forward(x, gamma, beta, eps, center, scale, y, xhat, mean, inv_std):  # pragma: no cover - njit
    """Training-mode BN of x (N, C): fills y, xhat (N, C), mean (C,), inv_std (C,) in place."""
    n, c = x.shape
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
    for i in range(n):
        for j in range(c):
            v = (x[i, j] - mean[j]) if center else x[i, j]
            v *= inv_std[j]
            xhat[i, j] = v
            y[i, j] = gamma[j] * v + beta[j]


@njit(cache=True, nogil=True)
def bn_backward(dy, x, xhat, gamma, mean, inv_std, center, scale, dx, dgamma, dbeta):  # pragma: no cover
    """Backward of `bn_forward` through the batch statistics: fills dx (N, C), dgamma, dbeta (C,).

    full BN:       dx = gamma inv_std (dy - mean(dy) - xhat mean(dy xhat))
    mean-only:     dx = gamma (dy - mean(dy))
    variance-only: dx = gamma inv_std (dy - (x - mu) inv_std^2 mean(dy x))
    """
    n, c = dy.shape
    dgamma[:] = 0.0
    dbeta[:] = 0.0
    sdyx = np.zeros(c)
    for i in range(n):
        for j in range(c):
            dgamma[j] += dy[i, j] * xhat[i, j]
            dbeta[j] += dy[i, j]
            sdyx[j] += dy[i, j] * x[i, j]
    for i in range(n):
        for j in range(c):
            g = gamma[j] * inv_std[j]
            if center and scale:
                dx[i, j] = g * (dy[i, j] - dbeta[j] / n - xhat[i, j] * dgamma[j] / n)
            elif center:
                dx[i, j] = gamma[j] * (dy[i, j] - dbeta[j] / n)
            elif scale:
                dx[i, j] = g * (dy[i, j] - (x[i, j] - mean[j]) * inv_std[j] * inv_std[j] * sdyx[j] / n)
            else:
                dx[i, j] = gamma[j] * dy[i, j]


@njit(cache=True, nogil=True)
def norm_apply(x, gamma, beta, mean, inv_std, y, xhat):  # pragma: no cover - njit
    """Normalization with fixed statistics: xhat = (x - mean) inv_std, y = gamma xhat + beta."""
    n, c = x.shape
    for i in range(n):
        for j in range(c):
            v = (x[i, j] - mean[j]) * inv_std[j]
            xhat[i, j] = v
            y[i, j] = gamma[j] * v + beta[j]


@njit(cache=True, nogil=True)
def norm_apply_backward(dy, xhat, gamma, inv_std, dx, dgamma, dbeta):  # pragma: no cover - njit
    """Backward of `norm_apply` (statistics are constants): dx = gamma inv_std dy."""
    n, c = dy.shape
    dgamma[:] = 0.0
    dbeta[:] = 0.0
    for i in range(n):
        for j in range(c):
            dgamma[j] += dy[i, j] * xhat[i, j]
            dbeta[j] += dy[i, j]
            dx[i, j] = gamma[j] * inv_std[j] * dy[i, j]


@njit(cache=True, nogil=True)
def update_running(running_mean, running_var, mean, inv_std, eps, n, momentum):  # pragma: no cover
    """running <- (1 - momentum) running + momentum batch (PyTorch convention, momentum = 0.1);
    the running variance uses the unbiased batch variance var * n/(n-1), as PyTorch does."""
    for j in range(mean.shape[0]):
        var = 1.0 / (inv_std[j] * inv_std[j]) - eps
        running_mean[j] = (1.0 - momentum) * running_mean[j] + momentum * mean[j]
        running_var[j] = (1.0 - momentum) * running_var[j] + momentum * var * n / max(n - 1, 1)

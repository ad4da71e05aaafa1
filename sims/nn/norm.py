"""The normalization family, one layer class with a `training` flag, all computed by the one BN
kernel `sims.kernels.batchnorm` (docs/cnn_library.md, "Normalizations").

Input z: the pre-activation of a conv (B, H, W, C) or fc (B, C) layer, viewed as (N, C) with
N = B*H*W (channels-last: statistics per channel over batch and positions).  Output
y = gamma * zhat + beta, then the model applies ReLU; with ``relu = True`` (set by the model, whose
ReLU layer after a norm is then a pass-through) the layer outputs max(y, 0) and its backward uses
dy [y > 0] (the same numbers in one pass).  eps = 1e-5 inside the square root.

  kind        training                                  inference
  bn          zhat = (z - mu_B)/sqrt(var_B + eps)       running mean/var (momentum m, PyTorch:
                                                          r <- (1-m) r + m batch, unbiased var)
  wn_mean_bn  zhat = z - mu_B   (mean-only BN)          z - running mean
  wn_var_bn   zhat = z/sqrt(var_B + eps) (variance-only; var_B is the centred batch variance)
                                                        z/sqrt(running var + eps)
  wn          zhat = z                                   same
  pn          zhat = (z - mu_P)/sqrt(var_P + eps)        same (fixed population statistics)

For the wn* kinds the preceding conv/fc uses weight normalization w = v/||v|| (sims.nn.layers),
so gamma is the WN gain g (Salimans & Kingma, "Weight Normalization: A Simple Reparameterization
to Accelerate Training of Deep Neural Networks", NeurIPS 2016, arXiv:1602.07868).  PN: mu_P,
var_P (ddof = 0) are the training set's statistics set by `set_population` (the model's
`refresh_population`); backprop treats them as constants.  PN carries the explicit gamma decay
zeta * sum_c gamma_c^2 (Luo, Wang, Shao, Peng, "Towards Understanding Regularization in Batch
Normalization", ICLR 2019, arXiv:1809.00846, eq. 8) whose coefficient `zeta` the model sets; its
gradient 2 zeta gamma is added in `backward`.  BN in training mode backpropagates through mu_B and
sigma_B.

`NORM_KINDS` are the kinds of `Norm`; `NORMS` = ("none", *NORM_KINDS) are the choices of the
model's ``norm`` (sims.nn.config.CNNConfig).
"""

from __future__ import annotations

import numpy as np

from bnreg.errors import ParameterError

from ..kernels.batchnorm import (
    bn_backward,
    bn_backward_relu,
    bn_forward,
    norm_apply,
    norm_apply_backward,
    norm_apply_backward_relu,
    update_running,
)
from .layers import Layer, Parameter

__all__ = ["NORMS", "NORM_KINDS", "Norm", "EPS"]

NORM_KINDS = ("bn", "pn", "wn", "wn_mean_bn", "wn_var_bn")
NORMS = ("none", *NORM_KINDS)
EPS = 1e-5
# (center, scale) of the batch statistics used in training mode
_BATCH_FLAGS = {"bn": (True, True), "wn_mean_bn": (True, False), "wn_var_bn": (False, True)}


class Norm(Layer):
    """One normalization layer over the last axis (channels); see the module docstring."""

    def __init__(self, name: str, kind: str, channels: int, dtype: np.dtype = np.float32,
                 momentum: float = 0.1, eps: float = EPS) -> None:
        if kind not in NORM_KINDS:
            raise ParameterError(f"kind must be one of {', '.join(NORM_KINDS)} (got {kind!r})")
        self.name, self.kind, self.channels, self.dtype = name, kind, channels, np.dtype(dtype)
        self.momentum, self.eps = float(momentum), float(eps)
        self.gamma = Parameter.zeros_like(f"{name}.gamma", np.ones(channels, dtype=self.dtype))
        self.beta = Parameter.zeros_like(f"{name}.beta", np.zeros(channels, dtype=self.dtype))
        self.params = [self.gamma, self.beta]
        self.running_mean = np.zeros(channels)
        self.running_var = np.ones(channels)
        self.pop_mean: np.ndarray | None = None
        self.pop_var: np.ndarray | None = None
        self.zeta = 0.0  # explicit gamma-decay coefficient (PN); penalty zeta * sum gamma^2
        self.relu = False  # True: the output is max(y, 0) (the model fuses the ReLU that follows)

    # statistics -------------------------------------------------------------------------------
    def set_population(self, mean: np.ndarray, var: np.ndarray) -> None:
        """Fix the PN statistics (per channel, ddof = 0 over all examples and positions)."""
        self.pop_mean = np.asarray(mean, dtype=float).copy()
        self.pop_var = np.asarray(var, dtype=float).copy()

    def _fixed_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, inv_std) used when the statistics are constants (inference; PN; WN)."""
        c = self.channels
        if self.kind == "pn":
            if self.pop_mean is None:
                raise RuntimeError(f"{self.name}: PN needs population statistics; call "
                                   "Model.refresh_population(x_train) before forward")
            return self.pop_mean, 1.0 / np.sqrt(self.pop_var + self.eps)
        if self.kind == "wn":
            return np.zeros(c), np.ones(c)
        inv = 1.0 / np.sqrt(self.running_var + self.eps)
        if self.kind == "wn_mean_bn":
            return self.running_mean, np.ones(c)
        if self.kind == "wn_var_bn":
            return np.zeros(c), inv
        return self.running_mean, inv

    # forward / backward -----------------------------------------------------------------------
    def _group(self) -> int:
        """Rows per flat block of the BN kernels: 64 // C for fewer than 32 channels (vectorized sums
        over blocks of ~64 values), else 1 (row by row)."""
        return 64 // self.channels if self.channels < 32 else 1

    def forward(self, z: np.ndarray, training: bool) -> np.ndarray:
        shape = z.shape
        x = np.ascontiguousarray(z.reshape(-1, self.channels))
        y, xhat = np.empty_like(x), np.empty_like(x)
        self._batch = training and self.kind in _BATCH_FLAGS
        if self._batch:
            center, scale = _BATCH_FLAGS[self.kind]
            mean, inv = np.empty(self.channels), np.empty(self.channels)
            bn_forward(x, self.gamma.value, self.beta.value, self.eps, center, scale, y, xhat, mean, inv, self.relu,
                       self._group())
            update_running(self.running_mean, self.running_var, mean, inv, self.eps, x.shape[0], self.momentum)
            self._x = x
        else:
            mean, inv = self._fixed_stats()
            norm_apply(x, self.gamma.value, self.beta.value, mean, inv, y, xhat, self.relu)
        self._mean, self._inv, self._xhat, self._y = mean, inv, xhat, y
        return y.reshape(shape)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        shape = dy.shape
        d = np.ascontiguousarray(dy.reshape(-1, self.channels))
        dx = np.empty_like(d)
        dgamma, dbeta = np.empty(self.channels), np.empty(self.channels)
        if self._batch:
            center, scale = _BATCH_FLAGS[self.kind]
            if self.relu:
                bn_backward_relu(d, self._y, self._x, self._xhat, self.gamma.value, self._mean, self._inv, center,
                                 scale, dx, dgamma, dbeta, self._group())
            else:
                bn_backward(d, self._x, self._xhat, self.gamma.value, self._mean, self._inv, center, scale, dx,
                            dgamma, dbeta)
        elif self.relu:
            norm_apply_backward_relu(d, self._y, self._xhat, self.gamma.value, self._inv, dx, dgamma, dbeta)
        else:
            norm_apply_backward(d, self._xhat, self.gamma.value, self._inv, dx, dgamma, dbeta)
        if self.zeta:
            dgamma += 2.0 * self.zeta * self.gamma.value
        self.gamma.grad[...] = dgamma
        self.beta.grad[...] = dbeta
        return dx.reshape(shape)

    def penalty(self) -> float:
        """Explicit gamma decay zeta * sum_c gamma_c^2 (0 unless zeta was set)."""
        return float(self.zeta * np.sum(self.gamma.value.astype(float) ** 2)) if self.zeta else 0.0

"""The layer classes of the small CNN, with explicit forward/backward, channels-last (B, H, W, C).

docs/cnn_library.md.

* `Conv2D`: 'same' padding (odd kernel, pad (k-1)/2), stride 1, as blocked im2col + GEMM
  (sims/nn/gemm.py).  Backward: dW = cols^T dz, dx = the convolution of dz with the flipped
  kernel (deterministic, no atomic adds).  1-D signals are images with H = 1 and kernel (1, k).
* `Dense`: y = x W (+ b), x (B, D).
* Weight normalization (Salimans & Kingma 2016, eq. 2) on `Conv2D`/`Dense` with ``weight_norm=True``:
  the effective weight column of output unit o is w_o = v_o / ||v_o||; the gain g_o of WN is the
  gamma of the `sims.nn.norm.Norm` that follows, so "WN" here is w = g v/||v|| with g = gamma.
  Backward: dv_o = (dw_o - w_o (w_o . dw_o)) / ||v_o||.
* `MaxPool`: window = stride = (ph, pw), floor division of H, W (as PyTorch); the gradient goes to
  the first maximum of each window (row-major), as PyTorch's CPU kernel does.
* `ReLU`, `Flatten`.

Initialization: He normal, std = sqrt(2 / fan_in) (He et al. 2015), biases 0; the output layer
uses std = sqrt(1 / fan_in).  All arrays are in the model dtype, one of `DTYPES` (float32 by
default, float64 for gradient checks).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bnreg.errors import ParameterError
from bnreg.runtime import run_parts

from ..kernels.cnn import col_sums, maxpool_backward_kernel, maxpool_kernel, relu_backward_kernel, relu_kernel
from . import gemm
from .gemm import conv_same, conv_same_weight_grad, flip_kernel

__all__ = ["DTYPES", "Parameter", "Layer", "Conv2D", "Dense", "MaxPool", "ReLU", "Flatten", "wn_direction",
           "wn_backward"]

DTYPES = ("float32", "float64")  # the precisions every layer (and numba kernel) runs in


@dataclass(eq=False)
class Parameter:
    """A trainable array and its gradient (same shape and dtype); `name` is 'layer.field'."""

    name: str
    value: np.ndarray
    grad: np.ndarray

    @classmethod
    def zeros_like(cls, name: str, value: np.ndarray) -> Parameter:
        """A Parameter `name` holding `value` with a zero gradient of the same shape and dtype."""
        return cls(name, value, np.zeros_like(value))


class Layer:
    """Interface: forward(x, training) -> y (caches what backward needs); backward(dy) -> dx
    (accumulates nothing: overwrites .grad of its own parameters)."""

    params: list[Parameter]

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:  # pragma: no cover - interface
        """Output for input `x` in training (`training=True`) or inference mode."""
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        """Gradient w.r.t. the input of the latest forward, given `dy` w.r.t. its output; sets .grad."""
        raise NotImplementedError




# ----------------------------------------------------------------------------------------------
# weight normalization, conv, dense
# ----------------------------------------------------------------------------------------------
def wn_direction(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column-normalized weight w = v / ||v|| (norm per output unit = column) and 1/||v||."""
    inv = 1.0 / np.sqrt(np.einsum("ko,ko->o", v, v))
    return v * inv, inv


def wn_backward(dw: np.ndarray, w: np.ndarray, inv_norm: np.ndarray) -> np.ndarray:
    """dL/dv for w = v/||v||:  dv = (dw - w (w . dw)) / ||v||  (projection onto the tangent space)."""
    return (dw - w * np.einsum("ko,ko->o", w, dw)) * inv_norm


class _Affine(Layer):
    """Shared weight handling of Conv2D / Dense: W (fan_in, fan_out), optional bias and WN."""

    def __init__(self, name: str, fan_in: int, fan_out: int, rng: np.random.Generator, dtype: np.dtype,
                 bias: bool, weight_norm: bool, gain: float) -> None:
        self.name = name
        self.weight_norm = weight_norm
        w = rng.standard_normal((fan_in, fan_out)) * np.sqrt(gain / fan_in)
        self.W = Parameter.zeros_like(f"{name}.{'v' if weight_norm else 'w'}", w.astype(dtype))
        self.params = [self.W]
        self.b: Parameter | None = None
        if bias:
            self.b = Parameter.zeros_like(f"{name}.b", np.zeros(fan_out, dtype=dtype))
            self.params.append(self.b)
        self.need_dx = True  # the first layer of a model skips the input gradient

    def _weight(self) -> np.ndarray:
        if self.weight_norm:
            self._w, self._inv = wn_direction(self.W.value)
            return self._w
        self._w = self.W.value
        return self._w

    def _set_weight_grad(self, dw: np.ndarray) -> None:
        self.W.grad[...] = wn_backward(dw, self._w, self._inv) if self.weight_norm else dw


class Conv2D(_Affine):
    """'same' convolution, stride 1:
    z[b,i,j,o] = sum_{di,dj,c} x[b, i+di-ph, j+dj-pw, c] W[(di kw + dj) C + c, o] (+ b_o).
    Backward: dW = im2col(x)^T dz; dx = conv_same(dz, flip_kernel(W)) (stride 1, odd kernel)."""

    def __init__(self, name: str, c_in: int, c_out: int, kernel: tuple[int, int], rng: np.random.Generator,
                 dtype: np.dtype, bias: bool = True, weight_norm: bool = False, gain: float = 2.0) -> None:
        kh, kw = kernel
        if kh % 2 == 0 or kw % 2 == 0:
            raise ParameterError(f"kernel must be odd for 'same' padding (got {kernel})")
        self.kh, self.kw, self.c_in, self.c_out = kh, kw, c_in, c_out
        super().__init__(name, kh * kw * c_in, c_out, rng, dtype, bias, weight_norm, gain)

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        b, h, w, _ = x.shape
        self._x = x = np.ascontiguousarray(x)
        z = conv_same(x, self._weight(), self.kh, self.kw)
        if self.b is not None:
            z += self.b.value
        return z.reshape(b, h, w, self.c_out)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        dy = np.ascontiguousarray(dy)
        dz = dy.reshape(-1, self.c_out)
        self._set_weight_grad(conv_same_weight_grad(self._x, dz, self.kh, self.kw))
        if self.b is not None:
            col_sums(dz, self.b.grad)
        if not self.need_dx:
            return None
        wf = flip_kernel(self._w, self.kh, self.kw, self.c_in)
        return conv_same(dy, wf, self.kh, self.kw).reshape(self._x.shape)


class Dense(_Affine):
    """z = x W (+ b) for x (B, D); the GEMMs are split over output columns across threads."""

    def __init__(self, name: str, d_in: int, d_out: int, rng: np.random.Generator, dtype: np.dtype,
                 bias: bool = True, weight_norm: bool = False, gain: float = 2.0) -> None:
        self.d_out = d_out
        super().__init__(name, d_in, d_out, rng, dtype, bias, weight_norm, gain)

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        self._x = x = np.ascontiguousarray(x)
        w = self._weight()
        z = np.empty((x.shape[0], self.d_out), dtype=x.dtype)

        def part(s: slice) -> None:
            np.matmul(x, w[:, s], out=z[:, s])

        gemm.split_cols(part, self.d_out, 2 * x.shape[0] * x.shape[1])
        if self.b is not None:
            z += self.b.value
        return z

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        x, w = self._x, self._w
        dw = np.empty_like(w)

        def part_w(s: slice) -> None:
            np.matmul(x[:, s].T, dy, out=dw[s])

        gemm.split_cols(part_w, x.shape[1], 2 * x.shape[0] * self.d_out)
        self._set_weight_grad(dw)
        if self.b is not None:
            col_sums(np.ascontiguousarray(dy), self.b.grad)
        if not self.need_dx:
            return None
        dx = np.empty_like(x)

        def part_x(s: slice) -> None:
            np.matmul(dy, w[s].T, out=dx[:, s])

        gemm.split_cols(part_x, x.shape[1], 2 * x.shape[0] * self.d_out)
        return dx


# ----------------------------------------------------------------------------------------------
# max-pool, ReLU, flatten
# ----------------------------------------------------------------------------------------------
class MaxPool(Layer):
    """Max over non-overlapping (ph, pw) windows: y[b,i,j,c] = max_{a<ph, d<pw} x[b, i ph + a, j pw + d, c]."""

    def __init__(self, pool: tuple[int, int]) -> None:
        self.ph, self.pw = pool
        self.params = []

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        b, h, w, c = x.shape
        ho, wo = h // self.ph, w // self.pw
        self._xshape = x.shape
        x = np.ascontiguousarray(x)
        y = np.empty((b, ho, wo, c), dtype=x.dtype)
        arg = self._arg = np.empty((b, ho, wo, c), dtype=np.int8)
        run_parts(lambda _k, b0, b1: maxpool_kernel(x, self.ph, self.pw, b0, b1, y, arg), b,
                  max(1, gemm.PAR_MIN // (h * w * c)))
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dx = np.empty(self._xshape, dtype=dy.dtype)
        dy = np.ascontiguousarray(dy)
        run_parts(lambda _k, b0, b1: maxpool_backward_kernel(dy, self._arg, self.ph, self.pw, b0, b1, dx),
                  dx.shape[0], max(1, gemm.PAR_MIN // int(np.prod(dx.shape[1:]))))
        return dx


class ReLU(Layer):
    """y = max(x, 0); dx = dy [y > 0] (the subgradient 0 at x = 0, as PyTorch).  With
    inplace=True (used by the model, whose layers never keep their outputs) x and dy are overwritten.
    With fused=True the preceding layer (a `sims.nn.norm.Norm` with relu=True) already applied the
    ReLU and its mask: forward returns x (= max(x, 0) for such input), backward returns dy."""

    def __init__(self, inplace: bool = False, fused: bool = False) -> None:
        self.params = []
        self.inplace = inplace
        self.fused = fused

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        if self.fused:
            return x
        x = np.ascontiguousarray(x)
        y = x if self.inplace else np.empty_like(x)
        xf, yf = x.reshape(-1), y.reshape(-1)
        run_parts(lambda _k, a, b: relu_kernel(xf, a, b, yf), xf.size, gemm.PAR_MIN)
        self._y = y
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        if self.fused:
            return dy
        dy = np.ascontiguousarray(dy)
        dx = dy if self.inplace else np.empty_like(dy)
        df, yf, xf = dy.reshape(-1), self._y.reshape(-1), dx.reshape(-1)
        run_parts(lambda _k, a, b: relu_backward_kernel(df, yf, a, b, xf), df.size, gemm.PAR_MIN)
        return dx


class Flatten(Layer):
    """(B, H, W, C) -> (B, H*W*C) in channels-last (row-major) order."""

    def __init__(self) -> None:
        self.params = []

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy.reshape(self._shape)

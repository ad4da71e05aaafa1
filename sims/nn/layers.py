"""Layers with explicit forward/backward for the small CNN, channels-last (B, H, W, C)
(docs/cnn_library.md).

* `Conv2D`: 'same' padding (odd kernel, pad (k-1)/2), stride 1.  im2col in numba (parallel over
  output rows, no padded copy) + one BLAS GEMM:  cols (B*H*W, kh*kw*C_in) @ W (kh*kw*C_in, C_out);
  row r = (b, i, j), column (di*kw + dj)*C_in + c holds x[b, i+di-ph, j+dj-pw, c] (0 outside).
  Backward: dW = cols^T dz, dcols = dz W^T, dx by a parallel *gather* col2im (deterministic, no
  atomic adds).  1-D signals are images with H = 1 and kernel (1, k).
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

from collections.abc import Callable
from dataclasses import dataclass

import numba as nb
import numpy as np

from bnreg.errors import ParameterError
from bnreg.runtime.parts import run_parts

__all__ = ["DTYPES", "Parameter", "Layer", "Conv2D", "Dense", "MaxPool", "ReLU", "Flatten", "im2col", "flip_kernel",
           "conv_same", "conv_same_weight_grad"]

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


# Work per thread below which an operation stays on the calling thread: handing work to another
# thread costs ~50 us on an idle machine but ~1 ms when the cores are shared, so parts are large.
MIN_FLOPS = 1 << 23          # GEMM flops per part (~80 us of single-core sgemm)
PAR_MIN = 1 << 21            # elements per part of an elementwise kernel

# ----------------------------------------------------------------------------------------------
# im2col (channels-last, 'same' padding), by row range
# ----------------------------------------------------------------------------------------------
@nb.njit(cache=True, nogil=True)
def _im2col_rows(x, kh, kw, r0, r1, cols):  # pragma: no cover - njit
    """cols[r - r0] = patch of output pixel r (flat index over (b, i, j)) for r0 <= r < r1.
    The kw taps of a kernel row inside the image are one contiguous run of kw*C values
    (channels-last), copied through array views (vectorized); boundary pixels go tap by tap."""
    b_, h_, w_, c_ = x.shape
    ph, pw = (kh - 1) // 2, (kw - 1) // 2
    span = kw * c_
    xf = x.reshape(-1)
    hw = h_ * w_
    b = r0 // hw
    i = (r0 - b * hw) // w_
    j = r0 - b * hw - i * w_
    for r in range(r0, r1):
        for di in range(kh):
            ii = i + di - ph
            out = cols[r - r0, di * span:(di + 1) * span]
            if ii < 0 or ii >= h_:
                for t in range(span):
                    out[t] = 0.0
                continue
            if j - pw >= 0 and j - pw + kw <= w_:
                s0 = ((b * h_ + ii) * w_ + j - pw) * c_
                src = xf[s0:s0 + span]
                for t in range(span):
                    out[t] = src[t]
            else:
                for dj in range(kw):
                    jj = j - pw + dj
                    if 0 <= jj < w_:
                        for c in range(c_):
                            out[dj * c_ + c] = x[b, ii, jj, c]
                    else:
                        for c in range(c_):
                            out[dj * c_ + c] = 0.0
        j += 1
        if j == w_:
            j = 0
            i += 1
            if i == h_:
                i = 0
                b += 1


@nb.njit(cache=True, nogil=True)
def _col_sums(a, out):  # pragma: no cover - njit
    """out[j] = sum_i a[i, j], accumulated in float64, rows in order (numpy's axis-0 sum is slow for
    few columns)."""
    acc = np.zeros(a.shape[1])
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            acc[j] += a[i, j]
    out[:] = acc


CHUNK_BYTES = 1 << 22  # im2col block: 4 MB (in L3 between im2col and its GEMM; larger GEMMs run faster)


def _chunk_rows(k: int, itemsize: int) -> int:
    return max(64, CHUNK_BYTES // (k * itemsize))


def im2col(x: np.ndarray, kh: int, kw: int) -> np.ndarray:
    """(B, H, W, C) -> (B*H*W, kh*kw*C) patch matrix of a 'same' convolution (zero padding)."""
    b, h, w, c = x.shape
    out = np.empty((b * h * w, kh * kw * c), dtype=x.dtype)
    _im2col_rows(np.ascontiguousarray(x), kh, kw, 0, b * h * w, out)
    return out


def flip_kernel(w: np.ndarray, kh: int, kw: int, c_in: int) -> np.ndarray:
    """Weights of the input-gradient convolution,
    Wf[(di kw + dj) C_out + o, c] = W[((kh-1-di) kw + kw-1-dj) C_in + c, o],
    so that dx = conv_same(dz, Wf) for stride 1 and odd kernels (pad (k-1)/2 on both sides)."""
    c_out = w.shape[1]
    return np.ascontiguousarray(w.reshape(kh, kw, c_in, c_out)[::-1, ::-1].transpose(0, 1, 3, 2)
                                .reshape(kh * kw * c_out, c_in))


def conv_same(x: np.ndarray, w: np.ndarray, kh: int, kw: int, out: np.ndarray | None = None) -> np.ndarray:
    """'same' convolution as blocked im2col + GEMM, parallel over row blocks:
    z (B*H*W, C_out) = im2col(x) @ w, never materializing the whole patch matrix."""
    b, h, wd, c = x.shape
    n, k = b * h * wd, kh * kw * c
    if out is None:
        out = np.empty((n, w.shape[1]), dtype=x.dtype)
    if kh == kw == 1:
        np.matmul(x.reshape(n, c), w, out=out)
        return out
    rows = _chunk_rows(k, x.itemsize)

    def part(_: int, r0: int, r1: int) -> None:
        buf = np.empty((min(rows, r1 - r0), k), dtype=x.dtype)
        for s in range(r0, r1, rows):
            e = min(s + rows, r1)
            _im2col_rows(x, kh, kw, s, e, buf)
            np.matmul(buf[:e - s], w, out=out[s:e])

    run_parts(part, n, min_part=max(rows, MIN_FLOPS // (2 * k * w.shape[1])))
    return out


def conv_same_weight_grad(x: np.ndarray, dz: np.ndarray, kh: int, kw: int) -> np.ndarray:
    """dW = im2col(x)^T dz, blocked and parallel over row blocks (partial sums added in part order)."""
    b, h, wd, c = x.shape
    n, k = b * h * wd, kh * kw * c
    if kh == kw == 1:
        return x.reshape(n, c).T @ dz
    rows = _chunk_rows(k, x.itemsize)

    def part(_: int, r0: int, r1: int) -> np.ndarray:
        buf = np.empty((min(rows, r1 - r0), k), dtype=x.dtype)
        acc = np.zeros((k, dz.shape[1]), dtype=x.dtype)
        for s in range(r0, r1, rows):
            e = min(s + rows, r1)
            _im2col_rows(x, kh, kw, s, e, buf)
            acc += buf[:e - s].T @ dz[s:e]
        return acc

    parts = run_parts(part, n, min_part=max(rows, MIN_FLOPS // (2 * k * dz.shape[1])))
    dw = parts[0]
    for p in parts[1:]:
        dw += p
    return dw


def _split_cols(fn: Callable[[slice], None], n_cols: int, flops_per_col: int) -> None:
    run_parts(lambda _k, a, b: fn(slice(a, b)), n_cols, max(16, MIN_FLOPS // max(flops_per_col, 1)))


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
            _col_sums(dz, self.b.grad)
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

        _split_cols(part, self.d_out, 2 * x.shape[0] * x.shape[1])
        if self.b is not None:
            z += self.b.value
        return z

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        x, w = self._x, self._w
        dw = np.empty_like(w)

        def part_w(s: slice) -> None:
            np.matmul(x[:, s].T, dy, out=dw[s])

        _split_cols(part_w, x.shape[1], 2 * x.shape[0] * self.d_out)
        self._set_weight_grad(dw)
        if self.b is not None:
            _col_sums(np.ascontiguousarray(dy), self.b.grad)
        if not self.need_dx:
            return None
        dx = np.empty_like(x)

        def part_x(s: slice) -> None:
            np.matmul(dy, w[s].T, out=dx[:, s])

        _split_cols(part_x, x.shape[1], 2 * x.shape[0] * self.d_out)
        return dx


# ----------------------------------------------------------------------------------------------
# max-pool, ReLU, flatten
# ----------------------------------------------------------------------------------------------
@nb.njit(cache=True, nogil=True)
def _maxpool_kernel(x, ph, pw, b0, b1, y, arg):  # pragma: no cover - njit
    """y = window max, arg = its row-major index a*pw + d in the window (the first maximum: strict >),
    vectorized over the channels (rows of C values, channels-last)."""
    _, ho, wo, c_ = y.shape
    for b in range(b0, b1):
        for i in range(ho):
            for j in range(wo):
                yr = y[b, i, j]
                ar = arg[b, i, j]
                x0 = x[b, i * ph, j * pw]
                for c in range(c_):
                    yr[c] = x0[c]
                    ar[c] = 0
                for a in range(ph):
                    for d in range(pw):
                        if a == 0 and d == 0:
                            continue
                        xr = x[b, i * ph + a, j * pw + d]
                        kk = a * pw + d
                        for c in range(c_):
                            v = xr[c]
                            if v > yr[c]:
                                yr[c] = v
                                ar[c] = kk


@nb.njit(cache=True, nogil=True)
def _maxpool_backward_kernel(dy, arg, ph, pw, b0, b1, dx):  # pragma: no cover - njit
    """dx = dy at each window's argmax, 0 elsewhere (each element of dx written once)."""
    _, ho, wo, c_ = dy.shape
    _, h_, w_, _ = dx.shape
    for b in range(b0, b1):
        for i in range(h_):
            for j in range(w_):
                if i >= ho * ph or j >= wo * pw:  # dropped by the floor division: no gradient
                    xr = dx[b, i, j]
                    for c in range(c_):
                        xr[c] = 0.0
        for i in range(ho):
            for j in range(wo):
                dr = dy[b, i, j]
                ar = arg[b, i, j]
                for a in range(ph):
                    for d in range(pw):
                        xr = dx[b, i * ph + a, j * pw + d]
                        kk = a * pw + d
                        for c in range(c_):
                            xr[c] = dr[c] if ar[c] == kk else 0.0


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
        run_parts(lambda _k, b0, b1: _maxpool_kernel(x, self.ph, self.pw, b0, b1, y, arg), b,
                  max(1, PAR_MIN // (h * w * c)))
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dx = np.empty(self._xshape, dtype=dy.dtype)
        dy = np.ascontiguousarray(dy)
        run_parts(lambda _k, b0, b1: _maxpool_backward_kernel(dy, self._arg, self.ph, self.pw, b0, b1, dx),
                  dx.shape[0], max(1, PAR_MIN // int(np.prod(dx.shape[1:]))))
        return dx


@nb.njit(cache=True, nogil=True)
def _relu_kernel(x, r0, r1, y):  # pragma: no cover - njit
    for r in range(r0, r1):
        y[r] = max(x[r], 0.0)


@nb.njit(cache=True, nogil=True)
def _relu_backward_kernel(dy, y, r0, r1, dx):  # pragma: no cover - njit
    for r in range(r0, r1):
        dx[r] = dy[r] * (y[r] > 0)




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
        run_parts(lambda _k, a, b: _relu_kernel(xf, a, b, yf), xf.size, PAR_MIN)
        self._y = y
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        if self.fused:
            return dy
        dy = np.ascontiguousarray(dy)
        dx = dy if self.inplace else np.empty_like(dy)
        df, yf, xf = dy.reshape(-1), self._y.reshape(-1), dx.reshape(-1)
        run_parts(lambda _k, a, b: _relu_backward_kernel(df, yf, a, b, xf), df.size, PAR_MIN)
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

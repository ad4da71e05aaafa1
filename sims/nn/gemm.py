"""Convolution and dense products as blocked GEMMs split into parts (im2col + BLAS), with the part sizes.

* `conv_same`: 'same' convolution (odd kernel, pad (k-1)/2, stride 1), channels-last, as blocked
  im2col + one BLAS GEMM per block: cols (B*H*W, kh*kw*C_in) @ W (kh*kw*C_in, C_out); row
  r = (b, i, j), column (di*kw + dj)*C_in + c holds x[b, i+di-ph, j+dj-pw, c] (0 outside), never
  materializing the whole patch matrix.
* `conv_same_weight_grad`: dW = cols^T dz, partial sums added in part order.
* `flip_kernel`: the weights of the input-gradient convolution (dx = conv_same(dz, Wf)).
* `split_cols`: a product split by output columns.

Parts are fixed by the problem size (`bnreg.runtime.run_parts`), so every result is bit-identical
on any number of threads.  `MIN_FLOPS` and `PAR_MIN` set how large a part must be.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bnreg.runtime import run_parts

from ..kernels.cnn import im2col_rows

__all__ = ["MIN_FLOPS", "PAR_MIN", "CHUNK_BYTES", "im2col", "flip_kernel", "conv_same", "conv_same_weight_grad",
           "split_cols"]

# Work per thread below which an operation stays on the calling thread: handing work to another
# thread costs ~50 us on an idle machine but ~1 ms when the cores are shared, so parts are large.
MIN_FLOPS = 1 << 23          # GEMM flops per part (~80 us of single-core sgemm)
PAR_MIN = 1 << 21            # elements per part of an elementwise kernel
CHUNK_BYTES = 1 << 22  # im2col block: 4 MB (in L3 between im2col and its GEMM; larger GEMMs run faster)


def chunk_rows(k: int, itemsize: int) -> int:
    """Rows of an im2col block: CHUNK_BYTES of patches (at least 64)."""
    return max(64, CHUNK_BYTES // (k * itemsize))


def im2col(x: np.ndarray, kh: int, kw: int) -> np.ndarray:
    """(B, H, W, C) -> (B*H*W, kh*kw*C) patch matrix of a 'same' convolution (zero padding)."""
    b, h, w, c = x.shape
    out = np.empty((b * h * w, kh * kw * c), dtype=x.dtype)
    im2col_rows(np.ascontiguousarray(x), kh, kw, 0, b * h * w, out)
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
    rows = chunk_rows(k, x.itemsize)

    def part(_: int, r0: int, r1: int) -> None:
        buf = np.empty((min(rows, r1 - r0), k), dtype=x.dtype)
        for s in range(r0, r1, rows):
            e = min(s + rows, r1)
            im2col_rows(x, kh, kw, s, e, buf)
            np.matmul(buf[:e - s], w, out=out[s:e])

    run_parts(part, n, min_part=max(rows, MIN_FLOPS // (2 * k * w.shape[1])))
    return out


def conv_same_weight_grad(x: np.ndarray, dz: np.ndarray, kh: int, kw: int) -> np.ndarray:
    """dW = im2col(x)^T dz, blocked and parallel over row blocks (partial sums added in part order)."""
    b, h, wd, c = x.shape
    n, k = b * h * wd, kh * kw * c
    if kh == kw == 1:
        return x.reshape(n, c).T @ dz
    rows = chunk_rows(k, x.itemsize)

    def part(_: int, r0: int, r1: int) -> np.ndarray:
        buf = np.empty((min(rows, r1 - r0), k), dtype=x.dtype)
        acc = np.zeros((k, dz.shape[1]), dtype=x.dtype)
        for s in range(r0, r1, rows):
            e = min(s + rows, r1)
            im2col_rows(x, kh, kw, s, e, buf)
            acc += buf[:e - s].T @ dz[s:e]
        return acc

    parts = run_parts(part, n, min_part=max(rows, MIN_FLOPS // (2 * k * dz.shape[1])))
    dw = parts[0]
    for p in parts[1:]:
        dw += p
    return dw


def split_cols(fn: Callable[[slice], None], n_cols: int, flops_per_col: int) -> None:
    """Call fn(columns) over parts of range(n_cols) of at least MIN_FLOPS each (parts fixed by the size)."""
    run_parts(lambda _k, a, b: fn(slice(a, b)), n_cols, max(16, MIN_FLOPS // max(flops_per_col, 1)))

"""Numba kernels of the CNN library (topic cnn): im2col rows, column sums, max-pool and ReLU, by row range.

Each kernel fills its own slice [r0, r1) of a preallocated output, so `bnreg.runtime.run_parts`
can split an operation into parts fixed by the problem size (results independent of the thread
count).  The batch-normalization kernels are in sims/kernels/batchnorm.py; the layers that call
these, in sims/nn/layers.py and sims/nn/gemm.py.
"""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["im2col_rows", "col_sums", "maxpool_kernel", "maxpool_backward_kernel", "relu_kernel",
           "relu_backward_kernel"]


@nb.njit(cache=True, nogil=True)
def im2col_rows(x, kh, kw, r0, r1, cols):  # pragma: no cover - njit
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
def col_sums(a, out):  # pragma: no cover - njit
    """out[j] = sum_i a[i, j], accumulated in float64, rows in order (numpy's axis-0 sum is slow for
    few columns)."""
    acc = np.zeros(a.shape[1])
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            acc[j] += a[i, j]
    out[:] = acc


@nb.njit(cache=True, nogil=True)
def maxpool_kernel(x, ph, pw, b0, b1, y, arg):  # pragma: no cover - njit
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
def maxpool_backward_kernel(dy, arg, ph, pw, b0, b1, dx):  # pragma: no cover - njit
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


@nb.njit(cache=True, nogil=True)
def relu_kernel(x, r0, r1, y):  # pragma: no cover - njit
    for r in range(r0, r1):
        y[r] = max(x[r], 0.0)


@nb.njit(cache=True, nogil=True)
def relu_backward_kernel(dy, y, r0, r1, dx):  # pragma: no cover - njit
    for r in range(r0, r1):
        dx[r] = dy[r] * (y[r] > 0)

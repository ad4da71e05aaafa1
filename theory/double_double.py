"""Double-precision building blocks: error-free sums and products, scaled exp and products, normal tails.

Exact sums and products of two doubles (Knuth, Dekker), exp(a) 2^k without intermediate under- or
overflow, the normal density at a point known to twice the working precision, a product of several
factors kept as mantissa x 2^exponent and int (C + D s)^2 phi(x + s) ds without cancellation.  They
make the closed forms of the training-practice numerics (theory/training_practice_*.py) accurate to a
few units in the last place at every legal parameter (tests/theory/test_stability.py).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["INV_SQRT_2PI", "two_prod", "quotient", "product", "pow_times", "tail_quad"]

_SPLIT = 134217729.0  # 2^27 + 1 (Veltkamp)
_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10  # ln 2 = HI + LO, HI 32 bits
INV_SQRT_2PI = 0.3989422804014327
_TINY = 2.2250738585072014e-308  # the smallest normal double


def _two_sum(a: float, b: float) -> tuple[float, float]:
    """(s, e) with s = fl(a + b) and s + e = a + b exactly."""
    s = a + b
    bv = s - a
    return s, (a - (s - bv)) + (b - bv)


def two_prod(a: float, b: float) -> tuple[float, float]:
    """(p, e) with p = fl(a b) and p + e = a b exactly (|a|, |b| < 1e290, no underflow)."""
    p = a * b
    ca, cb = _SPLIT * a, _SPLIT * b
    ah, bh = ca - (ca - a), cb - (cb - b)
    al, bl = a - ah, b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def quotient(a: float, b: float, sigma: float) -> tuple[float, float]:
    """(x, xl): x = fl((a + b)/sigma) and x + xl = (a + b)/sigma to about twice the working precision
    (xl = 0 where x is not finite or outside [1, 1e4], where the correction cannot matter)."""
    n, nl = _two_sum(a, b)
    x = n / sigma
    if not (1.0 <= abs(x) <= 1e4) or sigma > 1e280:
        return x, 0.0
    p, e = two_prod(x, sigma)
    return x, (((n - p) - e) + nl) / sigma


def _exp2k(a: float, b: float, k: int) -> float:
    """exp(a + b) 2^k / sqrt(2 pi) for an exactly known a and a small correction b: a is reduced by
    multiples of ln 2 exactly (Cody-Waite), so exp is only taken of a number in [-0.35, 0.35] and the
    result is right even where exp(a) alone would under- or overflow."""
    if a < -1e6:
        return 0.0
    n = round(a / _LN2_HI)
    r = (a - n * _LN2_HI) - n * _LN2_LO
    return math.ldexp(math.exp(r + b) * INV_SQRT_2PI, n + k)


def _phi2k(x: float, xl: float = 0.0, k: int = 0) -> float:
    """phi(x + xl) 2^k, phi the standard normal density, accurate to a few ulp for every x >= 0 (x^2/2
    is split so that exp sees it exactly; xl a correction of order eps x)."""
    if not x <= 1e150:
        return 0.0
    c = _SPLIT * x
    xh = c - (c - x)
    return _exp2k(-0.5 * xh * xh, -0.5 * (x - xh) * (x + xh) - x * xl, k)


def product(*xs: float) -> float:
    """x_1 x_2 ... x_n rounded once per factor, without an intermediate under- or overflow (mantissas
    and exponents apart); OverflowError if the product itself exceeds a double."""
    m, e = 1.0, 0
    for v in xs:
        fm, fe = math.frexp(v)
        m, me = math.frexp(m * fm)
        e += fe + me
    return math.ldexp(m, e)


def pow_times(x: float, d: float, n: int) -> float:
    """x d^n for 0 <= d <= 1, with d^n taken in two halves where it alone would leave the normal
    doubles (x d^n can be normal when d^n is not)."""
    p = math.pow(d, n)
    if p >= _TINY or p == 1.0 or x == 0.0:
        return x * p
    h = n // 2
    return x * math.pow(d, h) * math.pow(d, n - h)


_GL_T, _GL_W = np.polynomial.legendre.leggauss(10)
_BREAKS = np.arange(1.0, 61.0)


def tail_quad(x: float, xl: float, C: float, D: float, smax: float = math.inf) -> float:
    """int_0^smax (C + D s)^2 phi(x + s) ds for x >= 0 (x + xl the exact lower limit), a positive
    integrand integrated without cancellation: phi(x + s) = phi(x) exp(-x s - s^2/2), Gauss-Legendre
    (10 points) on the pieces where x s + s^2/2 grows by 1, up to 60 (e^-60 of the peak: negligible).
    The scale of C, D is taken out exactly, so the result is right wherever it is a normal double."""
    big = max(abs(C), abs(D))
    if big == 0.0 or smax <= 0.0 or not x <= 1e150:
        return 0.0
    s = np.concatenate(([0.0], 2.0 * _BREAKS / (x + np.sqrt(x * x + 2.0 * _BREAKS))))  # x s + s^2/2 = j, stably
    if smax < s[-1]:
        s = np.append(s[s < smax], smax)
    lo, hi = s[:-1], s[1:]
    half = 0.5 * (hi - lo)
    nodes = (0.5 * (lo + hi))[:, None] + half[:, None] * _GL_T
    h = math.frexp(big)[1]
    c, dd_ = math.ldexp(C, -h), math.ldexp(D, -h)
    vals = (c + dd_ * nodes) ** 2 * np.exp(-(x * nodes + 0.5 * nodes * nodes))
    total = float(np.sum(half * (vals @ _GL_W)))
    return total * _phi2k(x, xl, 2 * h)

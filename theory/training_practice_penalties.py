"""L1 vs L2 with an orthonormal design, numerically: ridge and lasso risks and the lasso's zero probability.

Part 4 of the training-practice topic (the model and the public names: theory/training_practice.py;
the derivations: training_practice_derive): z ~ N(w*, sigma^2) per coordinate, ridge z/(1 + lam),
lasso the soft threshold sign(z)(|z| - lam)_+; the closed forms evaluated as sums of non-negative
parts (no cancellation).
"""

from __future__ import annotations

import math

from bnreg.params import check_float

from .double_double import quotient, tail_quad

__all__ = ["ridge_orthonormal_risk", "lasso_orthonormal_risk", "lasso_zero_prob"]


def _check_pen(lam_: float, w_star: float, sigma: float) -> tuple[float, float, float]:
    return (check_float("lam", lam_, 0.0), check_float("w_star", w_star),
            check_float("sigma", sigma, 0.0, lo_open=True))


def ridge_orthonormal_risk(lam: float, w_star: float = 0.0, sigma: float = 1.0) -> float:
    """E[(z/(1 + lam) - w*)^2], z ~ N(w*, sigma^2): (lam w*)^2/(1 + lam)^2 + sigma^2/(1 + lam)^2,
    evaluated as (w* lam/(1 + lam))^2 + (sigma/(1 + lam))^2 (no square of lam w* formed)."""
    lam, w_star, sigma = _check_pen(lam, w_star, sigma)
    return (w_star * (lam / (1.0 + lam))) ** 2 + (sigma / (1.0 + lam)) ** 2


def _zero_part(lam: float, w: float, sigma: float, C: float) -> float:
    """C^2 P(|z| <= lam), z ~ N(w, sigma^2), w >= 0: u = (z - w)/sigma in [a, b] = [-(lam + w)/sigma,
    (lam - w)/sigma].  If the interval holds u = 0: (erf(b/sqrt 2) + erf(-a/sqrt 2))/2, a sum of two
    non-negative numbers; otherwise (w > lam) the integral of phi over [lo, lo + 2 lam/sigma],
    lo = (w - lam)/sigma > 0, by `tail_quad` (a difference of two normal tails would cancel)."""
    if lam == 0.0:
        return 0.0
    if w <= lam:
        r = math.sqrt(0.5)
        return C * C * (0.5 * (math.erf((lam - w) / sigma * r) + math.erf((lam + w) / sigma * r)))
    lo, lo_l = quotient(w, -lam, sigma)
    return tail_quad(lo, lo_l, C, 0.0, 2.0 * lam / sigma)


def lasso_zero_prob(lam: float, w_star: float = 0.0, sigma: float = 1.0) -> float:
    """P(soft threshold = 0) = Phi((lam - w*)/sigma) - Phi((-lam - w*)/sigma), evaluated without
    cancellation (`_zero_part`; symmetric in w*)."""
    lam, w_star, sigma = _check_pen(lam, w_star, sigma)
    return min(1.0, _zero_part(lam, abs(w_star), sigma, 1.0))


def lasso_orthonormal_risk(lam: float, w_star: float = 0.0, sigma: float = 1.0) -> float:
    """E[(sign(z)(|z| - lam)_+ - w*)^2], z ~ N(w*, sigma^2), with a = (-lam - w*)/sigma,
    b = (lam - w*)/sigma: w*^2 (Phi(b) - Phi(a)) + sigma^2 (1 - Phi(b) + b phi(b)) - 2 sigma lam phi(b)
    + lam^2 (1 - Phi(b)) + sigma^2 (Phi(a) - a phi(a)) - 2 sigma lam phi(a) + lam^2 Phi(a).

    That sum cancels (to nothing in the tails), so it is evaluated as three non-negative parts, with
    w = |w*| (the risk is symmetric), u = (z - w)/sigma: w^2 P(zero) + int_b^oo (sigma u - lam)^2 phi
    + int_{(lam + w)/sigma}^oo (sigma u - lam)^2 phi (the part z < -lam, reflected).  A tail integral
    from x >= 0 is `tail_quad` with the integrand's value at x exact (sigma x - lam = -w or w); for
    b < 0 the second part is sigma^2 + lam^2 minus the tail beyond -b (at most 0.9 of it)."""
    lam, w_star, sigma = _check_pen(lam, w_star, sigma)
    w = abs(w_star)
    x, x_l = quotient(lam, w, sigma)
    below = tail_quad(x, x_l, w, sigma)
    b, b_l = quotient(lam, -w, sigma)
    if b >= 0.0:
        above = tail_quad(b, b_l, -w, sigma)
    else:
        above = (sigma * sigma + lam * lam) - tail_quad(-b, -b_l, w, sigma)
    return _zero_part(lam, w, sigma, w) + above + below

"""Training-practice checks of L1 vs L2 with an orthonormal design: ridge and lasso risks, the lasso's zeros.

Extends sims/checks_training_practice.py (docs/training_practice.md, "L1 vs L2").  With X^T X = I the
least-squares coefficient is z ~ N(w*, sigma^2) per coordinate; the simulation draws z and applies
ridge z/(1 + lam) and the lasso's soft threshold sign(z)(|z| - lam)_+
(sims.training_practice.simulate_orthonormal_estimates).  The formulas are exact: no allowance.
The three checks evaluate the same points, so one simulation per point serves all three.
"""

from __future__ import annotations

from functools import lru_cache

from scipy.stats import norm

from bnreg.runtime import MCResult
from bnreg.testing.judge import N_CHUNKS, Check, Params
from bnreg.theory import training_practice as TP

from .training_practice import simulate_orthonormal_estimates

__all__ = ["CHECKS"]

CHECKS: list[Check] = []
_add = CHECKS.append


@lru_cache(maxsize=64)
def _draws(lam: float, w_star: float, sigma: float, samples: int, seed: int) -> dict[str, MCResult]:
    return simulate_orthonormal_estimates(lam, w_star, sigma, samples, seed, N_CHUNKS)


def _points(scale: str) -> list[Params]:
    return ([dict(lam=lam, w_star=w, sigma=1.0) for lam in (0.5, 1.0, 2.0) for w in (0.0, 0.7, 2.5)]
            + [dict(lam=1.0, w_star=0.7, sigma=0.5), dict(lam=1.0, w_star=2.5, sigma=2.0)])


def _sim(stat: str):
    def simulate(p: Params, samples: int, seed: int) -> MCResult:
        return _draws(p["lam"], p["w_star"], p["sigma"], samples, seed)[stat]
    return simulate


def _args(p: Params) -> tuple[float, float, float]:
    return p["lam"], p["w_star"], p["sigma"]


def _ab(p: Params) -> tuple[float, float]:
    """a = (-lam - w*)/sigma, b = (lam - w*)/sigma: the zero region of z in standard units."""
    return (-p["lam"] - p["w_star"]) / p["sigma"], (p["lam"] - p["w_star"]) / p["sigma"]


def _lasso_parts(p: Params) -> dict[str, float]:
    """The closed form of the lasso risk (theory docstring) term by term: zero region w*^2 (Phi(b) - Phi(a)),
    the tails' sigma^2 and lam^2 parts, and the cross terms -2 sigma lam (phi(a) + phi(b)).  Direct
    evaluation (it cancels only far in the tails, not at these points)."""
    lam, w, s = _args(p)
    a, b = _ab(p)
    return {"zero": float(w * w * (norm.cdf(b) - norm.cdf(a))),
            "sigma2": float(s * s * (norm.sf(b) + b * norm.pdf(b) + norm.cdf(a) - a * norm.pdf(a))),
            "lam2": float(lam * lam * (norm.sf(b) + norm.cdf(a))),
            "cross": float(-2 * s * lam * (norm.pdf(a) + norm.pdf(b)))}


def _lasso_without(*drop: str):
    return lambda p: sum(v for k, v in _lasso_parts(p).items() if k not in drop)


def _hard_risk(p: Params) -> float:
    """Risk of the hard threshold z 1{|z| > lam}: w*^2 P(zero) + sigma^2 (tails' second moments)."""
    return _lasso_without("lam2", "cross")(p)


_add(Check(
    "ridge.orthonormal_risk", "ridge_orthonormal_risk",
    "E[(z/(1 + lam) - w*)^2] = ((lam w*)^2 + sigma^2)/(1 + lam)^2, z ~ N(w*, sigma^2)",
    _points, _sim("ridge_risk"), lambda p: TP.ridge_orthonormal_risk(*_args(p)),
    {"variance shrunk once: ((lam w*)^2/(1 + lam) + sigma^2)/(1 + lam)":
        lambda p: ((p["lam"] * p["w_star"]) ** 2 / (1 + p["lam"]) + p["sigma"] ** 2) / (1 + p["lam"]),
     "bias dropped: sigma^2/(1 + lam)^2": lambda p: p["sigma"] ** 2 / (1 + p["lam"]) ** 2,
     "bias unshrunk: (lam w*)^2 + sigma^2/(1 + lam)^2":
        lambda p: (p["lam"] * p["w_star"]) ** 2 + p["sigma"] ** 2 / (1 + p["lam"]) ** 2},
    min_M=None))

_add(Check(
    "lasso.orthonormal_risk", "lasso_orthonormal_risk",
    "E[(sign(z)(|z| - lam)_+ - w*)^2], z ~ N(w*, sigma^2): w*^2 (Phi(b) - Phi(a)) + sigma^2 (1 - Phi(b) + b phi(b)) "
    "- 2 sigma lam phi(b) + lam^2 (1 - Phi(b)) + sigma^2 (Phi(a) - a phi(a)) - 2 sigma lam phi(a) + lam^2 Phi(a)",
    _points, _sim("lasso_risk"), lambda p: TP.lasso_orthonormal_risk(*_args(p)),
    {"zero-region term w*^2 P(w = 0) dropped": _lasso_without("zero"),
     "cross terms -2 sigma lam phi dropped": _lasso_without("cross"),
     "hard threshold's risk": _hard_risk},
    min_M=None))

_add(Check(
    "lasso.zero_prob", "lasso_zero_prob",
    "P(sign(z)(|z| - lam)_+ = 0) = Phi((lam - w*)/sigma) - Phi((-lam - w*)/sigma), z ~ N(w*, sigma^2)",
    _points, _sim("lasso_zero"), lambda p: TP.lasso_zero_prob(*_args(p)),
    {"one-sided: Phi((lam - w*)/sigma)": lambda p: float(norm.cdf(_ab(p)[1])),
     "w* ignored: 2 Phi(lam/sigma) - 1": lambda p: float(2 * norm.cdf(p["lam"] / p["sigma"]) - 1),
     "sigma ignored: Phi(lam - w*) - Phi(-lam - w*)":
        lambda p: float(norm.cdf(p["lam"] - p["w_star"]) - norm.cdf(-p["lam"] - p["w_star"]))},
    min_M=None))

"""Input families with known moments: the kurtosis `rho` and skewness `g` that enter BN noise.

Each family is a raw variable X; BN statistics only see its standardized version
u = (X - mean)/std, whose moments m_k = E[u^k] are what the formulas need
(m3 = skew g, m4 = rho + 3 with rho the *excess* kurtosis; notation of docs/bn_noise.md).

`derive_raw_moments` integrates the density in SymPy; `raw_moment` is the closed form used
numerically (tests prove the two agree); `standardized_moments` turns raw into central moments.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from math import comb, gamma, pi, sqrt

import sympy as sp

from bnreg.params import check_choice

__all__ = [
    "FAMILIES",
    "FamilyMoments",
    "derive_raw_moments",
    "raw_moment",
    "family_moments",
    "StandardizedLaw",
    "standardized_law",
    "population_mean",
]

FAMILIES = ("gaussian", "uniform", "laplace", "exponential", "relu")


def derive_raw_moments(family: str, max_order: int = 10) -> list[sp.Expr]:
    """E[X^k], k = 0..max_order, by symbolic integration of the family's density.

    gaussian: X ~ N(0, 1); uniform: X ~ U(0, 1); laplace: density exp(-|x|)/2;
    exponential: density exp(-x) on x > 0; relu: X = max(Z, 0) with Z ~ N(0, 1)
    (an atom of mass 1/2 at 0, which contributes to k = 0 only).

    Parameters: family, one of FAMILIES; max_order, the highest k.
    Returns: [E[X^0], ..., E[X^max_order]] as SymPy numbers.
    """
    check_choice("family", family, FAMILIES)
    x = sp.Symbol("x", real=True)
    phi = sp.exp(-(x**2) / 2) / sp.sqrt(2 * sp.pi)
    dens, lo, hi, atom0 = {
        "gaussian": (phi, -sp.oo, sp.oo, 0),
        "uniform": (sp.Integer(1), 0, 1, 0),
        "laplace": (sp.exp(-sp.Abs(x)) / 2, -sp.oo, sp.oo, 0),
        "exponential": (sp.exp(-x), 0, sp.oo, 0),
        "relu": (phi, 0, sp.oo, sp.Rational(1, 2)),
    }[family]
    out = []
    for k in range(max_order + 1):
        if family == "laplace":  # symmetric: integrate one side to keep SymPy fast
            val = 0 if k % 2 else sp.integrate(x**k * sp.exp(-x), (x, 0, sp.oo))
        else:
            val = sp.integrate(x**k * dens, (x, lo, hi))
        out.append(sp.nsimplify(sp.simplify(val + (atom0 if k == 0 else 0))))
    return out


def raw_moment(family: str, k: int) -> float:
    """Closed-form E[X^k] (see `derive_raw_moments` for the definitions).

    Parameters: family, one of FAMILIES; k >= 0.  Returns: E[X^k] as a float."""
    if family == "gaussian":
        return 0.0 if k % 2 else float(_double_factorial(k - 1))
    if family == "uniform":
        return 1.0 / (k + 1)
    if family == "laplace":
        return 0.0 if k % 2 else float(_factorial(k))
    if family == "exponential":
        return float(_factorial(k))
    if family == "relu":
        if k == 0:
            return 1.0
        return 2 ** (k / 2) * gamma((k + 1) / 2) / (2 * sqrt(pi))
    check_choice("family", family, FAMILIES)
    raise AssertionError  # pragma: no cover


@dataclass(frozen=True)
class FamilyMoments:
    """Mean and std of the raw variable and standardized moments m[k] = E[u^k]."""

    name: str
    mean: float
    std: float
    m: tuple[float, ...]

    @property
    def skew(self) -> float:
        """Skewness g = E[u^3]."""
        return self.m[3]

    @property
    def rho(self) -> float:
        """Excess kurtosis E[u^4] - 3."""
        return self.m[4] - 3.0


@cache
def family_moments(family: str, max_order: int = 10) -> FamilyMoments:
    """Standardized moments of `family` from the closed-form raw moments (binomial expansion).

    Parameters: family, one of FAMILIES; max_order, the highest moment.
    Returns: FamilyMoments (raw mean and std, m[k] = E[u^k] for k <= max_order, .skew, .rho)."""
    check_choice("family", family, FAMILIES)
    raw = [raw_moment(family, k) for k in range(max_order + 1)]
    mu = raw[1]
    central = [
        sum(comb(k, j) * raw[j] * (-mu) ** (k - j) for j in range(k + 1)) for k in range(max_order + 1)
    ]
    sd = sqrt(central[2])
    m = tuple(c / sd**k for k, c in enumerate(central))
    return FamilyMoments(family, mu, sd, m)


def _factorial(k: int) -> int:
    out = 1
    for i in range(2, k + 1):
        out *= i
    return out


def _double_factorial(k: int) -> int:
    out = 1
    while k > 1:
        out *= k
        k -= 2
    return out


@dataclass(frozen=True)
class StandardizedLaw:
    """Law of u = (X - mean)/std: a density on (lo, hi) plus an optional atom (ReLU input)."""

    name: str
    lo: float
    hi: float
    atom_at: float | None
    atom_mass: float
    pdf: Callable[[float], float]
    kinks: tuple[float, ...]  # points where the density is not smooth (for quadrature)


def standardized_law(family: str) -> StandardizedLaw:
    """Density of the standardized variable u for `family` (definitions as in `derive_raw_moments`).

    Parameters: family, one of FAMILIES.
    Returns: StandardizedLaw (support, density, ReLU atom, kinks of the density)."""
    check_choice("family", family, FAMILIES)
    fm = family_moments(family)
    m, s = fm.mean, fm.std
    phi = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * pi)
    raw, lo, hi, atom, kinks = {
        "gaussian": (phi, -math.inf, math.inf, None, ()),
        "uniform": (lambda x: 1.0, 0.0, 1.0, None, ()),
        "laplace": (lambda x: math.exp(-abs(x)) / 2, -math.inf, math.inf, None, (0.0,)),
        "exponential": (lambda x: math.exp(-x), 0.0, math.inf, None, ()),
        "relu": (phi, 0.0, math.inf, 0.0, ()),
    }[family]
    to_u = lambda x: (x - m) / s
    return StandardizedLaw(
        family, to_u(lo), to_u(hi), None if atom is None else to_u(atom), 0.5 if atom is not None else 0.0,
        lambda u: s * raw(m + s * u), tuple(to_u(k) for k in kinks))


def population_mean(family: str, f: Callable[[float], float], breaks: tuple[float, ...] = ()) -> float:
    """E[f(u)] over the standardized law of `family`, by adaptive quadrature (scipy.integrate.quad)
    split at the support ends, density kinks and the caller's `breaks` (kinks of f).

    Parameters: family, one of FAMILIES; f a function of u; breaks, points where f is not smooth.
    Returns: E[f(u)]."""
    from scipy.integrate import quad

    law = standardized_law(family)
    pts = sorted({p for p in (*law.kinks, *breaks) if law.lo < p < law.hi})
    # Infinite ends are cut where every density here is below 1e-300 (|u| <= 40 Gaussian tails,
    # 700 for the exponential ones), so f is never evaluated where it could overflow.
    lo = max(law.lo, -40.0 if law.name in ("gaussian", "relu") else -700.0)
    hi = min(law.hi, 40.0 if law.name in ("gaussian", "relu") else 700.0)
    edges = [lo, *[p for p in pts if lo < p < hi], hi]
    total = 0.0
    def integrand(x: float) -> float:
        p = law.pdf(x)
        return 0.0 if p < 1e-300 else f(x) * p

    for a, b in zip(edges[:-1], edges[1:], strict=True):
        val, _ = quad(integrand, a, b, limit=200, epsabs=1e-13, epsrel=1e-11)
        total += val
    if law.atom_at is not None:
        total += law.atom_mass * f(law.atom_at)
    return total

"""Formula registry: name -> numeric function, typed parameters with ranges, plain-text formula
and reference.  Drives `bnreg formulas`, `bnreg eval` and the verification checks.

A parameter named `family` (when a formula has one) fills the moment parameters rho, skew, m5,
m6 from `theory.distributions`, so `bnreg eval batch_std_var M=32 family=laplace` works.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import bn_noise
from .distributions import FAMILIES, family_moments
from .params import ParameterError, check_bool, check_choice, check_float, check_int

__all__ = ["Param", "Formula", "FORMULAS", "register", "get_formula", "evaluate"]


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # int | float | bool | choice
    default: Any = None
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple[str, ...] = ()
    doc: str = ""
    required: bool = False

    def parse(self, value: Any) -> Any:
        if self.kind == "int":
            return check_int(self.name, value, self.lo, self.hi)
        if self.kind == "float":
            return check_float(self.name, value, self.lo, self.hi, self.lo_open, self.hi_open)
        if self.kind == "bool":
            return check_bool(self.name, value)
        return check_choice(self.name, value, self.choices)

    def range_text(self) -> str:
        if self.kind == "bool":
            return "true|false"
        if self.kind == "choice":
            return "|".join(self.choices)
        lo = "" if self.lo is None else f"{self.lo:g} {'<' if self.lo_open else '<='} "
        hi = "" if self.hi is None else f" {'<' if self.hi_open else '<='} {self.hi:g}"
        return f"{lo}{self.name}{hi}" if (lo or hi) else "real"


@dataclass(frozen=True)
class Formula:
    name: str
    func: Callable[..., float]
    params: tuple[Param, ...]
    formula: str
    reference: str
    summary: str = ""
    topic: str = "bn_noise"

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise ParameterError(
            f"unknown parameter {name!r} for {self.name}; allowed: {', '.join(p.name for p in self.params)}")


FORMULAS: dict[str, Formula] = {}


def register(f: Formula) -> Formula:
    FORMULAS[f.name] = f
    return f


def get_formula(name: str) -> Formula:
    if name not in FORMULAS:
        raise ParameterError(f"unknown formula {name!r}; known: {', '.join(sorted(FORMULAS))}")
    return FORMULAS[name]


_MOMENT_KEYS = ("rho", "skew", "m5", "m6")


def evaluate(name: str, **kwargs: Any) -> float:
    """Validate `kwargs` against the formula's parameters and evaluate it."""
    f = get_formula(name)
    values: dict[str, Any] = {}
    for key, raw in kwargs.items():
        values[key] = f.param(key).parse(raw)
    for p in f.params:
        if p.required and p.name not in values:
            raise ParameterError(f"{name} needs {p.name} ({p.range_text()})")
    fam = values.pop("family", None)
    if fam is not None:
        clash = [k for k in _MOMENT_KEYS if k in values]
        if clash:
            raise ParameterError(f"give either family or {', '.join(clash)}, not both")
        fm = family_moments(fam)
        names = {p.name for p in f.params}
        values.update({k: v for k, v in
                       {"rho": fm.rho, "skew": fm.skew, "m5": fm.m[5], "m6": fm.m[6]}.items() if k in names})
    return float(f.func(**values))


_M = Param("M", "int", lo=2, doc="batch size", required=True)
_RHO = Param("rho", "float", 0.0, lo=-2.0, doc="excess kurtosis of h (0 for Gaussian)")
_SIGMA = Param("sigma", "float", 1.0, lo=0.0, lo_open=True, doc="population std sigma_P")
_ORDER = Param("order", "int", 1, lo=1, hi=2, doc="terms kept in 1/M")
_EXACT = Param("exact", "bool", False, doc="exact finite-M value (Gaussian input)")
_SKEW = Param("skew", "float", 0.0, doc="skewness g = E[u^3]")
_M5 = Param("m5", "float", None, doc="E[u^5] (order 2, non-Gaussian)")
_M6 = Param("m6", "float", None, lo=0.0, doc="E[u^6] (order 2, non-Gaussian; 15 if Gaussian)")
_FAMILY = Param("family", "choice", None, choices=FAMILIES, doc="fill rho/skew/m5/m6 from an input family")

_REF_SEED = "seed 001 §1.1/§1.3; Luo et al. ICLR 2019 (arXiv:1809.00846) §2"

register(Formula(
    "simple_error", bn_noise.simple_error, (_M, _EXACT, _RHO, _ORDER, _SKEW, _M6, _FAMILY),
    "E[(b-a)^2] = 2 - 2 E[sigma_B] ~ (rho+6)/(4M) [3/(2M) Gaussian]; "
    "exact Gaussian: 2 - 2 sqrt(2/M) Gamma(M/2)/Gamma((M-1)/2); order 2 Gaussian: 3/(2M) + 7/(16M^2)",
    "seed 001 §1.1; THEORY.md §1",
    "the seed's simple example: error of batch vs population normalization"))
register(Formula(
    "batch_mean_var", bn_noise.batch_mean_var, (_M, _SIGMA),
    "Var(mu_B) = sigma^2/M (exact)", "THEORY.md §1; Teye et al. ICML 2018",
    "variance of the batch mean"))
register(Formula(
    "batch_std_mean", bn_noise.batch_std_mean, (_M, _RHO, _SIGMA, _ORDER, _EXACT, _SKEW, _M6, _FAMILY),
    "E[sigma_B] = sigma [1 - (rho+6)/(8M) + b2/M^2], b2 = -3g^2/8 + m6/16 - 15rho^2/128 - 19rho/32 - 37/32",
    "THEORY.md §1 (the O(1/M) bias of sigma_B)",
    "mean of the batch std (ddof=0), with its O(1/M) bias"))
register(Formula(
    "batch_std_var", bn_noise.batch_std_var, (_M, _RHO, _SIGMA, _ORDER, _EXACT, _SKEW, _M6, _FAMILY),
    "Var(sigma_B) = sigma^2 (rho+2)/(4M) - sigma^2 (a^2 + 2 b2)/M^2, a = (rho+6)/8 "
    "(the seed omits sigma^2)",
    _REF_SEED, "variance of the batch std"))
register(Formula(
    "sample_mean_corr", bn_noise.sample_mean_corr, (_M,),
    "Corr(h_i, mu_B) = 1/sqrt(M) (exact)", "THEORY.md §1",
    "correlation of a sample with its own batch mean"))
register(Formula(
    "sample_std_corr", bn_noise.sample_std_corr,
    (_M, Param("rho", "float", 0.0, lo=-2.0, lo_open=True, doc="excess kurtosis"), _SKEW, _ORDER,
     Param("m5", "float", None, doc="E[u^5]"), _M6, _FAMILY),
    "Corr(h_i, sigma_B) = g/sqrt(M (rho+2)) + O(M^-3/2) (order 2 adds the M^-3/2 term)", "THEORY.md §1",
    "correlation of a sample with its own batch std (nonzero only for skewed inputs)"))
register(Formula(
    "bn_deviation_ms", bn_noise.bn_deviation_ms,
    (_M, _RHO, Param("u", "float", 0.0, doc="standardized pre-activation (h - mu_P)/sigma_P"),
     Param("gamma", "float", 1.0, doc="BN scale"), _SKEW, _ORDER, Param("m5", "float", None, doc="E[u^5]"),
     _M6, Param("variant", "choice", "derived", choices=("derived", "seed"), doc="derived or the seed's formula"),
     _FAMILY),
    "E[(hhat-hbar)^2 | u] = gamma^2 (1 + g u + (rho+2) u^2/4)/M + gamma^2 c2(u)/M^2; "
    "seed: gamma^2 [u^2 (rho+2)/(4M) + (1 + 3(rho+2)/(4M))/M]",
    _REF_SEED, "mean-square BN-vs-PN deviation of one sample inside its own batch"))

# Topic registrations: each module calls register(...) for its formulas.
from . import formulas_gamma, formulas_teacher  # noqa: E402,F401

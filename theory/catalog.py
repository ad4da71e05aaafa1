"""The formula catalog: every topic's registered formulas, gathered from the topic manifest, and `evaluate`.
Drives `bnreg formulas`, `bnreg eval` and `bnreg.evaluate`.

A parameter named `family` (when a formula has one) fills the moment parameters rho, skew, m5,
m6 from `distributions.family_moments`, so `bnreg eval batch_std_var M=32 family=laplace` works.

Adding a topic: write `formulas_<topic>.py` with a module-level `FORMULAS` list and declare the
topic in `bnreg.topics` (the topic modules never import this file, so there is no cycle).
"""

from __future__ import annotations

import importlib
import inspect
import math
import re
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from bnreg.params import ParameterError
from bnreg.topics import TOPICS as _TOPICS

from .distributions import family_moments
from .registry import Formula

__all__ = ["TOPICS", "FORMULAS", "Evaluation", "get_formula", "evaluate", "evaluate_detail"]

# topic name -> its formulas module (theory/formulas_<topic>.py), from the topic manifest
TOPICS = {t.name: importlib.import_module(t.formulas_module) for t in _TOPICS if t.formulas_module}


def _collect() -> dict[str, Formula]:
    out: dict[str, Formula] = {}
    for mod in TOPICS.values():
        for f in mod.FORMULAS:
            if f.name in out:
                raise RuntimeError(f"formula {f.name!r} is registered twice")  # a programming error
            out[f.name] = f
    return out


FORMULAS: dict[str, Formula] = _collect()


def get_formula(name: str) -> Formula:
    """The registered Formula `name` (see `bnreg formulas`), or ParameterError listing the known ones."""
    if not isinstance(name, str):
        raise ParameterError(f"a formula name must be a string (got {type(name).__name__}); see `bnreg formulas`")
    if name not in FORMULAS:
        raise ParameterError(f"unknown formula {name!r:.60}; known: {', '.join(sorted(FORMULAS))}")
    return FORMULAS[name]


_MOMENT_KEYS = ("rho", "skew", "m5", "m6")


@dataclass(frozen=True)
class Evaluation:
    """What `evaluate_detail` returns: the value, finite unless the formula diverges at these
    parameters by nature, in which case value is math.inf and `divergent` says why."""

    value: float
    divergent: str | None = None


def _takes(func: Any, name: str) -> bool:
    try:
        return name in inspect.signature(func).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return False


def _show(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}" if float(f"{v:g}") == v else repr(v)
    r = str(v).lower() if isinstance(v, bool) else str(v)
    return r if len(r) <= 24 else r[:12] + f"...({len(r)} digits)"


def _where(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_show(v)}" for k, v in values.items()) or "the default parameters"


def _check_moments(values: dict[str, Any]) -> None:
    """Moments of one distribution: skew^2 <= rho + 2 (Pearson: E[u^4] >= E[u^3]^2 + 1) and
    m6 >= (rho + 3)^2 (Cauchy-Schwarz: E[u^4]^2 <= E[u^2] E[u^6]).  Inconsistent moments made
    mean squares negative."""
    rho, skew, m6 = values.get("rho"), values.get("skew"), values.get("m6")
    if rho is not None and skew is not None and skew * skew > (rho + 2) * (1 + 1e-12):
        raise ParameterError(f"skew and rho must satisfy skew^2 <= rho + 2, true of every distribution "
                             f"(got skew={skew:g}, rho={rho:g})")
    if rho is not None and m6 is not None and m6 < (rho + 3) ** 2 * (1 - 1e-12):
        raise ParameterError(f"m6 and rho must satisfy m6 >= (rho + 3)^2, true of every distribution "
                             f"(got m6={m6:g}, rho={rho:g})")


def evaluate_detail(name: str, **kwargs: Any) -> Evaluation:
    """Validate `kwargs` against the formula's parameters (strings are parsed), fill in the
    advertised defaults and evaluate.

    Returns an Evaluation: a finite value, or math.inf with the reason where the formula diverges
    by nature (e.g. gen_error_sgd at alpha = 1).  Raises ParameterError naming the parameter and its
    allowed range on bad input, naming the formula and the parameters when the result would not be a
    finite double (overflow) or lies outside the range of the quantity (a series used where it
    does not hold)."""
    f = get_formula(name)
    values: dict[str, Any] = {}
    for key, raw in kwargs.items():
        values[key] = f.param(key).parse(raw)
    for p in f.params:
        if p.required and p.name not in values:
            raise ParameterError(f"{name} needs {p.name} ({p.range_text()})")
    call = {p.name: p.default for p in f.params if p.default is not None and p.name not in values}
    call.update(values)
    if "family" in call and not _takes(f.func, "family"):  # fill the moments from the family
        fam = call.pop("family")
        clash = [k for k in _MOMENT_KEYS if k in values]
        if clash:
            raise ParameterError(f"give either family or {', '.join(clash)}, not both")
        fm = family_moments(fam)
        names = {p.name for p in f.params}
        call.update({k: v for k, v in
                     {"rho": fm.rho, "skew": fm.skew, "m5": fm.m[5], "m6": fm.m[6]}.items() if k in names})
    _check_moments(call)
    from scipy.integrate import IntegrationWarning

    try:
        with np.errstate(over="raise", divide="raise", invalid="raise"), warnings.catch_warnings():
            warnings.simplefilter("error", IntegrationWarning)  # a quadrature short of its tolerance
            warnings.simplefilter("error", RuntimeWarning)
            val = float(f.func(**call))
    except (IntegrationWarning, RuntimeWarning) as e:
        why = " ".join(str(e).split()) or type(e).__name__
        raise ParameterError(f"{name} has no reliable value at {_where(values)}: {why}") from None
    except (OverflowError, ZeroDivisionError, FloatingPointError) as e:
        raise ParameterError(f"{name} has no finite value at {_where(values)} ({e}): outside what a double "
                             f"can hold") from None
    except ParameterError as e:
        # The inputs passed their declared ranges, so an error about a quantity the user did not give
        # (an intermediate such as lam = alpha nu) means these inputs leave what the code computes:
        # say so naming the formula and the inputs, not the intermediate.
        if any(re.search(rf"\b{re.escape(p.name)}\b", str(e)) for p in f.params):
            raise
        raise ParameterError(f"{name} has no finite value at {_where(values)}: an intermediate quantity leaves "
                             f"the range of a double ({e})") from None
    except ValueError as e:
        if "math domain" not in str(e):
            raise
        raise ParameterError(f"{name} is not defined at {_where(values)} ({e})") from None
    if not math.isfinite(val):
        reason = f.diverges(**call) if f.diverges is not None else None
        if reason and val == math.inf:
            return Evaluation(math.inf, reason)
        what = "overflows a double" if math.isinf(val) else "is not a number"
        raise ParameterError(f"{name} has no finite value at {_where(values)}: the result {what}")
    lo, hi = f.bounds
    if (lo is not None and val < lo) or (hi is not None and val > hi):
        rng = f"[{'-inf' if lo is None else f'{lo:g}'}, {'inf' if hi is None else f'{hi:g}'}]"
        raise ParameterError(f"{name} = {val:.6g} at {_where(values)} is impossible (the quantity lies in "
                             f"{rng}): {f.validity or 'the formula does not hold here'}")
    return Evaluation(val)


def evaluate(name: str, **kwargs: Any) -> float:
    """Validate `kwargs` against the formula's parameters (strings are parsed) and evaluate it.

    Parameters: `name` a registered formula; `kwargs` its parameters.  Returns the value as a float
    (math.inf where the formula diverges by nature; see `evaluate_detail` for the reason).
    Raises ParameterError naming the parameter and its allowed range on bad input, or the formula
    and its parameters when no finite, possible value exists there."""
    return evaluate_detail(name, **kwargs).value

"""The formula catalog: every topic's registered formulas, aggregated explicitly, and `evaluate`.
Drives `bnreg formulas`, `bnreg eval` and `bnreg.evaluate`.

A parameter named `family` (when a formula has one) fills the moment parameters rho, skew, m5,
m6 from `distributions.family_moments`, so `bnreg eval batch_std_var M=32 family=laplace` works.

Adding a topic: write `formulas_<topic>.py` with a module-level `FORMULAS` list and add it to
TOPICS below (the topic modules never import this file, so there is no cycle).
"""

from __future__ import annotations

from typing import Any

from . import formulas_bn_dynamics, formulas_bn_noise, formulas_gamma, formulas_teacher, formulas_variance_shift
from .distributions import family_moments
from .params import ParameterError
from .registry import Formula

__all__ = ["TOPICS", "FORMULAS", "get_formula", "evaluate"]

TOPICS = {
    "bn_noise": formulas_bn_noise,
    "gamma_decay": formulas_gamma,
    "teacher_student": formulas_teacher,
    "bn_dynamics": formulas_bn_dynamics,
    "variance_shift": formulas_variance_shift,
}


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
    if name not in FORMULAS:
        raise ParameterError(f"unknown formula {name!r}; known: {', '.join(sorted(FORMULAS))}")
    return FORMULAS[name]


_MOMENT_KEYS = ("rho", "skew", "m5", "m6")


def evaluate(name: str, **kwargs: Any) -> float:
    """Validate `kwargs` against the formula's parameters (strings are parsed) and evaluate it.

    Parameters: `name` a registered formula; `kwargs` its parameters.  Returns the value as a float.
    Raises ParameterError naming the parameter and its allowed range on bad input."""
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

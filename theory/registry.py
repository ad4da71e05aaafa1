"""The types of the formula registry: a `Formula` is a numeric function with typed parameters
(ranges, defaults), a plain-text formula and a reference.  Each topic lists its formulas in
`formulas_<topic>.py`; `catalog.py` aggregates them (this module imports no topic, so there is
no import cycle)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .params import ParameterError, check_bool, check_choice, check_float, check_int

__all__ = ["Param", "Formula"]


@dataclass(frozen=True)
class Param:
    """A typed formula parameter: kind int | float | bool | choice, default, allowed range
    [lo, hi] (open ends if lo_open/hi_open) or choices, a one-line doc, required or not."""

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
        """Validate `value` (strings are parsed) against the kind and range; raise ParameterError."""
        if self.kind == "int":
            return check_int(self.name, value, self.lo, self.hi)
        if self.kind == "float":
            return check_float(self.name, value, self.lo, self.hi, self.lo_open, self.hi_open)
        if self.kind == "bool":
            return check_bool(self.name, value)
        return check_choice(self.name, value, self.choices)

    def range_text(self) -> str:
        """The allowed values as text, e.g. "2 <= M" or "exact|sigmoid"."""
        if self.kind == "bool":
            return "true|false"
        if self.kind == "choice":
            return "|".join(self.choices)
        lo = "" if self.lo is None else f"{self.lo:g} {'<' if self.lo_open else '<='} "
        hi = "" if self.hi is None else f" {'<' if self.hi_open else '<='} {self.hi:g}"
        return f"{lo}{self.name}{hi}" if (lo or hi) else "real"


@dataclass(frozen=True)
class Formula:
    """A registered formula: name, numeric function, parameters, plain-text formula, reference
    (papers by title or arXiv id, and the docs/ page that explains it) and a one-line summary."""

    name: str
    func: Callable[..., float]
    params: tuple[Param, ...]
    formula: str
    reference: str
    summary: str = ""
    # The range of the quantity itself (a mean square is >= 0, a correlation in [-1, 1]): a value
    # outside it is impossible, and `evaluate` refuses it with `validity` (where the formula holds).
    bounds: tuple[float | None, float | None] = (None, None)
    validity: str = ""
    # Where the quantity is infinite by nature: called with the parsed parameters, returns the reason
    # (e.g. "the pseudo-inverse error diverges at alpha = 1") or None.  An infinite value anywhere
    # else is an overflow, and `evaluate` refuses it.
    diverges: Callable[..., str | None] | None = None

    def param(self, name: str) -> Param:
        """The parameter called `name`, or ParameterError listing the allowed ones."""
        for p in self.params:
            if p.name == name:
                return p
        raise ParameterError(
            f"unknown parameter {name!r} for {self.name}; allowed: {', '.join(p.name for p in self.params)}")

"""The types of the formula registry: a `Formula` is a numeric function with typed parameters
(ranges, defaults), a plain-text formula and a reference.  Each topic lists its formulas in
`formulas_<topic>.py`; `catalog.py` aggregates them; the parameters are `bnreg.params.Param`s
(this module imports no topic, so there is no import cycle)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bnreg.params import Param, ParameterError

__all__ = ["Formula"]


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

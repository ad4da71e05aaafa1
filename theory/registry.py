"""The types of the formula registry: a `Formula` is a numeric function with typed parameters
(ranges, defaults), a plain-text formula and a reference.  Each topic lists its formulas in
`formulas_<topic>.py`; `catalog.py` aggregates them; the parameters are `bnreg.params.Param`s
(this module imports no topic, so there is no import cycle)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bnreg.params import Param, ParameterError

__all__ = ["Formula", "Evidence", "EVIDENCE_KINDS"]


# The kinds of evidence a formula carries; each is present or has a reason in `Evidence.absent`.
# "mc" (the Monte-Carlo checks) is not declared here: bnreg/evidence.py finds a formula's checks in
# the check catalog (sims/checks_<topic>.py), which theory/ never imports.
EVIDENCE_KINDS = ("derivation", "twin", "mc", "stability", "shown")
ORIGINS = ("derived", "paper", "definition", "measured")


@dataclass(frozen=True)
class Evidence:
    """Where a registered formula comes from and what backs it (`bnreg formulas NAME`, docs/evidence.md).

    origin: "derived" (here: `derivation` names the `bnreg derive` entry), "paper" (`source`: title,
    arXiv id, section or equation), "definition" (`source`: what it defines) or "measured" (`source`:
    the protocol and the command that regenerates the measured constants; checked on independent runs).
    twin: the test comparing the numeric function with the SymPy expression ("tests/...py::test_name").
    stability: the test evaluating it at extreme legal parameters against mpmath.
    figures, demos: the `bnreg figures` and `bnreg demo` names that show it.
    absent: kind ("derivation", "twin", "mc", "stability", "shown") -> why that evidence is missing;
    tests/test_evidence.py fails when a kind is neither present nor explained."""

    origin: str
    derivation: str = ""
    source: str = ""
    twin: str = ""
    stability: str = ""
    figures: tuple[str, ...] = ()
    demos: tuple[str, ...] = ()
    absent: dict[str, str] | None = None

    def reason(self, kind: str) -> str:
        """Why `kind` of evidence is missing ("" if no reason is given)."""
        return (self.absent or {}).get(kind, "")


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
    evidence: Evidence | None = None  # what backs it (declared with the formula; tests/test_evidence.py)

    def param(self, name: str) -> Param:
        """The parameter called `name`, or ParameterError listing the allowed ones."""
        for p in self.params:
            if p.name == name:
                return p
        raise ParameterError(
            f"unknown parameter {name!r} for {self.name}; allowed: {', '.join(p.name for p in self.params)}")

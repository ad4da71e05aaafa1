"""The evidence matrix: for every registered formula, where it comes from and what backs it.

Composes what each layer declares, without adding a second home for any of it:
- the origin, the SymPy twin test, the mpmath stability test, the figures and demos, and the reason
  for any missing kind: `Evidence`, declared with the formula (theory/formulas_<topic>.py);
- the Monte-Carlo checks and the wrong variants they must reject: the check catalog
  (sims/checks_<topic>.py), found by the formula they name;
- the documentation page: the topic's page (bnreg/topics.py).

Shown by `bnreg formulas` (a compact column), `bnreg formulas NAME` (the whole record), the generated
page docs/evidence.md and the coverage line that ends `bnreg verify`.  tests/test_evidence.py fails
when a formula lacks a kind of evidence and gives no reason, or names a test, figure or demo that
does not exist.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["KINDS", "CheckEvidence", "EvidenceRecord", "Coverage", "records", "record", "coverage", "coverage_of_run"]

# (kind, what it means) in the order they are shown
KINDS = (
    ("derivation", "derived here in SymPy (`bnreg derive NAME`)"),
    ("twin", "the numeric function tested against the derived expression"),
    ("mc", "Monte-Carlo checks with power (wrong variants they must reject)"),
    ("stability", "evaluated at extreme legal parameters against mpmath"),
    ("shown", "a figure or a classroom demo shows it"),
)


@dataclass(frozen=True)
class CheckEvidence:
    """One check of a formula: its name (`bnreg verify --only NAME`), its claim, and the wrong
    variants it must reject (its power)."""

    name: str
    claim: str
    wrong: tuple[str, ...]


@dataclass(frozen=True)
class EvidenceRecord:
    """Everything that backs one registered formula; `present(kind)` and `reason(kind)` per kind of KINDS."""

    name: str
    topic: str
    origin: str
    derivation: str
    source: str
    reference: str
    twin: str
    checks: tuple[CheckEvidence, ...]
    stability: str
    figures: tuple[str, ...]
    demos: tuple[str, ...]
    doc: str
    reasons: dict[str, str] = field(default_factory=dict)

    def present(self, kind: str) -> bool:
        """Whether evidence of `kind` exists (a Monte-Carlo check counts only with a wrong variant)."""
        return {"derivation": bool(self.derivation), "twin": bool(self.twin),
                "mc": any(c.wrong for c in self.checks), "stability": bool(self.stability),
                "shown": bool(self.figures or self.demos)}[kind]

    def reason(self, kind: str) -> str:
        """Why `kind` is missing ("" if it is present or no reason is given)."""
        return "" if self.present(kind) else self.reasons.get(kind, "")

    def silent(self) -> list[str]:
        """The kinds neither present nor explained: must be empty (tests/test_evidence.py)."""
        return [k for k, _ in KINDS if not self.present(k) and not self.reasons.get(k)]

    def cell(self, kind: str) -> str:
        """The compact form of one kind: its value, '-' with a reason ('*'), or '?' (silent)."""
        if not self.present(kind):
            return "*" if self.reasons.get(kind) else "?"
        return {"derivation": "derived", "twin": "yes", "mc": str(len(self.checks)), "stability": "yes",
                "shown": "+".join(filter(None, ("fig" if self.figures else "", "demo" if self.demos else "")))}[kind]

    def compact(self) -> str:
        """One line: origin, twin, MC checks, mpmath, shown ('*' = missing with a stated reason)."""
        origin = self.origin if self.origin != "derived" else f"derived ({self.derivation})"
        parts = [origin, f"twin {self.cell('twin')}", f"mc {self.cell('mc')}", f"mpmath {self.cell('stability')}",
                 f"shown {self.cell('shown')}"]
        return " | ".join(parts)

    def lines(self) -> list[str]:
        """The whole record, as printed by `bnreg formulas NAME`."""
        out = [f"{self.name} (topic {self.topic}; page {self.doc})",
               f"  origin:     {self.origin}" + (f": `bnreg derive {self.derivation}`" if self.derivation else ""),
               f"  reference:  {self.reference}"]
        if self.source:
            out.append(f"  source:     {self.source}")
        out.append(f"  twin:       {self.twin or '-'}")
        if self.checks:
            out.append(f"  MC checks:  {len(self.checks)} (`bnreg verify --only NAME`)")
            for c in self.checks:
                out.append(f"    {c.name}: {c.claim}")
                out.append(f"      rejects: {'; '.join(c.wrong) if c.wrong else '(no wrong variant)'}")
        else:
            out.append("  MC checks:  -")
        out.append(f"  mpmath:     {self.stability or '-'}")
        out.append(f"  figures:    {', '.join(self.figures) or '-'}")
        out.append(f"  demos:      {', '.join(self.demos) or '-'}")
        why = [(k, self.reasons[k]) for k, _ in KINDS if not self.present(k) and self.reasons.get(k)]
        if why:
            out.append("  why missing:")
            out.extend(f"    {k}: {r}" for k, r in why)
        silent = self.silent()
        if silent:
            out.append(f"  SILENT (no evidence, no reason): {', '.join(silent)}")
        return out

    def to_dict(self) -> dict:
        """The record as JSON-ready data (`bnreg formulas --json`)."""
        return {"origin": self.origin, "derivation": self.derivation or None, "source": self.source or None,
                "twin": self.twin or None, "stability": self.stability or None,
                "checks": [{"name": c.name, "claim": c.claim, "wrong": list(c.wrong)} for c in self.checks],
                "figures": list(self.figures), "demos": list(self.demos), "doc": self.doc,
                "missing": {k: self.reasons[k] for k, _ in KINDS if not self.present(k) and k in self.reasons},
                "silent": self.silent()}


def records() -> dict[str, EvidenceRecord]:
    """The evidence record of every registered formula, by name, in registration order."""
    from bnreg.sims.catalog import CHECKS
    from bnreg.theory.catalog import FORMULAS, TOPICS
    from bnreg.topics import topic as topic_of

    topic = {f.name: t for t, mod in TOPICS.items() for f in mod.FORMULAS}
    by_formula: dict[str, list[CheckEvidence]] = {}
    for c in CHECKS:
        by_formula.setdefault(c.formula, []).append(CheckEvidence(c.name, c.claim, tuple(c.wrong)))
    out = {}
    for name, f in FORMULAS.items():
        ev = f.evidence
        if ev is None:  # tests/test_evidence.py fails on this; shown as silent everywhere else
            from bnreg.theory.registry import Evidence

            ev = Evidence("unknown")
        out[name] = EvidenceRecord(
            name=name, topic=topic[name], origin=ev.origin, derivation=ev.derivation, source=ev.source,
            reference=f.reference, twin=ev.twin, checks=tuple(by_formula.get(name, ())), stability=ev.stability,
            figures=tuple(ev.figures), demos=tuple(ev.demos), doc=topic_of(topic[name]).doc,
            reasons=dict(ev.absent or {}))
    return out


def record(name: str) -> EvidenceRecord:
    """The record of the formula `name` (ParameterError naming the known formulas otherwise)."""
    from bnreg.theory.catalog import get_formula

    get_formula(name)
    return records()[name]


@dataclass(frozen=True)
class Coverage:
    """How many formulas carry each kind of evidence: `with_kind[kind]`, `reasoned[kind]` (missing,
    with a stated reason) and `silent` (formula -> kinds with neither); `total` formulas."""

    total: int
    with_kind: dict[str, int]
    reasoned: dict[str, int]
    silent: dict[str, list[str]]

    def line(self, checked: int | None = None) -> str:
        """`bnreg verify`'s last line: formulas checked with power N/total (`checked`: those whose
        checks passed with power in this run), with a stated reason M, silent S."""
        n = self.with_kind["mc"] if checked is None else checked
        return (f"coverage: {n}/{self.total} formulas checked by Monte Carlo with power, "
                f"{self.reasoned['mc']} with a stated reason for no check of their own "
                f"(`bnreg formulas NAME`), {len(self.silent)} silent")


def coverage(recs: Iterable[EvidenceRecord] | None = None) -> Coverage:
    """Counts over `recs` (default: every registered formula)."""
    recs = list(records().values() if recs is None else recs)
    return Coverage(
        total=len(recs),
        with_kind={k: sum(r.present(k) for r in recs) for k, _ in KINDS},
        reasoned={k: sum((not r.present(k)) and bool(r.reasons.get(k)) for r in recs) for k, _ in KINDS},
        silent={r.name: r.silent() for r in recs if r.silent()})


def coverage_of_run(results: Iterable) -> dict:
    """The coverage a `bnreg verify` run shows: formulas whose checks in `results` (CheckResults) all
    passed with power, formulas with a stated reason for no check of their own, silent formulas;
    as JSON-ready data with the printed `line`."""
    cov = coverage()
    by_formula: dict[str, list[bool]] = {}
    for r in results:
        by_formula.setdefault(r.check.formula, []).append(r.passed)
    checked = sorted(f for f, ok in by_formula.items() if all(ok))
    failed = sorted(f for f, ok in by_formula.items() if not all(ok))
    return {"total": cov.total, "checked_with_power": checked, "failed": failed,
            "reasoned": sorted(n for n, r in records().items() if r.reason("mc")),
            "silent": sorted(cov.silent), "line": cov.line(len(checked))}

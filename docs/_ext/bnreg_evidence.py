"""Sphinx extension: the evidence matrix (docs/evidence.md), generated from `bnreg.evidence` at build time.

One row per registered formula: its origin (derived here, a paper, a definition), the SymPy twin
test, its Monte-Carlo checks, the mpmath stability test and what shows it; every missing cell gives
its reason below the table.  Written into the source folder when the builder starts (never edited by
hand; ignored by git), so the page cannot drift from the declarations.
"""

from __future__ import annotations

from pathlib import Path


def _cell(r, kind: str) -> str:
    if r.present(kind):
        return {"twin": "yes", "stability": "yes", "mc": ", ".join(f"`{c.name}`" for c in r.checks),
                "shown": ", ".join([*(f"fig `{f}`" for f in r.figures), *(f"demo `{d}`" for d in r.demos)])}[kind]
    return "—\\*" if r.reasons.get(kind) else "**missing**"


def render() -> str:
    """The Markdown of docs/evidence.md."""
    from bnreg.evidence import KINDS, coverage, records

    recs = records()
    cov = coverage()
    lines = ["# Evidence matrix", "",
             "<!-- generated from bnreg/evidence.py by docs/_ext/bnreg_evidence.py at build time; do not edit -->", "",
             "Every registered formula with what backs it. *Origin*: derived here (`bnreg derive NAME`), taken "
             "from a paper, or a definition. *Twin*: a test compares the numeric function with the derived "
             "expression. *Monte Carlo*: the checks of `bnreg verify`, each judged with z·SE plus a stated "
             "allowance and required to reject its wrong variants (its power; [verification](verification.md)). "
             "*mpmath*: evaluated at extreme legal parameters against mpmath at high precision. *Shown*: the "
             "figures and classroom demos that use it. A missing cell (—\\*) has its reason below the table; "
             "`bnreg formulas NAME` prints the same record in the terminal, and tests/test_evidence.py fails "
             "on any cell that is neither filled nor explained.", "",
             f"Coverage: {cov.with_kind['mc']}/{cov.total} formulas have Monte-Carlo checks of their own with power; "
             f"{cov.reasoned['mc']} state why not; {cov.with_kind['twin']} have a twin test, "
             f"{cov.with_kind['stability']} an mpmath test, {cov.with_kind['derivation']} a derivation here.", "",
             "| formula | origin | twin | Monte Carlo | mpmath | shown |",
             "|---|---|---|---|---|---|"]
    for r in recs.values():
        origin = f"derived (`{r.derivation}`)" if r.derivation else r.origin
        lines.append(f"| [`{r.name}`]({r.topic}.md) | {origin} | {_cell(r, 'twin')} | {_cell(r, 'mc')} "
                     f"| {_cell(r, 'stability')} | {_cell(r, 'shown')} |")
    lines += ["", "## Missing cells and why", ""]
    for r in recs.values():
        why = [(k, r.reasons[k]) for k, _ in KINDS if not r.present(k) and r.reasons.get(k)]
        if why or r.source:
            lines.append(f"- **`{r.name}`**" + (f" — source: {r.source}" if r.source else ""))
            lines += [f"  - *{k}*: {text}" for k, text in why]
    return "\n".join(lines) + "\n"


def _write(app) -> None:
    path = Path(app.srcdir) / "evidence.md"
    text = render()
    if not path.exists() or path.read_text() != text:  # unchanged: keep the mtime, no rebuild
        path.write_text(text)


def setup(app):
    app.connect("builder-inited", _write)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}

"""Sphinx extension: the docs' topic index (docs/topics.md), generated from the topic manifest at build time.

`render()` turns `bnreg.topics.TOPICS` (and the catalogs that read it) into one Markdown page: a
hidden toctree of the topic pages, in manifest order, and per topic its registered formulas,
derivations, checks, figures and demos, or the stated reason it has none.  The page is written
into the source folder when the builder starts (docs/topics.md, never edited by hand; ignored by
git), so the site's table of topics cannot drift from the code.
"""

from __future__ import annotations

from pathlib import Path


def _names(items: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in items)


def render() -> str:
    """The Markdown of docs/topics.md."""
    from bnreg.sims.catalog import TOPICS as CHECK_MODULES
    from bnreg.theory.catalog import TOPICS as FORMULA_MODULES
    from bnreg.topics import TOPICS

    lines = ["# Topics", "",
             "<!-- generated from bnreg/topics.py by docs/_ext/bnreg_topics.py at build time; do not edit -->", "",
             "```{toctree}", ":hidden:", "", *[t.name for t in TOPICS], "```", "",
             "Every topic has the same shape: a page, its registered formulas (`bnreg formulas`), the SymPy "
             "derivations behind them (`bnreg derive`), their Monte-Carlo checks (`bnreg verify`), its figures "
             "(`bnreg figures`) and its classroom demos (`bnreg demo`). Where a topic has none of a kind, the "
             "reason is given. Declared once, in `bnreg/topics.py`.", ""]
    for t in TOPICS:
        kinds = {
            "formulas": [f.name for f in FORMULA_MODULES[t.name].FORMULAS] if t.name in FORMULA_MODULES else [],
            "derivations": list(t.derivations),
            "checks": [c.name for c in CHECK_MODULES[t.name].CHECKS] if t.name in CHECK_MODULES else [],
            "figures": list(t.figures),
            "demos": list(t.demos),
        }
        lines += [f"## [{t.title}]({t.name}.md)", "", f"Topic `{t.name}`: {t.summary}.", ""]
        for kind, names in kinds.items():
            text = _names(names) if names else f"none: {t.absent.get(kind, '(no reason given)')}"
            lines.append(f"- **{kind}** ({len(names)}): {text}")
        lines.append("")
    return "\n".join(lines)


def _write(app) -> None:
    path = Path(app.srcdir) / "topics.md"
    text = render()
    if not path.exists() or path.read_text() != text:  # unchanged: keep the mtime, no rebuild
        path.write_text(text)


def setup(app):
    app.connect("builder-inited", _write)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}

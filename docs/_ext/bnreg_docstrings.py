"""Sphinx extension: show the toolkit's plain-text docstrings as they are written.

The docstrings of bnreg are plain text meant for ``help()`` and ``bnreg --help`` (``|w|^2``,
``E[x*y]``, indented formulas, "Parameters: ..." lines), not reStructuredText.  Parsed as reST they
would render wrongly and break the ``-W`` build.  So every docstring is parsed with docutils first:
one that parses cleanly (no warning or error) is kept as reST; any other is shown verbatim, as a
preformatted block (class ``docstring-plain``, wrapped by ``_static/bnreg.css``).  Single backticks
mean code in both (``default_role = "literal"`` in conf.py).
"""

from __future__ import annotations

import io

from docutils import nodes
from docutils.core import publish_doctree


def is_clean_rst(text: str) -> bool:
    """True if `text` parses as reStructuredText without any warning or error."""
    stream = io.StringIO()
    try:
        tree = publish_doctree(".. default-role:: literal\n\n" + text, settings_overrides={
            "report_level": 5, "halt_level": 5, "warning_stream": stream, "file_insertion_enabled": False,
            "raw_enabled": False})
    except Exception:  # noqa: BLE001 - any failure means "not reST"
        return False
    return not any(m["level"] >= 2 for m in tree.findall(nodes.system_message))


def reflow(text: str) -> list[str]:
    """Join the hard-wrapped lines of each unindented paragraph (the browser wraps them again);
    indented lines (formulas, continuations), list items and blank lines stay as they are."""
    out: list[str] = []
    joinable = False
    for line in text.splitlines():
        flat = line.strip()
        starts_item = flat[:2] in ("- ", "* ") or flat[:1].isdigit() and flat[1:3] in (". ", ") ")
        if line and not line[0].isspace() and joinable and not starts_item:
            out[-1] += " " + flat
        else:
            out.append(line.rstrip())
        joinable = bool(line) and not line[0].isspace()
    return out


def plain_docstrings(app, what, name, obj, options, lines: list[str]) -> None:
    """autodoc-process-docstring: replace a docstring that is not clean reST by a literal block."""
    text = "\n".join(lines).strip("\n")
    if not text or is_clean_rst(text):
        return
    lines[:] = [".. code-block:: none", "   :class: docstring-plain", ""]
    lines.extend(f"   {line}" if line.strip() else "" for line in reflow(text))
    lines.append("")


def setup(app):
    app.connect("autodoc-process-docstring", plain_docstrings)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}

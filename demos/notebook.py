"""A demo's script as a Jupyter notebook, with no dependency: the percent-format source
(``demos/plot_<name>.py``) is the one copy; this splits it the way sphinx-gallery does.

- the module docstring becomes the first Markdown cell (its RST title underline becomes a ``#``
  heading);
- every ``# %%`` line starts a new cell; the comment lines right after it become a Markdown cell
  and the code after them a code cell.

(jupytext reads the same files: ``jupytext --to ipynb demos/plot_<name>.py`` keeps the comments
inside the code cells.)"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

__all__ = ["to_notebook", "write_notebook"]


def _markdown(lines: list[str]) -> dict[str, Any]:
    return {"cell_type": "markdown", "metadata": {}, "source": _source(lines)}


def _code(lines: list[str]) -> dict[str, Any]:
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": _source(lines)}


def _source(lines: list[str]) -> list[str]:
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    while lines and not lines[0].strip():
        lines = lines[1:]
    return [ln + "\n" for ln in lines[:-1]] + lines[-1:]


def _docstring_markdown(doc: str) -> list[str]:
    lines = doc.strip("\n").splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        if i + 1 < len(lines) and lines[i].strip() and re.fullmatch(r"[=\-~^]{3,}", lines[i + 1].strip()):
            out.append(("# " if lines[i + 1].strip()[0] == "=" else "## ") + lines[i].strip())
            i += 2
            continue
        out.append(lines[i])
        i += 1
    return out


def to_notebook(source: str) -> dict[str, Any]:
    """The nbformat-4 notebook (a dict, ready for json.dump) of a percent-format demo source."""
    tree = ast.parse(source)
    cells: list[dict[str, Any]] = []
    lines = source.splitlines()
    start = 0
    doc = ast.get_docstring(tree, clean=True)
    if doc and tree.body and isinstance(tree.body[0], ast.Expr):
        cells.append(_markdown(_docstring_markdown(doc)))
        start = tree.body[0].end_lineno or 0
    blocks: list[list[str]] = [[]]
    for ln in lines[start:]:
        if re.match(r"^# %%", ln):
            blocks.append([])
        else:
            blocks[-1].append(ln)
    for block in blocks:
        text: list[str] = []
        k = 0
        while k < len(block) and not block[k].strip():
            k += 1
        while k < len(block) and block[k].startswith("#"):
            text.append(block[k][2:] if block[k].startswith("# ") else block[k][1:])
            k += 1
        code = block[k:]
        if any(t.strip() for t in text):
            cells.append(_markdown(text))
        if any(c.strip() for c in code):
            cells.append(_code(code))
    return {"cells": cells, "nbformat": 4, "nbformat_minor": 4,
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                         "language_info": {"name": "python"}}}


def write_notebook(name: str, out_dir: str | Path, seed: int = 0) -> Path:
    """Write demo `name` as OUT_DIR/plot_<name>.ipynb, its run cell calling main with `seed` (0: the
    documented numbers); returns the path.  The directory is created and proved writable first and
    the file written atomically (OutputError naming the path otherwise)."""
    from bnreg.params import check_int
    from bnreg.runtime import check_writable, write_atomic
    from bnreg.runtime.rng import MAX_SEED

    from . import demo_path

    seed = check_int("seed", seed, 0, MAX_SEED)
    src = demo_path(name)
    out = check_writable(out_dir, "--notebook")
    text = src.read_text(encoding="utf-8")
    if seed:
        text = text.replace("main(quick=quick_from_env())", f"main(quick=quick_from_env(), seed={seed})")
    path = out / f"{src.stem}.ipynb"
    write_atomic(path, json.dumps(to_notebook(text), indent=1) + "\n")
    return path

"""The README's Python snippets run as written (a user copies them first)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


@pytest.mark.build
def test_readme_python_snippets_run(tmp_path, monkeypatch):
    snippets = _snippets()
    assert len(snippets) >= 2
    monkeypatch.chdir(tmp_path)  # make_figures writes into ./bnreg-figures
    ns: dict = {}
    for code in snippets:
        exec(compile(code, "README.md", "exec"), ns)  # noqa: S102 - the README's own code
    assert abs(ns["B"].simple_error(32, exact=True) - 0.0473064792) < 1e-9
    assert (tmp_path / "bnreg-figures" / "simple_error.csv").exists()

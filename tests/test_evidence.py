"""The evidence matrix (bnreg/evidence.py): no formula without each kind of evidence or a reason, and
no declaration that points at nothing (a test, figure, demo or derivation that does not exist, or
one that never mentions the formula)."""

from __future__ import annotations

import ast
import inspect
import json
import re
from functools import cache
from pathlib import Path

import pytest

from bnreg.evidence import KINDS, coverage, records
from bnreg.theory.catalog import FORMULAS
from bnreg.theory.derivations import DERIVATIONS
from bnreg.theory.registry import ORIGINS
from bnreg.topics import demo_descriptions, figure_names

ROOT = Path(__file__).resolve().parents[1]
RECORDS = records()
NAMES = list(FORMULAS)
NODE = re.compile(r"(tests/[\w/]+\.py)::(\w+)")


@cache
def _functions(path: str) -> dict[str, str]:
    src = (ROOT / path).read_text()
    return {n.name: ast.get_source_segment(src, n) or "" for n in ast.walk(ast.parse(src))
            if isinstance(n, ast.FunctionDef)}


def _keys(name: str) -> set[str]:
    """What code that uses the formula must mention: its name, its function's name, or (for a
    lambda) the functions the lambda calls."""
    f = FORMULAS[name].func
    keys = {name}
    if f.__name__ != "<lambda>":
        keys.add(f.__name__)
    else:
        keys |= set(re.findall(r"\.(\w+)\(", inspect.getsource(f)))
    return keys


def _mentions(src: str, name: str) -> bool:
    return any(re.search(rf"\b{re.escape(k)}\b", src) for k in _keys(name))


def test_every_formula_declares_its_evidence():
    missing = [n for n, f in FORMULAS.items() if f.evidence is None]
    assert not missing, f"formulas without Evidence (theory/formulas_<topic>.py): {missing}"


@pytest.mark.parametrize("name", NAMES)
def test_no_kind_of_evidence_is_silent(name):
    r = RECORDS[name]
    assert not r.silent(), f"{name}: no evidence and no reason for {r.silent()} (declare it in its Evidence)"
    stale = [k for k in r.reasons if r.present(k)]
    assert not stale, f"{name}: a reason is given for evidence that exists: {stale}"
    assert set(r.reasons) <= {k for k, _ in KINDS}, f"{name}: unknown kinds {set(r.reasons)}"


@pytest.mark.parametrize("name", NAMES)
def test_origin_names_a_real_derivation_or_source(name):
    r = RECORDS[name]
    assert r.origin in ORIGINS, (name, r.origin)
    if r.origin == "derived":
        assert r.derivation in DERIVATIONS, f"{name}: `bnreg derive {r.derivation}` does not exist"
    else:
        assert r.source and not r.derivation, f"{name}: a {r.origin} needs its source and no derivation"


@pytest.mark.parametrize("name", NAMES)
def test_declared_tests_exist_and_use_the_formula(name):
    r = RECORDS[name]
    for label, node in (("twin", r.twin), ("stability", r.stability)):
        if not node:
            continue
        m = NODE.fullmatch(node)
        assert m, f"{name}: {label} must be 'tests/...py::test_name' (got {node!r})"
        path, fn = m.groups()
        src = _functions(path).get(fn)
        assert src is not None, f"{name}: {label} test {node} does not exist"
        if label == "stability":  # the mpmath table names every formula it evaluates, in the module
            src = (ROOT / path).read_text()
            assert re.search(rf"[\"']{name}[\"']", src), f"{name}: {path} never evaluates it"
        else:
            assert _mentions(src, name), f"{name}: its twin test {node} never calls it"
    # every test a reason points to exists too
    for kind, why in r.reasons.items():
        for path, fn in NODE.findall(why):
            assert fn in _functions(path), f"{name}: the {kind} reason cites {path}::{fn}, which does not exist"


@pytest.mark.parametrize("name", NAMES)
def test_figures_and_demos_exist_and_show_the_formula(name):
    r = RECORDS[name]
    demos = demo_descriptions()
    for fig in r.figures:
        assert fig in figure_names(), f"{name}: unknown figure {fig}"
        assert _mentions((ROOT / "figures" / f"{fig}.py").read_text(), name), f"{name}: figure {fig} never uses it"
    for demo in r.demos:
        assert demo in demos, f"{name}: unknown demo {demo}"
        assert _mentions((ROOT / "demos" / f"plot_{demo}.py").read_text(), name), f"{name}: demo {demo} never uses it"
    assert (ROOT / r.doc).exists()


def test_checks_name_registered_formulas():
    from bnreg.sims.catalog import CHECKS

    # sgd_stationary_excess (theory/training_practice_noise.py) is a function of a data matrix, not a
    # formula of scalar parameters, so `bnreg eval` cannot take it; its check sgd.stationary_excess
    # is the exact counterpart of sgd_excess_loss's first order
    assert {c.formula for c in CHECKS} - set(FORMULAS) == {"sgd_stationary_excess"}


def test_coverage_counts_and_line():
    cov = coverage()
    assert cov.total == len(FORMULAS) and not cov.silent
    assert cov.with_kind["mc"] + cov.reasoned["mc"] == cov.total
    assert cov.line().startswith(f"coverage: {cov.with_kind['mc']}/{cov.total} formulas checked")


def test_formulas_command_shows_evidence(capsys):
    from bnreg.cli import main

    assert main(["formulas"]) == 0
    out = capsys.readouterr().out
    assert out.count("  evidence:  ") == len(FORMULAS)
    assert main(["formulas", "gen_error_gd"]) == 0
    rec = capsys.readouterr().out
    assert "origin:     paper" in rec and "why missing:" in rec and "MC checks:" in rec
    assert main(["formulas", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert all(d["evidence"]["silent"] == [] for d in data) and len(data) == len(FORMULAS)
    assert main(["formulas", "nope"]) == 2
    assert "unknown formula 'nope'" in capsys.readouterr().err


def test_the_docs_evidence_page_is_generated_from_the_records():
    import importlib
    import sys

    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    try:
        page = importlib.import_module("bnreg_evidence").render()
    finally:
        sys.path.remove(str(ROOT / "docs" / "_ext"))
    rows = [line for line in page.splitlines() if line.startswith("| [`")]
    assert [r.split("`")[1] for r in rows] == NAMES
    assert "**missing**" not in page
    for r in RECORDS.values():
        for c in r.checks:
            assert f"`{c.name}`" in page
    index = (ROOT / "docs" / "index.md").read_text()
    assert "\nevidence\n" in index.split("```{toctree}")[1].split("```")[0]


def test_the_readme_states_the_coverage_verify_prints():
    from bnreg.sims.catalog import CHECKS

    readme = (ROOT / "README.md").read_text()
    cov = coverage()
    assert f"{len(CHECKS)} checks covering all {cov.total} registered formulas" in readme
    assert cov.with_kind["mc"] == cov.total
    assert f"coverage: {cov.with_kind['mc']}/{cov.total} formulas checked by Monte Carlo with power" in readme

"""The topic manifest (bnreg/topics.py): every formula, derivation, check, figure and demo belongs to
exactly one topic, every topic has its page, one spelling per topic names its modules, and a topic
lacking a kind of item says why."""

from __future__ import annotations

import importlib
import sys
from collections import Counter
from pathlib import Path

import pytest

from bnreg.topics import KINDS, TOPICS, demo_descriptions, figure_names, topic

ROOT = Path(__file__).resolve().parents[1]
NAMES = [t.name for t in TOPICS]


def _items(t) -> dict[str, list[str]]:
    from bnreg.sims.catalog import TOPICS as CHECKS
    from bnreg.theory.catalog import TOPICS as FORMULAS

    return {"formulas": [f.name for f in FORMULAS[t.name].FORMULAS] if t.name in FORMULAS else [],
            "derivations": list(t.derivations),
            "checks": [c.name for c in CHECKS[t.name].CHECKS] if t.name in CHECKS else [],
            "figures": list(t.figures), "demos": list(t.demos)}


def test_topic_names_are_unique_identifiers():
    assert len(set(NAMES)) == len(NAMES) and all(n.isidentifier() for n in NAMES)
    assert topic("bn_noise").name == "bn_noise"
    with pytest.raises(KeyError, match="known"):
        topic("no_such_topic")


@pytest.mark.parametrize("name", NAMES)
def test_every_topic_has_its_page_and_every_kind_or_a_reason(name):
    t = topic(name)
    assert (ROOT / t.doc).is_file(), f"{name}: no page {t.doc}"
    assert t.title and t.summary, name
    items = _items(t)
    for kind in KINDS:
        if items[kind]:
            assert kind not in t.absent, f"{name}: has {kind} but also gives a reason for lacking them"
        else:
            assert t.absent.get(kind, "").strip(), f"{name}: no {kind} and no reason given"
    assert set(t.absent) <= set(KINDS), t.absent


def test_every_formula_belongs_to_exactly_one_topic():
    """Each theory/formulas_<x>.py is a topic's, and each formula is registered by one module."""
    from bnreg.theory.catalog import FORMULAS
    from bnreg.theory.catalog import TOPICS as BY_TOPIC

    on_disk = {p.stem.removeprefix("formulas_") for p in (ROOT / "theory").glob("formulas_*.py")}
    assert on_disk == {t.name for t in TOPICS if t.formulas}
    owners = Counter(f.name for mod in BY_TOPIC.values() for f in mod.FORMULAS)
    assert set(owners) == set(FORMULAS) and max(owners.values()) == 1


def test_every_derivation_belongs_to_exactly_one_topic_and_lives_in_its_theory():
    from bnreg.theory.derivations import DERIVATIONS

    owners = Counter(d for t in TOPICS for d in t.derivations)
    assert set(owners) == set(DERIVATIONS), set(owners) ^ set(DERIVATIONS)
    assert max(owners.values()) == 1, [d for d, k in owners.items() if k > 1]
    for t in TOPICS:
        for d in t.derivations:
            module = DERIVATIONS[d][0].__module__
            # the topic's theory module, or one of its parts (theory/<topic>_<part>.py)
            assert module == t.theory_module or module.startswith(f"{t.theory_module}_"), (d, module, t.name)


def test_every_check_belongs_to_exactly_one_topic():
    from bnreg.sims.catalog import CHECKS

    on_disk = {p.stem.removeprefix("checks_") for p in (ROOT / "sims").glob("checks_*.py")}
    assert on_disk == {t.name for t in TOPICS if t.checks}
    names = Counter(c.name for c in CHECKS)
    assert max(names.values()) == 1, [n for n, k in names.items() if k > 1]


def test_every_figure_belongs_to_exactly_one_topic():
    from bnreg.figures import FIGURE_MODULES

    on_disk = {p.stem for p in (ROOT / "figures").glob("*.py") if p.stem not in ("__init__", "_io", "run")}
    assert Counter(figure_names()) == Counter(on_disk), "a figure module is unlisted or listed twice"
    assert FIGURE_MODULES == figure_names()


def test_every_demo_belongs_to_exactly_one_topic():
    from bnreg.demos import DEMOS

    listed = [d for t in TOPICS for d in t.demos]
    on_disk = {p.stem.removeprefix("plot_") for p in (ROOT / "demos").glob("plot_*.py")}
    assert Counter(listed) == Counter(on_disk), "a demo is unlisted or listed twice"
    assert DEMOS == demo_descriptions()


def test_one_spelling_per_topic_in_module_names():
    """Per-topic modules are spelled by the topic's name: theory/<t>.py, sims/checks_<t>.py,
    sims/kernels/<t>.py (or the CNN library's batchnorm kernels), theory/<t>_<part>.py for parts."""
    for t in TOPICS:
        if t.formulas:
            assert (ROOT / "theory" / f"{t.name}.py").is_file(), t.name
    kernels = {p.stem for p in (ROOT / "sims" / "kernels").glob("*.py")} - {"__init__", "batchnorm"}
    assert kernels <= set(NAMES), kernels - set(NAMES)


def test_catalogs_and_listings_follow_the_manifest_order():
    from bnreg.sims.catalog import TOPICS as CHECKS
    from bnreg.theory.catalog import TOPICS as FORMULAS

    assert list(FORMULAS) == [t.name for t in TOPICS if t.formulas]
    assert list(CHECKS) == [t.name for t in TOPICS if t.checks]


def test_the_docs_topic_index_is_generated_from_the_manifest():
    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    try:
        page = importlib.import_module("bnreg_topics").render()
    finally:
        sys.path.remove(str(ROOT / "docs" / "_ext"))
    toctree = page.split("```{toctree}")[1].split("```")[0].split()
    assert [w for w in toctree if not w.startswith(":")] == NAMES
    for t in TOPICS:
        assert f"]({t.name}.md)" in page
        for kind, names in _items(t).items():
            for n in names:
                assert f"`{n}`" in page, (t.name, kind, n)
    index = (ROOT / "docs" / "index.md").read_text()
    assert "\ntopics\n" in index.split("```{toctree}")[1].split("```")[0]


def test_the_manifest_imports_nothing_of_the_toolkit():
    import ast

    tree = ast.parse((ROOT / "bnreg" / "topics.py").read_text())
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)] + \
               [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert all(not (m or "").startswith("bnreg") for m in imported), imported


def test_the_cli_listings_are_built_from_the_manifest(capsys):
    import json

    from bnreg.cli import main

    assert main(["formulas", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    owner = {f: t.name for t in TOPICS for f in _items(t)["formulas"]}
    assert {f["name"]: f["topic"] for f in listed} == owner
    assert main(["derive"]) == 0
    out = capsys.readouterr().out.splitlines()
    headers = [line.split()[0] for line in out if not line.startswith(" ")]
    assert headers == [t.name for t in TOPICS if t.derivations]
    assert [line.split()[0] for line in out if line.startswith(" ")] == [d for t in TOPICS for d in t.derivations]


@pytest.mark.parametrize("name", [t.name for t in TOPICS if t.checks])
def test_verify_selects_a_topic_by_name(name):
    from bnreg.sims.catalog import TOPICS as CHECKS
    from bnreg.sims.catalog import select_checks

    assert {c.name for c in select_checks(name)} >= {c.name for c in CHECKS[name].CHECKS}

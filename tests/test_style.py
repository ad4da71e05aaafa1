"""Style and architecture: ruff-clean; the layering theory <- sims <- figures <- bench <- cli; no import
cycle; one import name.  The import graph is read from the source (AST), so lazy imports inside
functions count for the layering rules and module-level imports for the cycle check."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Source folder -> import name (the package-dir mapping of pyproject.toml).
PACKAGES = {"bnreg": "bnreg", "theory": "bnreg.theory", "sims": "bnreg.sims", "figures": "bnreg.figures",
            "bench": "bnreg.bench", "demos": "bnreg.demos"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = [PACKAGES[rel.parts[0]], *rel.parts[1:]]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """(every imported module, module-level imported modules), resolved to absolute names."""
    mod = _module_name(path)
    pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    top_level = {id(n) for n in tree.body}
    every: set[str] = set()
    module_level: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from pkg import sub` may import a submodule: count both.
            names = [target] + [f"{target}.{a.name}" for a in node.names]
        else:
            continue
        every.update(names)
        if id(node) in top_level:
            module_level.update(names)
    return every, module_level


def _sources() -> list[Path]:
    return sorted(p for d in PACKAGES for p in (ROOT / d).rglob("*.py"))


GRAPH = {_module_name(p): _imports(p) for p in _sources()}


def test_ruff_clean():
    r = subprocess.run([sys.executable, "-m", "ruff", "check", str(ROOT)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr


_SCIENCE_AND_UP = ("bnreg.theory", "bnreg.sims", "bnreg.figures", "bnreg.bench", "bnreg.demos", "bnreg.cli")


@pytest.mark.parametrize("layer,forbidden", [
    # the bottom: declarations and validation, importing nothing above them
    ("bnreg.errors", (*_SCIENCE_AND_UP, "bnreg.runtime", "bnreg.testing", "bnreg.params", "bnreg.topics")),
    ("bnreg.params", (*_SCIENCE_AND_UP, "bnreg.runtime", "bnreg.testing", "bnreg.topics")),
    ("bnreg.topics", (*_SCIENCE_AND_UP, "bnreg.runtime", "bnreg.testing", "bnreg.params", "bnreg.errors")),
    # the engine knows no science; the judge knows no simulation
    ("bnreg.runtime", (*_SCIENCE_AND_UP, "bnreg.testing")),
    ("bnreg.testing", ("bnreg.sims", "bnreg.figures", "bnreg.bench", "bnreg.demos", "bnreg.cli")),
    ("bnreg.theory", ("bnreg.sims", "bnreg.figures", "bnreg.bench", "bnreg.demos", "bnreg.cli", "numba",
                      "bnreg.runtime", "bnreg.testing")),
    ("bnreg.sims", ("bnreg.figures", "bnreg.bench", "bnreg.demos", "bnreg.cli")),
    ("bnreg.figures", ("bnreg.bench", "bnreg.demos", "bnreg.cli")),
    ("bnreg.bench", ("bnreg.demos", "bnreg.cli")),
    ("bnreg.demos", ("bnreg.bench", "bnreg.cli")),
])
def test_layering(layer, forbidden):
    """The bottom (errors, params, topics) imports nothing above it; the engine (runtime) no science;
    the judge (testing) no simulation; theory/ knows nothing of sims/ or figures/ (and has no numba);
    sims/ never imports figures/; only the CLI imports the benchmarks (bench/ may use everything below
    it); nothing below the CLI imports it."""
    bad = [(m, i) for m, (every, _) in GRAPH.items() if m == layer or m.startswith(layer + ".")
           for i in every if any(i == f or i.startswith(f + ".") for f in forbidden)]
    assert not bad, bad


def test_only_the_cli_imports_the_benchmarks():
    """bnreg.bench sits just below the CLI: no library module (the public API in bnreg/__init__
    included) imports it."""
    bad = [(m, i) for m, (every, _) in GRAPH.items() if m != "bnreg.cli" and not m.startswith("bnreg.bench")
           for i in every if i == "bnreg.bench" or i.startswith("bnreg.bench.")]
    assert not bad, bad
    assert any(m.startswith("bnreg.bench.") for m in GRAPH), "bench/ was not scanned"


def test_only_the_cli_imports_the_demos():
    """The demos compose theory, sims and figures; nothing but the CLI (and the demos themselves)
    imports them."""
    bad = [(m, i) for m, (every, _) in GRAPH.items() if m != "bnreg.cli" and not m.startswith("bnreg.demos")
           for i in every if i == "bnreg.demos" or i.startswith("bnreg.demos.")]
    assert not bad, bad
    assert any(m.startswith("bnreg.demos.") for m in GRAPH), "demos/ was not scanned"


def test_no_import_cycle():
    """No cycle among the toolkit's modules, counting every import: module-level, inside functions
    (lazy) and under `if TYPE_CHECKING:`."""
    edges = {m: {i for i in every if i in GRAPH and i != m} for m, (every, _) in GRAPH.items()}
    # A package imports its own __init__ implicitly; that is not a cycle through user code.
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(m: str, stack: list[str]) -> bool:
        state[m] = 1
        for n in edges[m]:
            if m.startswith(n + "."):
                continue
            if state.get(n) == 1:
                cycle.extend(stack[stack.index(n):] + [n] if n in stack else [m, n])
                return True
            if state.get(n) is None and visit(n, stack + [n]):
                return True
        state[m] = 2
        return False

    for m in edges:
        if state.get(m) is None and visit(m, [m]):
            break
    assert not cycle, " -> ".join(cycle)


def test_no_private_names_across_modules():
    """`from X import _name` of another module is a hidden coupling: make the name public."""
    bad = []
    for p in _sources():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("bnreg")):
                bad += [f"{p.relative_to(ROOT)}: {a.name}" for a in node.names
                        if a.name.startswith("_") and not a.name.startswith("__")]
    assert not bad, bad


def test_theory_imports_nothing_random_at_run_time():
    """The runtime check behind test_layering: importing the theory catalog loads no sims module."""
    code = ("import sys, bnreg.theory.catalog, bnreg.theory.derivations; "
            "print(any(m.startswith(('bnreg.sims', 'bnreg.figures')) or m == 'numba' for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "False", out.stderr



# The briefs the project was built from (spelled in pieces so this file does not name them itself).
OUTSIDE_REFERENCE = re.compile("|".join(map(re.escape, ["THEORY" + ".md", ".." + "/shared", "shared" + "/seeds"]))
                               + r"|seed 00[0-9]|\bseed['’]s\b")


def test_no_reference_outside_the_repository():
    """The project is self-contained: code and docs cite papers (title, arXiv id) and docs/ pages,
    never the write-ups or briefs it was built from."""
    bad = []
    for p in [*_sources(), *(ROOT / "docs").rglob("*.md"), ROOT / "README.md"]:
        for k, line in enumerate(p.read_text().splitlines(), 1):
            if OUTSIDE_REFERENCE.search(line):
                bad.append(f"{p.relative_to(ROOT)}:{k}")
    assert not bad, f"{len(bad)} references, e.g. {bad[:5]}"


# The one alias of each theory module (figures, checks and tests read alike).
THEORY_ALIASES = {"bn_noise": "B", "gamma_decay": "G", "teacher_student": "TS", "variance_shift": "VS",
                  "training_practice": "TP", "dropout": "DO", "bn_dynamics": "BD"}


def test_each_theory_module_has_one_alias():
    bad = []
    for p in [*_sources(), *(ROOT / "tests").rglob("*.py")]:
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module in ("bnreg.theory", None) or node.level):
                for a in node.names:
                    if a.name in THEORY_ALIASES and a.asname != THEORY_ALIASES[a.name]:
                        bad.append(f"{p.relative_to(ROOT)}: {a.name} as {a.asname}")
    assert not bad, bad


MAX_LINES = 450


def test_one_job_per_file_and_no_file_over_450_lines():
    """Every source module (package and tests) says its one job in the first line of its docstring,
    and no file is longer than MAX_LINES."""
    long, undocumented = [], []
    for p in [*_sources(), *(ROOT / "tests").rglob("*.py")]:
        text = p.read_text()
        if len(text.splitlines()) > MAX_LINES:
            long.append(f"{p.relative_to(ROOT)} ({len(text.splitlines())} lines)")
        doc = ast.get_docstring(ast.parse(text))
        if p.name != "__init__.py" and not (doc and doc.splitlines()[0].strip()):
            undocumented.append(str(p.relative_to(ROOT)))
    assert not long, long
    assert not undocumented, undocumented

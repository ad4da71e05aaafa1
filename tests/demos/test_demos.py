"""The classroom demos (demos/, `bnreg demo`): the registry covers every demos/plot_*.py, each demo
is a sphinx-gallery-style percent script (docstring title, `# %%` cells, importable, `main` and a
`__main__` guard), every `main` takes the run's one seed (and the seed reaches the numbers), its
notebook is generated from the one source, and each runs in quick mode, returning finite key numbers
and saving its figure (slow)."""

from __future__ import annotations

import ast
import inspect
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bnreg.cli import main as cli
from bnreg.demos import DEMOS, demo_module, demo_path, run_demo
from bnreg.demos.notebook import to_notebook, write_notebook
from bnreg.params import ParameterError

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted((ROOT / "demos").glob("plot_*.py"))


def test_registry_covers_every_demo_file():
    assert {p.stem.removeprefix("plot_") for p in FILES} == set(DEMOS)
    for name in DEMOS:
        assert demo_path(name) == ROOT / "demos" / f"plot_{name}.py"


def test_one_demo_per_topic_and_training_practice():
    assert {"bn_noise", "gamma_decay", "teacher_student", "bn_dynamics", "variance_shift", "dropout_schedules",
            "initialization", "bn_running_stats", "lr_batch_size", "weight_decay"} <= set(DEMOS)


def test_demo_list_prints_every_demo(capsys):
    assert cli(["demo", "list"]) == 0
    out = capsys.readouterr().out
    assert [ln.split()[0] for ln in out.splitlines()] == list(DEMOS)
    assert cli(["demo"]) == 0


def test_unknown_demo_exits_2(capsys):
    assert cli(["demo", "nosuchdemo", "--quick"]) == 2
    assert "unknown demo 'nosuchdemo'" in capsys.readouterr().err
    with pytest.raises(ParameterError):
        demo_module("nosuchdemo")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_demo_is_a_percent_script(path):
    """sphinx-gallery's shape: a docstring whose first line is the title, underlined with '=';
    `# %%` cells; a `main(save, quick)`; a `__main__` guard; module level defines only (importing
    it runs nothing)."""
    src = path.read_text()
    tree = ast.parse(src)
    doc = ast.get_docstring(tree)
    assert doc and re.fullmatch(r"=+", doc.splitlines()[1]) and len(doc.splitlines()[1]) == len(doc.splitlines()[0])
    assert src.count("\n# %%") >= 3
    assert src.rstrip().splitlines()[-1].startswith("    ") and 'if __name__ == "__main__":' in src
    for node in tree.body[1:]:
        assert isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.Assign, ast.AnnAssign, ast.If)), \
            f"{path.name}: module-level statement at line {node.lineno} would run on import"
    mod = demo_module(path.stem.removeprefix("plot_"))
    params = inspect.signature(mod.main).parameters
    assert list(params)[:2] == ["save", "quick"] and params["save"].default is None and params["quick"].default is False
    assert mod.NAME == path.stem.removeprefix("plot_") and mod.TITLE


@pytest.mark.parametrize("name", list(DEMOS))
def test_every_demo_takes_a_seed(name):
    """main(save=None, quick=False, seed=0): the run's one seed (0: the documented numbers), passed on
    by run_demo."""
    params = inspect.signature(demo_module(name).main).parameters
    assert list(params) == ["save", "quick", "seed"] and params["seed"].default == 0
    assert inspect.signature(run_demo).parameters["seed"].default == 0


def test_seed_reaches_the_numbers(tmp_path, capsys):
    """bn_noise: the same seed twice gives the same numbers, another seed other Monte Carlo numbers
    (every one) and the same closed forms; the saved provenance records the seed."""
    def numbers(**kw):
        nums = run_demo("bn_noise", quick=True, **kw)
        nums.pop("elapsed_s")
        return nums

    a, b, c = numbers(), numbers(seed=0), numbers(seed=1, save=tmp_path)
    assert a == b
    assert list(a) == list(c)
    for k in a:
        assert (a[k] == c[k]) == k.endswith("_theory"), k
    assert json.loads((tmp_path / "bn_noise.json").read_text())["seed"] == 1


@pytest.mark.parametrize("name", list(DEMOS))
def test_notebook_from_the_one_source(name, tmp_path):
    path = write_notebook(name, tmp_path)
    nb = json.loads(path.read_text())
    assert nb["nbformat"] == 4
    kinds = [c["cell_type"] for c in nb["cells"]]
    assert kinds[0] == "markdown" and "".join(nb["cells"][0]["source"]).startswith("# ")
    assert "code" in kinds and kinds.count("markdown") >= 3
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    compile(code, path.name, "exec")  # the notebook's code is the script's code
    assert "def main(" in code and "from __future__ import annotations" in "".join(nb["cells"][1 + (kinds[1] ==
                                                                                                "markdown")]["source"])


def test_notebook_cells_follow_the_percent_markers():
    src = '"""\nTitle\n=====\n\nText.\n"""\n\n# %%\n# Some words.\nx = 1\n\n# %%\ny = 2\n'
    cells = to_notebook(src)["cells"]
    assert [c["cell_type"] for c in cells] == ["markdown", "markdown", "code", "code"]
    assert cells[0]["source"] == ["# Title\n", "\n", "Text."]
    assert cells[1]["source"] == ["Some words."] and cells[2]["source"] == ["x = 1"]


def test_notebook_command(tmp_path, capsys):
    assert cli(["demo", "bn_noise", "--notebook", str(tmp_path)]) == 0
    assert (tmp_path / "plot_bn_noise.ipynb").is_file()


@pytest.mark.figures
@pytest.mark.parametrize("name", list(DEMOS))
def test_demo_runs_quick_and_saves(name, tmp_path, capsys):
    nums = run_demo(name, save=tmp_path, quick=True)
    out = capsys.readouterr().out
    assert out.startswith(f"== demo {name} (quick)")
    assert nums and all(isinstance(v, float) for v in nums.values())
    finite = [k for k, v in nums.items() if math.isfinite(v)]
    assert len(finite) >= 0.9 * len(nums), {k: v for k, v in nums.items() if not math.isfinite(v)}
    for ext in ("png", "pdf", "csv", "json"):
        assert (tmp_path / f"{name}.{ext}").stat().st_size > 0
    meta = json.loads((tmp_path / f"{name}.json").read_text())
    assert meta["demo"] == name and meta["quick"] is True and meta["seed"] == 0


@pytest.mark.figures
def test_demo_command_and_plain_script(tmp_path):
    """`bnreg demo NAME --quick --save DIR` in a subprocess, and the file run as a plain script
    (the guard calls main(): no files, just the printed lines)."""
    r = subprocess.run([sys.executable, "-m", "bnreg", "demo", "bn_noise", "--quick", "--save", str(tmp_path)],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "bn_noise.png").is_file() and "theory" in r.stdout
    r = subprocess.run([sys.executable, str(demo_path("bn_noise"))], capture_output=True, text=True, cwd=tmp_path,
                       env={**os.environ, "MPLBACKEND": "Agg"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("== demo bn_noise:") and not list(tmp_path.glob("*.ipynb"))

"""The package face: one import name (`bnreg`) in the built wheel, the version in one place, and the
public API a user reaches without knowing the layout (bnreg.formulas/evaluate/derivations/verify/
make_figures)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import bnreg

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib
from bnreg.params import ParameterError

ROOT = Path(__file__).resolve().parents[1]


def _sources() -> list[str]:
    """pyproject.toml, README.md and every top-level folder the package-dir mapping names."""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    folders = {d.split("/")[0] for d in meta["tool"]["setuptools"]["package-dir"].values()}
    return ["pyproject.toml", "README.md", *sorted(folders)]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Build the wheel from a copy of the sources (so no build/ or egg-info lands in the checkout)."""
    src = tmp_path_factory.mktemp("src")
    for name in _sources():
        p = ROOT / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
        else:
            shutil.copy2(p, src / name)
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    (whl,) = out.glob("bnreg-*.whl")
    return whl


@pytest.mark.build
def test_wheel_has_a_single_top_level_package(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        top = {n.split("/")[0] for n in names}
        (info,) = [t for t in top if t.endswith(".dist-info")]
        assert top == {"bnreg", info}, top
        assert z.read(f"{info}/top_level.txt").decode().split() == ["bnreg"]
        for sub in ("runtime", "testing", "theory", "sims", "sims/kernels", "sims/nn", "figures", "bench", "demos"):
            assert f"bnreg/{sub}/__init__.py" in names, sub
        assert "bnreg/demos/plot_bn_noise.py" in names  # the demos' one source ships (notebooks, `bnreg demo`)
        entry = z.read(f"{info}/entry_points.txt").decode()
        assert "bnreg = bnreg.cli:run" in entry
        assert "[pytest11]" in entry and "bnreg.testing.plugin = bnreg.testing.plugin" in entry


@pytest.mark.build
def test_installed_wheel_imports_only_bnreg(wheel, tmp_path):
    """Installed (not editable), away from the checkout: `bnreg.*` works and `import theory`,
    `import sims`, `import figures` do not (they would shadow unrelated PyPI projects)."""
    site = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    code = (
        "import importlib.util, json, bnreg\n"
        "v = bnreg.evaluate('simple_error', M=32, exact=True)\n"
        "print(json.dumps({'file': bnreg.__file__, 'value': v, 'version': bnreg.__version__,\n"
        "  'others': [m for m in ('theory', 'sims', 'figures', 'bench')\n"
        "             if importlib.util.find_spec(m) is not None]}))\n")
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert Path(res["file"]).is_relative_to(site)
    assert res["others"] == []
    assert res["version"] == bnreg.__version__
    assert res["value"] == pytest.approx(0.0473064792, rel=1e-9)


@pytest.mark.build
def test_installed_wheel_runs_a_demo(wheel, tmp_path):
    """A plain (non-editable) install runs `bnreg demo` and writes the notebook from the installed
    percent script (the demos' one source ships inside the wheel)."""
    site = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-m", "bnreg", "demo", "bn_noise", "--quick", "--save", str(tmp_path / "d")],
                         capture_output=True, text=True, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("== demo bn_noise (quick)") and (tmp_path / "d" / "bn_noise.png").is_file()
    out = subprocess.run([sys.executable, "-m", "bnreg", "demo", "variance_shift", "--notebook", str(tmp_path / "nb")],
                         capture_output=True, text=True, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "nb" / "plot_variance_shift.ipynb").read_text())["cells"]


def test_version_lives_in_one_place():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in meta["project"] and "version" in meta["project"]["dynamic"]
    assert meta["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "bnreg.__version__"}
    from importlib.metadata import version

    assert version("bnreg") == bnreg.__version__


def test_import_bnreg_is_light():
    """`import bnreg` does not pull in numba, sympy or matplotlib (the API imports lazily)."""
    code = "import sys, bnreg; print(sorted(m for m in ('numba', 'sympy', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_public_api_formulas_and_evaluate():
    fs = bnreg.formulas()
    assert "simple_error" in fs and "zeta" in fs and "gen_error_ridge" in fs
    assert bnreg.evaluate("simple_error", M=32) == pytest.approx(3 / 64)
    assert bnreg.evaluate("batch_mean_var", M="4", sigma="2") == pytest.approx(1.0)  # strings parse
    with pytest.raises(ParameterError, match="M"):
        bnreg.evaluate("simple_error", M=1)
    with pytest.raises(ParameterError, match="unknown formula"):
        bnreg.evaluate("no_such_formula")


def test_public_api_derivations_and_verify():
    assert "simple_error" in bnreg.derivations()
    (r,) = bnreg.verify(only="batch_mean_var", scale="quick")
    assert r.check.name == "batch_mean_var" and r.passed
    with pytest.raises(ParameterError, match="matches no check"):
        bnreg.verify(only="no_such_check")
    with pytest.raises(ParameterError, match="scale"):
        bnreg.verify(only="batch_mean_var", scale="huge")


def test_public_api_make_figures(tmp_path):
    assert "simple_error" in bnreg.figure_names()
    (r,) = bnreg.make_figures("mp_law", scale="quick", out=str(tmp_path), progress=False)
    assert r["status"] == "written" and (tmp_path / "mp_law.csv").exists()
    with pytest.raises(ParameterError, match="unknown figure"):
        bnreg.make_figures(["mp_law", "nope"], scale="quick", out=str(tmp_path))


def test_python_dash_m_bnreg_is_the_command():
    out = subprocess.run([sys.executable, "-m", "bnreg", "eval", "simple_error", "M=32"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and float(out.stdout) == pytest.approx(3 / 64)

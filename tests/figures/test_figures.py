"""End-to-end tests of figure generation (figures/run.py make_figure) at the quick scale."""

from __future__ import annotations

import csv
import importlib
import json
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from bnreg.figures.run import make_figure
from bnreg.theory.distributions import FAMILIES

COLUMNS = {
    "simple_error": ["M", "mc", "se", "n", "exact", "asymptotic", "order2"],
    "batch_stats": ["panel", "family", "M", "rho", "x", "y", "yerr", "theory"],
    "gamma_decay": ["case", "M", "where", "gamma", "mc", "se", "first_mc", "second_mc", "luo2019", "luo2019_sigmoid",
                    "derived", "derived2"],
    "gamma_shrinkage": ["case", "M", "ratio", "se", "zeta", "derived", "exact"],
}
EXTS = ("png", "pdf", "csv", "json")


def outputs(out: Path, name: str) -> list[Path]:
    return [out / f"{name}.{ext}" for ext in EXTS]


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as fh:
        rd = csv.DictReader(fh)
        return list(rd.fieldnames or []), list(rd)


def exact_simple_error(M: int) -> float:
    """2 - 2 sqrt(2/M) Gamma(M/2)/Gamma((M-1)/2) for Gaussian input, via lgamma."""
    return 2.0 - 2.0 * math.sqrt(2.0 / M) * math.exp(math.lgamma(M / 2) - math.lgamma((M - 1) / 2))


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, dict[str, dict]]:
    """Both figures built once at the quick scale; tests that modify outputs work on a copy."""
    out = tmp_path_factory.mktemp("figs")
    results = {n: make_figure(n, scale="quick", out=out, progress=False) for n in COLUMNS}
    return out, results


def copy_of(built, tmp_path: Path) -> Path:
    dst = tmp_path / "figs"
    shutil.copytree(built[0], dst)
    return dst


@pytest.mark.figures
@pytest.mark.parametrize("name", list(COLUMNS))
def test_outputs_exist_and_are_documented(built, name):
    out, results = built
    r = results[name]
    assert r["name"] == name and r["status"] == "written"
    assert [Path(f).name for f in r["files"]] == [f"{name}.{e}" for e in EXTS]
    for f in outputs(out, name):
        assert f.exists() and f.stat().st_size > 0, f

    cols, rows = read_csv(out / f"{name}.csv")
    assert cols == COLUMNS[name]
    assert rows and all(len(row) == len(cols) and None not in row.values() for row in rows)

    js = json.loads((out / f"{name}.json").read_text())
    for k in ("figure", "scale", "spec", "seed", "provenance"):
        assert k in js, k
    assert js["figure"] == name and js["scale"] == "quick" and js["seed"] == 2019
    # defaults: one worker with all the cores' threads, serially
    assert js["workers"] == 1 and js["threads"] == (os.cpu_count() or 1) and js["backend"] == "serial"
    mod = importlib.import_module(f"bnreg.figures.{name}")
    assert js["spec"] == json.loads(json.dumps(mod.SCALES["quick"]))
    for k in ("numpy", "numba", "git_revision"):
        assert k in js["provenance"], k
    assert js["csv_columns"] == COLUMNS[name]


@pytest.mark.figures
def test_simple_error_csv_matches_closed_form_and_mc(built):
    out, _ = built
    from bnreg.figures.simple_error import SCALES

    _, rows = read_csv(out / "simple_error.csv")
    Ms = [int(r["M"]) for r in rows]
    assert Ms == list(SCALES["quick"]["Ms"])
    for r in rows:
        M = int(r["M"])
        exact = exact_simple_error(M)
        assert float(r["exact"]) == pytest.approx(exact, rel=1e-10), M
        assert float(r["asymptotic"]) == pytest.approx(3 / (2 * M), rel=1e-12), M
        assert float(r["order2"]) == pytest.approx(3 / (2 * M) + 7 / (16 * M**2), rel=1e-12), M
        se = float(r["se"])
        assert 0 < se < 0.05 * exact, M
        assert int(r["n"]) > 0
        # 5 SE two-sided per point gives a false-alarm rate < 1e-5 over the quick grid
        # (2 * P(Z > 5) = 5.7e-7 per point, times 7 points = 4e-6).
        assert abs(float(r["mc"]) - exact) < 5 * se, (M, r["mc"], exact, se)


@pytest.mark.figures
def test_batch_stats_csv_content(built):
    out, _ = built
    from bnreg.figures.batch_stats import SCALES

    _, rows = read_csv(out / "batch_stats.csv")
    panels = {r["panel"] for r in rows}
    assert panels == {"M_var_sigmaB", "M_var_muB", "M_bias_sigmaB", "hist_sigmaB"}
    assert {r["family"] for r in rows} == set(FAMILIES)
    spec = SCALES["quick"]
    assert {int(r["M"]) for r in rows} == set(spec["Ms"]) | {spec["hist_M"]}
    for r in rows:
        rho = float(r["rho"])
        if r["panel"] == "M_var_sigmaB":
            assert float(r["theory"]) == pytest.approx((rho + 2) / 4)
        elif r["panel"] == "M_var_muB":
            assert float(r["theory"]) == 1.0
        elif r["panel"] == "M_bias_sigmaB":
            assert float(r["theory"]) == pytest.approx((rho + 6) / 8)
    laplace = [float(r["rho"]) for r in rows if r["family"] == "laplace"]
    assert laplace and all(rho == pytest.approx(3.0) for rho in laplace)
    hist = [r for r in rows if r["panel"] == "hist_sigmaB"]
    assert len(hist) == len(FAMILIES) * spec["bins"]


@pytest.mark.figures
@pytest.mark.parametrize("name", list(COLUMNS))
def test_second_call_is_up_to_date(built, name):
    out, _ = built
    before = {f: f.stat().st_mtime_ns for f in outputs(out, name)}
    t0 = time.perf_counter()
    r = make_figure(name, scale="quick", out=out, progress=False)
    elapsed = time.perf_counter() - t0
    assert r["status"] == "up to date"
    assert elapsed < 1.0
    assert {f: f.stat().st_mtime_ns for f in outputs(out, name)} == before


def _refuse(*args, **kwargs):
    raise AssertionError("a simulation was called although every point is cached")


@pytest.mark.figures
@pytest.mark.parametrize("name", list(COLUMNS))
def test_incomplete_outputs_recompute_from_point_cache(built, tmp_path, monkeypatch, name):
    out = copy_of(built, tmp_path)
    csv_before = (out / f"{name}.csv").read_text()
    (out / f"{name}.png").unlink()
    # every MC point is cached, so the simulation must not run again
    mod = importlib.import_module(f"bnreg.figures.{name}")
    sims = [k for k in vars(mod) if k.startswith("simulate_")]
    assert sims
    for k in sims:
        monkeypatch.setattr(mod, k, _refuse)
    r = make_figure(name, scale="quick", out=out, progress=False)
    assert r["status"] == "written"
    for f in outputs(out, name):
        assert f.exists(), f
    assert (out / f"{name}.csv").read_text() == csv_before  # same cached numbers


@pytest.mark.figures
def test_changed_spec_is_not_up_to_date(built, tmp_path, monkeypatch):
    out = copy_of(built, tmp_path)
    # a different seed changes the spec recorded in the JSON sidecar: the figure is rebuilt
    monkeypatch.setattr("bnreg.figures.simple_error.simulate_batch_stats", _refuse)
    with pytest.raises(AssertionError, match="was called"):
        make_figure("simple_error", scale="quick", out=out, seed=7, progress=False)


@pytest.mark.figures
def test_force_recomputes(built, tmp_path, monkeypatch):
    out = copy_of(built, tmp_path)
    import bnreg.figures.simple_error as se_mod

    real = se_mod.simulate_batch_stats
    calls = []

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(se_mod, "simulate_batch_stats", counting)
    r = make_figure("simple_error", scale="quick", out=out, force=True, progress=False)
    assert r["status"] == "written"
    assert len(calls) == len(se_mod.SCALES["quick"]["Ms"])  # every point recomputed, cache ignored
    # same seed -> same numbers
    _, old = read_csv(built[0] / "simple_error.csv")
    _, new = read_csv(out / "simple_error.csv")
    np.testing.assert_allclose([float(r["mc"]) for r in new], [float(r["mc"]) for r in old], rtol=1e-12)

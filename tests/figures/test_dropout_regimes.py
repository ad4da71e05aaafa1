"""dropout_regimes (figures/dropout_regimes.py; docs/dropout.md, part 3): the classification of the map,
the choice of the swept cells and the paired differences on synthetic runs (no training), the MDE
formula, and a quick-scale build."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from scipy import stats

import bnreg.sims.nn.sweep as S
from bnreg.figures import dropout_regimes as DR
from bnreg.figures.run import make_figure
from bnreg.runtime import PointCache


def test_mde_is_the_t_power_formula():
    assert DR.mde(0.1, 6) == pytest.approx((stats.t.ppf(0.975, 5) + stats.t.ppf(0.8, 5)) * 0.1)
    assert math.isnan(DR.mde(0.1, 1))


def test_map_classes_and_swept_cells_on_synthetic_runs(monkeypatch):
    """Standard dropout adds +0.1 test accuracy at n_train = 256 and -0.1 at 4000 (seed noise 0.01): the
    small cells are overfitting, the large ones underfitting, and the sweeps go to one of each."""

    def fake(cfg):
        rng = np.random.default_rng(cfg.seed % 10_000 + int(cfg.p_drop * 100) + cfg.n_train)
        on = cfg.p_drop > 0 and cfg.dropout != "none"
        acc = 0.6 + (0.1 if cfg.n_train == 256 else -0.1) * on + 0.01 * rng.standard_normal()
        out = {"diverged": False, "diverged_step": -1, "wall_time_s": 0.0, "epoch": np.array([1.0]),
               "train_loss": np.array([0.5 + 0.2 * on]), "val_loss": np.array([1.0]), "train_acc": np.array([0.9]),
               "val_acc": np.array([acc]), "gamma2_layers": np.array([], dtype=str)}
        if cfg.grad_diag_every:
            for k in ("step",) + DR.DIAGS + ("grad_norm", "mb_grad_norm", "dist_init"):
                out[f"grad_diag:{k}"] = np.array([0.1 * on, 0.2 * on])
        return out

    monkeypatch.setattr(S, "run_point", fake)
    spec = {**DR.SCALES["quick"], "seeds": 4}
    d = DR.compute(spec, 3, PointCache(None), progress=False)
    kind, q = d["kind"].astype(str), d["quantity"].astype(str)
    m = (kind == "map") & (q == "val_acc")
    for n, cls, sign in ((256, "overfitting", 1), (2048, "underfitting", -1)):
        sel = m & (d["n_train"].astype(float) == n)
        assert set(d["cls"][sel]) == {cls}
        assert np.all(np.abs(d["value"][sel].astype(float) - 0.1 * sign) < 0.05)
    sw = kind == "sweep"
    assert set(d["schedule"][sw]) == {"standard", "early", "late"}
    early = sw & (d["schedule"] == "early") & (q == "train_loss") & (d["reference"] == "none")
    assert np.allclose(d["value"][early].astype(float), 0.2)  # the fake's dropout cost, paired exactly
    diag = kind == "diag"
    assert set(q[diag]) == set(DR.DIAGS)
    assert np.allclose(d["value"][diag].astype(float), 0.15)  # mean of (0.1, 0.2) with, 0 without


@pytest.mark.figures
def test_quick_build(tmp_path):
    res = make_figure("dropout_regimes", scale="quick", out=tmp_path, progress=False)
    assert res["status"] == "written"
    with open(tmp_path / "dropout_regimes.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert set(DR.COLUMNS) <= set(rows[0])
    spec = DR.SCALES["quick"]
    maps = [r for r in rows if r["kind"] == "map"]
    assert len(maps) == 2 * len(spec["capacities"]) * len(spec["n_trains"])
    for r in maps:
        v, se, n = float(r["value"]), float(r["se"]), int(r["n"])
        assert math.isfinite(v) and math.isfinite(se) and n == spec["seeds"]
        t = stats.t.ppf(0.975, n - 1)
        expect = "overfitting" if v > t * se else "underfitting" if v < -t * se else "unresolved"
        if r["quantity"] == "val_acc":
            assert r["cls"] == expect

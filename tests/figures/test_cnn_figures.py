"""Quick-scale smoke tests of the CNN figures (cnn_norms, cnn_batch_size, cnn_dropout, dropout_schedules,
dropout_gradients): every output
written, the documented columns, mean ± SE over the stated number of seeds, nothing non-finite
plotted, and diverged runs dropped from the plotted data."""

from __future__ import annotations

import csv
import importlib
import json
import math

import numpy as np
import pytest

import bnreg.sims.nn.sweep as S
from bnreg.figures.run import make_figure
from bnreg.params import ParameterError
from bnreg.runtime import PointCache

COLUMNS = {
    "cnn_norms": ["method", "epoch", "train_loss", "train_loss_se", "val_loss", "val_loss_se", "gap", "gap_se",
                  "val_acc", "val_acc_se", "n_seeds", "n_diverged", "final"],
    "cnn_batch_size": ["budget", "config", "batch", "lr", "gamma_layer", "gamma2", "gamma2_se", "d_gamma2",
                       "d_gamma2_se", "gap", "gap_se", "d_gap", "d_gap_se"],
    "cnn_dropout": ["epochs", "config", "norm", "batch", "p_drop", "place", "n_seeds", "n_diverged", "val_acc",
                    "val_acc_se", "d_val_acc", "d_val_acc_se", "d0_val_acc", "d0_val_acc_se", "gap", "gap_se"],
    "dropout_schedules": ["regime", "schedule", "p_drop", "n_seeds", "n_diverged", "train_loss", "train_loss_se",
                          "val_acc", "val_acc_se", "d_train_loss", "d_train_loss_se", "d_val_acc", "d_val_acc_se"],
    "dropout_gradients": ["regime", "config", "iteration", "gdv", "gdv_se", "gde", "gde_se", "grad_norm",
                          "grad_norm_se", "dist_init", "dist_init_se", "n_seeds"],
}
# the quantities each figure plots (rows with n_seeds > 0); gamma2 only where a BN layer exists
PLOTTED = {"cnn_norms": ["train_loss", "val_loss", "gap"], "cnn_batch_size": ["gap"],
           "cnn_dropout": ["val_acc", "val_loss", "gap"],
           "dropout_schedules": ["train_loss", "val_acc", "d_train_loss"],
           "dropout_gradients": ["gdv", "gde", "grad_norm", "dist_init"]}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("cnnfigs")
    return out, {n: make_figure(n, scale="quick", out=out, progress=False) for n in COLUMNS}


@pytest.mark.figures
@pytest.mark.parametrize("name", list(COLUMNS))
def test_outputs_columns_and_finite(built, name):
    out, res = built
    assert res[name]["status"] == "written"
    for ext in ("png", "pdf", "csv", "json"):
        assert (out / f"{name}.{ext}").stat().st_size > 0
    with open(out / f"{name}.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert set(COLUMNS[name]) <= set(rows[0])
    spec = importlib.import_module(f"bnreg.figures.{name}").SCALES["quick"]
    meta = json.loads((out / f"{name}.json").read_text())
    assert meta["spec"]["seeds"] == spec["seeds"] and meta["scale"] == "quick"
    live = [r for r in rows if int(r["n_seeds"]) > 0]
    assert live and all(int(r["n_seeds"]) == spec["seeds"] for r in live)
    for r in live:
        for k in PLOTTED[name]:
            assert math.isfinite(float(r[k])) and math.isfinite(float(r[k + "_se"])), (k, r)
    if name == "cnn_batch_size":
        bn = [r for r in live if r["gamma_layer"] != "-"]
        assert bn and all(float(r["gamma2"]) > 0 for r in bn)
        ref = [r for r in live if int(r["batch"]) == min(spec["batches"])]
        assert all(float(r["d_gap"]) == 0 for r in ref)  # paired difference to itself


def test_diverged_runs_are_not_plotted_and_se_is_over_seeds(monkeypatch):
    """Aggregation with synthetic runs (no training): every WN run diverges -> counted, not plotted;
    the gap of the others is the mean and SE (ddof 1) over the seeds of val - train loss."""
    gaps = {}

    def fake(cfg):
        rng = np.random.default_rng(cfg.seed % 1000 + len(cfg.norm))
        tl = np.array([2.3, 1.0, 0.5]) * rng.uniform(0.5, 1.5)
        vl = tl + rng.uniform(0.1, 0.5)
        gaps.setdefault(cfg.norm + str(cfg.gamma_decay), []).append(vl[-1] - tl[-1])
        div = cfg.norm == "wn"
        nan = np.full(3, np.nan)
        return {"diverged": div, "diverged_step": 5 if div else -1, "wall_time_s": 0.0, "epoch": np.arange(3.0),
                "train_loss": nan if div else tl, "val_loss": nan if div else vl, "train_acc": np.ones(3),
                "val_acc": np.ones(3), "gamma2_layers": np.array([], dtype=str)}

    monkeypatch.setattr(S, "run_point", fake)
    mod = importlib.import_module("bnreg.figures.cnn_norms")
    spec = {**mod.SCALES["quick"], "seeds": 3}
    d = mod.compute(spec, 7, PointCache(None), progress=False)
    wn = d["method"] == "wn"
    assert wn.any() and np.all(d["n_seeds"][wn] == 0) and np.all(d["n_diverged"][wn] == 3)
    other = ~wn
    assert np.all(np.isfinite(d["gap"][other])) and np.all(d["n_diverged"][other] == 0)
    bn_final = (d["method"] == "bn") & d["final"]
    g = np.array(gaps["bnNone"])
    assert d["gap"][bn_final][0] == pytest.approx(g.mean())
    assert d["gap_se"][bn_final][0] == pytest.approx(g.std(ddof=1) / np.sqrt(3))
    fig = mod.plot(d)
    ax_gap = fig.axes[2]
    assert len(ax_gap.patches) == len(mod.METHODS) - 1  # one bar per method that has data
    assert any("all seeds diverged: wn" in t.get_text() for t in ax_gap.texts)


def test_sweep_records_are_the_cache_key(tmp_path, monkeypatch):
    """A sweep point is a keyword record of CNNConfig fields; the cache key is the normalized
    record (in the figures' shared cache, `PointCache.shared`: any figure naming the same run
    reuses it), so records naming the same run (in any spelling) train once and a finished sweep
    is read back from the cache without training."""
    calls = []

    def fake(cfg):
        calls.append(cfg)
        return {"diverged": False, "val_loss": np.array([float(cfg.seed)])}

    monkeypatch.setattr(S, "run_point", fake)
    cache = PointCache(tmp_path / "figX", salt="figure-source")
    recs = [{"norm": "bn", "seed": 3, "widths": [4, 4]}, {"norm": "bn", "seed": 3, "widths": (4, 4), "fc": 512},
            {"norm": "pn", "seed": 4}]
    res = S.run_configs(recs, cache, "figX", progress=False)
    assert len(calls) == 2 and [float(r["val_loss"][0]) for r in res] == [3.0, 3.0, 4.0]
    assert not (tmp_path / "figX").exists()  # runs live in the shared cache, not the figure's
    keys = sorted((json.loads(p.read_text()) for p in (tmp_path / "_shared").glob("*.json")), key=lambda k: k["seed"])
    assert [(k["run"], k["seed"], k["norm"]) for k in keys] == [("cnn", 3, "bn"), ("cnn", 4, "pn")]
    assert all("figure" not in k for k in keys)
    assert keys[0]["widths"] == [4, 4] and keys[0]["lr"] == 0.02  # every field, normalized
    grouped = S.run_groups({"a": recs[:2], "b": recs[2:]}, cache, "figX", progress=False)
    assert len(calls) == 2 and [len(v) for v in grouped.values()] == [2, 1]
    with pytest.raises(ParameterError, match="unknown config key 'sede'"):
        S.run_configs([{"sede": 1}], cache, "figX", progress=False)



@pytest.mark.parametrize("norm, p_drop, place", [("bn", 0.125, "before"), ("bn", 0.125, "after"), ("wn", 0.25, "after"),
                                                  ("bn", 0.0, "after")])
def test_shorter_budget_read_off_the_longer_run_is_bit_identical(norm, p_drop, place):
    """cnn_dropout takes its shorter training budget from the longer run (`truncate_run`): the final
    values must equal a separate shorter run exactly (constant schedules: training up to the shorter
    end is the same), for the figure's own records (each budget with its own eval_every)."""
    from bnreg.sims.nn.config import CNNConfig

    def cfg(epochs: int) -> CNNConfig:
        spe = 256 // 32
        return CNNConfig(dataset="mnist1d", n_train=256, n_val=128, widths=(2, 2, 4, 4), fc=8, batch=32, lr=0.05,
                         momentum=0.9, norm=norm, dropout="bernoulli" if p_drop else "none", p_drop=p_drop,
                         dropout_place=place, epochs=epochs, eval_every=max(1, epochs * spe // 4), seed=5)

    short, long = S.run_point(cfg(2)), S.run_point(cfg(4))
    cut = S.truncate_run(long, 2, 256 // 32)
    assert bool(cut["diverged"]) == bool(short["diverged"])
    for k in ("train_loss", "val_loss", "train_acc", "val_acc"):
        assert cut[k][-1] == short[k][-1], k
    assert long["val_loss"][-1] != short["val_loss"][-1]  # power: the longer run itself differs
    with pytest.raises(ParameterError, match="evaluation point"):
        S.truncate_run(long, 1.5, 256 // 32)


def test_reuse_longer_reads_only_safe_runs_off_longer_ones(tmp_path):
    """run_configs(reuse_longer=True): the 2-epoch run is read off the 4-epoch one (same finals as
    training it), but not under a cosine schedule (its steps depend on the total) nor when its end is
    not an evaluation of the longer run."""
    from bnreg.sims.nn.config import CNNConfig

    rec = dict(dataset="mnist1d", n_train=256, n_val=128, widths=(2, 2, 4, 4), fc=8, batch=32, lr=0.05, norm="bn",
               seed=5)
    short, long = {**rec, "epochs": 2, "eval_every": 4}, {**rec, "epochs": 4, "eval_every": 8}
    a = S.run_configs([short, long], PointCache(tmp_path / "a"), "t", reuse_longer=True)
    b = S.run_configs([short], PointCache(tmp_path / "b"), "t")
    for k in ("train_loss", "val_loss", "val_acc"):
        assert a[0][k][-1] == b[0][k][-1]
    cfgs = {str(i): CNNConfig.from_dict(r) for i, r in enumerate(
        [short, long, {**short, "lr_schedule": "cosine"}, {**long, "lr_schedule": "cosine"},
         {**short, "epochs": 3, "seed": 6}, {**long, "eval_every": 16, "seed": 6}])}
    assert S._longer_runs(cfgs) == {"0": "1"}

"""Many CNN runs (configs x seeds) for the figures, cached per finished run (docs/cnn.md).

A sweep point is a *record*: a JSON-able dict of `CNNConfig` fields (the seed included), e.g.
``{"dataset": "mnist1d", "norm": "bn", "batch": 64, "seed": 7}``; fields left out take their
defaults.  `run_configs` validates every record before any work (the one validation of each
run) and caches each finished run under the key ``{"figure": figure, "v": CACHE_VERSION,
**record}`` with the record normalized (every field, validated), so records that describe the
same run train once.  `mean_se` aggregates over seeds.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from bnreg.sims.executor import PointCache, sweep

from .config import CNNConfig
from .train import train

__all__ = ["CACHE_VERSION", "run_point", "run_configs", "run_groups", "mean_se"]

CACHE_VERSION = 4  # 4: one CNNConfig (records hold every config field); 3: PN evaluated on a refreshed copy


def run_point(cfg: CNNConfig) -> dict[str, Any]:
    """Train `cfg` (validated by `run_configs`) with 1 thread (runs go to processes) and no
    progress bar.  Returns its metrics flattened into arrays (the cache stores
    arrays, no pickle): "diverged", "diverged_step" (-1 if not), "wall_time_s", the curves "epoch",
    "train_loss", "val_loss", "train_acc", "val_acc", "gamma2_layers" and "gamma2:LAYER" per
    normalized layer."""
    r = train(cfg, progress=False, threads=1)
    c = r["curves"]
    out: dict[str, Any] = {
        "diverged": r["diverged"], "diverged_step": -1 if r["diverged_step"] is None else r["diverged_step"],
        "wall_time_s": r["wall_time_s"], "epoch": np.array(c["epoch"], float),
        "train_loss": np.array(c["train_loss"], float), "val_loss": np.array(c["val_loss"], float),
        "train_acc": np.array(c["train_acc"], float), "val_acc": np.array(c["val_acc"], float),
        "gamma2_layers": np.array(list(r["gamma2"]), dtype=str),
    }
    for layer, v in r["gamma2"].items():
        out[f"gamma2:{layer}"] = np.array(v, float)
    return out


def run_configs(records: Sequence[Mapping[str, Any]], cache: PointCache, figure: str, **sweep_kw: Any) -> list[dict]:
    """Train every record through `sims.executor.sweep` (serially, on processes or on Dask).

    Parameters: `records` dicts of CNNConfig fields (module docstring), all validated before any
    run starts (ParameterError names the bad field); `cache` where finished runs are kept (an
    interrupted sweep resumes); `figure` the name in every cache key (and the progress bar);
    `sweep_kw` passed to `sweep` (jobs, backend, address, progress).  Returns one dict of arrays
    per record, in order (see `run_point`); a run listed twice trains once."""
    cfgs = [CNNConfig.from_dict(r).validated() for r in records]
    keys = [json.dumps(c.to_dict(), sort_keys=True) for c in cfgs]
    unique = list(dict.fromkeys(keys))  # a run listed twice (shared reference runs) trains once
    first = {k: cfgs[keys.index(k)] for k in unique}
    res = sweep(run_point, [first[k] for k in unique], lambda c: {"figure": figure, "v": CACHE_VERSION, **c.to_dict()},
                cache, desc=figure, **sweep_kw)
    by_key = dict(zip(unique, res, strict=True))
    return [by_key[k] for k in keys]


def run_groups(groups: Mapping[Hashable, Sequence[Mapping[str, Any]]], cache: PointCache, figure: str,
               **sweep_kw: Any) -> dict[Hashable, list[dict]]:
    """`run_configs` over the records of every group (e.g. label -> one record per seed) in one
    sweep.  Returns the results grouped the same way: label -> list of result dicts, in record order."""
    labels = list(groups)
    flat = [rec for g in labels for rec in groups[g]]
    res = iter(run_configs(flat, cache, figure, **sweep_kw))
    return {g: [next(res) for _ in groups[g]] for g in labels}


def mean_se(values: Any) -> tuple[float, float, int]:
    """Mean, standard error (sample sd / sqrt(n), ddof = 1) and n of the finite `values`; se is NaN
    for n < 2 and both are NaN for n = 0.  Returns (mean, se, n)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), 0
    se = float(np.std(v, ddof=1) / np.sqrt(v.size)) if v.size > 1 else float("nan")
    return float(np.mean(v)), se, int(v.size)

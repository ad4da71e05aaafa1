"""Many CNN runs (configs x seeds) for the figures, cached per finished run (docs/cnn.md).

A sweep point is a *record*: a JSON-able dict of `CNNConfig` fields (the seed included), e.g.
``{"dataset": "mnist1d", "norm": "bn", "batch": 64, "seed": 7}``; fields left out take their
defaults.  `run_configs` turns every record into a `CNNConfig` (validated at construction) before
any work and caches each finished run under the key ``{"run": "cnn", "v": CACHE_VERSION,
**record}`` with the record normalized (every field), so records that describe the
same run train once, in the figures' shared cache (`PointCache.shared`): a run two figures need
(the trained networks of variance_shift_layers and variance_shift_fixes) trains once.  `mean_se` aggregates over seeds.

The point function is `run_point` (curves) by default; `run_shift_point` (a run plus the
variance-shift diagnostics of the trained model, sims.nn.diagnostics) is selected with
``point=run_shift_point``, which adds ``"point": "shift"`` to the cache key.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from bnreg.errors import ParameterError
from bnreg.runtime import PointCache, sweep, thread_limits

from .config import CNNConfig
from .data import load_dataset
from .diagnostics import bn_shift_per_layer, reestimate_bn_statistics, train_vs_inference
from .train import evaluate, train, train_model

__all__ = ["CACHE_VERSION", "run_point", "run_shift_point", "run_configs", "run_groups", "mean_se", "truncate_run"]

CACHE_VERSION = 5  # 5: gradient diagnostics; 4: one CNNConfig (records hold every config field); 3: PN on a copy


def run_point(cfg: CNNConfig) -> dict[str, Any]:
    """Train `cfg` with 1 thread (runs go to processes) and no progress bar.  Returns its metrics
    flattened into arrays (the cache stores arrays, no pickle): "diverged", "diverged_step" (-1 if
    not), "wall_time_s", the curves "epoch", "train_loss", "val_loss", "train_acc", "val_acc",
    "gamma2_layers" and "gamma2:LAYER" per normalized layer, and "grad_diag:KEY" (step, gdv, gde,
    grad_norm, mb_grad_norm, dist_init) when cfg.grad_diag_every > 0."""
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
    for k, v in r.get("grad_diagnostics", {}).items():  # only with grad_diag_every > 0
        out[f"grad_diag:{k}"] = np.array(v, float)
    return out


def truncate_run(result: Mapping[str, Any], epochs: float, steps_per_epoch: int) -> dict[str, Any]:
    """The `run_point` result of the same config trained for only `epochs` epochs, read off a longer
    run: its curves up to that epoch (which must be an evaluation point of the longer run), diverged
    only if the longer run diverged by then.  Valid when training is identical up to that epoch: a
    constant learning-rate and dropout schedule (nothing depends on the total length); then the final
    values are bit-identical to a separate shorter run (tests/figures/test_cnn_figures.py).  The gradient
    diagnostics are not truncated."""
    ep = np.asarray(result["epoch"], float)
    keep = ep <= epochs + 1e-9
    if not np.any(np.isclose(ep[keep], epochs)) and not bool(result["diverged"]):
        raise ParameterError(f"epochs must be an evaluation point of the longer run (got {epochs})")
    out = {k: (np.asarray(v)[keep] if k in ("epoch", "train_loss", "val_loss", "train_acc", "val_acc")
               or k.startswith("gamma2:") else v) for k, v in result.items()}
    div_step = int(result["diverged_step"])
    diverged = bool(result["diverged"]) and div_step <= round(epochs * steps_per_epoch)
    out["diverged"], out["diverged_step"] = diverged, div_step if diverged else -1
    return out


def run_shift_point(cfg: CNNConfig) -> dict[str, Any]:
    """Train `cfg` (a BN network; 1 thread, no progress bar) and diagnose the trained model
    (sims.nn.diagnostics; docs/variance_shift.md, "Trained networks").  Returns arrays:
    "diverged", "wall_time_s"; inference-mode "train_acc" and "test_acc" (the validation split,
    never used for any choice); per BN layer on the training set "layers", "var_ratio",
    "mean_shift2", "real_var", "running_var" (`bn_shift_per_layer`); training mode vs inference mode
    on the training set "train_mode_acc", "flips_to_wrong", "flips_to_right" (`train_vs_inference`,
    batches of cfg.batch, seed cfg.seed); after `reestimate_bn_statistics` on the training set
    (batches of cfg.batch, dropout off) "reest_train_acc", "reest_test_acc", "reest_var_ratio" per
    layer and "reest_flips_to_wrong", "reest_flips_to_right" (training mode is unchanged by the
    re-estimation: the same seed gives the same training-mode predictions).  A diverged run has NaN
    metrics (NaN, flip counts too)."""
    data = load_dataset(cfg.dataset, cfg.n_train, cfg.n_val, cfg.split_seed, cfg.data_dir)
    r, model = train_model(cfg, progress=False, data=data, threads=1)
    out: dict[str, Any] = {"diverged": r["diverged"], "wall_time_s": r["wall_time_s"]}
    names = [n.name for n in model.norms if n.kind == "bn"]
    out["layers"] = np.array(names, dtype=str)
    nan = np.full(len(names), np.nan)
    if r["diverged"]:
        return {**out, "train_acc": np.nan, "test_acc": np.nan, "var_ratio": nan, "mean_shift2": nan,
                "real_var": nan, "running_var": nan, "train_mode_acc": np.nan, "flips_to_wrong": np.nan,
                "flips_to_right": np.nan, "reest_train_acc": np.nan, "reest_test_acc": np.nan, "reest_var_ratio": nan,
                "reest_flips_to_wrong": np.nan, "reest_flips_to_right": np.nan}
    xt, yt = data.x_train, data.y_train
    with thread_limits(1):
        sh = bn_shift_per_layer(model, xt)
        tv = train_vs_inference(model, xt, yt, cfg.batch, seed=cfg.seed)
        reestimate_bn_statistics(model, xt, cfg.batch, seed=cfg.seed)
        re = bn_shift_per_layer(model, xt)
        tv_re = train_vs_inference(model, xt, yt, cfg.batch, seed=cfg.seed)
        reest_train = evaluate(model, xt, yt)[1]
        reest_test = evaluate(model, data.x_val, data.y_val)[1]
    return {**out, "train_acc": r["final"]["train_acc"], "test_acc": r["final"]["val_acc"],
            **{k: sh[k] for k in ("var_ratio", "mean_shift2", "real_var", "running_var")},
            "train_mode_acc": tv["train_mode_acc"], "flips_to_wrong": tv["flips_to_wrong"],
            "flips_to_right": tv["flips_to_right"], "reest_train_acc": reest_train, "reest_test_acc": reest_test,
            "reest_var_ratio": re["var_ratio"], "reest_flips_to_wrong": tv_re["flips_to_wrong"],
            "reest_flips_to_right": tv_re["flips_to_right"]}


def run_configs(records: Sequence[Mapping[str, Any]], cache: PointCache, figure: str,
                point: Callable[[CNNConfig], dict[str, Any]] | None = None, reuse_longer: bool = False,
                **sweep_kw: Any) -> list[dict]:
    """Train every record through `bnreg.runtime.sweeps.sweep` (serially, on processes or on Dask).

    Parameters: `records` dicts of CNNConfig fields (module docstring), all validated before any
    run starts (ParameterError names the bad field); `cache` where finished runs are kept (an
    interrupted sweep resumes; the runs go to `cache.shared()`); `figure` the name of the progress bar;
    `point` the function of one run, `run_point` (None, the default) or `run_shift_point`
    (module-level, so that processes can run it); `reuse_longer` (run_point only): a run that differs
    from a longer one only in epochs/eval_every is read off the longer run (`truncate_run`) when its
    end is one of the longer run's evaluations and nothing depends on the total length (constant
    learning-rate and dropout schedules, no gradient diagnostics): its final values are identical,
    its curve has the longer run's evaluation points; `sweep_kw` passed to `sweep` (workers, threads,
    backend, address, progress).
    Returns one dict of arrays per record, in order (see the point function); a run listed twice
    trains once."""
    cfgs = [CNNConfig.from_dict(r) for r in records]
    keys = [json.dumps(c.to_dict(), sort_keys=True) for c in cfgs]
    unique = list(dict.fromkeys(keys))  # a run listed twice (shared reference runs) trains once
    first = {k: cfgs[keys.index(k)] for k in unique}
    longer = _longer_runs(first) if reuse_longer and point is None else {}
    to_run = [k for k in unique if k not in longer]
    extra = {} if point is None else {"point": _POINT_NAMES.get(point, getattr(point, "__name__", "point"))}
    res = sweep(run_point if point is None else point, [first[k] for k in to_run],
                lambda c: {"run": "cnn", "v": CACHE_VERSION, **extra, **c.to_dict()}, cache.shared(), desc=figure,
                cost=run_cost, **sweep_kw)
    by_key = dict(zip(to_run, res, strict=True))
    for k, lk in longer.items():
        c = first[k]
        by_key[k] = truncate_run(by_key[lk], c.epochs, c.n_train // c.batch)
    return [by_key[k] for k in keys]


def _longer_runs(cfgs: Mapping[str, CNNConfig]) -> dict[str, str]:
    """key -> key of the longest config it can be read off (see run_configs, reuse_longer)."""
    def prefix_safe(c: CNNConfig) -> bool:
        return (c.steps is None and c.n_train is not None and c.lr_schedule == "constant"
                and c.dropout_schedule == "constant" and not c.grad_diag_every)

    def base(c: CNNConfig) -> str:
        d = c.to_dict()
        d.pop("epochs"), d.pop("eval_every")
        return json.dumps(d, sort_keys=True)

    out: dict[str, str] = {}
    for k, c in cfgs.items():
        if not prefix_safe(c):
            continue
        spe = c.n_train // c.batch
        cands = [(o.epochs, lk) for lk, o in cfgs.items()
                 if lk != k and prefix_safe(o) and o.epochs > c.epochs and base(o) == base(c)
                 and (c.epochs * spe) % (o.eval_every or spe) == 0]
        if cands:
            out[k] = max(cands)[1]
    return out


def run_groups(groups: Mapping[Hashable, Sequence[Mapping[str, Any]]], cache: PointCache, figure: str,
               point: Callable[[CNNConfig], dict[str, Any]] | None = None, reuse_longer: bool = False,
               **sweep_kw: Any) -> dict[Hashable, list[dict]]:
    """`run_configs` (with its `point` and `reuse_longer`) over the records of every group (e.g.
    label -> one record per seed) in one sweep.  Returns the results grouped the same way: label ->
    list of result dicts, in record order."""
    labels = list(groups)
    flat = [rec for g in labels for rec in groups[g]]
    res = iter(run_configs(flat, cache, figure, point, reuse_longer, **sweep_kw))
    return {g: [next(res) for _ in groups[g]] for g in labels}


_POINT_NAMES = {run_shift_point: "shift"}


def run_cost(cfg: CNNConfig) -> float:
    """A rough relative cost of training `cfg` (for scheduling only: longest runs start first):
    examples x (training passes + evaluations) x the network's width."""
    n_train = cfg.n_train or 8000
    n_val = cfg.n_val or 2000
    spe = max(1, n_train // cfg.batch)
    steps = cfg.steps if cfg.steps is not None else cfg.epochs * spe
    evals = 1 + steps // max(1, cfg.eval_every or spe)
    width = sum(cfg.widths) + sum(cfg.fc if isinstance(cfg.fc, (tuple, list)) else (cfg.fc,)) + 1
    return float(width * (3 * steps * cfg.batch + evals * (n_train + n_val)))


def mean_se(values: Any) -> tuple[float, float, int]:
    """Mean, standard error (sample sd / sqrt(n), ddof = 1) and n of the finite `values`; se is NaN
    for n < 2 and both are NaN for n = 0.  Returns (mean, se, n)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), 0
    se = float(np.std(v, ddof=1) / np.sqrt(v.size)) if v.size > 1 else float("nan")
    return float(np.mean(v)), se, int(v.size)

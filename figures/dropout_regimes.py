"""dropout_regimes: early and late dropout over a map of regimes, not at one design point (Liu, Xu, Jin,
Shen, Darrell, "Dropout Reduces Underfitting", ICML 2023, arXiv:2303.01500; docs/dropout.md, part 3).

1. The map.  MNIST-1D CNNs over capacity (widths x k, k from CAPACITY) x training-set size n_train, every
   cell trained for the same number of SGD steps (compute-matched: small n_train means many epochs)
   with no dropout and with standard dropout at p_map, on the same seeds.  A cell is "overfitting" when
   standard dropout has the higher test accuracy (paired difference > t SE), "underfitting" when no
   dropout has (< -t SE), "unresolved" otherwise (the paper's criterion; t the two-sided 5 % critical value
   with n - 1 df).
2. The sweeps.  In the most clearly underfitting cells, early dropout (p before the cutoff, then 0)
   over p x cutoff; in the most clearly overfitting ones, late dropout (0 before the cutoff, then p);
   each against no dropout and against standard dropout at the same p, paired by seed.  Reported: the
   paired differences of the final training loss and the test accuracy, their SE and the minimum
   detectable effect MDE = (t_{0.975} + t_{0.80}) SE (two-sided 5 %, 80 % power, t with n - 1 df).
3. Gradient diagnostics (sims.nn.diagnostics) over the first `diag_steps` steps, no dropout vs standard
   dropout at p_map, in those cells, in two conventions:
   - "paper": minibatch gradients in training mode (dropout active), error against the full-training-set
     gradient in inference mode (gdv, gde);
   - "train-mode reference": the same minibatch gradients against the full-training-set gradient in
     training mode (gde_train); and the same minibatches with dropout off (gdv_eval, gde_eval).
   Statistic: paired (dropout - none) mean over the diagnostics' records.

Rows by `kind`: "map" (cell: capacity, n_train, d_acc = standard - none test accuracy, its SE, z, class,
train-loss difference), "sweep" (cell, schedule, p, cutoff, reference none|standard, d_train_loss,
d_val_acc, SEs, MDEs, n), "diag" (cell, diagnostic, dropout - none, SE, n).  Nothing is tuned: p_map, the
grids and z were fixed before any run.
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

from bnreg.runtime import PointCache
from bnreg.sims.nn.sweep import mean_se, run_groups

from .cnn_norms import run_seeds

NAME = "dropout_regimes"
TITLE = "Early and late dropout over a map of regimes: capacity x data size on MNIST-1D"
CAPACITY = {1: ((2, 2, 4, 4), 8), 2: ((4, 4, 8, 8), 16), 4: ((8, 8, 16, 16), 32), 8: ((16, 16, 32, 32), 64),
            16: ((32, 32, 64, 64), 128)}
_COMMON = {"dataset": "mnist1d", "momentum": 0.9, "lr_schedule": "cosine", "dropout": "bernoulli",
           "dropout_place": "after", "batch": 32, "lr": 0.03, "n_val": None}
SCALES: dict[str, dict[str, Any]] = {
    "quick": {"seeds": 2, "capacities": (1, 8), "n_trains": (256, 2048), "steps": 200, "p_map": 0.1,
              "ps": (0.1,), "cutoffs": (0.25,), "sweep_cells": 1, "diag_steps": 40, "diag_every": 20,
              "diag_batches": 8},
    "default": {"seeds": 6, "capacities": (2, 8), "n_trains": (256, 4000), "steps": 1000, "p_map": 0.1,
                "ps": (0.1, 0.3), "cutoffs": (0.25,), "sweep_cells": 1, "diag_steps": 150, "diag_every": 50,
                "diag_batches": 16},
    "paper": {"seeds": 16, "capacities": (1, 2, 4, 8, 16), "n_trains": (256, 1024, 4000, 8000), "steps": 3000,
              "p_map": 0.1, "ps": (0.05, 0.1, 0.2, 0.3), "cutoffs": (0.1, 0.25, 0.5), "sweep_cells": 2,
              "diag_steps": 300, "diag_every": 50, "diag_batches": 32},
}
DIAGS = ("gdv", "gde", "gde_train", "gdv_eval", "gde_eval")
COLUMNS = ("kind", "capacity", "n_train", "schedule", "p", "cutoff", "reference", "quantity", "value", "se", "z",
           "mde", "n", "cls")


def record(spec: dict[str, Any], cap: int, n_train: int, schedule: str, p: float, cutoff: float, seed: int,
           **kw: Any) -> dict[str, Any]:
    """The CNNConfig record of one run: cell (capacity, n_train), schedule none|standard|early|late at rate
    p with cutoff (fraction of the steps), the scale's steps, evaluated at the end only."""
    widths, fc = CAPACITY[cap]
    rec = {**_COMMON, "widths": widths, "fc": fc, "n_train": n_train, "steps": spec["steps"], "seed": seed,
           "eval_every": 10**9, "dropout_switch": cutoff}
    if schedule == "none":
        rec.update(dropout="none", p_drop=0.0)
    else:
        rec.update(p_drop=p, dropout_schedule="constant" if schedule == "standard" else schedule)
    return {**rec, **kw}


def _t_crit(n: int) -> float:
    """The two-sided 5 % critical value of a paired t with n - 1 df (inf for n < 2: nothing is resolved)."""
    return float(stats.t.ppf(0.975, n - 1)) if n >= 2 else math.inf


def mde(se: float, n: int) -> float:
    """Minimum detectable paired effect, two-sided 5 %, 80 % power, t with n - 1 df: (t_.975 + t_.80) SE."""
    if n < 2 or not math.isfinite(se):
        return math.nan
    return float((stats.t.ppf(0.975, n - 1) + stats.t.ppf(0.80, n - 1)) * se)


def _paired(a: list[dict], b: list[dict], key: str) -> tuple[float, float, int]:
    """Mean, SE, n of the per-seed final `key` of runs a minus runs b (pairs where neither diverged)."""
    return mean_se([float(x[key][-1]) - float(y[key][-1]) for x, y in zip(a, b, strict=True)
                    if not (bool(x["diverged"]) or bool(y["diverged"]))])


def _row(**kw: Any) -> dict[str, Any]:
    base = dict.fromkeys(COLUMNS, "-")
    base.update(kw)
    return base


def compute(spec: dict[str, Any], seed: int, cache: PointCache, **sweep_kw: Any) -> dict[str, Any]:
    seeds = run_seeds(seed, spec["seeds"])
    cells = [(c, n) for c in spec["capacities"] for n in spec["n_trains"]]
    pm = spec["p_map"]
    groups = {(c, n, s): [record(spec, c, n, s, pm, 0.25, sd) for sd in seeds]
              for c, n in cells for s in ("none", "standard")}
    runs = run_groups(groups, cache, NAME, **sweep_kw)
    rows: list[dict[str, Any]] = []
    z_of: dict[tuple[int, int], float] = {}
    for c, n in cells:
        d, se, k = _paired(runs[(c, n, "standard")], runs[(c, n, "none")], "val_acc")
        dl, sel, _ = _paired(runs[(c, n, "standard")], runs[(c, n, "none")], "train_loss")
        z = d / se if se > 0 else math.nan
        z_of[(c, n)] = z / _t_crit(k)  # > 1: resolved
        cls = "overfitting" if z_of[(c, n)] > 1 else "underfitting" if z_of[(c, n)] < -1 else "unresolved"
        rows.append(_row(kind="map", capacity=c, n_train=n, schedule="standard", p=pm, reference="none",
                         quantity="val_acc", value=d, se=se, z=z, mde=mde(se, k), n=k, cls=cls))
        rows.append(_row(kind="map", capacity=c, n_train=n, schedule="standard", p=pm, reference="none",
                         quantity="train_loss", value=dl, se=sel, z=dl / sel if sel > 0 else math.nan,
                         mde=mde(sel, k), n=k, cls=cls))
    # the sweeps: early dropout where no dropout generalizes best, late where standard dropout does
    ranked = sorted(z_of, key=lambda cell: z_of[cell])
    under = [cell for cell in ranked if z_of[cell] < -1][:spec["sweep_cells"]]
    over = [cell for cell in reversed(ranked) if z_of[cell] > 1][:spec["sweep_cells"]]
    sweep = {}
    for cells_, sch in ((under, "early"), (over, "late")):
        for c, n in cells_:
            for p in spec["ps"]:
                sweep[(c, n, "standard", p, 0.25)] = [record(spec, c, n, "standard", p, 0.25, sd) for sd in seeds]
                for cut in spec["cutoffs"]:
                    sweep[(c, n, sch, p, cut)] = [record(spec, c, n, sch, p, cut, sd) for sd in seeds]
    sres = run_groups(sweep, cache, NAME, **sweep_kw)
    for (c, n, sch, p, cut), rs in sres.items():
        refs = {"none": runs[(c, n, "none")]}
        if sch != "standard":
            refs["standard"] = sres[(c, n, "standard", p, 0.25)]
        for ref, rr in refs.items():
            for q in ("train_loss", "val_acc"):
                d, se, k = _paired(rs, rr, q)
                rows.append(_row(kind="sweep", capacity=c, n_train=n, schedule=sch, p=p,
                                 cutoff=cut if sch != "standard" else "-", reference=ref, quantity=q, value=d, se=se,
                                 z=d / se if se > 0 else math.nan, mde=mde(se, k), n=k,
                                 cls="underfitting" if (c, n) in under else "overfitting"))
    # gradient diagnostics in the swept cells, the first diag_steps steps at a constant lr
    diag = {(c, n, s): [record(spec, c, n, s, pm, 0.25, sd, steps=spec["diag_steps"], lr_schedule="constant",
                               grad_diag_every=spec["diag_every"], grad_diag_batches=spec["diag_batches"],
                               grad_diag_conventions=True) for sd in seeds]
            for c, n in under + over for s in ("none", "standard")}
    dres = run_groups(diag, cache, NAME, **sweep_kw)
    for c, n in under + over:
        on, off = dres[(c, n, "standard")], dres[(c, n, "none")]
        for q in DIAGS:
            diffs = [float(np.mean(a[f"grad_diag:{q}"]) - np.mean(b[f"grad_diag:{q}"]))
                     for a, b in zip(on, off, strict=True) if not (bool(a["diverged"]) or bool(b["diverged"]))]
            d, se, k = mean_se(diffs)
            rows.append(_row(kind="diag", capacity=c, n_train=n, schedule="standard", p=pm, reference="none",
                             quantity=q, value=d, se=se, z=d / se if se > 0 else math.nan, mde=mde(se, k), n=k,
                             cls="underfitting" if (c, n) in under else "overfitting"))
    return {k: np.array([r[k] for r in rows]) for k in COLUMNS}


def _f(a: np.ndarray) -> np.ndarray:
    return np.array([float(x) if x not in ("-", "") else np.nan for x in a.astype(str)])


def plot(d: dict[str, Any]) -> plt.Figure:
    fig, axes = plt.subplots(1, 4, figsize=(21, 4.6))
    kind = d["kind"].astype(str)
    # (a) the map: standard - none test accuracy, z and class per cell
    m = (kind == "map") & (d["quantity"].astype(str) == "val_acc")
    caps = sorted(set(_f(d["capacity"][m]).astype(int)))
    ns = sorted(set(_f(d["n_train"][m]).astype(int)))
    grid = np.full((len(caps), len(ns)), np.nan)
    ax = axes[0]
    for i in np.flatnonzero(m):
        r, c = caps.index(int(float(d["capacity"][i]))), ns.index(int(float(d["n_train"][i])))
        grid[r, c] = float(d["value"][i])
        ax.text(c, r, f"{float(d['value'][i]):+.3f}\n± {float(d['se'][i]):.3f}\n{d['cls'][i]}", ha="center",
                va="center", fontsize=7)
    lim = np.nanmax(np.abs(grid)) if np.isfinite(grid).any() else 1.0
    im = ax.imshow(grid, cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto", origin="lower")
    ax.set_xticks(range(len(ns)), [str(n) for n in ns])
    ax.set_yticks(range(len(caps)), [f"×{c}" for c in caps])
    ax.set(xlabel="n_train", ylabel="capacity (widths × k)", title="standard − no dropout: test accuracy")
    fig.colorbar(im, ax=ax, fraction=0.046)
    # (b, c) the sweeps against no dropout and against standard dropout
    for ax, sch, q, lab in ((axes[1], "early", "train_loss", "Δ final training loss"),
                            (axes[2], "late", "val_acc", "Δ test accuracy")):
        s = (kind == "sweep") & (d["schedule"].astype(str) == sch) & (d["quantity"].astype(str) == q)
        labels = [f"p={float(p):g}, c={float(c):g}\n{int(float(cap))}×, n={int(float(n))}" for p, c, cap, n in
                  zip(d["p"][s], d["cutoff"][s], d["capacity"][s], d["n_train"][s], strict=True)]
        for j, ref in enumerate(("none", "standard")):
            r = s & (d["reference"].astype(str) == ref)
            x = np.arange(int(r.sum()))
            ax.errorbar(x + (j - 0.5) * 0.25, _f(d["value"][r]), _f(d["se"][r]), fmt="os"[j], capsize=3,
                        label=f"{sch} − {ref} (± SE)")
            ax.plot(x + (j - 0.5) * 0.25, _f(d["mde"][r]), "_", color=f"C{j}", ms=12)
            ax.plot(x + (j - 0.5) * 0.25, -_f(d["mde"][r]), "_", color=f"C{j}", ms=12)
        uniq = labels[::2] if labels else []
        ax.set_xticks(range(len(uniq)), uniq, fontsize=7)
        ax.axhline(0, color="k", lw=0.8)
        ax.set(ylabel=lab, title=f"{sch} dropout ({'underfitting' if sch == 'early' else 'overfitting'} cells); "
                                 "bars: ± MDE")
        ax.legend(fontsize=7)
    # (d) gradient diagnostics: dropout - none
    ax = axes[3]
    s = kind == "diag"
    labels = [f"{q}\n{int(float(cap))}×, n={int(float(n))}" for q, cap, n in
              zip(d["quantity"][s], d["capacity"][s], d["n_train"][s], strict=True)]
    ax.errorbar(np.arange(int(s.sum())), _f(d["value"][s]), _f(d["se"][s]), fmt="o", capsize=3)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(range(len(labels)), labels, fontsize=6, rotation=60)
    ax.set(ylabel="dropout − none (mean over the first steps)", title="gradient diagnostics, both conventions")
    fig.tight_layout()
    return fig

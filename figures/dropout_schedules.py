"""dropout_schedules: final training loss and test accuracy per dropout schedule in an underfitting
and an overfitting regime on MNIST-1D (Liu, Xu, Jin, Shen, Darrell, "Dropout Reduces Underfitting",
ICML 2023, arXiv:2303.01500; docs/dropout.md, part 2).

Claims tested: early dropout (dropout only for the first T_c iterations, constant or linearly
decreasing) lowers the final *training* loss of an underfitting model compared with no dropout and
with standard dropout; late dropout (none before T_c, then on) helps an overfitting model.

Schedules (sims.nn.dropout.scheduled_rate, per SGD iteration, cutoff T_c = dropout_switch x the
total iterations): "none" (p = 0), "standard" (p throughout), "early" (p before T_c, then 0),
"early_linear" (p at t = 0 linearly to 0 at t = T_c - 1), "late" (0 before T_c, then p).  Bernoulli
dropout after every hidden block's ReLU (the library's "after"), SGD with momentum 0.9 and a cosine
learning rate, the same seeds for every schedule (paired design).  Regimes: "underfit" = a small
CNN on the whole MNIST-1D training split (8000 examples at the default scale); "overfit" = a large
CNN on few examples.  The final losses and accuracies are measured in inference mode on the whole
training split and the validation split ("test"); differences to "none" are per-seed paired
(mean ± SE).  The rates p and T_c were fixed before any run (p = 0.1 underfitting, the paper's
early-dropout rate; 0.25 overfitting; T_c at 25 % of the iterations) and not tuned.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from bnreg.runtime import PointCache
from bnreg.sims.nn.sweep import mean_se, run_groups

from .cnn_norms import run_seeds

NAME = "dropout_schedules"
TITLE = "Early and late dropout on MNIST-1D: final training loss and test accuracy per schedule and regime"

SCHEDULE_NAMES = ("none", "standard", "early", "early_linear", "late")
_SCHEDULE_KW = {"none": {"dropout": "none", "p_drop": 0.0}, "standard": {"dropout_schedule": "constant"},
                "early": {"dropout_schedule": "early"}, "early_linear": {"dropout_schedule": "early_linear"},
                "late": {"dropout_schedule": "late"}}
REGIMES = ("underfit", "overfit")
_COMMON = {"dataset": "mnist1d", "momentum": 0.9, "lr_schedule": "cosine", "dropout": "bernoulli",
           "dropout_place": "after", "dropout_switch": 0.25}
# per regime: CNNConfig fields (n_train None = the whole training split) and the drop rate
SCALES: dict[str, dict[str, Any]] = {
    "quick": {"seeds": 2, "regimes": {
        "underfit": {**_COMMON, "n_train": 1024, "n_val": 512, "widths": (2, 2, 4, 4), "fc": 8, "batch": 32,
                     "lr": 0.05, "epochs": 3, "p_drop": 0.1},
        "overfit": {**_COMMON, "n_train": 128, "n_val": 512, "widths": (8, 8, 16, 16), "fc": 64, "batch": 32,
                    "lr": 0.02, "epochs": 10, "p_drop": 0.25}}},
    "default": {"seeds": 6, "regimes": {
        "underfit": {**_COMMON, "n_train": None, "n_val": None, "widths": (4, 4, 8, 8), "fc": 16, "batch": 64,
                     "lr": 0.05, "epochs": 15, "p_drop": 0.1},
        "overfit": {**_COMMON, "n_train": 256, "n_val": None, "widths": (32, 32, 64, 64), "fc": 256, "batch": 32,
                    "lr": 0.02, "epochs": 60, "p_drop": 0.25}}},
    "paper": {"seeds": 12, "regimes": {
        "underfit": {**_COMMON, "n_train": None, "n_val": None, "widths": (4, 4, 8, 8), "fc": 16, "batch": 64,
                     "lr": 0.05, "epochs": 40, "p_drop": 0.1},
        "overfit": {**_COMMON, "n_train": 256, "n_val": None, "widths": (32, 32, 64, 64), "fc": 256, "batch": 32,
                    "lr": 0.02, "epochs": 150, "p_drop": 0.25}}},
}
KEYS = ("train_loss", "train_acc", "val_loss", "val_acc")


def regime_record(regime: dict[str, Any], schedule: str, seed: int, **kw: Any) -> dict[str, Any]:
    """The CNNConfig record of one run: the regime's fields with `schedule` (one of SCHEDULE_NAMES) and
    `seed`, overridden by `kw` (dropout_schedule "none" means dropout off)."""
    rec = {**regime, **_SCHEDULE_KW[schedule], "seed": seed, **kw}
    rec["eval_every"] = max(1, rec.get("eval_every", 0) or 10**9)  # final values only (evaluated at the end)
    return rec


def compute(spec: dict[str, Any], seed: int, cache: PointCache, **sweep_kw: Any) -> dict[str, Any]:
    """Every schedule in every regime on the shared seeds (`spec` a SCALES entry; `seed` the base seed;
    runs cached in `cache`; `sweep_kw` for bnreg.runtime.sweeps.sweep).  Returns the plotted table: per (regime,
    schedule) the final training loss/accuracy and test loss/accuracy (mean ± SE over the seeds that did
    not diverge) and their paired differences d_* to "none"."""
    seeds = run_seeds(seed, spec["seeds"])
    grid = [(r, s) for r in REGIMES for s in SCHEDULE_NAMES]
    runs = run_groups({g: [regime_record(spec["regimes"][g[0]], g[1], sd) for sd in seeds] for g in grid},
                      cache, NAME, **sweep_kw)
    cols = ["regime", "schedule", "p_drop", "n_train", "cutoff_frac", "n_seeds", "n_diverged"]
    for k in KEYS:
        cols += [k, k + "_se", "d_" + k, "d_" + k + "_se"]
    rows: dict[str, list] = {c: [] for c in cols}
    for reg, sch in grid:
        rs, ref = runs[(reg, sch)], runs[(reg, "none")]
        ok = [not bool(r["diverged"]) for r in rs]
        rg = spec["regimes"][reg]
        vals: dict[str, Any] = {"regime": reg, "schedule": sch, "p_drop": 0.0 if sch == "none" else rg["p_drop"],
                                "n_train": rg["n_train"] if rg["n_train"] is not None else -1,
                                "cutoff_frac": rg["dropout_switch"], "n_diverged": len(rs) - sum(ok)}
        for k in KEYS:
            mu, se, n = mean_se([float(r[k][-1]) for r, o in zip(rs, ok, strict=True) if o])
            d = mean_se([float(r[k][-1]) - float(q[k][-1]) for r, q in zip(rs, ref, strict=True)
                         if not (bool(r["diverged"]) or bool(q["diverged"]))])
            vals.update({k: mu, k + "_se": se, "n_seeds": n, "d_" + k: d[0], "d_" + k + "_se": d[1]})
        for c in cols:
            rows[c].append(vals[c])
    return {k: np.array(v) for k, v in rows.items()}


_COLORS = {"none": "0.6", "standard": "C0", "early": "C2", "early_linear": "C3", "late": "C1"}


def plot(d: dict[str, Any]) -> plt.Figure:
    """Per regime (row): final training loss, test accuracy, and the paired differences to no dropout."""
    regimes = list(dict.fromkeys(d["regime"].tolist()))
    fig, axes = plt.subplots(len(regimes), 3, figsize=(14, 4.2 * len(regimes)), squeeze=False)
    for row, reg in zip(axes, regimes, strict=True):
        sel = d["regime"] == reg
        sch = d["schedule"][sel]
        x = np.arange(len(sch))
        colors = [_COLORS.get(str(s), "k") for s in sch]
        for ax, k, t in ((row[0], "train_loss", "final training loss"), (row[1], "val_acc", "test accuracy")):
            ax.bar(x, d[k][sel], yerr=np.nan_to_num(d[k + "_se"][sel]), color=colors, capsize=3, edgecolor="k",
                   lw=0.5)
            ax.set_xticks(x, sch, fontsize=8)
            ax.set_title(f"{reg}: {t} (mean ± 1 SE, n = {int(np.max(d['n_seeds'][sel]))})", fontsize=10)
            if k == "val_acc":
                lo = float(np.nanmin(d[k][sel] - np.nan_to_num(d[k + "_se"][sel])))
                ax.set_ylim(max(0.0, lo - 0.05), None)
        ax = row[2]
        w = 0.38
        for j, (k, lab) in enumerate((("d_train_loss", "Δ training loss"), ("d_val_acc", "Δ test accuracy"))):
            ax.bar(x + (j - 0.5) * w, d[k][sel], w, yerr=np.nan_to_num(d[k + "_se"][sel]), capsize=2,
                   color=["C0", "C2"][j], label=lab, edgecolor="k", lw=0.5)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xticks(x, sch, fontsize=8)
        ax.set_title(f"{reg}: paired difference to no dropout (± 1 SE)", fontsize=10)
        ax.legend(fontsize=8)
        nd = int(np.sum(d["n_diverged"][sel]))
        if nd:
            row[0].text(0.02, 0.97, f"diverged runs (not plotted): {nd}", transform=row[0].transAxes, va="top",
                        fontsize=8, color="C3")
    fig.tight_layout()
    return fig

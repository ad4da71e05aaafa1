"""dropout_gradients: the gradient diagnostics of Liu, Xu, Jin, Shen, Darrell, "Dropout Reduces
Underfitting", ICML 2023 (arXiv:2303.01500), §3, over the first epochs of training with and without
(standard) dropout on MNIST-1D, in the two regimes of `dropout_schedules` (docs/dropout.md, part 2).

Diagnostics (sims.nn.diagnostics, recorded by the training loop `per_epoch` times per epoch at the
parameters of that iteration): gradient direction variance GDV = 2/(n(n-1)) sum_{i<j} (1 - cos(g_i, g_j))
over n minibatch gradients (dropout active as in training), gradient direction error
GDE = (1/n) sum_i (1 - cos(g_i, g^)) against the full-training-set gradient g^ in inference mode
(dropout off), |g^|, and the distance |theta - theta_0| from the initialization.  Mean ± SE over seeds
(the same seeds, hence the same initializations, with and without dropout).  Claim tested: dropout
lowers the GDE early in training (the minibatch gradients, noisier in direction (higher GDV), point
closer to the full-data gradient on average), and the gradient norm and the distance travelled are
smaller with dropout.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from bnreg.runtime import PointCache
from bnreg.sims.nn.sweep import mean_se, run_groups

from .cnn_norms import run_seeds
from .dropout_schedules import REGIMES, regime_record
from .dropout_schedules import SCALES as SCHEDULE_SCALES

NAME = "dropout_gradients"
TITLE = "Gradient direction variance/error, gradient norm and distance from init, with and without dropout"

DIAG = ("gdv", "gde", "grad_norm", "dist_init")
LABELS = {"gdv": "gradient direction variance", "gde": "gradient direction error", "grad_norm": "|full gradient|",
          "dist_init": "distance from initialization"}
CONFIGS = ("none", "standard")
# the regimes of dropout_schedules at the same scale, trained for `epochs` epochs only (constant lr), diagnostics
# `per_epoch` times per epoch from `batches` minibatches; the early-window statistic averages the first `window`
# records
SCALES: dict[str, dict[str, Any]] = {
    "quick": {"seeds": 2, "epochs": 2, "per_epoch": 3, "batches": 8, "window": 3,
              "regimes": SCHEDULE_SCALES["quick"]["regimes"]},
    "default": {"seeds": 6, "epochs": 4, "per_epoch": 6, "batches": 16, "window": 6,
                "regimes": SCHEDULE_SCALES["default"]["regimes"]},
    "paper": {"seeds": 12, "epochs": 6, "per_epoch": 8, "batches": 32, "window": 8,
              "regimes": SCHEDULE_SCALES["paper"]["regimes"]},
}
MNIST1D_TRAIN = 8000  # the whole MNIST-1D training split (n_train = None)


def diag_every(regime: dict[str, Any], per_epoch: int) -> int:
    """Iterations between two diagnostics: per_epoch records per epoch of the regime."""
    spe = (regime["n_train"] or MNIST1D_TRAIN) // regime["batch"]
    return max(1, spe // per_epoch)


def compute(spec: dict[str, Any], seed: int, cache: PointCache, **sweep_kw: Any) -> dict[str, Any]:
    """Train each regime with and without dropout for spec["epochs"] epochs on the shared seeds, recording
    the diagnostics spec["per_epoch"] times per epoch.  Returns the plotted table: per (regime, config,
    iteration) the mean ± SE of each diagnostic, plus rows with iteration = -1 holding the paired
    difference (dropout - none) of each diagnostic averaged over the first spec["window"] records."""
    seeds = run_seeds(seed, spec["seeds"])
    grid = [(r, c) for r in REGIMES for c in CONFIGS]
    # the early epochs at the regime's base lr, constant (a cosine over so few epochs would decay it)
    groups = {g: [regime_record(spec["regimes"][g[0]], g[1], sd, epochs=spec["epochs"], lr_schedule="constant",
                                grad_diag_every=diag_every(spec["regimes"][g[0]], spec["per_epoch"]),
                                grad_diag_batches=spec["batches"]) for sd in seeds]
              for g in grid}
    runs = run_groups(groups, cache, NAME, **sweep_kw)
    cols = ["regime", "config", "iteration"] + [c for k in DIAG for c in (k, k + "_se")] + ["n_seeds"]
    rows: dict[str, list] = {c: [] for c in cols}
    for reg, cfg in grid:
        rs = [r for r in runs[(reg, cfg)] if not bool(r["diverged"])]
        steps = rs[0]["grad_diag:step"] if rs else np.zeros(0)
        for j, t in enumerate(steps):
            vals = {"regime": reg, "config": cfg, "iteration": int(t), "n_seeds": len(rs)}
            for k in DIAG:
                mu, se, _ = mean_se([float(r[f"grad_diag:{k}"][j]) for r in rs])
                vals.update({k: mu, k + "_se": se})
            for c in cols:
                rows[c].append(vals[c])
    w = spec["window"]
    for reg in REGIMES:
        on, off = runs[(reg, "standard")], runs[(reg, "none")]
        vals = {"regime": reg, "config": "dropout - none, first records", "iteration": -1, "n_seeds": 0}
        for k in DIAG:
            diffs = [float(np.mean(a[f"grad_diag:{k}"][:w]) - np.mean(b[f"grad_diag:{k}"][:w]))
                     for a, b in zip(on, off, strict=True) if not (bool(a["diverged"]) or bool(b["diverged"]))]
            mu, se, n = mean_se(diffs)
            vals.update({k: mu, k + "_se": se, "n_seeds": n})
        for c in cols:
            rows[c].append(vals[c])
    return {k: np.array(v) for k, v in rows.items()}


def plot(d: dict[str, Any]) -> plt.Figure:
    """One row per regime, one column per diagnostic: mean ± 1 SE vs iteration, with and without dropout."""
    regimes = list(dict.fromkeys(d["regime"].tolist()))
    fig, axes = plt.subplots(len(regimes), len(DIAG), figsize=(16, 3.8 * len(regimes)), squeeze=False)
    for row, reg in zip(axes, regimes, strict=True):
        for ax, k in zip(row, DIAG, strict=True):
            for c, cfg in enumerate(CONFIGS):
                sel = (d["regime"] == reg) & (d["config"] == cfg) & (d["iteration"] >= 0)
                t, mu, se = d["iteration"][sel], d[k][sel], np.nan_to_num(d[k + "_se"][sel])
                ax.plot(t, mu, color=["0.4", "C0"][c], label="no dropout" if cfg == "none" else "dropout (standard)")
                ax.fill_between(t, mu - se, mu + se, color=["0.4", "C0"][c], alpha=0.25, lw=0)
            dsel = (d["regime"] == reg) & (d["iteration"] == -1)
            if dsel.any():
                ax.text(0.02, 0.97, f"dropout − none, first records: {float(d[k][dsel][0]):+.3g} ± "
                        f"{float(np.nan_to_num(d[k + '_se'][dsel][0])):.2g}", transform=ax.transAxes, va="top",
                        fontsize=7)
            ax.set_xlabel("iteration")
            ax.set_title(f"{reg}: {LABELS[k]}", fontsize=9)
        row[0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig

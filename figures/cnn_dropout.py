"""cnn_dropout: BN at batch 64 vs 256, with Bernoulli dropout (p = 0.125) before vs after BN, and WN
with and without dropout (p = 0.25) (Luo, Wang, Shao, Peng, "Towards Understanding Regularization
in Batch Normalization", ICLR 2019, arXiv:1809.00846, §5).

Claims tested: going from M = 64 to 256 raises the validation (test) loss and lowers accuracy;
dropout 0.125 after each BN layer recovers (even exceeds) the M = 64 accuracy; dropout placed
after BN works better than before it (variance shift: Li, Chen, Hu, Yang, "Understanding the
Disharmony between Dropout and Batch Normalization by Variance Shift", CVPR 2019,
arXiv:1801.05134); WN + dropout 0.25 gains accuracy (0.73 -> 0.80 on CIFAR-10) and approaches BN
at M = 64.

Placement (sims.nn.model): "before" = directly before the normalization, "after" = after the ReLU
that follows it.  Protocol: lr = lr0 * M / 64 (as cnn_batch_size), the same seeds in every config;
two training budgets (spec "budgets": epochs x 1 and x 2 at the default scale) because dropout
runs fit the training set more slowly.  Effects are per-seed paired differences (mean ± SE):
d_* to the same (norm, M) without dropout, d0_* to BN at the small batch without dropout."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from bnreg.runtime import PointCache
from bnreg.sims.nn.sweep import mean_se, run_groups

from .cnn_norms import base_record, run_seeds

NAME = "cnn_dropout"
TITLE = "CNN: BN at M = 64 vs 256 with dropout before/after BN; WN with and without dropout (Luo et al. 2019)"
# Each sweep point runs on one thread, so by default the points go to one process per core.
SERIAL_POINTS = True


def _config(label: str, norm: str, batch: int, p_drop: float, place: str = "after") -> dict[str, Any]:
    return {"label": label, "norm": norm, "batch": batch, "p_drop": p_drop, "place": place}


# batch before scaling by spec["batch_scale"]; p_drop 0 = no dropout, the reference of its (norm, batch)
CONFIGS = (
    _config("BN M={M}", "bn", 64, 0.0),
    _config("BN M={M} + drop before", "bn", 64, 0.125, "before"),
    _config("BN M={M} + drop after", "bn", 64, 0.125),
    _config("BN M={M}", "bn", 256, 0.0),
    _config("BN M={M} + drop before", "bn", 256, 0.125, "before"),
    _config("BN M={M} + drop after", "bn", 256, 0.125),
    _config("WN M={M}", "wn", 64, 0.0),
    _config("WN M={M} + drop 0.25", "wn", 64, 0.25),
)
_COMMON = {"dataset": "mnist1d", "lr": 0.02, "momentum": 0.9, "dropout": "bernoulli"}  # lr at the smaller batch
SCALES: dict[str, dict[str, Any]] = {
    "quick": {**_COMMON, "n_train": 512, "n_val": 512, "widths": (4, 4, 8, 8), "fc": 32, "epochs": 3, "seeds": 2,
              "batch_scale": 0.25, "budgets": (1,)},
    "default": {**_COMMON, "n_train": 2048, "n_val": 2000, "widths": (16, 16, 32, 32), "fc": 128, "epochs": 20,
                "seeds": 4, "batch_scale": 1.0, "budgets": (1, 2)},
    "paper": {**_COMMON, "n_train": 4096, "n_val": 4000, "widths": (32, 32, 64, 64), "fc": 512, "epochs": 30,
              "seeds": 8, "batch_scale": 1.0, "budgets": (1, 3)},
}
KEYS = ("train_loss", "val_loss", "val_acc", "gap")


def compute(spec: dict[str, Any], seed: int, cache: PointCache, **sweep_kw: Any) -> dict[str, Any]:
    """Every config at each budget (epochs = spec epochs x factor) on every seed of `spec` (a SCALES
    entry; `seed` the base seed; runs cached in `cache`, `sweep_kw` for bnreg.runtime.sweeps.sweep); the
    dropout runs train slower, so the longer budget shows whether a verdict is only a matter of
    training length.  Returns the plotted table: per (budget, config) the final losses, accuracy and
    gap (mean ± SE over seeds) and the paired differences d_* (to the same norm and batch without
    dropout) and d0_* (to the first config, BN at the small batch without dropout)."""
    seeds = run_seeds(seed, spec["seeds"])
    m0 = max(2, int(round(64 * spec["batch_scale"])))  # quick: smaller batches for the small training set
    batches = [max(2, int(round(c["batch"] * spec["batch_scale"]))) for c in CONFIGS]
    grid = [(f, i) for f in spec["budgets"] for i in range(len(CONFIGS))]

    def records(f: int, i: int) -> list[dict[str, Any]]:
        c, M, epochs = CONFIGS[i], batches[i], spec["epochs"] * f
        return [base_record(spec, norm=c["norm"], batch=M, lr=spec["lr"] * M / m0, seed=s, epochs=epochs,
                            eval_every=max(1, epochs * (spec["n_train"] // M) // 4),  # final values only
                            dropout=spec["dropout"] if c["p_drop"] > 0 else "none", p_drop=c["p_drop"],
                            dropout_place=c["place"]) for s in seeds]

    # A shorter budget is read off the longer run of the same config (constant schedules: training up
    # to there is identical, so the final values are the same as a separate run), a third less training.
    runs = run_groups({g: records(*g) for g in grid}, cache, NAME, reuse_longer=True, **sweep_kw)
    ref_of = [next(j for j, r in enumerate(CONFIGS) if r["norm"] == c["norm"] and r["batch"] == c["batch"]
                   and r["p_drop"] == 0) for c in CONFIGS]
    cols = ["epochs", "config", "norm", "batch", "p_drop", "place", "n_seeds", "n_diverged"]
    for k in KEYS:
        cols += [k, k + "_se", "d_" + k, "d_" + k + "_se", "d0_" + k, "d0_" + k + "_se"]
    rows: dict[str, list] = {k: [] for k in cols}

    def final(r: dict, k: str) -> float:
        return float(r["val_loss"][-1] - r["train_loss"][-1]) if k == "gap" else float(r[k][-1])

    def paired(rs: list, qs: list, k: str) -> tuple[float, float, int]:
        return mean_se([final(r, k) - final(q, k) for r, q in zip(rs, qs, strict=True)
                        if not (bool(r["diverged"]) or bool(q["diverged"]))])

    for f, i in grid:
        c, p = CONFIGS[i], CONFIGS[i]["p_drop"]
        rs, ref, first = runs[(f, i)], runs[(f, ref_of[i])], runs[(f, 0)]
        ok = [not bool(r["diverged"]) for r in rs]
        vals: dict[str, Any] = {"epochs": spec["epochs"] * f, "config": c["label"].format(M=batches[i]),
                                "norm": c["norm"], "batch": batches[i], "p_drop": p,
                                "place": c["place"] if p > 0 else "-",
                                "n_diverged": len(rs) - sum(ok)}
        for k in KEYS:
            mu, se, n = mean_se([final(r, k) for r, o in zip(rs, ok, strict=True) if o])
            d, d0 = paired(rs, ref, k), paired(rs, first, k)
            vals.update({k: mu, k + "_se": se, "n_seeds": n, "d_" + k: d[0], "d_" + k + "_se": d[1],
                         "d0_" + k: d0[0], "d0_" + k + "_se": d0[1]})
        for k in cols:
            rows[k].append(vals[k])
    return {k: np.array(v) for k, v in rows.items()}


def plot(d: dict[str, Any]) -> plt.Figure:
    """The figure of the `compute` table `d`: one row per budget, accuracy, loss and gap per config."""
    budgets = list(dict.fromkeys(d["epochs"].tolist()))
    fig, axes = plt.subplots(len(budgets), 3, figsize=(15, 4.6 * len(budgets)), squeeze=False)
    hatch = {"-": "", "before": "//", "after": ".."}
    m_small = min(d["batch"])
    for row, ep in zip(axes, budgets, strict=True):
        live = (d["n_seeds"] > 0) & (d["epochs"] == ep)
        labels = d["config"][live]
        x = np.arange(len(labels))
        colors = ["C0" if n == "bn" and b == m_small else "C1" if n == "bn" else "C2"
                  for n, b in zip(d["norm"][live], d["batch"][live], strict=True)]
        for ax, k, t in zip(row, ("val_acc", "val_loss", "gap"),
                            ("validation accuracy", "validation loss", "gap: val loss − train loss"), strict=True):
            bars = ax.bar(x, d[k][live], yerr=np.nan_to_num(d[k + "_se"][live]), capsize=3, color=colors,
                          edgecolor="k", lw=0.5)
            for b, pl in zip(bars, d["place"][live], strict=True):
                b.set_hatch(hatch.get(str(pl), ""))
            ax.set_xticks(x, labels, rotation=35, ha="right", fontsize=7)
            ax.set_title(f"{t}, {ep} epochs (mean ± 1 SE)", fontsize=10)
            if k == "val_acc" and live.any():
                lo = float(np.min(d[k][live] - np.nan_to_num(d[k + "_se"][live])))
                ax.set_ylim(max(0.0, lo - 0.05), None)
        n_div = int(np.sum(d["n_diverged"][d["epochs"] == ep]))
        if n_div:
            row[0].text(0.02, 0.97, f"diverged runs (not plotted): {n_div}", transform=row[0].transAxes,
                        va="top", fontsize=8, color="C3")
    fig.tight_layout()
    return fig

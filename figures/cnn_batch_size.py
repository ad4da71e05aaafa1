"""cnn_batch_size: per-layer gamma^2 and the generalization gap vs batch size M, turning BN on one
layer at a time starting from plain SGD (Luo, Wang, Shao, Peng, "Towards Understanding
Regularization in Batch Normalization", ICLR 2019, arXiv:1809.00846, §5).

Configs: no normalization ("none"), BN on exactly one hidden layer (conv1 .. conv4, fc1; the others
unnormalized with a bias), and BN on every layer ("all").  The claim tested: with BN on a layer,
that layer's gamma^2 grows with M (weaker implicit gamma decay ~ 1/M) and so does the gap.

Protocol: learning rate scaled linearly with M (lr = lr0 * M / M0; Goyal et al., "Accurate, Large
Minibatch SGD: Training ImageNet in 1 Hour", arXiv:1706.02677) so the SGD
noise scale lr/M is the same at every M and what changes with M is the normalization's batch noise.
gamma^2 keeps growing during training, so the comparison depends on the training budget; three are
reported: "epochs" (E epochs at every M: larger M takes fewer steps and is less trained),
"steps" (E * M/M0 epochs: every M takes the M0 run's number of SGD steps, larger M sees more
data), and "long" (E * long_factor epochs at every M, all runs close to zero training loss).
Evaluation 4 times per run plus at step 0 (only the final one is plotted).  Everything else as
docs/cnn.md, "Protocol".  The same seeds for every (config, M, budget); differences to M0 within a budget
are paired by seed (mean ± SE of the per-seed differences)."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from bnreg.runtime import PointCache
from bnreg.sims.nn.model import hidden_layer_names
from bnreg.sims.nn.sweep import mean_se, run_groups

from .cnn_norms import base_record, run_seeds

NAME = "cnn_batch_size"
TITLE = "CNN: per-layer gamma² and generalization gap vs batch size, BN on one layer at a time (Luo et al. 2019)"
# Each sweep point runs on one thread, so by default the points go to one process per core.
SERIAL_POINTS = True
LAYERS = hidden_layer_names(4)
CONFIGS = ("none", *LAYERS, "all")
_COMMON = {"dataset": "mnist1d", "lr": 0.02, "momentum": 0.9}  # lr at the smallest batch M0
SCALES: dict[str, dict[str, Any]] = {
    "quick": {**_COMMON, "n_train": 512, "n_val": 512, "widths": (4, 4, 8, 8), "fc": 32, "epochs": 3, "seeds": 2,
              "batches": (32, 128), "configs": ("none", "fc1", "all"), "budgets": ("epochs", "steps", "long"),
              "long_factor": 2},
    "default": {**_COMMON, "n_train": 1024, "n_val": 2000, "widths": (8, 8, 16, 16), "fc": 64, "epochs": 20,
                "seeds": 3, "batches": (64, 256), "configs": CONFIGS, "budgets": ("epochs", "steps", "long"),
                "long_factor": 4},
    "paper": {**_COMMON, "n_train": 4096, "n_val": 4000, "widths": (32, 32, 64, 64), "fc": 512, "epochs": 30,
              "seeds": 6, "batches": (64, 128, 256), "configs": CONFIGS, "budgets": ("epochs", "steps", "long"),
              "long_factor": 4},
}


def _norm_kw(config: str) -> dict[str, Any]:
    if config == "none":
        return {"norm": "none"}
    if config == "all":
        return {"norm": "bn"}
    return {"norm": "bn", "norm_layers": tuple(layer == config for layer in LAYERS)}


def lr_for(spec: dict[str, Any], M: int) -> float:
    """Linear scaling: lr = lr0 * M / M0 (M0 = the smallest batch of the sweep)."""
    return spec["lr"] * M / spec["batches"][0]


def compute(spec: dict[str, Any], seed: int, cache: PointCache, **sweep_kw: Any) -> dict[str, Any]:
    """Train every (budget, config, batch) of `spec` (a SCALES entry) on every seed (`seed` the base
    seed; runs cached in `cache`, `sweep_kw` for bnreg.runtime.sweeps.sweep).  Returns the plotted table:
    per (budget, config, batch, BN layer) the final gamma², gap, losses and accuracy (mean ± SE over
    seeds) and the paired differences d_* to the smallest batch."""
    seeds = run_seeds(seed, spec["seeds"])
    m0 = spec["batches"][0]
    grid = [(c, M, b) for b in spec["budgets"] for c in spec["configs"] for M in spec["batches"]]

    def budget_kw(M: int, b: str) -> dict[str, Any]:
        epochs = {"epochs": spec["epochs"], "steps": spec["epochs"] * M // m0,
                  "long": spec["epochs"] * spec["long_factor"]}[b]
        # identical runs of different budgets (e.g. M0 under "epochs" and "steps") train once
        return {"epochs": epochs, "eval_every": max(1, epochs * (spec["n_train"] // M) // 4)}

    groups = {(c, M, b): [base_record(spec, batch=M, lr=lr_for(spec, M), seed=s, **_norm_kw(c), **budget_kw(M, b))
                          for s in seeds] for c, M, b in grid}
    # shorter budgets of the same config are read off the longer run (same final values)
    by = run_groups(groups, cache, NAME, reuse_longer=True, **sweep_kw)
    cols = ("budget", "config", "batch", "lr", "gamma_layer", "gamma2", "gamma2_se", "d_gamma2", "d_gamma2_se", "gap",
            "gap_se", "d_gap", "d_gap_se", "train_loss", "train_loss_se", "val_loss", "val_loss_se", "val_acc",
            "val_acc_se", "n_seeds", "n_diverged")
    rows: dict[str, list] = {k: [] for k in cols}
    for c, M, b in grid:
        runs, ref = by[(c, M, b)], by[(c, m0, b)]
        ok = [not bool(r["diverged"]) for r in runs]
        pair = [a and not bool(b["diverged"]) for a, b in zip(ok, ref, strict=True)]
        fin = lambda r, k: float(r[k][-1])  # noqa: E731 - final evaluation of a run
        stats = {k: mean_se([fin(r, k) for r, o in zip(runs, ok, strict=True) if o])
                 for k in ("train_loss", "val_loss", "val_acc")}
        gap = mean_se([fin(r, "val_loss") - fin(r, "train_loss") for r, o in zip(runs, ok, strict=True) if o])
        d_gap = mean_se([(fin(r, "val_loss") - fin(r, "train_loss")) - (fin(q, "val_loss") - fin(q, "train_loss"))
                         for r, q, p in zip(runs, ref, pair, strict=True) if p])
        layers = ["-"] if c == "none" else (list(LAYERS) if c == "all" else [c])
        for layer in layers:
            key = f"gamma2:{layer}"
            g2 = mean_se([fin(r, key) for r, o in zip(runs, ok, strict=True) if o]) if layer != "-" \
                else (np.nan, np.nan, 0)
            dg2 = mean_se([fin(r, key) - fin(q, key) for r, q, p in zip(runs, ref, pair, strict=True) if p]) \
                if layer != "-" else (np.nan, np.nan, 0)
            vals = {"budget": b, "config": c, "batch": M, "lr": lr_for(spec, M), "gamma_layer": layer,
                    "gamma2": g2[0], "gamma2_se": g2[1], "d_gamma2": dg2[0], "d_gamma2_se": dg2[1],
                    "gap": gap[0], "gap_se": gap[1], "d_gap": d_gap[0], "d_gap_se": d_gap[1],
                    "n_seeds": gap[2], "n_diverged": len(runs) - sum(ok)}
            for k, (mu, se, _) in stats.items():
                vals[k], vals[k + "_se"] = mu, se
            for k in cols:
                rows[k].append(vals[k])
    return {k: np.array(v) for k, v in rows.items()}


def _color(name: str) -> str:
    return f"C{CONFIGS.index(name)}" if name in CONFIGS else "k"


_BUDGET_TEXT = {"epochs": "same epochs", "steps": "same SGD steps", "long": "long: same (×long_factor) epochs"}


def plot(d: dict[str, Any]) -> plt.Figure:
    """The figure of the `compute` table `d`: one row per budget, gamma² and gap vs batch size."""
    budgets = list(dict.fromkeys(d["budget"].tolist()))
    fig, axes = plt.subplots(len(budgets), 3, figsize=(15, 3.8 * len(budgets)), squeeze=False)
    live = d["n_seeds"] > 0
    batches = sorted(set(d["batch"].tolist()))
    for r, (b, (ax_g, ax_all, ax_gap)) in enumerate(zip(budgets, axes, strict=True)):
        for c in dict.fromkeys(d["config"].tolist()):
            sel = live & (d["config"] == c) & (d["budget"] == b)
            if not sel.any():
                continue
            if c not in ("none", "all"):
                ax_g.errorbar(d["batch"][sel], d["gamma2"][sel], yerr=np.nan_to_num(d["gamma2_se"][sel]), fmt="o-",
                              capsize=3, color=_color(c), label=f"BN on {c} only")
            if c == "all":
                for layer in dict.fromkeys(d["gamma_layer"][sel].tolist()):
                    s2 = sel & (d["gamma_layer"] == layer)
                    ax_all.errorbar(d["batch"][s2], d["gamma2"][s2], yerr=np.nan_to_num(d["gamma2_se"][s2]),
                                    fmt="s--", capsize=3, color=_color(layer), label=layer)
            s3 = sel & ((d["config"] != "all") | (d["gamma_layer"] == LAYERS[0]))  # "all": one row per M
            ax_gap.errorbar(d["batch"][s3], d["gap"][s3], yerr=np.nan_to_num(d["gap_se"][s3]), fmt="o-", capsize=3,
                            color=_color(c), label="no norm" if c == "none" else "BN everywhere" if c == "all"
                            else f"BN on {c}")
        ax_g.set_ylabel(f"{_BUDGET_TEXT.get(b, b)}\nmean γ² of the BN layer")
        ax_all.set_ylabel("mean γ²")
        ax_gap.set_ylabel("val loss − train loss")
        for ax in (ax_g, ax_all, ax_gap):
            ax.set_xscale("log", base=2)
            ax.set_xticks(batches, [str(x) for x in batches])
            ax.minorticks_off()
            if r == len(budgets) - 1:
                ax.set_xlabel("batch size M (lr ∝ M)")
            if r == 0:
                ax.legend(fontsize=7)
        if r == 0:
            ax_g.set_title("γ² of the one BN layer (± 1 SE)")
            ax_all.set_title("γ² per layer, BN on every layer (± 1 SE)")
            ax_gap.set_title("generalization gap (± 1 SE)")
    fig.tight_layout()
    return fig

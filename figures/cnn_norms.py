"""cnn_norms: train/validation loss curves and the generalization gap (val loss - train loss, both
in inference mode on the full sets) of the CNN of Luo, Wang, Shao, Peng, "Towards Understanding
Regularization in Batch Normalization" (ICLR 2019, arXiv:1809.00846, §5) with plain SGD, BN,
PN + gamma decay, WN, WN + mean-only BN and WN + variance-only BN, plus PN without the gamma decay
as a control.

Protocol: docs/cnn.md.  Every method gets the same data, batch
size, learning rate, momentum, epochs and the same seeds (seed r of every method uses the same
seed, so init/batch-order noise is paired across methods).  Mean ± SE over the seeds that did not
diverge; diverged runs are counted, never plotted."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from bnreg.runtime import PointCache, derive_seed
from bnreg.sims.nn.model import hidden_layer_names
from bnreg.sims.nn.sweep import mean_se, run_groups

NAME = "cnn_norms"
TITLE = "CNN: generalization gap of SGD, BN, PN + gamma decay, WN, WN + mean-BN, WN + var-BN (Luo et al. 2019)"
# Each sweep point runs on one thread, so by default the points go to one process per core.
SERIAL_POINTS = True
METHODS = ("none", "bn", "pn", "pn_no_decay", "wn", "wn_mean_bn", "wn_var_bn")
LABELS = {"none": "SGD (no norm)", "bn": "BN", "pn": "PN + γ decay", "pn_no_decay": "PN, no γ decay (control)",
          "wn": "WN", "wn_mean_bn": "WN + mean-BN", "wn_var_bn": "WN + var-BN"}
# method -> CNNConfig fields; "pn" estimates its gamma-decay coefficient per layer (gamma_decay=None),
# the control "pn_no_decay" is PN with the decay switched off, separating the decay from PN itself
_METHOD_KW: dict[str, dict[str, Any]] = {m: {"norm": m} for m in METHODS}
_METHOD_KW["pn_no_decay"] = {"norm": "pn", "gamma_decay": 0.0}
HIDDEN = hidden_layer_names(4)
_COMMON = {"dataset": "mnist1d", "lr": 0.02, "momentum": 0.9, "batch": 64}
SCALES: dict[str, dict[str, Any]] = {
    "quick": {**_COMMON, "n_train": 512, "n_val": 512, "widths": (4, 4, 8, 8), "fc": 32, "epochs": 3, "seeds": 2},
    "default": {**_COMMON, "n_train": 2000, "n_val": 2000, "widths": (16, 16, 32, 32), "fc": 128, "epochs": 20,
                "seeds": 4},
    "paper": {**_COMMON, "n_train": 4000, "n_val": 4000, "widths": (32, 32, 64, 64), "fc": 512, "epochs": 30,
              "seeds": 8},
}


def run_seeds(base_seed: int, n: int) -> list[int]:
    """The training seeds r = 0..n-1, shared by every config of the cnn_* figures (paired design)."""
    return [derive_seed(base_seed, "cnn", r) % 2**31 for r in range(n)]


def base_record(spec: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """A sweep record (CNNConfig fields, sims.nn.sweep): the data, optimizer and network fields of
    the figure's `spec`, overridden by `kw` (seed, norm, ...)."""
    keys = ("dataset", "lr", "momentum", "batch", "n_train", "n_val", "widths", "fc", "epochs")
    return {**{k: spec[k] for k in keys if k in spec}, **kw}


def compute(spec: dict[str, Any], seed: int, cache: PointCache, **sweep_kw: Any) -> dict[str, Any]:
    """Train every method on every seed of `spec` (a SCALES entry; `seed` the base seed; runs cached
    in `cache`, `sweep_kw` for bnreg.runtime.sweeps.sweep).  Returns the plotted table (equal-length
    columns): per method and evaluation epoch the mean ± SE over seeds of the losses, gap, accuracy
    and gamma² per layer."""
    seeds = run_seeds(seed, spec["seeds"])
    groups = {m: [base_record(spec, seed=s, **_METHOD_KW[m]) for s in seeds] for m in METHODS}
    by_method = run_groups(groups, cache, NAME, **sweep_kw)
    g2 = [f"gamma2_{layer}" for layer in HIDDEN]
    rows: dict[str, list] = {k: [] for k in ("method", "epoch", "train_loss", "train_loss_se", "val_loss",
                                             "val_loss_se", "gap", "gap_se", "val_acc", "val_acc_se",
                                             "n_seeds", "n_diverged", "final", *g2, *[k + "_se" for k in g2])}
    for m in METHODS:
        runs = by_method[m]
        ok = [r for r in runs if not bool(r["diverged"])]
        n_div = len(runs) - len(ok)
        epochs = ok[0]["epoch"] if ok else np.array([np.nan])
        for j, ep in enumerate(epochs):
            rows["method"].append(m)
            rows["epoch"].append(float(ep))
            for k in ("train_loss", "val_loss", "val_acc"):
                mu, se, n = mean_se([r[k][j] for r in ok]) if ok else (np.nan, np.nan, 0)
                rows[k].append(mu)
                rows[k + "_se"].append(se)
            mu, se, n = mean_se([r["val_loss"][j] - r["train_loss"][j] for r in ok]) if ok else (np.nan, np.nan, 0)
            rows["gap"].append(mu)
            rows["gap_se"].append(se)
            rows["n_seeds"].append(n)
            rows["n_diverged"].append(n_div)
            rows["final"].append(j == len(epochs) - 1)
            for layer in HIDDEN:  # mean gamma^2 of each normalized layer (NaN where there is none)
                key = f"gamma2:{layer}"
                mu, se, _ = mean_se([r[key][j] for r in ok]) if ok and key in ok[0] else (np.nan, np.nan, 0)
                rows[f"gamma2_{layer}"].append(mu)
                rows[f"gamma2_{layer}_se"].append(se)
    return {k: np.array(v) for k, v in rows.items()}


def plot(d: dict[str, Any]) -> plt.Figure:
    """The figure of the `compute` table `d`: loss curves, final gap and final gamma² per layer."""
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.6))
    ax_tr, ax_va, ax_gap, ax_g2 = axes
    methods = list(dict.fromkeys(d["method"].tolist()))
    finals = []
    for c, m in enumerate(methods):
        sel = (d["method"] == m) & (d["n_seeds"] > 0)
        if not sel.any():
            continue
        ep = d["epoch"][sel]
        for ax, k, ls in ((ax_tr, "train_loss", "-"), (ax_va, "val_loss", "-")):
            mu, se = d[k][sel], np.nan_to_num(d[k + "_se"][sel])
            ax.plot(ep, mu, ls, color=f"C{c}", label=LABELS.get(m, m))
            ax.fill_between(ep, mu - se, mu + se, color=f"C{c}", alpha=0.25, lw=0)
        f = sel & d["final"]
        finals.append((m, float(d["gap"][f][0]), float(np.nan_to_num(d["gap_se"][f][0])), int(d["n_seeds"][f][0]),
                       int(d["n_diverged"][f][0]), c))
    for ax, t in ((ax_tr, "training loss (inference mode, full set)"), (ax_va, "validation loss")):
        ax.set_xlabel("epoch")
        ax.set_yscale("log")
        ax.set_title(t + " ± 1 SE")
    ax_tr.legend(fontsize=8)
    x = np.arange(len(finals))
    ax_gap.bar(x, [g for _, g, *_ in finals], yerr=[s for _, _, s, *_ in finals], capsize=3,
               color=[f"C{c}" for *_, c in finals])
    ax_gap.set_xticks(x, [f"{LABELS.get(m, m)}\n(n={n}{f', {k} div.' if k else ''})" for m, _, _, n, k, _ in finals],
                      fontsize=7, rotation=20)
    ax_gap.axhline(0, color="k", lw=0.8)
    ax_gap.set_ylabel("val loss − train loss at the end")
    ax_gap.set_title("generalization gap (mean ± 1 SE over seeds)")
    layers = [c[len("gamma2_"):] for c in d if c.startswith("gamma2_") and not c.endswith("_se")]
    normed = [(m, c) for m, *_, c in finals
              if np.isfinite(d[f"gamma2_{layers[0]}"][(d["method"] == m) & d["final"]]).any()] if layers else []
    width = 0.8 / max(1, len(normed))
    for i, (m, c) in enumerate(normed):
        f = (d["method"] == m) & d["final"]
        ax_g2.bar(np.arange(len(layers)) + (i - (len(normed) - 1) / 2) * width,
                  [float(d[f"gamma2_{la}"][f][0]) for la in layers], width,
                  yerr=[float(np.nan_to_num(d[f"gamma2_{la}_se"][f][0])) for la in layers], capsize=2,
                  color=f"C{c}", label=LABELS.get(m, m))
    ax_g2.set_xticks(np.arange(len(layers)), layers)
    ax_g2.set_yscale("log")
    ax_g2.axhline(1, color="k", lw=0.8, ls=":")
    ax_g2.set_ylabel("mean γ² at the end (γ = 1 at init)")
    ax_g2.set_title("γ² per layer (mean ± 1 SE)")
    if normed:
        ax_g2.legend(fontsize=7)
    dropped = [m for m in methods if not ((d["method"] == m) & (d["n_seeds"] > 0)).any()]
    if dropped:
        ax_gap.text(0.02, 0.97, "all seeds diverged: " + ", ".join(dropped), transform=ax_gap.transAxes,
                    va="top", fontsize=8, color="C3")
    fig.tight_layout()
    return fig

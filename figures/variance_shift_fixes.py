"""variance_shift_fixes: trained networks with dropout before every BN layer, and the fixes of the
variance shift (Li, Chen, Hu, Yang, "Understanding the Disharmony between Dropout and Batch
Normalization by Variance Shift", CVPR 2019, arXiv:1801.05134; docs/variance_shift.md, "The fixes").

Networks (sims.nn, norm = bn, MNIST-1D): an MLP (no conv layer, several hidden fc layers, each
fc -> BN -> ReLU) and the small CNN (4 convs + 1 fc, each followed by BN -> ReLU).  Variants, at
each keep rate (keep = 1 - p_drop):

* baseline: Bernoulli dropout directly before every BN layer;
* "after last BN": one Bernoulli dropout after the last BN block only (before the classifier);
* Uout before every BN, with beta = `matched_uout_beta(keep)` = sqrt(3 (1 - keep)/keep), the same
  noise variance as the dropout it replaces (the library's uout convention): the theory predicts the
  same shift, so this tests whether Uout's advantage is more than its usually smaller width;
* re-estimated BN: the baseline networks after `reestimate_bn_statistics` (one pass over the
  training set in training mode with dropout off, batches of the training batch size);
* the same networks without dropout (reference, keep = 1).

Every variant uses the same seeds (paired design); test accuracy is on the held-out validation
split, never used for a choice.  Train mode vs inference mode (same weights) on the training set:
accuracy and the samples that flip from correct (training mode: batch statistics, dropout on) to
wrong (inference) - the paper's Figs. 5, 6.  Mean ± SE over seeds; paired differences to the
baseline (d_test_acc).  The per-layer shift of the same networks is in `variance_shift_layers`.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from bnreg.runtime import PointCache, derive_seed
from bnreg.sims.nn.sweep import mean_se, run_groups, run_shift_point
from bnreg.theory.variance_shift import matched_uout_beta

NAME = "variance_shift_fixes"
TITLE = "Dropout before BN: test accuracy of the variance-shift fixes vs keep, and train/inference flips"
# Each sweep point runs on one thread, so by default the points go to one process per core.
SERIAL_POINTS = True
# variant -> (dropout kind, place)
VARIANTS = {"before": ("bernoulli", "before"), "last": ("bernoulli", "last"), "uout": ("uout", "before")}
FIXES = ("before", "last", "uout", "reest", "none")
FIX_LABELS = {"before": "baseline: dropout before every BN", "last": "dropout after the last BN only",
              "uout": "Uout (matched beta) before every BN", "reest": "baseline + re-estimated BN statistics",
              "none": "no dropout"}
_COMMON = {"dataset": "mnist1d", "lr": 0.02, "momentum": 0.9, "batch": 64}
SCALES: dict[str, dict[str, Any]] = {
    "quick": {**_COMMON, "n_train": 512, "n_val": 512, "epochs": 4, "seeds": 2, "keeps": (0.5, 0.9),
              "nets": {"mlp": {"widths": (), "fc": (32, 32, 32)}, "cnn": {"widths": (4, 4, 8, 8), "fc": 16}}},
    "default": {**_COMMON, "n_train": 2048, "n_val": 2000, "epochs": 20, "seeds": 5, "keeps": (0.5, 0.7, 0.9),
                "nets": {"mlp": {"widths": (), "fc": (128,) * 5}, "cnn": {"widths": (16, 16, 32, 32), "fc": 128}}},
    "paper": {**_COMMON, "n_train": 8000, "n_val": 2000, "epochs": 30, "seeds": 8, "keeps": (0.3, 0.5, 0.7, 0.9),
              "nets": {"mlp": {"widths": (), "fc": (256,) * 6}, "cnn": {"widths": (32, 32, 64, 64), "fc": 256}}},
}
NET_LABELS = {"mlp": "MLP", "cnn": "CNN"}


def net_seeds(seed: int, n: int) -> list[int]:
    """The training seeds of the trained-network figures (shared by variance_shift_layers and
    variance_shift_fixes, so both describe the same networks)."""
    return [derive_seed(seed, "variance_shift_nets", r) % 2**31 for r in range(n)]


def net_record(spec: dict[str, Any], net: str, variant: str | None, keep: float, seed: int) -> dict[str, Any]:
    """The CNNConfig record of network `net` of `spec` with dropout `variant` (a VARIANTS key, None:
    no dropout) at `keep`, seed `seed`; evaluated only at the end of training."""
    steps = spec["epochs"] * (spec["n_train"] // spec["batch"])
    rec = {k: spec[k] for k in ("dataset", "lr", "momentum", "batch", "n_train", "n_val", "epochs")}
    rec.update(spec["nets"][net], norm="bn", seed=seed, eval_every=steps)
    if variant is not None:
        kind, place = VARIANTS[variant]
        rec.update(dropout=kind, p_drop=1.0 - keep, dropout_place=place)
    return rec


def run_nets(spec: dict[str, Any], seed: int, cache: PointCache, figure: str, variants: tuple[str, ...],
             reference: bool, **sweep_kw: Any) -> dict[tuple, list[dict]]:
    """Train and diagnose (sims.nn.sweep.run_shift_point) every net x variant x keep of `spec` on its
    seeds, plus (if `reference`) every net without dropout.  Returns (net, variant, keep) -> list of
    per-seed results; the reference is (net, "none", 1.0)."""
    seeds = net_seeds(seed, spec["seeds"])
    groups: dict[tuple, list[dict]] = {}
    for net in spec["nets"]:
        for v in variants:
            for k in spec["keeps"]:
                groups[(net, v, float(k))] = [net_record(spec, net, v, k, s) for s in seeds]
        if reference:
            groups[(net, "none", 1.0)] = [net_record(spec, net, None, 1.0, s) for s in seeds]
    return run_groups(groups, cache, figure, point=run_shift_point, **sweep_kw)


_PER_FIX = {"test_acc": ("test_acc", "reest_test_acc"), "train_acc": ("train_acc", "reest_train_acc"),
            "flips_to_wrong": ("flips_to_wrong", "reest_flips_to_wrong"),
            "flips_to_right": ("flips_to_right", "reest_flips_to_right")}
COLUMNS = ("net", "fix", "label", "keep", "beta", "n_seeds", "n_diverged", "test_acc", "test_acc_se", "d_test_acc",
           "d_test_acc_se", "train_acc", "train_acc_se", "train_mode_acc", "train_mode_acc_se", "flips_to_wrong",
           "flips_to_wrong_se", "flips_to_right", "flips_to_right_se", "n_train")


def compute(spec: dict[str, Any], seed: int, cache: PointCache, **sweep_kw: Any) -> dict[str, Any]:
    """Every net x variant x keep of `spec` (a SCALES entry) on its seeds, plus no dropout.  Returns
    the plotted table, one row per (net, fix, keep): test accuracy (mean ± SE over seeds), its paired
    difference to the baseline at the same keep, inference-mode and training-mode accuracy on the
    training set and the flips between them (counts over the training set)."""
    runs = run_nets(spec, seed, cache, NAME, tuple(VARIANTS), True, **sweep_kw)
    rows: dict[str, list] = {k: [] for k in COLUMNS}
    for net in spec["nets"]:
        for fix in FIXES:
            keeps = [1.0] if fix == "none" else [float(k) for k in spec["keeps"]]
            for k in keeps:
                rs = runs[(net, "before" if fix == "reest" else fix, k)]
                base = runs[(net, "before", k)] if fix != "none" else rs
                j = 1 if fix == "reest" else 0
                val = {m: np.array([float(r[src[j]]) for r in rs]) for m, src in _PER_FIX.items()}
                val["train_mode_acc"] = np.array([float(r["train_mode_acc"]) for r in rs])
                b = np.array([float(r["test_acc"]) for r in base])
                out: dict[str, Any] = {"net": net, "fix": fix, "label": FIX_LABELS[fix], "keep": k,
                                       "beta": matched_uout_beta(k) if fix == "uout" else 0.0,
                                       "n_diverged": int(sum(bool(r["diverged"]) for r in rs)),
                                       "n_train": spec["n_train"]}
                for m, v in val.items():
                    out[m], out[m + "_se"], n = mean_se(v)
                    if m == "test_acc":
                        out["n_seeds"] = n
                out["d_test_acc"], out["d_test_acc_se"], _ = mean_se(val["test_acc"] - b)
                if fix in ("before", "none"):  # the difference to itself: 0 exactly
                    out["d_test_acc"], out["d_test_acc_se"] = 0.0, 0.0
                for c in COLUMNS:
                    rows[c].append(out[c])
    return {k: np.array(v) for k, v in rows.items()}


_STYLE = {"before": ("C3", "o", "-"), "last": ("C2", "s", "-"), "uout": ("C1", "^", "-"), "reest": ("C0", "D", "--")}


def plot(t: dict[str, Any]) -> plt.Figure:
    """Top: test accuracy vs keep per fix (no dropout as a band), one panel per network.  Bottom:
    training-set samples correct in training mode but wrong at inference, per fix."""
    nets = list(dict.fromkeys(t["net"].tolist()))
    fig, axes = plt.subplots(2, len(nets), figsize=(6.2 * len(nets), 8.4), squeeze=False)
    for col, net in enumerate(nets):
        ax, axf = axes[0, col], axes[1, col]
        ref = (t["net"] == net) & (t["fix"] == "none")
        if ref.any():
            mu, se = float(t["test_acc"][ref][0]), float(np.nan_to_num(t["test_acc_se"][ref][0]))
            ax.axhspan(mu - se, mu + se, color="0.85")
            ax.axhline(mu, color="0.4", lw=1, label=f"{FIX_LABELS['none']} ({mu:.3f})")
        for j, fix in enumerate(f for f in FIXES if f != "none"):
            sel = (t["net"] == net) & (t["fix"] == fix)
            c, m, ls = _STYLE[fix]
            x = t["keep"][sel].astype(float) + 0.006 * (j - 1.5)
            ax.errorbar(x, t["test_acc"][sel], yerr=np.nan_to_num(t["test_acc_se"][sel]), color=c, marker=m, ls=ls,
                        capsize=2, ms=5, label=FIX_LABELS[fix])
            axf.errorbar(x, t["flips_to_wrong"][sel], yerr=np.nan_to_num(t["flips_to_wrong_se"][sel]), color=c,
                         marker=m, ls=ls, capsize=2, ms=5, label=FIX_LABELS[fix])
        n_tr = int(t["n_train"][0]) if len(t["n_train"]) else 0
        ax.set(xlabel="keep probability", ylabel="test accuracy (mean ± SE over seeds)",
               title=f"{NET_LABELS.get(net, net)}, MNIST-1D: test accuracy of each fix")
        axf.set(xlabel="keep probability", ylabel="samples (mean ± SE over seeds)",
                title=f"{NET_LABELS.get(net, net)}: training samples (of {n_tr}) correct in train mode,\n"
                      "wrong at inference (same weights)")
        n_div = int(np.sum(t["n_diverged"][t["net"] == net]))
        if n_div:
            ax.text(0.02, 0.02, f"diverged runs (not plotted): {n_div}", transform=ax.transAxes, color="C3", fontsize=8)
        for a in (ax, axf):
            a.grid(alpha=0.3)
            a.legend(fontsize=7)
    fig.tight_layout()
    return fig

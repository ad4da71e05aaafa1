"""variance_shift_layers: how the variance shift compounds with depth (docs/variance_shift.md).
A random stack [dropout -> linear -> BN -> ReLU] x depth is run in train mode (running statistics)
and in inference mode; per BN layer, the real inference-mode variance of its input over the running
variance (1 = no shift) and the squared mean shift, against the mean-field recursion
`theory.variance_shift.mean_field_shift` (Li et al. 2019, arXiv:1801.05134, Fig. 1 for trained
networks) and, dotted, the mean field with the measured O(1/width) correction at each width
(`finite_width_shift`, where measured: Bernoulli dropout, layers 1-8; `variance_shift_width`).

Trained networks (the networks of `variance_shift_fixes`: an MLP and the small CNN with BN on
MNIST-1D; Bernoulli dropout before every BN, Uout with matched beta before every BN, and dropout
after the last BN only, at each keep): per BN layer, on the training set, the real variance of the
layer's input in inference mode over the running variance learned in training
(`sims.nn.diagnostics.bn_shift_per_layer`), mean ± SE over seeds, beside the mean-field recursion
for the same noise (s2) and depth.  For trained networks the mean field is only a reference: their
weights are not random and their BN has learned gamma, beta; nothing is fitted.

One table: rows with source = "random stack" (columns real_var, running_var, reest_var_ratio "-")
and source = "trained" (width = the channels of the BN layer; reest_var_ratio = the ratio after
`reestimate_bn_statistics`)."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from bnreg.runtime import PointCache, derive_seed, sweep
from bnreg.sims.nn.sweep import mean_se
from bnreg.sims.variance_shift import simulate_stack_shift
from bnreg.theory import variance_shift as VS
from bnreg.theory import variance_shift_width as VSW

from . import variance_shift_fixes as FIXES
from ._io import columns_from_rows

NAME = "variance_shift_layers"
TITLE = "Variance shift through depth: running vs real inference variance per BN layer"
# Each sweep point runs on one thread, so by default the points go to one process per core.
SERIAL_POINTS = True
COLUMNS = ("setting", "noise", "keep", "beta", "width", "layer", "var_ratio", "var_ratio_se", "mean_shift2",
           "mean_shift2_se", "mf_var_ratio", "mf_mean_shift2", "source", "net", "variant", "layer_name", "n_nets",
           "real_var", "running_var", "reest_var_ratio", "fw_var_ratio")
RANDOM = "random stack"
TRAINED_VARIANTS = ("before", "uout", "last")
VARIANT_LABELS = {"before": "dropout before every BN", "uout": "Uout (matched beta) before every BN",
                  "last": "dropout after the last BN only"}
SETTINGS = (("bernoulli", 0.5, 0.0), ("bernoulli", 0.8, 0.0), ("bernoulli", 0.95, 0.0), ("uout", 1.0, 0.5))
# random stack; "trained": the trained networks (the variance_shift_fixes spec of the same scale)
SCALES: dict[str, dict[str, Any]] = {
    "quick": {"depth": 6, "widths": (64,), "n_nets": 2, "n_train": 4096, "n_test": 4096, "M": 128,
              "trained": FIXES.SCALES["quick"]},
    "default": {"depth": 8, "widths": (64, 512), "n_nets": 8, "n_train": 32768, "n_test": 32768, "M": 128,
                "trained": FIXES.SCALES["default"]},
    "paper": {"depth": 12, "widths": (64, 512, 2048), "n_nets": 16, "n_train": 131072, "n_test": 131072, "M": 128,
              "trained": FIXES.SCALES["paper"]},
}


def _label(noise: str, keep: float, beta: float) -> str:
    return f"Uout beta = {beta:g}" if noise == "uout" else f"dropout keep = {keep:g}"


def point(*, noise: str, keep: float, beta: float, width: int, depth: int, n_nets: int, n_train: int, n_test: int,
          M: int, seed: int) -> dict[str, Any]:
    kw = {"beta": beta, "keep": None} if noise == "uout" else {"keep": keep}
    r = simulate_stack_shift(depth, width, noise, M=M, n_train=n_train, n_test=n_test, n_nets=n_nets, seed=seed,
                             **kw)
    return {"var_ratio": [x.estimate for x in r.var_ratio], "var_ratio_se": [x.se for x in r.var_ratio],
            "mean_shift2": [x.estimate for x in r.mean_shift2], "mean_shift2_se": [x.se for x in r.mean_shift2]}


def compute(spec: dict[str, Any], seed: int, cache: PointCache, **sweep_kw: Any) -> dict[str, Any]:
    recs = [dict(noise=n, keep=k, beta=b, width=w) for n, k, b in SETTINGS for w in spec["widths"]]
    items = [{**r, **{k: spec[k] for k in ("depth", "n_nets", "n_train", "n_test", "M")},
              "seed": derive_seed(seed, NAME, r["noise"], r["keep"], r["beta"], r["width"])} for r in recs]
    res = sweep(point, items, cache=cache, name=NAME, **sweep_kw)
    rows = []
    for r, x in zip(recs, res, strict=True):
        kw = {"beta": r["beta"], "keep": None} if r["noise"] == "uout" else {"keep": r["keep"]}
        mf = VS.mean_field_shift(spec["depth"], noise=r["noise"], **kw)
        for j in range(spec["depth"]):
            rows.append((_label(r["noise"], r["keep"], r["beta"]), r["noise"], r["keep"], r["beta"], r["width"], j + 1,
                         float(x["var_ratio"][j]), float(x["var_ratio_se"][j]), float(x["mean_shift2"][j]),
                         float(x["mean_shift2_se"][j]), float(mf["var_ratio"][j]), float(mf["mean_shift2"][j]),
                         RANDOM, "random", "before", str(j + 1), spec["n_nets"], "-", "-", "-",
                         _finite_width(r, j + 1)))
    if spec.get("trained"):
        rows += _trained_rows(spec["trained"], seed, cache, **sweep_kw)
    return columns_from_rows(COLUMNS, rows)


def _finite_width(r: dict[str, Any], layer: int) -> float | str:
    """The measured finite-width prediction (theory.variance_shift_width.finite_width_shift) where it
    is defined (Bernoulli dropout at a measured keep, layers 1..8, width >= 32), else "-"."""
    if r["noise"] != "bernoulli" or r["keep"] not in VSW.WIDTH_CORRECTION or layer > VSW.WIDTH_DEPTH or r["width"] < 32:
        return "-"
    return VSW.finite_width_shift(layer, r["width"], r["keep"])


def _numbers(col: np.ndarray) -> np.ndarray:
    """A table column as floats, "-" (not applicable) as nan."""
    return np.array([np.nan if str(x) in ("-", "") else float(x) for x in col])


def _trained_rows(tspec: dict[str, Any], seed: int, cache: PointCache, **sweep_kw: Any) -> list[tuple]:
    """Per trained net x variant x keep x BN layer: the measured ratio and mean shift (mean ± SE over
    seeds, diverged runs dropped) and the mean-field recursion for the same noise variance and depth
    (no dropout before any BN for "last": prediction 1)."""
    runs = FIXES.run_nets(tspec, seed, cache, NAME, TRAINED_VARIANTS, False, **sweep_kw)
    rows = []
    for (net, variant, keep), rs in runs.items():
        ok = [r for r in rs if not bool(r["diverged"])]
        names = [str(n) for n in rs[0]["layers"]]
        noise = "uout" if variant == "uout" else "bernoulli"
        beta = VS.matched_uout_beta(keep) if variant == "uout" else 0.0
        kw = {"noise": "uout", "beta": beta} if variant == "uout" else {"keep": 1.0 if variant == "last" else keep}
        mf = VS.mean_field_shift(len(names), **kw)
        widths = _bn_widths(tspec["nets"][net])
        for j, name in enumerate(names):
            agg = {k: mean_se([float(r[k][j]) for r in ok]) for k in ("var_ratio", "mean_shift2", "real_var",
                                                                      "running_var", "reest_var_ratio")}
            rows.append((f"trained {FIXES.NET_LABELS[net]}: {VARIANT_LABELS[variant]}, keep = {keep:g}", noise, keep,
                         beta, widths[j], j + 1, agg["var_ratio"][0], agg["var_ratio"][1], agg["mean_shift2"][0],
                         agg["mean_shift2"][1], float(mf["var_ratio"][j]), float(mf["mean_shift2"][j]), "trained",
                         net, variant, name, agg["var_ratio"][2], agg["real_var"][0], agg["running_var"][0],
                         agg["reest_var_ratio"][0], "-"))
    return rows


def _bn_widths(net: dict[str, Any]) -> list[int]:
    """Channels of every BN layer of a net spec (convs, then the hidden fc layers)."""
    fc = net["fc"]
    return [*net["widths"], *(fc if isinstance(fc, (tuple, list)) else (fc,))]


def plot(t: dict[str, Any]) -> plt.Figure:
    trained = t["source"] == "trained"
    nets = list(dict.fromkeys(t["net"][trained].tolist()))
    ncols = max(2, len(nets))
    fig, grid = plt.subplots(2 if nets else 1, ncols, figsize=(6 * ncols, 4.4 * (2 if nets else 1)), squeeze=False)
    axes = grid[0]
    rnd = t["source"] == RANDOM
    widths = sorted(set(int(w) for w in t["width"][rnd]))
    marks = "os^D"
    for j, (n, k, b) in enumerate(SETTINGS):
        lab = _label(n, k, b)
        base = rnd & (t["setting"] == lab) & (t["width"] == widths[0])
        for ax, col in zip(axes, ("var_ratio", "mean_shift2"), strict=False):
            ax.plot(t["layer"][base], t[f"mf_{col}"][base], color=f"C{j}", label=f"{lab}: mean field")
            for i, w in enumerate(widths):
                sel = rnd & (t["setting"] == lab) & (t["width"] == w)
                fw = _numbers(t["fw_var_ratio"][sel])
                if col == "var_ratio" and np.isfinite(fw).any():  # measured O(1/width) correction
                    ax.plot(t["layer"][sel], fw, color=f"C{j}", ls=":", lw=1,
                            label=f"mean field x (1 + a_l/n), n = {w}" if j == 0 else None)
                ax.errorbar(t["layer"][sel] + 0.08 * i, t[col][sel], yerr=t[f"{col}_se"][sel], fmt=marks[i % 4],
                            color=f"C{j}", ms=4, capsize=2, mfc="none" if i else None,
                            label=f"random stack, width {w}" if j == 0 else None)
    axes[0].set_yscale("log")
    axes[0].axhline(1.0, color="k", lw=0.8)
    axes[0].set(xlabel="BN layer", ylabel="real inference variance / running variance",
                title="random stack: variance shift per layer (1 = none)")
    axes[1].set(xlabel="BN layer", ylabel="(real mean - running mean)^2 / running variance",
                title="random stack: mean shift per layer")
    for a in axes[2:]:
        a.set_visible(False)
    for a in axes[:2]:
        a.grid(alpha=0.3)
        a.legend(fontsize=7)
    style = {"before": ("o", "-", None), "uout": ("^", ":", "none"), "last": ("s", "", "none")}
    for ax, net in zip(grid[1] if nets else [], nets, strict=False):
        keeps = sorted(set(float(k) for k in t["keep"][trained & (t["net"] == net)]))
        for i, keep in enumerate(keeps):
            for v in TRAINED_VARIANTS:
                sel = trained & (t["net"] == net) & (t["variant"] == v) & (t["keep"] == keep)
                if not sel.any():
                    continue
                m, ls, mfc = style[v]
                x = t["layer"][sel] + 0.07 * (TRAINED_VARIANTS.index(v) - 1)
                se = np.nan_to_num(t["var_ratio_se"][sel].astype(float))
                ax.errorbar(x, t["var_ratio"][sel].astype(float), yerr=se, fmt=m, ls=ls, color=f"C{i}", ms=5,
                            mfc=mfc, capsize=2)
                if v == "before":
                    ax.plot(t["layer"][sel], t["mf_var_ratio"][sel], color=f"C{i}", ls="--", lw=1)
        handles = [Line2D([], [], color=f"C{i}", lw=2, label=f"keep {k:g}") for i, k in enumerate(keeps)]
        handles += [Line2D([], [], color="k", marker=style[v][0], ls=style[v][1] or "none", mfc=style[v][2],
                           label=VARIANT_LABELS[v]) for v in TRAINED_VARIANTS]
        handles.append(Line2D([], [], color="k", ls="--", lw=1, label="mean field (random weights; same s2)"))
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set(xlabel="BN layer", ylabel="real inference variance / running variance",
               title=f"trained {FIXES.NET_LABELS.get(net, net)} (MNIST-1D, training set; mean ± SE over seeds)")
        ax.grid(alpha=0.3)
        ax.legend(handles=handles, fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig

"""variance_shift_layers: how the variance shift compounds with depth (docs/variance_shift.md).
A random stack [dropout -> linear -> BN -> ReLU] x depth is run in train mode (running statistics)
and in inference mode; per BN layer, the real inference-mode variance of its input over the running
variance (1 = no shift) and the squared mean shift, against the mean-field recursion
`theory.variance_shift.mean_field_shift` (Li et al. 2019, arXiv:1801.05134, Fig. 1 for trained
networks)."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt

from bnreg.sims.executor import PointCache, sweep
from bnreg.sims.rng import derive_seed
from bnreg.sims.variance_shift import simulate_stack_shift
from bnreg.theory import variance_shift as VS

from ._io import columns_from_rows

NAME = "variance_shift_layers"
TITLE = "Variance shift through depth: running vs real inference variance per BN layer"
COLUMNS = ("setting", "noise", "keep", "beta", "width", "layer", "var_ratio", "var_ratio_se", "mean_shift2",
           "mean_shift2_se", "mf_var_ratio", "mf_mean_shift2")
SETTINGS = (("bernoulli", 0.5, 0.0), ("bernoulli", 0.8, 0.0), ("bernoulli", 0.95, 0.0), ("uout", 1.0, 0.5))
SCALES: dict[str, dict[str, Any]] = {
    "quick": {"depth": 6, "widths": (64,), "n_nets": 2, "n_train": 4096, "n_test": 4096, "M": 128},
    "default": {"depth": 8, "widths": (64, 512), "n_nets": 8, "n_train": 32768, "n_test": 32768, "M": 128},
    "paper": {"depth": 12, "widths": (64, 512, 2048), "n_nets": 16, "n_train": 131072, "n_test": 131072, "M": 128},
}


def _label(noise: str, keep: float, beta: float) -> str:
    return f"Uout beta = {beta:g}" if noise == "uout" else f"dropout keep = {keep:g}"


def point(rec: dict[str, Any]) -> dict[str, Any]:
    kw = {"beta": rec["beta"], "keep": None} if rec["noise"] == "uout" else {"keep": rec["keep"]}
    r = simulate_stack_shift(rec["depth"], rec["width"], rec["noise"], M=rec["M"], n_train=rec["n_train"],
                             n_test=rec["n_test"], n_nets=rec["n_nets"], seed=rec["seed"], **kw)
    return {"var_ratio": [x.estimate for x in r.var_ratio], "var_ratio_se": [x.se for x in r.var_ratio],
            "mean_shift2": [x.estimate for x in r.mean_shift2], "mean_shift2_se": [x.se for x in r.mean_shift2]}


def compute(spec: dict[str, Any], seed: int, cache: PointCache, **sweep_kw: Any) -> dict[str, Any]:
    recs = [dict(noise=n, keep=k, beta=b, width=w) for n, k, b in SETTINGS for w in spec["widths"]]
    items = [{**r, **{k: spec[k] for k in ("depth", "n_nets", "n_train", "n_test", "M")},
              "seed": derive_seed(seed, NAME, r["noise"], r["keep"], r["beta"], r["width"])} for r in recs]
    res = sweep(point, items, lambda it: {"figure": NAME, **it}, cache, desc=NAME, **sweep_kw)
    rows = []
    for r, x in zip(recs, res, strict=True):
        kw = {"beta": r["beta"], "keep": None} if r["noise"] == "uout" else {"keep": r["keep"]}
        mf = VS.mean_field_shift(spec["depth"], noise=r["noise"], **kw)
        for j in range(spec["depth"]):
            rows.append((_label(r["noise"], r["keep"], r["beta"]), r["noise"], r["keep"], r["beta"], r["width"], j + 1,
                         float(x["var_ratio"][j]), float(x["var_ratio_se"][j]), float(x["mean_shift2"][j]),
                         float(x["mean_shift2_se"][j]), float(mf["var_ratio"][j]), float(mf["mean_shift2"][j])))
    return columns_from_rows(COLUMNS, rows)


def plot(t: dict[str, Any]) -> plt.Figure:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    widths = sorted(set(int(w) for w in t["width"]))
    marks = "os^D"
    for j, (n, k, b) in enumerate(SETTINGS):
        lab = _label(n, k, b)
        base = (t["setting"] == lab) & (t["width"] == widths[0])
        for ax, col in zip(axes, ("var_ratio", "mean_shift2"), strict=True):
            ax.plot(t["layer"][base], t[f"mf_{col}"][base], color=f"C{j}", label=f"{lab}: mean field")
            for i, w in enumerate(widths):
                sel = (t["setting"] == lab) & (t["width"] == w)
                ax.errorbar(t["layer"][sel] + 0.08 * i, t[col][sel], yerr=t[f"{col}_se"][sel], fmt=marks[i % 4],
                            color=f"C{j}", ms=4, capsize=2, mfc="none" if i else None,
                            label=f"random stack, width {w}" if j == 0 else None)
    axes[0].set_yscale("log")
    axes[0].axhline(1.0, color="k", lw=0.8)
    axes[0].set(xlabel="BN layer", ylabel="real inference variance / running variance",
                title="variance shift per layer (1 = none)")
    axes[1].set(xlabel="BN layer", ylabel="(real mean - running mean)^2 / running variance",
                title="mean shift per layer")
    for a in axes:
        a.grid(alpha=0.3)
        a.legend(fontsize=7)
    fig.tight_layout()
    return fig

"""variance_shift_ratio: Delta = Var_test/Var_train of a BN input after dropout (Li et al. 2019,
arXiv:1801.05134; docs/variance_shift.md).  (a) Delta vs keep for one input (case a), Bernoulli and
Gaussian dropout and Uout with the matched width; (b) Delta vs the number d of summed inputs for
several correlations, weights aligned with (1,...,1) (cos2 = 1) or generic (cos2 = 1/d);
(c) Uout: Delta vs beta.  Lines: theory; points: Monte Carlo +- 1 SE."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from bnreg.runtime import PointCache, derive_seed, sweep
from bnreg.sims.variance_shift import simulate_variance_shift
from bnreg.theory import variance_shift as VS

from ._io import columns_from_rows

NAME = "variance_shift_ratio"
TITLE = "Variance shift: test over train variance of a BN input after dropout"
COLUMNS = ("panel", "noise", "keep", "beta", "c", "d", "corr", "cos2", "mc", "se", "theory")
_KEEPS = (0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
_DS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_BETAS = (0.1, 0.25, 0.5, 1.0, 1.5, 2.0)
SCALES: dict[str, dict[str, Any]] = {
    "quick": {"keeps": (0.2, 0.5, 0.9), "ds": (1, 4, 16, 64), "betas": (0.1, 0.5, 1.5), "draws": 2**17},
    "default": {"keeps": _KEEPS, "ds": _DS, "betas": _BETAS, "draws": 2**22},
    "paper": {"keeps": _KEEPS, "ds": _DS, "betas": _BETAS, "draws": 2**26},
}
C_VALUES = (0.0, 1.0)
CORRS = (0.0, 0.1, 0.5)
KEEP_B = 0.5  # keep of panel (b)


def _records(spec: dict[str, Any]) -> list[dict[str, Any]]:
    recs = []
    for c in C_VALUES:
        for k in spec["keeps"]:
            recs.append(dict(panel="a", noise="bernoulli", keep=k, beta=0.0, c=c, d=1, corr=0.0, cos2=1.0))
            recs.append(dict(panel="a", noise="gaussian", keep=k, beta=0.0, c=c, d=1, corr=0.0, cos2=1.0))
            recs.append(dict(panel="a", noise="uout", keep=k, beta=VS.matched_uout_beta(k), c=c, d=1, corr=0.0,
                             cos2=1.0))
        for b in spec["betas"]:
            recs.append(dict(panel="c", noise="uout", keep=1.0, beta=b, c=c, d=1, corr=0.0, cos2=1.0))
    for r in CORRS:
        for d in spec["ds"]:
            for cos2 in (1.0, 1.0 / d):
                if d == 1 and cos2 != 1.0:
                    continue
                recs.append(dict(panel="b", noise="bernoulli", keep=KEEP_B, beta=0.0, c=0.0, d=d, corr=r, cos2=cos2))
    return [r for i, r in enumerate(recs) if r not in recs[:i]]  # d = 1 gives cos2 = 1/d = 1 twice


def theory(r: dict[str, Any]) -> float:
    if r["noise"] == "uout":
        return VS.uout_shift_ratio(r["beta"], r["c"], 1.0, r["d"], r["corr"], r["cos2"])
    return VS.variance_shift_ratio(r["keep"], r["c"], 1.0, r["d"], r["corr"], r["cos2"], r["noise"])


def point(*, panel: str, noise: str, keep: float, beta: float, c: float, d: int, corr: float, cos2: float,
          draws: int, seed: int) -> dict[str, float]:
    kw = {"beta": beta} if noise == "uout" else {"keep": keep}
    res = simulate_variance_shift(noise, c=c, v=1.0, d=d, corr=corr, cos2=cos2,
                                  n_samples=max(draws // (d + 1), 4096), seed=seed, **kw).ratio
    return {"mc": res.estimate, "se": res.se}


def compute(spec: dict[str, Any], seed: int, cache: PointCache, **sweep_kw: Any) -> dict[str, Any]:
    recs = _records(spec)
    items = [{**r, "draws": spec["draws"], "seed": derive_seed(seed, NAME, *r.values())} for r in recs]
    res = sweep(point, items, cache=cache, name=NAME, **sweep_kw)
    rows = [tuple(r[k] for k in COLUMNS[:8]) + (float(x["mc"]), float(x["se"]), theory(r))
            for r, x in zip(recs, res, strict=True)]
    return columns_from_rows(COLUMNS, rows)


def plot(t: dict[str, Any]) -> plt.Figure:
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    ax = axes[0]
    kg = np.linspace(0.02, 1.0, 200)
    marker = {"bernoulli": "o", "gaussian": "s", "uout": "^"}
    for j, c in enumerate(C_VALUES):
        ax.plot(kg, [VS.variance_shift_ratio(k, c, 1.0) for k in kg], color=f"C{j}", label=f"theory, c = {c:g}")
        for n in ("bernoulli", "gaussian", "uout"):
            sel = (t["panel"] == "a") & (t["noise"] == n) & (t["c"] == c)
            ax.errorbar(t["keep"][sel], t["mc"][sel], yerr=t["se"][sel], fmt=marker[n], color=f"C{j}", ms=4,
                        mfc="none" if n != "bernoulli" else None, capsize=2,
                        label=f"MC {n}" + (" (beta matched)" if n == "uout" else "") if j == 0 else None)
    ax.plot(kg, kg, "k:", lw=0.8, label="keep")
    ax.set(xlabel="keep", ylabel="Delta = Var_test / Var_train", title="(a) one input, v = 1")
    ax.legend(fontsize=7)
    ax = axes[1]
    ds = np.unique(t["d"][t["panel"] == "b"])
    dg = np.unique(np.round(np.geomspace(1, ds.max(), 100)).astype(int))
    for j, r in enumerate(CORRS):
        ax.plot(dg, [VS.variance_shift_ratio(KEEP_B, 0.0, 1.0, d, r, 1.0) for d in dg], color=f"C{j}",
                label=f"corr = {r:g}, cos2 = 1")
        ax.plot(dg, [VS.variance_shift_ratio(KEEP_B, 0.0, 1.0, d, r, 1.0 / d) for d in dg], color=f"C{j}", ls="--",
                label=f"corr = {r:g}, cos2 = 1/d")
        for cos_tag, mk in (("aligned", "o"), ("generic", "s")):
            sel = (t["panel"] == "b") & (t["corr"] == r)
            sel &= (t["cos2"] == 1.0) if cos_tag == "aligned" else (t["cos2"] < 1.0)
            ax.errorbar(t["d"][sel], t["mc"][sel], yerr=t["se"][sel], fmt=mk, color=f"C{j}", ms=4, capsize=2,
                        mfc="none" if cos_tag == "generic" else None)
    ax.set_xscale("log", base=2)
    ax.set(xlabel="inputs summed before BN, d", ylabel="Delta",
           title=f"(b) w·x of d inputs, keep = {KEEP_B:g}, c = 0")
    ax.legend(fontsize=7)
    ax = axes[2]
    bg = np.linspace(0.0, max(2.0, float(t["beta"][t["panel"] == "c"].max())), 200)
    for j, c in enumerate(C_VALUES):
        ax.plot(bg, [VS.uout_shift_ratio(b, c, 1.0) for b in bg], color=f"C{j}", label=f"theory, c = {c:g}")
        sel = (t["panel"] == "c") & (t["c"] == c)
        ax.errorbar(t["beta"][sel], t["mc"][sel], yerr=t["se"][sel], fmt="^", color=f"C{j}", ms=4, capsize=2)
    ax.axvline(VS.matched_uout_beta(0.5), color="k", ls=":", lw=0.8)
    ax.text(VS.matched_uout_beta(0.5), 0.05, " matches keep = 0.5", fontsize=7)
    ax.set(xlabel="Uout width beta", ylabel="Delta", title="(c) Uout: x (1 + U(-beta, beta))")
    ax.legend(fontsize=7)
    for a in axes:
        a.grid(alpha=0.3)
        a.set_ylim(0, 1.05)
    fig.tight_layout()
    return fig

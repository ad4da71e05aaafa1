"""
Dropout before BN: the variance shift
=====================================

Inverted dropout keeps a unit's mean but not its variance: in training BN learns the variance of
the dropped unit, at inference the unit is not dropped, so BN divides by the wrong number.  The
ratio Delta = Var_test/Var_train is keep v/(v + (1 - keep) c^2) for one input of mean c and
variance v (Li, Chen, Hu, Yang, CVPR 2019, arXiv:1801.05134; derived in general in
docs/variance_shift.md), and it compounds through a deep [dropout -> linear -> BN -> ReLU] stack.
"""

# %%
# Ingredients: ``bnreg.theory.variance_shift`` (Delta, the mean-field recursion through depth) and
# ``bnreg.sims.variance_shift`` (Monte Carlo of one unit, a random deep stack).
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from bnreg.demos.common import Report, interactive, quick_from_env
from bnreg.runtime import derive_seed
from bnreg.sims.variance_shift import simulate_stack_shift, simulate_variance_shift
from bnreg.theory import variance_shift as VS

NAME = "variance_shift"
TITLE = "dropout before BN: the variance shift Delta, one unit and through depth"
KEEPS = (0.3, 0.5, 0.8)
MEANS = (0.0, 1.0)
DEPTH = 6


# %%
# One unit: Delta against keep for zero-mean and mean-1 inputs (v = 1), theory vs Monte Carlo.
def unit(samples: int, seed: int = 0) -> list[dict[str, float]]:
    rows = []
    for c in MEANS:
        for k in KEEPS:
            r = simulate_variance_shift("bernoulli", keep=k, c=c, v=1.0, n_samples=samples,
                                        seed=derive_seed(seed, NAME, k, c)).ratio
            rows.append({"c": c, "keep": k, "theory": VS.variance_shift_ratio(k, c, 1.0), "mc": r.estimate,
                         "se": r.se})
    return rows


# %%
# Through depth: the real inference-mode variance over the running variance at each BN layer of a
# random stack, against the mean-field recursion.
def stack(keep: float, width: int, n_train: int, n_nets: int, seed: int = 0) -> list[dict[str, float]]:
    mf = VS.mean_field_shift(DEPTH, keep=keep)["var_ratio"]
    r = simulate_stack_shift(depth=DEPTH, width=width, keep=keep, M=64, n_train=n_train, n_test=n_train,
                             n_nets=n_nets, seed=derive_seed(seed, NAME, "stack"))
    return [{"layer": layer + 1, "theory": float(mf[layer]), "mc": r.var_ratio[layer].estimate,
             "se": r.var_ratio[layer].se} for layer in range(DEPTH)]


# %%
# The figure.
def plot(units: list[dict[str, float]], layers: list[dict[str, float]], keep: float) -> plt.Figure:
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    kg = np.linspace(0.05, 1.0, 100)
    for j, c in enumerate(MEANS):
        ax.plot(kg, [VS.variance_shift_ratio(k, c, 1.0) for k in kg], f"C{j}-", label=f"theory, c = {c:g}")
        sel = [r for r in units if r["c"] == c]
        ax.errorbar([r["keep"] for r in sel], [r["mc"] for r in sel], [r["se"] for r in sel], fmt="o", color=f"C{j}",
                    capsize=2, label=f"Monte Carlo, c = {c:g}")
    ax.set_xlabel("keep probability")
    ax.set_ylabel("Δ = Var_test / Var_train")
    ax.set_title("one unit after dropout (v = 1)")
    ax.legend(fontsize=8)
    L = [r["layer"] for r in layers]
    ax2.semilogy(L, [r["theory"] for r in layers], "k-", label="mean field")
    ax2.errorbar(L, [r["mc"] for r in layers], [r["se"] for r in layers], fmt="o", capsize=2, label="random stack")
    ax2.set_xlabel("BN layer")
    ax2.set_ylabel("inference variance / running variance")
    ax2.set_title(f"[dropout → linear → BN → ReLU] × {DEPTH}, keep = {keep}")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


# %%
# Run it.
def main(save: str | None = None, quick: bool = False, seed: int = 0) -> dict[str, float]:
    rep = Report(NAME, TITLE, quick, seed)
    units = unit(2**17 if quick else 2**21, seed)
    for r in units:
        rep.compare(f"keep = {r['keep']:.1f}, c = {r['c']:g}: Delta", f"delta_k{r['keep']:g}_c{r['c']:g}",
                    r["theory"], r["mc"], r["se"])
    keep = 0.5
    layers = stack(keep, 32 if quick else 128, 2048 if quick else 8192, 3 if quick else 4, seed)
    for r in layers[1::2]:
        rep.compare(f"stack layer {r['layer']}: variance ratio", f"stack_l{r['layer']}", r["theory"], r["mc"],
                    r["se"])
    table = {"kind": np.array(["unit"] * len(units) + ["stack"] * len(layers)),
             "keep": np.array([r["keep"] for r in units] + [keep] * len(layers)),
             "c": np.array([r["c"] for r in units] + [0.0] * len(layers)),
             "layer": np.array([1] * len(units) + [r["layer"] for r in layers]),
             "theory": np.array([r["theory"] for r in units + layers]),
             "mc": np.array([r["mc"] for r in units + layers]), "se": np.array([r["se"] for r in units + layers])}
    return rep.finish(plot(units, layers, keep), table, save)


# %%
# Optional: move keep with a slider (theory only; instant).
def explore(keep: float = 0.5, c: float = 1.0) -> None:
    print(f"Delta = {VS.variance_shift_ratio(keep, c, 1.0):.4f}; through {DEPTH} layers: "
          + " ".join(f"{x:.3g}" for x in VS.mean_field_shift(DEPTH, keep=keep)["var_ratio"]))


if __name__ == "__main__":
    results = main(quick=quick_from_env())
    widgets = interactive()
    if widgets is not None:
        widgets.interact(explore, keep=widgets.FloatSlider(value=0.5, min=0.05, max=1.0, step=0.05),
                         c=widgets.FloatSlider(value=1.0, min=0.0, max=3.0, step=0.1))

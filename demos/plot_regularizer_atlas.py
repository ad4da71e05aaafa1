"""
Every regularizer as a ridge
============================

Weight decay, weight normalization with gamma decay, input dropout, early stopping and BN's own SGD
noise all regularize the linear teacher-student model, and each has been mapped to a ridge
coefficient lam (docs/teacher_student.md, "Every regularizer as a ridge"; docs/bn_dynamics.md for
BN).  If a mapping is right, that regularizer's students have the error of the ridge solution at
their lam: they sit on the curve eps_ridge(lam).  Here one setting per regularizer is trained on the
same footing (N inputs, P = alpha N samples, label noise delta2), its lam computed, and the distance to
the curve printed with its z.  It is run at alpha = 2, where the fit does not interpolate and BN's
noise ridge exists; the figure adds alpha = 0.5 without BN.
"""

# %%
# Ingredients: the students and the mappings of the figure ``regularizer_atlas`` (``point`` trains
# one regularizer's students, ``mapped_lam`` gives its lam and the leading-order lam), the ridge
# curve ``gen_error_ridge`` and, for BN, the model beyond leading order ``bn_sgd_error``.
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from bnreg.demos.common import Report, quick_from_env
from bnreg.figures.regularizer_atlas import BN_M, DELTA2, mapped_lam, point
from bnreg.runtime import derive_seed
from bnreg.theory import bn_dynamics_fluctuation as BF
from bnreg.theory import teacher_student as TS

NAME = "regularizer_atlas"
TITLE = "Every regularizer as a ridge: students at their mapped lam against the ridge curve"
SETTINGS = (("weight decay", 0.3), ("WN + gamma decay", 0.3), ("input dropout", 0.8), ("early stopping", 1.0),
            ("early stopping", 10.0), ("BN noise", 0.02), ("BN noise", 0.1))
WHAT = {"weight decay": "lam", "WN + gamma decay": "alpha zeta", "input dropout": "keep", "early stopping": "tau",
        "BN noise": "lr_eff"}


# %%
# 1. Train every setting's students and map it to lam.
def simulate(alpha: float, N: int, n_seeds: int, seed: int) -> list[dict[str, float | str]]:
    rows = []
    for reg, s in SETTINGS:
        if reg == "BN noise" and alpha <= 1:
            continue  # the fit interpolates: no noise ridge at this order
        x = point(alpha=alpha, regularizer=reg, setting=s, N=N, n_seeds=n_seeds,
                  seed=derive_seed(seed, NAME, alpha, reg, s))
        lam, lam0 = mapped_lam(alpha, reg, s, N)
        model = BF.bn_sgd_error(alpha, BN_M, DELTA2, s, N) if reg == "BN noise" else float("nan")
        rows.append({"alpha": alpha, "regularizer": reg, "setting": s, "lam": lam, "lam_leading_order": lam0,
                     "eps": float(x["eps"]), "se": float(x["se"]), "ridge": TS.gen_error_ridge(alpha, lam, DELTA2),
                     "model": model})
    return rows


# %%
# 2. The picture: the ridge curve and every student at its lam (BN: its model beyond leading order as x).
def plot(rows: list[dict], alphas: tuple[float, ...]) -> plt.Figure:
    fig, axes = plt.subplots(1, len(alphas), figsize=(6.2 * len(alphas), 4.4), squeeze=False)
    marks = {"weight decay": "o", "WN + gamma decay": "s", "input dropout": "^", "early stopping": "D",
             "BN noise": "v"}
    for ax, a in zip(axes[0], alphas, strict=True):
        lg = np.geomspace(1e-3, 1e2, 80)
        ax.plot(lg, [TS.gen_error_ridge(a, x, DELTA2) for x in lg], "k-", lw=1.2, label="ridge ε(λ)")
        for i, (reg, m) in enumerate(marks.items()):
            rs = [r for r in rows if r["alpha"] == a and r["regularizer"] == reg]
            if not rs:
                continue
            ax.errorbar([r["lam"] for r in rs], [r["eps"] for r in rs], [r["se"] for r in rs], fmt=m, color=f"C{i}",
                        capsize=2, label=reg)
            if reg == "BN noise":
                ax.plot([r["lam"] for r in rs], [r["model"] for r in rs], "x", color=f"C{i}", ms=7,
                        label="BN: ridge + fluctuation (bn_sgd_error)")
        ax.set_xscale("log")
        ax.set(xlabel="λ (per-N ridge coefficient)", ylabel="ε_gen", title=f"α = {a:g}, δ² = {DELTA2:g}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


# %%
# Run it: a student on the curve (a small z) means its mapping predicts its error.
def main(save: str | None = None, quick: bool = False, seed: int = 0) -> dict[str, float]:
    rep = Report(NAME, TITLE, quick, seed)
    N, n_seeds = (64, 4) if quick else (128, 16)
    alphas = (0.5, 2.0)
    rows = [r for a in alphas for r in simulate(a, N, n_seeds, seed)]
    rep.say(f"  N = {N}, {n_seeds} data sets per setting, delta2 = {DELTA2}; theory = the ridge curve at the "
            "mapped lam")
    for r in rows:
        key = f"a{r['alpha']:g}_{r['regularizer'].replace(' ', '_').replace('+', '')}_{r['setting']:g}"
        extra = f"lam = {r['lam']:.3g} (leading order {r['lam_leading_order']:.3g})"
        if r["regularizer"] == "BN noise":
            extra += f"; ridge + fluctuation model {r['model']:.4g}"
        rep.compare(f"alpha = {r['alpha']:g}, {r['regularizer']}, {WHAT[r['regularizer']]} = {r['setting']:g}", key,
                    r["ridge"], r["eps"], r["se"], extra)
    table = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    return rep.finish(plot(rows, alphas), table, save, {"N": N, "n_seeds": n_seeds, "delta2": DELTA2})


if __name__ == "__main__":
    results = main(quick=quick_from_env())

"""
BN at a finite learning rate: the noise ridge
=============================================

The BN student of the teacher-student model is scale invariant in w, so SGD moves its direction
with the effective learning rate ``lr_eff = lr/|w|^2``.  Held fixed (w renormalized after every step),
SGD's own noise acts as a ridge: to leading order in lr_eff the student settles at kappa x the
ridge solution at zeta = nu = lr_eff N rho2/M, below the lr -> 0 limit kappa x pinv
(docs/bn_dynamics.md).  Here: the stationary error of students trained at a few lr_eff against
that leading order, unpaired and paired with the prediction on each student's own data, and where
the leading order stops holding.
"""

# %%
# Ingredients: ``bnreg.theory.bn_dynamics`` (the leading order ``bn_stationary_error`` and the
# bound on the next order ``bn_stationary_next_order``), ``bnreg.sims.bn_dynamics`` (a BN student
# trained at a fixed lr_eff, with the same-data closed forms).
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter

from bnreg.demos.common import Report, interactive, quick_from_env
from bnreg.runtime import derive_seed, mc_from_values
from bnreg.sims.bn_dynamics import stationary_run
from bnreg.theory import bn_dynamics as BD
from bnreg.theory import teacher_student as TS

NAME = "bn_dynamics"
TITLE = "BN student at a fixed effective learning rate: stationary error vs the leading order"
M = 32
DELTA2 = 0.25
ALPHAS = (1.25, 2.0)
Q_JUDGED = 0.17  # the regime teacher.bn_stationary judges: q = lr_eff N f |v|^2/M <= 0.17


# %%
# The leading order at one (alpha, lr_eff) and the bounds on what it leaves out (both grow with
# ``q = lr_eff N f |v|^2/M``): the predictor's fluctuation raises the error by at most band_hi - eps, its
# feedback on the residual lowers it by at most eps - band_lo.  The check ``teacher.bn_stationary``
# allows the sum of both plus the lr -> 0 limit's own O(M^-2) allowance, and judges only q <= 0.17.
def theory(alpha: float, lr_eff: float, N: int) -> dict[str, float]:
    nx = BD.bn_stationary_next_order(alpha, M, DELTA2, lr_eff, N)
    k = TS.bn_shrinkage(M)
    limit_allowance = 2 * (1 - k) ** 2 * (1 + DELTA2 / (alpha - 1))
    eps = BD.bn_stationary_error(alpha, M, DELTA2, lr_eff, N)
    return {"eps": eps, "q": nx["q"], "band_lo": eps + nx["feedback"], "band_hi": eps + nx["fluctuation"],
            "allowance": nx["fluctuation"] + abs(nx["feedback"]) + limit_allowance}


# %%
# Simulation: at each alpha, the same n_sets data sets at every lr_eff; each student is trained with
# ``|w| = 1`` after every step, and its error is averaged over the epochs after a burn-in of 8 e-folds
# of the data's slowest mode.  Mean ± SE over data sets, unpaired (eps) and paired with the
# leading order on the same data (diff) and with kappa x pinv on the same data (below_limit).
def simulate(N: int, lrs, n_sets: int, seed: int = 0) -> list[dict[str, float]]:
    rows = []
    for a in ALPHAS:
        for e in lrs:
            runs = [stationary_run(N, a, DELTA2, M, e, derive_seed(seed, NAME, a, k)) for k in range(n_sets)]
            eps = mc_from_values([r.eps for r in runs])
            diff = mc_from_values([r.eps - r.extra["eps_theory"] for r in runs])
            below = mc_from_values([r.eps - r.extra["eps_limit"] for r in runs])
            th = theory(a, e, N)
            rows.append({"alpha": a, "lr_eff": e, "eps": eps.estimate, "se": eps.se, "theory": th["eps"],
                         "diff": diff.estimate, "diff_se": diff.se, "allowance": th["allowance"], "q": th["q"],
                         "minus_limit": below.estimate, "minus_limit_se": below.se,
                         "limit": TS.gen_error_bn_limit(a, DELTA2, M),
                         "ridge_opt": TS.gen_error_ridge(a, DELTA2, DELTA2),
                         "n": float(n_sets)})
    return rows


def signed(d: float, se: float) -> str:
    """'+d ± se' with two significant digits of the SE."""
    k = max(0, 1 - math.floor(math.log10(se))) if se > 0 and math.isfinite(se) else 4
    return f"{d:+.{k}f} ± {se:.{k}f}"


# %%
# The figure: one panel per alpha (error vs lr_eff: the leading order with its allowance band, the
# students, the lr -> 0 limit and the optimal ridge), and the paired differences with the allowance.
def plot(rows: list[dict[str, float]], N: int) -> plt.Figure:
    fig, axes = plt.subplots(1, len(ALPHAS) + 1, figsize=(4.2 * (len(ALPHAS) + 1), 4.2))
    lrs = sorted({r["lr_eff"] for r in rows})
    eg = np.geomspace(lrs[0] / 2, lrs[-1] * 1.5, 80)
    for ax, a, c in zip(axes, ALPHAS, ("C0", "C2"), strict=False):
        th = [theory(a, float(e), N) for e in eg]
        ax.plot(eg, [t["eps"] for t in th], "-", color=c, lw=1.5, label="leading order κ·ridge(ν)")
        ax.fill_between(eg, [t["band_lo"] for t in th], [t["band_hi"] for t in th], color=c, alpha=0.15,
                        label="next-order bounds")
        rs = [r for r in rows if r["alpha"] == a]
        ax.errorbar([r["lr_eff"] for r in rs], [r["eps"] for r in rs], [r["se"] for r in rs], fmt="o", color="k",
                    ms=4, capsize=2, label="BN students (± SE)")
        ax.axhline(rs[0]["limit"], color="k", ls="--", lw=1, label="lr → 0: κ·pinv")
        ax.axhline(rs[0]["ridge_opt"], color="C3", ls=":", lw=1.2, label="optimal ridge λ = δ²")
        ax.set_xscale("log")
        ax.set_xlabel("effective learning rate lr/|w|²")
        ax.set_ylabel("stationary ε_gen")
        ax.set_title(f"α = {a:g}, N = {N}, M = {M}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    ax = axes[-1]
    for k, (a, c) in enumerate(zip(ALPHAS, ("C0", "C2"), strict=False)):
        rs = [r for r in rows if r["alpha"] == a]
        x = np.array([r["lr_eff"] for r in rs]) * (1 + 0.06 * (2 * k - 1))
        judged = np.array([r["q"] <= Q_JUDGED for r in rs])
        d, s = np.array([r["diff"] for r in rs]), np.array([r["diff_se"] for r in rs])
        ax.errorbar(x[judged], d[judged], s[judged], fmt="o", color=c, ms=4, capsize=2,
                    label=f"α = {a:g}: student − leading order (same data)")
        ax.errorbar(x[~judged], d[~judged], s[~judged], fmt="o", mfc="none", color=c, ms=5, capsize=2,
                    label=f"α = {a:g}, q > {Q_JUDGED}: not judged")
        allow = np.array([theory(a, float(e), N)["allowance"] for e in eg])
        ax.fill_between(eg, -allow, allow, color=c, alpha=0.12, label=f"α = {a:g}: ± allowance of the check")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("effective learning rate lr/|w|²")
    ax.set_ylabel("student − leading order, same data (± SE)")
    ax.set_title("paired with the prediction on each data set", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6.5, loc="upper left")
    for ax in axes:
        ax.set_xticks(lrs, [f"{e:g}" for e in lrs])
        ax.xaxis.set_minor_formatter(NullFormatter())
    fig.tight_layout()
    return fig


# %%
# Run it: print the key numbers, draw, and save when asked.
def main(save: str | None = None, quick: bool = False, seed: int = 0) -> dict[str, float]:
    rep = Report(NAME, TITLE, quick, seed)
    N = 128 if quick else 256
    n_sets = 4 if quick else 12
    lrs = (0.005, 0.02, 0.05) if quick else (0.002, 0.005, 0.01, 0.02, 0.05)
    rows = simulate(N, lrs, n_sets, seed)
    rep.say(f"  N = {N}, M = {M}, delta2 = {DELTA2}, |w| renormalized every step; mean ± SE over {n_sets} data sets")
    rep.say("  paired = student − leading order on the same data; judged where q <= 0.17 (the regime of "
            "teacher.bn_stationary): inside = |paired| <= 2 SE + allowance")
    for a in ALPHAS:
        rs = [r for r in rows if r["alpha"] == a]
        rep.say(f"  alpha = {a:g}: lr -> 0 limit kappa·pinv {rs[0]['limit']:.4g}, "
                f"optimal ridge {rs[0]['ridge_opt']:.4g}")
        for r in rs:
            e = r["lr_eff"]
            key = f"a{a:g}_lr{e:g}"
            rep.compare(f"alpha = {a:g}, lr_eff = {e:<5g}", key, r["theory"], r["eps"], r["se"],
                        f"minus kappa·pinv (same data) {signed(r['minus_limit'], r['minus_limit_se'])}")
            z = r["diff"] / r["diff_se"]
            if r["q"] > Q_JUDGED:
                verdict = f"not judged (q > {Q_JUDGED}); " + (
                    f"the leading order misses by {r['diff']:+.2g}" if abs(z) >= 2 else "no difference resolved")
            else:
                verdict = "inside" if abs(r["diff"]) <= 2 * r["diff_se"] + r["allowance"] else "OUTSIDE"
            rep.say(f"      paired {signed(r['diff'], r['diff_se'])} (z = {z:+.1f}), allowance "
                    f"{r['allowance']:.2g}, q = {r['q']:.2f}: {verdict}")
            for k in ("diff", "diff_se", "allowance", "q", "minus_limit", "minus_limit_se"):
                rep.number(f"{key}_{k}", r[k])
    table = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    return rep.finish(plot(rows, N), table, save, {"N": N, "M": M, "delta2": DELTA2, "n_sets": n_sets})


# %%
# Optional: move lr_eff with a slider (in Jupyter with ipywidgets installed); theory only.
def explore(lr_eff: float = 0.01, alpha: float = 1.25, N: int = 256) -> None:
    t = theory(alpha, lr_eff, N)
    nu = BD.bn_noise_ridge(alpha, M, DELTA2, lr_eff, N)
    print(f"alpha = {alpha}, lr_eff = {lr_eff:g}, N = {N}: nu = {nu:.4g}, leading order {t['eps']:.4f} "
          f"(kappa·pinv {TS.gen_error_bn_limit(alpha, DELTA2, M):.4f}), allowance {t['allowance']:.2g}, "
          f"q = {t['q']:.2f}" + ("" if math.isfinite(t["allowance"]) else " (q >= 1: no bound)"))


if __name__ == "__main__":
    results = main(quick=quick_from_env())
    widgets = interactive()
    if widgets is not None:
        widgets.interact(explore, lr_eff=widgets.FloatLogSlider(value=0.01, base=10, min=-3.5, max=-1),
                         alpha=widgets.FloatSlider(value=1.25, min=1.1, max=3.0, step=0.05), N=widgets.fixed(256))

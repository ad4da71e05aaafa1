"""
Teacher-student: generalization error against alpha = P/N
=========================================================

A linear student learns a linear teacher from P noisy examples in N dimensions.  Random-matrix
theory gives its generalization error eps_gen = ‖v - w*‖² in closed form as a function of
alpha = P/N: the pseudo-inverse (where plain SGD from zero converges) diverges at alpha = 1, ridge at
its optimum lam = delta^2 does not, weight normalization with gamma decay zeta = 1/(2M) sits in
between, and a converged BN student is the centred pseudo-inverse shrunk by E[sigma_B]/sigma
(docs/teacher_student.md).  Here: the curves, exact solves at finite N, and students trained by SGD.
"""

# %%
# Ingredients: ``bnreg.theory.teacher_student`` (curves), ``bnreg.sims.teacher_student`` (exact
# solves on sampled data and SGD-trained students).
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from bnreg.demos.common import Report, interactive, quick_from_env
from bnreg.runtime import derive_seed
from bnreg.sims.teacher_student import Protocol, simulate_closed_form, train_student
from bnreg.theory import teacher_student as TS

NAME = "teacher_student"
TITLE = "teacher-student generalization error vs alpha: theory, exact solves, trained students"
DELTA2 = 0.25
M = 32


# %%
# The theory curves at one alpha.
def curves(alpha: float) -> dict[str, float]:
    return {"sgd": TS.gen_error_sgd(alpha, DELTA2) if alpha != 1 else math.inf,
            "ridge_opt": TS.gen_error_ridge(alpha, TS.ridge_optimal_lam(DELTA2), DELTA2),
            "wn_zeta": TS.gen_error_wn(alpha, 1.0 / (2 * M), DELTA2),
            "bn_limit": TS.gen_error_bn_limit(alpha, DELTA2, M) if alpha != 1 else math.inf}


# %%
# Simulation: the pseudo-inverse and optimal ridge solved exactly on sampled data (finite N), and
# plain-SGD and BN students trained by minibatch SGD (batch M) at a few alphas.
def simulate(alphas, N: int, n_seeds: int, epochs: int, trained_alphas, seed: int = 0) -> list[dict[str, float]]:
    rows = []
    for a in alphas:
        pinv = simulate_closed_form("pinv", N, a, DELTA2, n_seeds=n_seeds, seed=derive_seed(seed, NAME, "pinv", a))
        ridge = simulate_closed_form("ridge", N, a, DELTA2, TS.ridge_optimal_lam(DELTA2), n_seeds=n_seeds,
                                     seed=derive_seed(seed, NAME, "ridge", a))
        row = {"alpha": a, "pinv": pinv.estimate, "pinv_se": pinv.se, "ridge": ridge.estimate, "ridge_se": ridge.se,
               "pinv_exact_N": TS.gen_error_sgd_exact(N, round(a * N), DELTA2), "sgd": math.nan, "sgd_se": math.nan,
               "bn": math.nan, "bn_se": math.nan}
        if a in trained_alphas:
            for kind in ("linear", "bn"):
                errs = [train_student(kind, N, a, DELTA2, 0.0, Protocol(M=M, epochs=epochs),
                                      seed=derive_seed(seed, NAME, kind, a, s)).eps_gen for s in range(3)]
                key = "sgd" if kind == "linear" else "bn"
                row[key], row[key + "_se"] = float(np.mean(errs)), float(np.std(errs, ddof=1) / math.sqrt(len(errs)))
        rows.append(row)
    return rows


# %%
# The figure.
def plot(rows: list[dict[str, float]]) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(7, 4.6))
    ag = np.linspace(0.05, 3.0, 240)
    ag = ag[np.abs(ag - 1) > 0.02]
    th = [curves(a) for a in ag]
    for key, style, lab in (("sgd", "C0-", "pseudo-inverse / plain SGD"), ("ridge_opt", "C3-", "ridge, λ = δ²"),
                            ("wn_zeta", "C2-", "WN + γ decay, ζ = 1/(2M)"), ("bn_limit", "k--", "BN limit")):
        ax.plot(ag, [t[key] for t in th], style, lw=1.2, label=lab)
    a = np.array([r["alpha"] for r in rows])
    ax.errorbar(a - 0.02, [r["pinv"] for r in rows], [r["pinv_se"] for r in rows], fmt="o", color="C0",
                capsize=2, label="pseudo-inverse solved (finite N)")
    ax.errorbar(a + 0.02, [r["ridge"] for r in rows], [r["ridge_se"] for r in rows], fmt="v", color="C3",
                capsize=2, label="ridge solved")
    tr = np.array([np.isfinite(r["sgd"]) for r in rows])
    if tr.any():
        ax.errorbar(a[tr], [r["sgd"] for r in rows if np.isfinite(r["sgd"])],
                    [r["sgd_se"] for r in rows if np.isfinite(r["sgd"])], fmt="s", mfc="none", color="C0",
                    capsize=2, label="SGD student trained")
        ax.errorbar(a[tr] + 0.04, [r["bn"] for r in rows if np.isfinite(r["bn"])],
                    [r["bn_se"] for r in rows if np.isfinite(r["bn"])], fmt="D", mfc="none", color="k",
                    capsize=2, label="BN student trained")
    ax.set_ylim(0, 2.0)
    ax.set_xlabel("α = P/N")
    ax.set_ylabel("ε_gen = |v − w*|²")
    ax.set_title(f"teacher–student, δ² = {DELTA2}, M = {M}")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


# %%
# Run it.
def main(save: str | None = None, quick: bool = False, seed: int = 0) -> dict[str, float]:
    rep = Report(NAME, TITLE, quick, seed)
    N = 64 if quick else 200
    alphas = (0.5, 1.5, 3.0) if quick else (0.25, 0.5, 0.75, 1.5, 2.0, 3.0)
    rows = simulate(alphas, N, 4 if quick else 16, 20 if quick else 150, (2.0, 3.0) if not quick else (3.0,), seed)
    for r in rows:
        a = r["alpha"]
        c = curves(a)
        rep.compare(f"alpha = {a:4.2f} pseudo-inverse", f"pinv_a{a:g}", r["pinv_exact_N"], r["pinv"], r["pinv_se"],
                    f"N -> oo: {c['sgd']:.4g}")
        rep.compare(f"alpha = {a:4.2f} ridge (lam = delta^2)", f"ridge_a{a:g}", c["ridge_opt"], r["ridge"],
                    r["ridge_se"])
        if np.isfinite(r["sgd"]):
            rep.compare(f"alpha = {a:4.2f} SGD student (trained)", f"sgd_a{a:g}", c["sgd"], r["sgd"], r["sgd_se"])
            rep.compare(f"alpha = {a:4.2f} BN student (trained)", f"bn_a{a:g}", c["bn_limit"], r["bn"], r["bn_se"])
    table = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    return rep.finish(plot(rows), table, save, {"N": N, "delta2": DELTA2, "M": M})


# %%
# Optional: move alpha with a slider.
def explore(alpha: float = 1.5) -> None:
    c = curves(alpha)
    print(", ".join(f"{k} {v:.4f}" for k, v in c.items()))


if __name__ == "__main__":
    results = main(quick=quick_from_env())
    widgets = interactive()
    if widgets is not None:
        widgets.interact(explore, alpha=widgets.FloatSlider(value=1.5, min=0.05, max=3.0, step=0.05))

"""
L1 vs L2 weight decay, and early stopping
=========================================

Two penalties on the weights: L2 (lam ‖w‖²/2, "weight decay") shrinks every weight in proportion;
L1 (lam ‖w‖₁) moves every weight towards 0 by the same amount and stops it there, so it makes
exact zeros.  With an orthonormal design both are closed forms: ridge z/(1 + lam), lasso the soft
threshold sign(z) max(abs(z) - lam, 0) of the least-squares coefficient z ~ N(w*, sigma^2), whose risk and
probability of an exact zero are closed forms in Phi and phi (``bnreg derive soft_threshold``).
Early stopping is a third regularizer: gradient descent from 0 stopped at time tau filters the
spectrum like ridge with lam ~ 1/tau; for a linear teacher its whole error curve eps_gen(tau) is
known (Advani & Saxe, arXiv:1710.03667; ``bnreg.theory.teacher_student.gen_error_gd``).  Finally a
small MLP from the network library on 200 digits: test accuracy and sparsity under L1 and L2, and
the validation curve that early stopping reads (docs/training_practice.md).
"""

# %%
# Ingredients: closed forms (``bnreg.theory.training_practice``, ``bnreg.theory.teacher_student``),
# proximal gradient descent on an orthonormal design, full-batch GD on teacher data, and the MLP
# training loop of ``bnreg.sims.training_practice`` (library ``Dense``, ``ReLU``, ``SGD``).
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from bnreg.demos.common import Report, quick_from_env
from bnreg.runtime import mc_from_values
from bnreg.sims.nn.data import load_dataset
from bnreg.sims.training_practice import gd_teacher_errors, simulate_penalized_orthonormal, train_mlp
from bnreg.theory import teacher_student as TS
from bnreg.theory import training_practice as TP

NAME = "weight_decay"
TITLE = "L1 vs L2 weight decay (sparsity, test error) and early stopping"
DIM, SIGMA = 50, 1.0
W_STAR = np.r_[np.full(10, 2.0), np.zeros(DIM - 10)]  # a sparse truth: 10 of 50 coefficients
LAMS = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0)
ALPHA, DELTA2 = 1.2, 0.25
PENALTIES = (("none", 0.0), ("l2", 1e-3), ("l2", 1e-2), ("l2", 3e-2), ("l1", 1e-4), ("l1", 1e-3), ("l1", 3e-3))


# %%
# 1. The linear model with an orthonormal design: theory per coordinate, averaged over the truth.
def orthonormal_theory(lam: float) -> dict[str, float]:
    return {"l1_risk": float(np.mean([TP.lasso_orthonormal_risk(lam, w, SIGMA) for w in W_STAR])),
            "l1_zero": float(np.mean([TP.lasso_zero_prob(lam, w, SIGMA) for w in W_STAR])),
            "l2_risk": float(np.mean([TP.ridge_orthonormal_risk(lam, w, SIGMA) for w in W_STAR]))}


# %%
# 2. The MLP on 200 digits, every penalty with the same training seeds (replicate k: `seed + k`), on
# the fixed data split (split_seed 0).
def mlp_runs(seeds: int, epochs: int, n_train: int, seed: int = 0) -> dict[tuple[str, float], list[dict]]:
    d = load_dataset("digits", n_train, 1797 - n_train, 0)
    xv, yv, xt, yt = d.x_val[:500], d.y_val[:500], d.x_val[500:], d.y_val[500:]
    return {(p, lam): [train_mlp(d.x_train, d.y_train, xv, yv, xt, yt, hidden=128, penalty=p, lam=lam, lr=0.05,
                                 epochs=epochs, seed=seed + s) for s in range(seeds)] for p, lam in PENALTIES}


# %%
# The figure: (a) risk and (b) sparsity vs lam on the orthonormal design, (c) early stopping on the
# linear teacher, (d) the MLP's validation curve (the first replicate, training seed `seed`).
def plot(ortho, gd, mlp, summary, seed: int = 0) -> plt.Figure:
    fig, axes = plt.subplots(1, 4, figsize=(19, 4.2))
    lg = np.linspace(0.05, 3.5, 100)
    th = [orthonormal_theory(x) for x in lg]
    ax = axes[0]
    ax.plot(lg, [t["l1_risk"] for t in th], "C0-", label="L1 theory")
    ax.plot(lg, [t["l2_risk"] for t in th], "C1-", label="L2 theory")
    ax.errorbar(ortho["lam"], ortho["l1_risk"], ortho["l1_risk_se"], fmt="o", color="C0", capsize=2, label="L1 (ISTA)")
    ax.errorbar(ortho["lam"], ortho["l2_risk"], ortho["l2_risk_se"], fmt="s", color="C1", capsize=2, label="L2 (GD)")
    ax.axhline(SIGMA**2, color="0.5", ls=":", label="least squares")
    ax.set_xlabel("λ")
    ax.set_ylabel("risk |ŵ − w*|² per coefficient")
    ax.set_title("orthonormal design, 10 of 50 coefficients = 2")
    ax.legend(fontsize=7)
    ax = axes[1]
    ax.plot(lg, [t["l1_zero"] for t in th], "C0-", label="L1 theory")
    ax.plot(ortho["lam"], ortho["l1_zero"], "o", color="C0", label="L1 (ISTA)")
    ax.plot(ortho["lam"], ortho["l2_zero"], "s", color="C1", label="L2: never exactly 0")
    ax.axhline(0.8, color="0.5", ls=":", label="true fraction of zeros")
    ax.set_xlabel("λ")
    ax.set_ylabel("fraction of exact zeros")
    ax.legend(fontsize=7)
    ax = axes[2]
    tg = np.geomspace(gd["tau"][0], gd["tau"][-1], 100)
    ax.plot(tg, [TS.gen_error_gd(ALPHA, t, DELTA2) for t in tg], "k-", label="gradient flow (N → ∞)")
    ax.errorbar(gd["tau"], gd["mc"], gd["se"], fmt="o", capsize=2, label=f"GD, N = {gd['N']}")
    ax.axhline(TS.gen_error_ridge(ALPHA, DELTA2, DELTA2), color="C3", ls="--", label="ridge at its optimum")
    ax.axhline(TS.gen_error_sgd(ALPHA, DELTA2), color="C0", ls=":", label="trained to convergence")
    ax.set_xscale("log")
    ax.set_xlabel("training time τ = lr × steps")
    ax.set_ylabel("ε_gen = |v − w*|²")
    ax.set_title(f"early stopping, linear teacher, α = {ALPHA}, δ² = {DELTA2}")
    ax.legend(fontsize=7)
    ax = axes[3]
    c = mlp["none", 0.0][0]["curves"]
    ep = np.arange(1, len(c["val_loss"]) + 1)
    ax.plot(ep, c["val_loss"], "C0-", label="validation loss (no penalty)")
    ax.plot(ep, c["train_loss"], "C0:", label="training loss")
    best = mlp["none", 0.0][0]["best_epoch"]
    ax.axvline(best, color="C3", lw=0.8, label=f"early stop (epoch {best})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy")
    ax.set_yscale("log")
    ax.set_title(f"MLP on 200 digits (seed {seed})")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


# %%
# Run it.
def main(save: str | None = None, quick: bool = False, seed: int = 0) -> dict[str, float]:
    rep = Report(NAME, TITLE, quick, seed)
    ortho = {"lam": np.array(LAMS), **simulate_penalized_orthonormal(W_STAR, SIGMA, LAMS, 40 if quick else 200,
                                                                      seed=seed)}
    for j, lam in enumerate(LAMS[1::2]):
        k = 1 + 2 * j
        t = orthonormal_theory(lam)
        rep.compare(f"lam = {lam}: L1 risk", f"l1_risk_lam{lam}", t["l1_risk"], ortho["l1_risk"][k],
                    ortho["l1_risk_se"][k], f"zeros theory {t['l1_zero']:.3f}, sim {ortho['l1_zero'][k]:.3f}")
        rep.compare(f"lam = {lam}: L2 risk", f"l2_risk_lam{lam}", t["l2_risk"], ortho["l2_risk"][k],
                    ortho["l2_risk_se"][k], f"zeros {ortho['l2_zero'][k]:.3f}")
    taus = np.geomspace(0.05, 50, 8 if quick else 16)
    N = 50 if quick else 200
    mc, se = gd_teacher_errors(N, ALPHA, taus, DELTA2, lr=0.01, n_data=4 if quick else 12, seed=seed)
    gd = {"tau": taus, "mc": mc, "se": se, "N": N}
    jb = int(np.argmin(mc))
    th_gd = np.array([TS.gen_error_gd(ALPHA, t, DELTA2) for t in taus])
    rep.compare(f"early stopping, linear teacher: best tau {taus[jb]:.2f}", "gd_best", th_gd[jb], mc[jb], se[jb],
                f"converged {TS.gen_error_sgd(ALPHA, DELTA2):.3g}, ridge optimum "
                f"{TS.gen_error_ridge(ALPHA, DELTA2, DELTA2):.3g}")
    rep.compare("   and at the longest tau", "gd_last", th_gd[-1], mc[-1], se[-1])
    mlp = mlp_runs(2 if quick else 6, 5 if quick else 60, 200, seed)
    summary = {}
    for (p, lam), runs in mlp.items():
        acc = mc_from_values([r["final_test_acc"] for r in runs])
        es = mc_from_values([r["early_stop_test_acc"] for r in runs])
        zero = float(np.mean([r["zero_frac"] for r in runs]))
        summary[p, lam] = {"acc": acc, "early": es, "zero": zero}
        rep.say(f"  MLP {p:4s} lam = {lam:<6g}: test acc {acc.estimate:.3f} ± {acc.se:.3f}, early-stopped "
                f"{es.estimate:.3f} ± {es.se:.3f}, exact zeros {zero:.1%}")
        rep.number(f"mlp_{p}_{lam:g}_test_acc", acc.estimate)
        rep.number(f"mlp_{p}_{lam:g}_zero_frac", zero)
    table = {"part": np.array(["orthonormal"] * len(LAMS) + ["gd"] * len(taus) + ["mlp"] * len(summary)),
             "x": np.r_[ortho["lam"], taus, [lam for _, lam in summary]],
             "variant": np.array(["lam"] * len(LAMS) + ["tau"] * len(taus) + [p for p, _ in summary]),
             "theory": np.r_[[orthonormal_theory(x)["l1_risk"] for x in LAMS], th_gd, np.full(len(summary), np.nan)],
             "sim": np.r_[ortho["l1_risk"], mc, [v["acc"].estimate for v in summary.values()]],
             "se": np.r_[ortho["l1_risk_se"], se, [v["acc"].se for v in summary.values()]],
             "l2_or_zero": np.r_[ortho["l2_risk"], np.full(len(taus), np.nan), [v["zero"] for v in summary.values()]]}
    return rep.finish(plot(ortho, gd, mlp, summary, seed), table, save)


if __name__ == "__main__":
    results = main(quick=quick_from_env())

"""regularizer_atlas: every regularizer of the teacher-student topic on one ridge curve
(docs/teacher_student.md, "Every regularizer as a ridge").

At alpha = 0.5 and alpha = 2 (both sides of the interpolation peak at alpha = 1) the line is the
ridge error eps_ridge(lam) (`theory.teacher_student.gen_error_ridge`, delta2 = 0.25).  Each
regularizer's students are placed at their mapped lam, mean ± SE over datasets (N inputs, P = alpha N):

- weight decay: the ridge solution itself, at lam;
- WN + gamma decay: the minimizer of the per-sample cost with coefficient zeta, at lam = alpha zeta
  (`zeta_to_lam`);
- input dropout: the exact minimizer of the expected dropout objective (a diagonal ridge), at
  lam = alpha (1 - keep)/keep (`dropout_to_lam`);
- early stopping: gradient flow stopped at tau (solved exactly), at the closest ridge
  lam_hat(tau) (`early_stopping_lam`, filled markers) and at the small-eigenvalue mapping
  alpha/(2 tau) (open markers): where the two differ, the leading-order mapping breaks;
- BN's noise ridge (alpha = 2 only: for alpha < 1 the fit interpolates and there is no shift at this
  order): BN students at a fixed effective learning rate lr_eff (|w| renormalized every step, reshuffled
  batches, M = 32; `sims.bn_dynamics.stationary_run`), error at epoch ends, at lam = alpha nu with nu at
  the self-consistent residual of `bn_sgd_error`'s model (filled) and with nu = bn_noise_ridge at the
  least-squares residual (open).  BN's gamma identity shrinks them by kappa and their direction
  fluctuates, so even at the right lam they sit above the curve by what `bn_sgd_error` adds (the
  column eps_model).

A point on the curve means the mapping predicts the error; off it, the mapping fails there.

Table: one row per (alpha, regularizer, setting): the mapped lam, eps ± SE, the ridge curve at that
lam; rows with regularizer = "ridge curve" hold the line."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from bnreg.runtime import PointCache, derive_seed, mc_from_values, one_blas_thread, sweep
from bnreg.sims.bn_dynamics import stationary_run
from bnreg.sims.teacher_student import (
    n_samples,
    simulate_closed_form,
    simulate_gradient_flow,
    solve_dropout_ridge,
    teacher_data,
)
from bnreg.theory import bn_dynamics as BD
from bnreg.theory import bn_dynamics_fluctuation as BF
from bnreg.theory import dropout as DO
from bnreg.theory import teacher_student as TS

from ._io import columns_from_rows

NAME = "regularizer_atlas"
TITLE = "Every regularizer as a ridge: students at their mapped lam on the ridge error curve"
SERIAL_POINTS = True
DELTA2 = 0.25
ALPHAS = (0.5, 2.0)
SETTINGS = {"weight decay": (0.03, 0.1, 0.3, 1.0, 3.0),      # lam
            "WN + gamma decay": (0.03, 0.1, 0.3, 1.0),       # alpha zeta
            "input dropout": (0.95, 0.8, 0.6, 0.4),          # keep
            "early stopping": (0.3, 1.0, 3.0, 10.0),         # tau
            "BN noise": (0.005, 0.02, 0.05, 0.1)}            # lr_eff (alpha > 1 only)
BN_M = 32
COLUMNS = ("alpha", "regularizer", "setting", "lam", "lam_leading_order", "eps", "eps_se", "n", "eps_ridge_at_lam",
           "eps_model")
SCALES: dict[str, dict[str, Any]] = {
    "quick": {"N": 64, "n_seeds": 4},
    "default": {"N": 128, "n_seeds": 16},
    "paper": {"N": 256, "n_seeds": 64},
}


def _dropout_eps(N: int, alpha: float, keep: float, n_seeds: int, seed: int) -> tuple[float, float]:
    P = n_samples(N, alpha)
    vals = []
    with one_blas_thread():
        for k in range(n_seeds):
            X, y, w = teacher_data(N, P, DELTA2, np.random.default_rng(derive_seed(seed, "dropout", k)))
            v = solve_dropout_ridge(X, y, keep)
            vals.append(float(np.sum((v - w) ** 2)))
    r = mc_from_values(vals)
    return r.estimate, r.se


def point(*, alpha: float, regularizer: str, setting: float, N: int, n_seeds: int, seed: int) -> dict[str, Any]:
    """eps ± SE of one regularizer's students at one setting."""
    if regularizer == "weight decay":
        r = simulate_closed_form("ridge", N, alpha, DELTA2, lam=setting, n_seeds=n_seeds, seed=seed)
        return {"eps": r.estimate, "se": r.se}
    if regularizer == "WN + gamma decay":
        r = simulate_closed_form("gamma_decay", N, alpha, DELTA2, lam=setting / alpha, n_seeds=n_seeds, seed=seed)
        return {"eps": r.estimate, "se": r.se}
    if regularizer == "input dropout":
        e, s = _dropout_eps(N, alpha, setting, n_seeds, seed)
        return {"eps": e, "se": s}
    if regularizer == "BN noise":
        r = mc_from_values([stationary_run(N, alpha, DELTA2, BN_M, setting, derive_seed(seed, "bn", k)).eps
                            for k in range(n_seeds)])
        return {"eps": r.estimate, "se": r.se}
    r = simulate_gradient_flow(N, alpha, DELTA2, ((setting, 0.0),), n_seeds=n_seeds, seed=seed)[(setting, 0.0)]
    return {"eps": r.estimate, "se": r.se}


def mapped_lam(alpha: float, regularizer: str, setting: float, N: int) -> tuple[float, float]:
    """(lam the regularizer maps to, its leading-order lam)."""
    if regularizer == "weight decay":
        return setting, setting
    if regularizer == "WN + gamma decay":
        lam = TS.zeta_to_lam(alpha, setting / alpha)
        return lam, lam
    if regularizer == "input dropout":
        lam = DO.dropout_to_lam(alpha, setting)
        return lam, lam
    if regularizer == "BN noise":
        st = BF.stationary_fluctuation(BF.spectrum_mp(alpha, BN_M, DELTA2, N), setting, TS.bn_shrinkage(BN_M))
        return alpha * st.nu, alpha * BD.bn_noise_ridge(alpha, BN_M, DELTA2, setting, N)
    return TS.early_stopping_lam(alpha, setting, DELTA2), alpha / (2 * setting)


def compute(spec: dict[str, Any], seed: int, cache: PointCache, **sweep_kw: Any) -> dict[str, Any]:
    recs = [dict(alpha=a, regularizer=r, setting=s) for a in ALPHAS for r, ss in SETTINGS.items() for s in ss
            if a > 1 or r != "BN noise"]
    items = [{**r, "N": spec["N"], "n_seeds": spec["n_seeds"],
              "seed": derive_seed(seed, NAME, r["alpha"], r["regularizer"], r["setting"])} for r in recs]
    res = sweep(point, items, cache=cache, name=NAME, **sweep_kw)
    rows = []
    for a in ALPHAS:
        for lam in np.geomspace(1e-3, 1e2, 61):
            rows.append((a, "ridge curve", "-", float(lam), float(lam), TS.gen_error_ridge(a, float(lam), DELTA2), 0.0,
                         0, TS.gen_error_ridge(a, float(lam), DELTA2), "-"))
    for r, x in zip(recs, res, strict=True):
        lam, lam0 = mapped_lam(r["alpha"], r["regularizer"], r["setting"], spec["N"])
        ridge = TS.gen_error_ridge(r["alpha"], lam, DELTA2) if lam > 0 else TS.gen_error_sgd(r["alpha"], DELTA2)
        model = (BF.bn_sgd_error(r["alpha"], BN_M, DELTA2, r["setting"], spec["N"]) if r["regularizer"] == "BN noise"
                 else "-")
        rows.append((r["alpha"], r["regularizer"], r["setting"], lam, lam0, float(x["eps"]), float(x["se"]),
                     spec["n_seeds"], ridge, model))
    return columns_from_rows(COLUMNS, rows)


def plot(t: dict[str, Any]) -> plt.Figure:
    fig, axes = plt.subplots(1, len(ALPHAS), figsize=(6.5 * len(ALPHAS), 4.8), squeeze=False)
    marks = {"weight decay": "o", "WN + gamma decay": "s", "input dropout": "^", "early stopping": "D", "BN noise": "v"}
    for ax, a in zip(axes[0], ALPHAS, strict=True):
        at = t["alpha"].astype(float) == a
        curve = at & (t["regularizer"] == "ridge curve")
        ax.plot(t["lam"][curve].astype(float), t["eps"][curve].astype(float), color="k", lw=1.2,
                label="ridge eps(lam) (theory)")
        for i, (reg, m) in enumerate(marks.items()):
            sel = at & (t["regularizer"] == reg)
            if not sel.any():
                continue
            lam = t["lam"][sel].astype(float)
            ok = lam > 0
            ax.errorbar(lam[ok], t["eps"][sel].astype(float)[ok], yerr=t["eps_se"][sel].astype(float)[ok], fmt=m,
                        ms=5, capsize=2, color=f"C{i}", label=f"{reg} (students at mapped lam)")
            if reg in ("early stopping", "BN noise"):
                ax.errorbar(t["lam_leading_order"][sel].astype(float), t["eps"][sel].astype(float),
                            yerr=t["eps_se"][sel].astype(float), fmt=m, ms=5, capsize=2, mfc="none", color=f"C{i}",
                            label="early stopping at alpha/(2 tau) (leading order)" if reg == "early stopping" else
                            "BN noise at alpha nu(L_res) (leading order)")
            if reg == "BN noise":
                ax.plot(lam[ok], t["eps_model"][sel].astype(float)[ok], "x", color=f"C{i}", ms=6,
                        label="bn_sgd_error (ridge + fluctuation) at those lr_eff")
        ax.set_xscale("log")
        ax.set(xlabel="lam (per-N ridge coefficient)", ylabel="generalization error eps",
               title=f"alpha = {a:g} (delta2 = {DELTA2:g}); mean ± SE over datasets")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig

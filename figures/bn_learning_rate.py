"""bn_learning_rate: the BN student of the teacher-student model at a finite learning rate
(docs/bn_dynamics.md; theory/bn_dynamics.py).  It tests the
verdict on Luo et al., "Towards Understanding Regularization in Batch Normalization", ICLR 2019
(arXiv:1809.00846), that BN students reach the kappa-shrunk pseudo-inverse: that is the
lr -> 0 limit only.

Top row, one panel per alpha: stationary eps_gen vs the effective learning rate lr_eff = lr/|w|^2,
held fixed by renormalizing w after every step, for reshuffled batches (black) and independent ones
(green, the same data sets).  Points: time averages after the burn-in, mean +- SE over data sets
(open: the time-averaged predictor).  Lines: the leading order kappa x ridge(zeta = nu),
nu = lr_eff N rho2/M (thermodynamic limit at this N), with the band of the next-order bounds; beyond
leading order, bn_sgd_error (theory/bn_dynamics_fluctuation.py: ridge at the self-consistent residual
+ the stationary fluctuation) per batch order, at epoch ends (solid) and for the time-averaged
predictor (dashed); the lr -> 0 limit kappa x pinv and the optimal ridge (lam = delta2).
Bottom row, one alpha: eps_gen, |w|^2 and lr/|w|^2 vs training time for plain SGD (|w| grows,
lr_eff decays as steps^-1/2: training longer hurts), SGD with weight decay on w (|w| settles,
lr_eff* ~ sqrt(2 lr wd)/G) and fixed lr_eff, with the growth law, the weight-decay equilibrium
and the stationary error they imply.

CSV rows by `kind`: "stationary", one per batch order (eps, se, eps_mean_pred: mean +- SE over data sets; theory:
leading order at this N; theory_same/limit_same: the same-data prediction and kappa x pinv, mean over the data
sets; model_inst_same/model_mean_same: theory.bn_dynamics_fluctuation on the same data, and diff_inst/diff_mean
+- SE the paired student - model differences; limit, ridge_opt: thermodynamic references), "model" (bn_sgd_error
per batch order: model_inst, model_mean), "theory" (the curve and its next-order band
band_lo ... band_hi), "time_plain" / "time_wd" / "time_fixed" (eps +- se, |w|^2 and lr_eff measured,
w_sq_law: the growth law / equilibrium / 1, grad2: measured |grad_u L_B|^2, theory: thermodynamic
stationary error at the law's lr_eff, theory_same: same-data stationary error at the measured lr_eff).
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from bnreg.params import ParameterError
from bnreg.runtime import PointCache, derive_seed, sweep
from bnreg.sims.bn_dynamics import stationary_run, training_run
from bnreg.theory import bn_dynamics as BD
from bnreg.theory import bn_dynamics_fluctuation as BF
from bnreg.theory import teacher_student as TS

NAME = "bn_learning_rate"
TITLE = "BN student: stationary error vs effective learning rate; training time with and without weight decay"
SCALES: dict[str, dict[str, Any]] = {
    "quick": {"N": 128, "M": 32, "delta2": 0.25, "alphas": (1.5, 2.0), "lrs": (0.005, 0.02, 0.08), "n_sets": 3,
              "time": {"alpha": 1.5, "lr0": 0.5, "wd": 0.01, "fixed_lr_eff": 0.02, "epochs": 400, "n_sets": 2}},
    "default": {"N": 256, "M": 32, "delta2": 0.25, "alphas": (1.25, 1.5, 2.0, 3.0),
                "lrs": (0.002, 0.005, 0.01, 0.02, 0.05, 0.1), "n_sets": 6,
                "time": {"alpha": 1.25, "lr0": 0.5, "wd": 0.005, "fixed_lr_eff": 0.01, "epochs": 4000,
                         "n_sets": 4}},
    "paper": {"N": 512, "M": 32, "delta2": 0.25, "alphas": (1.25, 1.5, 2.0, 3.0),
              "lrs": (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05), "n_sets": 8,
              "time": {"alpha": 1.25, "lr0": 0.5, "wd": 0.0025, "fixed_lr_eff": 0.005, "epochs": 4000,
                       "n_sets": 4}},
}
COLUMNS = ("kind", "batches", "alpha", "lr_eff", "epoch", "steps", "eps", "se", "eps_mean_pred", "se_mean_pred", "w_sq",
           "theory", "band_lo", "band_hi", "theory_same", "limit", "limit_same", "ridge_opt", "w_sq_law", "grad2", "n",
           "model_inst", "model_mean", "model_inst_same", "model_mean_same", "diff_inst", "diff_inst_se",
           "diff_mean", "diff_mean_se")
BATCHES = BF.BATCHES  # students of both batch orders at every stationary point


def point(*, task: str, N: int, M: int, delta2: float, alpha: float, lr: float, seed: int, wd: float = 0.0,
          epochs: int = 0, renorm: bool = True, batches: str = "reshuffled") -> dict[str, Any]:
    if task == "stationary":
        r = stationary_run(N, alpha, delta2, M, lr, seed, batches=batches)
        return {"eps": r.eps, "eps_mean_pred": r.eps_mean_predictor, "theory_same": r.extra["eps_theory"],
                "limit_same": r.extra["eps_limit"], "burn": r.burn_epochs, "loss": r.batch_loss,
                "model_inst_same": r.extra["fl_instant"], "model_mean_same": r.extra["fl_window"]}
    r = training_run(N, alpha, delta2, M, lr, epochs, seed, wd=wd, renorm=renorm)
    return {"epochs": r.epochs, "eps": r.eps, "w_sq": r.w_sq, "lr_eff": r.lr_eff, "steps": r.steps,
            "grad2": r.grad2, "theory_same": r.eps_theory, "limit_same": r.extra["eps_limit"],
            "ridge_opt_same": r.extra["eps_ridge_opt"]}


def _time_records(spec: dict[str, Any], seed: int) -> list[dict[str, Any]]:
    t = spec["time"]
    base = {"task": "time", "N": spec["N"], "M": spec["M"], "delta2": spec["delta2"], "alpha": t["alpha"],
            "epochs": t["epochs"]}
    lr = t["lr0"] * spec["M"] / spec["N"]
    runs = {"plain": {"lr": lr, "wd": 0.0, "renorm": False}, "wd": {"lr": lr, "wd": t["wd"], "renorm": False},
            "fixed": {"lr": t["fixed_lr_eff"], "wd": 0.0, "renorm": True}}
    return [{**base, **kw, "seed": derive_seed(seed, NAME, "time", s)} for kind, kw in runs.items()
            for s in range(t["n_sets"])]


def _model(a: float, M: int, d2: float, e: float, N: int, b: str) -> dict[str, float]:
    """bn_sgd_error in the MP limit: eps at epoch ends and of the time-averaged predictor (nan beyond the model's
    stability edge)."""
    try:
        return {"model_inst": BF.bn_sgd_error(a, M, d2, float(e), N, b, "instant"),
                "model_mean": BF.bn_sgd_error(a, M, d2, float(e), N, b, "predictor")}
    except ParameterError:
        return {"model_inst": math.nan, "model_mean": math.nan}


def _mean_se(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    se = x.std(0, ddof=1) / math.sqrt(len(x)) if len(x) > 1 else np.full(x.shape[1:], math.nan)
    return x.mean(0), se


def compute(spec: dict[str, Any], seed: int, cache: PointCache, **sweep_kw: Any) -> dict[str, Any]:
    N, M, d2 = spec["N"], spec["M"], spec["delta2"]
    # the same data sets (seeds) for both batch orders: the reshuffled record keeps the seed it always had
    st = [{"task": "stationary", "N": N, "M": M, "delta2": d2, "alpha": a, "lr": e, "batches": b,
           "seed": derive_seed(seed, NAME, a, k)} for b in BATCHES for a in spec["alphas"] for e in spec["lrs"]
          for k in range(spec["n_sets"])]
    tr = _time_records(spec, seed)
    res = sweep(point, st + tr, cache=cache, name=NAME, **sweep_kw)
    rows: list[dict[str, Any]] = []
    nan = math.nan
    for a in spec["alphas"]:
        lim, ropt = TS.gen_error_bn_limit(a, d2, M), TS.gen_error_ridge(a, d2, d2)
        for b in BATCHES:
            for e in spec["lrs"]:
                rs = [r for rec, r in zip(st, res[:len(st)], strict=True)
                      if rec["alpha"] == a and rec["lr"] == e and rec["batches"] == b]
                m, s = _mean_se(np.array([[r["eps"], r["eps_mean_pred"], r["eps"] - r["model_inst_same"],
                                           r["eps_mean_pred"] - r["model_mean_same"]] for r in rs], dtype=float))
                th = BD.bn_stationary_error(a, M, d2, e, N)
                rows.append({"kind": "stationary", "batches": b, "alpha": a, "lr_eff": e, "eps": m[0], "se": s[0],
                             "eps_mean_pred": m[1], "se_mean_pred": s[1], "theory": th, "diff_inst": m[2],
                             "diff_inst_se": s[2], "diff_mean": m[3], "diff_mean_se": s[3],
                             "theory_same": float(np.mean([r["theory_same"] for r in rs])),
                             "model_inst_same": float(np.mean([r["model_inst_same"] for r in rs])),
                             "model_mean_same": float(np.mean([r["model_mean_same"] for r in rs])),
                             "limit_same": float(np.mean([r["limit_same"] for r in rs])), "limit": lim,
                             "ridge_opt": ropt, "n": len(rs)})
        for e in np.geomspace(min(spec["lrs"]) / 3, max(spec["lrs"]) * 1.5, 60):
            e = float(e)
            th = BD.bn_stationary_error(a, M, d2, e, N)
            nx = BD.bn_stationary_next_order(a, M, d2, e, N)
            rows.append({"kind": "theory", "alpha": a, "lr_eff": e, "theory": th,
                         "band_lo": th + nx["feedback"] if math.isfinite(nx["feedback"]) else nan,
                         "band_hi": th + nx["fluctuation"], "limit": lim, "ridge_opt": ropt})
        for b in BATCHES:
            for e in np.geomspace(min(spec["lrs"]) / 3, max(spec["lrs"]) * 1.5, 24):
                rows.append({"kind": "model", "batches": b, "alpha": a, "lr_eff": float(e),
                             **_model(a, M, d2, e, N, b)})
    t = spec["time"]
    a = t["alpha"]
    lr = t["lr0"] * M / N
    keys = (("plain", (lr, 0.0, False)), ("wd", (lr, t["wd"], False)), ("fixed", (t["fixed_lr_eff"], 0.0, True)))
    for kind, key in keys:
        rs = [r for rec, r in zip(tr, res[len(st):], strict=True) if (rec["lr"], rec["wd"], rec["renorm"]) == key]
        eps_m, eps_s = _mean_se(np.array([r["eps"] for r in rs], dtype=float))
        w_m, _ = _mean_se(np.array([r["w_sq"] for r in rs], dtype=float))
        l_m, _ = _mean_se(np.array([r["lr_eff"] for r in rs], dtype=float))
        th_same, _ = _mean_se(np.array([r["theory_same"] for r in rs], dtype=float))
        g2, _ = _mean_se(np.array([r["grad2"] for r in rs], dtype=float))
        steps = np.asarray(rs[0]["steps"], dtype=float)
        for i, ep in enumerate(rs[0]["epochs"]):
            if kind == "plain":
                wl = BD.bn_weight_norm_growth(a, M, d2, lr, steps[i], N)
                th = BD.bn_stationary_error(a, M, d2, lr / wl, N)
            elif kind == "wd":
                le = BD.bn_wd_effective_lr(a, M, d2, lr, t["wd"], N)
                wl, th = lr / le, BD.bn_stationary_error(a, M, d2, le, N)
            else:
                wl, th = 1.0, BD.bn_stationary_error(a, M, d2, t["fixed_lr_eff"], N)
            rows.append({"kind": f"time_{kind}", "alpha": a, "lr_eff": l_m[i], "epoch": int(ep), "steps": steps[i],
                         "eps": eps_m[i], "se": eps_s[i], "w_sq": w_m[i], "theory": th, "w_sq_law": wl,
                         "grad2": g2[i], "theory_same": th_same[i], "limit": TS.gen_error_bn_limit(a, d2, M),
                         "limit_same": float(np.mean([r["limit_same"] for r in rs])),
                         "ridge_opt": float(np.mean([r["ridge_opt_same"] for r in rs])), "n": len(rs)})
    out = {c: np.array([r.get(c, nan) for r in rows]) for c in COLUMNS}
    out["kind"] = np.array([r["kind"] for r in rows])
    out["batches"] = np.array([r.get("batches", "-") for r in rows])
    out["N"] = np.full(len(rows), N)
    out["M"] = np.full(len(rows), M)
    out["lr_raw_time"] = np.full(len(rows), lr)
    out["wd_time"] = np.full(len(rows), t["wd"])
    return out


def plot(d: dict[str, Any]) -> plt.Figure:
    k = d["kind"]
    alphas = sorted(set(d["alpha"][k == "stationary"].tolist()))
    ncol = max(len(alphas), 3)
    fig, axes = plt.subplots(2, ncol, figsize=(4.1 * ncol, 7.6), squeeze=False)
    N, M = int(d["N"][0]), int(d["M"][0])
    for j, a in enumerate(alphas):
        ax = axes[0, j]
        t = (k == "theory") & (d["alpha"] == a)
        ax.plot(d["lr_eff"][t], d["theory"][t], "C0-", lw=1.5, label="leading order: κ·ridge(ν)")
        ax.fill_between(d["lr_eff"][t], d["band_lo"][t], d["band_hi"][t], color="C0", alpha=0.15,
                        label="next-order bounds")
        for b, c, mk, name in (("reshuffled", "k", "o", "reshuffled"), ("independent", "C2", "s", "independent")):
            s = (k == "stationary") & (d["alpha"] == a) & (d["batches"] == b)
            ax.errorbar(d["lr_eff"][s], d["eps"][s], yerr=d["se"][s], fmt=mk, color=c, ms=4, capsize=2,
                        label=f"BN, {name} batches (± SE)")
            ax.plot(d["lr_eff"][s], d["eps_mean_pred"][s], mk, mfc="none", color=c, ms=6, alpha=0.6,
                    label="its time-averaged predictor")
            mm = (k == "model") & (d["alpha"] == a) & (d["batches"] == b)
            ax.plot(d["lr_eff"][mm], d["model_inst"][mm], "-", color="C1" if b == "reshuffled" else "C2", lw=1.3,
                    label=f"ridge + fluctuation, {name}")
            ax.plot(d["lr_eff"][mm], d["model_mean"][mm], "--", color="C1" if b == "reshuffled" else "C2", lw=1,
                    label="  its time-averaged predictor")
        ax.axhline(d["limit"][t][0], color="k", ls="--", lw=1, label="lr → 0: κ·pinv")
        ax.axhline(d["ridge_opt"][t][0], color="C3", ls=":", lw=1.2, label="optimal ridge λ = δ²")
        ax.set_xscale("log")
        ax.set_xlabel("effective learning rate lr/|w|²")
        ax.set_title(f"α = {a:g}", fontsize=10)
        ax.grid(alpha=0.3)
        if j == 0:
            ax.set_ylabel(f"stationary ε_gen (N = {N}, M = {M})")
            # the legend of the top row goes to a free bottom panel when there is one
            host = axes[1, 3] if ncol > 3 else ax
            host.legend(*ax.get_legend_handles_labels(), fontsize=7.5 if ncol > 3 else 6.5,
                        loc="center" if ncol > 3 else "best")
    for ax in axes[0, len(alphas):]:
        ax.set_visible(False)
    col = {"time_plain": "C1", "time_wd": "C2", "time_fixed": "C0"}
    lab = {"time_plain": "plain SGD (|w| free)", "time_wd": f"weight decay {d['wd_time'][0]:g} on w",
           "time_fixed": "|w| renormalized"}
    e_ax, w_ax, l_ax = axes[1, 0], axes[1, 1], axes[1, 2]
    for kind, c in col.items():
        s = k == kind
        if not s.any():
            continue
        e_ax.errorbar(d["epoch"][s], d["eps"][s], yerr=d["se"][s], color=c, marker="o", ms=2.5, lw=1, capsize=1,
                      label=lab[kind])
        e_ax.plot(d["epoch"][s], d["theory_same"][s], color=c, ls="--", lw=1)
        if kind != "time_fixed":
            w_ax.plot(d["steps"][s], d["w_sq"][s], "o", color=c, ms=3, label=lab[kind] + " (sim)")
            w_ax.plot(d["steps"][s], d["w_sq_law"][s], "-", color=c, lw=1,
                      label="growth law" if kind == "time_plain" else "equilibrium")
        l_ax.plot(d["steps"][s], d["lr_eff"][s], "o", color=c, ms=3, label=lab[kind])
        l_ax.plot(d["steps"][s], d["lr_raw_time"][s] / d["w_sq_law"][s] if kind != "time_fixed" else d["lr_eff"][s],
                  "-", color=c, lw=1)
    s = np.char.startswith(k.astype(str), "time_")
    if s.any():
        e_ax.axhline(d["limit_same"][s][0], color="k", ls="--", lw=1, label="κ·pinv (same data)")
        e_ax.axhline(d["ridge_opt"][s][0], color="C3", ls=":", lw=1.2, label="optimal ridge (same data)")
        a = d["alpha"][s][0]
        e_ax.set_title(f"α = {a:g}: ε_gen vs training (dashed: stationary theory, same data, at the measured "
                       "lr_eff)", fontsize=8)
    for ax, yl in ((e_ax, "ε_gen"), (w_ax, "|w|²"), (l_ax, "lr/|w|²")):
        ax.set_xscale("log")
        ax.set_ylabel(yl)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6.5)
    w_ax.set_yscale("log")
    l_ax.set_yscale("log")
    e_ax.set_xlabel("epochs")
    w_ax.set_xlabel("SGD steps")
    l_ax.set_xlabel("SGD steps")
    for ax in axes[1, 3:]:
        ax.axis("off")
    fig.tight_layout()
    return fig

"""teacher_student: generalization error vs alpha = P/N (the teacher-student figure of Luo, Wang,
Shao, Peng, ICLR 2019, arXiv:1809.00846, as printed in the authors' Chinese write-up §2.3, corrected;
explained in docs/teacher_student.md).

Curves: plain SGD / pseudo-inverse (delta2/(alpha - 1) for alpha > 1, not the write-up's
delta2/(1 - alpha)); WN + gamma decay at the optimum lam = delta2 and at BN's zeta = 1/(2M) with
the mapping lam = alpha zeta; the write-up's unmapped lam = zeta (dotted); the derived limit of a
converged BN student (centred pseudo-inverse shrunk by kappa = E[sigma_B]/sigma, diverging at
alpha = 1).  Points: students trained by minibatch SGD under `spec` (mean +- SE over seeds), BN
evaluated with running statistics (as trained) and with exact training-set statistics.

Right panel (docs/dropout.md): linear students trained with inverted input dropout (retain
probability keep) against the ridge at the mapped lam = alpha (1 - keep)/keep (theory.dropout) and
the wrong "lam = 1 - keep"; BN + input dropout with its running statistics (learned with dropout on)
and with statistics recomputed without dropout (the variance-shift fix), against their derived limits.
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from bnreg.runtime import PointCache, derive_seed, sweep
from bnreg.sims.teacher_student import Protocol, train_student
from bnreg.theory import dropout as DO
from bnreg.theory import teacher_student as TS

NAME = "teacher_student"
TITLE = "Teacher-student generalization error vs alpha: SGD, WN + gamma decay and BN students"
# Each sweep point runs on one thread, so by default the points go to one process per core.
SERIAL_POINTS = True

_ALPHAS = (0.25, 0.5, 0.75, 0.9, 1.0, 1.1, 1.2, 1.5, 2.0, 2.5, 3.0)
_PROTO = {"M": 32, "lr0": 0.5, "decay_frac": 0.25, "lr_final_frac": 0.01, "init_scale": 1.0,
          "momentum": 0.1, "bn_eps": 1e-5, "conv_window": 0.1, "conv_rtol": 1e-2, "n_record": 2}
SCALES: dict[str, dict[str, Any]] = {
    "quick": {"N": 256, "alphas": _ALPHAS, "n_seeds": 2, "delta2": 0.25, "protocol": {**_PROTO, "epochs": 200},
              "reference": True},
    "default": {"N": 512, "alphas": _ALPHAS, "n_seeds": 4, "delta2": 0.25, "protocol": {**_PROTO, "epochs": 400},
                "reference": True},
    "paper": {"N": 4096, "alphas": (0.5, 0.9, 1.0, 1.1, 1.2, 1.5, 2.0, 3.0), "n_seeds": 2, "delta2": 0.25,
              "protocol": {**_PROTO, "epochs": 200}, "reference": False, "keeps": (0.5,)},
}
KINDS = ("linear", "wn", "wn_opt", "bn")  # wn: zeta = 1/(2M); wn_opt: zeta = delta2/alpha (lam = delta2)
DROPOUT_KINDS = ("dropout", "bn_dropout")  # input dropout at each keep of spec["keeps"] (default KEEPS)
KEEPS = (0.5, 0.8)
_EXTRA = ("tau_eff", "eps_gen_pn_train", "eps_pinv_same_data", "eps_ridge_same_data", "eps_bn_limit_same_data",
          "eps_dropout_diag_same_data", "eps_dropout_ridge_same_data", "eps_bn_dropout_limit_same_data",
          "eps_gen_drop_stats", "var_ratio", "conv_rel_change")


def point(*, kind: str, alpha: float, N: int, delta2: float, protocol: dict[str, Any], reference: bool,
          seed: int, keep: float = 1.0) -> dict[str, Any]:
    pr = Protocol(**protocol)
    zeta = {"wn": 1.0 / (2 * pr.M), "wn_opt": delta2 / alpha}.get(kind, 0.0)
    r = train_student("wn" if kind == "wn_opt" else kind, N, alpha, delta2, zeta, pr, seed=seed,
                      with_reference=reference, keep=keep)
    out: dict[str, Any] = {"eps_gen": r.eps_gen, "converged": float(r.converged), "conv_rel_change": r.conv_rel_change}
    for k in _EXTRA[:-1]:
        out[k] = r.extra.get(k, math.nan)
    return out


def _series(kind: str, keep: float) -> str:
    return kind if kind in KINDS else f"{kind}_k{keep:g}"


def compute(spec: dict[str, Any], seed: int, cache: PointCache, **sweep_kw: Any) -> dict[str, Any]:
    records = [{"kind": k, "alpha": a, "N": spec["N"], "delta2": spec["delta2"], "protocol": dict(spec["protocol"]),
                "reference": spec["reference"], "seed": derive_seed(seed, NAME, a, s)}
               for k in KINDS for a in spec["alphas"] for s in range(spec["n_seeds"])]
    keeps = tuple(spec.get("keeps", KEEPS))
    # the dropout students on the same datasets as the others (same seeds); BN + dropout at the first keep
    records += [{"kind": k, "alpha": a, "N": spec["N"], "delta2": spec["delta2"], "protocol": dict(spec["protocol"]),
                 "reference": spec["reference"], "seed": derive_seed(seed, NAME, a, s), "keep": kp}
                for k in DROPOUT_KINDS for kp in (keeps if k == "dropout" else keeps[:1])
                for a in spec["alphas"] for s in range(spec["n_seeds"])]
    res = sweep(point, records, cache=cache, name=NAME, **sweep_kw)
    rows: dict[str, list] = {c: [] for c in ("series", "alpha", "y", "yerr", "n", "converged_frac", "tau_eff",
                                             "same_data_limit")}

    def add(series, a, y, yerr=math.nan, n=0, conv=math.nan, tau=math.nan, lim=math.nan):
        for c, v in zip(rows, (series, a, y, yerr, n, conv, tau, lim), strict=True):
            rows[c].append(v)

    lim_key = {"linear": "eps_pinv_same_data", "wn": "eps_ridge_same_data", "wn_opt": "eps_ridge_same_data",
               "bn": "eps_bn_limit_same_data", "dropout": "eps_dropout_diag_same_data",
               "bn_dropout": "eps_bn_dropout_limit_same_data"}
    groups = list(dict.fromkeys((rec["kind"], rec.get("keep", 1.0)) for rec in records))
    for kind, kp in groups:
        for a in spec["alphas"]:
            rs = [r for rec, r in zip(records, res, strict=True)
                  if rec["kind"] == kind and rec.get("keep", 1.0) == kp and rec["alpha"] == a]
            name = _series(kind, kp)
            for series, key in ((name, "eps_gen"), (name + "_train_stats", "eps_gen_pn_train"),
                                (name + "_ridge_same_data", "eps_dropout_ridge_same_data")):
                if series.endswith("_train_stats") and kind not in ("bn", "bn_dropout") or \
                        series.endswith("_ridge_same_data") and kind != "dropout":
                    continue
                v = np.array([float(r[key]) for r in rs])
                se = v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else math.nan
                add(f"sim_{series}", a, v.mean(), se, len(v), np.mean([float(r["converged"]) for r in rs]),
                    np.mean([float(r["tau_eff"]) for r in rs]), np.mean([float(r[lim_key[kind]]) for r in rs]))
    M, d2 = spec["protocol"]["M"], spec["delta2"]
    zeta = 1.0 / (2 * M)
    for a in np.round(np.linspace(0.02, 3.0, 150), 4):
        a = float(a)
        add("theory_sgd", a, TS.gen_error_sgd(a, d2) if abs(a - 1) > 1e-9 else math.inf)
        add("theory_wn_opt", a, TS.gen_error_ridge(a, TS.ridge_optimal_lam(d2), d2))
        add("theory_wn_zeta_bn", a, TS.gen_error_wn(a, zeta, d2))
        add("theory_seed_lam_eq_zeta", a, TS.gen_error_ridge(a, zeta, d2))
        add("theory_bn_limit", a, TS.gen_error_bn_limit(a, d2, M) if abs(a - 1) > 1e-9 else math.inf)
        for kp in keeps:
            add(f"theory_dropout_k{kp:g}", a, DO.gen_error_dropout(a, kp, d2))
        add(f"theory_dropout_k{keeps[0]:g}_lam_1mkeep", a, TS.gen_error_ridge(a, 1 - keeps[0], d2))
        add(f"theory_bn_dropout_k{keeps[0]:g}", a, DO.gen_error_dropout_bn_limit(a, keeps[0], d2, M))
        add(f"theory_bn_dropout_k{keeps[0]:g}_recomputed", a,
            DO.gen_error_dropout_bn_limit(a, keeps[0], d2, M, "recomputed"))
    out = {k: np.array(v) for k, v in rows.items()}
    out["epochs"] = np.full(len(out["alpha"]), spec["protocol"]["epochs"])
    out["N"] = np.full(len(out["alpha"]), spec["N"])
    return out


def plot(d: dict[str, Any]) -> plt.Figure:
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(14, 5.2))
    s = d["series"]
    styles = {"theory_sgd": ("C0", "-", "SGD / pseudo-inverse"),
              "theory_wn_opt": ("C3", "-", "WN + γ decay, optimum λ = δ²"),
              "theory_wn_zeta_bn": ("C2", "-", "WN + γ decay, ζ = 1/(2M), λ = αζ"),
              "theory_seed_lam_eq_zeta": ("C2", ":", "write-up: λ = ζ (no α)"),
              "theory_bn_limit": ("k", "--", "BN limit (derived): κ·pinv, κ = E[σ_B]/σ")}
    for key, (c, ls, lab) in styles.items():
        sel = s == key
        y = np.where(np.isfinite(d["y"][sel]), d["y"][sel], np.nan)
        ax.plot(d["alpha"][sel], y, color=c, ls=ls, lw=1.3, label=lab)
    marks = {"sim_linear": ("C0", "o", "SGD trained"), "sim_wn": ("C2", "^", "WN trained, ζ = 1/(2M)"),
             "sim_wn_opt": ("C3", "v", "WN trained, ζ = δ²/α"),
             "sim_bn": ("k", "s", "BN trained (running stats)"),
             "sim_bn_train_stats": ("0.5", "D", "BN, training-set stats")}
    for key, (c, m, lab) in marks.items():
        sel = s == key
        ax.errorbar(d["alpha"][sel] + {"sim_linear": -0.03, "sim_wn": -0.01, "sim_wn_opt": 0.01, "sim_bn": 0.02,
                                        "sim_bn_train_stats": 0.04}[key],
                    d["y"][sel], yerr=d["yerr"][sel], fmt=m, color=c, ms=4, capsize=2, label=lab)
    sim = np.char.startswith(s.astype(str), "sim_")
    top = max(2.0, float(np.nanmax(d["y"][sim])) * 1.1) if sim.any() else 2.0
    ax.set_ylim(0, min(top, 3.0))
    ax.set_xlabel("α = P/N")
    ax.set_ylabel("generalization error ε_gen = |v − w*|² (no test noise)")
    ax.set_title(f"teacher–student, N = {int(d['N'][0])}, δ² = 0.25, M = 32, {int(d['epochs'][0])} epochs "
                 "(near α = 1 SGD and BN have not converged: see bn_training_length)", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    _plot_dropout(ax2, d)
    fig.tight_layout()
    return fig


def _plot_dropout(ax: plt.Axes, d: dict[str, Any]) -> None:
    """Right panel: the input-dropout students (docs/dropout.md)."""
    s = d["series"].astype(str)
    keeps = sorted({float(k.split("_k")[1]) for k in s if k.startswith("theory_dropout_k") and k.count("_") == 2},
                   reverse=False)
    k0 = f"{keeps[0]:g}" if keeps else "0.5"
    ax.plot(d["alpha"][s == "theory_sgd"], np.where(np.isfinite(d["y"][s == "theory_sgd"]), d["y"][s == "theory_sgd"],
                                                   np.nan), color="C0", lw=1, alpha=0.5, label="SGD / pseudo-inverse")
    colors = {kp: f"C{4 + i}" for i, kp in enumerate(keeps)}
    for kp in keeps:
        sel = s == f"theory_dropout_k{kp:g}"
        ax.plot(d["alpha"][sel], d["y"][sel], color=colors[kp], lw=1.3,
                label=f"ridge at λ = α(1−keep)/keep, keep = {kp:g}")
        m = s == f"sim_dropout_k{kp:g}"
        ax.errorbar(d["alpha"][m] - 0.02, d["y"][m], yerr=d["yerr"][m], fmt="o", color=colors[kp], ms=4, capsize=2,
                    label=f"dropout student trained, keep = {kp:g}")
    sel = s == f"theory_dropout_k{k0}_lam_1mkeep"
    ax.plot(d["alpha"][sel], d["y"][sel], color=colors.get(keeps[0], "C4") if keeps else "C4", ls=":", lw=1.2,
            label=f"wrong: λ = 1 − keep (keep = {k0})")
    for key, ls, lab in ((f"theory_bn_dropout_k{k0}", "--", f"BN + dropout limit, running stats (keep = {k0})"),
                         (f"theory_bn_dropout_k{k0}_recomputed", "-.",
                          f"BN + dropout limit, stats recomputed w/o dropout (keep = {k0})")):
        sel = s == key
        ax.plot(d["alpha"][sel], d["y"][sel], color="k", ls=ls, lw=1.1, label=lab)
    for key, m, c, lab, dx in ((f"sim_bn_dropout_k{k0}", "s", "k", "BN + dropout trained (running stats)", 0.02),
                               (f"sim_bn_dropout_k{k0}_train_stats", "D", "0.5",
                                "BN + dropout, stats recomputed w/o dropout", 0.04)):
        sel = s == key
        ax.errorbar(d["alpha"][sel] + dx, d["y"][sel], yerr=d["yerr"][sel], fmt=m, color=c, ms=4, capsize=2,
                    label=lab)
    ax.set_ylim(0, 1.6)
    ax.set_xlabel("α = P/N")
    ax.set_ylabel("ε_gen (no test noise)")
    ax.set_title("input dropout: trained students vs the mapped ridge λ = α(1−keep)/keep", fontsize=9)
    ax.legend(fontsize=6.5)

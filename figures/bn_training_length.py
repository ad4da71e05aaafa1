"""bn_training_length: the BN student's generalization error vs training length at alpha near 1,
next to plain SGD and WN + gamma decay trained the same way (constant learning rate, no
annealing, so every recorded epoch is a possible stopping point).

Top row: eps_gen vs epochs, with the WN curve at zeta = 1/(2M) (what Luo et al., ICLR 2019,
arXiv:1809.00846, say BN follows; docs/teacher_student.md)
and the derived converged-BN limit (kappa-shrunk pseudo-inverse; infinite at alpha = 1).
Bottom row: the same runs vs the effective gradient-flow time tau (plain SGD: lr x steps; BN:
sum of lr gamma^2/sigma_B^2), against early-stopped gradient flow (theory.gen_error_gd; BN
starts from a random v0 with E|v0|^2 = 1, so init_var = 1).  If BN = "gradient flow on the
training-set-normalized model at its own clock", its points fall on that curve.
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from bnreg.runtime import PointCache, derive_seed, sweep
from bnreg.sims.teacher_student import Protocol, n_samples, train_student
from bnreg.theory import teacher_student as TS

NAME = "bn_training_length"
TITLE = "BN student error vs training length near alpha = 1 (vs SGD and WN + gamma decay)"
# Each sweep point runs on one thread, so by default the points go to one process per core.
SERIAL_POINTS = True
_PROTO = {"M": 32, "lr0": 0.5, "decay_frac": 0.0, "lr_final_frac": 1.0, "init_scale": 1.0, "momentum": 0.1,
          "bn_eps": 1e-5, "conv_window": 0.1, "conv_rtol": 1e-2, "n_record": 30}
SCALES: dict[str, dict[str, Any]] = {
    "quick": {"N": 128, "alphas": (0.9, 1.0, 1.2), "n_seeds": 2, "delta2": 0.25,
              "protocol": {**_PROTO, "epochs": 1500}},
    "default": {"N": 512, "alphas": (0.9, 1.0, 1.1, 1.2), "n_seeds": 3, "delta2": 0.25,
                "protocol": {**_PROTO, "epochs": 4000}},
    "paper": {"N": 1024, "alphas": (0.9, 1.0, 1.1, 1.2), "n_seeds": 2, "delta2": 0.25,
              "protocol": {**_PROTO, "epochs": 4000}},
}
KINDS = ("bn", "linear", "wn")


def point(*, kind: str, alpha: float, N: int, delta2: float, protocol: dict[str, Any], seed: int) -> dict[str, Any]:
    pr = Protocol(**protocol)
    r = train_student(kind, N, alpha, delta2, 1.0 / (2 * pr.M) if kind == "wn" else 0.0, pr, seed=seed)
    return {"epochs": r.epochs, "eps": r.eps_traj, "tau": r.tau_traj}


def compute(spec: dict[str, Any], seed: int, cache: PointCache, **sweep_kw: Any) -> dict[str, Any]:
    records = [{"kind": k, "alpha": a, "N": spec["N"], "delta2": spec["delta2"], "protocol": dict(spec["protocol"]),
                "seed": derive_seed(seed, NAME, a, s)}
               for k in KINDS for a in spec["alphas"] for s in range(spec["n_seeds"])]
    res = sweep(point, records, cache=cache, name=NAME, **sweep_kw)
    rows: dict[str, list] = {c: [] for c in ("kind", "alpha", "epoch", "tau", "eps", "se", "gd_theory",
                                             "wn_zeta_bn", "bn_limit")}
    M, d2, N = spec["protocol"]["M"], spec["delta2"], spec["N"]
    for kind in KINDS:
        for a in spec["alphas"]:
            rs = [r for rec, r in zip(records, res, strict=True) if rec["kind"] == kind and rec["alpha"] == a]
            eps = np.array([r["eps"] for r in rs])
            tau = np.array([r["tau"] for r in rs]).mean(0)
            se = eps.std(0, ddof=1) / math.sqrt(len(rs)) if len(rs) > 1 else np.full(eps.shape[1], math.nan)
            P = n_samples(N, a)
            lim = TS.gen_error_bn_limit(P / N, d2, M) if P != N else math.inf
            for e, t, m, s in zip(rs[0]["epochs"], tau, eps.mean(0), se, strict=True):
                gd = TS.gen_error_gd(a, float(t), d2, 0.0 if kind == "linear" else 1.0) if kind != "wn" else math.nan
                wn = TS.gen_error_wn(a, 1 / (2 * M), d2)
                for c, v in zip(rows, (kind, a, int(e), float(t), float(m), float(s), gd, wn, lim), strict=True):
                    rows[c].append(v)
    return {k: np.array(v) for k, v in rows.items()}


def plot(d: dict[str, Any]) -> plt.Figure:
    alphas = sorted(set(d["alpha"].tolist()))
    fig, axes = plt.subplots(2, len(alphas), figsize=(4.2 * len(alphas), 7), squeeze=False)
    col = {"bn": "k", "linear": "C0", "wn": "C2"}
    lab = {"bn": "BN (running stats)", "linear": "plain SGD", "wn": "WN + γ decay ζ=1/(2M)"}
    for j, a in enumerate(alphas):
        top, bot = axes[0, j], axes[1, j]
        for kind in ("bn", "linear", "wn"):
            sel = (d["alpha"] == a) & (d["kind"] == kind)
            top.errorbar(d["epoch"][sel], d["eps"][sel], yerr=d["se"][sel], color=col[kind], marker="o", ms=3,
                         lw=1, capsize=1.5, label=lab[kind])
            if kind != "wn":
                bot.plot(d["tau"][sel], d["eps"][sel], color=col[kind], marker="o", ms=3, lw=0,
                         label=lab[kind] + " (sim)")
                bot.plot(d["tau"][sel], d["gd_theory"][sel], color=col[kind], ls="--", lw=1,
                         label=f"gradient flow, init_var={0 if kind == 'linear' else 1}")
        sel = (d["alpha"] == a) & (d["kind"] == "bn")
        top.axhline(d["wn_zeta_bn"][sel][0], color="C2", ls=":", lw=1.2, label="WN theory ζ=1/(2M) (Luo et al.)")
        lim = d["bn_limit"][sel][0]
        if np.isfinite(lim):
            top.axhline(lim, color="k", ls="--", lw=1, label="BN limit (derived)")
        for ax in (top, bot):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.legend(fontsize=6)
        top.set_title(f"α = {a:g}", fontsize=10)
        top.set_xlabel("epochs")
        bot.set_xlabel("effective gradient-flow time τ")
    axes[0, 0].set_ylabel("ε_gen")
    axes[1, 0].set_ylabel("ε_gen")
    fig.tight_layout()
    return fig

"""batch_stats: the laws of the batch statistics for inputs of different kurtosis
(docs/bn_noise.md): M Var(sigma_B)/sigma^2 vs rho against (rho+2)/4, M Var(mu_B)/sigma^2 against 1,
the bias M (1 - E[sigma_B]/sigma) against (rho+6)/8, and histograms of sigma_B against the
Gaussian approximation N(sigma (1 - (rho+6)/(8M)), sigma^2 (rho+2)/(4M))."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from bnreg.runtime import PointCache, derive_seed, sweep
from bnreg.sims.bn_noise import simulate_batch_stats
from bnreg.theory import bn_noise as B
from bnreg.theory.distributions import FAMILIES, family_moments

NAME = "batch_stats"
TITLE = "Batch mean and std as random variables, for inputs of different kurtosis"
HIST_SD = 5.0  # histogram range: +- 5 asymptotic standard deviations
SCALES: dict[str, dict[str, Any]] = {
    "quick": {"Ms": (8, 32), "hist_M": 32, "samples": 2**20, "bins": 40},
    "default": {"Ms": (8, 32, 128), "hist_M": 32, "samples": 2**25, "bins": 80},
    "paper": {"Ms": (8, 32, 128, 512), "hist_M": 32, "samples": 2**28, "bins": 120},
}


def _approx(family: str, M: int) -> tuple[float, float]:
    fm = family_moments(family)
    return B.batch_std_mean(M, fm.rho), B.batch_std_var(M, fm.rho) ** 0.5


def point(*, family: str, M: int, samples: int, bins: int, seed: int) -> dict[str, Any]:
    m, s = _approx(family, M)
    r = simulate_batch_stats(family, M, max(samples // M, 256), seed=seed,
                             hist_range=(max(m - HIST_SD * s, 0.0), m + HIST_SD * s), hist_bins=bins)
    out: dict[str, Any] = {"hist": r.hist, "edges": r.hist_edges, "n_batches": r.n_batches}
    for k in ("var_sd", "var_mu", "mean_sd", "corr_sample_sd"):
        est = getattr(r, k)()
        out[k], out[k + "_se"] = est.estimate, est.se
    return out


def compute(spec: dict[str, Any], seed: int, cache: PointCache, **sweep_kw: Any) -> dict[str, Any]:
    Ms = sorted(set(spec["Ms"]) | {spec["hist_M"]})
    records = [{"family": f, "M": M, "samples": spec["samples"], "bins": spec["bins"],
                "seed": derive_seed(seed, NAME, f, M)} for f in FAMILIES for M in Ms]
    res = sweep(point, records, cache=cache, name=NAME, **sweep_kw)
    rows: dict[str, list] = {k: [] for k in ("panel", "family", "M", "rho", "x", "y", "yerr", "theory")}

    def add(panel, f, M, x, y, yerr, th):
        for k, v in zip(rows, (panel, f, M, family_moments(f).rho, x, y, yerr, th), strict=False):
            rows[k].append(v)

    for rec, r in zip(records, res, strict=True):
        f, M = rec["family"], rec["M"]
        fm = family_moments(f)
        add("M_var_sigmaB", f, M, fm.rho, M * float(r["var_sd"]), M * float(r["var_sd_se"]), (fm.rho + 2) / 4)
        add("M_var_muB", f, M, fm.rho, M * float(r["var_mu"]), M * float(r["var_mu_se"]), 1.0)
        add("M_bias_sigmaB", f, M, fm.rho, M * (1 - float(r["mean_sd"])), M * float(r["mean_sd_se"]),
            (fm.rho + 6) / 8)
        if M == spec["hist_M"]:
            e, h = r["edges"], r["hist"]
            dens = h / (h.sum() * np.diff(e)) if h.sum() else h
            m, s = _approx(f, M)
            for i in range(len(h)):
                c = 0.5 * (e[i] + e[i + 1])
                se = np.sqrt(h[i]) / (float(r["n_batches"]) * (e[i + 1] - e[i]))
                add("hist_sigmaB", f, M, c, float(dens[i]), float(se),
                    float(np.exp(-0.5 * ((c - m) / s) ** 2) / (s * np.sqrt(2 * np.pi))))
    return {k: np.array(v) for k, v in rows.items()}


def plot(d: dict[str, Any]) -> plt.Figure:
    fig, axes = plt.subplots(2, 4, figsize=(16, 7.5))
    rg = np.linspace(-1.5, 6.5, 50)
    Ms = sorted(set(d["M"][d["panel"] == "M_var_sigmaB"].tolist()))
    specs = [("M_var_sigmaB", "M·Var(σ_B)/σ²", (rg + 2) / 4, "(ρ+2)/4"),
             ("M_var_muB", "M·Var(μ_B)/σ²", rg * 0 + 1, "1 (exact)"),
             ("M_bias_sigmaB", "M·(1 − E[σ_B]/σ)", (rg + 6) / 8, "(ρ+6)/8")]
    for ax, (panel, ylab, th, thlab) in zip(axes[0, :3], specs, strict=False):
        ax.plot(rg, th, "k-", lw=1, label=thlab)
        for j, M in enumerate(Ms):
            sel = (d["panel"] == panel) & (d["M"] == M)
            ax.errorbar(d["x"][sel] + 0.06 * (j - 1), d["y"][sel], yerr=d["yerr"][sel], fmt="os^dv"[j % 5],
                        ms=4, capsize=2, label=f"MC M={M}")
        ax.set_xlabel("excess kurtosis ρ")
        ax.set_ylabel(ylab)
        ax.legend(fontsize=7)
    for x, f in zip(d["x"][(d["panel"] == "M_var_sigmaB") & (d["M"] == Ms[0])],
                    d["family"][(d["panel"] == "M_var_sigmaB") & (d["M"] == Ms[0])], strict=False):
        axes[0, 0].annotate(f, (x, (x + 2) / 4), fontsize=7, xytext=(3, -10), textcoords="offset points")
    hist_axes = [axes[0, 3], *axes[1, :]]
    for ax, f in zip(hist_axes, FAMILIES, strict=False):
        sel = (d["panel"] == "hist_sigmaB") & (d["family"] == f)
        x, y, th = d["x"][sel], d["y"][sel], d["theory"][sel]
        w = np.diff(x).mean() if len(x) > 1 else 1.0
        ax.bar(x, y, width=w, color="C0", alpha=0.5, label="MC histogram")
        ax.plot(x, th, "C3-", label="Gaussian approx.")
        M = int(d["M"][sel][0]) if sel.any() else 0
        ax.set_title(f"σ_B/σ, {f} input, M={M} (ρ={family_moments(f).rho:.2f})", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig

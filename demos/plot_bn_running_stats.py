"""
BN running statistics: the EMA, with and without warm-up
========================================================

At inference BN uses running estimates of each unit's mean and variance, updated after every batch
by the exponential moving average s <- d s + (1 - d) x_t (PyTorch's momentum is 1 - d = 0.1; it
starts the mean at 0 and the variance at 1 and averages unbiased batch variances).  Unrolled, s_t
is the start value weighted by Pi_t = prod d_k plus batch statistics weighted by
w_k = (1 - d_k) prod_{j>k} d_j, so exactly

    E[s_t] - target = Pi_t (s_0 - target),    Var(s_t) = Var(x) sum_k w_k^2,

with Var(x) = sigma^2/M for the batch mean and sigma^4 (2/(M - 1) + rho/M) for the unbiased batch
variance (rho: excess kurtosis).  Constant d: Pi_t = d^t, and the variance tends to
(1 - d)/(1 + d) Var(x).  The warm-up d_t = min(d, (1 + t)/(10 + t)) forgets the start value like
9! t!/(t + 9)! instead of d^t (``bnreg derive bn_running_stats``; docs/training_practice.md).
"""

# %%
# Ingredients: the exact EMA formulas of ``bnreg.theory.training_practice`` and the numba Monte
# Carlo of running statistics in ``bnreg.sims.training_practice``.
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from bnreg.demos.common import Report, quick_from_env
from bnreg.runtime import derive_seed
from bnreg.sims.training_practice import simulate_running_stats
from bnreg.theory import training_practice as TP

NAME = "bn_running_stats"
TITLE = "BN running statistics: bias and spread of the EMA, with and without warm-up"
MU, SIGMA, S0_MEAN, S0_VAR = 1.0, 2.0, 0.0, 1.0
M = 8
SETTINGS = ((0.9, False), (0.9, True), (0.99, False), (0.99, True))


# %%
# Theory at update counts t for one (d, warm-up).
def theory(d: float, warmup: bool, steps: np.ndarray) -> dict[str, np.ndarray]:
    return {"mean_bias": np.array([TP.running_mean_bias(d, int(t), S0_MEAN, MU, warmup) for t in steps]),
            "mean_sd": np.sqrt([TP.running_mean_var(M, d, int(t), SIGMA, warmup) for t in steps]),
            "var_bias": np.array([TP.running_var_bias(d, int(t), S0_VAR, SIGMA, warmup) for t in steps]),
            "var_sd": np.sqrt([TP.running_var_var(M, d, int(t), SIGMA, 0.0, warmup) for t in steps])}


# %%
# Simulation: independent runs of the running statistics on Gaussian batches of M.
def simulate(d: float, warmup: bool, steps: np.ndarray, n_runs: int, seed: int = 0) -> dict[str, np.ndarray]:
    r = simulate_running_stats(M, d, steps, warmup, "gaussian", MU, SIGMA, S0_MEAN, S0_VAR, n_runs,
                               derive_seed(seed, NAME, d, warmup))
    out: dict[str, list] = {k: [] for k in ("mean_bias", "mean_bias_se", "mean_sd", "mean_sd_se", "var_bias",
                                            "var_bias_se", "var_sd", "var_sd_se")}
    for j in range(len(r.steps)):
        for key, est, shift in (("mean_bias", r.mean_of_mean(j), MU), ("var_bias", r.mean_of_var(j), SIGMA**2)):
            out[key].append(est.estimate - shift)
            out[key + "_se"].append(est.se)
        for key, est in (("mean_sd", r.var_of_mean(j)), ("var_sd", r.var_of_var(j))):
            sd = math.sqrt(est.estimate)
            out[key].append(sd)
            out[key + "_se"].append(est.se / (2 * sd))  # delta method
    return {k: np.array(v) for k, v in out.items()}


# %%
# The figure: bias (absolute, log scale) and standard deviation of both running statistics vs t.
def plot(steps, th, sim) -> plt.Figure:
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    tg = np.unique(np.round(np.geomspace(1, steps[-1], 80)).astype(int))
    panels = (("mean_bias", "|E[running mean] − μ|", True), ("mean_sd", "sd(running mean)", False),
              ("var_bias", "|E[running var] − σ²|", True), ("var_sd", "sd(running var)", False))
    for ax, (key, label, logy) in zip(axes.flat, panels, strict=True):
        for k, (d, w) in enumerate(SETTINGS):
            lab = f"d = {d}{', warm-up' if w else ''}"
            y = np.abs(theory(d, w, tg)[key]) if logy else theory(d, w, tg)[key]
            ax.plot(tg, y, f"C{k}-", lw=1.2, label=f"{lab} (theory)")
            ys = np.abs(sim[d, w][key]) if logy else sim[d, w][key]
            ax.errorbar(steps, ys, sim[d, w][key + "_se"], fmt="o", ms=3, color=f"C{k}", label=f"{lab} (MC)")
        ax.set_xscale("log")
        if logy:
            ax.set_yscale("log")
            ax.set_ylim(1e-5, 10)
        ax.set_xlabel("updates t")
        ax.set_title(label)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7, ncol=2)
    fig.suptitle(f"N(μ = {MU}, σ = {SIGMA}) inputs, batches of M = {M}; start: mean {S0_MEAN}, variance {S0_VAR}")
    fig.tight_layout()
    return fig


# %%
# Run it.
def main(save: str | None = None, quick: bool = False, seed: int = 0) -> dict[str, float]:
    rep = Report(NAME, TITLE, quick, seed)
    steps = np.array([1, 3, 10, 30, 100, 300] if quick else [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000])
    n_runs = 512 if quick else 4096
    th = {s: theory(*s, steps) for s in SETTINGS}
    sim = {s: simulate(*s, steps, n_runs, seed) for s in SETTINGS}
    for d, w in SETTINGS:
        for t in (10, 100):
            j = int(np.searchsorted(steps, t))
            tag = f"d = {d:4}{' warm-up' if w else '        '} t = {t:3d}"
            rep.compare(f"{tag} running-mean bias", f"d{d}_w{int(w)}_t{t}_mean_bias", th[d, w]["mean_bias"][j],
                        sim[d, w]["mean_bias"][j], sim[d, w]["mean_bias_se"][j])
            rep.compare(f"{tag} running-var sd  ", f"d{d}_w{int(w)}_t{t}_var_sd", th[d, w]["var_sd"][j],
                        sim[d, w]["var_sd"][j], sim[d, w]["var_sd_se"][j])
    for d in (0.9, 0.99, 0.999):
        rel = [math.sqrt((1 - d) / (1 + d) * TP.batch_var_var(m, 1.0)) for m in (8, 32, 128)]
        rep.say(f"  stationary relative sd of the running variance, d = {d}: "
                + ", ".join(f"M = {m}: {x:.3f}" for m, x in zip((8, 32, 128), rel, strict=True)))
    table: dict[str, list] = {"d": [], "warmup": [], "t": []}
    for s in SETTINGS:
        table["d"] += [s[0]] * len(steps)
        table["warmup"] += [s[1]] * len(steps)
        table["t"] += list(steps)
        for k in th[s]:
            table.setdefault(f"{k}_theory", []).extend(th[s][k])
        for k in sim[s]:
            table.setdefault(f"{k}_sim", []).extend(sim[s][k])
    return rep.finish(plot(steps, th, sim), table, save, {"M": M, "mu": MU, "sigma": SIGMA, "n_runs": n_runs})


if __name__ == "__main__":
    results = main(quick=quick_from_env())

"""gamma_shrinkage: how much BN shrinks the optimal gamma, M (1 - gamma*_BN/gamma*_PN) vs M, one
panel per GLM: measured (Newton on the sampled BN objective), the PN + zeta gamma^2 prediction of
Luo, Wang, Shao, Peng, ICLR 2019 (arXiv:1809.00846) §2, the derived prediction with the first-order
term, and the exact value where it exists (squared/identity: E[sigma_B]/sigma_P; no bias: E[batch
RMS]).  Explained in docs/gamma_decay.md."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from bnreg.runtime import PointCache, derive_seed, sweep
from bnreg.sims.gamma_decay import SETUPS, simulate_optimal_gamma
from bnreg.theory import gamma_decay as G

from ._io import columns_from_rows, panel_grid

NAME = "gamma_shrinkage"
TITLE = "Optimal gamma under BN vs PN: measured, PN + zeta gamma^2, derived, exact"
_M_FULL = (4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)
SCALES: dict[str, dict[str, Any]] = {
    "quick": {"Ms": (4, 16, 64), "samples": 2**20, "family": "gaussian", "setups": SETUPS, "newton": 4},
    "default": {"Ms": _M_FULL, "samples": 2**24, "family": "gaussian", "setups": SETUPS, "newton": 4},
    "paper": {"Ms": _M_FULL, "samples": 2**27, "family": "gaussian", "setups": SETUPS, "newton": 4},
}
COLUMNS = ("case", "M", "ratio", "se", "zeta", "derived", "exact")
_EXACT = ("identity", "squared", "no_bias")


def point(*, case: str, M: int, samples: int, family: str, gamma0: float, beta0: float, newton: int,
          seed: int) -> dict[str, float]:
    r = simulate_optimal_gamma(case, M, gamma0, beta0, family, max(samples // M, 256), seed, n_newton=newton)
    return {"ratio": r.estimate, "se": r.se}


def compute(spec: dict[str, Any], seed: int, cache: PointCache, **sweep_kw: Any) -> dict[str, Any]:
    fam = spec["family"]
    records = [{"case": c, "M": M, "samples": spec["samples"], "family": fam, "gamma0": spec["setups"][c][0],
                "beta0": spec["setups"][c][1], "newton": spec["newton"], "seed": derive_seed(seed, NAME, c, M)}
               for c in G.CASES for M in spec["Ms"]]
    res = sweep(point, records, cache=cache, name=NAME, **sweep_kw)
    rows = []
    for rec, r in zip(records, res, strict=True):
        c, M, g0, b0 = rec["case"], rec["M"], rec["gamma0"], rec["beta0"]
        ex = G.optimal_gamma_ratio(c, M, g0, b0, fam, "exact") if c in _EXACT else float("nan")
        rows.append((c, M, float(r["ratio"]), float(r["se"]), G.optimal_gamma_ratio(c, M, g0, b0, fam, "zeta"),
                     G.optimal_gamma_ratio(c, M, g0, b0, fam, "derived"), ex))
    return columns_from_rows(COLUMNS, rows)


def plot(d: dict[str, Any]) -> plt.Figure:
    cases = list(dict.fromkeys(d["case"]))
    fig, axes = panel_grid(cases, "M (1 - gamma*_BN / gamma*_PN)",
                           "Shrinkage of the optimal gamma by BN (Gaussian pre-activation, beta fixed)")
    for c, ax in axes.items():
        sel = d["case"] == c
        M = d["M"][sel].astype(float)
        ax.errorbar(M, M * (1 - d["ratio"][sel]), yerr=M * d["se"][sel], fmt="o", color="C0", ms=4, capsize=2,
                    label="MC (Newton, common random numbers)")
        ax.plot(M, M * (1 - d["zeta"][sel]), "C3:", label="PN + zeta gamma^2 (Luo et al.)")
        ax.plot(M, M * (1 - d["derived"][sel]), "C2--", label="derived, with first-order term")
        if np.all(np.isfinite(d["exact"][sel])):
            ax.plot(M, M * (1 - d["exact"][sel]), "k-", lw=1, label="exact")
    axes[cases[1]].legend(fontsize=7)
    fig.tight_layout()
    return fig

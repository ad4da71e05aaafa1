"""
Gamma decay: what BN's noise costs a GLM unit
=============================================

Luo et al. (ICLR 2019, arXiv:1809.00846) write BN as population normalization (PN) plus an implicit
penalty zeta gamma^2 on the BN scale gamma: L_BN - L_PN ~ zeta gamma^2 with zeta = O(1/M).  For a
well-specified GLM unit at the PN optimum, this demo measures M (L_BN - L_PN)/gamma^2 by Monte Carlo
and sets it against Luo et al.'s zeta and the value derived in ``bnreg.theory.gamma_decay``
(docs/gamma_decay.md).
"""

# %%
# Ingredients: the GLM setups of ``bnreg.sims.gamma_decay`` (true parameters gamma0, beta0 per
# case), the Monte Carlo of L_BN - L_PN there, and the two theories.
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from bnreg.demos.common import Report, quick_from_env
from bnreg.runtime import derive_seed
from bnreg.sims.gamma_decay import SETUPS, simulate_glm_bn
from bnreg.theory import gamma_decay as G

NAME = "gamma_decay"
TITLE = "gamma decay: M (L_BN - L_PN)/gamma^2, measured vs Luo et al.'s zeta vs derived"
CASES = ("logistic", "relu", "squared")
MS = (4, 16, 64)


# %%
# One (case, M): measured excess loss at the PN optimum gamma0, and both predictions, times M/gamma^2.
def point(case: str, M: int, samples: int, seed: int = 0) -> dict[str, float]:
    g0, b0 = SETUPS[case]
    r = simulate_glm_bn(case, M, [g0], g0, b0, "gaussian", max(samples // M, 256), derive_seed(seed, NAME, case, M))
    dl = r.dl(0)
    k = M / g0**2
    return {"M": M, "mc": k * dl.estimate, "se": k * dl.se,
            "luo2019": k * G.zeta_special(case, M, g0, b0, terms="luo2019") * g0**2,
            "derived": k * G.bn_loss_excess(case, M, g0, b0, g0, b0),
            "derived2": k * G.bn_loss_excess(case, M, g0, b0, g0, b0, order=2)}


# %%
# The figure: one panel per GLM.
def plot(res: dict[str, list[dict[str, float]]]) -> plt.Figure:
    fig, axes = plt.subplots(1, len(res), figsize=(4.2 * len(res), 3.8))
    for ax, (case, rows) in zip(np.atleast_1d(axes), res.items(), strict=True):
        M = np.array([r["M"] for r in rows])
        ax.errorbar(M, [r["mc"] for r in rows], yerr=[r["se"] for r in rows], fmt="o", capsize=2,
                    label="Monte Carlo ± 1 SE")
        ax.plot(M, [r["luo2019"] for r in rows], "C3:", label="M ζ (Luo et al.)")
        ax.plot(M, [r["derived"] for r in rows], "k--", label="derived O(1/M)")
        ax.plot(M, [r["derived2"] for r in rows], "k-", lw=1, label="derived O(1/M²)")
        ax.set_xscale("log", base=2)
        ax.set_title(f"{case} (γ0, β0) = {SETUPS[case]}")
        ax.set_xlabel("batch size M")
        ax.set_ylabel("M (L_BN − L_PN)/γ²")
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


# %%
# Run it.
def main(save: str | None = None, quick: bool = False, seed: int = 0) -> dict[str, float]:
    rep = Report(NAME, TITLE, quick, seed)
    samples = 2**18 if quick else 2**22
    res = {case: [point(case, M, samples, seed) for M in MS] for case in CASES}
    for case, rows in res.items():
        for r in rows:
            M = int(r["M"])
            rep.compare(f"{case:8s} M = {M:2d}  M dL/γ²", f"{case}_M{M}", r["derived2"], r["mc"], r["se"],
                        f"Luo et al. {r['luo2019']:.4g}, derived O(1/M) {r['derived']:.4g}")
    table = {"case": np.array([c for c, rows in res.items() for _ in rows])}
    for k in ("M", "mc", "se", "luo2019", "derived", "derived2"):
        table[k] = np.array([r[k] for rows in res.values() for r in rows])
    return rep.finish(plot(res), table, save)


if __name__ == "__main__":
    results = main(quick=quick_from_env())

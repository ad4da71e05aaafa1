"""
BN noise: the simple example
============================

Batch normalization standardizes a unit with the statistics of its batch of M, not of the
population.  For x ~ N(0, 1) the error of b = (x - mu_B)/sigma_B against the population-normalized
a = x is exactly E[(b - a)^2] = 2 - 2 E[sigma_B] = 2 - 2 sqrt(2/M) Gamma(M/2)/Gamma((M-1)/2);
Luo et al. (ICLR 2019, arXiv:1809.00846) quote its asymptote 3/(2M).  Here: exact, asymptote and
Monte Carlo side by side (docs/bn_noise.md).
"""

# %%
# The ingredients: the exact finite-M value and the asymptote from ``bnreg.theory.bn_noise``, the
# Monte Carlo of batches of M Gaussian inputs from ``bnreg.sims.bn_noise``.
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from bnreg.demos.common import Report, interactive, quick_from_env
from bnreg.runtime import derive_seed
from bnreg.sims.bn_noise import simulate_batch_stats
from bnreg.theory import bn_noise as B

NAME = "bn_noise"
TITLE = "the simple example: exact vs 3/(2M) vs Monte Carlo"
MS = (2, 3, 4, 8, 16, 32, 128)


# %%
# One batch size: the two formulas and a Monte Carlo estimate with its standard error.
def point(M: int, samples: int, seed: int = 0) -> dict[str, float]:
    mc = simulate_batch_stats("gaussian", M, max(samples // M, 256), seed=derive_seed(seed, NAME, M)).simple_error()
    return {"M": M, "exact": B.simple_error(M, exact=True), "asymptote": B.simple_error(M),
            "mc": mc.estimate, "se": mc.se}


# %%
# The figure: M E[(b - a)^2] against M, so that the asymptote is the flat line 3/2.
def plot(rows: list[dict[str, float]]) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    Mg = np.unique(np.round(np.geomspace(2, max(r["M"] for r in rows), 200)).astype(int))
    ax.plot(Mg, [m * B.simple_error(int(m), exact=True) for m in Mg], "k-", label="exact 2 - 2 E[σ_B]")
    ax.axhline(1.5, color="C3", ls=":", label="asymptote 3/(2M) (Luo et al.)")
    M = np.array([r["M"] for r in rows])
    ax.errorbar(M, M * np.array([r["mc"] for r in rows]), yerr=M * np.array([r["se"] for r in rows]), fmt="o",
                color="C0", capsize=2, label="Monte Carlo ± 1 SE")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size M")
    ax.set_ylabel("M · E[(b − a)²]")
    ax.set_title("batch vs population normalization, x ~ N(0, 1)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# %%
# Run it: print the key numbers, draw, and save when asked.
def main(save: str | None = None, quick: bool = False, seed: int = 0) -> dict[str, float]:
    rep = Report(NAME, TITLE, quick, seed)
    samples = 2**18 if quick else 2**24
    rows = [point(M, samples, seed) for M in MS]
    for r in rows:
        M = int(r["M"])
        rep.compare(f"M = {M:3d}", f"M{M}", r["exact"], r["mc"], r["se"],
                    f"3/(2M) = {r['asymptote']:.5g} ({100 * (r['asymptote'] / r['exact'] - 1):+.1f} %)")
    table = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    return rep.finish(plot(rows), table, save)


# %%
# Optional: move M with a slider (in Jupyter with ipywidgets installed).
def explore(M: int = 8) -> None:
    r = point(M, 2**18)
    print(f"M = {M}: exact {r['exact']:.5f}, 3/(2M) {r['asymptote']:.5f}, MC {r['mc']:.5f} ± {r['se']:.1g}")


if __name__ == "__main__":
    results = main(quick=quick_from_env())
    widgets = interactive()
    if widgets is not None:
        widgets.interact(explore, M=widgets.IntSlider(value=8, min=2, max=256))

"""simple_error: M * E[(b - a)^2] vs M for Gaussian input (the simple example, §1.1 of the authors'
Chinese write-up of Luo et al., ICLR 2019, arXiv:1809.00846): Monte Carlo with error bars, the exact
finite-M value 2 - 2 sqrt(2/M) Gamma(M/2)/Gamma((M-1)/2), the asymptote 3/2 and the two-term series
3/2 + 7/(16 M).  Explained in docs/bn_noise.md."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from bnreg.runtime import PointCache, derive_seed, sweep
from bnreg.sims.bn_noise import simulate_batch_stats
from bnreg.theory import bn_noise as B

NAME = "simple_error"
TITLE = "The simple example of Luo et al.: error of batch vs population normalization"
_M_FULL = (2, 3, 4, 5, 6, 8, 11, 16, 23, 32, 45, 64, 91, 128, 181, 256, 362, 512, 724, 1024)
SCALES: dict[str, dict[str, Any]] = {
    "quick": {"Ms": (2, 4, 8, 16, 32, 128, 512), "samples": 2**20},
    "default": {"Ms": _M_FULL, "samples": 2**25},
    "paper": {"Ms": _M_FULL, "samples": 2**29},
}


def point(*, M: int, samples: int, seed: int) -> dict[str, float]:
    r = simulate_batch_stats("gaussian", M, max(samples // M, 256), seed=seed).simple_error()
    return {"mc": r.estimate, "se": r.se, "n": r.n}


def compute(spec: dict[str, Any], seed: int, cache: PointCache, **sweep_kw: Any) -> dict[str, Any]:
    records = [{"M": M, "samples": spec["samples"], "seed": derive_seed(seed, NAME, M)} for M in spec["Ms"]]
    res = sweep(point, records, cache=cache, name=NAME, **sweep_kw)
    M = np.array(spec["Ms"])
    return {
        "M": M,
        "mc": np.array([float(r["mc"]) for r in res]),
        "se": np.array([float(r["se"]) for r in res]),
        "n": np.array([int(r["n"]) for r in res]),
        "exact": np.array([B.simple_error(m, exact=True) for m in M]),
        "asymptotic": np.array([B.simple_error(m) for m in M]),
        "order2": np.array([B.simple_error(m, order=2) for m in M]),
    }


def plot(d: dict[str, Any]) -> plt.Figure:
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    Mg = np.unique(np.round(np.geomspace(2, d["M"].max(), 300)).astype(int))
    exact = np.array([B.simple_error(m, exact=True) for m in Mg])
    ax.plot(Mg, Mg * exact, "k-", label="exact: 2 - 2 E[σ_B]")
    ax.plot(Mg, Mg * np.array([B.simple_error(m, order=2) for m in Mg]), "C1--", label="3/(2M) + 7/(16M²)")
    ax.axhline(1.5, color="C3", ls=":", label="asymptote 3/(2M) (Luo et al.)")
    ax.errorbar(d["M"], d["M"] * d["mc"], yerr=d["M"] * d["se"], fmt="o", color="C0", ms=4, capsize=2,
                label="Monte Carlo ± 1 SE")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size M")
    ax.set_ylabel("M · E[(b − a)²]")
    ax.set_title("x ~ N(0,1), b = (x − μ_B)/σ_B")
    ax.legend(fontsize=8)
    ax2.plot(Mg, (1.5 / Mg - exact) / exact * 100, "C3:", label="asymptote vs exact")
    ax2.plot(Mg, (np.array([B.simple_error(m, order=2) for m in Mg]) - exact) / exact * 100, "C1--",
             label="two-term vs exact")
    ax2.errorbar(d["M"], (d["mc"] - d["exact"]) / d["exact"] * 100, yerr=d["se"] / d["exact"] * 100, fmt="o",
                 color="C0", ms=4, capsize=2, label="MC vs exact")
    ax2.axhline(0, color="k", lw=0.8)
    ax2.set_xscale("log", base=2)
    ax2.set_xlabel("batch size M")
    ax2.set_ylabel("relative error (%)")
    ax2.set_title("how far the asymptote is from the exact value")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig

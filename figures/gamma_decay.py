"""gamma_decay: the BN-minus-PN loss of a GLM unit as a gamma^2 coefficient, M (L_BN - L_PN)/gamma^2,
against M, one panel per GLM: the gamma decay of Luo, Wang, Shao, Peng, "Towards Understanding
Regularization in Batch Normalization", ICLR 2019 (arXiv:1809.00846) §2, measured.  Measured at the
PN optimum gamma0 (where the first-order term vanishes and Luo et al.'s zeta applies) and at
1.5 gamma0 (where it does not); lines: Luo et al.'s M zeta, the derived O(1/M) value (first +
second order) and the O(M^-2) series.  Explained in docs/gamma_decay.md."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from bnreg.runtime import PointCache, derive_seed, sweep
from bnreg.sims.gamma_decay import GAMMA_OFF, SETUPS, simulate_glm_bn
from bnreg.theory import gamma_decay as G

from ._io import columns_from_rows, panel_grid

NAME = "gamma_decay"
TITLE = "Gamma decay: measured vs predicted coefficient of gamma^2, times M"
COLUMNS = ("case", "M", "where", "gamma", "mc", "se", "first_mc", "second_mc", "luo2019", "luo2019_sigmoid", "derived",
           "derived2")
_M_FULL = (4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)
SCALES: dict[str, dict[str, Any]] = {
    "quick": {"Ms": (4, 16, 64, 256), "samples": 2**20, "family": "gaussian", "setups": SETUPS,
              "gamma_off": GAMMA_OFF},
    "default": {"Ms": _M_FULL, "samples": 2**24, "family": "gaussian", "setups": SETUPS, "gamma_off": GAMMA_OFF},
    "paper": {"Ms": _M_FULL, "samples": 2**27, "family": "gaussian", "setups": SETUPS, "gamma_off": GAMMA_OFF},
}


def point(*, case: str, M: int, samples: int, family: str, gamma0: float, beta0: float, gamma_off: float,
          seed: int) -> dict[str, float]:
    r = simulate_glm_bn(case, M, [gamma0, gamma_off * gamma0], gamma0, beta0, family, max(samples // M, 256), seed)
    out = {}
    for k, tag in ((0, "opt"), (1, "off")):
        for stat in ("dl", "first", "second"):
            est = getattr(r, stat)(k)
            out[f"{stat}_{tag}"], out[f"{stat}_{tag}_se"] = est.estimate, est.se
    return out


def compute(spec: dict[str, Any], seed: int, cache: PointCache, **sweep_kw: Any) -> dict[str, Any]:
    fam, goff = spec["family"], spec["gamma_off"]
    records = [{"case": c, "M": M, "samples": spec["samples"], "family": fam, "gamma0": spec["setups"][c][0],
                "beta0": spec["setups"][c][1], "gamma_off": goff, "seed": derive_seed(seed, NAME, c, M)}
               for c in G.CASES for M in spec["Ms"]]
    res = sweep(point, records, cache=cache, name=NAME, **sweep_kw)
    rows = []
    for rec, r in zip(records, res, strict=True):
        c, M, g0, b0 = rec["case"], rec["M"], rec["gamma0"], rec["beta0"]
        for tag, gm in (("opt", g0), ("off", goff * g0)):
            rows.append((
                c, M, "optimum" if tag == "opt" else f"{goff:g} gamma0", gm,
                M * float(r[f"dl_{tag}"]) / gm**2, M * float(r[f"dl_{tag}_se"]) / gm**2,
                M * float(r[f"first_{tag}"]) / gm**2, M * float(r[f"second_{tag}"]) / gm**2,
                M * G.zeta_special(c, M, gm, b0, fam, terms="luo2019"),
                M * G.zeta_special(c, M, gm, b0, fam, "sigmoid", "luo2019") if c == "relu" else float("nan"),
                M * G.bn_loss_excess(c, M, gm, b0, g0, b0, fam) / gm**2,
                M * G.bn_loss_excess(c, M, gm, b0, g0, b0, fam, order=2) / gm**2))
    return columns_from_rows(COLUMNS, rows)


def plot(d: dict[str, Any]) -> plt.Figure:
    cases = list(dict.fromkeys(d["case"]))
    fig, axes = panel_grid(cases, "M (L_BN - L_PN) / gamma^2",
                           "Gamma decay coefficient x M (Gaussian pre-activation); dotted: Luo et al.'s zeta")
    for c, ax in axes.items():
        for j, where in enumerate(dict.fromkeys(d["where"])):
            sel = (d["case"] == c) & (d["where"] == where)
            M = d["M"][sel].astype(float)
            col = f"C{j}"
            ax.errorbar(M, d["mc"][sel], yerr=d["se"][sel], fmt="o", color=col, ms=4, capsize=2,
                        label=f"MC at {where}")
            ax.plot(M, d["luo2019"][sel], ":", color=col, label="M zeta (Luo et al.)" if j == 0 else None)
            if np.all(np.isfinite(d["luo2019_sigmoid"][sel])):
                ax.plot(M, d["luo2019_sigmoid"][sel], "-.", color=col, lw=1,
                        label="Luo et al., sigmoid approximation" if j == 0 else None)
            ax.plot(M, d["derived"][sel], "--", color=col, label="derived O(1/M)" if j == 0 else None)
            ax.plot(M, d["derived2"][sel], "-", color=col, lw=1, label="derived O(1/M^2)" if j == 0 else None)
    axes[cases[0]].legend(fontsize=7)
    axes[cases[-1]].legend(fontsize=7)
    fig.tight_layout()
    return fig

"""variance_shift_width: the variance shift of a random stack at finite width (docs/variance_shift.md,
"Finite width").  The random-stack mean field (`theory.variance_shift.mean_field_shift`) is the
infinite-width limit; at width n each layer's ratio (real inference variance / running variance)
lies below it by a relative amount that shrinks like 1/n.  This figure measures it: random stacks
[dropout -> linear -> BN -> ReLU] x depth (`sims.variance_shift.simulate_stack_shift`, the
networks of `variance_shift_layers`) over a range of widths, many independent networks per width,
and per layer a weighted least-squares fit of

    r_l(n) / MF_l - 1 = b_l + a_l / n + c_l / n^2

(b_l: what is left at infinite width under this protocol, e.g. from the finite batch M = 128; a_l:
the O(1/n) coefficient; c_l: the next term, needed at n < 100).  The registered coefficients
(`theory.variance_shift.WIDTH_CORRECTION`, used by `finite_width_shift`) are this figure's fit at
the paper scale, default seed 2019.

Panels: per keep, the relative gap r_l(n)/MF_l - 1 vs 1/n per layer (mean ± SE over networks) with
the fitted curves; last, a_l per layer ± SE.

Table rows: kind = "width" (per keep x width x layer: ratio, se, nets, mean field, relative gap and
its SE), kind = "fit" (per keep x layer: b, a, c with SEs, chi^2 and its degrees of freedom) and
kind = "registered" (per keep x width x layer: the registered law's gap and its SE)."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from bnreg.runtime import PointCache, derive_seed, sweep
from bnreg.sims.variance_shift import simulate_stack_shift
from bnreg.theory import variance_shift as VS
from bnreg.theory import variance_shift_width as VSW

from ._io import columns_from_rows

NAME = "variance_shift_width"
TITLE = "Variance shift at finite width: the O(1/width) gap below the random-stack mean field"
SERIAL_POINTS = True  # each point runs one thread: one process per core by default
COLUMNS = ("kind", "keep", "width", "layer", "ratio", "ratio_se", "nets", "mean_field", "gap", "gap_se",
           "b", "b_se", "a", "a_se", "c", "c_se", "chi2", "dof", "registered_gap", "registered_gap_se")
DEPTH, M, N_TRAIN, N_TEST = 8, 128, 32768, 32768  # the protocol of the registered coefficients
# networks per width and networks per sweep point (the chunks run on separate workers)
SCALES: dict[str, dict[str, Any]] = {
    "quick": {"keeps": (0.5,), "nets": {32: 8, 64: 8, 128: 4}, "chunk": {32: 4, 64: 4, 128: 2}},
    "default": {"keeps": (0.5,), "nets": {32: 64, 48: 48, 64: 48, 96: 32, 128: 32, 256: 8},
                "chunk": {32: 16, 48: 16, 64: 16, 96: 8, 128: 8, 256: 4}},
    "paper": {"keeps": (0.5, 0.8), "nets": {32: 512, 48: 384, 64: 384, 96: 256, 128: 256, 256: 96, 512: 32, 1024: 8},
              "chunk": {32: 64, 48: 64, 64: 64, 96: 32, 128: 32, 256: 16, 512: 4, 1024: 2}},
}


def point(*, keep: float, width: int, n_nets: int, first_net: int, seed: int) -> dict[str, Any]:
    """Networks first_net .. first_net + n_nets - 1 of (keep, width): each one's ratio per layer."""
    r = simulate_stack_shift(DEPTH, width, "bernoulli", keep=keep, M=M, n_train=N_TRAIN, n_test=N_TEST,
                             n_nets=n_nets, seed=seed, first_net=first_net)
    return {"ratio": r.per_net_var_ratio}


def fit_width_law(widths: np.ndarray, gap: np.ndarray, se: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Weighted least squares (weights 1/se^2) of gap = b + a/n + c/n^2: (coefficients (b, a, c),
    their covariance, chi^2 with len(widths) - 3 degrees of freedom)."""
    X = np.column_stack([np.ones_like(widths, dtype=float), 1.0 / widths, 1.0 / widths**2])
    w = 1.0 / se**2
    cov = np.linalg.inv(X.T @ (X * w[:, None]))
    coef = cov @ (X.T @ (w * gap))
    return coef, cov, float(np.sum(w * (gap - X @ coef) ** 2))


def compute(spec: dict[str, Any], seed: int, cache: PointCache, **sweep_kw: Any) -> dict[str, Any]:
    items = []
    for keep in spec["keeps"]:
        for width, n in spec["nets"].items():
            k = spec["chunk"][width]
            for first in range(0, n, k):
                items.append({"keep": keep, "width": width, "n_nets": k, "first_net": first,
                              "seed": derive_seed(seed, NAME, keep, width)})
    res = sweep(point, items, cache=cache, name=NAME, cost=lambda it: it["width"] ** 2 * it["n_nets"], **sweep_kw)
    per: dict[tuple[float, int], list[np.ndarray]] = {}
    for it, r in zip(items, res, strict=True):
        per.setdefault((it["keep"], it["width"]), []).append(np.asarray(r["ratio"], dtype=float))
    rows = []
    for keep in spec["keeps"]:
        mf = VS.mean_field_shift(DEPTH, keep=keep)["var_ratio"]
        widths = np.array(sorted(w for (k, w) in per if k == keep), dtype=float)
        gaps, ses = [], []
        for width in widths:
            vals = np.concatenate(per[(keep, int(width))])  # (nets, depth)
            k = len(vals)
            mean, se = vals.mean(axis=0), vals.std(axis=0, ddof=1) / np.sqrt(k)
            gaps.append(mean / mf - 1.0)
            ses.append(se / mf)
            for j in range(DEPTH):
                rows.append(("width", keep, int(width), j + 1, mean[j], se[j], k, mf[j], mean[j] / mf[j] - 1.0,
                             se[j] / mf[j], *(("",) * 10)))
        gaps_a, ses_a = np.array(gaps), np.array(ses)
        for j in range(DEPTH):
            if len(widths) >= 4 and j > 0:  # layer 1 is exact at every width (no gap to fit)
                coef, cov, chi2 = fit_width_law(widths, gaps_a[:, j], ses_a[:, j])
                fit = (coef[0], cov[0, 0] ** 0.5, coef[1], cov[1, 1] ** 0.5, coef[2], cov[2, 2] ** 0.5)
            else:  # not applicable ("-"): too few widths (quick), or layer 1
                fit, chi2 = ("-",) * 6, "-"
            rows.append(("fit", keep, "", j + 1, "", "", "", mf[j], "", "", *fit, chi2, len(widths) - 3, "", ""))
        for width in widths:  # the registered law at each measured width, with its own uncertainty
            for j in range(DEPTH):
                if keep in VSW.WIDTH_CORRECTION:
                    g = VSW.finite_width_shift(j + 1, int(width), keep) / mf[j] - 1.0
                    gse = VSW.finite_width_uncertainty(j + 1, int(width), keep) / mf[j]
                else:
                    g = gse = "-"
                rows.append(("registered", keep, int(width), j + 1, "", "", "", mf[j], "", "", *(("",) * 8), g, gse))
    return columns_from_rows(COLUMNS, rows)


def _number(x: Any) -> float:
    """A table cell as a float, "-" (not applicable) as nan."""
    return float("nan") if str(x) in ("-", "") else float(x)


def plot(t: dict[str, Any]) -> plt.Figure:
    kind = t["kind"]
    keeps = sorted(set(float(k) for k in t["keep"][kind == "width"]))
    fig, axes = plt.subplots(1, len(keeps) + 1, figsize=(6 * (len(keeps) + 1), 4.6), squeeze=False)
    for ax, keep in zip(axes[0], keeps, strict=False):
        at = t["keep"].astype(float) == keep
        sel, fits = (kind == "width") & at, (kind == "fit") & at
        widths = np.array(sorted(set(int(w) for w in t["width"][sel])), dtype=float)
        xs = np.linspace(1.0 / 2048, 1.05 / widths.min(), 60)
        for j in range(2, DEPTH + 1):
            s = sel & (t["layer"].astype(int) == j)
            ax.errorbar(1.0 / t["width"][s].astype(float), t["gap"][s].astype(float),
                        yerr=t["gap_se"][s].astype(float), fmt="o", ms=3, capsize=2, color=f"C{j - 2}",
                        label=f"layer {j}")
            f = fits & (t["layer"].astype(int) == j)
            b, a, c = (_number(t[k][f][0]) for k in ("b", "a", "c"))
            if np.isfinite(a):
                ax.plot(xs, b + a * xs + c * xs**2, color=f"C{j - 2}", lw=0.8)
        ax.axhline(0.0, color="k", lw=0.8)
        ax.set(xlabel="1 / width", ylabel="ratio / mean field - 1",
               title=f"random stack, dropout keep = {keep:g}: gap below the mean field\n"
                     "(mean ± SE over networks; lines: fit b + a/n + c/n^2)")
        ax.legend(fontsize=7, ncol=2)
        ax.grid(alpha=0.3)
    bx = axes[0][-1]
    for i, keep in enumerate(keeps):
        f = (kind == "fit") & (t["keep"].astype(float) == keep) & (t["layer"].astype(int) > 1)
        bx.errorbar(t["layer"][f].astype(int) + 0.1 * i, [_number(x) for x in t["a"][f]],
                    yerr=[_number(x) for x in t["a_se"][f]], fmt="o", capsize=2, color=f"C{i}", label=f"keep {keep:g}")
    bx.axhline(0.0, color="k", lw=0.8)
    bx.set(xlabel="BN layer", ylabel="a_l (the 1/width coefficient)", title="O(1/width) coefficient per layer (± SE)")
    bx.legend(fontsize=7)
    bx.grid(alpha=0.3)
    fig.tight_layout()
    return fig

"""mp_law: eigenvalues of X^T X / N (X: P x N standard Gaussian, alpha = P/N) against the
Marchenko-Pastur law: continuous density sqrt((s - a)(b - s))/(2 pi s) on [(1 - sqrt a)^2, (1 + sqrt a)^2]
and, for alpha < 1, an atom of mass 1 - alpha at 0 (Marchenko & Pastur 1967; docs/teacher_student.md)."""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from bnreg.runtime import PointCache, derive_seed, sweep
from bnreg.theory import teacher_student as TS

NAME = "mp_law"
TITLE = "Marchenko-Pastur law of X^T X/N vs sampled eigenvalues"
SCALES: dict[str, dict[str, Any]] = {
    "quick": {"N": 200, "alphas": (0.25, 0.5, 1.0, 2.0), "n_matrices": 10, "bins": 40},
    "default": {"N": 1000, "alphas": (0.25, 0.5, 1.0, 2.0), "n_matrices": 20, "bins": 60},
    "paper": {"N": 4096, "alphas": (0.25, 0.5, 1.0, 2.0), "n_matrices": 8, "bins": 80},
}
ZERO_TOL = 1e-8  # eigenvalues below this (relative to the largest) are the atom at 0


def point(*, alpha: float, N: int, n_matrices: int, bins: int, seed: int) -> dict[str, Any]:
    P = max(1, int(round(alpha * N)))
    a, b = TS.mp_edges(alpha)
    edges = np.linspace(max(a - 0.1 * (b - a), 0.0), b + 0.1 * (b - a), bins + 1)
    counts = np.zeros((n_matrices, bins))
    atom = np.zeros(n_matrices)
    for k in range(n_matrices):
        rng = np.random.default_rng(derive_seed(seed, k))
        X = rng.standard_normal((P, N))
        # X^T X/N (N x N) and X X^T/N (P x P) have the same nonzero eigenvalues; the smaller Gram is
        # up to (N/P)^3 cheaper.  Its numerically nonzero eigenvalues give the rank, hence the atom.
        s = np.linalg.eigvalsh((X @ X.T if P < N else X.T @ X) / N)
        nonzero = s[s >= ZERO_TOL * s.max()]
        atom[k] = 1.0 - nonzero.size / N
        counts[k] = np.histogram(nonzero, edges)[0] / (N * np.diff(edges))
    return {"edges": edges, "density": counts.mean(0),
            "density_se": counts.std(0, ddof=1) / math.sqrt(n_matrices) if n_matrices > 1 else np.zeros(bins),
            "atom": atom.mean(), "atom_se": atom.std(ddof=1) / math.sqrt(n_matrices) if n_matrices > 1 else 0.0}


def compute(spec: dict[str, Any], seed: int, cache: PointCache, **sweep_kw: Any) -> dict[str, Any]:
    records = [{"alpha": a, "N": spec["N"], "n_matrices": spec["n_matrices"], "bins": spec["bins"],
                "seed": derive_seed(seed, NAME, a)} for a in spec["alphas"]]
    res = sweep(point, records, cache=cache, name=NAME, **sweep_kw)
    rows: dict[str, list] = {c: [] for c in ("alpha", "kind", "x", "mc", "se", "theory")}
    for rec, r in zip(records, res, strict=True):
        a = rec["alpha"]
        e = r["edges"]
        c = 0.5 * (e[1:] + e[:-1])
        # theory: bin average of the density (exact integral of a smooth function, 64-point midpoint)
        th = [float(np.mean(TS.mp_density(np.linspace(lo, hi, 66)[1:-1], a))) for lo, hi in zip(e[:-1], e[1:],
                                                                                               strict=True)]
        for x, y, s, t in zip(c, r["density"], r["density_se"], th, strict=True):
            for col, v in zip(rows, (a, "density", x, y, s, t), strict=True):
                rows[col].append(v)
        for col, v in zip(rows, (a, "atom", 0.0, float(r["atom"]), float(r["atom_se"]), TS.mp_atom(a)), strict=True):
            rows[col].append(v)
    return {k: np.array(v) for k, v in rows.items()}


def plot(d: dict[str, Any]) -> plt.Figure:
    alphas = sorted(set(d["alpha"].tolist()))
    fig, axes = plt.subplots(1, len(alphas), figsize=(4 * len(alphas), 3.6))
    for ax, a in zip(np.atleast_1d(axes), alphas, strict=True):
        sel = (d["alpha"] == a) & (d["kind"] == "density")
        x = d["x"][sel]
        w = float(np.diff(x).mean()) if len(x) > 1 else 0.1
        ax.bar(x, d["mc"][sel], width=w, color="C0", alpha=0.45, label="sampled eigenvalues")
        xs = np.linspace(x.min(), x.max(), 400)
        ax.plot(xs, TS.mp_density(xs, a), "C3-", lw=1.3, label="MP density")
        at = (d["alpha"] == a) & (d["kind"] == "atom")
        ax.set_title(f"α = {a:g}: atom at 0 {d['mc'][at][0]:.4f} (MP {d['theory'][at][0]:.4f})", fontsize=9)
        ax.set_xlabel("eigenvalue s of XᵀX/N")
        ax.legend(fontsize=7)
    np.atleast_1d(axes)[0].set_ylabel("density (continuous part)")
    fig.tight_layout()
    return fig

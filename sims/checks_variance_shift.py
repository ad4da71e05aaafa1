"""Variance-shift checks (docs/variance_shift.md; Li et al. 2019, arXiv:1801.05134): Delta =
Var_test/Var_train of a unit that BN sees after dropout, for Bernoulli, Gaussian and Uout noise,
one input (case a) or a weighted sum of d correlated inputs (case b), with Gaussian, ReLU-of-Gaussian
and uniform inputs.  The formulas are exact for any input law, so the allowance is 0; the ratio of
two sample variances is biased by O(1/n) relative, below 1e-6 at these n, far under the SE.
Aggregated by sims/catalog.py."""

from __future__ import annotations

from functools import lru_cache

from bnreg.runtime import MCResult
from bnreg.testing.judge import N_CHUNKS, Check, Params
from bnreg.theory import variance_shift as VS
from bnreg.theory import variance_shift_width as VSW

from .variance_shift import StackShiftResult, simulate_stack_shift, simulate_variance_shift

__all__ = ["CHECKS"]

CHECKS: list[Check] = []
_add = CHECKS.append

FAMILIES = ("gaussian", "relu", "uniform")


@lru_cache(maxsize=512)
def _sim(noise: str, level: float, c: float, v: float, d: int, corr: float, cos2: float, family: str,
         samples: int, seed: int) -> MCResult:
    # One sample costs d + 1 draws: keep the number of draws per point at the scale's budget.
    n = max(samples // (d + 1), 4 * N_CHUNKS)
    kw = {"beta": level} if noise == "uout" else {"keep": level}
    return simulate_variance_shift(noise, c=c, v=v, d=d, corr=corr, cos2=cos2, family=family, n_samples=n,
                                   seed=seed, n_chunks=N_CHUNKS, **kw).ratio


def _mc(p: Params, samples: int, seed: int) -> MCResult:
    level = p["beta"] if p["noise"] == "uout" else p["keep"]
    return _sim(p["noise"], level, p["c"], p["v"], p.get("d", 1), p.get("corr", 0.0), p.get("cos2", 1.0),
                p["family"], samples, seed)


def _theory(p: Params, **override) -> float:
    q = {"d": 1, "corr": 0.0, "cos2": 1.0, **p, **override}
    if q["noise"] == "uout":
        return VS.uout_shift_ratio(q["beta"], q["c"], q["v"], q["d"], q["corr"], q["cos2"])
    return VS.variance_shift_ratio(q["keep"], q["c"], q["v"], q["d"], q["corr"], q["cos2"], q["noise"])


def _case_a(scale: str) -> list[Params]:
    return [dict(noise=n, keep=k, c=c, v=1.0, family=f) for n in ("bernoulli", "gaussian")
            for f in FAMILIES for k in (0.3, 0.5, 0.9) for c in (0.0, 1.0)]


def _case_b(scale: str) -> list[Params]:
    return [dict(noise="bernoulli", keep=0.5, c=0.5, v=1.0, d=d, corr=r, cos2=k, family=f)
            for f in ("gaussian", "relu") for d in (4, 32) for r in (0.0, 0.2, 0.8) for k in (1.0, 0.25)]


def _uout(scale: str) -> list[Params]:
    return [dict(noise="uout", beta=b, c=c, v=1.0, d=d, corr=0.5 if d > 1 else 0.0, family=f)
            for f in ("gaussian", "uniform") for b in (0.1, 0.5, 1.0) for c in (0.0, 1.0) for d in (1, 8)]


_add(Check(
    "shift.case_a", "variance_shift_ratio",
    "one dropped input: Delta = keep v/(v + (1-keep) c^2), Bernoulli and Gaussian dropout, any input law",
    _case_a, _mc, _theory,
    {"ignores c: Delta = keep": lambda p: _theory(p, c=0.0),
     "no shift: Delta = 1": lambda p: 1.0},
    shown={"Delta if c ignored": lambda p: _theory(p, c=0.0)}))

_add(Check(
    "shift.case_b", "variance_shift_ratio",
    "sum of d correlated dropped inputs: Delta = v A/(v A + (1-keep)/keep (v + c^2)), A = 1 - corr + corr d cos2",
    _case_b, _mc, _theory,
    {"ignores the correlation (case a formula)": lambda p: _theory(p, corr=0.0),
     "ignores the weights' direction (cos2 = 1)": lambda p: _theory(p, cos2=1.0),
     "ignores c": lambda p: _theory(p, c=0.0)},
    shown={"case a": lambda p: _theory(p, corr=0.0)}))

_add(Check(
    "shift.uout", "uout_shift_ratio",
    "Uout: Delta = v A/(v A + beta^2/3 (v + c^2)); small shift because beta^2/3 is small, not because of the law",
    _uout, _mc, _theory,
    {"noise variance beta^2 instead of beta^2/3": lambda p: _theory({**p, "beta": p["beta"] * 3**0.5}),
     "ignores c": lambda p: _theory(p, c=0.0)},
    shown={"Bernoulli with matched keep": lambda p: _theory(
        {**p, "noise": "bernoulli", "keep": 1.0 / (1.0 + p["beta"] ** 2 / 3.0)})}))


# ------------------------------------------------------------------ finite width (random stack)
WIDTH_CHECKED = 64  # the width of the gap the plain mean field misses (issue: layers 4-6 below it by 5-12 %)
FIT_Z = 3.0         # the registered coefficients are a measurement: their own SE, at 3 SE, is allowed for


def _width_points(scale: str) -> list[Params]:
    return [dict(keep=k, width=WIDTH_CHECKED, layer=j) for k in sorted(VSW.WIDTH_CORRECTION)
            for j in range(2, VSW.WIDTH_DEPTH + 1)]


@lru_cache(maxsize=16)
def _stack(keep: float, width: int, n_nets: int, seed: int) -> StackShiftResult:
    # the protocol of the registered coefficients (theory.variance_shift.WIDTH_CORRECTION) with this
    # check's own seeds: networks independent of the ones the coefficients were fitted on
    return simulate_stack_shift(VSW.WIDTH_DEPTH, width, "bernoulli", keep=keep, M=128, n_train=32768, n_test=32768,
                                n_nets=n_nets, seed=seed)


def _width_mc(p: Params, samples: int, seed: int) -> MCResult:
    return _stack(p["keep"], p["width"], max(samples, 4), seed).var_ratio[p["layer"] - 1]


def _mf(p: Params) -> float:
    return float(VS.mean_field_shift(VSW.WIDTH_DEPTH, keep=p["keep"])["var_ratio"][p["layer"] - 1])


def _coef(p: Params) -> tuple[float, float, float]:
    return VSW.WIDTH_CORRECTION[p["keep"]][p["layer"] - 1][0]


_add(Check(
    "shift.finite_width", "variance_shift_finite_width",
    "random stack of width 64: var_ratio_l = MF_l (1 + b_l + a_l/n + c_l/n^2), the measured finite-width law, "
    "on networks independent of the fit's",
    _width_points, _width_mc, lambda p: VSW.finite_width_shift(p["layer"], p["width"], p["keep"]),
    {"plain mean field (infinite width)": _mf,
     "mean field with the infinite-width offset b_l only": lambda p: _mf(p) * (1 + _coef(p)[0])},
    allowance=lambda p: FIT_Z * VSW.finite_width_uncertainty(p["layer"], p["width"], p["keep"]),
    allowance_doc=f"the fitted law's own uncertainty at {FIT_Z:g} SE (finite_width_uncertainty)",
    min_M=None, n=256, shared_over=("layer",),
    shown={"mean field": _mf}))

"""The judge of formula-vs-Monte-Carlo checks: `Check`, the tolerance rule, the power count, `run_check`.

Each topic declares its checks in sims/checks_<topic>.py (topics: bnreg/topics.py); the one runner
`bnreg.testing.runner.run_suite` runs them for `bnreg verify`, `bnreg check` and `bnreg.verify()`.

Protocol (docs/verification.md):
- Each check evaluates one formula at a grid of points; every point gets an independent MC
  estimate (seed derived from the base seed and the point's parameters, docs/verification.md,
  "Seeds") with a jackknife standard error.
- A point passes when |MC - theory| <= z * SE + allowance.  z is the two-sided Student-t
  quantile (df = chunks - 1) for a family-wise false-alarm rate ALPHA = 1e-3 per check,
  Bonferroni over the check's judged points.
- allowance = 0 for exact formulas.  For an asymptotic formula truncated after the M^-k term it
  is 2 |next term|, the next term being *derived* (theory.bn_noise); the factor 2 covers the
  remainder beyond it.  Points below a check's `min_M` are outside the asymptotic regime: they
  are shown with the size of the discrepancy but not judged.
- Power: every check carries deliberately wrong variants (a missing factor, kurtosis ignored,
  the formula as Luo et al., ICLR 2019, arXiv:1809.00846, write it...).  Each must be rejected
  by the same test at >= 1 judged point, otherwise the check reports NO POWER and fails.

This module is the one judging core: `bnreg verify`, tests/sims/test_checks.py and the public testing
API `bnreg.testing` (assert_matches_mc, check_formula, `bnreg check`) all build a `Check` and
judge it with `run_check`; `critical_z` is the one tolerance quantile.  docs/testing.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from scipy import stats

from bnreg.runtime import MCResult, derive_seed

__all__ = ["ALPHA", "SCALES", "N_CHUNKS", "BASE_SEED", "Params", "Check", "PointResult", "CheckResult",
           "next_term_allowance", "NEXT_TERM_DOC", "is_judged", "critical_z", "scaled_samples", "run_check"]

ALPHA = 1e-3
# Samples (batches x M) per MC point at each scale.
SCALES = {"quick": 2**22, "default": 2**25, "paper": 2**28}
N_CHUNKS = 64
BASE_SEED = 20190101

Params = dict


@dataclass(frozen=True)
class Check:
    """One formula-vs-MC check: the registered `formula` and the `claim` it tests, `points(scale)`,
    `simulate(params, samples, seed) -> MCResult`, `theory(params)`, the `wrong` variants (label ->
    function), the allowance rule and its text, `min_M` (smaller M shown, not judged) and extra
    `shown` columns (min_M None: every point judged).  docs/verification.md.

    Optional: `n` samples per point at the default scale (None: SCALES; other scales multiply it
    by SCALES[scale]/SCALES["default"]); `alpha` the family-wise false-alarm rate; `seed` the base
    seed (None: run_check's); `shared_over` parameters that do not enter the seed (points that
    differ only in them reuse one simulation)."""

    name: str
    formula: str
    claim: str
    points: Callable[[str], list[Params]]
    simulate: Callable[[Params, int, int], MCResult]
    theory: Callable[[Params], float]
    wrong: dict[str, Callable[[Params], float]]
    allowance: Callable[[Params], float] = lambda p: 0.0
    allowance_doc: str = "exact formula: no allowance"
    min_M: int | None = 2
    shown: dict[str, Callable[[Params], float]] = field(default_factory=dict)
    n: int | None = None
    alpha: float = ALPHA
    seed: int | None = None
    shared_over: tuple[str, ...] = ()


@dataclass
class PointResult:
    """One point of a check: theory, MC, tolerance (z SE + allowance), verdict, wrong-variant values."""

    params: Params
    theory: float
    mc: MCResult
    tol: float
    allowance: float
    judged: bool
    passed: bool
    wrong: dict[str, float]
    rejected: dict[str, bool]
    shown: dict[str, float]

    @property
    def z(self) -> float:
        """(MC - theory)/SE."""
        return self.mc.z(self.theory)


@dataclass
class CheckResult:
    """All points of a check; `passed` = every judged point accepted and every wrong variant rejected somewhere."""

    check: Check
    points: list[PointResult]
    zcrit: float
    scale: str | None = None
    base_seed: int | None = None  # the seed every point's seed was derived from (`run_check`)

    @property
    def alpha(self) -> float:
        """The check's family-wise false-alarm rate."""
        return self.check.alpha

    @property
    def accepted(self) -> bool:
        """Every judged point is within tolerance."""
        return all(p.passed for p in self.points if p.judged)

    @property
    def power(self) -> dict[str, tuple[int, int]]:
        """Per wrong variant: (judged points rejecting it, judged points)."""
        judged = [p for p in self.points if p.judged]
        return {w: (sum(p.rejected[w] for p in judged), len(judged)) for w in self.check.wrong}

    @property
    def passed(self) -> bool:
        """Accepted, and every wrong variant rejected at >= 1 judged point (otherwise NO POWER)."""
        return self.accepted and all(k > 0 for k, _ in self.power.values())

    def to_dict(self) -> dict:
        """Every number of the check, as written by `bnreg verify --json`."""
        return {
            "name": self.check.name, "formula": self.check.formula, "claim": self.check.claim, "seed": self.base_seed,
            "allowance_rule": self.check.allowance_doc, "zcrit": self.zcrit, "alpha": self.alpha,
            "passed": self.passed, "accepted": self.accepted,
            "power": {w: {"rejected": k, "of": n} for w, (k, n) in self.power.items()},
            "points": [{
                "params": p.params, "theory": p.theory, "mc": p.mc.estimate, "se": p.mc.se, "n": p.mc.n,
                "z": p.z, "tol": p.tol, "allowance": p.allowance, "judged": p.judged, "passed": p.passed,
                "wrong": p.wrong, "rejected": p.rejected, "shown": p.shown} for p in self.points],
        }

    def table(self) -> str:
        """The text table `bnreg verify` prints for this check (bnreg.testing.report.format_check)."""
        from .report import format_check

        return format_check(self)

    def __str__(self) -> str:
        return self.table()


def next_term_allowance(first: Callable[[Params], float],
                        second: Callable[[Params], float]) -> Callable[[Params], float]:
    """Allowance 2 |second(p) - first(p)|: twice the derived next term of an asymptotic series."""
    return lambda p: 2.0 * abs(second(p) - first(p))


NEXT_TERM_DOC = "2 x |derived next term in 1/M| (the factor 2 covers the remainder beyond it)"


# ------------------------------------------------------------------------------ running
def is_judged(check: Check, p: Params) -> bool:
    """Points with a batch size below the check's min_M are shown but not judged (min_M None:
    every point is judged)."""
    return check.min_M is None or "M" not in p or p["M"] >= check.min_M


def critical_z(alpha: float, n_judged: int, n_chunks: int) -> float:
    """The tolerance quantile: two-sided Student t (df = n_chunks - 1) at family-wise false-alarm
    `alpha`, Bonferroni over `n_judged` points.  A point passes when |MC - theory| <= z SE + allowance."""
    q = 1 - alpha / (2 * max(n_judged, 1))
    return float(stats.t.ppf(q, max(n_chunks - 1, 1)))


def scaled_samples(check: Check, scale: str) -> int:
    """Samples per point of `check` at `scale`: SCALES[scale], or the check's own `n` (given at the
    default scale) times SCALES[scale]/SCALES["default"]."""
    if check.n is None:
        return SCALES[scale]
    return max(1, round(check.n * SCALES[scale] / SCALES["default"]))


class _SimulatePoint:
    """One point's simulation, shipped to a worker process or a Dask worker (cloudpickle carries
    the check's functions); returns the MCResult as a dict of numbers."""

    def __init__(self, check: Check, samples: int):
        self.check, self.samples = check, samples

    def __call__(self, item: tuple[Params, int]) -> dict[str, float]:
        mc = self.check.simulate(item[0], self.samples, item[1])
        return {"estimate": mc.estimate, "se": mc.se, "n": mc.n, "n_chunks": mc.n_chunks}


def run_check(check: Check, scale: str = "quick", base_seed: int | None = None, *, backend: str | None = None,
              workers: int = 1, address: str | None = None) -> CheckResult:
    """Simulate and judge every point of `check` (protocol in the module doc).

    Parameters: check; scale "quick" | "default" | "paper" (samples per point, `scaled_samples`);
    base_seed (None: the check's `seed`, else BASE_SEED); backend None/"serial" (in this process,
    Monte Carlo on threads), "processes" (`workers` local processes) or "dask" (a cluster at
    `address`, or a local one): the points' simulations are spread there, with the same seeds, so
    every number is the same on every backend.
    Returns: CheckResult."""
    samples = scaled_samples(check, scale)
    if base_seed is None:
        base_seed = BASE_SEED if check.seed is None else check.seed
    pts = check.points(scale)
    n_judged = sum(is_judged(check, p) for p in pts)
    # Seed depends on the simulated quantity's inputs only, so checks that share a
    # simulation (exact vs asymptotic; one simulation for every u) reuse it.
    seeds = [derive_seed(base_seed, tuple(sorted((k, v) for k, v in p.items() if k not in check.shared_over)))
             for p in pts]
    if backend in (None, "serial"):
        mcs = [check.simulate(p, samples, sd) for p, sd in zip(pts, seeds, strict=True)]
    else:
        from bnreg.runtime import sweep

        items = list(zip(pts, seeds, strict=True))
        # the key names the whole point: points sharing a simulation (same seed) still differ in what
        # they read from it, so a pool that runs each key once must not merge them
        res = sweep(_SimulatePoint(check, samples), items,
                    key=lambda it: {"check": check.name, "seed": it[1], "point": dict(it[0])},
                    workers=workers, backend=backend, address=address, desc=check.name, progress=False)
        mcs = [MCResult(float(r["estimate"]), float(r["se"]), int(r["n"]), int(r["n_chunks"])) for r in res]
    zmax = 0.0
    out = []
    for p, mc in zip(pts, mcs, strict=True):
        th = check.theory(p)
        allow = check.allowance(p)
        # Student t with the point's own degrees of freedom (chunks or seeds - 1).
        zcrit = critical_z(check.alpha, n_judged, mc.n_chunks)
        zmax = max(zmax, zcrit)
        tol = zcrit * mc.se + allow
        wrong = {w: f(p) for w, f in check.wrong.items()}
        judged = is_judged(check, p)
        out.append(PointResult(
            dict(p), th, mc, tol, allow, judged, abs(mc.estimate - th) <= tol, wrong,
            {w: abs(mc.estimate - v) > tol for w, v in wrong.items()},
            {k: f(p) for k, f in check.shown.items()}))
    return CheckResult(check, out, zmax, scale, base_seed)

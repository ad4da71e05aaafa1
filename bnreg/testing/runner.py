"""The one runner of checks: `bnreg verify`, `bnreg check`, `bnreg.verify()` and the testing API all judge through it.

`iter_checks` takes declared checks (the toolkit's own, or a user's `formula_check`s and
`check_formula` results), checks what can be checked before any Monte Carlo (`precheck`), judges
each with `bnreg.testing.judge.run_check` (one tolerance rule, one power count) and refuses a
sample size too small for the false-alarm rate (`check_power_of_n`).  `run_suite` adds the run's
execution settings: the seed, the threads (one setting for everything, `bnreg.runtime.threads`)
and where the points run (this process, local processes or a Dask cluster).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from bnreg.errors import CheckInputError, ParameterError
from bnreg.params import check_int
from bnreg.runtime import active_pool, get_threads, resolve_backend, resolve_parallelism, shared_pool, thread_limits
from bnreg.runtime.rng import MAX_SEED
from bnreg.runtime.sweeps import check_address
from bnreg.runtime.threads import check_environment

from .calls import fmt_params, name_of
from .declare import FormulaCheck, formula_check
from .judge import Check, CheckResult, PointResult, critical_z, run_check, scaled_samples
from .sampling import DEFAULT_CHUNKS, DEFAULT_N, EDGEWORTH_FRACTION, MIN_PER_CHUNK, SampledMC, required_n
from .scale import mc_scale, resolve_scale, scale_factor

__all__ = ["precheck", "check_power_of_n", "iter_checks", "run_checks", "run_suite", "check_formula",
           "assert_matches_mc"]


def precheck(check: Check, scale: str) -> None:
    """Before any Monte Carlo: n large enough for the chunks, and the theory, allowance, wrong
    variants and shown columns evaluate to finite numbers at every point."""
    if not isinstance(check, FormulaCheck):
        return
    for p in check.points(scale):
        check.theory(p)
        check.allowance(p)
        for f in [*check.wrong.values(), *check.shown.values()]:
            f(p)
    n = scaled_samples(check, scale)
    need = check.chunks * MIN_PER_CHUNK
    if n < need:
        at = "" if scale == "default" else f" at scale {scale} (n = {check.n} x {scale_factor(scale):g})"
        raise CheckInputError(f"{check.name}: n = {n} draws{at} is too small: {check.chunks} chunks of at least "
                              f"{MIN_PER_CHUNK} draws need n >= {need}")
    if check.sampler is not None and n >= PILOT_FROM:
        points = check.points(scale)
        rate = _draws_per_second(check.sampler, points[0])
        seconds = n * len(points) / (rate * min(get_threads(), check.chunks))
        if seconds > MAX_SECONDS:
            raise CheckInputError(
                f"{check.name}: n = {n} draws x {len(points)} point(s) would take at least {_duration(seconds)} at the "
                f"sampler's measured {rate:.3g} draws/s on {min(get_threads(), check.chunks)} thread(s); lower n "
                f"(a check estimated above {_duration(MAX_SECONDS)} is refused before it starts)")


MAX_SECONDS = 2 * 3600.0  # a check estimated to take longer is refused up front (split its grid instead)
PILOT_FROM = 2**26          # below this many draws per point no estimate is needed (seconds at most)
_PILOT = 2**14              # draws timed to estimate the sampler's rate


def _draws_per_second(sampler: Callable[..., Any], params: Mapping[str, Any]) -> float:
    """The sampler's rate on one thread, from its best of three calls of _PILOT draws (a stream of
    its own: the check's streams are untouched)."""
    rng = np.random.default_rng(0)
    best = math.inf
    for _ in range(3):
        t0 = time.perf_counter()
        sampler(rng, _PILOT, **params)
        best = min(best, time.perf_counter() - t0)
    return _PILOT / max(best, 1e-9)


def _duration(seconds: float) -> str:
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


def check_power_of_n(r: CheckResult) -> None:
    """n too small for the false-alarm rate: the Edgeworth rule of `required_n` at each judged point."""
    for p in r.points:
        if p.judged and isinstance(p.mc, SampledMC):
            z = critical_z(r.alpha, sum(q.judged for q in r.points), p.mc.n_chunks)
            need = required_n(p.mc.skew, z)
            if p.mc.n < need:
                raise CheckInputError(
                    f"{r.check.name}: n = {p.mc.n} is too small for false-alarm {r.alpha:g} at "
                    f"{fmt_params(p.params) or 'the point'}: the draws have skewness {p.mc.skew:.3g}, so the "
                    f"Student-t tolerance (z = {z:.2f}) is trusted only for n >= {need} (Edgeworth: the "
                    f"quantile moves by |skew| (2z^2+1)/(6 sqrt(n)), which must stay below {EDGEWORTH_FRACTION:g} z)")


def as_check_list(checks: Any) -> list[Check | CheckResult]:
    """`checks` (a Check, a CheckResult, or an iterable of them) as a list; CheckInputError otherwise."""
    if isinstance(checks, (Check, CheckResult)):
        return [checks]
    if isinstance(checks, Iterable) and not isinstance(checks, (str, bytes, Mapping)):
        out = list(checks)
        bad = [c for c in out if not isinstance(c, (Check, CheckResult))]
        if not bad:
            return out
    raise CheckInputError(f"expected checks (from formula_check) or results (from check_formula), got {checks!r}")


def iter_checks(checks: Any, scale: str | None = None, *, seed: int | None = None, backend: str | None = None,
                workers: int = 1, address: str | None = None) -> Iterator[CheckResult]:
    """Run checks one by one (see `run_checks`), yielding each result as it is judged.  `seed`: the
    base seed of every check (None: each check's own, `bnreg.testing.judge.run_check`); `backend`,
    `workers`, `address`: where the points run (same numbers everywhere)."""
    scale = resolve_scale(scale)
    for c in as_check_list(checks):
        if isinstance(c, CheckResult):
            if c.scale == scale and (seed is None or c.base_seed == seed):
                yield c  # seeded and thread-invariant: running it again gives the same numbers
                continue
            c = c.check
        precheck(c, scale)
        r = run_check(c, scale, seed, backend=backend, workers=workers, address=address)
        check_power_of_n(r)
        yield r


def run_suite(checks: Any, scale: str | None = None, *, seed: int | None = None, threads: int | None = None,
              workers: int | None = None, backend: str | None = None, address: str | None = None,
              on_result: Callable[[CheckResult], None] | None = None) -> list[CheckResult]:
    """Run `checks` with the run's settings: the one entry of `bnreg verify`, `bnreg check` and
    `bnreg.verify()`.

    Parameters: checks (as `run_checks`, or a function returning them, called under these settings:
    a file whose `check_formula` calls run when it is imported); scale (None: the current
    `get_mc_scale()`); seed (None: each check's own); threads (None: BNREG_THREADS or all cores in
    this process, cores // workers in worker processes); workers, backend ("serial" | "processes" |
    "dask"), address (a Dask scheduler): where the points run; on_result called with each result as
    it is judged (a table printed as the run goes).  Every option is validated before any work.
    Returns: one CheckResult per check."""
    check_environment()
    if address is not None and backend != "dask":
        raise ParameterError("address is a Dask scheduler's: give it with backend='dask'")
    if address is not None:
        check_address(address)
    if seed is not None:
        seed = check_int("seed", seed, 0, MAX_SEED)
    scale = resolve_scale(scale)
    backend = resolve_backend(backend, 1 if workers is None else check_int("workers", workers, 1))
    n_workers, n_threads = resolve_parallelism(1 if workers is None else workers, threads)
    if backend == "serial" and threads is None:
        n_threads = None  # BNREG_THREADS or all cores, unchanged
    results: list[CheckResult] = []
    # local processes: one pool for the whole run, forked before any work, each worker bound to die
    # with this process from its first instant (a pool per check would start workers mid-run, and a
    # worker still starting when the run is killed would outlive it)
    own_pool = backend == "processes" and address is None and n_workers > 1 and active_pool() is None
    pool = shared_pool(n_workers, n_threads, progress=False) if own_pool else contextlib.nullcontext()
    with pool, thread_limits(n_threads), mc_scale(scale):
        todo = checks() if callable(checks) else checks
        for r in iter_checks(todo, scale, seed=seed, backend=backend, workers=n_workers, address=address):
            results.append(r)
            if on_result is not None:
                on_result(r)
    return results


def run_checks(checks: Any, scale: str | None = None) -> list[CheckResult]:
    """Run declared checks (a Check, a CheckResult from `check_formula`, or a list of them) at
    `scale` (None: the current `get_mc_scale()`): the judging of `bnreg verify` (`run_check`).
    A CheckResult already computed at this scale is returned as is (same seeds, same numbers).
    Returns: one CheckResult per check (`print` one for the table; `.passed`, `.power`, `.points`)."""
    return list(iter_checks(checks, scale))


def check_formula(theory: Callable[..., float], sampler: Callable[..., Any], grid: Any = None, *,
                  scale: str | None = None, **options: Any) -> CheckResult:
    """Check `theory` against Monte Carlo over a parameter grid: tolerance z SE + allowance with
    the two-sided Student-t quantile for family-wise false-alarm `false_alarm` (Bonferroni over
    the points), and the power of each `wrong` variant (rejected at k of n points; a variant
    rejected nowhere makes the check NO POWER, a failure).  `options` are those of
    `formula_check`; scale None uses `get_mc_scale()` (pytest --mc-scale).
    Returns: CheckResult; `print(result)` shows the table of `bnreg verify`, `result.passed`
    says whether every point agreed and every wrong variant was rejected somewhere."""
    return run_checks(formula_check(theory, sampler, grid, **options), scale)[0]


def _report(r: CheckResult, p: PointResult) -> str:
    df = p.mc.n_chunks - 1
    at = f"({fmt_params(p.params)})" if p.params else ""
    return (f"{r.check.name}{at} = {p.theory:.6g} (theory) but Monte Carlo gives {p.mc.estimate:.6g} ± "
            f"{p.mc.se:.2g} (SE over {p.mc.n_chunks} chunks, n = {p.mc.n} draws): z = {p.z:.2f}, "
            f"|MC - theory| = {abs(p.mc.estimate - p.theory):.3g} exceeds the tolerance {p.tol:.3g} = "
            f"{r.zcrit:.2f} x SE + allowance {p.allowance:.3g} (two-sided false-alarm {r.alpha:g}, Student t "
            f"df = {df}; seed {r.check.seed}, scale {r.scale}).")


def assert_matches_mc(theory: Callable[..., float], sampler: Callable[..., Any], params: Mapping | None = None, *,
                      n: int = DEFAULT_N, seed: int = 0, allowance: float | Callable[..., float] = 0.0,
                      false_alarm: float = 1e-3, chunks: int = DEFAULT_CHUNKS, threads: int | None = None,
                      scale: str | None = None, name: str | None = None) -> PointResult:
    """Assert that E[draws of sampler(rng, n, **params)] = theory(**params) within z SE + allowance
    (z: two-sided Student t, df = chunks - 1, at false-alarm `false_alarm`).

    Parameters: as `formula_check` (one point, `params`); scale None uses `get_mc_scale()`.
    Returns: the PointResult (.theory, .mc = estimate ± SE, .z, .tol) when they agree.
    Raises: AssertionError with a one-paragraph report (theory, estimate ± SE, z, tolerance, n)
    when they disagree; CheckInputError on bad input.  The same seed gives the same numbers on
    any number of threads."""
    if params is not None and not isinstance(params, Mapping):
        raise CheckInputError(f"params must be a dict of parameter values, or None (got {type(params).__name__})")
    check = formula_check(theory, sampler, [dict(params or {})], n=n, seed=seed, allowance=allowance,
                          false_alarm=false_alarm, chunks=chunks, threads=threads,
                          name=name or name_of(theory, "theory"))
    r = run_checks(check, scale)[0]
    p = r.points[0]
    if not p.passed:
        raise AssertionError(_report(r, p))
    return p

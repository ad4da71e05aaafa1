"""The public testing API (`bnreg.testing`): hold a formula of your own to the toolkit's standard.

A user gives `theory(**params) -> float` and `sampler(rng, n, **params) -> n i.i.d. draws` of the
statistic whose mean the theory predicts.  This module turns them into a `bnreg.sims.checks.Check`
(`FormulaCheck`) and judges it with `run_check`, the same function behind `bnreg verify`: one
tolerance rule (Student t, Bonferroni, allowance), one power count, one table.  What it adds is
the sampler-to-`MCResult` step and the input checks.  docs/testing.md.

Monte Carlo: n draws are split into `chunks` (64) of equal size, chunk i drawn from its own PCG64
stream (`SeedSequence(seed_of_point).spawn(chunks)`), chunks run on threads and are reduced in
chunk order, so a seed gives the same numbers on any number of threads.  estimate = mean of all
draws, SE = delete-one-chunk jackknife (= batch means), Student t with df = chunks - 1.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bnreg.sims.checks import SCALES, Check, CheckResult, Params, PointResult, critical_z, run_check, scaled_samples
from bnreg.sims.mc import MCResult, jackknife, run_chunks
from bnreg.theory.params import ParameterError, check_choice, check_float, check_int

__all__ = [
    "DEFAULT_N", "DEFAULT_CHUNKS", "MIN_PER_CHUNK", "EDGEWORTH_FRACTION", "CheckInputError", "SampledMC",
    "FormulaCheck", "sample_mean", "set_mc_scale", "get_mc_scale", "mc_scale", "scale_factor",
    "assert_matches_mc", "formula_check", "check_formula", "run_checks", "iter_checks", "load_checks",
    "required_n", "MonteCarloFixture",
]

DEFAULT_N = 2**20  # draws per point at the default scale
DEFAULT_CHUNKS = 64
MIN_PER_CHUNK = 16  # draws per chunk at least: n >= chunks * MIN_PER_CHUNK
EDGEWORTH_FRACTION = 0.1  # the skewness shift of the t quantile may be at most this fraction of z
_BLOCK = 2**18  # at most this many draws per sampler call (memory)


class CheckInputError(ParameterError):
    """Bad input to the testing API (a sampler returning the wrong shape or non-finite values, a
    theory raising, n too small for the false-alarm rate, ...).  A ValueError; `bnreg check` exits 2."""


# ------------------------------------------------------------------------------------ scale
_SCALE = "default"


def set_mc_scale(scale: str | None) -> str:
    """Set the scale every sample size of this API is multiplied by when a call gives none:
    "quick" (n x 1/8), "default" (n) or "paper" (n x 8), the factors of `bnreg verify` (SCALES).
    None resets to "default".  Returns the previous scale.  The pytest option --mc-scale sets it."""
    global _SCALE
    old = _SCALE
    _SCALE = "default" if scale is None else _scale_name(scale)
    return old


def get_mc_scale() -> str:
    """The current scale (see `set_mc_scale`)."""
    return _SCALE


@contextmanager
def mc_scale(scale: str | None) -> Iterator[str]:
    """Context manager: `set_mc_scale(scale)` inside, the previous scale restored after."""
    old = set_mc_scale(scale)
    try:
        yield get_mc_scale()
    finally:
        set_mc_scale(old)


def scale_factor(scale: str) -> float:
    """n multiplier of a scale: SCALES[scale] / SCALES["default"] (1/8, 1, 8)."""
    return SCALES[_scale_name(scale)] / SCALES["default"]


def _scale_name(scale: str) -> str:
    with _as_input_error():
        return check_choice("scale", scale, tuple(SCALES))


def _resolve_scale(scale: str | None) -> str:
    return _SCALE if scale is None else _scale_name(scale)


@contextmanager
def _as_input_error() -> Iterator[None]:
    """The toolkit's parameter checks, re-raised as this API's CheckInputError."""
    try:
        yield
    except CheckInputError:
        raise
    except ParameterError as e:
        raise CheckInputError(str(e)) from None


# ------------------------------------------------------------------------- calling user code
def _fmt_params(p: Params) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in p.items())


def _name(f: Any, default: str) -> str:
    """A function's name, or `default` for lambdas and generated functions (sympy's lambdify)."""
    n = getattr(f, "__name__", None) or getattr(getattr(f, "py_func", None), "__name__", None)
    return default if not n or n.startswith(("<", "_")) else n


def _summary(f: Any) -> str:
    """First line of a user function's docstring ("" for generated ones such as lambdify's)."""
    doc = (getattr(f, "__doc__", None) or "").strip()
    return "" if _name(f, "") == "" else next(iter(doc.splitlines()), "")


def _real(kind: str, f: Callable, p: Params) -> float:
    """f(**p) as a finite float, or CheckInputError naming `kind`, the call and the problem."""
    call = f"{kind}({_fmt_params(p)})"
    try:
        v = f(**p)
    except Exception as e:  # the user's formula: report it as bad input, keep the cause
        raise CheckInputError(f"{call} raised {type(e).__name__}: {e}") from e
    if np.ndim(v) != 0:
        raise CheckInputError(f"{call} returned an array of shape {np.shape(v)}; expected one real number")
    try:
        if isinstance(v, (bool, np.bool_, str, bytes)):
            raise TypeError
        x = float(v)
    except (TypeError, ValueError):
        raise CheckInputError(f"{call} returned {v!r} ({type(v).__name__}); expected one real number") from None
    if not math.isfinite(x):
        raise CheckInputError(f"{call} returned {x}; expected a finite number")
    return x


def _callable(name: str, f: Any) -> Callable:
    if not callable(f):
        raise CheckInputError(f"{name} must be callable (got {type(f).__name__})")
    return f


def _grid(grid: Any) -> list[Params]:
    """A list of parameter dicts, or a dict of value lists (their Cartesian product)."""
    if grid is None:
        return [{}]
    if isinstance(grid, Mapping):
        keys = list(grid)
        values = [list(v) if isinstance(v, (list, tuple, range, np.ndarray)) else [v] for v in grid.values()]
        pts = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]
    elif isinstance(grid, Iterable) and not isinstance(grid, (str, bytes)):
        pts = list(grid)
    else:
        raise CheckInputError(f"grid must be a list of parameter dicts or a dict of value lists (got {grid!r})")
    if not pts:
        raise CheckInputError("grid is empty: give at least one point")
    for p in pts:
        if not isinstance(p, Mapping):
            raise CheckInputError(f"grid points must be dicts of parameters (got {p!r})")
        bad = [k for k in p if not (isinstance(k, str) and k.isidentifier())]
        if bad:
            raise CheckInputError(f"parameter names must be identifiers, passed as keywords (got {bad!r})")
    return [dict(p) for p in pts]


# --------------------------------------------------------------------- sampler -> MCResult
@dataclass(frozen=True)
class SampledMC(MCResult):
    """An `MCResult` of the mean of sampler draws, with the sample skewness of the draws (used to
    tell whether n suffices for the Student-t tolerance at the requested false-alarm rate)."""

    skew: float = 0.0


def _merge(a: tuple[float, float, float, float], b: tuple[float, float, float, float]):
    """(count, mean, M2, M3) of two samples pooled (M_k = sum of (x - mean)^k)."""
    na, ma, m2a, m3a = a
    nb, mb, m2b, m3b = b
    if na == 0:
        return b
    n = na + nb
    d = mb - ma
    m2 = m2a + m2b + d * d * na * nb / n
    m3 = m3a + m3b + d**3 * na * nb * (na - nb) / n**2 + 3 * d * (na * m2b - nb * m2a) / n
    return n, ma + d * nb / n, m2, m3


def _draws(sampler: Callable, rng: np.random.Generator, k: int, p: Params) -> np.ndarray:
    call = f"sampler(rng, {k}{', ' if p else ''}{_fmt_params(p)})"
    try:
        x = sampler(rng, k, **p)
    except Exception as e:
        raise CheckInputError(f"{call} raised {type(e).__name__}: {e}") from e
    try:
        arr = np.asarray(x)
    except Exception:
        arr = np.asarray(x, dtype=object)
    if arr.dtype.kind not in "biuf":
        raise CheckInputError(f"{call} returned {type(x).__name__} of dtype {arr.dtype}; expected an array of "
                              f"{k} real numbers (one draw of the statistic each)")
    if arr.shape != (k,):
        raise CheckInputError(f"{call} returned shape {arr.shape}; expected ({k},): one draw of the statistic "
                              f"per element, n = {k} asked")
    arr = arr.astype(float, copy=False)
    bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
    if bad:
        raise CheckInputError(f"{call} returned {bad} non-finite value(s) (nan or inf) among {k} draws")
    return arr


def sample_mean(sampler: Callable, params: Params, n: int, seed: int, chunks: int = DEFAULT_CHUNKS,
                threads: int | None = None) -> SampledMC:
    """Monte Carlo mean of `sampler(rng, k, **params)` draws: ceil(n/chunks) draws in each of
    `chunks` chunks (per-chunk PCG64 streams from `seed`, threads via `sims.mc.run_chunks`, results
    independent of the thread count), SE by the delete-one-chunk jackknife.

    Returns: SampledMC(estimate, se, n = draws made, n_chunks = chunks, skew of the draws)."""
    per = -(-int(n) // chunks)

    def chunk(_i: int, rng: np.random.Generator) -> np.ndarray:
        acc = (0, 0.0, 0.0, 0.0)
        left = per
        while left:
            k = min(left, _BLOCK)
            x = _draws(sampler, rng, k, params)
            m = float(x.mean())
            d = x - m
            d2 = d * d
            acc = _merge(acc, (k, m, float(d2.sum()), float(d2 @ d)))
            left -= k
        return np.array(acc, dtype=float)

    stats = run_chunks(chunk, chunks, seed, n_threads=threads)  # rows (count, mean, M2, M3), chunk order
    pooled = (0, 0.0, 0.0, 0.0)
    for row in stats:
        pooled = _merge(pooled, tuple(row))
    total, _, m2, m3 = pooled
    skew = (m3 / total) / (m2 / total) ** 1.5 if m2 > 0 else 0.0
    sums = np.column_stack([stats[:, 0], stats[:, 0] * stats[:, 1]])
    r = jackknife(lambda t: t[1] / t[0], sums, int(total))
    return SampledMC(r.estimate, r.se, r.n, r.n_chunks, float(skew))


def required_n(skew: float, z: float) -> int:
    """Smallest n for which the Student-t tolerance at quantile z is trusted for draws of skewness
    `skew`: the one-term Edgeworth shift of the studentized mean's quantile, |skew| (2 z^2 + 1) /
    (6 sqrt(n)), must stay below EDGEWORTH_FRACTION z (Hall, *The Bootstrap and Edgeworth
    Expansion*, 1992, section 2.6)."""
    return math.ceil((abs(skew) * (2 * z * z + 1) / (6 * EDGEWORTH_FRACTION * z)) ** 2)


# ------------------------------------------------------------------------------ declaring
@dataclass(frozen=True)
class FormulaCheck(Check):
    """A `Check` declared with `formula_check`: judged by the same `run_check` as the toolkit's
    own checks; `chunks` of the sampler's Monte Carlo (df = chunks - 1)."""

    chunks: int = DEFAULT_CHUNKS
    grid: tuple[Params, ...] = field(default=(), repr=False)


def formula_check(theory: Callable[..., float], sampler: Callable[..., Any], grid: Any = None, *,
                  wrong: Mapping[str, Callable[..., float]] | Iterable[Callable[..., float]] | None = None,
                  n: int = DEFAULT_N, seed: int = 0, allowance: float | Callable[..., float] = 0.0,
                  allowance_doc: str | None = None, false_alarm: float = 1e-3, chunks: int = DEFAULT_CHUNKS,
                  threads: int | None = None, name: str | None = None, claim: str | None = None,
                  shown: Mapping[str, Callable[..., float]] | None = None) -> FormulaCheck:
    """Declare a formula-vs-Monte-Carlo check (nothing runs yet; `run_checks`, `bnreg check`).

    Parameters: theory(**params) -> float, the prediction; sampler(rng, n, **params) -> n i.i.d.
    draws of the statistic whose mean the theory predicts (rng a numpy Generator; a numba-jitted
    sampler works, and with nogil=True its chunks run in parallel); grid, a list of parameter dicts
    or a dict of value lists (their product); wrong, deliberately wrong variants (label ->
    function of **params, or a list of functions labelled by name) that must be rejected somewhere;
    n draws per point at the default scale (the scale multiplies it); seed; allowance >= 0, a number
    or a function of **params (0 for an exact formula; for an asymptotic one twice the derived next
    term) and allowance_doc its reason; false_alarm, the family-wise rate of the check (Bonferroni
    over its points); chunks (df = chunks - 1); threads (None: BNREG_THREADS or all cores); name,
    claim, shown (extra columns: label -> function of **params).
    Returns: a FormulaCheck (a `bnreg.sims.checks.Check`)."""
    theory = _callable("theory", theory)
    sampler = _callable("sampler", sampler)
    pts = tuple(_grid(grid))
    with _as_input_error():
        n = check_int("n", n, 1)
        seed = check_int("seed", seed, 0)
        chunks = check_int("chunks", chunks, 2)
        false_alarm = check_float("false_alarm", false_alarm, 0.0, 1.0, lo_open=True, hi_open=True)
        if threads is not None:
            threads = check_int("threads", threads, 1)
    if wrong is None:
        wrong = {}
    elif not isinstance(wrong, Mapping):
        wrong = {_name(f, f"wrong variant {i + 1}"): f for i, f in enumerate(wrong)}
    wrong = {str(k): _callable(f"wrong variant {k!r}", f) for k, f in wrong.items()}
    shown = {str(k): _callable(f"shown column {k!r}", f) for k, f in (shown or {}).items()}
    if callable(allowance):
        allow_fn = allowance

        def allow(p: Params) -> float:
            a = _real("allowance", allow_fn, p)
            if a < 0:
                raise CheckInputError(f"allowance({_fmt_params(p)}) = {a:g} is negative; it must be >= 0")
            return a
        doc = allowance_doc or f"{_name(allowance, 'a function of the parameters')} (no reason given)"
    else:
        with _as_input_error():
            a0 = check_float("allowance", allowance, 0.0)
        allow = lambda p: a0  # noqa: E731
        doc = allowance_doc or ("exact formula: no allowance" if a0 == 0 else f"{a0:g} (no reason given)")
    label = name or _name(theory, "formula")
    return FormulaCheck(
        name=label, formula=label,
        claim=claim or _summary(theory) or f"{label} = mean of {_name(sampler, 'the sampler')}'s draws",
        points=lambda scale: [dict(p) for p in pts],
        simulate=lambda p, samples, s: sample_mean(sampler, p, samples, s, chunks, threads),
        theory=lambda p: _real("theory", theory, p),
        wrong={w: (lambda p, f=f, w=w: _real(f"wrong variant {w!r}", f, p)) for w, f in wrong.items()},
        allowance=allow, allowance_doc=doc, min_M=None,
        shown={k: (lambda p, f=f, k=k: _real(f"shown column {k!r}", f, p)) for k, f in shown.items()},
        n=n, alpha=false_alarm, seed=seed, chunks=chunks, grid=pts)


# -------------------------------------------------------------------------------- running
def _precheck(check: Check, scale: str) -> None:
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


def _check_power_of_n(r: CheckResult) -> None:
    """n too small for the false-alarm rate: the Edgeworth rule of `required_n` at each judged point."""
    for p in r.points:
        if p.judged and isinstance(p.mc, SampledMC):
            z = critical_z(r.alpha, sum(q.judged for q in r.points), p.mc.n_chunks)
            need = required_n(p.mc.skew, z)
            if p.mc.n < need:
                raise CheckInputError(
                    f"{r.check.name}: n = {p.mc.n} is too small for false-alarm {r.alpha:g} at "
                    f"{_fmt_params(p.params) or 'the point'}: the draws have skewness {p.mc.skew:.3g}, so the "
                    f"Student-t tolerance (z = {z:.2f}) is trusted only for n >= {need} (Edgeworth: the "
                    f"quantile moves by |skew| (2z^2+1)/(6 sqrt(n)), which must stay below {EDGEWORTH_FRACTION:g} z)")


def _items(checks: Any) -> list[Check | CheckResult]:
    if isinstance(checks, (Check, CheckResult)):
        return [checks]
    if isinstance(checks, Iterable) and not isinstance(checks, (str, bytes, Mapping)):
        out = list(checks)
        bad = [c for c in out if not isinstance(c, (Check, CheckResult))]
        if not bad:
            return out
    raise CheckInputError(f"expected checks (from formula_check) or results (from check_formula), got {checks!r}")


def iter_checks(checks: Any, scale: str | None = None) -> Iterator[CheckResult]:
    """Run checks one by one (see `run_checks`), yielding each result as it is judged."""
    scale = _resolve_scale(scale)
    for c in _items(checks):
        if isinstance(c, CheckResult):
            if c.scale == scale:  # seeded and thread-invariant: running it again gives the same numbers
                yield c
                continue
            c = c.check
        _precheck(c, scale)
        r = run_check(c, scale)
        _check_power_of_n(r)
        yield r


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
    at = f"({_fmt_params(p.params)})" if p.params else ""
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
    check = formula_check(theory, sampler, [dict(params or {})], n=n, seed=seed, allowance=allowance,
                          false_alarm=false_alarm, chunks=chunks, threads=threads, name=name or _name(theory, "theory"))
    r = run_checks(check, scale)[0]
    p = r.points[0]
    if not p.passed:
        raise AssertionError(_report(r, p))
    return p


# ---------------------------------------------------------------------- checks from a file
def load_checks(path: str | Path) -> list[Check | CheckResult]:
    """Import the Python file `path` and collect its module-level checks: `Check`s (e.g. from
    `formula_check`) and `CheckResult`s (from `check_formula`), alone or in lists/tuples, in
    definition order, each once.  Names starting with "_" are skipped.
    Raises: CheckInputError if the file is missing, fails to import, or declares no check."""
    path = Path(path)
    if not path.is_file():
        raise CheckInputError(f"no such file: {path}")
    if path.suffix != ".py":
        raise CheckInputError(f"{path} is not a Python file (.py)")
    mod_name = f"bnreg_user_checks_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise CheckInputError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.resolve().parent))  # the file may import its neighbours
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except CheckInputError:
        raise
    except Exception as e:
        tb = e.__traceback__
        line = None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == str(path):
                line = tb.tb_lineno
            tb = tb.tb_next
        where = f" (line {line})" if line else ""
        raise CheckInputError(f"importing {path} failed{where}: {type(e).__name__}: {e}") from e
    finally:
        sys.path.remove(str(path.resolve().parent))
        sys.modules.pop(mod_name, None)
    found: list[Check | CheckResult] = []
    seen: set[int] = set()
    for key, value in vars(module).items():
        if key.startswith("_"):
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if isinstance(v, (Check, CheckResult)):
                ident = id(v.check if isinstance(v, CheckResult) else v)
                if ident not in seen:
                    seen.add(ident)
                    found.append(v)
    if not found:
        raise CheckInputError(f"{path} declares no check: put formula_check(...) objects (or check_formula "
                              f"results) at module level, e.g. CHECKS = [formula_check(...)]")
    return found


# ---------------------------------------------------------------------------- pytest fixture
class MonteCarloFixture:
    """What the pytest fixture `bnreg_mc` returns: the API bound to the run's --mc-scale."""

    def __init__(self, scale: str | None = None):
        self.scale = _resolve_scale(scale)

    def assert_matches_mc(self, theory: Callable[..., float], sampler: Callable[..., Any],
                          params: Mapping | None = None, **options: Any) -> PointResult:
        """`assert_matches_mc` at this scale."""
        options.setdefault("scale", self.scale)
        return assert_matches_mc(theory, sampler, params, **options)

    def check_formula(self, theory: Callable[..., float], sampler: Callable[..., Any], grid: Any = None,
                      **options: Any) -> CheckResult:
        """`check_formula` at this scale (returns the result; `assert r.passed, r` shows the table)."""
        options.setdefault("scale", self.scale)
        return check_formula(theory, sampler, grid, **options)

    def run_checks(self, checks: Any) -> list[CheckResult]:
        """`run_checks` at this scale."""
        return run_checks(checks, self.scale)

"""Declaring a check of your own formula: `formula_check` builds a `FormulaCheck` (nothing runs yet)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bnreg.errors import CheckInputError
from bnreg.params import check_float, check_int
from bnreg.runtime.rng import MAX_SEED
from bnreg.runtime.threads import max_threads

from .calls import as_input_error, fmt_params, name_of, parse_grid, real_value, require_callable, summary_of
from .judge import Check, Params
from .sampling import DEFAULT_CHUNKS, DEFAULT_N, sample_mean

__all__ = ["FormulaCheck", "formula_check"]


@dataclass(frozen=True)
class FormulaCheck(Check):
    """A `Check` declared with `formula_check`: judged by the same `run_check` as the toolkit's
    own checks; `chunks` of the sampler's Monte Carlo (df = chunks - 1)."""

    chunks: int = DEFAULT_CHUNKS
    grid: tuple[Params, ...] = field(default=(), repr=False)
    sampler: Callable[..., Any] | None = field(default=None, repr=False)  # to time it before the run


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
    Returns: a FormulaCheck (a `bnreg.testing.judge.Check`)."""
    theory = require_callable("theory", theory)
    sampler = require_callable("sampler", sampler)
    pts = tuple(parse_grid(grid))
    with as_input_error():
        n = check_int("n", n, 1, 2**53)  # beyond, n x scale factors leave the float range
        seed = check_int("seed", seed, 0, MAX_SEED)
        chunks = check_int("chunks", chunks, 2, 2**20)
        # below 1e-12 the Student-t quantile and the Edgeworth n-rule leave double precision
        false_alarm = check_float("false_alarm", false_alarm, 1e-12, 1.0, hi_open=True)
        if threads is not None:
            threads = check_int("threads", threads, 1, max_threads())
    if wrong is None:
        wrong = {}
    elif not isinstance(wrong, (Mapping, list, tuple)):
        raise CheckInputError(f"wrong must be a dict of label -> function, or a list of functions "
                              f"(got {type(wrong).__name__})")
    elif not isinstance(wrong, Mapping):
        wrong = {name_of(f, f"wrong variant {i + 1}"): f for i, f in enumerate(wrong)}
    wrong = {str(k): require_callable(f"wrong variant {k!r}", f) for k, f in wrong.items()}
    if shown is not None and not isinstance(shown, Mapping):
        raise CheckInputError(f"shown must be a dict of column label -> function (got {type(shown).__name__})")
    shown = {str(k): require_callable(f"shown column {k!r}", f) for k, f in (shown or {}).items()}
    if callable(allowance):
        allow_fn = allowance

        def allow(p: Params) -> float:
            a = real_value("allowance", allow_fn, p)
            if a < 0:
                raise CheckInputError(f"allowance({fmt_params(p)}) = {a:g} is negative; it must be >= 0")
            return a
        doc = allowance_doc or f"{name_of(allowance, 'a function of the parameters')} (no reason given)"
    else:
        with as_input_error():
            a0 = check_float("allowance", allowance, 0.0)
        allow = lambda p: a0  # noqa: E731
        doc = allowance_doc or ("exact formula: no allowance" if a0 == 0 else f"{a0:g} (no reason given)")
    label = name or name_of(theory, "formula")
    return FormulaCheck(
        name=label, formula=label,
        claim=claim or summary_of(theory) or f"{label} = mean of {name_of(sampler, 'the sampler')}'s draws",
        points=lambda scale: [dict(p) for p in pts],
        simulate=lambda p, samples, s: sample_mean(sampler, p, samples, s, chunks, threads),
        theory=lambda p: real_value("theory", theory, p),
        wrong={w: (lambda p, f=f, w=w: real_value(f"wrong variant {w!r}", f, p)) for w, f in wrong.items()},
        allowance=allow, allowance_doc=doc, min_M=None,
        shown={k: (lambda p, f=f, k=k: real_value(f"shown column {k!r}", f, p)) for k, f in shown.items()},
        n=n, alpha=false_alarm, seed=seed, chunks=chunks, grid=pts, sampler=sampler)

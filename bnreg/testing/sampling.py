"""A user's sampler turned into a Monte-Carlo mean: chunked streams, jackknife SE, skewness and the n it needs.

n draws are split into `chunks` (64) of equal size, chunk i drawn from its own PCG64 stream
(`SeedSequence(seed_of_point).spawn(chunks)`), chunks run on threads and are reduced in chunk
order, so a seed gives the same numbers on any number of threads.  estimate = mean of all draws,
SE = delete-one-chunk jackknife (= batch means), Student t with df = chunks - 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bnreg.errors import CheckInputError
from bnreg.runtime import MCResult, jackknife, run_chunks, stop_requested

from .calls import fmt_params
from .judge import Params

__all__ = ["DEFAULT_N", "DEFAULT_CHUNKS", "MIN_PER_CHUNK", "EDGEWORTH_FRACTION", "SampledMC", "sample_mean",
           "required_n"]

DEFAULT_N = 2**20  # draws per point at the default scale
DEFAULT_CHUNKS = 64
MIN_PER_CHUNK = 16  # draws per chunk at least: n >= chunks * MIN_PER_CHUNK
EDGEWORTH_FRACTION = 0.1  # the skewness shift of the t quantile may be at most this fraction of z
_BLOCK = 2**18  # at most this many draws per sampler call (memory)
# Largest |draw| accepted: the cubes of the deviations are summed over up to 2^28 draws (the skewness),
# 1e90^3 * 2^28 = 2.7e278 stays far below the largest double; a larger statistic must be rescaled.
MAX_ABS_DRAW = 1e90


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
    call = f"sampler(rng, {k}{', ' if p else ''}{fmt_params(p)})"
    try:
        x = sampler(rng, k, **p)
    except (Exception, SystemExit) as e:  # a user's sys.exit must not end the run silently
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
    big = float(np.max(np.abs(arr))) if arr.size else 0.0
    if big > MAX_ABS_DRAW:
        raise CheckInputError(f"{call} returned a draw of magnitude {big:.3g}; draws must satisfy |draw| <= "
                              f"{MAX_ABS_DRAW:g} (their squares and cubes are summed): rescale the statistic and "
                              "the theory by the same factor")
    return arr


def sample_mean(sampler: Callable, params: Params, n: int, seed: int, chunks: int = DEFAULT_CHUNKS,
                threads: int | None = None) -> SampledMC:
    """Monte Carlo mean of `sampler(rng, k, **params)` draws: ceil(n/chunks) draws in each of
    `chunks` chunks (per-chunk PCG64 streams from `seed`, threads via `bnreg.runtime.mc.run_chunks`, results
    independent of the thread count), SE by the delete-one-chunk jackknife.

    Returns: SampledMC(estimate, se, n = draws made, n_chunks = chunks, skew of the draws)."""
    per = -(-int(n) // chunks)

    def chunk(_i: int, rng: np.random.Generator) -> np.ndarray:
        acc = (0, 0.0, 0.0, 0.0)
        left = per
        while left and not stop_requested():  # an interrupted run stops within a block
            k = min(left, _BLOCK)
            x = _draws(sampler, rng, k, params)
            m = float(x.mean())
            d = x - m
            d2 = d * d
            acc = _merge(acc, (k, m, float(d2.sum()), float(d2 @ d)))
            left -= k
        return np.array(acc, dtype=float)

    stats = run_chunks(chunk, chunks, seed, threads=threads)  # rows (count, mean, M2, M3), chunk order
    pooled = (0, 0.0, 0.0, 0.0)
    for row in stats:
        pooled = _merge(pooled, tuple(row))
    total, _, m2, m3 = pooled
    if total > 1 and m2 == 0.0:  # every draw equal: SE 0, so z would be 0/0 or +-inf, never a judgement
        raise CheckInputError(f"sampler(rng, n{', ' if params else ''}{fmt_params(params)}) returned {int(total)} "
                              "draws that are all equal: with no spread the standard error is 0 and no "
                              "tolerance can be formed; a sampler must return random draws of the statistic")
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

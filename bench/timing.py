"""The timers every benchmark suite shares: best-of-repeats wall time, calibration of a workload
to a target duration, and interleaved blocks (alternating implementations so that drifting load
on a shared machine hits all of them alike)."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["best_time", "calibrate", "interleaved_rates"]


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """min over repeats of the wall time of fn() (seconds)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def calibrate(fn: Callable[[int], object], n0: int, target: float) -> int:
    """n with fn(n) taking about `target` seconds, scaled from a pilot of >= 0.05 s (or target/4)."""
    n = n0
    while True:
        t = best_time(lambda n=n: fn(n), 1)
        if t >= min(0.05, target / 4):
            return max(n0, int(n * target / t))
        n *= 4


def interleaved_rates(steppers: dict[str, Callable[[], object] | None], calls: dict[str, int], repeats: int,
                      units_per_call: float = 1.0, max_blocks: dict[str, int] | None = None) -> dict[str, list[float]]:
    """Time the implementations in alternating blocks of calls[k] calls each, `repeats` rounds
    (implementation k at most max_blocks[k] of them): units/s per block (units_per_call units per
    call).  None steppers are skipped; each stepper is called twice first (warm-up: compile
    time excluded)."""
    live = {k: f for k, f in steppers.items() if f is not None}
    for f in live.values():
        f()
        f()
    rates: dict[str, list[float]] = {k: [] for k in live}
    max_blocks = max_blocks or {}
    for r in range(repeats):
        for k, f in live.items():
            if r >= max_blocks.get(k, repeats):
                continue
            t = time.perf_counter()
            for _ in range(calls[k]):
                f()
            rates[k].append(units_per_call * calls[k] / (time.perf_counter() - t))
    return rates

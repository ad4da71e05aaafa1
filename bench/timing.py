"""The timers every benchmark suite shares: best-of-repeats wall time, calibration of a workload
to a target duration, and interleaved blocks (alternating implementations so that drifting load
on a shared machine hits all of them alike)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

__all__ = ["best_time", "calibrate", "interleaved_rates", "blas_info", "blas_note"]


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


def blas_info() -> dict[str, str | None]:
    """The BLAS numpy runs (threadpoolctl: library and the kernel it selected) and the environment
    variables that can force an OpenBLAS kernel."""
    from threadpoolctl import threadpool_info

    libs = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    first = libs[0] if libs else {}
    return {"blas": first.get("internal_api"), "blas_kernel": first.get("architecture"),
            **{k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}}


def blas_note(info: dict[str, str | None]) -> str | None:
    """A line for reports when the environment forces the OpenBLAS kernel (it may not be the CPU's best:
    on an AVX-512 machine OPENBLAS_CORETYPE=Haswell halves float32 GEMM), else None."""
    if not info.get("OPENBLAS_CORETYPE"):
        return None
    return (f"note: OPENBLAS_CORETYPE={info['OPENBLAS_CORETYPE']} forces OpenBLAS' {info['blas_kernel']} kernel; "
            "for OpenBLAS' own choice run `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE bnreg bench ...` "
            "(docs/performance.md)")

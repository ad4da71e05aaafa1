"""Coarse-grained parallel parts whose results never depend on the thread count (the CNN library's pool).

An operation over range(n) is split into `n_parts(n, min_part)` contiguous parts, a number fixed
by the problem size alone; the threads of `bnreg.runtime.threads.get_threads()` (the calling one
included) claim the parts one by one from a shared counter, so a thread descheduled on a busy
machine delays at most the part it holds, and every result (GEMMs split by rows or columns,
partial sums added in part order) is bit-identical on any number of threads.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from .threads import get_threads

__all__ = ["MAX_PARTS", "n_parts", "run_parts"]

MAX_PARTS = 4  # parts of one operation at most (a power of 2); fixed by the problem size only

_POOL: dict = {"pool": None, "size": 0}


def n_parts(n: int, min_part: int = 1) -> int:
    """Parts an operation over range(n) is split into: the largest power of 2 <= min(n // min_part,
    MAX_PARTS) (at least 1).  It depends on the problem size only, never on the thread count."""
    p = 1
    while 2 * p <= min(n // max(min_part, 1), MAX_PARTS):
        p *= 2
    return p


def run_parts(fn: Callable[[int, int, int], object], n: int, min_part: int = 1) -> list:
    """Split range(n) into `n_parts(n, min_part)` contiguous parts and return [fn(k, start, stop) for
    part k] in part order, the parts run on up to `get_threads()` threads (each part writes its own
    output or partial sum, so the results are independent of the thread count and of scheduling)."""
    p = n_parts(n, min_part)
    if p == 1:
        return [fn(0, 0, n)]
    edges = [n * k // p for k in range(p + 1)]
    t = min(get_threads(), p)
    if t == 1:
        return [fn(k, edges[k], edges[k + 1]) for k in range(p)]
    if _POOL["pool"] is None or _POOL["size"] != t - 1:
        if _POOL["pool"] is not None:
            _POOL["pool"].shutdown(wait=True)
        _POOL["pool"] = ThreadPoolExecutor(t - 1, thread_name_prefix="bnreg-parts")
        _POOL["size"] = t - 1
    out: list = [None] * p
    claim = itertools.count()  # next() is atomic under the GIL

    def work() -> None:
        while (k := next(claim)) < p:
            out[k] = fn(k, edges[k], edges[k + 1])

    futs = [_POOL["pool"].submit(work) for _ in range(t - 1)]
    work()
    for f in futs:
        f.result()
    return out

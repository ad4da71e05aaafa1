"""The one Monte Carlo harness: chunked, threaded, reproducible, with jackknife errors.

A simulation is a numba kernel that, for one chunk, fills a vector of additive sufficient
statistics (sums).  Chunks run on `bnreg.runtime.threads.get_threads()` threads (kernels release
the GIL); results are stored by chunk index and reduced in a fixed order, so the thread count never
changes a number.
Estimates are functions of the pooled sums; their standard error is the delete-one-chunk
jackknife, which is the usual batch-means error for linear statistics and stays valid for
ratios, variances and correlations.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from bnreg.params import check_int

from .rng import chunk_generators
from .threads import get_threads

__all__ = ["MCResult", "run_chunks", "stop_requested", "jackknife", "mc_from_values", "split_batches"]


@dataclass(frozen=True)
class MCResult:
    """A Monte Carlo estimate with its standard error, sample count and chunk count."""

    estimate: float
    se: float
    n: int
    n_chunks: int

    def z(self, value: float) -> float:
        """(estimate - value)/se."""
        return (self.estimate - value) / self.se if self.se > 0 else math.copysign(math.inf, self.estimate - value)

    def __str__(self) -> str:
        return f"{self.estimate:.6g} ± {self.se:.2g} (n={self.n})"


def run_chunks(
    chunk_fn: Callable[[int, np.random.Generator], np.ndarray],
    n_chunks: int,
    seed: int,
    threads: int | None = None,
    progress: bool | None = False,
    desc: str = "MC",
) -> np.ndarray:
    """Call chunk_fn(i, rng_i) for every chunk; stack the returned arrays in chunk order.

    Interruptible: on Ctrl-C (or any error) in the calling thread, chunks not yet started are
    dropped and the running ones are asked to stop (`stop_requested()`, which a chunk that loops
    over blocks checks between them), so the exception reaches the caller within a block."""
    rngs = chunk_generators(seed, n_chunks)
    threads = threads or get_threads()
    out: list[np.ndarray | None] = [None] * n_chunks
    bar = tqdm(total=n_chunks, desc=desc, disable=not progress, leave=False)
    stop = threading.Event()

    def work(i: int) -> None:
        if stop.is_set():
            return
        _LOCAL.stop = stop
        try:
            out[i] = np.asarray(chunk_fn(i, rngs[i]))
        finally:
            _LOCAL.stop = None
        bar.update(1)

    try:
        if threads == 1:
            for i in range(n_chunks):
                work(i)
        else:
            ex = ThreadPoolExecutor(threads)
            try:
                list(ex.map(work, range(n_chunks)))
            except BaseException:
                stop.set()  # running chunks stop at their next block; queued ones never start
                ex.shutdown(wait=True, cancel_futures=True)
                raise
            ex.shutdown(wait=True)
    finally:
        bar.close()
    return np.stack(out)  # type: ignore[arg-type]


_LOCAL = threading.local()


def stop_requested() -> bool:
    """True when the `run_chunks` that runs the current chunk has been interrupted: a chunk that
    loops over blocks returns early when it sees it (its partial result is never used)."""
    stop = getattr(_LOCAL, "stop", None)
    return stop is not None and stop.is_set()


def jackknife(stat: Callable[[np.ndarray], float], chunk_sums: np.ndarray, n: int) -> MCResult:
    """Pooled estimate stat(sum of chunks) with delete-one-chunk jackknife standard error."""
    k = chunk_sums.shape[0]
    total = chunk_sums.sum(axis=0)
    est = float(stat(total))
    loo = np.array([stat(total - chunk_sums[i]) for i in range(k)], dtype=float)
    se = float(math.sqrt((k - 1) / k * np.sum((loo - loo.mean()) ** 2)))
    return MCResult(est, se, int(n), k)


def mc_from_values(values: Sequence[float] | np.ndarray, n_per: int = 1) -> MCResult:
    """MCResult of the mean of independent replicates (seeds, datasets): estimate = mean(values),
    se = std(values, ddof=1)/sqrt(k) (inf if k = 1), n = n_per * k samples, k chunks (df = k - 1)."""
    v = np.asarray(values, dtype=float)
    k = len(v)
    se = float(v.std(ddof=1) / math.sqrt(k)) if k > 1 else math.inf
    return MCResult(float(v.mean()), se, int(n_per * k), k)


def split_batches(n_batches: int, n_chunks: int) -> int:
    """Batches per chunk for at least `n_batches` in total (rounded up)."""
    n_chunks = check_int("n_chunks", n_chunks, 2)
    n_batches = check_int("n_batches", n_batches, 2 * n_chunks)
    return -(-n_batches // n_chunks)

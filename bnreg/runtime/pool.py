"""The shared pool: one set of worker processes that every sweep of a run sends its points to.

Workers are forked once (before any other thread exists), take the run's thread setting for their
whole life (`bnreg.runtime.threads.apply_threads`), leave Ctrl-C to the parent, and run points
largest-cost first, deduplicated, so that no core idles while any figure has work left.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import math
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from bnreg.params import check_int

from .cache import PointCache
from .threads import apply_threads, max_threads

__all__ = ["SharedPool", "shared_pool", "active_pool", "pool_sweep", "ignore_sigint_in_worker"]


def ignore_sigint_in_worker() -> None:
    """In a worker process: leave Ctrl-C to the parent, and give tqdm a thread lock so that it
    creates no multiprocessing semaphore (a worker stopped by the parent's shutdown would leave it
    behind: "leaked semaphore objects")."""
    import multiprocessing
    import signal

    if multiprocessing.parent_process() is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        from tqdm import std

        if not hasattr(std.TqdmDefaultWriteLock, "mp_lock"):
            std.TqdmDefaultWriteLock.mp_lock = None  # tqdm then uses its thread lock only


def die_with_parent(parent: int) -> None:
    """In a worker process: be killed (SIGKILL) the moment the parent process `parent` dies, however
    it dies (kill -9 included), so that no worker outlives its run or writes after it has gone.
    Linux: prctl(PR_SET_PDEATHSIG); the parent's pid is checked after it, in case it died before.
    Elsewhere: nothing (the pool's own shutdown stops the workers)."""
    import ctypes
    import signal

    if not sys.platform.startswith("linux"):  # pragma: no cover - Linux is where the pools fork
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # pragma: no cover - no prctl: the pool's shutdown stops us
        return
    if os.getppid() != parent:  # the parent died before prctl: nobody will read our results
        os._exit(1)


def _init_pool_worker(threads: int, parent: int) -> None:
    """Initializer of a `SharedPool` worker: dies with its parent, leaves Ctrl-C to it, and uses
    `threads` threads everywhere for its whole life (set once, not per point)."""
    die_with_parent(parent)
    ignore_sigint_in_worker()
    apply_threads(threads)


class SharedPool:
    """One pool of local worker processes shared by several sweeps that run at the same time (the
    figures of one `bnreg figures` run compute in threads of the parent; `sweep` sends their points
    here while the pool is active, see `shared_pool`), so that no core idles while any figure has
    work left.

    Points wait in a priority queue (largest `cost` first: the longest runs start first and the
    short ones fill the end) and at most `workers` + 1 are in the executor at a time.  A point whose
    dedup key is already queued, running or done is not run again: the callers share one future
    (runs shared between figures, e.g. the trained networks of the two variance-shift figures).
    Each point runs with `threads` MC/numba/BLAS threads; results do not depend on the process or
    the order (see the module docstring).  On Linux the workers are forked at creation, before any
    other thread exists, so they inherit the parent's imports (no start-up per worker)."""

    def __init__(self, workers: int, threads: int = 1, progress: bool | None = None, desc: str = "points"):
        import concurrent.futures
        import multiprocessing

        self.workers = check_int("workers", workers, 1)
        self.threads = check_int("threads", threads, 1, max_threads())
        fork = sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork" if fork else "spawn")
        self._ex = concurrent.futures.ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_pool_worker,
                                                          initargs=(self.threads, os.getpid()))
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Any]] = []
        self._seq = 0
        self._inflight = 0
        self._futures: dict[str, Any] = {}
        self._closed = False
        self.cpu: dict[str, float] = {}  # tag -> worker CPU seconds of its finished calls
        # start the workers now (fork: before the dispatcher, tqdm's monitor or any figure thread exists)
        self._ex.submit(int, 0).result()
        self.bar = tqdm(total=0, desc=desc, disable=progress is False, smoothing=0.05)
        self._dispatcher = threading.Thread(target=self._dispatch, name="bnreg-pool-dispatch", daemon=True)
        self._dispatcher.start()

    def submit(self, fn: Callable[..., Any], args: tuple, dedup: str | None = None, cost: float = 0.0,
               tag: str = "") -> Any:
        """A concurrent.futures.Future of fn(*args), run on a worker when its turn comes (largest
        `cost` first, then submission order).  Equal `dedup` strings share one future.  The worker
        CPU time of the call is added to `cpu[tag]`."""
        import concurrent.futures

        with self._cond:
            if self._closed:
                raise RuntimeError("the shared pool is closed")
            if dedup is not None and dedup in self._futures:
                return self._futures[dedup]
            fut: concurrent.futures.Future = concurrent.futures.Future()
            if dedup is not None:
                self._futures[dedup] = fut
            heapq.heappush(self._heap, (-float(cost), self._seq, (fn, args, fut, tag)))
            self._seq += 1
            self._cond.notify_all()
        return fut

    def _dispatch(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (not self._heap or self._inflight > self.workers):
                    self._cond.wait()
                if self._closed:
                    return
                _, _, (fn, args, fut, tag) = heapq.heappop(self._heap)
                if not fut.set_running_or_notify_cancel():
                    continue
                self._inflight += 1
            try:
                inner = self._ex.submit(_timed_call, _portable(fn, args))
            except BaseException as e:  # noqa: BLE001 - a broken pool: the caller sees the error
                with self._cond:
                    self._inflight -= 1
                fut.set_exception(e)
                continue
            inner.add_done_callback(functools.partial(self._done, fut, tag))

    def _done(self, fut: Any, tag: str, inner: Any) -> None:
        with self._cond:
            self._inflight -= 1
            self._cond.notify_all()
        if inner.cancelled():
            fut.cancel()
        elif inner.exception() is not None:
            fut.set_exception(inner.exception())
        else:
            res, cpu = inner.result()
            with self._cond:
                self.cpu[tag] = self.cpu.get(tag, 0.0) + cpu
            fut.set_result(res)

    def close(self, cancel: bool = False) -> None:
        """Stop the dispatcher and the workers (cancel: drop the queued points and terminate the
        running ones at once, as after Ctrl-C)."""
        with self._cond:
            self._closed = True
            pending = [item[2][2] for item in self._heap]
            self._heap.clear()
            self._cond.notify_all()
        for fut in pending:
            fut.cancel()
        if cancel:
            for p in list(getattr(self._ex, "_processes", {}).values()):
                with contextlib.suppress(Exception):
                    p.terminate()
        self._ex.shutdown(wait=True, cancel_futures=True)
        self.bar.close()


def _portable(fn: Callable[..., Any], args: tuple) -> bytes:
    """(fn, args) as cloudpickle bytes: a check's points may hold closures (e.g. a user's sampler, a
    grid built in a function), which the standard pickle of the executor's queue refuses; these are
    our own objects, sent to our own forked workers (no data file is ever unpickled)."""
    import cloudpickle

    return cloudpickle.dumps((fn, args))


def _timed_call(payload: bytes) -> tuple[Any, float]:
    """(fn(*args), the CPU seconds it took in this process) for `_portable(fn, args)`: runs in a
    `SharedPool` worker."""
    import pickle
    import time

    fn, args = pickle.loads(payload)  # bytes made by _portable in the parent, never read from a file
    t0 = time.process_time()
    res = fn(*args)
    return res, time.process_time() - t0


_POOL: list[SharedPool] = []


def active_pool() -> SharedPool | None:
    """The pool of the innermost active `shared_pool`, else None."""
    return _POOL[-1] if _POOL else None


@contextmanager
def shared_pool(workers: int, threads: int = 1, progress: bool | None = None,
                desc: str = "points") -> Iterator[SharedPool]:
    """Context manager: while it is active, every `sweep` with backend "processes" (in any thread)
    sends its points to one `SharedPool` of `workers` processes with `threads` threads each.
    Closes the pool on exit (terminating it on an exception, e.g. Ctrl-C)."""
    pool = SharedPool(workers, threads, progress, desc)
    _POOL.append(pool)
    ok = False
    try:
        yield pool
        ok = True
    finally:
        _POOL.remove(pool)
        pool.close(cancel=not ok)


def pool_sweep(pool: SharedPool, point: Any, items: list, keys: list[dict], todo: list[int],
                cache: PointCache, out: list, cost: Callable[[Any], float] | None, tag_of: str = "") -> None:
    """The points `todo` of a sweep on the shared pool: submitted at once (deduplicated on their
    function and key), cached and stored in `out` as they finish (results in item order)."""
    import concurrent.futures

    tag = f"{getattr(point.fn, '__module__', '')}.{getattr(point.fn, '__qualname__', repr(point.fn))}|{point.records}"
    futs = {}
    for i in todo:
        dedup = tag + "|" + PointCache._canonical(keys[i])
        c = math.inf if cost is None else float(cost(items[i]))
        # equal keys in one sweep (points sharing a simulation) share one future: every index gets it
        futs.setdefault(pool.submit(point, (items[i],), dedup, c, tag=tag_of), []).append(i)
    with pool._cond:
        pool.bar.total += len(todo)
        pool.bar.refresh()
    for fut in concurrent.futures.as_completed(futs):
        res = fut.result()
        for i in futs[fut]:
            cache.put(keys[i], res)  # a shared run may be put twice (same key, same value): atomic, harmless
            out[i] = {k: np.array(v) for k, v in res.items()}  # a copy: a shared result is never aliased
            pool.bar.update(1)

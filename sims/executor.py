"""Caching of finished points and parallel sweeps.

A sweep item is a *record*: a JSON-able dict of keyword arguments.  `sweep(point, records,
cache=..., name=NAME)` computes `point(**record)` for every record and caches each result under
the key `{"figure": NAME, **record}` (`cache_key`), so the record is both the call and the
cache key.

Cache entries are `.npz` files read with allow_pickle=False (no pickle loading, ever) next to a
`.json` copy of their key, so an interrupted sweep resumes from its last finished point.
Sweeps run serially, on `workers` local processes (joblib/loky) or on a Dask cluster
(`backend="dask"`, `address=` the scheduler), always with a progress bar.

Two separate knobs: `workers` (sweep processes) and `threads` (Monte Carlo / numba / BLAS threads
inside each process).  Each worker applies `threads` itself (`thread_limits`), and by default
workers x threads never exceeds the cores (`resolve_parallelism`).  No number depends on either:
Monte Carlo chunks are fixed by the problem size and reduced in a fixed order.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import heapq
import json
import math
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from bnreg.theory.params import ParameterError, check_choice, check_int

from .files import write_atomic
from .mc import set_threads

__all__ = ["PointCache", "code_version", "sweep", "cache_key", "resolve_parallelism", "resolve_backend",
           "thread_limits", "BACKENDS", "SharedPool", "shared_pool", "active_pool"]

BACKENDS = ("serial", "processes", "dask")
_WARNED: set[str] = set()


def _key_hash(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:20]


@functools.cache
def code_version() -> str:
    """A hash of the source of bnreg.theory and bnreg.sims: a cache entry made by other code is
    stale (a miss), so a fixed bug never survives in a cache.  (The caller adds its own source,
    e.g. the figure module's, as the cache's `salt`.)"""
    import bnreg.sims
    import bnreg.theory

    h = hashlib.sha256()
    for pkg in (bnreg.theory, bnreg.sims):
        for root in pkg.__path__:
            base = Path(root)
            for f in sorted(base.rglob("*.py")):
                h.update(f"{pkg.__name__}/{f.relative_to(base).as_posix()}".encode())
                h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _digest(arrays: Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


_META = "__bnreg_entry__"


class PointCache:
    """Maps a JSON-able key to a dict of numpy arrays / floats stored on disk.

    Each entry is one `.npz` (read with allow_pickle=False: no pickle, ever) that also stores its
    own key, the code version that made it and a digest of its arrays; `get` returns it only if all
    three match, so a damaged, foreign (another point's), truncated, edited or stale entry is a
    miss and is recomputed.  Entries are written to a temporary file and renamed into place, so an
    interruption or a full disk never leaves a half entry or temporary debris."""

    def __init__(self, root: str | os.PathLike | None, enabled: bool = True, salt: str = "",
                 session: str | None = None):
        self.root = Path(root) if root is not None else None
        self.enabled = enabled and root is not None
        self.salt = salt  # e.g. a hash of the calling figure module's source
        # session: entries are stamped with it, and `get` returns only entries of the same session
        # (a --force run: nothing older is trusted, but what this run made is shared)
        self.session = session

    SHARED = "_shared"

    def shared(self) -> PointCache:
        """The cache of results that belong to no one figure (a training run keyed by its full
        config, `sims.nn.sweep.run_configs`): ROOT/../_shared, the same for every figure cache under
        one parent (OUT/.cache/NAME -> OUT/.cache/_shared), without the figure's salt (such a result
        depends on bnreg.sims and its key only, both checked).  Reads are on even where this cache's
        are off (--force), but then only entries of this cache's `session`: a run another figure
        made earlier in the same forced run is shared, nothing older is trusted."""
        if self.root is None:
            return PointCache(None)
        return PointCache(self.root.parent / self.SHARED, enabled=self.enabled or self.session is not None,
                          session=self.session)

    def _version(self) -> str:
        return code_version() + self.salt

    def _path(self, key: dict) -> Path:
        assert self.root is not None
        return self.root / f"{_key_hash(key)}.npz"

    @staticmethod
    def _canonical(key: dict) -> str:
        return json.dumps(key, sort_keys=True, default=str)

    def get(self, key: dict) -> dict[str, np.ndarray] | None:
        if not self.enabled:
            return None
        path = self._path(key)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            meta = json.loads(str(arrays.pop(_META)))
            if (meta.get("key") != self._canonical(key) or meta.get("code") != self._version()
                    or meta.get("digest") != _digest(arrays)
                    or (self.session is not None and meta.get("session") != self.session)):
                return None
            return arrays
        except Exception:  # noqa: BLE001 - any unreadable entry (torn write, corruption) is a miss
            return None

    def put(self, key: dict, value: dict[str, Any]) -> None:
        if self.root is None:
            return
        arrays = {k: np.asarray(v) for k, v in value.items()}
        if _META in arrays:
            raise ValueError(f"{_META} is a reserved result name")
        meta = {"key": self._canonical(key), "code": self._version(), "digest": _digest(arrays)}
        if self.session is not None:
            meta["session"] = self.session
        path = self._path(key)
        tmp = None
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-", suffix=".npz")
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays, **{_META: np.array(json.dumps(meta))})
            os.replace(tmp, path)
            tmp = None
            # A readable copy of the key next to the entry, for people (never read back).
            write_atomic(path.with_suffix(".json"), json.dumps(key, sort_keys=True, default=str, indent=1))
        except OSError as e:
            raise ParameterError(f"cannot write the cache entry {path}: {e.strerror or e}") from None
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    def cached(self, key: dict, fn: Callable[[], dict[str, Any]]) -> dict[str, np.ndarray]:
        hit = self.get(key)
        if hit is not None:
            return hit
        value = fn()
        self.put(key, value)
        return {k: np.asarray(v) for k, v in value.items()}


def cache_key(name: str | None, record: Mapping[str, Any]) -> dict[str, Any]:
    """The cache key of a sweep record: {"figure": name, **record} (the record alone if name is
    None).  Raises ParameterError unless the record is a dict of JSON values (numbers, strings,
    bools, None, lists and dicts of them) without a "figure" field, so that equal keys mean equal
    calls: numpy scalars, for one, would only be cached under their str()."""
    if not isinstance(record, Mapping):
        raise ParameterError(f"a sweep record is a dict of keyword arguments (got {type(record).__name__})")
    try:
        json.dumps(record, sort_keys=True, allow_nan=True)
    except (TypeError, ValueError) as e:
        raise ParameterError(f"sweep record {record!r} is not JSON-able: {e}") from e
    if name is None:
        return dict(record)
    if "figure" in record:
        raise ParameterError(f"a sweep record may not have a 'figure' field (it is the cache namespace): {record!r}")
    return {"figure": name, **record}


def _cores() -> int:
    return os.cpu_count() or 1


def resolve_parallelism(workers: int | None = None, threads: int | None = None,
                        cores: int | None = None) -> tuple[int, int]:
    """(workers, threads) with the defaults filled in: workers 1, threads cores // workers (at
    least 1).  workers x threads > cores raises ParameterError unless both were given (None =
    not given); then it is allowed, with a one-line warning on stderr (once per process)."""
    cores = cores or _cores()
    w = 1 if workers is None else check_int("workers", workers, 1)
    t = max(1, cores // w) if threads is None else check_int("threads", threads, 1)
    if w * t > cores:
        msg = f"workers x threads = {w} x {t} = {w * t} exceeds the {cores} cores"
        if workers is None or threads is None:
            raise ParameterError(f"{msg}; give both --workers and --threads to oversubscribe on purpose")
        if msg not in _WARNED:
            _WARNED.add(msg)
            print(f"bnreg: warning: {msg} (oversubscribed: expect slower, not different, results)", file=sys.stderr)
    return w, t


def resolve_backend(backend: str | None, workers: int) -> str:
    """The backend a sweep runs on: `backend`, or by default serial for one worker and local
    processes for more.  ParameterError for an unknown backend or serial with several workers."""
    if backend is None:
        return "serial" if workers == 1 else "processes"
    check_choice("backend", backend, BACKENDS)
    if backend == "serial" and workers > 1:
        raise ParameterError(f"backend serial runs one worker (got workers={workers}); use backend processes")
    return backend


@contextmanager
def thread_limits(threads: int | None) -> Iterator[None]:
    """Run with `threads` Monte Carlo threads (sims.mc), numba threads and BLAS threads
    (threadpoolctl); restored on exit.  None: change nothing."""
    if threads is None:
        yield
        return
    import numba

    n = check_int("threads", threads, 1)
    old_mc = set_threads(n)
    old_nb = numba.get_num_threads()
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    try:
        ctl = threadpool_controller()
        if ctl is None:  # pragma: no cover - threadpoolctl is a dependency
            yield
        else:
            with ctl.limit(limits=n, user_api="blas"):
                yield
    finally:
        numba.set_num_threads(old_nb)
        set_threads(old_mc)


_CONTROLLER: list[Any] = []


def threadpool_controller() -> Any:
    """A threadpoolctl.ThreadpoolController of this process, made once (None without threadpoolctl).
    Finding the native thread pools reads /proc/self/maps (about 5 ms), too slow to repeat for
    every sweep point or training run; made after numba's threading layer is up (callers set numba's
    threads first), so that its OpenMP pool is found too."""
    if not _CONTROLLER or _CONTROLLER[0][0] != os.getpid():  # a forked child finds its own (same libraries)
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - threadpoolctl is a dependency
            return None
        _CONTROLLER[:] = [(os.getpid(), ThreadpoolController())]
    return _CONTROLLER[0][1]


_WORKER_LIMITS: list[Any] = []


def _init_pool_worker(threads: int) -> None:
    """Initializer of a `SharedPool` worker: Ctrl-C is the parent's, and `threads` MC / numba /
    BLAS threads for the worker's whole life (set once, not per point)."""
    import numba

    _ignore_sigint_in_worker()
    set_threads(threads)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    ctl = threadpool_controller()
    if ctl is not None:
        _WORKER_LIMITS.append(ctl.limit(limits=threads))  # kept: in force until the worker exits


class _Point:
    """The function a worker runs for one item: applies the thread setting inside the worker
    process (threads are per process: the parent's setting does not travel), then calls
    fn(**record) (record sweeps) or fn(item) (object sweeps with a key function).  Picklable."""

    def __init__(self, fn: Callable[..., dict[str, Any]], threads: int | None, records: bool):
        self.fn, self.threads, self.records = fn, threads, records

    def __call__(self, item: Any) -> dict[str, Any]:
        if self.threads is not None:  # in a worker process: Ctrl-C is the parent's to handle
            _ignore_sigint_in_worker()
        with thread_limits(self.threads):
            return self.fn(**item) if self.records else self.fn(item)


def _ignore_sigint_in_worker() -> None:
    """In a worker process: leave Ctrl-C to the parent, and give tqdm a thread lock so that it
    creates no multiprocessing semaphore (a worker stopped by the parent's shutdown would leave it
    behind: "leaked semaphore objects")."""
    import multiprocessing
    import signal
    import threading

    if multiprocessing.parent_process() is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        from tqdm import std

        if not hasattr(std.TqdmDefaultWriteLock, "mp_lock"):
            std.TqdmDefaultWriteLock.mp_lock = None  # tqdm then uses its thread lock only


@contextmanager
def _interrupt_guard() -> Iterator[Callable[[], bool]]:
    """Remember a Ctrl-C that arrives while a process pool runs: the pool turns it into its own
    errors (seen: ReferenceError from joblib), which `sweep` then reports as the interrupt it was."""
    import signal
    import threading

    flag = [False]
    if threading.current_thread() is not threading.main_thread():
        yield lambda: flag[0]
        return

    def on_sigint(signum: int, frame: Any) -> None:
        flag[0] = True
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield lambda: flag[0]
    finally:
        signal.signal(signal.SIGINT, old)


def _stop_workers(backend: str) -> None:
    """Terminate the local worker processes at once (their semaphores are released by the
    executor's shutdown, so none leak)."""
    if backend != "processes":
        return
    with contextlib.suppress(Exception):
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True)
    import gc

    gc.collect()  # finalize the pool's queues now, which unlinks their semaphores


def sweep(
    fn: Callable[..., dict[str, Any]],
    items: Iterable[Any],
    key: Callable[[Any], dict] | None = None,
    cache: PointCache | None = None,
    *,
    name: str | None = None,
    workers: int = 1,
    threads: int | None = None,
    backend: str | None = None,
    address: str | None = None,
    desc: str | None = None,
    progress: bool | None = None,
    cost: Callable[[Any], float] | None = None,
) -> list[dict[str, np.ndarray]]:
    """[fn(**record) for record in items], cached per record under `cache_key(name, record)`,
    run on `backend`; results are in item order.

    items    JSON-able dicts (records): the keyword arguments of fn and, with `name`, the cache key.
    key      object form (sims/nn/sweep.py, whose items are validated CNNConfig objects, so that a
             run is validated once): a function item -> cache key; then fn(item) is called with
             the item as is, which need not be a dict.
    cache    a PointCache (None: no caching).
    workers  processes for the sweep points (backend None: serial if 1, else processes);
             with dask and no address, a local cluster of `workers` single-threaded processes.
    threads  MC/numba/BLAS threads per process, applied inside every worker (None: unchanged in
             the serial case, cores // workers in worker processes).
    cost     item -> its expected cost (any unit, larger first): the order in which a `shared_pool`
             starts the points (no effect elsewhere and never on a number).  None: unknown, started
             before every point with a cost (in submission order), so that the end of a run is
             filled with the shortest of the estimated points, not with a long point of unknown cost.

    While a `shared_pool` is active, a sweep with backend "processes" (and no address) runs its
    points on that pool (its workers and threads) instead of a pool of its own, with its progress
    in the pool's bar.
    """
    items = list(items)
    cache = cache if cache is not None else PointCache(None)
    workers = check_int("workers", workers, 1)
    backend = resolve_backend(backend, workers)
    records = key is None
    key_of = (lambda it: cache_key(name, it)) if records else key
    keys = [key_of(it) for it in items]  # validates every record before any work
    if threads is None and backend != "serial":
        threads = max(1, _cores() // workers)
    pool = active_pool() if backend == "processes" and address is None else None
    # on the shared pool, the workers' threads are set once (`_init_pool_worker`)
    point = _Point(fn, None if pool is not None else threads, records)

    out: list[dict[str, np.ndarray] | None] = [cache.get(k) for k in keys]
    todo = [i for i, r in enumerate(out) if r is None]
    if pool is not None:
        _pool_sweep(pool, point, items, keys, todo, cache, out, cost, desc or name or "")
        return out  # type: ignore[return-value]
    bar = tqdm(total=len(items), initial=len(items) - len(todo), desc=desc or name or "sweep",
               disable=progress is False)
    try:
        if backend == "serial":
            for i in todo:
                out[i] = cache.cached(keys[i], lambda i=i: point(items[i]))
                bar.update(1)
        else:
            from joblib import Parallel, delayed, parallel_config

            if backend == "dask":
                try:
                    from dask.distributed import Client
                except ImportError as e:
                    raise ParameterError("backend=dask needs `pip install 'bnreg[dask]'`") from e
                client = (Client(address) if address else
                          Client(processes=True, n_workers=workers, threads_per_worker=1))
                cfg, n_jobs = parallel_config(backend="dask"), -1
            else:
                # inner_max_num_threads sizes the BLAS/OpenMP/numba pools of fresh loky workers;
                # _Point then sets the same count explicitly in each worker.
                client, n_jobs = None, workers
                cfg = parallel_config(backend="loky", n_jobs=workers, inner_max_num_threads=threads)
            try:
                with cfg, _interrupt_guard() as interrupted:
                    gen = Parallel(return_as="generator", n_jobs=n_jobs)(delayed(point)(items[i]) for i in todo)
                    try:
                        for i, res in zip(todo, gen, strict=False):
                            cache.put(keys[i], res)
                            out[i] = {k: np.asarray(v) for k, v in res.items()}
                            bar.update(1)
                    except BaseException:
                        if interrupted():
                            with contextlib.suppress(BaseException):
                                gen.close()  # abort the remaining jobs
                            _stop_workers(backend)
                            raise KeyboardInterrupt from None  # not the pool's secondary error
                        raise
            finally:
                if client is not None:
                    client.close()
    finally:
        bar.close()
    return out  # type: ignore[return-value]


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
        self.threads = check_int("threads", threads, 1)
        fork = sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork" if fork else "spawn")
        self._ex = concurrent.futures.ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_pool_worker,
                                                          initargs=(self.threads,))
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
                inner = self._ex.submit(_timed_call, fn, args)
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


def _timed_call(fn: Callable[..., Any], args: tuple) -> tuple[Any, float]:
    """(fn(*args), the CPU seconds it took in this process): runs in a `SharedPool` worker."""
    import time

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


def _pool_sweep(pool: SharedPool, point: _Point, items: list, keys: list[dict], todo: list[int],
                cache: PointCache, out: list, cost: Callable[[Any], float] | None, tag_of: str = "") -> None:
    """The points `todo` of a sweep on the shared pool: submitted at once (deduplicated on their
    function and key), cached and stored in `out` as they finish (results in item order)."""
    import concurrent.futures

    tag = f"{getattr(point.fn, '__module__', '')}.{getattr(point.fn, '__qualname__', repr(point.fn))}|{point.records}"
    futs = {}
    for i in todo:
        dedup = tag + "|" + PointCache._canonical(keys[i])
        c = math.inf if cost is None else float(cost(items[i]))
        futs[pool.submit(point, (items[i],), dedup, c, tag=tag_of)] = i
    with pool._cond:
        pool.bar.total += len(todo)
        pool.bar.refresh()
    for fut in concurrent.futures.as_completed(futs):
        i = futs[fut]
        res = fut.result()
        cache.put(keys[i], res)  # a shared run may be put twice (same key, same value): atomic, harmless
        out[i] = {k: np.array(v) for k, v in res.items()}  # a copy: a shared result is never aliased
        pool.bar.update(1)

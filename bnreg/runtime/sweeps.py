"""Sweeps: compute a function over many records, cached per record, on one process, local
processes, the shared pool or a Dask cluster, always with a progress bar.

A sweep item is a *record*: a JSON-able dict of keyword arguments.  `sweep(point, records,
cache=..., name=NAME)` computes `point(**record)` for every record and caches each result under
the key `{"figure": NAME, **record}` (`bnreg.runtime.cache.cache_key`), so the record is both the
call and the cache key, and an interrupted sweep resumes from its last finished point.

Two separate knobs: `workers` (sweep processes) and `threads` (threads inside each process,
`bnreg.runtime.threads`).  By default workers x threads never exceeds the cores
(`resolve_parallelism`).  No number depends on either.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from bnreg.errors import BnregError, ClusterLostError
from bnreg.params import ParameterError, check_choice, check_int

from .cache import PointCache, cache_key
from .pool import active_pool, die_with_parent, ignore_sigint_in_worker, pool_sweep
from .threads import cores as machine_cores
from .threads import thread_limits

__all__ = ["sweep", "resolve_parallelism", "resolve_backend", "dask_client", "BACKENDS", "DASK_CONNECT_TIMEOUT"]

DASK_CONNECT_TIMEOUT = 10.0  # seconds to reach a Dask scheduler before giving up with one line

BACKENDS = ("serial", "processes", "dask")
_BOUND: list[int | None] = [None]  # in a worker: the parent it has been bound to die with
_WARNED: set[str] = set()


MAX_WORKERS_PER_CORE = 8  # oversubscribing on purpose is allowed up to this many processes per core


def resolve_parallelism(workers: int | None = None, threads: int | None = None,
                        cores: int | None = None) -> tuple[int, int]:
    """(workers, threads) with the defaults filled in: workers 1, threads cores // workers (at
    least 1).  workers x threads > cores raises ParameterError unless both were given (None =
    not given); then it is allowed, with a one-line warning on stderr (once per process)."""
    cores = cores or machine_cores()
    w = 1 if workers is None else check_int("workers", workers, 1)
    if w > MAX_WORKERS_PER_CORE * cores:  # hundreds of ~200 MB processes on a few cores help no one
        raise ParameterError(f"workers must satisfy workers <= {MAX_WORKERS_PER_CORE} x the {cores} cores = "
                             f"{MAX_WORKERS_PER_CORE * cores} (got {w})")
    t = max(1, cores // w) if threads is None else check_int("threads", threads, 1, MAX_WORKERS_PER_CORE * cores)
    if w * t > cores:
        msg = f"workers x threads = {w} x {t} = {w * t} exceeds the {cores} cores"
        if workers is None or threads is None:
            raise ParameterError(f"{msg}; give both --workers and --threads to oversubscribe on purpose")
        if msg not in _WARNED:
            _WARNED.add(msg)
            print(f"bnreg: warning: {msg} (oversubscribed: expect slower, not different, results)", file=sys.stderr)
    return w, t


_ADDRESS = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$|^[^\s:/]+:\d{1,5}$")


def check_address(address: Any) -> str:
    """A Dask scheduler address as written, checked for its form before anything connects (also when
    nothing needs computing): "scheme://host:port" (or any "scheme://..." such as inproc://) or
    "host:port".  ParameterError naming the address otherwise."""
    if not isinstance(address, str) or not _ADDRESS.match(address.strip()):
        raise ParameterError(f"--address {address!r:.80} is not a Dask scheduler address; e.g. tcp://host:8786")
    return address.strip()


def dask_client(address: str | None, workers: int) -> Any:
    """A dask.distributed Client: of the scheduler at `address`, or of a local cluster of `workers`
    single-threaded processes.  ParameterError (one line naming the address and the cause) for an
    address that is not one, or a scheduler not reached within DASK_CONNECT_TIMEOUT seconds."""
    try:
        from dask.distributed import Client
    except ImportError as e:
        raise ParameterError("backend=dask needs `pip install 'bnreg[dask]'`") from e
    import gc

    # a Client left half-made by an earlier failed connection closes itself in __del__; run inside
    # the next Client's start-up (its loop lock held), that deadlocks (seen with distributed 2026.8):
    # finalize any such leftovers here, at a safe point
    gc.collect()
    if address is None:
        return Client(processes=True, n_workers=workers, threads_per_worker=1)
    # distributed logs every failed reconnection with its traceback; the failures it would report
    # are reported here, in one line each
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    try:
        client = Client(address, timeout=DASK_CONNECT_TIMEOUT)
    except (ValueError, TypeError) as e:
        raise ParameterError(f"--address {address!r} is not a Dask scheduler address ({e}); "
                             "e.g. tcp://host:8786") from None
    except (OSError, TimeoutError) as e:
        if address in _DASK_REACHED:  # it answered earlier in this run: the cluster was lost, not mistyped
            raise ClusterLostError(_lost(address, e)) from None
        raise ParameterError(f"cannot reach the Dask scheduler at --address {address}: {e}") from None
    if address not in _DASK_REACHED:
        try:  # a scheduler without workers would take the points and never return them
            client.wait_for_workers(1, timeout=DASK_CONNECT_TIMEOUT)
        except (OSError, TimeoutError):
            client.close()
            raise ParameterError(f"the Dask scheduler at --address {address} has no worker (waited "
                                 f"{DASK_CONNECT_TIMEOUT:g} s): start one, e.g. `dask worker {address}`") from None
    _DASK_REACHED.add(address)
    return client


_DASK_REACHED: set[str] = set()  # scheduler addresses this process has connected to


def _lost(address: str, cause: BaseException) -> str:
    why = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
    return (f"lost the Dask scheduler at --address {address} mid-run ({why}); the points finished so far "
            "are cached: start the cluster again and re-run to resume")


def resolve_backend(backend: str | None, workers: int) -> str:
    """The backend a sweep runs on: `backend`, or by default serial for one worker and local
    processes for more.  ParameterError for an unknown backend or serial with several workers."""
    if backend is None:
        return "serial" if workers == 1 else "processes"
    check_choice("backend", backend, BACKENDS)
    if backend == "serial" and workers > 1:
        raise ParameterError(f"backend serial runs one worker (got workers={workers}); use backend processes")
    return backend


class _Point:
    """The function a worker runs for one item: applies the thread setting inside the worker
    process (threads are per process: the parent's setting does not travel), then calls
    fn(**record) (record sweeps) or fn(item) (object sweeps with a key function).  Picklable.
    `parent`: the pid of the process that forked the workers (local processes only): a worker dies
    with it (`bnreg.runtime.pool.die_with_parent`)."""

    def __init__(self, fn: Callable[..., dict[str, Any]], threads: int | None, records: bool,
                 parent: int | None = None):
        self.fn, self.threads, self.records, self.parent = fn, threads, records, parent

    def __call__(self, item: Any) -> dict[str, Any]:
        if self.parent is not None and self.parent != os.getpid() and _BOUND[0] != self.parent:
            die_with_parent(self.parent)
            _BOUND[0] = self.parent
        if self.threads is not None:  # in a worker process: Ctrl-C is the parent's to handle
            ignore_sigint_in_worker()
        with thread_limits(self.threads):
            return self.fn(**item) if self.records else self.fn(item)


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
        threads = max(1, machine_cores() // workers)
    pool = active_pool() if backend == "processes" and address is None else None
    # on the shared pool, the workers' threads are set once (when the pool starts them)
    point = _Point(fn, None if pool is not None else threads, records,
                   os.getpid() if backend == "processes" and pool is None else None)

    out: list[dict[str, np.ndarray] | None] = [cache.get(k) for k in keys]
    todo = [i for i, r in enumerate(out) if r is None]
    if pool is not None:
        pool_sweep(pool, point, items, keys, todo, cache, out, cost, desc or name or "")
        return out  # type: ignore[return-value]
    bar = tqdm(total=len(items), initial=len(items) - len(todo), desc=desc or name or "sweep",
               disable=progress is False)
    try:
        if backend == "serial":  # in this process: the thread setting once, each point called directly
            with thread_limits(threads):
                for i in todo:
                    res = fn(**items[i]) if records else fn(items[i])
                    cache.put(keys[i], res)
                    out[i] = {k: np.asarray(v) for k, v in res.items()}
                    bar.update(1)
        else:
            from joblib import Parallel, delayed, parallel_config

            if backend == "dask":
                client = dask_client(address, workers)
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
                    except BaseException as e:
                        if client is not None and address is not None and not interrupted() \
                                and not isinstance(e, BnregError) and client.status != "running":
                            raise ClusterLostError(_lost(address, e)) from None
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



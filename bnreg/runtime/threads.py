"""The one owner of every thread setting: Monte-Carlo chunks, numba, BLAS and the CNN's part pool.

One number, `threads`, says how many threads a process may use, and it is applied everywhere at
once: the Monte-Carlo chunk runner (`bnreg.runtime.mc.run_chunks`), numba's parallel kernels,
the BLAS library (threadpoolctl) and the coarse part pool of the CNN library
(`bnreg.runtime.parts.run_parts`).  Set it for a block with `thread_limits(n)`, for a worker's
whole life with `apply_threads(n)`; read it with `get_threads()`.  The setting of a process:

    a command's --threads (applied by `bnreg.testing.runner.run_suite`, `bnreg.runtime.sweeps.sweep`,
      the shared pool's workers and `bnreg cnn`), else
    in a sweep's worker processes: cores // workers (`bnreg.runtime.sweeps.resolve_parallelism`), else
    `bnreg cnn`: 1 (its runs are small; parallelism comes from running several), else
    the environment variable BNREG_THREADS, else every core.

`one_blas_thread()` pins BLAS alone to one thread where a computation parallelizes itself (small
solves, parts) or must round the same on any machine.

No number depends on the setting: chunks and parts are fixed by the problem size and reduced in
a fixed order.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bnreg.params import check_int

__all__ = ["get_threads", "set_threads", "thread_limits", "apply_threads", "one_blas_thread",
           "threadpool_controller", "cores", "fit_memory_limit", "check_environment", "max_threads"]

_THREADS: list[int | None] = [None]  # the process's setting; None: BNREG_THREADS or all cores


def cores() -> int:
    """The cores of this machine (os.cpu_count(), at least 1)."""
    return os.cpu_count() or 1


MAX_THREADS_PER_CORE = 8  # oversubscribing on purpose is allowed up to this many threads per core


def max_threads() -> int:
    """The largest thread count accepted anywhere (8 per core): far beyond it a thread pool is a
    mistake (and above 2^63 the C libraries cannot even take the number)."""
    return MAX_THREADS_PER_CORE * cores()


def get_threads() -> int:
    """Threads of this process: the current setting, else BNREG_THREADS (an integer >= 1; anything
    else is a ParameterError, i.e. one line and exit 2 from the CLI), else all cores."""
    if _THREADS[0] is not None:
        return _THREADS[0]
    env = os.environ.get("BNREG_THREADS", "").strip()
    return check_int("BNREG_THREADS", env, 1, max_threads()) if env else cores()


def check_environment() -> None:
    """Validate BNREG_THREADS (when set: an integer >= 1) whatever the current setting: every entry
    point (the CLI, bnreg.verify, make_figures) calls this first, so a bad value is one
    ParameterError before any work, also in a long-lived process whose setting hides it."""
    env = os.environ.get("BNREG_THREADS", "").strip()
    if env:
        check_int("BNREG_THREADS", env, 1, max_threads())


def set_threads(n: int | None) -> int | None:
    """Set the threads the chunk runner and the part pool use (None: back to the default) and
    return the previous setting.  numba and BLAS are set by `thread_limits`/`apply_threads`."""
    old = _THREADS[0]
    _THREADS[0] = None if n is None else check_int("threads", n, 1, max_threads())
    return old


def _set_numba(n: int) -> int:
    import numba

    old = numba.get_num_threads()
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    return old


@contextmanager
def thread_limits(threads: int | None) -> Iterator[None]:
    """Run the block with `threads` threads everywhere (chunk runner, part pool, numba, BLAS);
    every setting is restored on exit.  None: change nothing."""
    if threads is None:
        yield
        return
    n = check_int("threads", threads, 1, max_threads())
    old = set_threads(n)
    old_nb = _set_numba(n)
    try:
        ctl = threadpool_controller()
        if ctl is None:  # pragma: no cover - threadpoolctl is a dependency
            yield
        else:
            with ctl.limit(limits=n, user_api="blas"):
                yield
    finally:
        _set_numba(old_nb)
        set_threads(old)


_WORKER_LIMITS: list[Any] = []


def apply_threads(threads: int) -> None:
    """`threads` threads everywhere for the rest of this process's life (a pool worker's
    initializer: set once, not per point)."""
    n = check_int("threads", threads, 1, max_threads())
    set_threads(n)
    _set_numba(n)
    ctl = threadpool_controller()
    if ctl is not None:
        _WORKER_LIMITS.append(ctl.limit(limits=n))  # kept: in force until the process exits


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


_BLAS: list[Any] = []


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS limited to one thread in the block (restored after).  Used where the caller's own
    parts parallelize (nested BLAS threads oversubscribe), for small solves where threads cost more
    than they gain, and where float32 GEMMs must round the same on any thread count."""
    if not _BLAS or _BLAS[0][0] != os.getpid():
        ctl = threadpool_controller()
        _BLAS[:] = [(os.getpid(), [] if ctl is None else ctl.select(user_api="blas").lib_controllers)]
    libs = _BLAS[0][1]
    old = [lib.num_threads for lib in libs]
    for lib in libs:
        lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, n in zip(libs, old, strict=True):
            lib.set_num_threads(n)


def fit_memory_limit() -> bool:
    """Under an address-space limit (`ulimit -v`), keep every thread on glibc's main malloc arena.

    glibc reserves 64 MB of address space for each thread's own malloc arena; with a few numba,
    BLAS and pool threads that alone exhausts a limit of some hundred MB, and glibc then kills the
    process from inside thread creation ("cannot allocate memory for thread-local data", exit 127:
    no Python error to report).  One arena costs a little lock contention and nothing else.  Set for
    this process (mallopt) and, through MALLOC_ARENA_MAX, for the worker processes it starts (unless
    the user set it).  Returns whether a limit was found; a no-op without one or off glibc."""
    try:
        import ctypes
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft == resource.RLIM_INFINITY:
            return False
        os.environ.setdefault("MALLOC_ARENA_MAX", "1")
        ctypes.CDLL("libc.so.6").mallopt(-8, int(os.environ["MALLOC_ARENA_MAX"]))  # -8: M_ARENA_MAX
        return True
    except (ImportError, OSError, ValueError, AttributeError):  # not Linux/glibc, or a bad MALLOC_ARENA_MAX
        return False

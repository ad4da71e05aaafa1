"""The engine beneath the science: threads, random streams, the Monte-Carlo chunk runner, atomic
files, the point cache, sweeps and the shared worker pool.

Nothing here knows a formula or a simulation; `bnreg.sims` (what is simulated), `bnreg.figures`
and `bnreg.testing` (the judge of the checks) run on it.  One module per job:

- `threads`  the one owner of every thread setting (chunk runner, numba, BLAS, part pool);
- `parts`    coarse parallel parts with results independent of the thread count;
- `rng`      how a seed becomes streams (the one seed rule);
- `mc`       `MCResult` and the chunked Monte-Carlo runner with jackknife errors;
- `files`    atomic writes and early writability checks;
- `cache`    the validated on-disk cache of finished points;
- `pool`     the shared pool of worker processes;
- `sweeps`   a function over many records: serial, processes, shared pool or Dask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cache import PointCache, cache_key, code_version
    from .files import check_output_file, check_writable, json_safe, write_atomic, write_json
    from .mc import MCResult, jackknife, mc_from_values, run_chunks, split_batches, stop_requested
    from .parts import MAX_PARTS, n_parts, run_parts
    from .pool import SharedPool, active_pool, shared_pool
    from .rng import chunk_generators, derive_seed
    from .sweeps import BACKENDS, resolve_backend, resolve_parallelism, sweep
    from .threads import apply_threads, get_threads, one_blas_thread, set_threads, thread_limits, threadpool_controller

# name -> the module that holds it; loaded on first use, so that `bnreg --help` stays fast
_HOMES = {
    **dict.fromkeys(("get_threads", "set_threads", "thread_limits", "apply_threads", "one_blas_thread",
                     "threadpool_controller"), "threads"),
    **dict.fromkeys(("MAX_PARTS", "n_parts", "run_parts"), "parts"),
    **dict.fromkeys(("chunk_generators", "derive_seed"), "rng"),
    **dict.fromkeys(("MCResult", "run_chunks", "stop_requested", "jackknife", "mc_from_values", "split_batches"),
                    "mc"),
    **dict.fromkeys(("write_atomic", "write_json", "json_safe", "check_writable", "check_output_file"), "files"),
    **dict.fromkeys(("PointCache", "cache_key", "code_version"), "cache"),
    **dict.fromkeys(("SharedPool", "shared_pool", "active_pool"), "pool"),
    **dict.fromkeys(("sweep", "resolve_parallelism", "resolve_backend", "BACKENDS"), "sweeps"),
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'bnreg.runtime' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(__all__) | set(_HOMES.values()))


__all__ = [
    "get_threads", "set_threads", "thread_limits", "apply_threads", "one_blas_thread", "threadpool_controller",
    "MAX_PARTS", "n_parts", "run_parts",
    "chunk_generators", "derive_seed",
    "MCResult", "run_chunks", "stop_requested", "jackknife", "mc_from_values", "split_batches",
    "write_atomic", "write_json", "json_safe", "check_writable", "check_output_file",
    "PointCache", "cache_key", "code_version",
    "SharedPool", "shared_pool", "active_pool",
    "sweep", "resolve_parallelism", "resolve_backend", "BACKENDS",
]

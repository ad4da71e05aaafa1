"""Compose a figure: spec -> compute (cached, parallel, progress) -> plot -> _io.save."""

from __future__ import annotations

import hashlib
import importlib
import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from bnreg.params import ParameterError, check_int
from bnreg.runtime import PointCache, check_writable, resolve_backend, resolve_parallelism, shared_pool
from bnreg.runtime.rng import MAX_SEED
from bnreg.runtime.sweeps import check_address
from bnreg.runtime.threads import check_environment

from . import FIGURE_MODULES
from ._io import outputs_for, save, up_to_date

__all__ = ["figure_module", "make_figure", "make_figures", "DEFAULT_SEED"]

DEFAULT_SEED = 2019


def figure_module(name: str) -> ModuleType:
    if not isinstance(name, str) or name not in FIGURE_MODULES:
        raise ParameterError(f"unknown figure {name!r:.60}; known: {', '.join(FIGURE_MODULES)}")
    return importlib.import_module(f"bnreg.figures.{name}")


def _prepare(name: str, scale: str, out: str | Path, force: bool, seed: int, session: str | None = None
             ) -> tuple[ModuleType, dict[str, Any], dict[str, Any], PointCache, Path] | dict[str, Any]:
    """Validate one figure's request: (module, spec, meta, point cache, out dir), or its status
    dict if its outputs are up to date.  With `force` the figure's cache is not read, and its
    shared cache (training runs, `PointCache.shared`) returns only runs of `session` (this
    invocation)."""
    mod = figure_module(name)
    if not isinstance(scale, str) or scale not in mod.SCALES:
        raise ParameterError(f"scale must be one of {', '.join(mod.SCALES)} (got {scale!r})")
    spec = mod.SCALES[scale]
    out = check_writable(out)  # before any work
    meta = {"figure": name, "title": mod.TITLE, "scale": scale, "spec": spec, "seed": seed}
    if not force and up_to_date(out, name, meta):
        return {"name": name, "status": "up to date", "files": [str(f) for f in outputs_for(out, name)]}
    # the figure module's own source joins the cache version (sims/theory are in code_version)
    salt = hashlib.sha256(Path(mod.__file__).read_bytes()).hexdigest()[:12]
    cache = PointCache(out / ".cache" / name, enabled=not force, salt=salt,
                       session=(session or uuid.uuid4().hex) if force else None)
    return mod, spec, meta, cache, out


def _plot_and_save(name: str, data: dict[str, Any], meta: dict[str, Any], out: Path, t0: float | None = None
                   ) -> list[str]:
    """Plot `data` with figure `name`'s module and write its four files (`_io.save`); meta gets
    "elapsed_s" (since `t0`, perf_counter, including the plot) if t0 is given.  Module-level so
    that a worker process can run it."""
    mod = figure_module(name)
    fig = mod.plot(data)
    if t0 is not None:
        meta = {**meta, "elapsed_s": round(time.perf_counter() - t0, 3)}
    return [str(f) for f in save(fig, data, meta, out, name)]


def _datasets(spec: Any) -> set[str]:
    """The values of every "dataset" field in a figure spec (nested dicts and lists included)."""
    if isinstance(spec, dict):
        found = {spec["dataset"]} if isinstance(spec.get("dataset"), str) else set()
        return found.union(*(_datasets(v) for v in spec.values()))
    if isinstance(spec, (list, tuple)):
        return set().union(*(_datasets(v) for v in spec))
    return set()


def _check_out_and_address(out: Any, backend: str | None, address: str | None) -> None:
    """The API's twin of the CLI's checks: `out` a path (`_prepare` proves it writable before any
    work) and a scheduler address only with the Dask backend."""
    if not isinstance(out, (str, os.PathLike)):
        raise ParameterError(f"out must be a directory path (got {type(out).__name__} {out!r:.40})")
    if address is not None and backend != "dask":
        raise ParameterError("address is a Dask scheduler's: give it with backend='dask'")
    if address is not None:
        check_address(address)  # also when every figure is up to date and nothing connects


def make_figure(
    name: str,
    scale: str = "default",
    out: str | Path = "bnreg-figures",
    *,
    force: bool = False,
    seed: int = DEFAULT_SEED,
    workers: int | None = None,
    threads: int | None = None,
    backend: str | None = None,
    address: str | None = None,
    progress: bool | None = None,
    session: str | None = None,
) -> dict[str, Any]:
    """Regenerate one figure unless its outputs exist for the same spec (then return at once).
    Finished MC points are cached under OUT/.cache/NAME, so an interrupted run resumes.

    workers: sweep processes (default 1, or one per core for figures whose points are
    single-threaded, `SERIAL_POINTS`, except at the quick scale; backend None: serial for 1, local
    processes for more); threads: MC/numba/BLAS threads in each of them (default cores // workers).  By default
    workers x threads never exceeds the cores (`bnreg.runtime.sweeps.resolve_parallelism`).
    Neither changes a number.  (Several figures at once: `make_figures`, which shares the cores
    between them.)  session: with force, training runs made under the same session string (by
    earlier figures of one run) are reused (None: a fresh session)."""
    mod = figure_module(name)
    check_environment()
    _check_out_and_address(out, backend, address)
    if workers is None and threads is None and getattr(mod, "SERIAL_POINTS", False) and scale != "quick":
        # single-threaded points: one process per core (at --quick, starting processes costs more)
        workers = resolve_parallelism()[1]
    workers, threads = resolve_parallelism(workers, threads)
    backend = resolve_backend(backend, workers)
    seed = check_int("seed", seed, 0, MAX_SEED)
    prep = _prepare(name, scale, out, force, seed, session)
    if isinstance(prep, dict):
        return prep
    mod, spec, meta, cache, out = prep
    t0 = time.perf_counter()
    data = mod.compute(spec, seed, cache, workers=workers, threads=threads, backend=backend, address=address,
                       progress=progress)
    fig = mod.plot(data)
    elapsed = time.perf_counter() - t0
    run = {"elapsed_s": round(elapsed, 3), "workers": workers, "threads": threads, "backend": backend}
    written = save(fig, data, {**meta, **run}, out, name)
    return {"name": name, "status": "written", "elapsed_s": elapsed, "files": [str(f) for f in written]}


def make_figures(
    names: Sequence[str],
    scale: str = "default",
    out: str | Path = "bnreg-figures",
    *,
    force: bool = False,
    seed: int = DEFAULT_SEED,
    workers: int | None = None,
    threads: int | None = None,
    backend: str | None = None,
    address: str | None = None,
    progress: bool | None = None,
    report: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Regenerate the figures `names` (options as `make_figure`), sharing the cores between them.

    With more than one core, no backend and (if given) workers > 1, the figures compute at the
    same time (one thread each in this process) and every sweep point and every plot runs on one
    pool of `workers` processes (default: one per core) with `threads` threads each (default
    cores // workers), longest runs first (`bnreg.runtime.pool.shared_pool`): no core idles while
    any figure has work left, and a run two figures share (same config, same cache key) trains
    once.  Otherwise the figures run one after another (`make_figure`).  No number depends on
    either.  `report(status)` is called as each figure finishes; returns the statuses in the order
    of `names`."""
    if report is not None and not callable(report):
        raise ParameterError(f"report must be a function of the status dict, or None (got {type(report).__name__})")
    if isinstance(names, (str, bytes)) or not isinstance(names, Sequence):
        raise ParameterError(f"names must be a list of figure names (got {type(names).__name__} {names!r:.40})")
    names = list(names)
    for n in names:
        figure_module(n)  # validate every name before any work
    check_environment()
    _check_out_and_address(out, backend, address)
    seed = check_int("seed", seed, 0, MAX_SEED)
    if workers is not None:
        workers = check_int("workers", workers, 1)
    if threads is not None:
        threads = check_int("threads", threads, 1)
    cores = os.cpu_count() or 1
    w, t = resolve_parallelism(workers if workers is not None else max(1, cores // (threads or 1)), threads)
    session = uuid.uuid4().hex  # --force: the figures of this run share their training runs, nothing older
    if backend is not None or address is not None or w == 1 or not names:
        results = []
        for n in names:
            results.append(make_figure(n, scale, out, force=force, seed=seed, workers=workers, threads=threads,
                                       backend=backend, address=address, progress=progress, session=session))
            if report is not None:
                report(results[-1])
        return results
    preps = {n: _prepare(n, scale, out, force, seed, session) for n in names}
    results: dict[str, dict[str, Any]] = {n: p for n, p in preps.items() if isinstance(p, dict)}
    for r in results.values():
        if report is not None:
            report(r)
    todo = [n for n in names if n not in results]
    if not todo:
        return [results[n] for n in names]
    if any("mnist1d" in _datasets(preps[n][1]) for n in todo):  # type: ignore[index]
        # generated once here (seconds of pure Python), inherited by the forked workers: not once per worker
        from bnreg.sims.nn.data import load_dataset

        load_dataset("mnist1d", 1, 1)
    errors: list[BaseException] = []
    reported: set[str] = set()
    done = threading.Condition()
    with shared_pool(w, t, progress, desc="figures") as pool:
        def one(n: str) -> None:
            try:
                mod, spec, meta, cache, odir = preps[n]  # type: ignore[misc]
                t0 = time.perf_counter()
                data = mod.compute(spec, seed, cache, workers=w, threads=t, backend="processes", address=None,
                                   progress=progress)
                meta = {**meta, "workers": w, "threads": t, "backend": "processes"}
                # plots first: a figure is written as soon as its points are done
                files = pool.submit(_plot_and_save, (n, data, meta, odir, t0), cost=math.inf, tag=n).result()
                r = {"name": n, "status": "written", "elapsed_s": time.perf_counter() - t0, "files": files,
                     "worker_cpu_s": pool.cpu.get(n, 0.0)}
            except BaseException as e:  # noqa: BLE001 - handed to the main thread
                with done:
                    errors.append(e)
                    done.notify_all()
                return
            with done:
                results[n] = r
                done.notify_all()

        for n in todo:
            threading.Thread(target=one, args=(n,), name=f"bnreg-figure-{n}", daemon=True).start()
        with done:
            while not errors and not all(n in results for n in todo):
                done.wait(0.5)
                for n in todo:
                    if n in results and report is not None and n not in reported:
                        reported.add(n)
                        pool.bar.clear()
                        report(results[n])
                        pool.bar.refresh()
        if errors:
            raise errors[0]
    return [results[n] for n in names]

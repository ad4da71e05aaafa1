"""Compose a figure: spec -> compute (cached, parallel, progress) -> plot -> _io.save."""

from __future__ import annotations

import hashlib
import importlib
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from bnreg.sims.executor import PointCache, resolve_backend, resolve_parallelism
from bnreg.sims.files import check_writable
from bnreg.theory.params import ParameterError

from . import FIGURE_MODULES
from ._io import outputs_for, save, up_to_date

__all__ = ["figure_module", "make_figure", "DEFAULT_SEED"]

DEFAULT_SEED = 2019


def figure_module(name: str) -> ModuleType:
    if name not in FIGURE_MODULES:
        raise ParameterError(f"unknown figure {name!r}; known: {', '.join(FIGURE_MODULES)}")
    return importlib.import_module(f"bnreg.figures.{name}")


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
) -> dict[str, Any]:
    """Regenerate one figure unless its outputs exist for the same spec (then return at once).
    Finished MC points are cached under OUT/.cache/NAME, so an interrupted run resumes.

    workers: sweep processes (default 1, or one per core for figures whose points are
    single-threaded, `SERIAL_POINTS`, except at the quick scale; backend None: serial for 1, local
    processes for more); threads: MC/numba/BLAS threads in each of them (default cores // workers).  By default
    workers x threads never exceeds the cores (`bnreg.sims.executor.resolve_parallelism`).
    Neither changes a number."""
    mod = figure_module(name)
    if workers is None and threads is None and getattr(mod, "SERIAL_POINTS", False) and scale != "quick":
        # single-threaded points: one process per core (at --quick, starting processes costs more)
        workers = resolve_parallelism()[1]
    workers, threads = resolve_parallelism(workers, threads)
    backend = resolve_backend(backend, workers)
    if scale not in mod.SCALES:
        raise ParameterError(f"scale must be one of {', '.join(mod.SCALES)} (got {scale!r})")
    spec = mod.SCALES[scale]
    out = check_writable(out)  # before any work
    files = outputs_for(out, name)
    meta = {"figure": name, "title": mod.TITLE, "scale": scale, "spec": spec, "seed": seed}
    if not force and up_to_date(out, name, meta):
        return {"name": name, "status": "up to date", "files": [str(f) for f in files]}
    t0 = time.perf_counter()
    # the figure module's own source joins the cache version (sims/theory are in code_version)
    salt = hashlib.sha256(Path(mod.__file__).read_bytes()).hexdigest()[:12]
    cache = PointCache(out / ".cache" / name, enabled=not force, salt=salt)
    data = mod.compute(spec, seed, cache, workers=workers, threads=threads, backend=backend, address=address,
                       progress=progress)
    fig = mod.plot(data)
    elapsed = time.perf_counter() - t0
    run = {"elapsed_s": round(elapsed, 3), "workers": workers, "threads": threads, "backend": backend}
    written = save(fig, data, {**meta, **run}, out, name)
    return {"name": name, "status": "written", "elapsed_s": elapsed, "files": [str(f) for f in written]}

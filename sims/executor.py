"""Caching of finished points and parallel sweeps.

Cache entries are `.npz` files read with allow_pickle=False (no pickle loading, ever) next to a
`.json` copy of their key, so an interrupted sweep resumes from its last finished point.
Sweeps run serially, on local processes (joblib/loky) or on a Dask cluster
(`backend="dask"`, `address=` the scheduler), always with a progress bar.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from bnreg.theory.params import ParameterError

__all__ = ["PointCache", "sweep"]


def _key_hash(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:20]


class PointCache:
    """Maps a JSON-able key to a dict of numpy arrays / floats stored on disk."""

    def __init__(self, root: str | os.PathLike | None, enabled: bool = True):
        self.root = Path(root) if root is not None else None
        self.enabled = enabled and root is not None

    def _path(self, key: dict) -> Path:
        assert self.root is not None
        return self.root / f"{_key_hash(key)}.npz"

    def get(self, key: dict) -> dict[str, np.ndarray] | None:
        if not self.enabled:
            return None
        path = self._path(key)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except Exception:  # noqa: BLE001 - any unreadable entry (torn write, corruption) is a miss
            return None

    def put(self, key: dict, value: dict[str, Any]) -> None:
        if self.root is None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        path = self._path(key)
        arrays = {k: np.asarray(v) for k, v in value.items()}
        # Write-then-rename so an interruption never leaves a half-written entry.
        fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".tmp.npz")
        os.close(fd)
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
        path.with_suffix(".json").write_text(json.dumps(key, sort_keys=True, default=str, indent=1))

    def cached(self, key: dict, fn: Callable[[], dict[str, Any]]) -> dict[str, np.ndarray]:
        hit = self.get(key)
        if hit is not None:
            return hit
        value = fn()
        self.put(key, value)
        return {k: np.asarray(v) for k, v in value.items()}


def sweep(
    fn: Callable[[Any], dict[str, Any]],
    items: Iterable[Any],
    key: Callable[[Any], dict],
    cache: PointCache,
    jobs: int = 1,
    backend: str = "serial",
    address: str | None = None,
    desc: str = "sweep",
    progress: bool | None = None,
) -> list[dict[str, np.ndarray]]:
    """[fn(item) for item in items], cached per item, run on `backend`
    (serial | processes | dask).  Results are in item order."""
    items = list(items)
    out: list[dict[str, np.ndarray] | None] = [cache.get(key(it)) for it in items]
    todo = [i for i, r in enumerate(out) if r is None]
    bar = tqdm(total=len(items), initial=len(items) - len(todo), desc=desc, disable=progress is False)
    try:
        if backend == "serial" or jobs == 1 and backend != "dask":
            for i in todo:
                out[i] = cache.cached(key(items[i]), lambda i=i: fn(items[i]))
                bar.update(1)
        elif backend in ("processes", "dask"):
            from joblib import Parallel, delayed, parallel_config

            if backend == "dask":
                try:
                    from dask.distributed import Client
                except ImportError as e:
                    raise ParameterError("backend=dask needs `pip install 'bnreg[dask]'`") from e
                client = Client(address) if address else Client(processes=True, n_workers=jobs)
                cfg = parallel_config(backend="dask")
            else:
                client, cfg = None, parallel_config(backend="loky", n_jobs=jobs)
            try:
                with cfg:
                    gen = Parallel(return_as="generator", n_jobs=jobs if backend != "dask" else -1)(
                        delayed(fn)(items[i]) for i in todo)
                    for i, res in zip(todo, gen, strict=False):
                        cache.put(key(items[i]), res)
                        out[i] = {k: np.asarray(v) for k, v in res.items()}
                        bar.update(1)
            finally:
                if client is not None:
                    client.close()
        else:
            raise ParameterError(f"backend must be one of serial, processes, dask (got {backend!r})")
    finally:
        bar.close()
    return out  # type: ignore[return-value]

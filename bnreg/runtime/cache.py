"""The point cache: finished results on disk, keyed by what computed them, validated on load.

A key is a JSON-able dict (a sweep record plus its namespace, `cache_key`); an entry is one `.npz`
read with allow_pickle=False (no pickle loading, ever) that also stores its own key, the code
version that made it and a digest of its arrays, next to a `.json` copy of the key for people.
An interrupted run loses no finished point; a damaged, foreign, stale or edited entry is a miss.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bnreg.errors import OutputError, ParameterError

from .files import write_atomic

__all__ = ["PointCache", "code_version", "cache_key", "CODE_PACKAGES"]

# what computes a cached result: its source is part of every entry's version (`code_version`)
CODE_PACKAGES = ("bnreg.theory", "bnreg.sims", "bnreg.runtime", "bnreg.params")


def _key_hash(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:20]


@functools.cache
def code_version() -> str:
    """A hash of the source that computes cached results: the packages bnreg.theory and bnreg.sims,
    this engine (bnreg.runtime) and the parameter module bnreg.params.  A cache entry made by other
    code is stale (a miss), so a fixed bug never survives in a cache.  (The caller adds its own
    source, e.g. the figure module's, as the cache's `salt`.)  The packages are located by name,
    not imported: the engine depends on no science module, it only fingerprints their files."""
    import importlib.util

    h = hashlib.sha256()
    for name in CODE_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None:  # pragma: no cover - every package ships with bnreg
            continue
        if spec.submodule_search_locations:
            files = [(Path(root), f) for root in spec.submodule_search_locations
                     for f in sorted(Path(root).rglob("*.py"))]
        else:
            files = [(Path(spec.origin).parent, Path(spec.origin))]
        for base, f in files:
            h.update(f"{name}/{f.relative_to(base).as_posix()}".encode())
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
            raise ParameterError(f"{_META} is a reserved result name")
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
            raise OutputError(f"cannot write the cache entry {path}: {e.strerror or e}") from None
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

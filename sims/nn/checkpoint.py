"""Checkpoints of a training run: npz files (``allow_pickle=False``), written atomically.

A checkpoint holds the config (JSON), the step, the metric history (JSON), a done flag and the
full numeric state of the model and the optimizer: every array, numpy Generator/RandomState and
Python number reachable from them (`capture_state`), without a state_dict API on the model.  A run
resumed from it continues bit-identically (docs/cnn.md, "Checkpoints / cache").
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bnreg.errors import OutputError, ParameterError

from .config import CNNConfig

__all__ = ["checkpoint_path", "save_checkpoint", "load_checkpoint", "capture_state", "restore_state"]


def checkpoint_path(checkpoint_dir: str | os.PathLike, cfg: CNNConfig) -> Path:
    """The checkpoint file of `cfg` in `checkpoint_dir` (named by `cfg.key()`)."""
    return Path(checkpoint_dir) / f"cnn_{cfg.key()}.npz"


def save_checkpoint(path: Path, cfg: CNNConfig, step: int, state: dict[str, np.ndarray],
                    hist: dict[str, Any], done: bool) -> None:
    """Write `state` (from `capture_state`), the config, the step, the JSON-able history `hist` and
    whether the run is `done` to `path` atomically (a temporary file renamed over it).  An OS error
    (full disk, read-only directory) is one OutputError naming the path, and leaves no temporary file."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, __config__=np.array(json.dumps(cfg.to_dict(), sort_keys=True)), __step__=np.array(step),
                     __done__=np.array(done), __hist__=np.array(json.dumps(hist)), **state)
        os.replace(tmp, path)  # never a half-written checkpoint
        tmp = None
    except OSError as e:
        raise OutputError(f"cannot write the checkpoint {path}: {e.strerror or e}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def load_checkpoint(path: Path, cfg: CNNConfig) -> tuple[int, dict[str, np.ndarray], dict, bool] | None:
    """(step, state, history, done) saved at `path` for this very `cfg`; None when there is no
    checkpoint, it belongs to another config, or it cannot be read (a fresh start, never a crash)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if json.loads(str(z["__config__"])) != json.loads(json.dumps(cfg.to_dict(), sort_keys=True)):
                return None
            state = {k: z[k] for k in z.files if not k.startswith("__")}
            return int(z["__step__"]), state, json.loads(str(z["__hist__"])), bool(z["__done__"])
    except Exception:  # noqa: BLE001 - an unreadable checkpoint is a fresh start, never a crash
        return None


_STATE_TYPES = (np.ndarray, np.random.Generator, np.random.RandomState)


def _walk_state(obj: Any, prefix: str, out: dict[str, Any], seen: set[int]) -> None:
    """Collect every numpy array / generator reachable from obj's attributes, lists, tuples and
    dicts, under deterministic dotted paths (the model's and optimizer's full state, without
    requiring a state_dict API from them)."""
    if id(obj) in seen:
        return
    if isinstance(obj, _STATE_TYPES):
        seen.add(id(obj))
        out[prefix] = obj
        return
    if isinstance(obj, (str, bytes, int, float, bool, type(None), np.generic)) or callable(obj) and not hasattr(
            obj, "__dict__"):
        return
    seen.add(id(obj))
    if isinstance(obj, dict):
        items = [(str(k), v) for k, v in obj.items()]
    elif isinstance(obj, (list, tuple)):
        items = [(str(i), v) for i, v in enumerate(obj)]
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        items = list(vars(obj).items())
    else:
        return
    for k, v in items:
        _walk_state(v, f"{prefix}.{k}" if prefix else k, out, seen)


def _scalar_state(obj: Any, prefix: str, out: dict[str, Any], seen: set[int]) -> None:
    """Python int/float attributes (step counters, running scalars) reachable from obj."""
    if id(obj) in seen or isinstance(obj, (*_STATE_TYPES, type)):
        return
    seen.add(id(obj))
    if isinstance(obj, dict):
        items = [(str(k), v) for k, v in obj.items()]
    elif isinstance(obj, list):  # lists are walked for the objects they hold, not for bare numbers
        items = [(str(i), v) for i, v in enumerate(obj) if not isinstance(v, (bool, int, float, np.generic))]
    elif hasattr(obj, "__dict__"):
        items = list(vars(obj).items())
    else:
        return
    for k, v in items:
        path = f"{prefix}.{k}" if prefix else k
        if isinstance(v, (bool, int, float, np.generic)):
            out[path] = (obj, k, v)
        elif isinstance(v, (dict, list)) or hasattr(v, "__dict__"):
            _scalar_state(v, path, out, seen)


def capture_state(objs: dict[str, Any]) -> dict[str, np.ndarray]:
    """The full numeric state of `objs` (name -> object, e.g. {"model": ..., "opt": ...}): every
    array, numpy Generator/RandomState and Python number reachable from them, as a flat dict of
    arrays keyed "a:" (array), "g:"/"r:" (generator state as JSON), "s:" (scalar) + dotted path.
    `restore_state` puts it back."""
    arrays: dict[str, Any] = {}
    scalars: dict[str, Any] = {}
    seen: set[int] = set()
    for name, o in objs.items():
        _walk_state(o, name, arrays, seen)
    seen = set()
    for name, o in objs.items():
        _scalar_state(o, name, scalars, seen)
    out: dict[str, np.ndarray] = {}
    for k, v in arrays.items():
        if isinstance(v, np.ndarray):
            out["a:" + k] = v
        elif isinstance(v, np.random.Generator):
            out["g:" + k] = np.array(json.dumps(v.bit_generator.state))
        else:
            out["r:" + k] = np.array(json.dumps(v.get_state(legacy=False), default=_json_np))
    for k, (_, _, v) in scalars.items():
        out["s:" + k] = np.array(v)
    return out


def _json_np(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(type(x))


def _resolve(objs: dict[str, Any], path: str) -> tuple[Any, str]:
    """(owner, last key) of a dotted state path; raises KeyError/AttributeError if absent."""
    parts = path.split(".")
    obj = objs[parts[0]]
    for p in parts[1:-1]:
        if isinstance(obj, dict):
            obj = obj.setdefault(p, {})  # per-layer dicts filled lazily (e.g. PN statistics)
        elif isinstance(obj, (list, tuple)):
            obj = obj[int(p)]
        else:
            obj = getattr(obj, p)
    return obj, parts[-1]


def _get(owner: Any, key: str) -> Any:
    if isinstance(owner, (list, tuple)):
        return owner[int(key)]
    return owner.get(key) if isinstance(owner, dict) else getattr(owner, key, None)


def _set(owner: Any, key: str, value: Any) -> None:
    if isinstance(owner, list):
        owner[int(key)] = value
    elif isinstance(owner, dict):
        owner[key] = value
    elif dataclasses.is_dataclass(owner) and owner.__dataclass_params__.frozen:  # type: ignore[union-attr]
        object.__setattr__(owner, key, value)
    else:
        setattr(owner, key, value)


def restore_state(objs: dict[str, Any], saved: dict[str, np.ndarray]) -> None:
    """Put a `capture_state` result back into `objs` (the same names): arrays in place when the
    shapes agree (keeps aliasing between model and optimizer), else by assignment (lazily created
    buffers, caches).  Raises ParameterError when the saved state does not fit `objs`."""
    try:
        for k, v in saved.items():
            kind, path = k.split(":", 1)
            owner, key = _resolve(objs, path)
            cur = _get(owner, key)
            if kind == "a":
                # in place only into arrays the model owns (a cache may be a view of the caller's data)
                if isinstance(cur, np.ndarray) and cur.shape == v.shape and cur.dtype == v.dtype \
                        and cur.flags.writeable and cur.base is None:
                    cur[...] = v
                else:
                    _set(owner, key, np.array(v))
            elif kind == "g":
                cur.bit_generator.state = json.loads(str(v))
            elif kind == "r":
                st = json.loads(str(v))
                st["state"]["key"] = np.array(st["state"]["key"], dtype=np.uint32)
                cur.set_state(st)
            else:
                val = v.item()
                if cur is not None and type(cur) in (bool, int, float):
                    val = type(cur)(val)
                if cur != val:
                    _set(owner, key, val)
    except (KeyError, AttributeError, IndexError, TypeError, ValueError) as e:
        raise ParameterError(f"checkpoint does not match this model ({e}); delete it to start over") from None

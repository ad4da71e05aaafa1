"""Writing results safely: the one home of atomic writes and early writability checks, used by the
point cache, the figure files and the command line (`--out`, `--json`, `--checkpoint-dir`).

Every file is written to a temporary name in its directory and renamed into place, so a reader
sees the old file or the new one, never half of one; a failure (full disk, read-only directory)
is a one-line OutputError naming the path and leaves no temporary file behind."""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

from bnreg.errors import OutputError

__all__ = ["write_atomic", "check_writable", "check_output_file", "json_safe", "write_json"]


def write_atomic(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write `data` to `path` so that a reader sees the old content or the new, never half of it.

    A regular file (or a new one) is written to a temporary file in its directory and renamed over
    it.  A symlink is followed: its target is replaced that way (the link stays).  A device node or
    a FIFO (`/dev/null`, `/dev/stdout`, a pipe) is written straight into, never replaced.  A
    directory is refused.  Returns the path; raises OutputError (naming the path) on an OS error,
    leaving no temporary file behind."""
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else data
    stream = _standard_stream(path)
    if stream is not None:  # `--json /dev/stdout > log`: append to what the run printed, never replace it
        try:
            stream.flush()
            if hasattr(stream, "buffer"):
                stream.buffer.write(raw)
            else:
                stream.write(raw.decode())
            stream.flush()
        except OSError as e:
            raise OutputError(f"cannot write {path}: {e.strerror or e}") from None
        return path
    target = Path(os.path.realpath(path))  # a symlink's target (the path itself otherwise)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise OutputError(f"cannot write {path}: it is a directory")
    if st is not None and not stat.S_ISREG(st.st_mode):  # a device or a FIFO: write through
        try:
            with open(target, "wb") as f:
                f.write(raw)
        except OSError as e:
            raise OutputError(f"cannot write {path}: {e.strerror or e}") from None
        return path
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".tmp-{target.name}-")
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        # the replaced file keeps its permissions; a new one gets what open() would give (not mkstemp's 0600)
        os.chmod(tmp, stat.S_IMODE(st.st_mode) if st is not None else 0o666 & ~_UMASK)
        os.replace(tmp, target)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def _umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()  # read once, at import: setting it from several threads would race


def _standard_stream(path: Path) -> Any:
    """sys.stdout or sys.stderr when `path` is the very file open as descriptor 1 or 2
    (`/dev/stdout`, `/dev/fd/2`, or the file stdout is redirected to), else None."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    for fd, stream in ((1, sys.stdout), (2, sys.stderr)):
        try:
            fst = os.fstat(fd)
        except OSError:
            continue
        if stream is not None and (st.st_dev, st.st_ino) == (fst.st_dev, fst.st_ino):
            return stream
    return None


def _check_path_text(path: str | os.PathLike, what: str) -> Path:
    """Refuse what no file system call should be tried with: an empty name, a NUL byte, a name
    component longer than NAME_MAX or a path longer than PATH_MAX (the OS would fail later, after
    the work, with an error naming no option), and a symlink loop."""
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if not text.strip():
        raise OutputError(f"{what} is empty; give a path")
    if "\0" in text:
        raise OutputError(f"{what} contains a NUL byte")
    name_max, path_max = 255, 4096
    with contextlib.suppress(OSError, ValueError, AttributeError):
        name_max = os.pathconf("/", "PC_NAME_MAX")
        path_max = os.pathconf("/", "PC_PATH_MAX")
    longest = max((len(os.fsencode(c)) for c in text.split("/")), default=0)
    if longest > name_max:
        raise OutputError(f"{what} has a name component of {longest} bytes; at most {name_max} are allowed")
    total = len(os.fsencode(os.path.abspath(text)))
    if total >= path_max:
        raise OutputError(f"{what} is a path of {total} bytes; it must be shorter than {path_max}")
    p = Path(text)
    probe = p
    while True:  # a symlink loop anywhere on the path (realpath would silently return it unresolved)
        try:
            os.stat(probe)
            break
        except FileNotFoundError:
            if probe.parent == probe:
                break
            probe = probe.parent
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise OutputError(f"{what} {text}: too many levels of symbolic links (a symlink loop)") from None
            break  # e.g. a component that is a file: reported by the caller with its own words
    return p


def check_writable(directory: str | os.PathLike, what: str = "--out") -> Path:
    """Create `directory` if needed and prove it writable with a temporary file, before any long
    work.  Returns it as a Path; raises OutputError naming `what` otherwise (an empty or over-long
    path, a symlink loop, a file in the way, no permission)."""
    out = _check_path_text(directory, what)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{what} {out} is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as e:
        raise OutputError(f"{what} {out} is not writable: {e.strerror or e}") from None
    return out


def check_output_file(path: str | os.PathLike, what: str) -> Path:
    """An output file must be writable where `write_atomic` will write it: not a directory; an
    existing device node or FIFO writable as it is; otherwise (a symlink's target, or the path
    itself) in an existing, writable directory.  Checked before any work.  Returns the Path;
    raises OutputError naming `what`."""
    p = _check_path_text(path, what)
    try:
        target = Path(os.path.realpath(p))
        if target.is_dir():
            raise OutputError(f"{what} {p} is a directory; give a file name")
        if target.exists() and not target.is_file():  # a device node or a FIFO: written through
            if not os.access(target, os.W_OK):
                raise OutputError(f"{what} {p} is not writable")
            return p
        parent = target.parent
        if not parent.is_dir():
            raise OutputError(f"{what} {p}: directory {p.parent if str(p.parent) else '.'} does not exist")
    except OutputError:
        raise
    except OSError as e:
        raise OutputError(f"{what} {p}: {e.strerror or e}") from None
    check_writable(parent, what)
    return p


def json_safe(obj: Any) -> Any:
    """`obj` with every non-finite float replaced by None and numpy values by Python ones, so that
    json.dumps(..., allow_nan=False) writes valid JSON."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        return json_safe(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    return str(obj)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write `obj` as valid JSON (non-finite numbers become null) atomically."""
    return write_atomic(path, json.dumps(json_safe(obj), indent=1, allow_nan=False))

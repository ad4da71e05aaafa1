"""The one place that writes a figure: NAME.png, NAME.pdf, NAME.csv (the plotted numbers) and
NAME.json (parameters, seed, versions, git revision)."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bnreg.runtime import check_writable, write_atomic  # noqa: E402

__all__ = ["save", "up_to_date", "check_writable", "provenance", "outputs_for"]


def git_revision() -> str:
    """HEAD of the repository holding this file, with "-dirty" if tracked files changed; "unknown" outside git."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5)
        if rev.returncode == 0:
            return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


def provenance() -> dict[str, Any]:
    """Versions (bnreg, Python, numpy, numba, scipy, sympy, matplotlib), git revision, command line and time."""
    import numba
    import scipy
    import sympy

    from bnreg import __version__

    return {
        "bnreg": __version__, "python": platform.python_version(), "numpy": np.__version__,
        "numba": numba.__version__, "scipy": scipy.__version__, "sympy": sympy.__version__,
        "matplotlib": matplotlib.__version__, "git_revision": git_revision(),
        "command": " ".join(sys.argv), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def outputs_for(out_dir: Path, name: str) -> list[Path]:
    """The four files of figure `name` in `out_dir`: NAME.png, NAME.pdf, NAME.csv, NAME.json."""
    return [out_dir / f"{name}.{ext}" for ext in ("png", "pdf", "csv", "json")]


@contextlib.contextmanager
def _locked(out: Path, name: str) -> Iterator[None]:
    """An exclusive lock on OUT/.NAME.lock while a figure's files are written or checked, so two
    runs into one directory never interleave their files (POSIX flock; elsewhere no lock)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(out / f".{name}.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save(fig: plt.Figure, table: dict[str, Any], meta: dict[str, Any], out_dir: str | Path, name: str) -> list[Path]:
    """Write the figure, its data table (equal-length columns) and the JSON sidecar, as one
    consistent set: everything is rendered in memory first, then, under the directory's lock for
    this figure, each file goes to a temporary name and is renamed into place, the JSON last; the
    JSON records the SHA-256 of the other three (`up_to_date` checks them).  A failure while
    writing (full disk, read-only directory) is an OutputError and leaves no temporary files.

    Parameters: fig; table {column: values}; meta (figure, title, scale, spec, seed, ...) for the
    JSON; out_dir; name the file stem.  Returns: the paths of the four files written."""
    out = check_writable(out_dir)
    png, pdf, csv_path, js = outputs_for(out, name)
    cols = {k: np.atleast_1d(np.asarray(v)) for k, v in table.items()}
    n = {len(v) for v in cols.values()}
    if len(n) != 1:
        raise RuntimeError(f"table columns of {name} differ in length: { {k: len(v) for k, v in cols.items()} }")
    blobs: dict[Path, bytes] = {}
    for path, kw in ((png, {"dpi": 150}), (pdf, {})):
        buf = io.BytesIO()
        fig.savefig(buf, format=path.suffix[1:], bbox_inches="tight", **kw)
        blobs[path] = buf.getvalue()
    plt.close(fig)
    text = io.StringIO(newline="")
    w = csv.writer(text)
    w.writerow(cols)
    for row in zip(*cols.values(), strict=False):
        w.writerow([_fmt(x) for x in row])
    blobs[csv_path] = text.getvalue().encode()
    meta = {**meta, "provenance": provenance(), "csv_columns": list(cols),
            "sha256": {p.name: _sha256(b) for p, b in blobs.items()}}
    blobs[js] = json.dumps(meta, indent=1, default=_json_default).encode()
    with _locked(out, name):
        for path, data in blobs.items():  # dict order: png, pdf, csv, then the JSON
            write_atomic(path, data)
    return [png, pdf, csv_path, js]


def up_to_date(out_dir: str | Path, name: str, meta: dict[str, Any]) -> bool:
    """True if OUT holds NAME's four files from a run with the same `meta` (figure, scale, spec,
    seed, ...) and each file's SHA-256 matches the one its JSON recorded (a truncated or replaced
    file, or a set mixed from two runs, is not up to date)."""
    out = Path(out_dir)
    files = outputs_for(out, name)
    if not all(f.is_file() for f in files):
        return False
    try:
        with _locked(out, name):
            old = json.loads(files[-1].read_text())
            if any(json.dumps(old.get(k), default=_json_default) != json.dumps(v, default=_json_default)
                   for k, v in meta.items()):
                return False
            sums = old.get("sha256", {})
            return all(sums.get(f.name) == _sha256(f.read_bytes()) for f in files[:-1])
    except (OSError, ValueError):
        return False


def _fmt(x: Any) -> str:
    if isinstance(x, (float, np.floating)):
        return repr(float(x))
    return str(x)


def _json_default(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return str(x)


def columns_from_rows(columns: tuple[str, ...] | list[str], rows: list[tuple]) -> dict[str, np.ndarray]:
    """Turn row tuples into the equal-length columns `save` writes as CSV."""
    return {k: np.array([r[i] for r in rows]) for i, k in enumerate(columns)}


def panel_grid(names: list[str], ylabel: str, suptitle: str, ncols: int = 3) -> tuple[plt.Figure, dict[str, Any]]:
    """One log2-M panel per name (shared x), titled, labelled and gridded; returns (fig, name -> axes)."""
    nrows = -(-len(names) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.4 * ncols, 3.75 * nrows), sharex=True, squeeze=False)
    for ax, n in zip(axes.flat, names, strict=False):
        ax.set_xscale("log", base=2)
        ax.set_title(n)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("batch size M")
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    fig.suptitle(suptitle)
    return fig, dict(zip(names, axes.flat, strict=False))

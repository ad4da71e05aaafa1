"""How the command line reports a failure: one line on stderr and an exit code per kind, never a traceback.

    bad input or an output that cannot be written (BnregError)   exit 2, checked before any work
    a Dask scheduler lost mid-run (ClusterLostError)             exit 1, finished points kept
    out of memory (MemoryError, ENOMEM)                          exit 1, naming a `ulimit -v` if set
    stdout full, closed or broken (ENOSPC, EBADF, EPIPE, ...)    exit 1 (141, silently, for a broken pipe)
    a library that cannot be loaded (ImportError, e.g. not mapped under `ulimit -v`)   exit 1
    anything else the system refused without naming a file      exit 1
An OSError naming a file is not expected here (outputs are checked before the work): it is re-raised.
"""

from __future__ import annotations

import errno
import os
import sys

from bnreg.errors import BnregError, ClusterLostError

__all__ = ["report_failure", "refuse_small_address_space", "MIN_ADDRESS_SPACE_MB", "check_library_environment",
           "survive_any_encoding"]

# Below this address-space limit (`ulimit -v`) loading numpy, scipy, numba and llvmlite fails in ways
# no Python handler sees reliably (measured: a hang at 300 MB, a SystemError at 550 MB, failed shared
# object maps in between); at 700 MB every quick figure runs.  Refused before any work instead.
MIN_ADDRESS_SPACE_MB = 700

# errors of writing stdout: no space, quota, file too large, closed or broken descriptor, I/O
_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EBADF, errno.EPIPE, errno.EIO}


def report_failure(e: BaseException) -> int:
    """Print the one line for `e` (a BnregError, MemoryError, OSError or ImportError) and return the exit code."""
    if isinstance(e, ClusterLostError):  # not the input's fault: the cluster went away
        _say(f"{e}")
        return 1
    if isinstance(e, BnregError):  # bad input (ParameterError) or an output that cannot be written (OutputError)
        _say(f"{e}")
        return 2
    if isinstance(e, MemoryError):  # e.g. a network too large for this machine, or a memory limit
        print(f"bnreg: error: out of memory (lower the sizes, or raise the memory limit){_memory_limit()}",
              file=sys.stderr)
        return 1
    if isinstance(e, ImportError):  # a shared object not mapped under a memory limit, or a broken install
        print(f"bnreg: error: cannot load a library: {e}{_memory_limit()}".replace("\n", " "), file=sys.stderr)
        return 1
    if isinstance(e, BrokenPipeError):  # `bnreg ... | head`: the reader left; say nothing more
        _silence_stdout()
        return 141
    assert isinstance(e, OSError)
    if e.filename is not None:
        raise e  # a named file's error is reported where it is opened; reaching here is a bug to see in full
    if e.errno in _OUTPUT_ERRNOS:  # stdout on a full disk or a closed descriptor
        _silence_stdout()
        print(f"bnreg: error: cannot write the output: {e.strerror or e}", file=sys.stderr)
        return 1
    # e.g. a shared library that cannot be mapped under a memory limit
    what = "out of memory" if e.errno == errno.ENOMEM else "the system refused"
    print(f"bnreg: error: {what}: {e.strerror or e}{_memory_limit()}".replace("\n", " "), file=sys.stderr)
    return 1


# Environment variables numba reads at import: a bad value is a ValueError traceback (0, negative) or
# a RuntimeWarning and a silent default (garbage) from deep inside an import; refused up front instead.
_NUMBA_INT_VARS = {"NUMBA_NUM_THREADS": (1, 1 << 16), "NUMBA_OPT": (0, 3)}


def check_library_environment() -> int | None:
    """Exit code 2, with one line, when an environment variable read by numba at import has a value it
    cannot use (NUMBA_NUM_THREADS: an integer >= 1; NUMBA_OPT: 0-3 or 'max'); else None."""
    for name, (lo, hi) in _NUMBA_INT_VARS.items():
        raw = os.environ.get(name)
        if raw is None or raw.strip() == "" or (name == "NUMBA_OPT" and raw.strip() == "max"):
            continue
        try:
            ok = lo <= int(raw.strip()) <= hi
        except ValueError:
            ok = False
        if not ok:
            extra = " or 'max'" if name == "NUMBA_OPT" else ""
            _say(f"environment variable {name} must be an integer with {lo} <= {name} <= {hi}{extra} (got {raw!r}); "
                 f"unset it or fix it")
            return 2
    return None


def survive_any_encoding() -> None:
    """stdout and stderr in a non-UTF-8 locale (LC_ALL=C, PYTHONIOENCODING=ascii): characters the
    encoding lacks (±, §, ²) are written as escapes instead of ending the run with UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None and hasattr(stream, "reconfigure"):
            enc = (getattr(stream, "encoding", "") or "").lower().replace("-", "")
            if enc not in ("utf8", "utf_8"):
                try:
                    stream.reconfigure(errors="backslashreplace")
                except (ValueError, OSError):  # a detached or closed stream: nothing to adapt
                    pass


def _say(message: str) -> None:
    """The one error line: control characters (a newline in a path) shown escaped, so it stays one line."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
    print(f"bnreg: error: {shown}", file=sys.stderr if sys.stderr is not None else sys.__stderr__)


def refuse_small_address_space() -> int | None:
    """Exit code 1, with one line, when an address-space limit below MIN_ADDRESS_SPACE_MB is set; else None."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY or soft >= MIN_ADDRESS_SPACE_MB * 2**20:
        return None
    print(f"bnreg: error: out of memory before starting: loading numpy, scipy and numba needs an address space "
          f"of at least {MIN_ADDRESS_SPACE_MB} MB{_memory_limit()}; raise it, e.g. ulimit -v "
          f"{MIN_ADDRESS_SPACE_MB * 1024}", file=sys.stderr)
    return 1


def _memory_limit() -> str:
    """' (...)' naming the address-space limit when one is set (the likely cause), else ''."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return ""
    return f" (an address-space limit, ulimit -v, of {soft / 2**20:.0f} MB is set)"


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's final flush fails no more."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # pragma: no cover - stdout closed or not a file
        pass

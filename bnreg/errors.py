"""The toolkit's error types: bad input (`ParameterError`), failed output (`OutputError`), a lost cluster.

- `ParameterError` (a ValueError): a parameter, option, environment variable or declared check is
  outside what is allowed; the message names it and its allowed range.  Raised before any long work.
- `OutputError` (an OSError): a result could not be written (missing or read-only directory, full
  disk, a path that is a directory); the message names the path and the cause.

- `ClusterLostError`: the Dask scheduler a run was using stopped answering mid-run; finished
  points are cached, so a re-run resumes.  Not the user's input: the command line exits 1.

All derive from `BnregError`, so a caller can catch them together; the command line turns each into
one line on stderr and exit 2 (1 for a lost cluster).  Nothing on a user-reachable path raises a bare ValueError.
"""

from __future__ import annotations

__all__ = ["BnregError", "ParameterError", "OutputError", "CheckInputError", "ClusterLostError"]


class BnregError(Exception):
    """Base of the toolkit's errors: the message is one line, meant for the user."""


class ParameterError(BnregError, ValueError):
    """A parameter is outside its allowed range; the message names both."""


class OutputError(BnregError, OSError):
    """An output (file, directory, cache entry) could not be written; the message names the path."""


class CheckInputError(ParameterError):
    """Bad input to the testing API (`bnreg.testing`): a sampler returning the wrong shape or
    non-finite values, a theory raising, n too small for the false-alarm rate, a file declaring no
    check.  `bnreg check` exits 2."""


class ClusterLostError(BnregError):
    """The Dask scheduler a run was using was lost mid-run; the message names its address and the
    cause, and says that finished points are kept.  `bnreg` exits 1."""

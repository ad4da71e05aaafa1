"""The toolkit's two error types: bad input (`ParameterError`) and failed output (`OutputError`).

- `ParameterError` (a ValueError): a parameter, option, environment variable or declared check is
  outside what is allowed; the message names it and its allowed range.  Raised before any long work.
- `OutputError` (an OSError): a result could not be written (missing or read-only directory, full
  disk, a path that is a directory); the message names the path and the cause.

Both derive from `BnregError`, so a caller can catch either or both; the command line turns either
into one line on stderr and exit 2.  Nothing on a user-reachable path raises a bare ValueError.
"""

from __future__ import annotations

__all__ = ["BnregError", "ParameterError", "OutputError", "CheckInputError"]


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

"""Parameter validation and parameter metadata, shared by every public entry point.

Bad input must fail early with the parameter's name and allowed range, never as a NaN or a
numba traceback (`bnreg.errors.ParameterError`, a ValueError).  `Param` is the one declaration of
a parameter (kind, default, range, doc) used by the formula registry and by declared configs
(`bnreg.sims.nn.config.CNNConfig`).
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ParameterError

__all__ = [
    "ParameterError",
    "Param",
    "NONE_WORDS",
    "check_int",
    "check_float",
    "check_choice",
    "check_bool",
    "check_finite_array",
]


_EXACT_FLOAT_INT = 2**53  # floats above this are not all integers one apart


def _short(value: Any) -> str:
    """repr of `value`, cut to 40 characters (a 400-digit argument does not fill the error line)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        return f"an integer of {len(str(value)) if value.bit_length() < 14000 else 'over 4000'} digits"
    try:
        r = repr(value)
    except Exception:  # noqa: BLE001 - a repr that fails must not replace the error being reported
        return f"<{type(value).__name__}>"
    return r if len(r) <= 40 else r[:24] + f"...({len(r)} chars)"


def _not_real(value: Any) -> bool:
    """A complex number (numpy's would be truncated to its real part, with a warning) or a masked
    array element (read as nan, with a warning): not a real number."""
    return value is np.ma.masked or np.iscomplexobj(value) and not isinstance(value, str)


def check_int(name: str, value: Any, lo: int | None = None, hi: int | None = None) -> int:
    """Return `value` as int, or raise naming `name` and the range `lo <= name <= hi`."""
    rng = _range_text(name, lo, hi, integer=True)
    if isinstance(value, bool) or _not_real(value):
        raise ParameterError(f"{name} must be an integer, {rng} (got {_short(value)})")
    if isinstance(value, np.floating):  # float16/32: compare as a Python float (no cast overflow warning)
        value = float(value)
    raw = value
    if isinstance(value, str):
        if not value.isascii():  # int() reads other scripts' digits: '\u0663' is 3
            raise ParameterError(f"{name} must be an integer in ASCII digits, {rng} (got {_short(raw)})")
        try:
            value = float(value) if any(c in value for c in ".eE") else int(value)
        except (ValueError, OverflowError):
            raise ParameterError(f"{name} must be an integer, {rng} (got {_short(raw)})") from None
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        if not math.isfinite(value) or value != int(value):
            raise ParameterError(f"{name} must be an integer, {rng} (got {_short(raw)})")
        if abs(value) > _EXACT_FLOAT_INT:  # 1e308 is a float, not the integer it rounds to
            raise ParameterError(f"{name} must be an integer written in digits, {rng} (got {_short(raw)}: "
                                 f"a float above 2^53 does not name one integer)")
        value = int(value)
    if not isinstance(value, numbers.Integral):
        raise ParameterError(f"{name} must be an integer, {rng} (got {_short(raw)})")
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ParameterError(f"{name} must satisfy {rng} (got {_short(value)})")
    return value


def check_float(
    name: str,
    value: Any,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """Return a finite float in the stated interval, or raise naming `name` and the interval."""
    rng = _range_text(name, lo, hi, lo_open=lo_open, hi_open=hi_open)
    try:
        if isinstance(value, bool) or (isinstance(value, str) and not value.isascii()) or _not_real(value):
            raise TypeError  # float() reads other scripts' digits: '\u0663' is 3.0
        x = float(value)
    except Exception:  # noqa: BLE001 - TypeError, ValueError, OverflowError, or whatever a __float__ raises
        raise ParameterError(f"{name} must be a real number, {rng} (got {_short(value)})") from None
    if not math.isfinite(x):
        raise ParameterError(f"{name} must be finite, {rng} (got {_short(value)})")
    bad_lo = lo is not None and (x <= lo if lo_open else x < lo)
    bad_hi = hi is not None and (x >= hi if hi_open else x > hi)
    if bad_lo or bad_hi:
        raise ParameterError(f"{name} must satisfy {rng} (got {x:g})" if float(f"{x:g}") == x
                             else f"{name} must satisfy {rng} (got {x!r})")
    return x


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """Return `value` if it is one of `choices`, or raise naming `name` and the choices."""
    if not isinstance(value, str) or value not in choices:  # a list is unhashable, and never a choice
        raise ParameterError(f"{name} must be one of {', '.join(choices)} (got {_short(value)})")
    return str(value)


def check_bool(name: str, value: Any) -> bool:
    """Return a bool from a bool, 0/1 or "true/false/1/0/yes/no", or raise naming `name`."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
        return value.lower() in ("true", "1", "yes")
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    raise ParameterError(f"{name} must be true or false (got {_short(value)})")


def check_finite_array(name: str, value: Any, ndim: int | None = None) -> np.ndarray:
    """Return a non-empty float array of finite values (with `ndim` dimensions if given), or raise."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError, OverflowError):
        raise ParameterError(f"{name} must be an array of finite numbers (got {type(value).__name__})") from None
    if ndim is not None and arr.ndim != ndim:
        raise ParameterError(f"{name} must be a {ndim}-d array (got shape {arr.shape})")
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ParameterError(f"{name} must be a non-empty array of finite numbers")
    return arr


def _range_text(name, lo, hi, integer=False, lo_open=False, hi_open=False) -> str:
    if lo is None and hi is None:
        return "any value"
    if hi is None:
        return f"{name} {'>' if lo_open else '>='} {lo:g}"
    if lo is None:
        return f"{name} {'<' if hi_open else '<='} {hi:g}"
    return f"{lo:g} {'<' if lo_open else '<='} {name} {'<' if hi_open else '<='} {hi:g}"


NONE_WORDS = ("none", "")  # the text of None for an optional parameter (the empty list for a list)


@dataclass(frozen=True)
class Param:
    """A typed parameter declaration: kind int | float | bool | choice | str, default, allowed range
    [lo, hi] (open ends if lo_open/hi_open) or choices, a one-line doc, required or not.

    Two optional extensions (used by declared configs such as `CNNConfig`; a formula parameter has
    neither): `optional` allows None (spelled "none" or "" in text); `length` = (min, max or None)
    makes the value a tuple of min..max items of `kind`, each checked against the range (spelled
    comma-separated in text, "none"/"" for the empty tuple; a single item is a 1-tuple)."""

    name: str
    kind: str  # int | float | bool | choice | str
    default: Any = None
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple[str, ...] = ()
    doc: str = ""
    required: bool = False
    optional: bool = False
    length: tuple[int, int | None] | None = None

    def parse(self, value: Any) -> Any:
        """Validate `value` (strings are parsed) against the kind and range; raise ParameterError."""
        if self.optional and (value is None or isinstance(value, str) and value.strip().lower() in NONE_WORDS):
            return None
        if self.length is None:
            return self._parse_one(self.name, value)
        if isinstance(value, str):
            items: Any = () if value.strip().lower() in NONE_WORDS else value.split(",")
        elif isinstance(value, (tuple, list, np.ndarray)):
            items = list(value)
        else:  # a single item is a 1-tuple (None and other objects are refused just below)
            items = [value] if isinstance(value, (numbers.Number, np.generic)) else None
        n_min, n_max = self.length
        if items is None or len(items) < n_min or (n_max is not None and len(items) > n_max):
            raise ParameterError(f"{self.name} must be {self.range_text()} (got {_short(value)})")
        if len(items) == 1 and not isinstance(value, (tuple, list, np.ndarray)):  # one item given alone
            return (self._parse_one(self.name, items[0]),)
        return tuple(self._parse_one(f"{self.name}[{i}]", v) for i, v in enumerate(items))

    def _parse_one(self, name: str, value: Any) -> Any:
        if self.kind == "int":
            return check_int(name, value, self.lo, self.hi)
        if self.kind == "float":
            return check_float(name, value, self.lo, self.hi, self.lo_open, self.hi_open)
        if self.kind == "bool":
            return check_bool(name, value)
        if self.kind == "str":
            if not isinstance(value, (str, os.PathLike)):
                raise ParameterError(f"{name} must be text (got {_short(value)})")
            return os.fspath(value)
        return check_choice(name, value, self.choices)

    def range_text(self) -> str:
        """The allowed values as text, e.g. "2 <= M", "exact|sigmoid" or, for a list,
        "0 or more values (comma-separated), each 1 <= widths[i]"."""
        text = self._item_range(self.name if self.length is None else f"{self.name}[i]")
        if self.length is not None:
            n_min, n_max = self.length
            count = (f"{n_min}" if n_min == n_max else f"{n_min} or more" if n_max is None
                     else f"{n_min} to {n_max}")
            text = f"{count} values (comma-separated), each {text}"
        return f"{text}, or none" if self.optional else text

    def _item_range(self, name: str) -> str:
        if self.kind == "bool":
            return "true|false"
        if self.kind == "choice":
            return "|".join(self.choices)
        if self.kind == "str":
            return "text"
        lo = "" if self.lo is None else f"{self.lo:g} {'<' if self.lo_open else '<='} "
        hi = "" if self.hi is None else f" {'<' if self.hi_open else '<='} {self.hi:g}"
        return f"{lo}{name}{hi}" if (lo or hi) else "real"

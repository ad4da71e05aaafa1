"""Calling user code safely: a user's theory, sampler or grid, turned into numbers or one-line CheckInputErrors."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np

from bnreg.errors import CheckInputError, ParameterError

from .judge import Params

__all__ = ["fmt_params", "name_of", "summary_of", "real_value", "require_callable", "parse_grid", "as_input_error"]


@contextmanager
def as_input_error() -> Iterator[None]:
    """The toolkit's parameter checks, re-raised as this API's CheckInputError."""
    try:
        yield
    except CheckInputError:
        raise
    except ParameterError as e:
        raise CheckInputError(str(e)) from None


def fmt_params(p: Params) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in p.items())


def name_of(f: Any, default: str) -> str:
    """A function's name, or `default` for lambdas and generated functions (sympy's lambdify)."""
    n = getattr(f, "__name__", None) or getattr(getattr(f, "py_func", None), "__name__", None)
    return default if not n or n.startswith(("<", "_")) else n


def summary_of(f: Any) -> str:
    """First line of a user function's docstring ("" for generated ones such as lambdify's)."""
    doc = (getattr(f, "__doc__", None) or "").strip()
    return "" if name_of(f, "") == "" else next(iter(doc.splitlines()), "")


def real_value(kind: str, f: Callable, p: Params) -> float:
    """f(**p) as a finite float, or CheckInputError naming `kind`, the call and the problem."""
    call = f"{kind}({fmt_params(p)})"
    try:
        v = f(**p)
    except (Exception, SystemExit) as e:  # the user's formula (a sys.exit too): bad input
        raise CheckInputError(f"{call} raised {type(e).__name__}: {e}") from e
    if np.ndim(v) != 0:
        raise CheckInputError(f"{call} returned an array of shape {np.shape(v)}; expected one real number")
    try:
        if isinstance(v, (bool, np.bool_, str, bytes)) or np.iscomplexobj(v):
            raise TypeError
        x = float(v)
    except OverflowError:  # e.g. the int 10**400
        raise CheckInputError(f"{call} returned a number beyond the float range; expected a finite number") from None
    except Exception:  # noqa: BLE001 - a __float__ that raises anything: the value is not a real number
        raise CheckInputError(f"{call} returned {_short_repr(v)} ({type(v).__name__}); "
                              "expected one real number") from None
    if not math.isfinite(x):
        raise CheckInputError(f"{call} returned {x}; expected a finite number")
    return x


def _short_repr(v: Any) -> str:
    """repr(v), at most 60 characters (an int of 5000 digits cannot even be repr'd by default)."""
    try:
        r = repr(v)
    except Exception:  # noqa: BLE001 - e.g. ValueError: Exceeds the limit (4300 digits)
        return f"<{type(v).__name__}>"
    return r if len(r) <= 60 else r[:57] + "..."


def require_callable(name: str, f: Any) -> Callable:
    if not callable(f):
        raise CheckInputError(f"{name} must be callable (got {type(f).__name__})")
    return f


MAX_POINTS = 10_000  # points in one check: beyond, a grid is a mistake (hours even at --quick)


def parse_grid(grid: Any) -> list[Params]:
    """A list of parameter dicts, or a dict of value lists (their Cartesian product)."""
    if grid is None:
        return [{}]
    if isinstance(grid, Mapping):
        keys = list(grid)
        values = [v if isinstance(v, (list, tuple, range, np.ndarray)) else [v] for v in grid.values()]
        size = math.prod(len(v) for v in values)
        if size > MAX_POINTS:  # counted before the product is built (a 3000 x 3000 grid took 3.6 GB)
            raise CheckInputError(f"grid has {size} points; at most {MAX_POINTS} are allowed in one check "
                                  "(each point is a Monte-Carlo run): split it into several checks")
        pts = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*map(list, values))]
    elif isinstance(grid, Iterable) and not isinstance(grid, (str, bytes)):
        pts = list(itertools.islice(grid, MAX_POINTS + 1))
        if len(pts) > MAX_POINTS:
            raise CheckInputError(f"grid has more than {MAX_POINTS} points; at most {MAX_POINTS} are allowed in one "
                                  "check (each point is a Monte-Carlo run): split it into several checks")
    else:
        raise CheckInputError(f"grid must be a list of parameter dicts or a dict of value lists (got {grid!r})")
    if not pts:
        raise CheckInputError("grid is empty: give at least one point")
    for p in pts:
        if not isinstance(p, Mapping):
            raise CheckInputError(f"grid points must be dicts of parameters (got {p!r})")
        bad = [k for k in p if not (isinstance(k, str) and k.isidentifier())]
        if bad:
            raise CheckInputError(f"parameter names must be identifiers, passed as keywords (got {bad!r})")
    return [dict(p) for p in pts]

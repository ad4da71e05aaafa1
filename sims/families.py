"""Samplers for the input families, as numba functions `draw(rng) -> float`.

Raw mean/std are closed forms written out here (not imported from theory, which only checks
them: tests/runtime/test_mc.py compares with `theory.distributions`).  A user can pass any
`numba.njit` function of one numpy Generator argument as a custom family.
"""

from __future__ import annotations

import functools
import math
import types
from dataclasses import dataclass
from typing import Any

import numba as nb

from bnreg.params import ParameterError

__all__ = ["Family", "FAMILY_SAMPLERS", "get_family", "custom_family", "kernel_for", "draw_builtin", "fill_builtin"]


@nb.njit(cache=True, nogil=True)
def draw_gaussian(rng):
    return rng.standard_normal()


@nb.njit(cache=True, nogil=True)
def draw_uniform(rng):
    return rng.random()


@nb.njit(cache=True, nogil=True)
def draw_laplace(rng):
    # Difference of two unit exponentials is standard Laplace (density exp(-|x|)/2).
    return rng.standard_exponential() - rng.standard_exponential()


@nb.njit(cache=True, nogil=True)
def draw_exponential(rng):
    return rng.standard_exponential()


@nb.njit(cache=True, nogil=True)
def draw_relu(rng):
    z = rng.standard_normal()
    return z if z > 0.0 else 0.0


GAUSSIAN, UNIFORM, LAPLACE, EXPONENTIAL, RELU = range(5)


@nb.njit(cache=True, nogil=True, inline="always")
def draw_builtin(rng, code):  # pragma: no cover - njit
    """One raw draw of the built-in family `code`.  Kernels call this global (not a sampler passed
    as an argument): a function-typed argument makes numba's disk cache miss in every new process
    (the key holds the function object's identity), so every run would recompile."""
    if code == GAUSSIAN:
        return draw_gaussian(rng)
    if code == UNIFORM:
        return draw_uniform(rng)
    if code == LAPLACE:
        return draw_laplace(rng)
    if code == EXPONENTIAL:
        return draw_exponential(rng)
    return draw_relu(rng)


@nb.njit(cache=True, nogil=True, inline="always")
def fill_builtin(rng, code, buf):  # pragma: no cover - njit
    """buf[i] = one raw draw of the built-in family `code`, i = 0, 1, ... (the same stream as
    len(buf) calls of `draw_builtin`).  The family branch sits outside the loop: testing `code` per
    draw kept the generator's state from staying in registers and cost 3x in throughput."""
    n = buf.shape[0]
    if code == GAUSSIAN:
        for i in range(n):
            buf[i] = rng.standard_normal()
    elif code == UNIFORM:
        for i in range(n):
            buf[i] = rng.random()
    elif code == LAPLACE:
        for i in range(n):
            buf[i] = draw_laplace(rng)
    elif code == EXPONENTIAL:
        for i in range(n):
            buf[i] = rng.standard_exponential()
    else:
        for i in range(n):
            buf[i] = draw_relu(rng)


@dataclass(frozen=True)
class Family:
    """A sampler plus the raw mean and std used to standardize its draws; `code` >= 0 for the
    built-in families (drawn by `draw_builtin`), -1 for a custom one."""

    name: str
    draw: Any
    mean: float
    std: float
    code: int = -1


FAMILY_SAMPLERS: dict[str, Family] = {
    "gaussian": Family("gaussian", draw_gaussian, 0.0, 1.0, GAUSSIAN),
    "uniform": Family("uniform", draw_uniform, 0.5, math.sqrt(1.0 / 12.0), UNIFORM),
    "laplace": Family("laplace", draw_laplace, 0.0, math.sqrt(2.0), LAPLACE),
    "exponential": Family("exponential", draw_exponential, 1.0, 1.0, EXPONENTIAL),
    "relu": Family("relu", draw_relu, 1.0 / math.sqrt(2.0 * math.pi),
                   math.sqrt(0.5 - 1.0 / (2.0 * math.pi)), RELU),
}


def kernel_for(kernel: Any, family: Family) -> Any:
    """The kernel to call for `family`: the disk-cached kernel for a built-in family (it draws with
    `draw_builtin(rng, code)`); for a custom family, an in-memory compile of the same Python
    function in which `draw_builtin`, `fill_builtin` (and the `draw_standardized` helper) call the user's
    sampler.
    Custom samplers never enter numba's on-disk cache index."""
    if family.code >= 0:
        return kernel
    return _custom_kernel(kernel, family.draw)


def _custom_draw_template(rng, code):  # pragma: no cover - compiled with _USER_DRAW bound
    return _USER_DRAW(rng)  # noqa: F821 - bound by _rebound


def _custom_fill_template(rng, code, buf):  # pragma: no cover - compiled with _USER_DRAW bound
    for i in range(buf.shape[0]):
        buf[i] = _USER_DRAW(rng)  # noqa: F821 - bound by _rebound


def _rebound(func: Any, replacements: dict[str, Any], **options: Any) -> Any:
    """An uncached numba compile of `func`'s Python source with some globals replaced."""
    py = getattr(func, "py_func", func)
    g = {**py.__globals__, **replacements}
    clone = types.FunctionType(py.__code__, g, py.__name__, py.__defaults__, py.__closure__)
    opts = {k: v for k, v in getattr(func, "targetoptions", {}).items() if k not in ("cache", "nopython")}
    return nb.njit(**{**opts, **options})(clone)


@functools.cache
def _custom_kernel(kernel: Any, draw: Any) -> Any:
    samplers = {"draw_builtin": _rebound(_custom_draw_template, {"_USER_DRAW": draw}, nogil=True, inline="always"),
                "fill_builtin": _rebound(_custom_fill_template, {"_USER_DRAW": draw}, nogil=True, inline="always")}
    replacements = dict(samplers)
    helper = kernel.py_func.__globals__.get("draw_standardized")
    if helper is not None:
        replacements["draw_standardized"] = _rebound(helper, samplers)
    return _rebound(kernel, replacements)


def get_family(family: str | Family) -> Family:
    """The Family named `family` (one of FAMILY_SAMPLERS), or `family` itself if it is a Family."""
    if isinstance(family, Family):
        return family
    if family not in FAMILY_SAMPLERS:
        raise ParameterError(f"family must be one of {', '.join(FAMILY_SAMPLERS)} (got {family!r})")
    return FAMILY_SAMPLERS[family]


def custom_family(name: str, draw: Any, mean: float, std: float) -> Family:
    """Wrap a user sampler: `draw` must be a numba.njit function `draw(rng) -> float`.

    Parameters: name; draw the sampler; mean, std its raw mean and std (> 0), used to standardize.
    Returns: a Family accepted wherever a family name is (sims.bn_noise, sims.gamma_decay)."""
    if not hasattr(draw, "py_func"):
        raise ParameterError("draw must be a numba.njit function taking one numpy Generator")
    if not (math.isfinite(mean) and math.isfinite(std) and std > 0):
        raise ParameterError(f"custom family {name!r} needs finite mean and std > 0")
    return Family(name, draw, float(mean), float(std))

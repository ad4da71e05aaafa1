"""Samplers for the input families, as numba functions `draw(rng) -> float`.

Raw mean/std are closed forms written out here (not imported from theory, which only checks
them: tests/test_mc.py compares with `theory.distributions`).  A user can pass any
`numba.njit` function of one numpy Generator argument as a custom family.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numba as nb

from bnreg.theory.params import ParameterError

__all__ = ["Family", "FAMILY_SAMPLERS", "get_family", "custom_family"]


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


@dataclass(frozen=True)
class Family:
    """A sampler plus the raw mean and std used to standardize its draws."""

    name: str
    draw: Any
    mean: float
    std: float


FAMILY_SAMPLERS: dict[str, Family] = {
    "gaussian": Family("gaussian", draw_gaussian, 0.0, 1.0),
    "uniform": Family("uniform", draw_uniform, 0.5, math.sqrt(1.0 / 12.0)),
    "laplace": Family("laplace", draw_laplace, 0.0, math.sqrt(2.0)),
    "exponential": Family("exponential", draw_exponential, 1.0, 1.0),
    "relu": Family("relu", draw_relu, 1.0 / math.sqrt(2.0 * math.pi),
                   math.sqrt(0.5 - 1.0 / (2.0 * math.pi))),
}


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

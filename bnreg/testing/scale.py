"""The Monte-Carlo scale of the testing API: quick, default or paper, the sample-size factors of `bnreg verify`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bnreg.params import check_choice

from .calls import as_input_error
from .judge import SCALES

__all__ = ["set_mc_scale", "get_mc_scale", "mc_scale", "scale_factor", "scale_name", "resolve_scale"]

_SCALE = ["default"]  # the current scale (a list: set in place, no global statement)


def set_mc_scale(scale: str | None) -> str:
    """Set the scale every sample size of this API is multiplied by when a call gives none:
    "quick" (n x 1/8), "default" (n) or "paper" (n x 8), the factors of `bnreg verify` (SCALES).
    None resets to "default".  Returns the previous scale.  The pytest option --mc-scale sets it."""
    old = _SCALE[0]
    _SCALE[0] = "default" if scale is None else scale_name(scale)
    return old


def get_mc_scale() -> str:
    """The current scale (see `set_mc_scale`)."""
    return _SCALE[0]


@contextmanager
def mc_scale(scale: str | None) -> Iterator[str]:
    """Context manager: `set_mc_scale(scale)` inside, the previous scale restored after."""
    old = set_mc_scale(scale)
    try:
        yield get_mc_scale()
    finally:
        set_mc_scale(old)


def scale_factor(scale: str) -> float:
    """n multiplier of a scale: SCALES[scale] / SCALES["default"] (1/8, 1, 8)."""
    return SCALES[scale_name(scale)] / SCALES["default"]


def scale_name(scale: str) -> str:
    """`scale` if it is quick, default or paper; CheckInputError otherwise."""
    with as_input_error():
        return check_choice("scale", scale, tuple(SCALES))


def resolve_scale(scale: str | None) -> str:
    """`scale` checked (CheckInputError otherwise), or the current scale if None."""
    return _SCALE[0] if scale is None else scale_name(scale)

"""Verify your own formula: the toolkit's check machinery as a testing API (docs/testing.md).

    from bnreg.testing import assert_matches_mc, check_formula

    assert_matches_mc(theory, sampler, {"M": 64})          # one point; AssertionError if they disagree
    r = check_formula(theory, sampler, {"M": [64, 256]},   # a grid, Bonferroni, and power against
                      wrong={"3/(2M)": lambda M: 1.5 / M})  # wrong variants that must fail
    print(r); assert r.passed, r

`theory(**params) -> float`; `sampler(rng, n, **params)` -> n i.i.d. draws (a numpy array) of the
statistic whose mean the theory predicts, `rng` a numpy Generator (a numba-jitted sampler works
too).  The checks are judged by `bnreg.sims.checks.run_check`, the function behind `bnreg verify`
(Student-t tolerance z SE + allowance, Bonferroni over a grid, power = each wrong variant rejected
somewhere), so they print the same table.  `bnreg check FILE.py` runs the checks a file declares;
the pytest plugin (`bnreg.testing.plugin`) adds the fixture `bnreg_mc` and `--mc-scale
quick|default|paper`.

The names load lazily, so that the pytest plugin costs nothing at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bnreg.sims.checks import Check, CheckResult, PointResult

    from .core import (
        DEFAULT_CHUNKS,
        DEFAULT_N,
        MIN_PER_CHUNK,
        CheckInputError,
        FormulaCheck,
        MonteCarloFixture,
        SampledMC,
        assert_matches_mc,
        check_formula,
        formula_check,
        get_mc_scale,
        iter_checks,
        load_checks,
        mc_scale,
        required_n,
        run_checks,
        sample_mean,
        scale_factor,
        set_mc_scale,
    )

__all__ = [
    "assert_matches_mc", "check_formula", "formula_check", "run_checks", "iter_checks", "load_checks",
    "set_mc_scale", "get_mc_scale", "mc_scale", "scale_factor", "sample_mean", "required_n",
    "CheckInputError", "FormulaCheck", "SampledMC", "MonteCarloFixture", "Check", "CheckResult", "PointResult",
    "DEFAULT_N", "DEFAULT_CHUNKS", "MIN_PER_CHUNK",
]

_FROM_CHECKS = ("Check", "CheckResult", "PointResult")


def __getattr__(name: str) -> Any:
    if name in _FROM_CHECKS:
        from bnreg.sims import checks

        return getattr(checks, name)
    if name in __all__:
        from . import core

        return getattr(core, name)
    raise AttributeError(f"module 'bnreg.testing' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(__all__) | {"core", "plugin"})

"""Verify your own formula: the toolkit's check machinery as a testing API (docs/testing.md).

    from bnreg.testing import assert_matches_mc, check_formula

    assert_matches_mc(theory, sampler, {"M": 64})          # one point; AssertionError if they disagree
    r = check_formula(theory, sampler, {"M": [64, 256]},   # a grid, Bonferroni, and power against
                      wrong={"3/(2M)": lambda M: 1.5 / M})  # wrong variants that must fail
    print(r); assert r.passed, r

`theory(**params) -> float`; `sampler(rng, n, **params)` -> n i.i.d. draws (a numpy array) of the
statistic whose mean the theory predicts, `rng` a numpy Generator (a numba-jitted sampler works
too).  The checks are judged by `bnreg.testing.judge.run_check` through the one runner of
`bnreg verify` (`bnreg.testing.runner.run_suite`): Student-t tolerance z SE + allowance, Bonferroni
over a grid, power = each wrong variant rejected somewhere, and the same printed table.
`bnreg check FILE.py` runs the checks a file declares; the pytest plugin (`bnreg.testing.plugin`)
adds the fixture `bnreg_mc` and `--mc-scale quick|default|paper`.

The names load lazily, so that the pytest plugin costs nothing at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bnreg.errors import CheckInputError

    from .declare import FormulaCheck, formula_check
    from .fixture import MonteCarloFixture
    from .judge import Check, CheckResult, PointResult
    from .load import load_checks
    from .runner import assert_matches_mc, check_formula, iter_checks, run_checks, run_suite
    from .sampling import DEFAULT_CHUNKS, DEFAULT_N, MIN_PER_CHUNK, SampledMC, required_n, sample_mean
    from .scale import get_mc_scale, mc_scale, scale_factor, set_mc_scale

# name -> the module that holds it (one home each; this package only points there)
_HOMES = {
    "assert_matches_mc": "runner", "check_formula": "runner", "run_checks": "runner", "iter_checks": "runner",
    "run_suite": "runner", "formula_check": "declare", "FormulaCheck": "declare", "load_checks": "load",
    "set_mc_scale": "scale", "get_mc_scale": "scale", "mc_scale": "scale", "scale_factor": "scale",
    "sample_mean": "sampling", "required_n": "sampling", "SampledMC": "sampling", "DEFAULT_N": "sampling",
    "DEFAULT_CHUNKS": "sampling", "MIN_PER_CHUNK": "sampling", "MonteCarloFixture": "fixture",
    "Check": "judge", "CheckResult": "judge", "PointResult": "judge",
}

__all__ = [
    "assert_matches_mc", "check_formula", "run_checks", "iter_checks", "run_suite", "formula_check", "FormulaCheck",
    "load_checks", "set_mc_scale", "get_mc_scale", "mc_scale", "scale_factor", "sample_mean", "required_n",
    "SampledMC", "DEFAULT_N", "DEFAULT_CHUNKS", "MIN_PER_CHUNK", "MonteCarloFixture", "Check", "CheckResult",
    "PointResult", "CheckInputError",
]


def __getattr__(name: str) -> Any:
    if name == "CheckInputError":
        from bnreg.errors import CheckInputError

        return CheckInputError
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'bnreg.testing' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(__all__) | {"judge", "report", "runner", "declare", "sampling", "scale", "calls", "load",
                                  "fixture", "plugin"})

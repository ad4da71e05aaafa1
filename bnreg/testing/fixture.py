"""What the pytest fixture `bnreg_mc` returns: the testing API bound to the run's --mc-scale."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .judge import CheckResult, PointResult
from .runner import assert_matches_mc, check_formula, run_checks
from .scale import resolve_scale

__all__ = ["MonteCarloFixture"]


class MonteCarloFixture:
    """What the pytest fixture `bnreg_mc` returns: the API bound to the run's --mc-scale."""

    def __init__(self, scale: str | None = None):
        self.scale = resolve_scale(scale)

    def assert_matches_mc(self, theory: Callable[..., float], sampler: Callable[..., Any],
                          params: Mapping | None = None, **options: Any) -> PointResult:
        """`assert_matches_mc` at this scale."""
        options.setdefault("scale", self.scale)
        return assert_matches_mc(theory, sampler, params, **options)

    def check_formula(self, theory: Callable[..., float], sampler: Callable[..., Any], grid: Any = None,
                      **options: Any) -> CheckResult:
        """`check_formula` at this scale (returns the result; `assert r.passed, r` shows the table)."""
        options.setdefault("scale", self.scale)
        return check_formula(theory, sampler, grid, **options)

    def run_checks(self, checks: Any) -> list[CheckResult]:
        """`run_checks` at this scale."""
        return run_checks(checks, self.scale)

"""pytest plugin of `bnreg.testing` (entry point `bnreg.testing.plugin` in the group pytest11, so it
loads wherever bnreg is installed; without the install: `pytest -p bnreg.testing.plugin`).

- option `--mc-scale quick|default|paper` (or the ini key `mc_scale`): multiplies every sample size
  of `bnreg.testing` by 1/8, 1 or 8 (the scales of `bnreg verify`), so CI can run quick and a
  release run large;
- fixture `bnreg_mc`: `assert_matches_mc`, `check_formula`, `run_checks` bound to that scale.

Nothing heavy is imported unless the option is given or the fixture is used.  docs/testing.md.
"""

from __future__ import annotations

import pytest

SCALE_NAMES = ("quick", "default", "paper")
_PREVIOUS = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bnreg", "bnreg Monte Carlo checks (bnreg.testing)")
    group.addoption("--mc-scale", choices=SCALE_NAMES, default=None, dest="mc_scale",
                    help="scale every Monte Carlo sample size of bnreg.testing: quick (n x 1/8), "
                    "default (n), paper (n x 8)")
    parser.addini("mc_scale", "default --mc-scale (quick | default | paper)", default="")


def mc_scale_of(config: pytest.Config) -> str | None:
    """The run's scale: --mc-scale, else the ini key mc_scale, else None (bnreg.testing's own)."""
    scale = config.getoption("mc_scale", None) or config.getini("mc_scale") or None
    if scale is not None and scale not in SCALE_NAMES:
        raise pytest.UsageError(f"mc_scale must be one of {', '.join(SCALE_NAMES)} (got {scale!r})")
    return scale


def pytest_configure(config: pytest.Config) -> None:
    scale = mc_scale_of(config)
    if scale is not None:  # also direct calls of bnreg.testing functions in the tests use it
        from bnreg.testing import set_mc_scale

        config.stash[_PREVIOUS] = set_mc_scale(scale)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _PREVIOUS in config.stash:
        from bnreg.testing import set_mc_scale

        set_mc_scale(config.stash[_PREVIOUS])


def pytest_report_header(config: pytest.Config) -> str | None:
    scale = mc_scale_of(config)
    if scale is None:
        return None
    from bnreg.testing import scale_factor

    return f"bnreg.testing: --mc-scale {scale} (Monte Carlo n x {scale_factor(scale):g})"


@pytest.fixture
def bnreg_mc(request: pytest.FixtureRequest):
    """The testing API at the run's --mc-scale: `bnreg_mc.assert_matches_mc(theory, sampler, params)`,
    `bnreg_mc.check_formula(theory, sampler, grid, wrong=...)`, `bnreg_mc.run_checks(checks)`;
    `bnreg_mc.scale` is the scale."""
    from bnreg.testing import MonteCarloFixture

    return MonteCarloFixture(mc_scale_of(request.config))

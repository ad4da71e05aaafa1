"""One seed path: every command that draws random numbers takes --seed, and the seed reaches the numbers."""

from __future__ import annotations

import pytest

from bnreg.cli import build_parser

RANDOM_COMMANDS = ("verify", "check", "figures", "cnn", "demo")


def _subparser(name: str):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "cmd")
    return sub.choices[name]


@pytest.mark.parametrize("command", RANDOM_COMMANDS)
def test_every_random_command_takes_a_seed(command):
    opts = {o for a in _subparser(command)._actions for o in a.option_strings}
    assert "--seed" in opts


def test_verify_seed_reaches_every_point_and_is_recorded():
    from bnreg.sims.catalog import select_checks
    from bnreg.testing.runner import run_suite

    checks = select_checks("batch_mean_var")
    default = run_suite(checks, "quick", threads=1)[0]
    again = run_suite(checks, "quick", threads=1, seed=None)[0]
    other = run_suite(checks, "quick", threads=1, seed=7)[0]
    assert [p.mc.estimate for p in default.points] == [p.mc.estimate for p in again.points]
    assert all(p.mc.estimate != q.mc.estimate for p, q in zip(default.points, other.points, strict=True))
    from bnreg.testing.judge import BASE_SEED

    assert default.base_seed == BASE_SEED and other.base_seed == 7  # the seed actually used, recorded
    assert other.to_dict()["seed"] == 7


def test_a_bad_seed_is_one_line_exit_2(capsys):
    from bnreg.cli import main

    assert main(["verify", "--only", "batch_mean_var", "--quick", "--seed", "-1"]) == 2
    err = capsys.readouterr().err
    assert "seed" in err and len(err.strip().splitlines()) == 1

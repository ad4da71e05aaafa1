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


@pytest.mark.parametrize("argv", [["figures", "simple_error", "--quick", "--seed", "-1"],
                                  ["demo", "bn_noise", "--quick", "--seed", "-1"],
                                  ["cnn", "dataset=digits", "--seed", "-1"]])
def test_a_negative_seed_is_refused_before_any_work(tmp_path, capsys, argv):
    from bnreg.cli import main

    out = tmp_path / "out"
    extra = ["--out", str(out)] if argv[0] == "figures" else ["--save", str(out)] if argv[0] == "demo" else []
    assert main([*argv, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert "seed" in err and "\n" not in err and "Traceback" not in err
    assert not out.exists()  # nothing written, nothing created


def test_the_library_refuses_bad_seeds_with_one_line():
    from bnreg.errors import ParameterError
    from bnreg.runtime import chunk_generators, derive_seed

    for bad in (-1, 1.5, "x", True):
        with pytest.raises(ParameterError, match="seed"):
            derive_seed(bad, "key")
        with pytest.raises(ParameterError, match="seed"):
            chunk_generators(bad, 2)
    assert derive_seed(2019.0, "k") == derive_seed(2019, "k")  # an integral float names the same seed


def test_the_figures_default_seed_is_the_documented_one():
    from bnreg.figures.run import DEFAULT_SEED

    action = next(a for a in _subparser("figures")._actions if "--seed" in a.option_strings)
    assert action.default == DEFAULT_SEED == 2019


def test_a_notebook_runs_with_its_seed(tmp_path):
    import json

    from bnreg.demos.notebook import write_notebook

    nb = json.loads(write_notebook("bn_noise", tmp_path, seed=5).read_text())
    code = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "main(quick=quick_from_env(), seed=5)" in code
    nb0 = json.loads(write_notebook("bn_noise", tmp_path / "zero").read_text())
    assert "seed=" not in "".join("".join(c["source"]) for c in nb0["cells"] if "main(quick" in "".join(c["source"]))

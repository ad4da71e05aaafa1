"""Hostile class 4b: the Python API (bnreg.make_figures, bnreg.verify) and the testing API validate like the
CLI (split from test_hostile_numbers.py)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest
from _hostile import (
    assert_clean,
    assert_one_error,
    cli,
    debris,
)

import bnreg
from bnreg.errors import BnregError, ParameterError

CNN = ["cnn", "dataset=digits", "epochs=1", "widths=4", "fc=8", "--no-progress"]


def _refused(r, *needles: str) -> str:
    assert r.code == 2, (r.code, r.err[-600:], r.out[-300:])
    line = assert_one_error(r.err, *needles)
    assert r.out == "", f"work was done before the refusal: {r.out[:300]!r}"
    return line


VERIFY = ["verify", "--quick", "--only", "simple_error.exact"]
FIG = ["figures", "simple_error", "--quick", "--workers", "1"]

# ------------------------------------------------------------------------------------------ the API
def _api_cases(tmp):
    out = str(tmp / "out")
    mf = bnreg.make_figures
    return {
        "make_figures-seed-1.5": lambda: mf(["simple_error"], scale="quick", out=out, seed=1.5),
        "make_figures-seed-negative": lambda: mf(["simple_error"], scale="quick", out=out, seed=-1),
        "make_figures-seed-abc": lambda: mf(["simple_error"], scale="quick", out=out, seed="abc"),
        "make_figures-scale-bogus": lambda: mf(["simple_error"], scale="bogus", out=out),
        "make_figures-name-bogus": lambda: mf(["NOPE"], scale="quick", out=out),
        "make_figures-names-int": lambda: mf(42, scale="quick", out=out),
        "make_figures-out-None": lambda: mf(["simple_error"], scale="quick", out=None),
        "make_figures-out-empty": lambda: mf(["simple_error"], scale="quick", out=""),
        "make_figures-out-devnull": lambda: mf(["simple_error"], scale="quick", out="/dev/null"),
        "make_figures-workers-zero": lambda: mf(["simple_error"], scale="quick", out=out, workers=0),
        "make_figures-threads-1.5": lambda: mf(["simple_error"], scale="quick", out=out, threads=1.5),
        "make_figures-backend-bogus": lambda: mf(["simple_error"], scale="quick", out=out, backend="bogus"),
        "verify-only-int": lambda: bnreg.verify(only=42),
        "verify-only-empty": lambda: bnreg.verify(only=""),
        "verify-only-list": lambda: bnreg.verify(only=["x"]),
        "verify-only-comma": lambda: bnreg.verify(only=","),
        "verify-only-NOPE": lambda: bnreg.verify(only="NOPE"),
        "verify-scale-bogus": lambda: bnreg.verify(only="simple_error.exact", scale="bogus"),
        "verify-seed-1.5": lambda: bnreg.verify(only="simple_error.exact", seed=1.5),
        "verify-seed-negative": lambda: bnreg.verify(only="simple_error.exact", seed=-1),
        "verify-threads-zero": lambda: bnreg.verify(only="simple_error.exact", threads=0),
        "verify-threads-str": lambda: bnreg.verify(only="simple_error.exact", threads="x"),
        "evaluate-nan": lambda: bnreg.evaluate("simple_error", M=float("nan")),
        "evaluate-bool": lambda: bnreg.evaluate("simple_error", M=True),
        "evaluate-array": lambda: bnreg.evaluate("simple_error", M=np.array([4, 5])),
        "evaluate-name-int": lambda: bnreg.evaluate(42, M=4),
        "evaluate-unknown-param": lambda: bnreg.evaluate("simple_error", M=4, bogus=1),
    }


API_IDS = list(_api_cases(Path("/nonexistent")))


@pytest.mark.parametrize("case", API_IDS)
def test_api_validates_like_the_cli(tmp_path, monkeypatch, case):
    monkeypatch.chdir(tmp_path)
    fn = _api_cases(tmp_path)[case]
    with pytest.raises(BnregError) as ei:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            fn()
    assert isinstance(ei.value, (ParameterError, OSError)), type(ei.value)
    assert "\n" not in str(ei.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == [], f"written: {sorted(p.name for p in tmp_path.iterdir())}"


@pytest.mark.parametrize("api,argv", [
    (lambda: bnreg.verify(only="simple_error.exact", seed=-1), [*VERIFY, "--seed", "-1"]),
    (lambda: bnreg.verify(only="simple_error.exact", threads=0), [*VERIFY, "--threads", "0"]),
    (lambda: bnreg.verify(only="NOPE"), ["verify", "--quick", "--only", "NOPE"]),
    (lambda: bnreg.make_figures(["simple_error"], scale="quick", out="x", seed=-1), [*FIG, "--seed", "-1"]),
    (lambda: bnreg.make_figures(["simple_error"], scale="quick", out="x", workers=0),
     ["figures", "simple_error", "--quick", "--workers", "0"]),
    (lambda: bnreg.make_figures(["NOPE"], scale="quick", out="x"), ["figures", "NOPE", "--quick"]),
    (lambda: bnreg.evaluate("simple_error", M=1), ["eval", "simple_error", "M=1"]),
], ids=["verify-seed", "verify-threads", "verify-only", "figures-seed", "figures-workers", "figures-name", "eval-M"])
def test_api_message_is_the_cli_message(tmp_path, capsys, monkeypatch, api, argv):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ParameterError) as ei:
        api()
    r = cli(argv, capsys)
    line = assert_one_error(r.err)

    def norm(s):
        return re.sub(r"(^|[\s(])--", r"\1", s.removeprefix("bnreg: error: "))

    assert norm(line) == norm(str(ei.value)), (line, str(ei.value))


# ----------------------------------------------------------------------------------- the testing API
def _th(M):
    return 1.0


def _sampler(fn):
    return lambda rng, n, M: fn(rng, n)


def _raise_systemexit(rng, n):
    raise SystemExit(0)


SAMPLERS = {
    "wrong-shape-2d": lambda rng, n: np.ones((n, 2)),
    "wrong-length": lambda rng, n: np.ones(n // 2),
    "scalar": lambda rng, n: 1.0,
    "nan": lambda rng, n: np.full(n, np.nan),
    "one-nan": lambda rng, n: np.concatenate([rng.normal(1, 1, n - 1), [np.nan]]),
    "inf": lambda rng, n: np.full(n, np.inf),
    "1e308": lambda rng, n: np.full(n, 1e308),
    "raises": lambda rng, n: 1 / 0,
    "raises-systemexit": _raise_systemexit,
    "returns-None": lambda rng, n: None,
    "complex": lambda rng, n: np.ones(n) + 0j,
    "strings": lambda rng, n: np.array(["1"] * n),
}


@pytest.mark.parametrize("case", list(SAMPLERS))
def test_testing_api_bad_samplers(case):
    from bnreg.testing import CheckInputError, assert_matches_mc, check_formula

    sampler = _sampler(SAMPLERS[case])
    for call in (lambda: check_formula(_th, sampler, {"M": [4]}, scale="quick"),
                 lambda: assert_matches_mc(_th, sampler, {"M": 4}, scale="quick")):
        try:
            call()
        except CheckInputError as e:
            assert "\n" not in str(e) and "sampler" in str(e), str(e)
        except BaseException as e:  # noqa: BLE001 - the finding
            pytest.fail(f"sampler {case}: {type(e).__name__}: {e!s:.200} escaped instead of CheckInputError")
        else:
            pytest.fail(f"sampler {case}: accepted")


THEORIES = {"nan": lambda M: float("nan"), "inf": lambda M: float("inf"), "str": lambda M: "1.0",
            "array": lambda M: np.ones(2), "raises": lambda M: 1 / 0, "complex": lambda M: 1 + 1j}
CALL_BAD = {"n-zero": {"n": 0}, "n-negative": {"n": -5}, "n-1.5": {"n": 1.5}, "seed-negative": {"seed": -1},
            "seed-1.5": {"seed": 1.5}, "false_alarm-zero": {"false_alarm": 0},
            "false_alarm-nan": {"false_alarm": np.nan},
            "allowance-negative": {"allowance": -1}, "allowance-inf": {"allowance": np.inf},
            "chunks-one": {"chunks": 1}, "threads-zero": {"threads": 0}, "scale-bogus": {"scale": "bogus"},
            "wrong-variant-raises": {"wrong": {"w": lambda M: 1 / 0}}}


@pytest.mark.parametrize("case", [f"theory-{k}" for k in THEORIES] + list(CALL_BAD))
def test_testing_api_bad_theories_and_arguments(case):
    from bnreg.testing import CheckInputError, check_formula

    theory = THEORIES[case.removeprefix("theory-")] if case.startswith("theory-") else _th
    kw = {"scale": "quick", **CALL_BAD.get(case, {})}
    with pytest.raises(CheckInputError) as ei:
        check_formula(theory, lambda rng, n, M: rng.normal(1, 1, n), {"M": [4]}, **kw)
    assert "\n" not in str(ei.value)


@pytest.mark.parametrize("theory", [1.0, 2.0], ids=["equal", "different"])
def test_testing_api_zero_variance_sampler_shows_no_inf(theory):
    """A sampler with no spread (SE = 0): the table must not present z = inf/nan as a result."""
    from bnreg.testing import check_formula

    try:
        r = check_formula(lambda M: theory, lambda rng, n, M: np.ones(n), {"M": [4]}, scale="quick",
                          wrong={"w": lambda M: 3.0})
    except ParameterError as e:  # refusing a degenerate sampler is fine, in one line
        assert "\n" not in str(e)
        return
    table = str(r)
    assert not re.search(r"(?<![\w.])-?(inf|nan)\b", table), f"inf/nan presented in the table:\n{table}"


def test_no_debris_helper_sanity(tmp_path):
    """(The helpers themselves: a .tmp file is found, so the debris checks above can fail.)"""
    (tmp_path / ".tmp-x").write_text("x")
    assert debris(tmp_path)
    assert_clean("")

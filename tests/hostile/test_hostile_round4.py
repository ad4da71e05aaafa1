"""Class 9, found by an independent hostile run (2026-12-05) after classes 1-8 held: thread counts
beyond what C libraries take, numba's own environment variables, a non-UTF-8 locale, check files
that change directory or call os._exit, grids too large to run, false-alarm rates below double
precision, API arguments of the wrong type (complex, masked, 5000-digit ints, lists), CNN sizes
beyond any machine, a dataset split that leaves nothing to train on, a float64 BN that diverges,
`verify --list` with bad options, a bad Dask address when nothing needs computing, and a directory
where a checkpoint goes.

The contract as in the other classes: one `bnreg: error:` line (exit 2) before any work, or a right
answer; never a traceback or a Python warning; the API raises BnregError subclasses."""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pytest
from _hostile import assert_clean, assert_one_error, cli, python_noise, run, strict_json

import bnreg
from bnreg.errors import BnregError

VERIFY = ["verify", "--quick", "--only", "simple_error.exact"]
CNN = ["cnn", "dataset=digits", "epochs=1", "widths=4", "fc=8", "--no-progress"]
HEADER = "import numpy as np\nfrom bnreg.testing import formula_check\n"
GOOD = ("CHECK = formula_check(lambda M: 1.0, lambda rng, n, M: rng.normal(1.0, 1.0, n), {'M': [4]}, "
        "wrong={'w': lambda M: 3.0})\n")


@pytest.mark.parametrize("argv", [[*VERIFY, "--threads", str(2**64)], [*CNN, "--threads", str(2**64)],
                                  ["figures", "simple_error", "--quick", "--workers", "1", "--threads", str(2**64)]],
                         ids=["verify", "cnn", "figures"])
def test_threads_beyond_any_machine_are_refused(tmp_path, capsys, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    r = cli(argv, capsys)
    assert r.code == 2, (r.code, r.err[-600:])
    assert_one_error(r.err, "threads")


def test_api_threads_beyond_any_machine_are_refused():
    with pytest.raises(BnregError, match="threads"):
        bnreg.verify(only="simple_error.exact", scale="quick", threads=2**64)


@pytest.mark.processes
@pytest.mark.parametrize("var,value", [("NUMBA_NUM_THREADS", "0"), ("NUMBA_NUM_THREADS", "-1"),
                                       ("NUMBA_NUM_THREADS", "abc"), ("NUMBA_OPT", "abc")])
@pytest.mark.parametrize("cmd", [["formulas"], VERIFY], ids=["formulas", "verify"])
def test_numba_environment_garbage_is_one_line(var, value, cmd):
    r = run(cmd, env_extra={var: value}, timeout=60)
    assert r.code == 2, (r.code, r.err[-600:])
    assert_one_error(r.err, var)


@pytest.mark.processes
@pytest.mark.parametrize("cmd", [["formulas"], ["formulas", "simple_error"], ["figures", "list"], VERIFY],
                         ids=["formulas", "formulas-one", "figures-list", "verify"])
def test_ascii_locale_prints_everything(cmd):
    r = run(cmd, env_extra={"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": "ascii"},
            timeout=90)
    assert r.code == 0, (r.code, r.err[-600:])
    assert not python_noise(r.err), r.err[-800:]


@pytest.mark.processes
def test_notebook_in_an_ascii_locale(tmp_path):
    r = run(["demo", "bn_noise", "--notebook", tmp_path / "nb"],
            env_extra={"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0"}, timeout=90)
    assert r.code == 0, (r.code, r.err[-600:])
    strict_json((tmp_path / "nb" / "plot_bn_noise.ipynb").read_text(encoding="utf-8"))


def test_check_file_that_changes_directory(tmp_path, capsys, monkeypatch):
    (tmp_path / "cf").mkdir()
    (tmp_path / "cf" / "chdir.py").write_text("import os\nos.chdir('/')\n" + HEADER + GOOD)
    monkeypatch.chdir(tmp_path)
    r = cli(["check", "cf/chdir.py", "--quick"], capsys)
    assert r.code == 0, (r.code, r.err[-600:])
    assert not python_noise(r.err)


def test_check_file_calling_os_exit_fails(tmp_path, capsys):
    (tmp_path / "x.py").write_text(HEADER + GOOD + "import os\nos._exit(0)\n")
    r = cli(["check", tmp_path / "x.py", "--quick"], capsys)
    assert r.code == 2, (r.code, r.err[-600:])
    assert_one_error(r.err, "os._exit")


@pytest.mark.parametrize("grid", ["{'M': range(1000000)}", "{'a': range(3000), 'b': range(3000)}",
                                  "[{'M': 4}] * 20000"], ids=["one-axis", "product", "list"])
def test_huge_grid_is_refused_before_any_work(tmp_path, capsys, grid):
    (tmp_path / "x.py").write_text(HEADER + f"CHECK = formula_check(lambda **p: 1.0, lambda rng, n, **p: "
                                   f"rng.normal(1.0, 1.0, n), {grid}, wrong={{'w': lambda **p: 3.0}})\n")
    r = cli(["check", tmp_path / "x.py", "--quick"], capsys)
    assert r.code == 2, (r.code, r.err[-600:])
    assert_one_error(r.err, "grid")
    assert r.out == ""


@pytest.mark.parametrize("fa", ["1e-16", "1e-300", "5e-324"])
def test_false_alarm_below_double_precision_is_refused(tmp_path, capsys, fa):
    (tmp_path / "x.py").write_text(HEADER + GOOD.replace("wrong=", f"false_alarm={fa}, wrong="))
    r = cli(["check", tmp_path / "x.py", "--quick", "--json", tmp_path / "r.json"], capsys)
    assert r.code == 2, (r.code, r.err[-600:])
    assert_one_error(r.err, "false_alarm")


def _th(M):
    return 1.0


def _samp(rng, n, M):
    return rng.normal(1.0, 1.0, n)


class _BadFloat:
    def __float__(self):
        raise RuntimeError("no float here")


API = {
    "evaluate-name-list": lambda: bnreg.evaluate(["simple_error"], M=4),
    "evaluate-name-dict": lambda: bnreg.evaluate({"a": 1}, M=4),
    "evaluate-M-5000-digits": lambda: bnreg.evaluate("simple_error", M=10**5000),
    "evaluate-rho-complex": lambda: bnreg.evaluate("simple_error", M=8, rho=np.complex128(0.5 + 3j)),
    "evaluate-rho-masked": lambda: bnreg.evaluate("simple_error", M=8, rho=np.ma.masked),
    "evaluate-rho-float-raises": lambda: bnreg.evaluate("simple_error", M=8, rho=_BadFloat()),
    "verify-seed-5000-digits": lambda: bnreg.verify(only="simple_error.exact", scale="quick", seed=10**5000),
    "verify-scale-list": lambda: bnreg.verify(only="simple_error.exact", scale=["quick"]),
    "make_figures-scale-list": lambda: bnreg.make_figures(["simple_error"], scale=["quick"], out="o"),
    "make_figures-report-int": lambda: bnreg.make_figures(["simple_error"], scale="quick", out="o", report=5),
    "check_formula-wrong-int": lambda: _cf(wrong=5),
    "check_formula-shown-int": lambda: _cf(shown=5),
    "check_formula-shown-list": lambda: _cf(shown=[_th]),
    "check_formula-seed-5000-digits": lambda: _cf(seed=10**5000),
    "check_formula-n-5000-digits": lambda: _cf(n=10**5000),
    "check_formula-chunks-5000-digits": lambda: _cf(chunks=10**5000),
    "theory-10**400": lambda: _cf(theory=lambda M: 10**400),
    "theory-complex": lambda: _cf(theory=lambda M: np.complex128(1 + 5j)),
    "theory-float-raises": lambda: _cf(theory=lambda M: _BadFloat()),
    "check_formula-false_alarm-complex": lambda: _cf(false_alarm=np.complex128(1e-3 + 1j)),
    "assert_matches_mc-params-int": lambda: _amc(5),
    "assert_matches_mc-params-str": lambda: _amc("ab"),
    "assert_matches_mc-params-set": lambda: _amc({"M"}),
}


def _amc(params):
    from bnreg.testing import assert_matches_mc

    return assert_matches_mc(_th, _samp, params, scale="quick")


def _cf(theory=_th, **kw):
    from bnreg.testing import check_formula

    return check_formula(theory, _samp, {"M": [4]}, scale="quick", **({"wrong": {"w": lambda M: 3.0}} | kw))


@pytest.mark.parametrize("case", list(API))
def test_api_wrong_types_raise_one_line_bnreg_errors(tmp_path, monkeypatch, case):
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a ComplexWarning or an overflow warning is a finding too
        with pytest.raises(BnregError) as ei, contextlib.redirect_stderr(io.StringIO()):
            API[case]()
    assert "\n" not in str(ei.value)
    assert not list(tmp_path.iterdir()), "written before the refusal"


def test_api_float16_parameter_gives_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert bnreg.evaluate("simple_error", M=np.float16(2048)) == bnreg.evaluate("simple_error", M=2048)


@pytest.mark.parametrize("params", [["fc=100000000000000000000"], ["widths=100000000000000000000"],
                                    ["grad_diag_every=1", "grad_diag_batches=100000000000000000000"],
                                    ["n_val=1797"]], ids=["fc", "widths", "grad_diag_batches", "n_val-all"])
def test_cnn_impossible_sizes_are_one_line(tmp_path, capsys, params):
    r = cli([*CNN, *params, "--out", tmp_path / "m.json"], capsys)
    assert r.code == 2, (r.code, r.err[-600:])
    assert_one_error(r.err, params[-1].split("=")[0])
    assert not (tmp_path / "m.json").exists()


def test_cnn_float64_bn_divergence_is_not_a_crash(tmp_path, capsys):
    r = cli([*CNN, "norm=bn", "dtype=float64", "lr=1e300", "--out", tmp_path / "m.json"], capsys)
    assert r.code in (0, 1), (r.code, r.err[-600:])
    assert not python_noise(r.err), r.err[-800:]
    strict_json((tmp_path / "m.json").read_text())


@pytest.mark.parametrize("extra", [["--seed", "-1"], ["--quick", "--paper"], ["--json", "/nonexistent/dir/x.json"]],
                         ids=["seed", "scales", "json"])
def test_verify_list_validates_its_options(capsys, extra):
    r = cli(["verify", "--list", "--only", "simple_error.exact", *extra], capsys)
    assert r.code == 2, (r.code, r.err[-600:])
    assert_one_error(r.err)
    assert r.out == ""


def test_bad_address_refused_when_the_figure_is_up_to_date(tmp_path, capsys):
    out = tmp_path / "o"
    assert cli(["figures", "simple_error", "--quick", "--workers", "1", "--out", out], capsys).code == 0
    r = cli(["figures", "simple_error", "--quick", "--out", out, "--backend", "dask", "--address", "garbage"], capsys)
    assert r.code == 2, (r.code, r.err[-600:])
    assert_one_error(r.err, "garbage")
    with pytest.raises(BnregError, match="address"):
        bnreg.make_figures(["simple_error"], scale="quick", out=str(out), backend="dask", address=5)


def test_checkpoint_blocked_by_a_directory_is_refused_before_training(tmp_path, capsys):
    ck = tmp_path / "ck"
    assert cli([*CNN, "--checkpoint-dir", ck], capsys).code == 0
    (f,) = list(ck.glob("cnn_*.npz"))
    f.unlink()
    f.mkdir()
    r = cli([*CNN, "--checkpoint-dir", ck], capsys)
    assert r.code == 2, (r.code, r.err[-600:])
    assert_one_error(r.err, "checkpoint")
    assert "train loss" not in r.out, "refused only after training"
    assert_clean("")


def test_ctrl_c_after_the_work_is_ignored(monkeypatch, capsys):
    """`bnreg` (console script and `python -m bnreg`) = `bnreg.cli.run`: once main() has returned,
    SIGINT is ignored, so a Ctrl-C during the interpreter's teardown cannot end a finished run by
    SIGINT with no message (seen: demo and formulas interrupted in their last half second)."""
    import signal

    from bnreg.cli import run as bnreg_run

    old = signal.getsignal(signal.SIGINT)
    monkeypatch.setattr("sys.argv", ["bnreg", "eval", "simple_error", "M=4"])
    try:
        with pytest.raises(SystemExit) as ei:
            bnreg_run()
        assert ei.value.code == 0
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, old)
    assert capsys.readouterr().out.strip() == "0.375"

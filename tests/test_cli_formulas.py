"""Tests of the formula registry (theory/registry.py) and the `bnreg` command line (bnreg/cli.py)."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import shutil
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bnreg.cli import main
from bnreg.params import ParameterError
from bnreg.theory.catalog import FORMULAS, evaluate, get_formula

REQUIRED = {
    "simple_error": {"M", "exact"},
    "batch_std_var": {"M", "rho", "sigma"},
    "bn_deviation_ms": {"M", "rho", "u", "gamma"},
}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def exact_simple_error(M: int) -> float:
    """2 - 2 sqrt(2/M) Gamma(M/2)/Gamma((M-1)/2), via lgamma (independent of the library)."""
    return 2.0 - 2.0 * math.sqrt(2.0 / M) * math.exp(math.lgamma(M / 2) - math.lgamma((M - 1) / 2))


# --------------------------------------------------------------------------------------------
# formulas


def test_formulas_lists_required_names(capsys):
    rc, out, err = run(capsys, "formulas")
    assert rc == 0 and err == ""
    lines = out.splitlines()
    for name in REQUIRED:
        assert name in lines, f"{name} not listed as its own line in `bnreg formulas`"
    for name in FORMULAS:
        assert name in lines


def test_formulas_json_has_documented_params(capsys):
    rc, out, err = run(capsys, "formulas", "--json")
    assert rc == 0 and err == ""
    data = json.loads(out)
    assert isinstance(data, list)
    by_name = {d["name"]: d for d in data}
    assert set(REQUIRED) <= set(by_name)
    for name, params in REQUIRED.items():
        entry = by_name[name]
        got = {p["name"] for p in entry["params"]}
        assert params <= got, f"{name}: missing params {params - got}"
        assert entry["formula"] and entry["reference"]
        for p in entry["params"]:
            assert {"name", "kind", "default", "range", "doc"} <= set(p)
    M = next(p for p in by_name["simple_error"]["params"] if p["name"] == "M")
    assert M["kind"] == "int" and "M" in M["range"] and "2" in M["range"]


# --------------------------------------------------------------------------------------------
# eval: values


def test_eval_simple_error_asymptotic_json(capsys):
    rc, out, err = run(capsys, "eval", "simple_error", "M=32", "exact=false", "--json")
    assert rc == 0 and err == ""
    d = json.loads(out)
    assert d["name"] == "simple_error"
    assert d["params"] == {"M": "32", "exact": "false"}
    assert d["value"] == pytest.approx(3 / (2 * 32), rel=1e-12)


def test_eval_simple_error_exact(capsys):
    rc, out, err = run(capsys, "eval", "simple_error", "M=32", "exact=true")
    assert rc == 0 and err == ""
    assert float(out.strip()) == pytest.approx(exact_simple_error(32), rel=1e-12)


@pytest.mark.parametrize("M", [2, 3, 5, 17, 100, 1000])
def test_registry_simple_error_exact_matches_closed_form(M):
    assert evaluate("simple_error", M=M, exact=True) == pytest.approx(exact_simple_error(M), rel=1e-10)


def test_eval_batch_std_var(capsys):
    rc, out, err = run(capsys, "eval", "batch_std_var", "M=32", "rho=3", "sigma=2")
    assert rc == 0 and err == ""
    assert float(out.strip()) == pytest.approx(4 * (3 + 2) / (4 * 32), rel=1e-12)


def test_eval_batch_std_var_family_laplace_equals_rho_3(capsys):
    # Laplace excess kurtosis is 3.
    rc, out, err = run(capsys, "eval", "batch_std_var", "M=32", "family=laplace")
    assert rc == 0 and err == ""
    rc3, out3, _ = run(capsys, "eval", "batch_std_var", "M=32", "rho=3")
    assert rc3 == 0
    assert float(out.strip()) == pytest.approx(float(out3.strip()), rel=1e-12)
    assert float(out.strip()) == pytest.approx((3 + 2) / (4 * 32), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=2, max_value=10**6))
def test_eval_simple_error_asymptotic_any_M(M):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["eval", "simple_error", f"M={M}", "--json"])
    assert rc == 0
    assert json.loads(buf.getvalue())["value"] == pytest.approx(3 / (2 * M), rel=1e-12)


def test_registry_api_errors():
    with pytest.raises(ParameterError, match="nosuch"):
        get_formula("nosuch")
    with pytest.raises(ParameterError, match="needs M"):
        evaluate("simple_error")
    with pytest.raises(ParameterError, match="family or rho"):
        evaluate("batch_std_var", M=32, rho=1, family="laplace")


# --------------------------------------------------------------------------------------------
# bad input: exit 2, one line on stderr naming the parameter, no traceback

_CORES = os.cpu_count() or 1
BAD = [
    (["eval", "simple_error", "M=1"], ["2 <= M"]),
    (["eval", "simple_error", "M=2.5"], ["M", "integer", "2 <= M"]),
    (["eval", "batch_std_var", "M=32", "sigma=-1"], ["sigma", "0 < sigma"]),
    (["eval", "nosuchformula", "M=32"], ["nosuchformula"]),
    (["eval", "simple_error", "M"], ["'M'", "key=value"]),
    (["eval", "simple_error", "M=32", "bogus=1"], ["bogus"]),
    (["eval", "batch_std_var", "M=32", "family=cauchy"], ["family", "cauchy"]),
    (["nosuchcommand"], ["nosuchcommand"]),
    (["figures", "nosuchfigure"], ["nosuchfigure"]),
    (["verify", "--only", "nosuchcheck"], ["--only", "nosuchcheck"]),
    (["figures", "--quick", "--paper", "simple_error"], ["--quick", "--paper"]),
    (["figures", "simple_error", "--quick", "--workers", "0"], ["workers >= 1"]),
    (["figures", "simple_error", "--quick", "--threads", "0"], ["1 <= threads"]),
    (["figures", "simple_error", "--quick", "--workers", str(8 * _CORES)],
     [str(8 * _CORES), "--workers and --threads"]),
    (["figures", "simple_error", "--quick", "--workers", "4096"], ["4096", "workers <= 8 x the"]),
    (["figures", "simple_error", "--quick", "--threads", "4096"], ["4096", "threads <= "]),
    (["figures", "simple_error", "--quick", "--threads", str(2 * _CORES)],
     [str(2 * _CORES), "--workers and --threads"]),
    (["figures", "simple_error", "--quick", "--workers", "2", "--threads", "1", "--backend", "serial"],
     ["serial", "workers=2"]),
    (["figures", "simple_error", "--quick", "--backend", "threads"], ["backend", "threads"]),
    (["figures", "simple_error", "--quick", "--jobs", "2"], ["--jobs"]),
    (["verify", "--quick", "--only", "simple_error", "--threads", "0"], ["1 <= threads"]),
    (["verify", "--quick", "--jobs", "2"], ["--jobs"]),
    (["bench", "nosuchsuite"], ["suite", "bn_noise", "nosuchsuite"]),
]


@pytest.mark.parametrize("argv, needles", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_exits_2_with_one_line(capsys, tmp_path, monkeypatch, argv, needles):
    monkeypatch.chdir(tmp_path)  # `figures` would write to ./bnreg-figures
    rc, out, err = run(capsys, *argv)
    assert rc == 2
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {err!r}"
    assert lines[0].startswith("bnreg: error:")
    for n in needles:
        assert n in lines[0]
    assert out == ""
    assert list(tmp_path.iterdir()) == []  # nothing was computed or written


def test_subprocess_bad_input_exit_code_and_no_traceback():
    exe = shutil.which("bnreg")
    cmd = [exe] if exe else [sys.executable, "-m", "bnreg"]
    p = subprocess.run([*cmd, "eval", "simple_error", "M=1"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines() == ["bnreg: error: M must satisfy 2 <= M <= 1e+15 (got 1)"]


def test_a_full_stdout_is_one_line_and_exit_1():
    import subprocess
    import sys

    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "bnreg", "formulas"], stdout=full, stderr=subprocess.PIPE, text=True)
    assert r.returncode == 1 and r.stderr.strip() == "bnreg: error: cannot write the output: No space left on device"


def test_address_without_dask_is_refused(capsys):
    from bnreg.cli import main

    assert main(["verify", "--only", "batch_mean_var", "--address", "tcp://127.0.0.1:1"]) == 2
    assert "--backend dask" in capsys.readouterr().err


def test_out_of_memory_is_one_line_and_exit_1(monkeypatch, capsys):
    import bnreg.cli as cli

    def exhausted(args):
        raise MemoryError

    monkeypatch.setattr(cli, "cmd_formulas", exhausted)
    assert cli.main(["formulas"]) == 1
    assert capsys.readouterr().err.strip() == "bnreg: error: out of memory (lower the sizes, or raise the memory limit)"

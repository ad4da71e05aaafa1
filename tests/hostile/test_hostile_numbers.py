"""Class 4, numbers: absurd and extreme parameters for `bnreg eval` and `bnreg cnn key=value`
(duplicates, negatives, huge sizes, non-numbers, nan/inf strings), `--seed`, `--threads`,
`--workers`, `--only`, BNREG_THREADS and BNREG_DEMO_QUICK set to garbage; the Python API
equivalents (`bnreg.make_figures`, `bnreg.verify`, `bnreg.evaluate`) and the testing API
(`bnreg.testing.check_formula` / `assert_matches_mc` with samplers returning wrong shapes, NaN,
1e308, raising).

The contract: one `bnreg: error:` line naming the parameter, exit 2, before any work (nothing on
stdout); a huge size is refused that way or is one `out of memory` line, exit 1, promptly; the
API raises ParameterError (a ValueError) with the CLI's message; never NaN/inf presented as a
result, never invalid JSON.
"""

from __future__ import annotations

import math
import os
import re
import time

import pytest
from _hostile import (
    assert_one_error,
    cli,
    error_lines,
    finish,
    marked,
    new_mark,
    python_noise,
    run,
    start,
    strict_json,
)

import bnreg
from bnreg.errors import ParameterError

CNN = ["cnn", "dataset=digits", "epochs=1", "widths=4", "fc=8", "--no-progress"]


def _refused(r, *needles: str) -> str:
    assert r.code == 2, (r.code, r.err[-600:], r.out[-300:])
    line = assert_one_error(r.err, *needles)
    assert r.out == "", f"work was done before the refusal: {r.out[:300]!r}"
    return line


# ------------------------------------------------------------------------------------------ eval
EVAL_BAD = {
    "M-1e308": (["M=1e308"], "M"), "M-nan": (["M=nan"], "M"), "M-inf": (["M=inf"], "M"),
    "M-minus-inf": (["M=-inf"], "M"), "M-negative": (["M=-5"], "M"), "M-zero": (["M=0"], "M"),
    "M-10e30": (["M=" + "1" + "0" * 30], "M"), "M-abc": (["M=abc"], "M"), "M-empty": (["M="], "M"),
    "M-hex": (["M=0x10"], "M"), "M-arabic-digits": (["M=\u0663\u0662"], "M"), "M-1.5": (["M=1.5"], "M"),
    "M-duplicate": (["M=32", "M=32"], "M"), "unknown-param": (["M=32", "bogus=1"], "bogus"),
    "missing-M": ([], "M"), "exact-maybe": (["M=8", "exact=maybe"], "exact"), "no-key": (["=3"], "key=value"),
    "no-value-sep": (["M"], "key=value"), "rho-nan": (["M=8", "rho=nan"], "rho"),
    "rho-1e308": (["M=8", "rho=1e308"], "rho"), "family-bogus": (["M=8", "family=bogus"], "family"),
}


@pytest.mark.parametrize("case", list(EVAL_BAD))
def test_eval_bad_parameters(capsys, case):
    params, needle = EVAL_BAD[case]
    _refused(cli(["eval", "simple_error", *params], capsys), needle)


@pytest.mark.parametrize("params", [["M=1000000000000000", "exact=true"], ["M=2", "exact=true"],
                                    ["M=1000000000000000"], ["M=2", "rho=-2"]],
                         ids=["M-max-exact", "M-min-exact", "M-max", "rho-min"])
def test_eval_extremes_are_finite_json(capsys, params):
    r = cli(["eval", "simple_error", *params, "--json"], capsys)
    if r.code == 2:  # refusing an extreme corner is allowed, in one line
        assert_one_error(r.err)
        return
    assert r.code == 0, r.err
    doc = strict_json(r.out)
    assert doc["value"] is None and doc.get("divergent") or math.isfinite(doc["value"]), doc


def _formula_cases():
    from bnreg.theory.catalog import FORMULAS

    return list(FORMULAS)


@pytest.mark.parametrize("name", _formula_cases())
def test_every_formula_at_its_bounds_and_beyond(name):
    """Each numeric parameter at its bounds, just inside and outside them, and at +-1e300 /
    1e-300: a finite value, a stated divergence, or a one-line ParameterError; nothing else."""
    from bnreg.theory.catalog import FORMULAS, evaluate_detail

    f = FORMULAS[name]
    base = {}
    for p in f.params:
        if p.required:
            if p.kind == "choice":
                base[p.name] = p.choices[0]
            elif p.kind == "bool":
                base[p.name] = True
            else:
                lo = 0.5 if p.lo is None else p.lo
                hi = None if p.hi is None else p.hi
                base[p.name] = (int(lo) + 1 if p.kind == "int" else (lo + 0.5 if hi is None or lo + 0.5 < hi
                                                                      else (lo + hi) / 2))
    bad = []
    for p in f.params:
        if p.kind not in ("int", "float"):
            continue
        vals = [1e-300, 1e300, -1e300, 1e15, 2.0**53, float("nan"), float("inf")]
        for b in (p.lo, p.hi):
            if b is not None:
                vals += [b, b * (1 + 1e-12) + 1e-300, b * (1 - 1e-12) - 1e-300]
        if p.kind == "int":
            vals = [int(v) if math.isfinite(v) and abs(v) < 1e18 else v for v in vals]
        for v in vals:
            kw = {**base, p.name: v}
            try:
                res = evaluate_detail(name, **kw)
            except ParameterError as e:
                if "\n" in str(e):
                    bad.append((kw, f"multi-line message {str(e)!r}"))
                continue
            except Exception as e:  # noqa: BLE001 - the finding
                bad.append((kw, f"{type(e).__name__}: {e}"))
                continue
            if not res.divergent and not (isinstance(res.value, float) and math.isfinite(res.value)):
                bad.append((kw, f"value {res.value!r}"))
    assert not bad, f"{name}: {bad[:5]}"


# ------------------------------------------------------------------------------------------- cnn
CNN_BAD = {
    "fc-duplicate": (["fc=8"], "fc"), "fc-negative": (["fc=-1"], "fc"), "fc-zero": (["fc=0"], "fc"),
    "fc-abc": (["fc=abc"], "fc"), "fc-nan": (["fc=nan"], "fc"), "fc-inf": (["fc=inf"], "fc"),
    "fc-1e308": (["fc=1e308"], "fc"), "fc-1.5": (["fc=1.5"], "fc"), "lr-nan": (["lr=nan"], "lr"),
    "lr-inf": (["lr=inf"], "lr"), "lr-negative": (["lr=-1"], "lr"), "lr-zero": (["lr=0"], "lr"),
    "widths-negative-item": (["widths=4,-1"], "widths"), "widths-abc": (["widths=abc"], "widths"),
    "batch-zero": (["batch=0"], "batch"), "batch-1e9": (["batch=1000000000"], "batch"),
    "epochs-zero": (["epochs=0"], "epochs"), "epochs-negative": (["epochs=-1"], "epochs"),
    "p_drop-1.5": (["p_drop=1.5", "dropout=bernoulli"], "p_drop"), "p_drop-nan": (["p_drop=nan"], "p_drop"),
    "dataset-bogus": (["dataset=nope"], "dataset"), "norm-bogus": (["norm=nope"], "norm"),
    "seed-negative": (["seed=-1"], "seed"), "seed-opt-negative": (["--seed", "-1"], "seed"),
    "seed-opt-1.5": (["--seed", "1.5"], "seed"), "seed-opt-abc": (["--seed", "abc"], "seed"),
    "seed-twice": (["--seed", "5", "seed=5"], "seed"), "threads-zero": (["--threads", "0"], "threads"),
    "threads-negative": (["--threads", "-1"], "threads"), "threads-abc": (["--threads", "abc"], "threads"),
    "unknown-key": (["bogus=1"], "bogus"), "no-key": (["=3"], "key=value"), "no-sep": (["fc"], "key=value"),
}


@pytest.mark.parametrize("case", list(CNN_BAD))
def test_cnn_bad_config(capsys, case):
    extra, needle = CNN_BAD[case]
    base = [a for a in CNN if not (case.startswith("widths") and a.startswith("widths="))
            and not (case.startswith("epochs") and a.startswith("epochs="))]
    if case == "fc-duplicate":
        base = CNN
    elif case.startswith("fc"):
        base = [a for a in CNN if not a.startswith("fc=")]
    _refused(cli([*base, *extra], capsys), needle)


@pytest.mark.processes
@pytest.mark.parametrize("params,needle", [
    (["fc=1000000000"], "fc"),
    (["kernel=1001"], "kernel"), (["n_train=1000000000"], "n_train"),
], ids=["fc-1e9", "kernel-1001", "n_train-1e9"])
def test_cnn_huge_sizes_are_refused_or_one_line(tmp_path, params, needle):
    """Sizes that cannot fit: refused naming the field (exit 2) or `out of memory` (exit 1), in
    one line, promptly, without a traceback or a process left."""
    base = ["cnn", "dataset=digits", "epochs=1", "--no-progress", "--out", tmp_path / "m.json"]
    if not any(p.startswith("widths=") for p in params):
        base.append("widths=4")
    if not any(p.startswith("fc=") for p in params):
        base.append("fc=8")
    r = run([*base, *params], timeout=15)
    assert not r.timed_out, "still running after 15 s: an impossible size was not refused before the work"
    assert not r.left
    assert r.code in (1, 2), (r.code, r.err[-600:])
    line = assert_one_error(r.err)
    assert needle in line if r.code == 2 else "out of memory" in line, line
    assert not (tmp_path / "m.json").exists()


def test_cnn_diverged_run_writes_valid_json_and_no_nan(tmp_path, capsys):
    r = cli([*CNN, "lr=1e308", "--out", tmp_path / "m.json"], capsys)
    assert r.code == 1, r.err[-600:]
    assert not python_noise(r.err)
    doc = strict_json((tmp_path / "m.json").read_text())
    assert doc["diverged"] is True
    assert not re.search(r"\b(nan|inf|NaN|Infinity)\b", r.out), f"NaN/inf printed as a result: {r.out!r}"


# --------------------------------------------------------------------- seeds, threads, workers, --only
VERIFY = ["verify", "--quick", "--only", "simple_error.exact"]
FIG = ["figures", "simple_error", "--quick", "--workers", "1"]
OPTION_BAD = {
    "verify-seed-negative": ([*VERIFY, "--seed", "-1"], "seed"),
    "verify-seed-1.5": ([*VERIFY, "--seed", "1.5"], "seed"),
    "verify-seed-abc": ([*VERIFY, "--seed", "abc"], "seed"),
    "verify-seed-empty": ([*VERIFY, "--seed", ""], "seed"),
    "verify-threads-zero": ([*VERIFY, "--threads", "0"], "threads"),
    "verify-threads-negative": ([*VERIFY, "--threads", "-1"], "threads"),
    "verify-threads-abc": ([*VERIFY, "--threads", "abc"], "threads"),
    "verify-workers-zero": ([*VERIFY, "--workers", "0"], "workers"),
    "verify-workers-negative": ([*VERIFY, "--workers", "-1"], "workers"),
    "verify-workers-huge": ([*VERIFY, "--workers", "100000"], "workers"),
    "verify-quick-and-paper": ([*VERIFY, "--paper"], "--paper"),
    "verify-only-empty": (["verify", "--quick", "--only", ""], "--only"),
    "verify-only-comma": (["verify", "--quick", "--only", ","], "--only"),
    "verify-only-blank": (["verify", "--quick", "--only", "  "], "--only"),
    "verify-only-x-NOPE": (["verify", "--quick", "--only", "simple_error,NOPE"], "NOPE"),
    "verify-only-NOPE": (["verify", "--quick", "--only", "NOPE"], "NOPE"),
    "verify-only-bracket": (["verify", "--quick", "--only", "["], "--only"),
    "figures-seed-negative": ([*FIG, "--seed", "-1"], "seed"),
    "figures-seed-1.5": ([*FIG, "--seed", "1.5"], "seed"),
    "figures-seed-abc": ([*FIG, "--seed", "abc"], "seed"),
    "figures-workers-zero": (["figures", "simple_error", "--quick", "--workers", "0"], "workers"),
    "figures-workers-negative": (["figures", "simple_error", "--quick", "--workers", "-1"], "workers"),
    "figures-workers-huge": (["figures", "simple_error", "--quick", "--workers", "100000"], "workers"),
    "figures-threads-zero": ([*FIG, "--threads", "0"], "threads"),
    "figures-threads-huge": (["figures", "simple_error", "--quick", "--threads", "100000"], "threads"),
    "figures-name-bogus": (["figures", "NOPE", "--quick"], "NOPE"),
    "check-threads-zero": (["check", "{check}", "--quick", "--threads", "0"], "threads"),
    "check-seed-negative": (["check", "{check}", "--quick", "--seed", "-1"], "seed"),
    "demo-seed-negative": (["demo", "bn_noise", "--quick", "--seed", "-1"], "seed"),
    "demo-seed-1.5": (["demo", "bn_noise", "--quick", "--seed", "1.5"], "seed"),
    "demo-name-bogus": (["demo", "NOPE", "--quick"], "NOPE"),
    "bench-suite-bogus": (["bench", "NOPE", "--quick"], "NOPE"),
}

CHECK_SRC = '''
import numpy as np
from bnreg.testing import formula_check
CHECK = formula_check(lambda sigma: sigma * np.sqrt(2 / np.pi), lambda rng, n, sigma: np.abs(rng.normal(0, sigma, n)),
                      {"sigma": [1.0]}, wrong={"half": lambda sigma: sigma / 2}, name="mean_abs")
'''


@pytest.mark.parametrize("case", list(OPTION_BAD))
def test_bad_options(tmp_path, capsys, monkeypatch, case):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.py").write_text(CHECK_SRC)
    argv, needle = OPTION_BAD[case]
    _refused(cli([a.format(check=tmp_path / "c.py") for a in argv], capsys), needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.py"], "something was written"


@pytest.mark.parametrize("argv", [[*VERIFY, "--seed", str(2**64)], [*VERIFY, "--threads", "100000"],
                                  [*FIG, "--seed", str(2**64), "--out", "{tmp}/out"]],
                         ids=["verify-seed-2**64", "verify-threads-huge", "figures-seed-2**64"])
def test_huge_but_in_range_values_run_or_are_refused_in_one_line(tmp_path, capsys, argv):
    r = cli([a.format(tmp=tmp_path) for a in argv], capsys)
    if r.code == 2:
        assert_one_error(r.err)
        assert r.out == ""
    else:
        assert r.code == 0, r.err[-800:]
        assert not python_noise(r.err) and not error_lines(r.err), r.err[-600:]
        assert not re.search(r"\b(nan|inf)\b", r.out), r.out[-800:]


@pytest.mark.processes
def test_workers_far_above_the_cores_is_refused_or_bounded(tmp_path):
    """`--workers 1000 --threads 1` (both given, so "allowed" with a warning): it must not start a
    thousand processes on two cores for a few points, nor leave them behind; refusing it in one line
    or finishing promptly are both fine."""
    mark = new_mark()
    proc = start([*VERIFY, "--workers", "1000", "--threads", "1"], mark=mark)
    peak = 0
    t0 = time.time()
    while proc.poll() is None and time.time() - t0 < 10:
        peak = max(peak, len(marked(mark)))
        time.sleep(0.1)
    r = finish(proc, mark, timeout=1)
    assert not r.timed_out, f"still running after 10 s with {peak} processes"
    assert not r.left, f"{len(r.left)} processes left"
    assert r.code in (0, 2), (r.code, r.err[-600:])
    assert peak <= 64, f"{peak} processes started for one quick check on {os.cpu_count()} cores"


# ------------------------------------------------------------------------------ environment variables
ENV_THREADS_BAD = ["abc", "0", "1.5", "nan", "\u0663", "1e400"]


@pytest.mark.processes
@pytest.mark.parametrize("value", ENV_THREADS_BAD, ids=lambda v: f"BNREG_THREADS={v!r}")
def test_bnreg_threads_garbage_verify(tmp_path, value):
    r = run([*VERIFY, "--json", tmp_path / "v.json"], env_extra={"BNREG_THREADS": value}, timeout=60)
    _refused(r, "BNREG_THREADS")
    assert not (tmp_path / "v.json").exists()


@pytest.mark.processes
@pytest.mark.parametrize("cmd", ["check", "demo", "figures"])
def test_bnreg_threads_garbage_other_commands(tmp_path, cmd):
    (tmp_path / "c.py").write_text(CHECK_SRC)
    argv = {"check": ["check", tmp_path / "c.py", "--quick"],
            "demo": ["demo", "bn_noise", "--quick", "--save", tmp_path / "d"],
            "figures": [*FIG, "--out", tmp_path / "f"]}[cmd]
    r = run(argv, env_extra={"BNREG_THREADS": "abc"}, timeout=60, cwd=tmp_path)
    assert r.code == 2, f"BNREG_THREADS=abc accepted by `bnreg {cmd}` (exit {r.code})"
    assert_one_error(r.err, "BNREG_THREADS")
    # before any long work: at most the demo's title line was printed
    assert all(ln.startswith("== demo") for ln in r.out.splitlines()), r.out[:300]


def test_api_checks_bnreg_threads_every_time(monkeypatch):
    """`bnreg.verify()` in a long-lived process (a notebook): BNREG_THREADS set to garbage after a
    first run is refused too, not skipped because nothing needs recomputing."""
    with pytest.raises(ParameterError):
        monkeypatch.setenv("BNREG_THREADS", "abc")
        bnreg.verify(only="simple_error.exact", scale="quick")
    monkeypatch.delenv("BNREG_THREADS")
    bnreg.verify(only="simple_error.exact", scale="quick", threads=1)
    monkeypatch.setenv("BNREG_THREADS", "abc")
    with pytest.raises(ParameterError, match="BNREG_THREADS"):
        bnreg.verify(only="simple_error.exact", scale="quick")


@pytest.mark.parametrize("value", ["false", "no", "off"])
def test_bnreg_demo_quick_false_is_not_quick(tmp_path, capsys, monkeypatch, value):
    """BNREG_DEMO_QUICK=false must not mean quick (or must be refused in one line)."""
    monkeypatch.setenv("BNREG_DEMO_QUICK", value)
    r = cli(["demo", "bn_noise", "--no-save"], capsys)
    if r.code == 2:
        assert_one_error(r.err, "BNREG_DEMO_QUICK")
        return
    assert r.code == 0, r.err[-600:]
    assert "(quick)" not in r.out.splitlines()[0], f"BNREG_DEMO_QUICK={value} ran the quick demo: {r.out[:120]!r}"

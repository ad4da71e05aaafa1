"""The public testing API `bnreg.testing` (docs/testing.md): assert_matches_mc, check_formula, the
pytest plugin (--mc-scale, fixture bnreg_mc), `bnreg check FILE.py`, bad input, thread invariance,
and the docs page's examples run as tests (their printed tables compared with the page)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from bnreg.sims.catalog import CHECKS
from bnreg.testing import (
    CheckInputError,
    FormulaCheck,
    assert_matches_mc,
    check_formula,
    formula_check,
    get_mc_scale,
    load_checks,
    mc_scale,
    run_checks,
    sample_mean,
    set_mc_scale,
)
from bnreg.testing.judge import Check, CheckResult, run_check

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "testing.md"


def normal(rng, n, mu):
    return rng.normal(mu, 1.0, n)


def mean_of_normal(mu):
    """E[X] = mu for X ~ N(mu, 1)"""
    return mu


# --------------------------------------------------------------------------- the two functions
def test_a_correct_formula_passes_and_returns_its_point():
    p = assert_matches_mc(mean_of_normal, normal, {"mu": 0.5}, n=2**16)
    assert p.passed and p.params == {"mu": 0.5} and p.theory == 0.5
    assert p.mc.n == 2**16 and p.mc.n_chunks == 64 and abs(p.z) < 4
    assert p.tol == pytest.approx(3.45 * p.mc.se, rel=0.01)  # Student t, df = 63, two-sided 1e-3


def test_a_wrong_formula_fails_with_a_one_paragraph_report():
    with pytest.raises(AssertionError) as e:
        assert_matches_mc(lambda mu: mu + 0.05, normal, {"mu": 0.5}, n=2**16)
    msg = str(e.value)
    assert "\n" not in msg
    for part in ("(mu=0.5) = 0.55 (theory)", "Monte Carlo gives 0.49", "±", "z = -", "tolerance",
                 "n = 65536 draws", "false-alarm 0.001", "df = 63"):
        assert part in msg, (part, msg)


def test_allowance_widens_the_tolerance():
    with pytest.raises(AssertionError):
        assert_matches_mc(lambda mu: mu + 0.05, normal, {"mu": 0.5}, n=2**16)
    p = assert_matches_mc(lambda mu: mu + 0.05, normal, {"mu": 0.5}, n=2**16, allowance=0.1)
    assert p.allowance == 0.1 and p.tol > 0.1


def test_check_formula_grid_bonferroni_and_power_table():
    r = check_formula(mean_of_normal, normal, {"mu": [0.0, 1.0, 2.0]}, n=2**16,
                      wrong={"mu + 0.1": lambda mu: mu + 0.1, "mu + 1e-5": lambda mu: mu + 1e-5})
    assert isinstance(r, CheckResult) and isinstance(r.check, Check)
    assert r.accepted and not r.passed  # the tiny offset cannot be seen: NO POWER, a failure
    assert r.power == {"mu + 0.1": (3, 3), "mu + 1e-5": (0, 3)}
    assert r.zcrit == pytest.approx(3.80, abs=0.01)  # Bonferroni over 3 points
    text = str(r)
    assert "[NO POWER]" in text.splitlines()[0]
    assert "wrong variant 'mu + 0.1' rejected at 3/3 judged points [ok]" in text
    assert "wrong variant 'mu + 1e-5' rejected at 0/3 judged points [NO POWER]" in text
    ok = check_formula(mean_of_normal, normal, [{"mu": 0.0}, {"mu": 1.0}], n=2**16,
                       wrong=[lambda mu: mu + 0.1])
    assert ok.passed and list(ok.power) == ["wrong variant 1"]
    assert "E[X] = mu" in str(ok)  # the claim defaults to the theory's docstring


def test_a_check_without_wrong_variants_says_power_is_not_shown():
    r = check_formula(mean_of_normal, normal, {"mu": [0.0]}, n=2**14)
    assert r.passed and r.power == {}
    assert "no wrong variant given" in str(r)


def test_same_seed_same_numbers_on_any_thread_count():
    a = sample_mean(normal, {"mu": 0.3}, 2**15, seed=7, threads=1)
    b = sample_mean(normal, {"mu": 0.3}, 2**15, seed=7, threads=2)
    assert (a.estimate, a.se, a.n, a.skew) == (b.estimate, b.se, b.n, b.skew)
    c = sample_mean(normal, {"mu": 0.3}, 2**15, seed=8, threads=2)
    assert c.estimate != a.estimate
    r1 = check_formula(mean_of_normal, normal, {"mu": [0.0, 1.0]}, n=2**14, threads=1)
    r2 = check_formula(mean_of_normal, normal, {"mu": [0.0, 1.0]}, n=2**14, threads=2)
    assert r1.to_dict()["points"] == r2.to_dict()["points"]


def test_jackknife_se_is_the_batch_means_error():
    r = sample_mean(normal, {"mu": 0.0}, 2**16, seed=1)
    assert r.estimate == pytest.approx(0.0, abs=5 * r.se)
    assert r.se == pytest.approx(1 / np.sqrt(2**16), rel=0.3)  # 63 df: the SE itself is +-9 %


def test_a_numba_sampler_runs_in_parallel_chunks_with_the_same_numbers():
    numba = pytest.importorskip("numba")

    @numba.njit(nogil=True)
    def jit_normal(rng, n, mu):
        out = np.empty(n)
        for i in range(n):
            out[i] = mu + rng.standard_normal()
        return out

    a = sample_mean(jit_normal, {"mu": 0.3}, 2**14, seed=3, threads=1)
    b = sample_mean(jit_normal, {"mu": 0.3}, 2**14, seed=3, threads=2)
    assert a == b
    assert_matches_mc(lambda mu: mu, jit_normal, {"mu": 0.3}, n=2**14)
    with pytest.raises(AssertionError):
        assert_matches_mc(lambda mu: mu + 0.1, jit_normal, {"mu": 0.3}, n=2**14)


def test_scale_multiplies_n():
    assert get_mc_scale() == "default"
    assert check_formula(mean_of_normal, normal, {"mu": [0.0]}, n=2**13, scale="quick").points[0].mc.n == 2**10
    with mc_scale("paper"):
        assert get_mc_scale() == "paper"
        assert check_formula(mean_of_normal, normal, {"mu": [0.0]}, n=2**10).points[0].mc.n == 2**13
    assert get_mc_scale() == "default"
    assert set_mc_scale("quick") == "default"
    try:
        assert assert_matches_mc(mean_of_normal, normal, {"mu": 0.0}, n=2**13).mc.n == 2**10
    finally:
        set_mc_scale(None)
    with pytest.raises(CheckInputError, match="scale must be one of"):
        set_mc_scale("huge")


# ------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("sampler,match", [
    (lambda rng, n, mu: rng.normal(size=(n, 2)), r"returned shape \(256, 2\); expected \(256,\)"),
    (lambda rng, n, mu: rng.normal(size=n - 1), r"returned shape \(255,\); expected \(256,\)"),
    (lambda rng, n, mu: np.full(n, np.nan), "returned 256 non-finite value"),
    (lambda rng, n, mu: np.where(np.arange(n) == 3, np.inf, 0.0), "returned 1 non-finite value"),
    (lambda rng, n, mu: ["a"] * n, "expected an array of 256 real numbers"),
    (lambda rng, n, mu: 1e308 * (0.5 + 0.1 * rng.random(n)), r"magnitude [56].*e\+307; draws must satisfy"),
    (lambda rng, n, mu: 1 / 0, "sampler.*raised ZeroDivisionError"),
    (lambda rng, n: rng.normal(size=n), "sampler.*raised TypeError"),
])
def test_bad_sampler(sampler, match):
    with pytest.raises(CheckInputError, match=match):
        assert_matches_mc(mean_of_normal, sampler, {"mu": 0.0}, n=2**14)


@pytest.mark.parametrize("theory,match", [
    (lambda mu: 1 / (mu - mu), r"theory\(mu=0.0\) raised ZeroDivisionError"),
    (lambda mu: float("nan"), "returned nan; expected a finite number"),
    (lambda mu: np.array([1.0, 2.0]), r"returned an array of shape \(2,\)"),
    (lambda mu: "0", "expected one real number"),
])
def test_bad_theory(theory, match):
    with pytest.raises(CheckInputError, match=match):
        assert_matches_mc(theory, normal, {"mu": 0.0}, n=2**10)


def test_bad_options_and_wrong_variants():
    with pytest.raises(CheckInputError, match=r"n = 512 draws is too small: 64 chunks of at least 16"):
        assert_matches_mc(mean_of_normal, normal, {"mu": 0.0}, n=512)
    with pytest.raises(CheckInputError, match=r"at scale quick \(n = 4096 x 0.125\)"):
        assert_matches_mc(mean_of_normal, normal, {"mu": 0.0}, n=4096, scale="quick")
    with pytest.raises(CheckInputError, match="false_alarm"):
        assert_matches_mc(mean_of_normal, normal, {"mu": 0.0}, false_alarm=1.5)
    with pytest.raises(CheckInputError, match="theory must be callable"):
        assert_matches_mc(0.5, normal, {"mu": 0.0})
    with pytest.raises(CheckInputError, match="grid is empty"):
        check_formula(mean_of_normal, normal, [])
    with pytest.raises(CheckInputError, match="allowance must satisfy"):
        check_formula(mean_of_normal, normal, {"mu": [0.0]}, allowance=-1.0)
    with pytest.raises(CheckInputError, match=r"allowance\(mu=0.0\) = -1 is negative"):
        check_formula(mean_of_normal, normal, {"mu": [0.0]}, allowance=lambda mu: -1.0, n=2**10)
    with pytest.raises(CheckInputError, match=r"wrong variant 'w'\(mu=0.0\) raised KeyError"):
        check_formula(mean_of_normal, normal, {"mu": [0.0]}, wrong={"w": lambda mu: {}[mu]}, n=2**10)


def test_n_too_small_for_the_false_alarm_rate():
    """Skewed draws: the Edgeworth shift of the t quantile grows with z (smaller false alarm)."""
    def expo(rng, n):
        return rng.exponential(1.0, n) ** 3  # skewness ~ 20

    with pytest.raises(CheckInputError, match="too small for false-alarm 1e-09.*skewness.*n >= "):
        assert_matches_mc(lambda: 6.0, expo, n=2**12, false_alarm=1e-9)
    assert_matches_mc(lambda: 1.0, lambda rng, n: rng.exponential(1.0, n), n=2**12)  # skew 2: fine


# ---------------------------------------------------------------- one machinery with verify
@pytest.mark.mc
def test_the_toolkit_checks_run_on_the_public_api():
    """run_checks (the public runner) judges a toolkit check exactly as `bnreg verify` does (the
    whole catalog: `bnreg verify --quick` numbers are unchanged by the public API)."""
    check = next(c for c in CHECKS if c.name == "batch_mean_var")
    (r,) = run_checks(check, "quick")
    ref = run_check(check, "quick")
    assert r.to_dict() == ref.to_dict() and r.passed
    assert run_checks([ref], "quick")[0] is ref  # a result at the scale asked is not recomputed


def test_a_formula_check_is_a_check_judged_by_run_check():
    c = formula_check(mean_of_normal, normal, {"mu": [0.0, 1.0]}, n=2**12, wrong={"mu+1": lambda mu: mu + 1})
    assert isinstance(c, FormulaCheck) and isinstance(c, Check)
    assert run_check(c, "default").to_dict() == run_checks(c, "default")[0].to_dict()


# ----------------------------------------------------------------------------- pytest plugin
PLUGIN_TESTS = """
import numpy as np

def normal(rng, n, mu):
    return rng.normal(mu, 1.0, n)

def test_scale(bnreg_mc):
    assert bnreg_mc.scale == "{scale}"

def test_correct(bnreg_mc):
    p = bnreg_mc.assert_matches_mc(lambda mu: mu, normal, {{"mu": 0.5}}, n=2**14)
    assert p.mc.n == {n}

def test_wrong(bnreg_mc):
    bnreg_mc.assert_matches_mc(lambda mu: mu + 0.2, normal, {{"mu": 0.5}}, n=2**14)

def test_grid(bnreg_mc):
    r = bnreg_mc.check_formula(lambda mu: mu, normal, {{"mu": [0.0, 1.0]}}, n=2**14,
                               wrong={{"mu + 0.5": lambda mu: mu + 0.5}})
    assert r.passed, r

def test_plain_call_sees_the_scale():
    from bnreg.testing import assert_matches_mc
    assert assert_matches_mc(lambda mu: mu, normal, {{"mu": 0.0}}, n=2**14).mc.n == {n}
"""


def test_fixture_object_binds_the_scale():
    from bnreg.testing import MonteCarloFixture

    mc = MonteCarloFixture("quick")
    assert mc.scale == "quick"
    assert mc.assert_matches_mc(mean_of_normal, normal, {"mu": 0.0}, n=2**14).mc.n == 2**11
    assert mc.check_formula(mean_of_normal, normal, {"mu": [0.0]}, n=2**14).points[0].mc.n == 2**11
    assert MonteCarloFixture(None).scale == get_mc_scale()


def _plugin_args(request) -> list[str]:
    """-p bnreg.testing.plugin unless the installed entry point already loaded it."""
    return [] if request.config.pluginmanager.has_plugin("bnreg.testing.plugin") else ["-p", "bnreg.testing.plugin"]


@pytest.mark.processes
@pytest.mark.parametrize("scale,n", [("quick", 2**11), ("default", 2**14)])
def test_pytest_plugin_fixture_and_mc_scale(pytester, request, scale, n):
    """A correct formula passes and a wrong one fails through the fixture; --mc-scale scales n,
    also for direct calls of bnreg.testing in the tests."""
    pytester.makepyfile(test_user=PLUGIN_TESTS.format(scale=scale, n=n))
    opts = ["--mc-scale", scale] if scale != "default" else []
    res = pytester.runpytest(*_plugin_args(request), *opts, "-q")
    res.assert_outcomes(passed=4, failed=1)
    res.stdout.fnmatch_lines(["E * AssertionError: theory(mu=0.5) = 0.7 (theory) but Monte Carlo gives *"
                              f"n = {n} draws*"])
    assert get_mc_scale() == "default"  # restored after the inner run


@pytest.mark.processes
def test_pytest_plugin_ini_and_bad_scale(pytester, request):
    pytester.makeini("[pytest]\nmc_scale = paper\n")
    pytester.makepyfile(test_user="def test_s(bnreg_mc):\n    assert bnreg_mc.scale == 'paper'\n")
    res = pytester.runpytest(*_plugin_args(request))
    res.assert_outcomes(passed=1)
    res.stdout.fnmatch_lines(["bnreg.testing: --mc-scale paper (Monte Carlo n x 8)"])
    res = pytester.runpytest(*_plugin_args(request), "--mc-scale", "huge")
    assert res.ret != 0
    res.stderr.fnmatch_lines(["*--mc-scale*invalid choice*huge*"])


def test_the_entry_point_is_declared():
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["entry-points"]["pytest11"] == {"bnreg.testing.plugin": "bnreg.testing.plugin"}
    assert "bnreg.testing" in meta["tool"]["setuptools"]["packages"]


def test_importing_the_plugin_is_light():
    import subprocess
    import sys

    code = ("import sys, bnreg.testing.plugin; "
            "print(sorted(m for m in ('numba', 'scipy', 'sympy', 'bnreg.sims') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


# ------------------------------------------------------------------------------ bnreg check
CHECK_FILE = """
import numpy as np
from bnreg.testing import check_formula, formula_check

def normal(rng, n, mu):
    return rng.normal(mu, 1.0, n)

GOOD = formula_check(lambda mu: mu, normal, {{"mu": [0.0, 1.0]}}, n=2**14, name="good",
                     wrong={{"mu+1": lambda mu: mu + 1}})
CHECKS = [GOOD, formula_check(lambda mu: mu + {offset}, normal, {{"mu": [0.0]}}, n=2**14, name="second")]
RAN = check_formula(lambda mu: mu, normal, {{"mu": [2.0]}}, n=2**14, name="ran_at_import")
_private = formula_check(lambda mu: mu, normal, {{"mu": [0.0]}}, name="hidden")
"""


def test_bnreg_check_runs_the_checks_of_a_file(tmp_path, capsys):
    from bnreg.cli import main

    f = tmp_path / "my_checks.py"
    f.write_text(CHECK_FILE.format(offset=0.0))
    out = tmp_path / "r.json"
    assert main(["check", str(f), "--quick", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "== good [PASS]" in text and "== second [PASS]" in text and "== ran_at_import [PASS]" in text
    assert "hidden" not in text and text.count("== good") == 1  # listed in CHECKS and as GOOD: run once
    assert "check: 3 passed, 0 failed" in text
    data = json.loads(out.read_text())
    assert data["scale"] == "quick" and [c["name"] for c in data["checks"]] == ["good", "second", "ran_at_import"]
    assert {p["n"] for c in data["checks"] for p in c["points"]} == {2**11}

    f.write_text(CHECK_FILE.format(offset=0.5))
    assert main(["check", str(f), "--quick"]) == 1
    assert "check: 2 passed, 1 failed (failed: second)" in capsys.readouterr().out


@pytest.mark.parametrize("content,match", [
    (None, "no such file"),
    ("x = 1\n", "declares no check"),
    ("import no_such_module_here\n", r"importing .* failed \(line 1\): ModuleNotFoundError"),
    ("from bnreg.testing import formula_check\n"
     "C = formula_check(lambda M: 1.0, lambda rng, n, M: rng.normal(size=(n, M)), {'M': [8]}, n=2**14)\n",
     r"returned shape \(256, 8\); expected \(256,\)"),
])
def test_bnreg_check_bad_input_exits_2_with_one_line(tmp_path, capsys, content, match):
    from bnreg.cli import main

    f = tmp_path / "c.py"
    if content is not None:
        f.write_text(content)
    assert main(["check", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bnreg: error: ") and re.search(match, err), err


def test_load_checks_collects_in_order(tmp_path):
    f = tmp_path / "c.py"
    f.write_text(CHECK_FILE.format(offset=0.0).replace("RAN = check_formula", "RAN = formula_check"))
    assert [c.name for c in load_checks(f)] == ["good", "second", "ran_at_import"]


# ------------------------------------------------------------------------- the docs page
def doc_blocks(kind: str) -> dict[str, str]:
    """The fenced blocks of docs/testing.md under `<!-- kind: name -->` markers."""
    pat = re.compile(r"<!-- " + kind + r": (\w+) -->\n```\w*\n(.*?)```", re.S)
    return {m.group(1): m.group(2) for m in pat.finditer(DOC.read_text())}


def _run_block(name: str, tmp_path: Path) -> dict:
    f = tmp_path / f"{name}.py"
    f.write_text(doc_blocks("test")[name])
    return {"__file__": str(f), **_exec(f)}


def _exec(f: Path) -> dict:
    ns: dict = {"__name__": "docs_example"}
    exec(compile(f.read_text(), str(f), "exec"), ns)  # noqa: S102
    return ns


def _same_text(a: str, b: str) -> bool:
    """Equal up to trailing blanks on each line and at the end (editors strip them)."""
    return [x.rstrip() for x in a.rstrip().splitlines()] == [x.rstrip() for x in b.rstrip().splitlines()]


def test_docs_few_lines_example(tmp_path, capsys):
    _run_block("few_lines", tmp_path)
    out = capsys.readouterr().out
    assert _same_text(out, doc_blocks("output")["few_lines"]), out


@pytest.mark.mc
def test_docs_student_t5_example(tmp_path):
    """The worked example: 3/M holds for Student-t(5) input, the write-up's 3/(2M) is rejected
    (at 1 of 2 points at the default scale), and the table is the one the page shows."""
    ns = _run_block("student_t5", tmp_path)
    assert ns["rho"] == 6 and ns["I"] * 15 == 2
    assert ns["next_term"](1.0) == pytest.approx(-64 * 3**0.5 / (5 * np.pi))
    (r,) = run_checks(ns["CHECK"], "default")
    assert r.passed and r.power == {"kurtosis ignored: 3/(2M)": (1, 2)}
    assert _same_text(r.table(), doc_blocks("output")["student_t5"]), r.table()
    # at --quick (n/8) the power is gone, and the check says so (NO POWER, a failure)
    (q,) = run_checks(ns["CHECK"], "quick")
    assert q.accepted and not q.passed and "[NO POWER]" in q.table()


@pytest.mark.mc
def test_docs_student_t5_direct_sampler_is_refused(tmp_path):
    ns = _run_block("student_t5_direct", tmp_path)  # the block asserts the refusal itself
    msg = str(ns["refused"].value)
    assert _same_text(msg, doc_blocks("output")["student_t5_direct"]), msg


def test_docs_bad_input_table_matches_the_messages():
    text = DOC.read_text()
    rows = dict(re.findall(r"^\| ([^|]+?) \| `([^`]+)` \|$", text, re.M))
    assert len(rows) == 5, rows
    def const(rng, n, M):
        return np.zeros(n)

    cases = {
        "sampler returns the wrong shape": lambda: assert_matches_mc(
            lambda M: 1.0, lambda rng, n, M: rng.normal(size=(n, M)), {"M": 8}, n=2**20),
        "sampler returns nan/inf": lambda: assert_matches_mc(
            mean_of_normal, lambda rng, n, mu: np.full(n, np.nan), {"mu": 0.0}, n=2**20),
        "sampler or theory raises": lambda: assert_matches_mc(lambda M: 1 / (M - 1), const, {"M": 1}),
        "theory returns an array / nan": lambda: assert_matches_mc(lambda M: np.ones(2), const, {"M": 4}),
        "n below 64 chunks × 16 draws": lambda: assert_matches_mc(
            lambda mu: mu, normal, {"mu": 0.0}, n=1024, scale="quick"),
    }
    for label, call in cases.items():
        with pytest.raises(CheckInputError) as e:
            call()
        assert str(e.value) == rows[label], label


def test_docs_page_is_linked():
    assert "testing.md" in (ROOT / "docs" / "index.md").read_text()
    assert "docs/testing.md" in (ROOT / "README.md").read_text()



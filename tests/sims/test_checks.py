"""Statistical tests: the same registry as `bnreg verify` (bnreg/testing/judge.py), at the quick scale.

Tolerance = z * SE + allowance, z from a two-sided false-alarm rate of 1e-3 per check
(Bonferroni over its points, Student t with 63 df); allowance 0 for exact formulas, 2 x the
derived next term for asymptotic ones.  Seeds are fixed, so the outcome is deterministic; the
false-alarm rate says how unlucky a seed would have to be.  Power: every check's wrong variants
(a missing factor, kurtosis ignored, the write-up's formula, independence of a sample and its batch)
must be rejected by the same test at the same sample size.
"""

from __future__ import annotations

import dataclasses

import pytest

from bnreg.sims.catalog import CHECKS, select_checks
from bnreg.testing.judge import ALPHA, run_check


@pytest.fixture(scope="module")
def results():
    return {c.name: run_check(c, "quick") for c in CHECKS}


@pytest.mark.mc
@pytest.mark.parametrize("name", [c.name for c in CHECKS])
def test_formula_agrees_with_monte_carlo(results, name):
    r = results[name]
    bad = [(p.params, p.theory, p.mc.estimate, p.mc.se, p.tol) for p in r.points if p.judged and not p.passed]
    assert not bad, f"{name}: points outside z*SE + allowance: {bad}"


@pytest.mark.mc
@pytest.mark.parametrize("name", [c.name for c in CHECKS])
def test_wrong_variants_are_rejected(results, name):
    power = results[name].power
    assert power, f"{name} has no wrong variant: a check that cannot fail"
    weak = {w: kn for w, kn in power.items() if kn[0] == 0}
    assert not weak, f"{name}: wrong variants never rejected (no power): {weak}"


@pytest.mark.mc
@pytest.mark.parametrize("name", [c.name for c in CHECKS])
def test_check_with_a_wrong_theory_fails(name):
    """The strongest form of the power statement: plug the first wrong variant in as the
    theory, rerun the identical check (same seeds, same sizes) and see it fail."""
    check = next(c for c in CHECKS if c.name == name)
    wrong_name, wrong = next(iter(check.wrong.items()))
    broken = dataclasses.replace(check, theory=wrong)
    assert not run_check(broken, "quick").accepted, f"{name} accepted the wrong variant {wrong_name!r}"


def test_every_check_has_judged_points_and_reports_small_M():
    for c in CHECKS:
        pts = c.points("quick")
        assert pts and (c.min_M is None or any(p.get("M", c.min_M) >= c.min_M for p in pts)), c.name
    # The asymptotic simple-example check shows (does not hide) M < 8, where 3/(2M) is off.
    r = run_check(next(c for c in CHECKS if c.name == "simple_error.asymptotic"), "quick")
    small = [p for p in r.points if not p.judged]
    assert small and all(abs(p.mc.estimate - p.theory) > p.mc.se * 5 for p in small)


def test_selection_and_alpha():
    assert ALPHA == 1e-3
    assert [c.name for c in select_checks("simple_error.*")] == [
        "simple_error.exact", "simple_error.asymptotic", "simple_error.kurtosis"]
    assert len(select_checks(None)) == len(select_checks("*"))
    from bnreg.errors import ParameterError

    # one validation for `--only` and bnreg.verify(only=...): unmatched, empty or non-string patterns
    for bad, msg in (("nosuchcheck", "matches no check"), ("simple_error.exact,NOPE", "'NOPE' matches no check"),
                     ("", "names no check"), (" , ", "names no check"), (42, "a string"), (["x"], "a string")):
        with pytest.raises(ParameterError, match=msg):
            select_checks(bad)


def test_verify_command_prints_exact_asymptotic_and_mc(tmp_path, capsys):
    import json

    from bnreg.cli import main

    out = tmp_path / "v.json"
    assert main(["verify", "--quick", "--only", "simple_error.exact", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "asymptotic 3/(2M)" in text and "[PASS]" in text and "verify: 1 passed, 0 failed" in text
    data = json.loads(out.read_text())
    assert {p["params"]["M"] for p in data["checks"][0]["points"]} >= {2, 32, 1024}

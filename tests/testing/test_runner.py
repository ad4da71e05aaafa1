"""The one runner (bnreg/testing/runner.py): long checks refused up front, and interruptible."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bnreg.testing import CheckInputError, formula_check, run_checks

ROOT = Path(__file__).resolve().parents[2]


def test_an_absurd_n_is_refused_up_front_with_the_time_it_would_take():
    check = formula_check(lambda: 0.0, lambda rng, n: rng.standard_normal(n), n=2**50, name="huge")
    t0 = time.monotonic()
    with pytest.raises(CheckInputError, match=r"huge: n = .* would take at least .* draws/s"):
        run_checks(check, "default")
    assert time.monotonic() - t0 < 5  # decided from a pilot of a few thousand draws


def test_a_large_but_feasible_n_is_not_refused():
    check = formula_check(lambda: 0.0, lambda rng, n: rng.standard_normal(n), n=2**26, name="large")
    assert run_checks(check, "quick")[0].passed


@pytest.mark.processes
def test_ctrl_c_stops_a_long_check_at_once(tmp_path):
    """SIGINT (as a terminal sends it) 3 s into a check of about an hour: exit 130 within seconds, one
    line (it kept running for good before: the sampler's chunks ran to their end)."""
    f = tmp_path / "long.py"
    f.write_text("from bnreg.testing import formula_check\n\n\ndef zero() -> float:\n    return 0.0\n\n\n"
                 "CHECKS = [formula_check(zero, lambda rng, n: rng.standard_normal(n), n=2**36)]\n")
    code = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from bnreg.cli import main; sys.exit(main(sys.argv[1:]))")
    p = subprocess.Popen([sys.executable, "-c", code, "check", str(f)], cwd=ROOT, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    time.sleep(3)
    assert p.poll() is None, p.communicate()[1]
    t0 = time.monotonic()
    os.killpg(p.pid, signal.SIGINT)
    try:
        err = p.communicate(timeout=15)[1]
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == 130 and time.monotonic() - t0 < 10, err[-500:]
    assert err.strip() == "bnreg: interrupted (check keeps no partial results; re-run it)"

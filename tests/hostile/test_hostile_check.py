"""Class 7, `bnreg check FILE`: files with no checks, empty, a syntax error, null bytes, raising at
import (an exception, MemoryError, KeyboardInterrupt, sys.exit with 0, a number or a message), an
import of a missing module, not a .py, missing, a directory (also one named x.py), '', a FIFO named
x.py, a symlink to /dev/null; checks whose sampler has the wrong shape, raises SystemExit, or
has no spread (SE = 0); a failing check with --json.

The contract: a file that declares no check, or cannot be imported, fails: one `bnreg: error:`
line, exit 2 (130 for a Ctrl-C), never exit 0; never a traceback, never a hang; a failing check
exits 1 with its table and a valid --json; never NaN/inf presented as a result.
"""

from __future__ import annotations

import os
import re

import pytest
from _hostile import assert_one_error, cli, logical_lines, python_noise, run, strict_json

GOOD = '''
import numpy as np
from bnreg.testing import formula_check
CHECK = formula_check(lambda sigma: sigma * np.sqrt(2 / np.pi), lambda rng, n, sigma: np.abs(rng.normal(0, sigma, n)),
                      {"sigma": [1.0]}, wrong={"half": lambda sigma: sigma / 2}, name="mean_abs")
'''
HEADER = "import numpy as np\nfrom bnreg.testing import formula_check\n"

FILES = {
    "no-checks": ("x.py", "x = 1\n"),
    "empty": ("x.py", ""),
    "syntax-error": ("x.py", "def f(:\n"),
    "null-bytes": ("x.py", "x = 1\n\0\0\0\n"),
    "raises": ("x.py", "raise RuntimeError('boom')\n"),
    "raises-memoryerror": ("x.py", "raise MemoryError\n"),
    "imports-missing-module": ("x.py", "import no_such_module_hostile\n"),
    "sys-exit-0": ("x.py", GOOD + "import sys\nsys.exit(0)\n"),
    "sys-exit-3": ("x.py", "import sys\nsys.exit(3)\n"),
    "sys-exit-message": ("x.py", "import sys\nsys.exit('some message')\n"),
    "not-py": ("x.txt", GOOD),
    "sampler-wrong-shape": ("x.py", HEADER + "C = formula_check(lambda M: 1.0, lambda rng, n, M: np.ones((n, 2)), "
                            "{'M': [4]})\n"),
    "sampler-systemexit": ("x.py", HEADER + "def s(rng, n, M):\n    raise SystemExit(0)\n"
                           "C = formula_check(lambda M: 1.0, s, {'M': [4]})\n"),
    "theory-raises": ("x.py", HEADER + "def t(M):\n    raise ValueError('x')\n"
                      "C = formula_check(t, lambda rng, n, M: np.ones(n), {'M': [4]})\n"),
}


@pytest.mark.parametrize("case", list(FILES))
def test_bad_check_files(tmp_path, capsys, case):
    name, src = FILES[case]
    (tmp_path / name).write_text(src)
    r = cli(["check", tmp_path / name, "--quick"], capsys)
    assert r.code != 0, f"`bnreg check` of a file that ran no check exited 0 (stdout {r.out[-200:]!r})"
    allowed = (1, 2) if case == "raises-memoryerror" else (2,)  # a MemoryError may read as out of memory
    assert r.code in allowed, (r.code, r.err[-600:], r.out[-200:])
    assert_one_error(r.err)


@pytest.mark.parametrize("case", ["missing", "directory", "directory-named-py", "empty-name", "symlink-devnull"])
def test_check_paths(tmp_path, capsys, case):
    path = {"missing": tmp_path / "nope.py", "directory": tmp_path, "directory-named-py": tmp_path / "d.py",
            "empty-name": "", "symlink-devnull": tmp_path / "null.py"}[case]
    if case == "directory-named-py":
        (tmp_path / "d.py").mkdir()
    if case == "symlink-devnull":
        (tmp_path / "null.py").symlink_to("/dev/null")
    r = cli(["check", path, "--quick"], capsys)
    assert r.code == 2, (r.code, r.err[-600:])
    assert_one_error(r.err)


def test_keyboard_interrupt_at_import(tmp_path, capsys):
    (tmp_path / "x.py").write_text("raise KeyboardInterrupt\n")
    r = cli(["check", tmp_path / "x.py", "--quick"], capsys)
    assert r.code == 130
    assert logical_lines(r.err)[-1].startswith("bnreg: interrupted") and not python_noise(r.err)


@pytest.mark.processes
def test_fifo_named_py_does_not_hang(tmp_path):
    os.mkfifo(tmp_path / "x.py")
    r = run(["check", tmp_path / "x.py", "--quick"], timeout=20)
    assert not r.timed_out, "`bnreg check` hung opening a FIFO"
    assert r.code == 2
    assert_one_error(r.err)


def test_failing_check_exit_1_with_valid_json(tmp_path, capsys):
    (tmp_path / "x.py").write_text(HEADER + "C = formula_check(lambda sigma: 0.7 * sigma, "
                                   "lambda rng, n, sigma: np.abs(rng.normal(0, sigma, n)), {'sigma': [1.0, 2.0]})\n")
    r = cli(["check", tmp_path / "x.py", "--quick", "--json", tmp_path / "r.json"], capsys)
    assert r.code == 1, r.err[-600:]
    assert "FAIL" in r.out and not python_noise(r.err)
    doc = strict_json((tmp_path / "r.json").read_text())
    assert doc["checks"] and doc["checks"][0]["passed"] is False


@pytest.mark.parametrize("theory", ["1.0", "2.0"], ids=["equal", "different"])
def test_zero_variance_sampler_presents_no_inf(tmp_path, capsys, theory):
    (tmp_path / "x.py").write_text(HEADER + f"C = formula_check(lambda M: {theory}, lambda rng, n, M: np.ones(n), "
                                   "{'M': [4]}, wrong={'w': lambda M: 3.0})\n")
    r = cli(["check", tmp_path / "x.py", "--quick", "--json", tmp_path / "r.json"], capsys)
    if r.code == 2:  # refusing a degenerate sampler is fine
        assert_one_error(r.err)
        return
    assert r.code in (0, 1), r.err[-600:]
    assert not re.search(r"(?<![\w.])-?(inf|nan)\b", r.out), f"inf/nan presented as a result:\n{r.out}"
    strict_json((tmp_path / "r.json").read_text())

"""Class 5, stdout: `bnreg ... > /dev/full`, `bnreg ... | head -1` (and a reader gone before the
run starts), stdout closed (`>&-`), and stderr closed (`2>&-`) with a bad parameter.

The contract: a full or closed stdout is one `bnreg: error:` line, exit 1 (a broken pipe may exit
141 silently, the shell's convention); never a traceback; a --json file is still written whole;
a bad parameter exits 2 whatever happened to stderr.
"""

from __future__ import annotations

import os
import shlex
import subprocess

import pytest
from _hostile import (
    BNREG,
    NICE,
    ROOT,
    assert_one_error,
    env_with,
    finish,
    logical_lines,
    new_mark,
    python_noise,
    run,
    start,
    strict_json,
)

pytestmark = pytest.mark.processes

COMMANDS = {
    "formulas": ["formulas"],
    "formulas-json": ["formulas", "--json"],
    "eval": ["eval", "simple_error", "M=4"],
    "eval-json": ["eval", "simple_error", "M=4", "--json"],
    "figures-list": ["figures", "list"],
    "derive-list": ["derive"],
    "verify": ["verify", "--quick", "--only", "simple_error.exact"],
}


def _close_fd(fd: int):
    def pre():
        os.close(fd)
    return pre


@pytest.mark.parametrize("cmd", ["formulas-json", "eval", "verify"])
def test_stdout_full(cmd):
    with open("/dev/full", "wb") as full:
        r = run(COMMANDS[cmd], stdout=full, timeout=60)
    assert not r.left
    assert r.code == 1, (r.code, r.err[-600:])
    assert_one_error(r.err)


@pytest.mark.parametrize("cmd", ["formulas", "eval-json", "figures-list", "derive-list"])
def test_stdout_closed(cmd):
    r = run(COMMANDS[cmd], preexec_fn=_close_fd(1), timeout=60)
    assert not r.left
    assert r.code == 1, (r.code, r.err[-600:])
    assert_one_error(r.err)


def test_stdout_closed_still_writes_the_json(tmp_path):
    r = run([*COMMANDS["verify"], "--json", tmp_path / "v.json"], preexec_fn=_close_fd(1), timeout=60)
    assert r.code == 1, (r.code, r.err[-600:])
    assert_one_error(r.err)
    strict_json((tmp_path / "v.json").read_text())


def _broken_pipe(r) -> None:
    assert r.code in (141, 1), (r.code, r.err[-600:])
    assert not python_noise(r.err), r.err[-1500:]
    lines = logical_lines(r.err)
    assert len(lines) <= 1, lines
    if r.code == 1:
        assert_one_error(r.err)


@pytest.mark.parametrize("cmd", ["formulas-json", "verify"])
def test_head_one(cmd):
    """`bnreg ... | head -1`: the reader leaves after the first line.  `formulas --json` (95 kB) is
    larger than a pipe's buffer (64 kB), so the write must meet the closed pipe; `formulas` (27 kB)
    could finish writing before the reader leaves and rightly exit 0 (seen under load)."""
    mark = new_mark()
    proc = start(COMMANDS[cmd], mark=mark, stdout=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()
    r = finish(proc, mark, timeout=60)
    assert first.strip(), "no first line"
    assert not r.left
    _broken_pipe(r)


@pytest.mark.parametrize("cmd", ["formulas"])
def test_reader_gone_before_start(cmd):
    """`bnreg ... | true`: nobody ever reads."""
    rfd, wfd = os.pipe()
    os.close(rfd)
    try:
        mark = new_mark()
        proc = start(COMMANDS[cmd], mark=mark, stdout=wfd)
    finally:
        os.close(wfd)
    r = finish(proc, mark, timeout=60)
    assert not r.left
    _broken_pipe(r)


@pytest.mark.parametrize("argv", [["eval", "simple_error", "M=abc"], ["verify", "--quick", "--only", "NOPE"]],
                         ids=["eval-bad-M", "verify-bad-only"])
def test_stderr_closed_bad_parameter_still_exits_2(tmp_path, argv):
    """`bnreg ... 2>&-` as a shell runs it (the shell closes fd 2 before the exec)."""
    cmd = " ".join(shlex.quote(a) for a in [*NICE, *BNREG, *argv])
    out = tmp_path / "out.txt"
    p = subprocess.run(["bash", "-c", f"{cmd} 2>&- >{shlex.quote(str(out))}"], cwd=ROOT, timeout=60,
                       env=env_with(new_mark()))
    assert p.returncode == 2, f"exit {p.returncode} (stdout {out.read_text()[-300:]!r})"
    assert "Traceback" not in out.read_text()

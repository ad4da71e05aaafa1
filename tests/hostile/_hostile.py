"""Shared helpers of the hostile suite: run `bnreg` in process or as a subprocess (niced, with a
unique environment marker inherited by every process it starts, and a hard timeout), read its
stderr as the contract reads it, and look for what a run must not leave behind (processes,
temporary files, invalid JSON)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NICE = ["nice", "-n", "5"] if shutil.which("nice") else []
BNREG = [sys.executable, "-m", "bnreg"]
MARK_VAR = "HOSTILE_TEST_MARK"  # not BNREG_*: the library must not see it as one of its own
# The environment a user's shell would give, taken before any test runs: libraries imported by the
# in-process tests change os.environ (distributed sets OPENBLAS_NUM_THREADS=1, MALLOC_TRIM_THRESHOLD_,
# ...), which would hide what a plain `bnreg` started from a shell does.
ENV0 = dict(os.environ)


# ----------------------------------------------------------------------------- reading stderr
def logical_lines(text: str) -> list[str]:
    """The lines a terminal would show last: progress bars rewrite their line with \\r."""
    out = []
    for line in text.split("\n"):
        last = line.split("\r")[-1].strip()
        if last:
            out.append(last)
    return out


NOISE = re.compile(r"Traceback \(most recent call last\)|^\s*File \".*\", line \d+|^\w*(Error|Exception|Warning)\b[:(]"
                   r"|\bUserWarning\b|\bRuntimeWarning\b|warnings\.warn\(|^\s*\^+\s*$", re.M)


def python_noise(err: str) -> list[str]:
    """Lines of a traceback or a Python warning on stderr (none may reach the user)."""
    return [ln for ln in err.splitlines() if NOISE.search(ln)]


def error_lines(err: str) -> list[str]:
    return [ln for ln in logical_lines(err) if ln.startswith("bnreg: error")]


def assert_one_error(err: str, *needles: str) -> str:
    """stderr reports exactly one `bnreg: error: ...` line, nothing of Python's, and the line names
    every needle (e.g. the option).  Returns the line."""
    assert not python_noise(err), f"traceback/warning on stderr: {err[-1500:]!r}"
    errs = error_lines(err)
    assert len(errs) == 1, f"expected one 'bnreg: error:' line, got {len(errs)}: {err[-1500:]!r}"
    line = errs[0]
    assert logical_lines(err)[-1] == line, f"the error is not the last line of stderr: {err[-1500:]!r}"
    # a message that is one line in the source but spans two on the terminal (a newline in a path)
    tail = err.rstrip("\n").split("\n")
    assert tail[-1].split("\r")[-1].strip() == line, f"the error line is split over several lines: {err[-800:]!r}"
    for n in needles:
        assert n in line, f"{n!r} not named in {line!r}"
    return line


def assert_clean(err: str) -> None:
    """No traceback, no Python warning and no error line on stderr."""
    assert not python_noise(err), f"traceback/warning on stderr: {err[-1500:]!r}"
    assert not error_lines(err), f"unexpected error: {err[-800:]!r}"


# ----------------------------------------------------------------------------- files
def debris(root: Path) -> list[str]:
    """Temporary files left under `root` (atomic writes name them .tmp-*)."""
    if not root.exists():
        return []
    return [str(p) for p in root.rglob("*") if p.name.startswith((".tmp", "tmp")) and not p.is_dir()]


def strict_json(text: str | bytes):
    """json.loads that refuses NaN/Infinity (not JSON)."""
    def refuse(s):
        raise ValueError(f"non-JSON constant {s}")
    return json.loads(text, parse_constant=refuse)


def is_char_device(path: str) -> bool:
    return stat.S_ISCHR(os.stat(path).st_mode)


# ----------------------------------------------------------------------------- in process
@dataclass
class Result:
    code: int | None
    out: str
    err: str
    timed_out: bool = False
    pids: set[int] = field(default_factory=set)  # marked processes seen while it ran
    left: list[int] = field(default_factory=list)  # marked processes alive after it ended
    left_cmds: list[str] = field(default_factory=list)  # their command lines (shortened)


def cli(argv: list[str], capsys) -> Result:
    """`bnreg.cli.main(argv)` in this process.  An escaping exception is what a user would see as a
    traceback (exit 1): it is turned into that, so the test reports it instead of crashing."""
    from bnreg.cli import main

    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
        extra = ""
    except SystemExit as e:  # a user's file or a library path calling sys.exit
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        extra = "" if isinstance(e.code, int) or e.code is None else f"{e.code}\n"
    except BaseException:  # noqa: BLE001 - it is the finding
        code, extra = 1, traceback.format_exc()
    cap = capsys.readouterr()
    return Result(code, cap.out, cap.err + extra)


# ----------------------------------------------------------------------------- subprocesses
def marked(mark: str) -> list[int]:
    """Live (non-zombie) processes carrying the marker in their environment."""
    needle = f"{MARK_VAR}={mark}".encode()
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if needle not in (d / "environ").read_bytes().split(b"\0"):
                continue
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state not in ("Z", "X"):
            out.append(int(d.name))
    return out


LAST_LEFT_CMDS: list[str] = []


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return f"{pid}: ?"
    return f"{pid}: {raw[:90]}"


def wait_gone(mark: str, timeout: float = 10.0) -> list[int]:
    """Wait for every marked process to end; return those still alive (and then kill them: they
    are ours, and must not load the machine for the rest of the suite)."""
    deadline = time.time() + timeout
    left = marked(mark)
    while left and time.time() < deadline:
        time.sleep(0.2)
        left = marked(mark)
    LAST_LEFT_CMDS[:] = [cmdline(pid) for pid in left]
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return left


def new_mark() -> str:
    return f"hostile-{os.getpid()}-{uuid.uuid4().hex[:12]}"


def env_with(mark: str, **extra: str) -> dict[str, str]:
    env = {**ENV0, MARK_VAR: mark, "PYTHONUNBUFFERED": "1"}
    env.pop("BNREG_THREADS", None)
    env.update(extra)
    return env


def _session(user=None):
    """A preexec_fn: the child leads its own session (a Ctrl-C can go to its whole group), then `user`."""
    def pre():
        os.setsid()
        if user is not None:
            user()
    return pre


def start(argv: list[str], *, mark: str, env: dict | None = None, stdout=None, stderr=None,
          stdin=subprocess.DEVNULL, preexec_fn=None, cwd: Path | None = None) -> subprocess.Popen:
    """Start `bnreg argv` niced, in its own session, with the marker in its environment.  stdout and
    stderr go to temporary files unless given: a process that outlives the run then cannot hold
    the test up by keeping a pipe open."""
    files = {}
    if stdout is None:
        stdout = files["out"] = tempfile.TemporaryFile()
    if stderr is None:
        stderr = files["err"] = tempfile.TemporaryFile()
    proc = subprocess.Popen([*NICE, *BNREG, *map(str, argv)], cwd=cwd or ROOT, env=env or env_with(mark),
                            stdout=stdout, stderr=stderr, stdin=stdin, preexec_fn=_session(preexec_fn))
    proc.hostile_files = files  # type: ignore[attr-defined]
    return proc


def _read(f) -> str:
    if f is None:
        return ""
    f.seek(0)
    data = f.read()
    f.close()
    return data.decode(errors="replace")


def finish(proc: subprocess.Popen, mark: str, timeout: float, *, gone_timeout: float = 10.0) -> Result:
    """Wait for `proc` (killing its group after `timeout` s), then for every marked process to end
    (those left after `gone_timeout` s are recorded in .left, then killed)."""
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            proc.kill()
        proc.wait(timeout=30)
    left = wait_gone(mark, gone_timeout)
    files = getattr(proc, "hostile_files", {})
    return Result(proc.returncode, _read(files.get("out")), _read(files.get("err")), timed_out, left=left,
                  left_cmds=list(LAST_LEFT_CMDS) if left else [])


def run(argv: list[str], *, timeout: float = 120, env_extra: dict | None = None, preexec_fn=None,
        cwd: Path | None = None, stdin=subprocess.DEVNULL, stdout=None) -> Result:
    """Run `bnreg argv` to the end as a subprocess (with a marker, a timeout and a check for leftovers)."""
    mark = new_mark()
    proc = start(argv, mark=mark, env=env_with(mark, **(env_extra or {})), stdout=stdout, stdin=stdin,
                 preexec_fn=preexec_fn, cwd=cwd)
    return finish(proc, mark, timeout)


def limit(resource_id: int, value: int):
    """A preexec_fn setting one resource limit (soft and hard) in the child, like `ulimit`."""
    def set_limit():
        import resource

        resource.setrlimit(resource_id, (value, value))
    return set_limit


def shm_entries() -> set[str]:
    try:
        return set(os.listdir("/dev/shm"))
    except OSError:
        return set()


def shm_of(pids: set[int], entries: set[str]) -> list[str]:
    """/dev/shm entries (joblib memmapping folders, loky semaphores) named after one of `pids`."""
    pat = re.compile(r"(?:joblib_memmapping_folder_|loky-|sem\.loky-|sem\.mp-)(\d+)[-_]")
    return sorted(e for e in entries if (m := pat.search(e)) and int(m.group(1)) in pids)


def quiet(fn, *a, **k):
    """Call fn with stdout/stderr captured (for library calls that print)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        return fn(*a, **k)

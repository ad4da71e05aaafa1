"""Class 2, workers and signals: kill -9, SIGTERM and SIGINT (to the process, and to its whole
group as Ctrl-C does) of `bnreg figures ... --quick` on a shared pool of 2 workers, of
`bnreg verify --workers 2` (also killed while its pool is still starting) and of
`bnreg cnn --checkpoint-dir`.

The contract: no process of the run outlives it (every process started carries a unique
environment marker, found in /proc/*/environ); SIGINT exits 130 with one `bnreg: interrupted`
line; no traceback or Python warning reaches stderr on SIGINT/SIGTERM; finished points stay
cached (a re-run of the same command resumes: the entries made before the signal are reused,
not recomputed); no temporary file or /dev/shm entry of the run is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from _hostile import (
    assert_clean,
    debris,
    finish,
    logical_lines,
    marked,
    new_mark,
    python_noise,
    run,
    shm_entries,
    shm_of,
    start,
)

pytestmark = pytest.mark.processes

FIGURES = ["figures", "simple_error", "batch_stats", "gamma_decay", "--quick", "--workers", "2", "--threads", "1"]
VERIFY = ["verify", "--quick", "--only", "simple_error,batch_std", "--workers", "2", "--threads", "1"]


def _entries(out: Path) -> dict[str, tuple[int, int]]:
    """Finished cache entries: path -> (inode, mtime_ns)."""
    res = {}
    for p in (out / ".cache").rglob("*.npz"):
        if not p.name.startswith(".tmp"):
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            res[str(p)] = (st.st_ino, st.st_mtime_ns)
    return res


def _send(proc: subprocess.Popen, how: str) -> None:
    sig = {"SIGINT": signal.SIGINT, "SIGINT-group": signal.SIGINT, "SIGTERM": signal.SIGTERM,
           "SIGKILL": signal.SIGKILL}[how]
    if how.endswith("-group"):
        os.killpg(proc.pid, sig)  # Ctrl-C: the terminal signals the whole foreground group
    else:
        os.kill(proc.pid, sig)


def _watch(proc, mark: str, until, timeout: float = 60) -> set[int]:
    """Poll until `until()` holds (or the run ends); return every marked pid seen meanwhile."""
    seen: set[int] = set()
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        seen.update(marked(mark))
        if until():
            break
        time.sleep(0.02)
    return seen


def _check_exit(how: str, r) -> None:
    if how.startswith("SIGINT"):
        assert r.code == 130, (r.code, r.err[-800:])
        last = logical_lines(r.err)[-1]
        assert last.startswith("bnreg: interrupted"), r.err[-800:]
        assert not python_noise(r.err), f"traceback/warning on stderr after {how}: {r.err[-1500:]!r}"
    elif how == "SIGTERM":
        assert r.code in (-signal.SIGTERM, 128 + signal.SIGTERM, 1, 130), (r.code, r.err[-800:])
        assert not python_noise(r.err), f"traceback/warning on stderr after SIGTERM: {r.err[-1500:]!r}"
    else:
        assert r.code == -signal.SIGKILL, r.code


@pytest.mark.parametrize("how", ["SIGINT", "SIGINT-group", "SIGTERM", "SIGKILL"])
def test_figures_signal(tmp_path, how):
    out = tmp_path / "out"
    argv = [*FIGURES, "--out", out]
    mark = new_mark()
    shm0 = shm_entries()
    proc = start(argv, mark=mark)
    seen = _watch(proc, mark, lambda: len(_entries(out)) >= 2)
    if proc.poll() is not None:
        pytest.fail(f"the run ended before the signal (exit {proc.returncode}): inconclusive, make it longer")
    before = _entries(out)
    _send(proc, how)
    r = finish(proc, mark, timeout=60)
    assert not r.left, f"processes outlived the run after {how}: {r.left_cmds}"
    _check_exit(how, r)
    after = _entries(out)
    lost = [p for p in before if p not in after]
    assert not lost, f"finished cache entries lost by the {how}: {lost}"
    if how != "SIGKILL":
        assert not debris(out), f"temporary files left after {how}: {debris(out)}"
        leaked = shm_of(seen, shm_entries() - shm0)
        assert not leaked, f"/dev/shm entries of the run left after {how}: {leaked}"
    if how in ("SIGINT", "SIGKILL"):  # the re-run resumes: what was finished is reused, not recomputed
        again = run(argv, timeout=120)
        assert again.code == 0, (again.code, again.err[-1500:])
        assert not again.left
        now = _entries(out)
        redone = [p for p, v in after.items() if now.get(p) != v]
        assert not redone, f"the re-run recomputed {len(redone)} of {len(after)} finished points"
        for name in ("simple_error", "batch_stats", "gamma_decay"):
            assert (out / f"{name}.json").exists()
        assert not debris(out), f"temporary files left after the re-run: {debris(out)}"


@pytest.mark.parametrize("how", ["SIGINT-group", "SIGTERM", "SIGKILL"])
def test_verify_workers_signal(tmp_path, how):
    mark = new_mark()
    shm0 = shm_entries()
    proc = start([*VERIFY, "--json", tmp_path / "v.json"], mark=mark)
    # the parent and both workers up, and the workers busy for a moment
    seen = _watch(proc, mark, lambda: len(marked(mark)) >= 3)
    t = time.time()
    while time.time() - t < 1.0 and proc.poll() is None:
        seen.update(marked(mark))
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.fail(f"the run ended before the signal (exit {proc.returncode}): inconclusive")
    _send(proc, how)
    r = finish(proc, mark, timeout=60)
    assert not r.left, f"processes outlived `bnreg verify --workers 2` after {how}: {r.left_cmds}"
    _check_exit(how, r)
    assert not (tmp_path / "v.json").exists(), "a partial --json was written"
    assert not debris(tmp_path)
    if how != "SIGKILL":
        leaked = shm_of(seen, shm_entries() - shm0)
        assert not leaked, f"/dev/shm entries of the run left after {how}: {leaked}"


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_verify_killed_while_its_pool_starts(how):
    """Killed while the pool's workers are still being started (before each has taken a point):
    the workers must still die with their parent."""
    mark = new_mark()
    proc = start(["verify", "--quick", "--only", "simple_error.exact", "--workers", "6", "--threads", "1"], mark=mark)
    _watch(proc, mark, lambda: len(marked(mark)) >= 4)  # parent, resource tracker, the first workers
    if proc.poll() is not None:
        pytest.fail(f"the run ended before the signal (exit {proc.returncode}): inconclusive")
    _send(proc, how)
    r = finish(proc, mark, timeout=60, gone_timeout=6)
    assert not r.left, (f"{len(r.left)} processes outlived `bnreg verify --workers 6` killed at start-up ({how}): "
                        f"{r.left_cmds}")


def test_cnn_interrupted_keeps_its_checkpoint_and_resumes(tmp_path):
    ck = tmp_path / "ck"
    argv = ["cnn", "dataset=digits", "epochs=40", "widths=4", "fc=8", "eval_every=22", "--no-progress",
            "--checkpoint-dir", ck, "--out", tmp_path / "m.json"]
    mark = new_mark()
    proc = start(argv, mark=mark)
    _watch(proc, mark, lambda: any(p.suffix == ".npz" and not p.name.startswith(".tmp") for p in ck.glob("*")))
    time.sleep(0.3)
    if proc.poll() is not None:
        pytest.fail(f"the run ended before the signal (exit {proc.returncode}): inconclusive")
    os.killpg(proc.pid, signal.SIGINT)
    r = finish(proc, mark, timeout=60)
    assert not r.left
    _check_exit("SIGINT", r)
    assert "checkpoint" in logical_lines(r.err)[-1]
    kept = [p for p in ck.glob("cnn_*.npz")]
    assert kept, "the checkpoint was not kept"
    assert not (tmp_path / "m.json").exists(), "metrics written for an interrupted run"
    assert not debris(tmp_path)
    again = run(argv, timeout=120)
    assert again.code == 0, (again.code, again.err[-1500:])
    assert_clean(again.err)
    ref = run([*argv[:-4], "--out", tmp_path / "ref.json"], timeout=120)  # the same run, never interrupted
    assert ref.code == 0
    got, want = json.loads((tmp_path / "m.json").read_text()), json.loads((tmp_path / "ref.json").read_text())
    assert got["final"] == want["final"], "the resumed run differs from an uninterrupted one"

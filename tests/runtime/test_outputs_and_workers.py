"""Outputs written through, never replaced, and workers that die with their parent (bnreg/runtime/files.py, pool.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bnreg.errors import OutputError
from bnreg.runtime import check_output_file, write_atomic

ROOT = Path(__file__).resolve().parents[2]


def test_a_symlink_is_followed_and_its_target_replaced(tmp_path):
    (tmp_path / "real.json").write_text("old")
    (tmp_path / "link.json").symlink_to(tmp_path / "real.json")
    write_atomic(tmp_path / "link.json", "new")
    assert (tmp_path / "link.json").is_symlink() and (tmp_path / "real.json").read_text() == "new"


def test_device_nodes_are_written_through_never_replaced():
    write_atomic("/dev/null", "x")
    assert Path("/dev/null").is_char_device()
    with pytest.raises(OutputError, match="/dev/full"):
        write_atomic("/dev/full", "x")  # the device's own error (no space), one line
    assert Path("/dev/full").is_char_device()
    assert check_output_file("/dev/null", "--json") == Path("/dev/null")


def test_a_fifo_is_written_through(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    write_atomic(fifo, "through")
    reader.join(10)
    assert got == [b"through"] and not fifo.is_file() and fifo.exists()


def test_a_directory_or_an_empty_name_is_refused(tmp_path):
    with pytest.raises(OutputError, match="directory"):
        write_atomic(tmp_path, "x")
    with pytest.raises(OutputError, match="directory"):
        check_output_file(tmp_path, "--json")
    with pytest.raises(OutputError, match="empty"):
        check_output_file("", "--json")


def test_a_replaced_file_keeps_its_permissions(tmp_path):
    f = tmp_path / "out.json"
    f.write_text("old")
    f.chmod(0o640)
    write_atomic(f, "new")
    assert f.read_text() == "new" and (f.stat().st_mode & 0o777) == 0o640


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(d.name))
    return out


@pytest.mark.processes
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal: Linux")
@pytest.mark.parametrize("argv", [
    ["figures", "simple_error", "gamma_decay", "batch_stats", "--quick", "--force", "--out", "{out}"],  # shared pool
    ["verify", "--quick", "--workers", "2", "--threads", "1", "--only", "simple_error,batch_std"],  # its own pool
], ids=["figures-shared-pool", "verify-workers"])
def test_pool_workers_die_with_their_parent(tmp_path, argv):
    """kill -9 of a run while its worker processes compute: no worker survives it (without the
    parent-death binding they all did, for good)."""
    argv = [a.format(out=tmp_path / "out") for a in argv]
    proc = subprocess.Popen([sys.executable, "-m", "bnreg", *argv], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        workers: list[int] = []
        while time.time() < deadline and len(workers) < 2 and proc.poll() is None:
            workers = _children(proc.pid)
            time.sleep(0.1)
        assert len(workers) >= 2, "the workers did not start"
        time.sleep(1.0)  # let them take points
        workers = _children(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.time() + 10
        alive = workers
        while alive and time.time() < deadline:
            alive = [w for w in alive if Path(f"/proc/{w}").exists()
                     and "Z" not in (Path(f"/proc/{w}/stat").read_text().rsplit(")", 1)[1].split()[:1])]
            time.sleep(0.1)
        assert not alive, f"workers {alive} outlived their parent"
    finally:
        if proc.poll() is None:
            proc.kill()


def _address_space(limit: int):
    def set_limit():
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return set_limit


@pytest.mark.processes
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc arenas and RLIMIT_AS: Linux")
@pytest.mark.parametrize("limit_mb,expect", [(700, 0), (480, 1), (300, 1)], ids=["fits", "too-small", "tiny"])
def test_a_memory_limit_gives_figures_or_one_line(tmp_path, limit_mb, expect):
    """Under `ulimit -v 700 MB` the pool's threads once each reserved a 64 MB malloc arena and glibc
    killed the run from inside thread creation (exit 127, workers left behind); now it runs.  Below
    what loading numpy, scipy and numba takes (a hang at 300 MB, a SystemError at 550 MB before), it is
    one line naming the limit, exit 1, and no process left."""
    mark = f"bnreg-test-{os.getpid()}-{limit_mb}"  # inherited by every process the run starts
    proc = subprocess.run([sys.executable, "-m", "bnreg", "figures", "gamma_decay", "--quick", "--force",
                           "--out", str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          preexec_fn=_address_space(limit_mb * 2**20), env={**os.environ, "BNREG_TEST_MARK": mark})
    assert proc.returncode == expect, proc.stderr[-2000:]
    if expect == 0:
        assert (tmp_path / "out" / "gamma_decay.csv").exists()
    else:
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith("bnreg: error: ") and f"ulimit -v, of {limit_mb} MB is set" in last, last
        assert "Traceback" not in proc.stderr
    deadline, left = time.time() + 10, [0]
    while left and time.time() < deadline:
        left = [d.name for d in Path("/proc").iterdir() if d.name.isdigit() and _has_mark(d, mark)]
        time.sleep(0.2)
    assert not left, f"processes {left} outlived the run"


def _has_mark(d: Path, mark: str) -> bool:
    try:
        return f"BNREG_TEST_MARK={mark}".encode() in (d / "environ").read_bytes().split(b"\0")
    except OSError:
        return False

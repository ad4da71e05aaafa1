"""Class 1, output targets: --out / --json / --notebook / --save / --checkpoint-dir pointing at
/dev/null, /dev/full, a FIFO (with a reader thread), symlinks (to a file, dangling, to /dev/null, a
loop), a directory, a missing folder, a path under a regular file, '' (empty), an existing file,
an over-long name, for `bnreg verify --json`, `bnreg check --json`, `bnreg bench --json`,
`bnreg cnn --out/--checkpoint-dir`, `bnreg figures --out`, `bnreg demo --save/--notebook`.

The contract: a refused target is one `bnreg: error:` line naming the option (or the path), exit 2,
before any work (nothing on stdout); a regular file is replaced atomically (valid JSON, its
permissions kept, no temporary file left); a symlink is followed and its target replaced (the
link stays); device nodes and FIFOs are written through, never replaced; a directory target of a
file option is refused.  Runs in process (`bnreg.cli.main`): the process boundary does not matter here.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from pathlib import Path

import pytest
from _hostile import assert_clean, assert_one_error, cli, debris, is_char_device, strict_json

CNN = ["cnn", "dataset=digits", "epochs=1", "widths=4", "fc=8", "--no-progress"]

CHECK_FILE = '''
import numpy as np
from bnreg.testing import formula_check

def mean_abs(sigma):
    """E|X| = sigma sqrt(2/pi)"""
    return sigma * np.sqrt(2 / np.pi)

def abs_normal(rng, n, sigma):
    return np.abs(rng.normal(0.0, sigma, n))

CHECK = formula_check(mean_abs, abs_normal, {"sigma": [1.0]}, wrong={"half": lambda sigma: sigma / 2})
'''

# ------------------------------------------------------------------------------------- file outputs
FILE_CMDS = {
    "verify": (["verify", "--quick", "--only", "simple_error.exact", "--json", "{p}"], "--json"),
    "check": (["check", "{checkfile}", "--quick", "--json", "{p}"], "--json"),
    "bench": (["bench", "cnn", "--quick", "--json", "{p}"], "--json"),
    "cnn": ([*CNN, "--out", "{p}"], "--out"),
}
ALL_FILE_TARGETS = ["devnull", "devfull", "fifo", "symlink-file", "symlink-dangling", "symlink-devnull", "directory",
                    "missing-dir", "under-file", "empty", "existing-file", "long-name", "symlink-loop",
                    "newline-missing-dir"]
FILE_MATRIX = {
    "verify": ALL_FILE_TARGETS,
    "cnn": ALL_FILE_TARGETS,
    "check": ["devnull", "devfull", "fifo", "symlink-file", "directory", "empty", "under-file", "long-name"],
    "bench": ["devfull", "directory", "empty", "under-file", "missing-dir", "long-name", "symlink-file"],
}
REFUSED = {"directory", "missing-dir", "under-file", "empty", "long-name", "symlink-loop", "newline-missing-dir"}


class Fifo:
    """A FIFO with a reader thread that collects whatever is written into it."""

    def __init__(self, path: Path):
        self.path = path
        os.mkfifo(path)
        self.data: list[bytes] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        with open(self.path, "rb") as f:
            self.data.append(f.read())

    def close(self) -> bytes:
        # a run that never opened the FIFO leaves the reader blocked in open(): release it
        with contextlib.suppress(OSError):
            os.close(os.open(self.path, os.O_WRONLY | os.O_NONBLOCK))
        self.thread.join(30)
        assert not self.thread.is_alive(), "the FIFO reader never got an end of file"
        return b"".join(self.data)


def _file_target(kind: str, tmp: Path) -> tuple[str, dict]:
    """The path to give for `kind`, and the state to check afterwards."""
    st: dict = {}
    if kind == "devnull":
        return "/dev/null", st
    if kind == "devfull":
        return "/dev/full", st
    if kind == "fifo":
        st["fifo"] = Fifo(tmp / "fifo.json")
        return str(tmp / "fifo.json"), st
    if kind == "symlink-file":
        (tmp / "real.json").write_text("old")
        (tmp / "link.json").symlink_to(tmp / "real.json")
        return str(tmp / "link.json"), st
    if kind == "symlink-dangling":
        (tmp / "link.json").symlink_to(tmp / "not-yet.json")
        return str(tmp / "link.json"), st
    if kind == "symlink-devnull":
        (tmp / "link.json").symlink_to("/dev/null")
        return str(tmp / "link.json"), st
    if kind == "directory":
        (tmp / "adir").mkdir()
        (tmp / "adir" / "keep").write_text("keep")
        return str(tmp / "adir"), st
    if kind == "missing-dir":
        return str(tmp / "missing" / "out.json"), st
    if kind == "under-file":
        (tmp / "afile").write_text("keep")
        return str(tmp / "afile" / "out.json"), st
    if kind == "empty":
        return "", st
    if kind == "existing-file":
        (tmp / "out.json").write_text("old")
        (tmp / "out.json").chmod(0o640)
        return str(tmp / "out.json"), st
    if kind == "long-name":
        return str(tmp / ("a" * 300 + ".json")), st
    if kind == "symlink-loop":
        (tmp / "loop1").symlink_to(tmp / "loop2")
        (tmp / "loop2").symlink_to(tmp / "loop1")
        return str(tmp / "loop1"), st
    if kind == "newline-missing-dir":
        return str(tmp / "no\nsuch" / "out.json"), st
    raise AssertionError(kind)


@pytest.mark.parametrize("cmd,target", [(c, t) for c, ts in FILE_MATRIX.items() for t in ts],
                         ids=[f"{c}-{t}" for c, ts in FILE_MATRIX.items() for t in ts])
def test_file_output_targets(tmp_path, capsys, monkeypatch, cmd, target):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # an empty name must not land in the current directory either
    (tmp_path / "mycheck.py").write_text(CHECK_FILE)
    tmp = tmp_path / "t"
    tmp.mkdir()
    path, st = _file_target(target, tmp)
    template, opt = FILE_CMDS[cmd]
    argv = [a.format(p=path, checkfile=tmp_path / "mycheck.py") for a in template]
    r = cli(argv, capsys)
    fifo_bytes = st["fifo"].close() if "fifo" in st else None

    if target in REFUSED:
        assert r.code == 2, (r.code, r.err[-800:])
        line = assert_one_error(r.err)
        assert opt in line or path in line, f"the line names neither {opt} nor the path: {line!r}"
        assert r.out == "", f"work was done before the refusal: {r.out[:300]!r}"
        if target == "directory":
            assert sorted(p.name for p in (tmp / "adir").iterdir()) == ["keep"]
        if target == "missing-dir":
            assert not (tmp / "missing").exists(), "the missing folder was created"
        if target == "under-file":
            assert (tmp / "afile").read_text() == "keep"
    elif target == "devfull":
        assert r.code == 2, (r.code, r.err[-800:])
        assert_one_error(r.err, "/dev/full")
        assert is_char_device("/dev/full"), "/dev/full was replaced"
    elif target == "symlink-dangling" and r.code == 2:  # refusing it, before any work, is allowed too
        assert_one_error(r.err)
        assert r.out == ""
    else:
        assert r.code == 0, (r.code, r.err[-1500:])
        assert_clean(r.err)
        if target == "devnull":
            assert is_char_device("/dev/null"), "/dev/null was replaced"
        elif target == "fifo":
            assert stat.S_ISFIFO(os.lstat(path).st_mode), "the FIFO was replaced"
            strict_json(fifo_bytes)
        elif target == "symlink-file":
            assert (tmp / "link.json").is_symlink() and os.readlink(tmp / "link.json") == str(tmp / "real.json")
            strict_json((tmp / "real.json").read_text())
        elif target == "symlink-dangling":
            assert (tmp / "link.json").is_symlink(), "the link was replaced"
            strict_json((tmp / "not-yet.json").read_text())
        elif target == "symlink-devnull":
            assert (tmp / "link.json").is_symlink() and is_char_device("/dev/null")
        elif target == "existing-file":
            p = tmp / "out.json"
            strict_json(p.read_text())
            assert stat.S_IMODE(p.stat().st_mode) == 0o640, oct(p.stat().st_mode)
    assert not debris(tmp_path), f"temporary files left: {debris(tmp_path)}"
    assert sorted(os.listdir(work)) == [], f"written into the current directory: {os.listdir(work)}"


# -------------------------------------------------------------------------------- directory outputs
DIR_CMDS = {
    "figures": (["figures", "simple_error", "--quick", "--workers", "1", "--out", "{p}"], "--out", "simple_error.json"),
    "demo-save": (["demo", "bn_noise", "--quick", "--save", "{p}"], "--save", "bn_noise.json"),
    "demo-notebook": (["demo", "bn_noise", "--notebook", "{p}"], "--notebook", "plot_bn_noise.ipynb"),
    "cnn-checkpoint": ([*CNN, "--checkpoint-dir", "{p}"], "--checkpoint-dir", "cnn_*.npz"),
}
DIR_TARGETS = ["devnull", "devfull", "fifo", "regular-file", "symlink-dir", "symlink-dangling", "missing-nested",
               "under-file", "empty", "long-name"]
DIR_REFUSED = {"devnull", "devfull", "fifo", "regular-file", "under-file", "empty", "long-name"}


def _dir_target(kind: str, tmp: Path) -> tuple[str, Path | None]:
    """The path to give, and the directory the products must land in (None: refused)."""
    if kind == "devnull":
        return "/dev/null", None
    if kind == "devfull":
        return "/dev/full", None
    if kind == "fifo":
        os.mkfifo(tmp / "fifo")
        return str(tmp / "fifo"), None
    if kind == "regular-file":
        (tmp / "afile").write_text("keep")
        return str(tmp / "afile"), None
    if kind == "symlink-dir":
        (tmp / "real").mkdir()
        (tmp / "link").symlink_to(tmp / "real")
        return str(tmp / "link"), tmp / "real"
    if kind == "symlink-dangling":
        (tmp / "link").symlink_to(tmp / "not-yet")
        return str(tmp / "link"), tmp / "not-yet"
    if kind == "missing-nested":
        return str(tmp / "a" / "b" / "c"), tmp / "a" / "b" / "c"
    if kind == "under-file":
        (tmp / "afile").write_text("keep")
        return str(tmp / "afile" / "sub"), None
    if kind == "empty":
        return "", None
    if kind == "long-name":
        return str(tmp / ("d" * 300)), None
    raise AssertionError(kind)


@pytest.mark.parametrize("cmd,target", [(c, t) for c in DIR_CMDS for t in DIR_TARGETS],
                         ids=[f"{c}-{t}" for c in DIR_CMDS for t in DIR_TARGETS])
def test_directory_output_targets(tmp_path, capsys, monkeypatch, cmd, target):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    tmp = tmp_path / "t"
    tmp.mkdir()
    path, dest = _dir_target(target, tmp)
    template, opt, product = DIR_CMDS[cmd]
    r = cli([a.format(p=path) for a in template], capsys)

    if target in DIR_REFUSED:
        assert r.code == 2, (r.code, r.err[-800:], r.out[-300:])
        line = assert_one_error(r.err)
        assert opt in line, f"the line does not name {opt}: {line!r}"
        assert r.out == "", f"work was done before the refusal: {r.out[:300]!r}"
        if target in ("devnull", "devfull"):
            assert is_char_device(path)
        if target == "fifo":
            assert stat.S_ISFIFO(os.lstat(path).st_mode)
        if target in ("regular-file", "under-file"):
            assert (tmp / "afile").read_text() == "keep"
    elif target == "symlink-dangling" and r.code == 2:
        assert_one_error(r.err, opt)
        assert r.out == ""
    else:
        assert r.code == 0, (r.code, r.err[-1500:])
        assert_clean(r.err)
        found = list(dest.glob(product))
        assert found, f"no {product} in {dest}: {list(dest.iterdir()) if dest.exists() else 'missing'}"
        if product.endswith((".json", ".ipynb")):
            strict_json(found[0].read_text())
        if target in ("symlink-dir", "symlink-dangling"):
            assert (tmp / "link").is_symlink(), "the link was replaced"
    assert not debris(tmp_path), f"temporary files left: {debris(tmp_path)}"
    assert sorted(os.listdir(work)) == [], f"written into the current directory: {sorted(os.listdir(work))}"

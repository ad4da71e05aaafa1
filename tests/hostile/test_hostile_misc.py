"""Class 8, everything else a careless or unlucky user does: two runs writing the same --json /
--out at once; a damaged figures cache (garbage, truncated, empty, swapped entries, a cache folder
that is a file); an output name taken by a directory; a damaged figure JSON; unicode paths; paths
longer than PATH_MAX; a newline in a path; `--json /dev/stdout` with stdout redirected to a file.

The contract: concurrent writers leave one whole, valid file (no temporary debris); a damaged cache
entry is a miss (recomputed, same numbers), never a crash; a path that cannot be used is one
`bnreg: error:` line, exit 2; outputs are written atomically, devices and pipes written through.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from _hostile import (
    BNREG,
    NICE,
    ROOT,
    assert_clean,
    assert_one_error,
    cli,
    debris,
    env_with,
    finish,
    new_mark,
    start,
    strict_json,
)

FIG = ["figures", "simple_error", "--quick", "--workers", "1"]
VERIFY = ["verify", "--quick", "--only", "simple_error.exact"]
CNN = ["cnn", "dataset=digits", "epochs=1", "widths=4", "fc=8", "--no-progress"]


def _set_consistent(out: Path, name: str) -> None:
    meta = strict_json((out / f"{name}.json").read_text())
    for fname, digest in meta["sha256"].items():
        assert hashlib.sha256((out / fname).read_bytes()).hexdigest() == digest, f"{fname} does not match its JSON"


# ------------------------------------------------------------------------------------ concurrency
@pytest.mark.processes
@pytest.mark.parametrize("cmd", ["verify-json", "cnn-out", "figures-out"])
def test_two_runs_write_the_same_output(tmp_path, cmd):
    target = tmp_path / ("out" if cmd == "figures-out" else "same.json")
    argv = {"verify-json": [*VERIFY, "--json", target], "cnn-out": [*CNN, "--out", target],
            "figures-out": [*FIG, "--out", target]}[cmd]
    procs = []
    for seed in (1, 2):
        mark = new_mark()
        procs.append((start([*argv, "--seed", seed], mark=mark), mark))
    results = [finish(p, m, timeout=120) for p, m in procs]
    for r in results:
        assert r.code == 0, (r.code, r.err[-800:])
        assert not r.left
    if cmd == "figures-out":
        _set_consistent(target, "simple_error")
        assert strict_json((target / "simple_error.json").read_text())["seed"] in (1, 2)
    else:
        doc = strict_json(target.read_text())
        if cmd == "verify-json":
            assert doc["seed"] in (1, 2)
    assert not debris(tmp_path), debris(tmp_path)


# ------------------------------------------------------------------------------------ the cache
@pytest.fixture(scope="module")
def made_once(tmp_path_factory):
    """simple_error made once (quick): its CSV, the reference for every regeneration."""
    from bnreg.figures.run import make_figure

    out = tmp_path_factory.mktemp("ref")
    make_figure("simple_error", "quick", out, progress=False)
    return out, (out / "simple_error.csv").read_bytes()


def _copy(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, symlinks=True)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "swapped", "sidecar-garbage", "directory-entry"])
def test_damaged_cache_entries_are_recomputed(tmp_path, capsys, made_once, damage):
    ref, csv = made_once
    out = tmp_path / "out"
    _copy(ref, out)
    entries = sorted((out / ".cache" / "simple_error").glob("*.npz"))
    assert len(entries) >= 2
    for i, p in enumerate(entries):
        if damage == "garbage":
            p.write_bytes(os.urandom(200))
        elif damage == "truncated":
            p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
        elif damage == "empty":
            p.write_bytes(b"")
        elif damage == "sidecar-garbage":
            p.with_suffix(".json").write_bytes(b"\0{not json")
        elif damage == "directory-entry" and i == 0:
            p.unlink()
            p.mkdir()
    if damage == "swapped":
        a, b = entries[0], entries[1]
        tmp = a.with_name("swap")
        os.replace(a, tmp)
        os.replace(b, a)
        os.replace(tmp, b)
    for f in out.glob("simple_error.*"):
        f.unlink()
    r = cli([*FIG, "--out", out], capsys)
    if damage == "directory-entry" and r.code == 2:  # an entry that cannot be replaced: one line is fine
        assert_one_error(r.err)
        return
    assert r.code == 0, (r.code, r.err[-800:])
    assert_clean(r.err)
    assert (out / "simple_error.csv").read_bytes() == csv, "different numbers after recomputing damaged entries"
    _set_consistent(out, "simple_error")
    assert not debris(out)


@pytest.mark.parametrize("what", ["cache-root-is-file", "figure-cache-is-file"])
def test_cache_folder_that_is_a_file(tmp_path, capsys, what):
    out = tmp_path / "out"
    out.mkdir()
    if what == "cache-root-is-file":
        (out / ".cache").write_text("x")
    else:
        (out / ".cache").mkdir()
        (out / ".cache" / "simple_error").write_text("x")
    r = cli([*FIG, "--out", out], capsys)
    assert r.code == 2, (r.code, r.err[-600:])
    assert_one_error(r.err)
    assert not (out / "simple_error.json").exists()


def test_output_name_taken_by_a_directory(tmp_path, capsys):
    out = tmp_path / "out"
    (out / "simple_error.png").mkdir(parents=True)
    r = cli([*FIG, "--out", out], capsys)
    assert r.code == 2, (r.code, r.err[-600:])
    assert_one_error(r.err, "simple_error.png")
    assert not [p.name for p in out.glob("simple_error.*") if p.is_file()], "a partial set was written"
    assert not debris(out)


@pytest.mark.parametrize("damage", ["not-json", "empty", "wrong-hash"])
def test_damaged_figure_json_is_regenerated(tmp_path, capsys, made_once, damage):
    ref, csv = made_once
    out = tmp_path / "out"
    _copy(ref, out)
    meta = out / "simple_error.json"
    if damage == "not-json":
        meta.write_text("{not json")
    elif damage == "empty":
        meta.write_text("")
    else:
        doc = strict_json(meta.read_text())
        doc["sha256"] = {k: "0" * 64 for k in doc["sha256"]}
        meta.write_text(json.dumps(doc))
    r = cli([*FIG, "--out", out], capsys)
    assert r.code == 0, (r.code, r.err[-600:])
    _set_consistent(out, "simple_error")
    assert (out / "simple_error.csv").read_bytes() == csv


# ------------------------------------------------------------------------------------ odd paths
UNICODE = "ünïcødé 😀 데이터"


@pytest.mark.parametrize("cmd", ["verify-json", "figures-out", "cnn-checkpoint"])
def test_unicode_paths(tmp_path, capsys, cmd):
    base = tmp_path / UNICODE
    base.mkdir()
    argv = {"verify-json": [*VERIFY, "--json", base / "résultats ✓.json"],
            "figures-out": [*FIG, "--out", base / "figs ✓"],
            "cnn-checkpoint": [*CNN, "--checkpoint-dir", base / "ck ✓", "--out", base / "m ✓.json"]}[cmd]
    r = cli(argv, capsys)
    assert r.code == 0, (r.code, r.err[-600:])
    assert_clean(r.err)
    for p in base.rglob("*.json"):
        if not p.name.startswith("."):
            strict_json(p.read_text())
    assert not debris(tmp_path)


def _deep(tmp: Path, total: int = 4200) -> Path:
    """A path longer than PATH_MAX (4096) made of short components."""
    p = tmp
    while len(str(p)) < total:
        p = p / ("x" * 200)
    return p


@pytest.mark.parametrize("cmd", ["verify-json", "figures-out", "cnn-out", "demo-save"])
def test_path_longer_than_path_max(tmp_path, capsys, cmd):
    deep = _deep(tmp_path)
    argv = {"verify-json": [*VERIFY, "--json", deep / "v.json"], "figures-out": [*FIG, "--out", deep],
            "cnn-out": [*CNN, "--out", deep / "m.json"],
            "demo-save": ["demo", "bn_noise", "--quick", "--save", deep]}[cmd]
    r = cli(argv, capsys)
    assert r.code == 2, (r.code, r.err[-600:])
    assert_one_error(r.err)
    assert r.out == "", "work was done before the refusal"


@pytest.mark.parametrize("cmd", ["figures-out", "demo-save", "cnn-checkpoint"])
def test_newline_in_a_path_keeps_the_error_on_one_line(tmp_path, capsys, cmd):
    (tmp_path / "afile").write_text("x")
    bad = tmp_path / "afile" / "new\nline"
    argv = {"figures-out": [*FIG, "--out", bad], "demo-save": ["demo", "bn_noise", "--quick", "--save", bad],
            "cnn-checkpoint": [*CNN, "--checkpoint-dir", bad]}[cmd]
    r = cli(argv, capsys)
    assert r.code == 2
    assert_one_error(r.err)


@pytest.mark.processes
def test_json_to_dev_stdout_redirected_to_a_file(tmp_path):
    """`bnreg verify --json /dev/stdout > log`: /dev/stdout is written through (write_atomic's
    docstring), so the log keeps the table and gets the JSON; it must not be replaced by the JSON."""
    log = tmp_path / "log.txt"
    cmd = " ".join(shlex.quote(str(a)) for a in [*NICE, *BNREG, *VERIFY, "--json", "/dev/stdout"])
    p = subprocess.run(["bash", "-c", f"{cmd} > {shlex.quote(str(log))}"], cwd=ROOT, timeout=120,
                       env=env_with(new_mark()), capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-600:]
    text = log.read_text()
    assert "simple_error.exact [PASS]" in text, "the table printed to stdout was lost (the log was replaced)"
    assert '"checks"' in text, "the JSON is missing"
    assert not debris(tmp_path)

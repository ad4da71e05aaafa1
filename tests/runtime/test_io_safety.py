"""Outputs and caches under hostile conditions: entries that are valid npz files but wrong, stale
code, unwritable or full destinations (checked before any work, one line, exit 2, no debris),
figure files written as one consistent set and re-checked by content hash, and two runs of one
figure into one directory at the same time."""

from __future__ import annotations

import csv
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bnreg.cli import main
from bnreg.errors import OutputError
from bnreg.figures.run import make_figure
from bnreg.runtime import PointCache, check_output_file, json_safe, write_atomic, write_json
from bnreg.runtime import cache as executor

KEY = {"figure": "t", "M": 8, "seed": 1}
VALUE = {"mc": np.array([0.5, 0.25]), "n": 100}


def _entry(cache: PointCache, key: dict) -> Path:
    return next(p for p in cache.root.glob("*.npz") if not p.name.startswith(".tmp"))


# ----------------------------------------------------------------------------- cache entries
def test_cache_round_trip_and_damaged_entries_are_misses(tmp_path):
    c = PointCache(tmp_path)
    c.put(KEY, VALUE)
    got = c.get(KEY)
    assert got is not None and np.array_equal(got["mc"], VALUE["mc"]) and int(got["n"]) == 100
    path = _entry(c, KEY)
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    # a valid npz whose arrays were edited (NaN), that lost a field, or that is another point's file
    edited = {**arrays, "mc": np.array([np.nan, 0.25])}
    np.savez(path, **edited)
    assert c.get(KEY) is None
    np.savez(path, **{k: v for k, v in arrays.items() if k != "n"})
    assert c.get(KEY) is None
    c.put({**KEY, "M": 16}, VALUE)
    other = PointCache(tmp_path)._path({**KEY, "M": 16})
    os.replace(other, path)
    assert c.get(KEY) is None
    path.write_bytes(b"not a zip")
    assert c.get(KEY) is None


def test_stale_code_version_is_a_miss(tmp_path, monkeypatch):
    c = PointCache(tmp_path)
    c.put(KEY, VALUE)
    assert c.get(KEY) is not None
    monkeypatch.setattr(executor, "code_version", lambda: "another-version")
    assert c.get(KEY) is None


def test_failed_cache_write_is_one_error_and_leaves_no_debris(tmp_path, monkeypatch):
    c = PointCache(tmp_path)

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full)
    with pytest.raises(OutputError, match="No space left"):
        c.put(KEY, VALUE)
    assert list(tmp_path.iterdir()) == []


def test_write_atomic_failure_leaves_the_old_file_and_no_debris(tmp_path, monkeypatch):
    p = tmp_path / "a.json"
    p.write_text("old")

    def refuse(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OutputError, match="cannot write"):
        write_atomic(p, "new")
    assert p.read_text() == "old" and sorted(x.name for x in tmp_path.iterdir()) == ["a.json"]


def test_json_is_always_valid():
    obj = {"a": float("nan"), "b": [1.0, float("inf")], "c": np.float64(2.5), "d": np.array([1, 2])}
    assert json_safe(obj) == {"a": None, "b": [1.0, None], "c": 2.5, "d": [1, 2]}


def test_write_json_round_trips(tmp_path):
    p = write_json(tmp_path / "x.json", {"v": float("-inf"), "w": 1})
    assert json.loads(p.read_text(), parse_constant=lambda s: pytest.fail(s)) == {"v": None, "w": 1}


def test_output_file_checks(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match="is a directory"):
        check_output_file(tmp_path, "--json")
    with pytest.raises(OutputError, match="does not exist"):
        check_output_file(tmp_path / "missing" / "x.json", "--json")
    with pytest.raises(OutputError, match="not a directory|does not exist"):
        check_output_file(tmp_path / "f" / "x.json", "--json")


# ------------------------------------------------------------------------------ command line
@pytest.mark.parametrize("argv,needle", [
    (["figures", "mp_law", "--quick", "--out", "{file}"], "--out"),
    (["figures", "mp_law", "--quick", "--out", "{file}/sub"], "--out"),
    (["verify", "--quick", "--only", "batch_mean_var", "--json", "{tmp}/missing/v.json"], "--json"),
    (["verify", "--quick", "--only", "batch_mean_var", "--json", "{tmp}"], "--json"),
    (["bench", "bn_noise", "--quick", "--json", "{file}/b.json"], "--json"),
    (["cnn", "dataset=digits", "epochs=1", "--out", "{tmp}/missing/m.json"], "--out"),
    (["cnn", "dataset=digits", "epochs=1", "--checkpoint-dir", "{file}"], "--checkpoint-dir"),
])
def test_unwritable_outputs_fail_before_any_work(tmp_path, capsys, argv, needle):
    f = tmp_path / "a_file"
    f.write_text("x")
    argv = [a.format(file=f, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    cap = capsys.readouterr()
    assert cap.out == ""  # no work was done, nothing printed
    err = cap.err.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and "Traceback" not in cap.err


# ------------------------------------------------------------------------------ figure files
def test_up_to_date_checks_content_hashes(tmp_path):
    r = make_figure("mp_law", "quick", tmp_path, progress=False)
    assert r["status"] == "written"
    assert make_figure("mp_law", "quick", tmp_path, progress=False)["status"] == "up to date"
    meta = json.loads((tmp_path / "mp_law.json").read_text())
    assert set(meta["sha256"]) == {"mp_law.png", "mp_law.pdf", "mp_law.csv"}
    csv_path = tmp_path / "mp_law.csv"
    good = csv_path.read_bytes()
    csv_path.write_bytes(good[: len(good) // 2])  # truncated
    assert make_figure("mp_law", "quick", tmp_path, progress=False)["status"] == "written"
    assert csv_path.read_bytes() == good  # regenerated from the cache, same numbers
    (tmp_path / "mp_law.png").write_bytes(b"\x89PNG broken")
    assert make_figure("mp_law", "quick", tmp_path, progress=False)["status"] == "written"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


@pytest.mark.processes
def test_concurrent_runs_leave_a_consistent_set(tmp_path):
    """Two runs of one figure with different seeds into one --out, started together, three times:
    the JSON's seed always belongs to the CSV beside it and every recorded hash matches."""
    ref = {}
    for seed in (11, 22):
        out = tmp_path / f"ref{seed}"
        make_figure("mp_law", "quick", out, seed=seed, progress=False)
        ref[seed] = (out / "mp_law.csv").read_bytes()
    assert ref[11] != ref[22]
    code = "import sys; from bnreg.cli import main; sys.exit(main(sys.argv[1:]))"
    for trial in range(3):
        out = tmp_path / f"shared{trial}"
        procs = [subprocess.Popen([sys.executable, "-c", code, "figures", "mp_law", "--quick", "--force",
                                   "--seed", str(s), "--out", str(out)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE) for s in (11, 22)]
        for p in procs:
            assert p.wait(timeout=300) == 0, p.stderr.read()
        meta = json.loads((out / "mp_law.json").read_text())
        assert (out / "mp_law.csv").read_bytes() == ref[meta["seed"]]
        from bnreg.figures._io import up_to_date

        assert up_to_date(out, "mp_law", {k: meta[k] for k in ("figure", "scale", "spec", "seed")})
        rows = list(csv.reader(open(out / "mp_law.csv")))
        assert len(rows) > 1


@pytest.mark.processes
def test_ctrl_c_on_a_process_pool_is_one_line_and_leaks_nothing(tmp_path):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) while two worker processes
    compute gamma_decay points: exit 130, one line on stderr, no traceback, no leaked semaphores,
    and the points finished before the interrupt stay cached."""
    import signal
    import time

    out = tmp_path / "out"
    # SIGINT as a terminal delivers it: a pytest started as a background job of a non-interactive
    # shell runs with SIGINT ignored, and a child would inherit that (then Ctrl-C could not stop it)
    code = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from bnreg.cli import main; sys.exit(main(sys.argv[1:]))")
    p = subprocess.Popen([sys.executable, "-c", code, "figures", "gamma_decay", "--workers", "2", "--out", str(out)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    cache = out / ".cache" / "gamma_decay"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and p.poll() is None:
        if len(list(cache.glob("*.npz"))) >= 2:
            break
        time.sleep(0.5)
    assert p.poll() is None, "the figure finished before it could be interrupted"
    os.killpg(p.pid, signal.SIGINT)
    err = p.communicate(timeout=120)[1]
    lines = [x for x in err.replace("\r", "\n").splitlines() if x.strip() and "it/s]" not in x and "s/it]" not in x
             and "%|" not in x]
    assert p.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "leaked" not in err, err[-2000:]
    assert lines == ["bnreg: interrupted (finished points are cached under --out; re-run the same command to resume)"]
    assert len(list(cache.glob("*.npz"))) >= 2


def test_changed_figure_source_is_a_miss(tmp_path):
    PointCache(tmp_path, salt="figure-v1").put(KEY, VALUE)
    assert PointCache(tmp_path, salt="figure-v1").get(KEY) is not None
    assert PointCache(tmp_path, salt="figure-v2").get(KEY) is None

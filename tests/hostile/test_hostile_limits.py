"""Class 3, resource limits: `ulimit -v` (RLIMIT_AS, set in the child before exec) at a few sizes,
and `ulimit -f` (RLIMIT_FSIZE) on `bnreg figures`, `bnreg verify --json`, `bnreg cnn --out /
--checkpoint-dir` and `bnreg demo --save`.

The contract: out of memory is one `bnreg: error:` line naming the `ulimit -v`, exit 1; a file
that cannot be written is one line (exit 2, or 1); never a traceback, never a hang (every run has
a timeout), no process left, no temporary file and no partial file under a final name; a limit
that fits lets the run finish.
"""

from __future__ import annotations

import hashlib
import resource
from pathlib import Path

import numpy as np
import pytest
from _hostile import assert_clean, assert_one_error, debris, limit, run, strict_json

pytestmark = pytest.mark.processes

MB = 2**20
CNN = ["cnn", "dataset=digits", "epochs=1", "widths=4", "fc=8", "--no-progress"]
TIMEOUT = 20  # every one of these finishes in a few seconds when it works

AS_CASES = {
    # id: (argv, limit in MB, expected exit)
    "verify-100M": (["verify", "--quick", "--only", "simple_error.exact", "--json", "{t}/v.json"], 100, 1),
    "verify-200M": (["verify", "--quick", "--only", "simple_error.exact", "--json", "{t}/v.json"], 200, 1),
    "verify-250M": (["verify", "--quick", "--only", "simple_error.exact", "--json", "{t}/v.json"], 250, 1),
    "verify-400M": (["verify", "--quick", "--only", "simple_error.exact", "--json", "{t}/v.json"], 400, 1),
    "verify-fits-2G": (["verify", "--quick", "--only", "simple_error.exact", "--json", "{t}/v.json"], 2048, 0),
    "figures-workers-300M": (["figures", "simple_error", "--quick", "--workers", "2", "--threads", "1", "--out",
                              "{t}/out"], 300, 1),
    "figures-workers-fits-1500M": (["figures", "simple_error", "--quick", "--workers", "2", "--threads", "1", "--out",
                                    "{t}/out"], 1500, 0),
    "cnn-300M": ([*CNN, "--out", "{t}/m.json"], 300, 1),
    "cnn-huge-fc-under-1G": (["cnn", "dataset=digits", "epochs=1", "widths=4", "fc=10000000", "--no-progress",
                              "--out", "{t}/m.json"], 1024, 1),
}


@pytest.mark.parametrize("case", list(AS_CASES))
def test_address_space_limit(tmp_path, case):
    argv, mb, expect = AS_CASES[case]
    argv = [a.format(t=tmp_path) for a in argv]
    r = run(argv, timeout=TIMEOUT, preexec_fn=limit(resource.RLIMIT_AS, mb * MB))
    assert not r.timed_out, f"hung under ulimit -v {mb} MB (killed after {TIMEOUT} s); stderr: {r.err[-600:]!r}"
    assert not r.left, f"processes {r.left} outlived the run"
    assert r.code == expect, (r.code, r.err[-1200:])
    if expect == 1:
        assert_one_error(r.err, "ulimit -v", f"{mb} MB")
        for name in ("v.json", "m.json"):
            assert not (tmp_path / name).exists(), f"{name} written by a failed run"
    else:
        assert_clean(r.err)
        if (tmp_path / "v.json").exists() or "verify" in argv:
            strict_json((tmp_path / "v.json").read_text())
    assert not debris(tmp_path), debris(tmp_path)


def _figure_set_consistent(out: Path, name: str) -> None:
    """Under the final names: nothing, or a complete set whose JSON hashes match its files."""
    finals = [out / f"{name}.{ext}" for ext in ("png", "pdf", "csv", "json")]
    present = [p for p in finals if p.exists()]
    if not present:
        return
    meta = strict_json((out / f"{name}.json").read_text())
    for fname, digest in meta["sha256"].items():
        assert hashlib.sha256((out / fname).read_bytes()).hexdigest() == digest, f"{fname} is partial"


FSIZE_CASES = {
    "verify-json-4K": (["verify", "--quick", "--only", "simple_error.exact", "--json", "{t}/v.json"], 4),
    "figures-1K": (["figures", "simple_error", "--quick", "--workers", "1", "--out", "{t}/out"], 1),
    "figures-20K": (["figures", "simple_error", "--quick", "--workers", "1", "--out", "{t}/out"], 20),
    "figures-workers-20K": (["figures", "simple_error", "--quick", "--workers", "2", "--threads", "1", "--out",
                             "{t}/out"], 20),
    "cnn-out-1K": ([*CNN, "--out", "{t}/m.json"], 1),
    "cnn-checkpoint-20K": ([*CNN, "--checkpoint-dir", "{t}/ck"], 20),
    "demo-save-20K": (["demo", "bn_noise", "--quick", "--save", "{t}/demo"], 20),
}


@pytest.mark.parametrize("case", list(FSIZE_CASES))
def test_file_size_limit(tmp_path, case):
    argv, kb = FSIZE_CASES[case]
    argv = [a.format(t=tmp_path) for a in argv]
    r = run(argv, timeout=TIMEOUT * 3, preexec_fn=limit(resource.RLIMIT_FSIZE, kb * 1024))
    assert not r.timed_out, f"hung under ulimit -f {kb} KB; stderr: {r.err[-600:]!r}"
    assert not r.left, f"processes {r.left} outlived the run"
    assert r.code in (1, 2), (r.code, r.err[-1200:])
    assert_one_error(r.err)
    assert not debris(tmp_path), f"temporary files left: {debris(tmp_path)}"
    for name in ("v.json", "m.json"):
        assert not (tmp_path / name).exists(), f"a partial {name} under its final name"
    if (tmp_path / "out").exists():
        _figure_set_consistent(tmp_path / "out", "simple_error")
    if (tmp_path / "demo").exists():
        _figure_set_consistent(tmp_path / "demo", "bn_noise")
    for p in (tmp_path / "ck").glob("*.npz") if (tmp_path / "ck").exists() else []:
        with np.load(p, allow_pickle=False) as z:  # a checkpoint under its final name is complete
            _ = {k: z[k] for k in z.files}

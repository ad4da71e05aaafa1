"""Class 6, Dask: `--address garbage`, `tcp://127.0.0.1:1` (nobody listens), an unresolvable host,
an empty address, `--address` without `--backend dask`, a scheduler with no worker
(`distributed.LocalCluster(n_workers=0)`), and a scheduler lost in the middle of a run.

The contract: a bad or unreachable address is one `bnreg: error:` line naming it, exit 2, and
nothing written; a scheduler that never gets a worker is refused the same way, promptly (no hang);
a scheduler lost mid-run is one line, exit 1, the finished points kept; no process left.
The API (`bnreg.make_figures`) validates like the CLI.
"""

from __future__ import annotations

import time

import pytest
from _hostile import assert_one_error, cli, finish, marked, new_mark, start

pytest.importorskip("distributed")

pytestmark = pytest.mark.processes

VERIFY = ["verify", "--quick", "--only", "batch_mean_var", "--backend", "dask", "--address"]
FIG = ["figures", "simple_error", "--quick", "--backend", "dask", "--out", "{out}", "--address"]


@pytest.fixture
def short_timeout(monkeypatch):
    from bnreg.runtime import sweeps

    monkeypatch.setattr(sweeps, "DASK_CONNECT_TIMEOUT", 2.0)


BAD = {"garbage": "garbage", "port-1": "tcp://127.0.0.1:1", "unresolvable": "tcp://no-such-host.invalid:8786",
       "empty": "", "no-port": "tcp://127.0.0.1", "port-99999": "tcp://127.0.0.1:99999",
       "bad-scheme": "ftp://127.0.0.1:8786"}


@pytest.mark.parametrize("cmd", ["verify", "figures"])
@pytest.mark.parametrize("case", list(BAD))
def test_bad_address(tmp_path, capsys, short_timeout, cmd, case):
    address = BAD[case]
    out = tmp_path / "out"
    argv = [*(VERIFY if cmd == "verify" else FIG), address]
    t0 = time.time()
    r = cli([a.format(out=out) for a in argv], capsys)
    assert time.time() - t0 < 30, "took too long to give up"
    assert r.code == 2, (r.code, r.err[-600:])
    line = assert_one_error(r.err)
    assert "address" in line and (address in line or case == "empty"), line
    assert not (out / "simple_error.json").exists()


@pytest.mark.parametrize("argv", [
    ["verify", "--quick", "--only", "batch_mean_var", "--address", "tcp://127.0.0.1:1"],
    ["verify", "--quick", "--only", "batch_mean_var", "--backend", "processes", "--address", "tcp://127.0.0.1:1"],
    ["figures", "simple_error", "--quick", "--out", "{out}", "--address", "tcp://127.0.0.1:1"],
], ids=["verify-no-backend", "verify-processes-backend", "figures-no-backend"])
def test_address_without_dask_backend(tmp_path, capsys, argv):
    r = cli([a.format(out=tmp_path / "out") for a in argv], capsys)
    assert r.code == 2, r.err[-600:]
    assert_one_error(r.err, "--address")
    assert r.out == ""


def test_api_address_without_dask_backend(tmp_path):
    import bnreg
    from bnreg.errors import ParameterError

    with pytest.raises(ParameterError, match="address"):
        bnreg.make_figures(["simple_error"], scale="quick", out=str(tmp_path / "out"), workers=1,
                           address="tcp://127.0.0.1:1", progress=False)
    assert not (tmp_path / "out" / "simple_error.json").exists()


@pytest.fixture(scope="module")
def empty_cluster():
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=0, processes=False, dashboard_address=None)
    yield cluster
    cluster.close()


@pytest.mark.parametrize("cmd", ["verify", "figures"])
def test_scheduler_without_worker(tmp_path, capsys, short_timeout, empty_cluster, cmd):
    address = empty_cluster.scheduler_address
    argv = [*(VERIFY if cmd == "verify" else FIG), address]
    t0 = time.time()
    r = cli([a.format(out=tmp_path / "out") for a in argv], capsys)
    assert time.time() - t0 < 30, "waited too long for a worker that never comes"
    assert r.code == 2, (r.code, r.err[-600:])
    assert_one_error(r.err, address)


def test_scheduler_lost_mid_run(tmp_path):
    """A real scheduler with one worker, closed while `bnreg figures` computes on it: exit 1, one
    line naming the address, the finished points kept, no process left."""
    from distributed import LocalCluster

    out = tmp_path / "out"
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        address = cluster.scheduler_address
        mark = new_mark()
        proc = start(["figures", "simple_error", "batch_stats", "gamma_decay", "--quick", "--backend", "dask",
                      "--address", address, "--out", out], mark=mark)
        deadline = time.time() + 90
        while time.time() < deadline and proc.poll() is None:
            if len(list((out / ".cache").rglob("*.npz"))) >= 2:
                break
            time.sleep(0.05)
        if proc.poll() is not None:
            pytest.fail(f"the run ended before the scheduler was closed (exit {proc.returncode}): inconclusive")
        before = {str(p) for p in (out / ".cache").rglob("*.npz") if not p.name.startswith(".tmp")}
    finally:
        cluster.close()
    r = finish(proc, mark, timeout=90)
    assert not r.timed_out, f"hung after the scheduler was lost; marked processes {marked(mark)}"
    assert not r.left
    assert r.code == 1, (r.code, r.err[-800:])
    assert_one_error(r.err, address)
    after = {str(p) for p in (out / ".cache").rglob("*.npz")}
    assert before <= after, f"finished points lost: {sorted(before - after)[:3]}"

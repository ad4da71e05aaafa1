"""Sweeps on a real dask.distributed LocalCluster (dask is in the test extras): the same numbers,
bit for bit, as the serial run, and a worker killed in the middle of a sweep loses no finished
point — the scheduler reruns the lost task elsewhere and the sweep completes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("distributed", reason="dask[distributed] is in the test extras")

from bnreg.figures.run import make_figure  # noqa: E402
from bnreg.runtime import PointCache, sweep  # noqa: E402

pytestmark = pytest.mark.processes


def test_figure_on_dask_equals_serial(tmp_path):
    serial = make_figure("simple_error", "quick", tmp_path / "serial", progress=False)
    dask = make_figure("simple_error", "quick", tmp_path / "dask", workers=2, threads=1, backend="dask",
                       progress=False)
    assert serial["status"] == dask["status"] == "written"
    csv = "simple_error.csv"
    assert (tmp_path / "serial" / csv).read_bytes() == (tmp_path / "dask" / csv).read_bytes()


def test_killed_worker_loses_no_finished_point(tmp_path):
    mark = tmp_path / "killed"

    def point(*, i: int) -> dict:  # a closure: cloudpickle ships it by value to the workers
        if i == 5 and not Path(mark).exists():
            Path(mark).write_text("once")
            os._exit(1)  # the worker process dies in the middle of the sweep
        return {"v": i * i}

    records = [{"i": i} for i in range(10)]
    cache = PointCache(tmp_path / "cache")
    res = sweep(point, records, cache=cache, name="kill", workers=2, backend="dask", progress=False)
    assert mark.exists(), "the worker was never killed: the test did not test anything"
    assert [int(r["v"]) for r in res] == [i * i for i in range(10)]
    # every point, including those finished before the kill, is in the cache
    again = sweep(lambda **kw: pytest.fail("recomputed a cached point"), records, cache=cache, name="kill",
                  progress=False)
    assert [int(r["v"]) for r in again] == [i * i for i in range(10)]


def test_verify_on_dask_equals_in_process():
    """`bnreg verify --backend dask`: every point's estimate, SE and verdict as in process."""
    from bnreg.sims.catalog import select_checks
    from bnreg.testing.judge import run_check

    (check,) = select_checks("batch_mean_var")
    local = run_check(check, "quick")
    remote = run_check(check, "quick", backend="dask", workers=2)
    assert [p.mc for p in remote.points] == [p.mc for p in local.points]
    assert remote.passed == local.passed and remote.power == local.power


@pytest.mark.parametrize("address, needle", [("garbage", "not a Dask scheduler address"),
                                             ("tcp://127.0.0.1:1", "cannot reach the Dask scheduler"),
                                             ("tcp://no-such-host.invalid:8786", "cannot reach the Dask scheduler")])
def test_a_bad_or_unreachable_address_is_one_line_exit_2(capsys, monkeypatch, address, needle):
    from bnreg.cli import main
    from bnreg.runtime import sweeps

    monkeypatch.setattr(sweeps, "DASK_CONNECT_TIMEOUT", 1.0)
    assert main(["verify", "--only", "batch_mean_var", "--quick", "--backend", "dask", "--address", address]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and address in err and "\n" not in err and "Traceback" not in err


def test_a_scheduler_lost_between_sweeps_is_one_line_exit_1(capsys, monkeypatch):
    """A scheduler that answered earlier in the run and no longer does was lost, not mistyped:
    exit 1 (not 2), one line naming the address, and the finished points stay cached."""
    from bnreg.cli import main
    from bnreg.runtime import sweeps

    monkeypatch.setattr(sweeps, "DASK_CONNECT_TIMEOUT", 1.0)
    monkeypatch.setattr(sweeps, "_DASK_REACHED", {"tcp://127.0.0.1:1"})
    assert main(["verify", "--only", "batch_mean_var", "--quick", "--backend", "dask",
                 "--address", "tcp://127.0.0.1:1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("bnreg: error: lost the Dask scheduler at --address tcp://127.0.0.1:1 mid-run")
    assert "re-run to resume" in err and "\n" not in err and "Traceback" not in err


def test_a_scheduler_without_workers_is_one_line_exit_2(capsys, monkeypatch):
    from distributed import LocalCluster

    from bnreg.cli import main
    from bnreg.runtime import sweeps

    monkeypatch.setattr(sweeps, "DASK_CONNECT_TIMEOUT", 1.0)
    with LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster:
        assert main(["verify", "--only", "batch_mean_var", "--quick", "--backend", "dask",
                     "--address", cluster.scheduler_address]) == 2
    err = capsys.readouterr().err.strip()
    assert "has no worker" in err and "dask worker" in err and "\n" not in err

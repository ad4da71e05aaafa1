"""Sweeps and parallelism: serial, processes and the shared pool give the same numbers; the workers
and threads settings (bnreg/runtime/sweeps.py, pool.py, threads.py)."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from bnreg.params import ParameterError  # noqa: E402
from bnreg.runtime import PointCache, resolve_parallelism, sweep  # noqa: E402


def square_point(x: int) -> dict[str, float]:
    """A tiny picklable sweep function."""
    return {"x": float(x), "sq": float(x * x), "vec": np.arange(3) * x}


def square_key(x: int) -> dict:
    return {"test": "square", "x": x}


def thread_report_point(*, tag: int) -> dict[str, float]:
    """Where and with how many threads a sweep point ran."""
    import numba
    from threadpoolctl import threadpool_info

    from bnreg.runtime import get_threads

    blas = [d["num_threads"] for d in threadpool_info() if d.get("user_api") == "blas"]
    return {"tag": float(tag), "pid": float(os.getpid()), "mc": float(get_threads()),
            "numba": float(numba.get_num_threads()), "blas": float(max(blas) if blas else -1)}


def mc_point(*, M: int, seed: int) -> dict[str, object]:
    """A real threaded Monte Carlo point (many chunks, so that the thread count could matter)."""
    from bnreg.sims.bn_noise import simulate_batch_stats

    r = simulate_batch_stats("laplace", M, 4096, seed=seed, n_chunks=16)
    est = r.var_sd()
    return {"est": est.estimate, "se": est.se, "mean_sd": r.mean_sd().estimate}


def _loky_available() -> None:
    try:
        from joblib import Parallel, delayed

        Parallel(n_jobs=2, backend="loky")(delayed(abs)(-i) for i in range(2))
    except Exception as e:  # pragma: no cover - depends on the sandbox
        pytest.skip(f"joblib's loky backend could not start worker processes here: {e!r}")


def test_sweep_serial_order_and_caching(tmp_path):
    cache = PointCache(tmp_path)
    calls: list[int] = []

    def fn(x):
        calls.append(x)
        return square_point(x)

    items = [5, 1, 4, 2, 3]
    res = sweep(fn, items, square_key, cache, progress=False)
    assert calls == items
    assert [float(r["x"]) for r in res] == [float(x) for x in items]
    assert [float(r["sq"]) for r in res] == [float(x * x) for x in items]

    # second run over a superset: only the new items are computed, results still in item order
    calls.clear()
    items2 = [7, 5, 1, 6, 4, 2, 3]
    res2 = sweep(fn, items2, square_key, cache, progress=False)
    assert calls == [7, 6]
    assert [float(r["sq"]) for r in res2] == [float(x * x) for x in items2]
    for r in res2:
        np.testing.assert_array_equal(r["vec"], np.arange(3) * r["x"])

    # third run: nothing to compute
    calls.clear()
    res3 = sweep(fn, items2, square_key, cache, progress=False)
    assert calls == []
    assert [float(r["sq"]) for r in res3] == [float(x * x) for x in items2]


def test_sweep_unknown_backend(tmp_path):
    with pytest.raises(ParameterError, match="backend"):
        sweep(square_point, [1, 2], square_key, PointCache(tmp_path), workers=2, backend="threads", progress=False)
    with pytest.raises(ParameterError, match="serial"):
        sweep(square_point, [1, 2], square_key, PointCache(tmp_path), workers=2, backend="serial", progress=False)


@pytest.mark.processes
def test_sweep_processes_matches_serial(tmp_path):
    _loky_available()
    items = [3, 1, 4, 1, 5, 9, 2, 6]
    serial = sweep(square_point, items, square_key, PointCache(tmp_path / "serial"), progress=False)
    par_cache = PointCache(tmp_path / "par")
    par = sweep(square_point, items, square_key, par_cache, workers=2, progress=False)  # processes by default
    assert len(par) == len(serial) == len(items)
    for a, b in zip(serial, par, strict=True):
        assert set(a) == set(b)
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    # the parallel run filled the cache
    for x in items:
        assert par_cache.get(square_key(x)) is not None


@pytest.mark.parametrize("cores", [1, 2, 3, 4, 8, 64])
def test_default_threads_never_exceed_cores(cores):
    for workers in range(1, cores + 1):
        w, t = resolve_parallelism(workers, None, cores=cores)
        assert w == workers and t >= 1 and w * t <= cores
    assert resolve_parallelism(None, None, cores=cores) == (1, cores)
    for threads in range(1, cores + 1):
        assert resolve_parallelism(None, threads, cores=cores) == (1, threads)
    # one option alone never oversubscribes: refused, naming both options
    with pytest.raises(ParameterError, match="--workers and --threads"):
        resolve_parallelism(cores + 1, None, cores=cores)
    with pytest.raises(ParameterError, match="--workers and --threads"):
        resolve_parallelism(None, cores + 1, cores=cores)


def test_explicit_oversubscription_warns_once(capsys):
    assert resolve_parallelism(3, 5, cores=7) == (3, 5)
    assert resolve_parallelism(3, 5, cores=7) == (3, 5)
    err = capsys.readouterr().err
    assert err.count("warning") == 1 and len(err.strip().splitlines()) == 1 and "3 x 5 = 15" in err
    with pytest.raises(ParameterError, match="workers"):
        resolve_parallelism(0, 1, cores=4)
    with pytest.raises(ParameterError, match="threads"):
        resolve_parallelism(1, 0, cores=4)


@pytest.mark.processes
@pytest.mark.parametrize("threads", [1, 2])
def test_worker_processes_apply_the_thread_setting(tmp_path, threads):
    _loky_available()
    workers = 2
    if threads * workers > (os.cpu_count() or 1):
        resolve_parallelism(workers, threads)  # explicit: allowed (with a warning line)
    recs = [{"tag": i} for i in range(6)]
    res = sweep(thread_report_point, recs, cache=PointCache(None), name="t", workers=workers, threads=threads,
                progress=False)
    assert all(int(r["pid"]) != os.getpid() for r in res)  # ran in worker processes
    for r in res:
        assert int(r["mc"]) == threads and int(r["numba"]) == threads
        assert int(r["blas"]) in (threads, -1)  # -1: no BLAS library loaded


@pytest.mark.processes
def test_default_worker_threads_share_the_cores(tmp_path):
    _loky_available()
    cores = os.cpu_count() or 1
    res = sweep(thread_report_point, [{"tag": i} for i in range(4)], name="t", workers=2, progress=False)
    assert all(int(r["mc"]) * 2 <= max(cores, 2) and int(r["numba"]) == int(r["mc"]) for r in res)


def test_serial_threads_are_applied_and_restored():
    from bnreg.runtime import get_threads

    before = get_threads()
    (r,) = sweep(thread_report_point, [{"tag": 0}], name="t", threads=1, progress=False)
    assert int(r["pid"]) == os.getpid() and int(r["mc"]) == 1 and int(r["numba"]) == 1
    assert get_threads() == before


@pytest.mark.processes
def test_results_do_not_depend_on_workers_or_threads(tmp_path):
    """The same seed gives bit-identical results serially and on processes, on 1 or 2 threads."""
    _loky_available()
    recs = [{"M": M, "seed": 100 + M} for M in (4, 8, 16)]
    runs = {}
    for workers, threads in ((1, 1), (1, 2), (2, 1), (2, 2)):
        runs[workers, threads] = sweep(mc_point, recs, cache=PointCache(tmp_path / f"{workers}x{threads}"),
                                       name="mc", workers=workers, threads=threads, progress=False)
    ref = runs[1, 1]
    for res in runs.values():
        for a, b in zip(ref, res, strict=True):
            for k in a:
                assert a[k].tobytes() == b[k].tobytes(), k


@pytest.mark.processes
def test_shared_pool_matches_serial_deduplicates_and_sets_threads(tmp_path):
    """Points on a shared pool: bit-identical to serial, one thread per worker (set once), and two
    sweeps asking for the same key share one computation (the second finds it cached or in flight)."""
    from bnreg.runtime import shared_pool

    recs = [{"M": M, "seed": 100 + M} for M in (4, 8, 16)]
    ref = sweep(mc_point, recs, cache=PointCache(tmp_path / "serial"), name="mc", threads=1, progress=False)
    with shared_pool(2, 1, progress=False) as pool:
        res = sweep(mc_point, recs, cache=PointCache(tmp_path / "pool"), name="mc", workers=2, progress=False,
                    cost=lambda r: r["M"])
        rep = sweep(thread_report_point, [{"tag": i} for i in range(4)], name="t", workers=2, progress=False)
        f1 = pool.submit(square_point, (3,), dedup="same")
        f2 = pool.submit(square_point, (3,), dedup="same")
        assert f1 is f2 and f1.result()["sq"] == 9.0
    for a, b in zip(ref, res, strict=True):
        for k in a:
            assert a[k].tobytes() == b[k].tobytes(), k
    for r in rep:
        assert int(r["pid"]) != os.getpid() and int(r["mc"]) == 1 and int(r["numba"]) == 1
        assert int(r["blas"]) in (1, -1)



@pytest.mark.processes
def test_shared_pool_fills_every_item_of_a_sweep_with_repeated_keys(tmp_path):
    """Two items of one sweep with the same key share one future, and both get its result (a pool
    keyed by future alone filled one and left the other None)."""
    from bnreg.runtime import shared_pool

    with shared_pool(2, 1, progress=False):
        res = sweep(square_point, [3, 3, 4], square_key, PointCache(None), workers=2, progress=False)
    assert [float(r["sq"]) for r in res] == [9.0, 9.0, 16.0]


@pytest.mark.processes
def test_verify_with_workers_gives_the_serial_numbers():
    """`verify --workers 2` (its own shared pool, points sent as cloudpickle: the grids hold
    closures) gives bit-identical Monte-Carlo numbers to the serial run, also for a check whose
    points share one simulation per seed (bn_deviation_ms: every u reads the same draws)."""
    from bnreg.sims.catalog import select_checks
    from bnreg.testing.runner import run_suite

    checks = select_checks("bn_deviation_ms")
    serial = run_suite(checks, "quick", threads=1)
    pooled = run_suite(checks, "quick", threads=1, workers=2, backend="processes")
    for a, b in zip(serial, pooled, strict=True):
        assert [p.mc.estimate for p in a.points] == [p.mc.estimate for p in b.points]
        assert [p.mc.se for p in a.points] == [p.mc.se for p in b.points]

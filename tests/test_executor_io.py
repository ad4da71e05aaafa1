"""Tests of the point cache, sweeps and the workers/threads settings (bnreg/runtime/) and of figure
output (figures/_io.py)."""

from __future__ import annotations

import csv
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from bnreg.figures._io import save  # noqa: E402
from bnreg.params import ParameterError  # noqa: E402
from bnreg.runtime import PointCache, cache_key, resolve_parallelism, sweep  # noqa: E402

# --------------------------------------------------------------------------------------------
# helpers (top level so that loky workers can unpickle them)


def square_point(x: int) -> dict[str, float]:
    """A tiny picklable sweep function."""
    return {"x": float(x), "sq": float(x * x), "vec": np.arange(3) * x}


def square_key(x: int) -> dict:
    return {"test": "square", "x": x}


def square_record_point(*, x: int, scale: float = 1.0) -> dict[str, float]:
    """The record form: called as point(**record)."""
    return {"x": float(x), "sq": scale * x * x}


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


_UNPICKLED: list[str] = []


def _record_unpickle(tag: str) -> str:
    _UNPICKLED.append(tag)
    return tag


class _PickleBomb:
    """Unpickling this object records the fact in _UNPICKLED."""

    def __reduce__(self):
        return (_record_unpickle, ("unpickled!",))


def _only_npz(root) -> object:
    files = sorted(root.glob("*.npz"))
    assert len(files) == 1, files
    return files[0]


# --------------------------------------------------------------------------------------------
# PointCache


def test_cache_round_trip(tmp_path):
    c = PointCache(tmp_path / "cache")
    key = {"figure": "t", "M": 8, "seed": 123}
    value = {"a": np.linspace(0, 1, 7), "b": 2.5, "n": 1024, "h": np.arange(12).reshape(3, 4)}
    assert c.get(key) is None
    c.put(key, value)
    got = c.get(key)
    assert got is not None and set(got) == set(value)
    for k, v in value.items():
        np.testing.assert_array_equal(got[k], np.asarray(v))
        assert got[k].dtype == np.asarray(v).dtype
    # a JSON copy of the key sits next to the entry
    npz = _only_npz(tmp_path / "cache")
    assert json.loads(npz.with_suffix(".json").read_text()) == key
    # no temporary files left behind
    assert not list((tmp_path / "cache").glob("*.tmp*"))
    # a different key is a miss; a key with the same content in another order is a hit
    assert c.get({**key, "M": 9}) is None
    assert c.get(dict(reversed(list(key.items())))) is not None


def test_cache_disabled_and_rootless(tmp_path):
    off = PointCache(tmp_path / "c", enabled=False)
    off.put({"k": 1}, {"v": 1.0})
    assert off.get({"k": 1}) is None
    none = PointCache(None)
    none.put({"k": 1}, {"v": 1.0})
    assert none.get({"k": 1}) is None
    calls = []
    assert float(none.cached({"k": 1}, lambda: calls.append(1) or {"v": 3.0})["v"]) == 3.0
    assert calls == [1]


def test_cached_computes_once(tmp_path):
    c = PointCache(tmp_path)
    calls = []

    def fn():
        calls.append(1)
        return {"v": np.array([1.0, 2.0])}

    r1 = c.cached({"k": 1}, fn)
    r2 = c.cached({"k": 1}, fn)
    assert calls == [1]
    np.testing.assert_array_equal(r1["v"], r2["v"])


def _truncate_half(p):
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


def _truncate_tail(p):
    data = p.read_bytes()
    p.write_bytes(data[:-10])


def _garbage(p):
    p.write_bytes(b"this is not an npz file" * 10)


def _empty(p):
    p.write_bytes(b"")


def _zero_middle(p):
    data = bytearray(p.read_bytes())
    data[100:200] = b"\0" * 100
    p.write_bytes(bytes(data))


CORRUPTIONS = [_truncate_half, _truncate_tail, _garbage, _empty, _zero_middle]


@pytest.mark.parametrize("corrupt", CORRUPTIONS, ids=[f.__name__.lstrip("_") for f in CORRUPTIONS])
def test_corrupted_entry_is_a_miss(tmp_path, corrupt):
    c = PointCache(tmp_path)
    key = {"k": "torn"}
    c.put(key, {"v": np.arange(1000.0), "s": 1.5})
    corrupt(_only_npz(tmp_path))
    assert c.get(key) is None  # a miss, not an exception


def test_truncated_entry_is_recomputed(tmp_path):
    c = PointCache(tmp_path)
    key = {"k": "torn"}
    c.put(key, {"v": np.arange(1000.0)})
    _truncate_half(_only_npz(tmp_path))
    calls = []
    r = c.cached(key, lambda: calls.append(1) or {"v": np.arange(1000.0)})
    assert calls == [1]
    np.testing.assert_array_equal(r["v"], np.arange(1000.0))
    assert c.get(key) is not None  # the recomputed entry replaced the torn one


def test_object_array_entry_is_never_unpickled(tmp_path):
    c = PointCache(tmp_path)
    key = {"k": "evil"}
    c.put(key, {"v": 1.0})
    path = _only_npz(tmp_path)
    # overwrite the entry by hand with an object array whose unpickling has a side effect
    with open(path, "wb") as f:
        np.savez(f, v=np.array([_PickleBomb()], dtype=object), w=np.arange(3.0))
    _UNPICKLED.clear()
    try:
        got = c.get(key)
    except Exception:  # raising is acceptable; unpickling is not
        got = None
    assert got is None
    assert _UNPICKLED == []
    # sanity: the file really does unpickle (and fire the bomb) when pickles are allowed
    with np.load(path, allow_pickle=True) as z:
        z["v"]
    assert _UNPICKLED == ["unpickled!"]
    _UNPICKLED.clear()


# --------------------------------------------------------------------------------------------
# sweep


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


# --------------------------------------------------------------------------------------------
# records: the sweep item is a dict of keyword arguments and (with the figure name) the cache key


def test_record_is_the_cache_key(tmp_path):
    cache = PointCache(tmp_path)
    calls: list[dict] = []

    def point(**rec):
        calls.append(rec)
        return square_record_point(**rec)

    recs = [{"x": 2}, {"x": 3, "scale": 0.5}]
    res = sweep(point, recs, cache=cache, name="sq", progress=False)
    assert calls == recs  # point(**record)
    assert [float(r["sq"]) for r in res] == [4.0, 4.5]
    # the entry's JSON sidecar is the figure name plus the record
    sidecars = sorted(json.dumps(json.loads(p.read_text()), sort_keys=True) for p in tmp_path.glob("*.json"))
    assert sidecars == sorted(json.dumps(k, sort_keys=True)
                              for k in ({"figure": "sq", "x": 2}, {"figure": "sq", "x": 3, "scale": 0.5}))
    assert cache.get(cache_key("sq", {"x": 2})) is not None

    # same record (fields in any order) -> hit; a changed field, a new field or another figure -> miss
    calls.clear()
    res = sweep(point, [{"scale": 0.5, "x": 3}, {"x": 2}], cache=cache, name="sq", progress=False)
    assert calls == [] and [float(r["sq"]) for r in res] == [4.5, 4.0]
    for recs2, name in (([{"x": 3, "scale": 0.25}], "sq"), ([{"x": 2, "scale": 1.0}], "sq"), ([{"x": 2}], "other")):
        calls.clear()
        sweep(point, recs2, cache=cache, name=name, progress=False)
        assert calls == recs2, (recs2, name)


def test_record_validation(tmp_path):
    assert cache_key("fig", {"M": 8, "seed": 1}) == {"figure": "fig", "M": 8, "seed": 1}
    assert cache_key(None, {"M": 8}) == {"M": 8}
    with pytest.raises(ParameterError, match="JSON"):
        cache_key("fig", {"M": np.int64(8)})  # would be cached under str(8): refused
    with pytest.raises(ParameterError, match="figure"):
        cache_key("fig", {"figure": "x"})
    with pytest.raises(ParameterError, match="dict"):
        sweep(square_record_point, [3], cache=PointCache(tmp_path), name="sq", progress=False)


# --------------------------------------------------------------------------------------------
# workers x threads


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


def test_cache_session_shares_only_its_own_entries(tmp_path):
    """A --force run's shared cache (session set) returns only the entries of its own session;
    a cache without a session reads any valid entry."""
    key = {"run": "x", "a": 1}
    PointCache(tmp_path, session="s1").put(key, {"v": 1.0})
    assert PointCache(tmp_path, session="s1").get(key)["v"] == 1.0
    assert PointCache(tmp_path, session="s2").get(key) is None
    assert PointCache(tmp_path).get(key)["v"] == 1.0


def test_shared_cache_is_a_sibling_without_salt(tmp_path):
    fig = PointCache(tmp_path / "figA", salt="abc")
    sh = fig.shared()
    assert sh.root == tmp_path / PointCache.SHARED and sh.salt == "" and sh.enabled and sh.session is None
    forced = PointCache(tmp_path / "figB", enabled=False, salt="abc", session="tok").shared()
    assert forced.enabled and forced.session == "tok"  # a forced run reads its own session's runs
    assert not PointCache(None).shared().enabled


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


# --------------------------------------------------------------------------------------------
# figures._io.save


def _fig():
    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [0, 1, 4])
    return fig


def test_save_writes_all_outputs(tmp_path):
    table = {"M": np.array([2, 4, 8]), "value": [0.5, 0.25, 0.125], "label": np.array(["a", "b", "c"])}
    meta = {"figure": "demo", "seed": 7, "spec": {"Ms": (2, 4, 8)}, "arr": np.arange(3), "x": np.float64(1.5)}
    files = save(_fig(), table, meta, tmp_path / "out", "demo")
    names = [f.name for f in files]
    assert names == ["demo.png", "demo.pdf", "demo.csv", "demo.json"]
    for f in files:
        assert f.exists() and f.stat().st_size > 0
    assert files[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert files[1].read_bytes()[:5] == b"%PDF-"

    with open(files[2], newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["M", "value", "label"]
    assert len(rows) == 4 and all(len(r) == 3 for r in rows[1:])
    assert [int(r[0]) for r in rows[1:]] == [2, 4, 8]
    assert [float(r[1]) for r in rows[1:]] == [0.5, 0.25, 0.125]
    assert [r[2] for r in rows[1:]] == ["a", "b", "c"]

    js = json.loads(files[3].read_text())
    assert js["figure"] == "demo" and js["seed"] == 7
    assert js["spec"] == {"Ms": [2, 4, 8]}
    assert js["arr"] == [0, 1, 2] and js["x"] == 1.5
    assert js["csv_columns"] == ["M", "value", "label"]
    prov = js["provenance"]
    for k in ("numpy", "numba", "scipy", "sympy", "matplotlib", "python", "git_revision", "bnreg", "created"):
        assert k in prov, k
    assert prov["numpy"] == np.__version__
    import numba

    assert prov["numba"] == numba.__version__
    assert isinstance(prov["git_revision"], str) and prov["git_revision"]


def test_save_float_precision_round_trips(tmp_path):
    vals = np.array([1 / 3, np.pi, 1e-300])
    files = save(_fig(), {"v": vals}, {}, tmp_path, "prec")
    with open(files[2], newline="") as fh:
        rows = list(csv.reader(fh))
    assert [float(r[0]) for r in rows[1:]] == vals.tolist()


def test_save_unequal_columns_raise(tmp_path):
    with pytest.raises(RuntimeError, match="differ in length"):  # a figure module's bug, not bad input
        save(_fig(), {"a": [1, 2, 3], "b": [1, 2]}, {}, tmp_path, "bad")

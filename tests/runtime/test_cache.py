"""The point cache: round trips, validation of what it loads (corrupt, truncated, foreign, pickled),
records as keys, sessions and the shared cache (bnreg/runtime/cache.py)."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from bnreg.params import ParameterError  # noqa: E402
from bnreg.runtime import PointCache, cache_key, sweep  # noqa: E402


def square_record_point(*, x: int, scale: float = 1.0) -> dict[str, float]:
    """The record form: called as point(**record)."""
    return {"x": float(x), "sq": scale * x * x}


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


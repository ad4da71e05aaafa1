"""Property-based tests (hypothesis) of the simulation invariants: a training-mode BN output has
zero mean and unit variance in every batch (up to eps), every dropout kind's mask has mean 1 (the
mean is preserved: an exact statement about the mask law, checked as a z-test on a large mask),
and a seed gives the same Monte Carlo numbers on 1 and 2 threads and on the serial and process
backends."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from bnreg.runtime import PointCache, sweep
from bnreg.sims.bn_noise import simulate_batch_stats
from bnreg.sims.kernels.batchnorm import bn_forward
from bnreg.sims.nn.dropout import DROPOUTS, Dropout

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(n=st.integers(2, 64), c=st.integers(1, 6), loc=st.floats(-1e3, 1e3), scale=st.floats(1e-2, 1e3),
       seed=st.integers(0, 2**32 - 1))
def test_bn_output_is_standardized_per_batch(n, c, loc, scale, seed):
    x = np.random.default_rng(seed).standard_normal((n, c)) * scale + loc
    y, xhat = np.empty_like(x), np.empty_like(x)
    mean, inv_std = np.empty(c), np.empty(c)
    eps = 1e-12
    bn_forward(x, np.ones(c), np.zeros(c), eps, True, True, y, xhat, mean, inv_std)
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-9)
    var = x.var(axis=0)
    # unit variance up to the eps in the denominator: var/(var + eps)
    np.testing.assert_allclose(y.var(axis=0), var / (var + eps), rtol=1e-9)


@SETTINGS
@given(kind=st.sampled_from([k for k in DROPOUTS if k != "none"]), p=st.floats(0.05, 0.9),
       seed=st.integers(0, 2**32 - 1))
def test_every_dropout_mask_has_mean_one(kind, p, seed):
    d = Dropout(kind, p, np.random.default_rng(seed))
    m = d.mask((200_000,), np.dtype(np.float32)).astype(float)
    var = p / (1 - p)  # Var[m] = p/(1-p) for every kind (docs/cnn_library.md)
    z = (m.mean() - 1.0) / np.sqrt(var / m.size)
    # two-sided false-alarm 1e-6 per example, so 25 examples x 3 kinds stay far below 1e-4 overall
    assert abs(z) < stats.norm.ppf(1 - 0.5e-6), (kind, p, m.mean())
    assert abs(m.var() / var - 1) < 0.05


@pytest.mark.mc
@SETTINGS
@given(M=st.integers(2, 40), seed=st.integers(0, 2**32 - 1), family=st.sampled_from(["gaussian", "relu", "laplace"]))
def test_mc_is_thread_invariant(M, seed, family):
    a = simulate_batch_stats(family, M, 4096, seed=seed, n_chunks=16, threads=1)
    b = simulate_batch_stats(family, M, 4096, seed=seed, n_chunks=16, threads=2)
    np.testing.assert_array_equal(a.chunk_sums, b.chunk_sums)


def _point(*, M: int, seed: int) -> dict:
    r = simulate_batch_stats("gaussian", M, 2048, seed=seed, n_chunks=8)
    return {"err": r.simple_error().estimate, "sums": r.chunk_sums}


@pytest.mark.processes
def test_backends_give_the_same_numbers(tmp_path):
    records = [{"M": M, "seed": 100 + M} for M in (2, 5, 17)]
    serial = sweep(_point, records, progress=False)
    procs = sweep(_point, records, cache=PointCache(tmp_path), name="p", workers=2, threads=1, progress=False)
    for a, b in zip(serial, procs, strict=True):
        np.testing.assert_array_equal(a["sums"], b["sums"])
        assert float(a["err"]) == float(b["err"])

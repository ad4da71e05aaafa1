"""The Monte Carlo engine: reproducibility whatever the thread count, jackknife errors,
samplers that match the theory's families, clear errors on bad input."""

from __future__ import annotations

import numba as nb
import numpy as np
import pytest

from bnreg.params import ParameterError
from bnreg.runtime import jackknife
from bnreg.sims.bn_noise import simulate_batch_stats, simulate_bn_deviation
from bnreg.sims.families import FAMILY_SAMPLERS, custom_family, get_family
from bnreg.sims.kernels.bn_noise import N_ACC, batch_stats_kernel
from bnreg.theory.distributions import family_moments


def test_bit_identical_across_thread_counts():
    a = simulate_batch_stats("laplace", 16, 4096, seed=7, threads=1)
    b = simulate_batch_stats("laplace", 16, 4096, seed=7, threads=2)
    assert np.array_equal(a.chunk_sums, b.chunk_sums)
    d1 = simulate_bn_deviation("gaussian", 8, (0.0, 1.0), 4096, seed=3, threads=1)
    d2 = simulate_bn_deviation("gaussian", 8, (0.0, 1.0), 4096, seed=3, threads=2)
    assert [m.estimate for m in d1.ms] == [m.estimate for m in d2.ms]


def test_different_seeds_give_different_streams():
    a = simulate_batch_stats("gaussian", 8, 1024, seed=1)
    b = simulate_batch_stats("gaussian", 8, 1024, seed=2)
    assert not np.array_equal(a.chunk_sums, b.chunk_sums)


def test_jackknife_of_a_mean_is_the_batch_means_error():
    rng = np.random.default_rng(0)
    sums = np.column_stack([rng.normal(size=50), np.full(50, 10.0)])  # (sum of values, count)
    r = jackknife(lambda t: t[0] / t[1], sums, 500)
    means = sums[:, 0] / 10
    assert r.estimate == pytest.approx(means.mean())
    assert r.se == pytest.approx(means.std(ddof=1) / np.sqrt(50), rel=1e-10)
    assert (r.n, r.n_chunks) == (500, 50)


@pytest.mark.parametrize("family", list(FAMILY_SAMPLERS))
def test_sampler_constants_match_theory(family):
    fam, fm = FAMILY_SAMPLERS[family], family_moments(family)
    assert fam.mean == pytest.approx(fm.mean, rel=1e-14, abs=1e-15)
    assert fam.std == pytest.approx(fm.std, rel=1e-14)


@nb.njit
def _draw_t5(rng):  # Student t with 5 degrees of freedom: mean 0, variance 5/3
    return rng.standard_t(5.0)


def test_custom_family_runs_and_validates():
    fam = custom_family("t5", _draw_t5, 0.0, (5 / 3) ** 0.5)
    r = simulate_batch_stats(fam, 16, 2048, seed=0)
    # Var(mu_B) = sigma^2/M exactly for any input; 6 SE leaves a false alarm < 1e-8.
    assert abs(r.var_mu().estimate - 1 / 16) < 6 * r.var_mu().se
    with pytest.raises(ParameterError):
        custom_family("bad", lambda rng: 0.0, 0.0, 1.0)
    with pytest.raises(ParameterError):
        custom_family("bad", _draw_t5, 0.0, 0.0)


@pytest.mark.parametrize("kw", [
    {"M": 1}, {"M": 2.5}, {"family": "cauchy"}, {"sigma": 0.0}, {"n_batches": 10},
    {"hist_bins": 10}, {"n_chunks": 1}, {"mu": float("inf")}])
def test_bad_input_raises_parameter_error(kw):
    with pytest.raises(ParameterError):
        simulate_batch_stats(**{"M": 8, "n_batches": 4096, **kw})


def test_bad_u_grid():
    with pytest.raises(ParameterError):
        simulate_bn_deviation("gaussian", 8, (0.0, float("nan")), 4096)


def test_relu_all_equal_batches_do_not_produce_nan():
    # M = 2 ReLU batches are all-zero with probability 1/4: BN returns 0 there, never NaN.
    r = simulate_batch_stats("relu", 2, 4096, seed=0)
    assert np.isfinite(r.simple_error().estimate)


@pytest.mark.processes
def test_kernels_are_compiled_once_across_processes(tmp_path):
    """The Monte Carlo kernels hit numba's disk cache in a new process: a second run adds no
    compiled entry.  (A sampler passed as a function argument made every process recompile and
    grow the cache index; built-in families are now drawn by code, custom ones in memory.)"""
    import os
    import subprocess
    import sys

    code = ("import numba as nb\n"
            "from bnreg.sims.bn_noise import simulate_batch_stats\n"
            "from bnreg.sims.families import custom_family\n"
            "from bnreg.sims.gamma_decay import simulate_glm_bn\n"
            "@nb.njit\n"
            "def d(rng): return rng.standard_normal()\n"
            "for f in ('gaussian', 'relu', custom_family('mine', d, 0.0, 1.0)):\n"
            "    simulate_batch_stats(f, 4, 512, seed=1, n_chunks=4)\n"
            "    simulate_glm_bn('logistic', 4, [1.0], 1.0, 0.0, f, 512, 1, n_chunks=4)\n")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    counts = []
    for _ in range(2):
        r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        counts.append(sum(1 for _ in tmp_path.rglob("*.nbc")))
    assert counts[0] > 0 and counts[1] == counts[0], counts


@pytest.mark.parametrize("family", ["gaussian", "uniform", "laplace", "exponential", "relu"])
@pytest.mark.parametrize("M, n_batches", [(32, 37), (5, 300), (600, 3)])
def test_batch_stats_kernel_matches_numpy_on_the_same_draws(family, M, n_batches):
    """The grouped kernel (several batches per pass, a remainder group) against a plain numpy
    computation of q = (mu_B, sigma_B, mean (b - a)^2, x_1) from the very same raw draws (numba's
    Generator reproduces numpy's streams): the grouping changes nothing but rounding."""
    fam = get_family(family)
    mu, sigma = 1.5, 0.7
    out = np.zeros(N_ACC)
    batch_stats_kernel(np.random.default_rng(11), fam.code, fam.mean, fam.std, mu, sigma, M, n_batches,
                       0.0, 1.0, np.zeros(0), out)
    ref_rng = np.random.default_rng(11)
    raw = np.array([fam.draw(ref_rng) for _ in range(M * n_batches)]).reshape(n_batches, M)
    x = mu + sigma * (raw - fam.mean) / fam.std
    m, sd = x.mean(1), x.std(1)
    inv_sd = np.divide(1.0, sd, out=np.zeros_like(sd), where=sd > 0)
    err = (((x - m[:, None]) * inv_sd[:, None] - (x - mu) / sigma) ** 2).mean(1)
    q = np.stack([m, sd, err, x[:, 0]], axis=1)
    ref = np.concatenate([q.sum(0), (q.T @ q).ravel()])
    np.testing.assert_allclose(out, ref, rtol=1e-11, atol=1e-11 * n_batches)


def test_an_interrupted_run_stops_its_running_chunks():
    """An exception in the calling thread (Ctrl-C, or here a failing chunk) stops the chunks that
    loop over blocks at their next block (`stop_requested`), so it reaches the caller at once."""
    import time

    from bnreg.runtime import run_chunks, stop_requested

    def chunk(i, rng):
        if i == 0:
            time.sleep(0.2)
            raise KeyError("chunk 0 failed")
        t0 = time.monotonic()
        while not stop_requested() and time.monotonic() - t0 < 20:  # a long chunk, block by block
            time.sleep(0.01)
        return np.zeros(1)

    t0 = time.monotonic()
    with pytest.raises(KeyError, match="chunk 0"):
        run_chunks(chunk, 8, seed=0, threads=2)
    assert time.monotonic() - t0 < 5  # without the stop, the other chunks would run for 20 s each
    assert not stop_requested()  # outside a chunk: no stop

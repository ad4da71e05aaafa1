"""Variance shift, simulations: one unit and the random stack against the theory, the figures at the
quick scale (sims/variance_shift.py, docs/variance_shift.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bnreg.params import ParameterError
from bnreg.sims.variance_shift import simulate_stack_shift, simulate_variance_shift, weights_with_cos2
from bnreg.theory import variance_shift as VS

# ------------------------------------------------------------------------------ twins
GRID = [(k, c, v, d, r, k2) for k in (0.1, 0.5, 0.99) for c in (-1.0, 0.0, 2.0) for v in (0.3, 1.0)
        for d, r, k2 in ((1, 0.0, 1.0), (1, 0.7, 1.0), (8, 0.3, 0.5), (64, -0.01, 1.0), (3, -0.5, 0.2))]


# ------------------------------------------------------------------------------ Monte Carlo
@pytest.mark.parametrize("d,cos2", [(1, 1.0), (2, 0.3), (7, 0.01), (16, 1.0)])
def test_weights_have_the_requested_direction(d, cos2):
    w = weights_with_cos2(d, cos2)
    assert np.linalg.norm(w) == pytest.approx(1.0, rel=1e-14)
    assert w.sum() ** 2 / d == pytest.approx(cos2, rel=1e-12)


def test_mc_is_thread_invariant_and_refuses_bad_input():
    kw = dict(noise="bernoulli", keep=0.5, c=1.0, v=1.0, d=4, corr=0.3, cos2=0.5, n_samples=20000, seed=3)
    a = simulate_variance_shift(**kw, threads=1)
    b = simulate_variance_shift(**kw, threads=2)
    assert a == b
    with pytest.raises(ParameterError, match="corr"):
        simulate_variance_shift("bernoulli", keep=0.5, d=4, corr=-0.1)
    with pytest.raises(ParameterError, match="beta"):
        simulate_variance_shift("uout", keep=0.5)


def test_mc_detects_a_wrong_formula():
    """Power of the MC at a modest size: the no-c and the no-correlation variants are far outside."""
    r = simulate_variance_shift("bernoulli", keep=0.5, c=1.0, v=1.0, d=16, corr=0.3, cos2=1.0,
                                n_samples=100_000, seed=5).ratio
    right = VS.variance_shift_ratio(0.5, 1.0, 1.0, 16, 0.3, 1.0)
    z = 3.29  # two-sided false-alarm 1e-3
    assert abs(r.estimate - right) <= z * r.se
    for wrong in (VS.variance_shift_ratio(0.5, 0.0, 1.0, 16, 0.3, 1.0), VS.variance_shift_ratio(0.5, 1.0, 1.0)):
        assert abs(r.estimate - wrong) > z * r.se


@pytest.mark.mc
def test_random_stack_first_layer_is_exact_and_depth_compounds():
    """Layer 1 of the random stack needs no mean-field assumption: its variance ratio is Delta
    (independent Gaussian data, so case a applies unit by unit) within z * SE over 6 networks,
    z = t_{0.995, 5} = 4.03 (two-sided false-alarm 1e-2, Student t with n_nets - 1 df); the
    c-ignored variant is rejected by the same test.  Deeper layers shift more."""
    from scipy import stats

    r = simulate_stack_shift(depth=3, width=128, keep=0.5, c=0.5, n_train=8192, n_test=8192, n_nets=6, seed=1)
    z = float(stats.t.ppf(0.995, 5))
    want = VS.variance_shift_ratio(0.5, 0.5, 1.0)
    assert abs(r.var_ratio[0].estimate - want) <= z * r.var_ratio[0].se
    wrong = VS.variance_shift_ratio(0.5, 0.0, 1.0)  # c ignored
    assert abs(r.var_ratio[0].estimate - wrong) > z * r.var_ratio[0].se
    est = [x.estimate for x in r.var_ratio]
    assert est[0] > est[1] > est[2]


@pytest.mark.figures
@pytest.mark.parametrize("name", ["variance_shift_ratio"])  # variance_shift_layers/_fixes: test_variance_shift_nets
def test_figures_quick(tmp_path, name):
    import csv

    from bnreg.figures.run import make_figure

    r = make_figure(name, "quick", tmp_path, progress=False)
    assert r["status"] == "written"
    rows = list(csv.DictReader(open(tmp_path / f"{name}.csv")))
    assert rows
    for row in rows:
        for k, x in row.items():
            try:
                val = float(x)
            except ValueError:
                continue
            assert math.isfinite(val), (k, row)


def test_random_stack_does_not_depend_on_blas_threads():
    """The float32 GEMMs of the random stack would round differently on 1 and 2 OpenBLAS threads;
    simulate_stack_shift pins BLAS to one thread, so the caller's thread count changes nothing."""
    from threadpoolctl import threadpool_limits

    res = []
    for t in (1, 2):
        with threadpool_limits(t, user_api="blas"):
            r = simulate_stack_shift(depth=3, width=512, keep=0.5, M=128, n_train=1024, n_test=2048, n_nets=2, seed=1)
        res.append([x.estimate for x in r.var_ratio] + [x.estimate for x in r.mean_shift2])
    assert res[0] == res[1]


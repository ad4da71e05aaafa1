"""Property-based tests (hypothesis) of invariants the formulas must keep at every legal input
(issue 14): shift ratios in [0, 1] and monotone, G positive and decreasing in lam, exact BN
quantities positive and monotone in M, the ridge optimum at lam = delta2."""

from __future__ import annotations

import math

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bnreg.theory.catalog import evaluate

SET = settings(max_examples=60, deadline=None)
pos = st.floats(min_value=1e-300, max_value=1e300, allow_nan=False, allow_infinity=False)
moderate = st.floats(min_value=1e-6, max_value=1e6)
keep = st.floats(min_value=1e-300, max_value=1.0, exclude_min=False)
Ms = st.integers(min_value=2, max_value=10**15)


@SET
@given(keep, keep, st.floats(min_value=-1e300, max_value=1e300), pos, st.integers(1, 10**12),
       st.floats(min_value=0.0, max_value=1.0), st.sampled_from(["bernoulli", "gaussian"]))
def test_variance_shift_ratio_in_unit_interval_and_increasing_in_keep(k1, k2, c, v, d, u, noise):
    lo = -1.0 if d == 1 else -1.0 / (d - 1)
    corr = lo + (1.0 - lo) * u
    k1, k2 = min(k1, k2), max(k1, k2)
    r1 = evaluate("variance_shift_ratio", keep=k1, c=c, v=v, d=d, corr=corr, noise=noise)
    r2 = evaluate("variance_shift_ratio", keep=k2, c=c, v=v, d=d, corr=corr, noise=noise)
    assert 0.0 <= r1 <= r2 <= 1.0
    if k2 == 1.0:
        assert r2 == 1.0  # no dropout, no shift


@SET
@given(moderate, moderate, st.floats(min_value=-1e3, max_value=1e3), st.floats(min_value=1e-3, max_value=1e3))
def test_variance_shift_ratio_positive_off_the_psd_boundary(k, _, c, v):
    r = evaluate("variance_shift_ratio", keep=min(k, 1.0), c=c, v=v)
    assert 0.0 < r <= 1.0


@SET
@given(st.floats(min_value=0.0, max_value=1e150), st.floats(min_value=0.0, max_value=1e150),
       st.floats(min_value=-1e300, max_value=1e300), pos)
def test_uout_shift_ratio_in_unit_interval_and_decreasing_in_beta(b1, b2, c, v):
    b1, b2 = min(b1, b2), max(b1, b2)
    r1, r2 = (evaluate("uout_shift_ratio", beta=b, c=c, v=v) for b in (b1, b2))
    assert 0.0 <= r2 <= r1 <= 1.0


@SET
@given(pos, pos, pos)
def test_mp_stieltjes_positive_decreasing_and_bounded(a, l1, l2):
    l1, l2 = min(l1, l2), max(l1, l2)
    g1, g2 = evaluate("mp_stieltjes", alpha=a, lam=l1), evaluate("mp_stieltjes", alpha=a, lam=l2)
    assert g1 >= g2 > 0.0
    # 1/(alpha + lam) <= G = E[1/(s + lam)] <= 1/lam (Jensen; s >= 0 with mean alpha)
    assert g2 <= (1 / l2) * (1 + 1e-15)
    assert g2 >= 1 / (a + l2) * (1 - 1e-15)


@SET
@given(Ms, Ms)
def test_simple_error_exact_positive_and_decreasing_in_M(m1, m2):
    m1, m2 = min(m1, m2), max(m1, m2)
    assume(m2 >= m1 * (1 + 1e-9))  # distinct doubles for 1.5/M with room above the rounding
    e1, e2 = (evaluate("simple_error", M=m, exact=True) for m in (m1, m2))
    assert e1 > e2 > 0.0
    k1, k2 = (evaluate("bn_shrinkage", M=m) for m in (m1, m2))
    assert 0.0 < k1 < k2 < 1.0
    v = evaluate("batch_std_var", M=m1, exact=True)
    assert 0.0 < v < 0.5 / m1 * 1.5  # Var(sigma_B) ~ 1/(2M), below sigma^2 (M-1)/M


@SET
@given(st.floats(min_value=1e-3, max_value=1e3), st.floats(min_value=1e-4, max_value=1e2),
       st.floats(min_value=1e-4, max_value=1e4))
def test_ridge_error_minimal_at_lam_equal_delta2(a, d, l):
    best = evaluate("gen_error_ridge", alpha=a, lam=d, delta2=d)
    assert best <= evaluate("gen_error_ridge", alpha=a, lam=l, delta2=d) * (1 + 1e-12)


@SET
@given(st.floats(min_value=1e-3, max_value=1e3), st.floats(min_value=0.0, max_value=1e3))
def test_ridge_error_tends_to_the_pseudo_inverse_error(a, d):
    assume(abs(a - 1) > 1e-3)
    lim = evaluate("gen_error_sgd", alpha=a, delta2=d)
    assert math.isclose(evaluate("gen_error_ridge", alpha=a, lam=1e-300, delta2=d), lim, rel_tol=1e-12)


@SET
@given(pos, st.floats(min_value=0.0, max_value=1e300))
def test_mp_density_nonnegative(a, x):
    assert evaluate("mp_density", alpha=a, x=x) >= 0.0


# ------------------------------------------------------------------ training practice
decay = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)
updates = st.integers(0, 10**7)


@SET
@given(decay, updates, st.booleans(), st.integers(2, 10**15), st.floats(min_value=1e-100, max_value=1e75),
       st.floats(min_value=-2.0, max_value=1e6), st.floats(min_value=-1e100, max_value=1e100))
def test_running_statistics_bias_and_variance_finite_and_bounded(d, t, warm, M, sigma, rho, s0):
    """Var >= 0 and at most the variance of one batch statistic (sum w_k^2 <= (sum w_k)^2 <= 1);
    |bias| <= |s0 - target| (Pi_t in [0, 1]); all finite."""
    kw = {"d": d, "t": t, "warmup": warm}
    vm = evaluate("running_mean_var", M=M, sigma=sigma, **kw)
    vv = evaluate("running_var_var", M=M, sigma=sigma, rho=rho, **kw)
    assert 0.0 <= vm <= sigma * sigma / M * (1 + 1e-14)
    # the bound itself cancels when rho -> -2 (2/(M-1) + rho/M ~ 2/M^2): slack of a few ulp of its terms
    terms = sigma**4 * (2 / (M - 1) + abs(rho) / M)
    assert 0.0 <= vv <= sigma**4 * (2 / (M - 1) + rho / M) + 1e-14 * terms
    bm = evaluate("running_mean_bias", s0=s0, mu=1.0, **kw)
    bv = evaluate("running_var_bias", s0=s0, sigma=sigma, **kw)
    assert math.isfinite(bm) and abs(bm) <= abs(s0 - 1.0) * (1 + 1e-14)
    assert math.isfinite(bv) and abs(bv) <= abs(s0 - sigma * sigma) * (1 + 1e-14)


@SET
@given(st.floats(min_value=0.0, max_value=1e100), st.floats(min_value=-1e100, max_value=1e100),
       st.floats(min_value=-1e100, max_value=1e100), st.floats(min_value=1e-300, max_value=1e100))
def test_lasso_zero_prob_in_unit_interval_and_decreasing_in_w_star(lam, w1, w2, sigma):
    """P(|w* + sigma u| <= lam) is in [0, 1] and decreases in |w*| (Anderson: a symmetric unimodal law
    puts the most mass on the centred interval); the risk lies in [0, min(w*^2, lam^2) + sigma^2]."""
    w1, w2 = sorted((w1, w2), key=abs)
    p1, p2 = (evaluate("lasso_zero_prob", lam=lam, w_star=w, sigma=sigma) for w in (w1, w2))
    assert 0.0 <= p2 <= p1 * (1 + 1e-14) and p1 <= 1.0
    r = evaluate("lasso_orthonormal_risk", lam=lam, w_star=w1, sigma=sigma)
    assert 0.0 <= r <= (min(w1 * w1, lam * lam) + sigma * sigma) * (1 + 1e-14)

"""SymPy proofs: the moment engine against brute force, the derivations against known results
and against their numeric twins (simplify(difference) == 0), series to the stated order."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import sympy as sp
from scipy import integrate, stats

from bnreg.theory import bn_noise as B
from bnreg.theory.distributions import FAMILIES, derive_raw_moments, family_moments, raw_moment
from bnreg.theory.sample_moments import expect_power_sums, moment_symbols, power_sum_moment

S = B.SYMBOLS
M, rho, g, m5, m6, u, sigma, gam = (S[k] for k in "M rho g m5 m6 u sigma gamma".split())


def _brute(p: int, q: int, n: int, mom: dict) -> sp.Expr:
    """E[S1^p S2^q] for n i.i.d. variables by full expansion: every monomial prod x_i^k_i -> prod m_k_i."""
    xs = sp.symbols(f"x0:{n}")
    poly = sp.Poly(sp.expand(sum(xs) ** p * sum(x**2 for x in xs) ** q), *xs)
    return sp.expand(sum(c * sp.prod([mom[k] for k in exps]) for exps, c in poly.terms()))


@pytest.mark.parametrize("p,q,n", [(1, 1, 2), (2, 1, 3), (4, 0, 3), (2, 2, 2), (3, 2, 3), (0, 3, 2)])
def test_power_sum_moment_matches_brute_force(p, q, n):
    mom = moment_symbols(p + 2 * q, standardized=False)
    assert sp.expand(power_sum_moment(p, q, n, mom) - _brute(p, q, n, mom)) == 0


def test_power_sum_moment_symbolic_n_agrees_with_integer_n():
    mom = moment_symbols(8)
    n = sp.Symbol("n")
    general = power_sum_moment(2, 3, n, mom)
    for k in (2, 3, 5):
        assert sp.expand(general.subs(n, k) - power_sum_moment(2, 3, k, mom)) == 0


def test_sample_variance_moments_match_kendall_stuart():
    # Var(m2) = (mu4 - mu2^2)/M - 2(mu4 - 2 mu2^2)/M^2 + (mu4 - 3 mu2^2)/M^3 (Kendall & Stuart 12.12)
    mu4 = (rho + 3) * sigma**4
    mu2 = sigma**2
    ks = (mu4 - mu2**2) / M - 2 * (mu4 - 2 * mu2**2) / M**2 + (mu4 - 3 * mu2**2) / M**3
    d = B.derive_batch_variance_moments()
    assert sp.simplify(d["var"] - ks) == 0
    assert sp.simplify(d["mean"] - sigma**2 * (M - 1) / M) == 0


def test_batch_mean_law_exact():
    d = B.derive_batch_mean_law()
    assert sp.simplify(d["mean"] - S["mu"]) == 0
    assert sp.simplify(d["var"] - sigma**2 / M) == 0
    for Mv, sv in ((2, 1.0), (7, 3.5), (10**9, 1e-3)):  # the numeric twin of Var(mu_B)
        assert B.batch_mean_var(Mv, sv) == pytest.approx(float(d["var"].subs({M: Mv, sigma: sv})), rel=1e-15)


def test_batch_std_first_order_laws():
    d = B.derive_batch_std_series(1)
    assert sp.simplify(d["mean"] - sigma * (1 - (rho + 6) / (8 * M))) == 0
    assert sp.simplify(d["var"] - sigma**2 * (rho + 2) / (4 * M)) == 0


def test_gaussian_series_equals_general_series_at_gaussian_moments():
    general = B.derive_batch_std_series(2)["mean"].subs({sigma: 1, g: 0, rho: 0, m6: 15})
    stirling = B.derive_gamma_ratio_series(2)
    assert sp.expand(general - stirling) == 0
    assert sp.expand(stirling - (1 - sp.Rational(3, 4) / M - sp.Rational(7, 32) / M**2)) == 0


def test_gamma_ratio_series_approximates_exact_to_stated_order():
    ser = sp.lambdify(M, B.derive_gamma_ratio_series(3))
    for Mv in (50, 200, 1000):
        exact = B.batch_std_mean(Mv, exact=True)
        # the truncation error of the 3-term series is O(M^-4)
        assert abs(exact - ser(Mv)) < 1.0 / Mv**4


@pytest.mark.derivation
def test_std_series_is_stable_under_a_longer_taylor_expansion():
    """Series to O(1/M^2) must not change when the Taylor degree in e goes from 4 to 6."""
    x = sp.Symbol("x")
    eps = sp.Symbol("eps", positive=True)
    mom = moment_symbols(12)
    S1, S2 = sp.symbols("S1 S2")
    e = S2 / M - S1**2 / M**2 - 1
    out = []
    for deg in (4, 6):
        coeffs = sp.series(sp.sqrt(1 + x), x, 0, deg + 1).removeO()
        val = sum(coeffs.coeff(x, k) * expect_power_sums(e**k, S1, S2, M, mom) for k in range(deg + 1))
        out.append(sp.series(sp.expand(val).subs(M, 1 / eps), eps, 0, 3).removeO())
    assert sp.expand(out[0] - out[1]) == 0


@pytest.mark.parametrize("n", [2, 3, 5])
def test_simple_error_identity(n):
    assert B.derive_simple_error_identity(n) == 0


def test_simple_error_series_and_seed_value():
    d = B.derive_simple_error(2)
    assert sp.expand(d["gaussian_series"] - (sp.Rational(3, 2) / M + sp.Rational(7, 16) / M**2)) == 0
    gauss = d["series"].subs({g: 0, rho: 0, m6: 15})
    assert sp.expand(gauss - d["gaussian_series"]) == 0
    # The write-up's number: 3/(2M) = 0.046875 at M = 32 is the asymptote; the exact value is larger.
    assert B.simple_error(32) == pytest.approx(0.046875, abs=0)
    assert B.simple_error(32, exact=True) > 0.046875


@pytest.mark.parametrize("Mv", [2, 3, 7, 32, 1000])
def test_simple_error_exact_numeric_matches_closed_form(Mv):
    closed = 2 - 2 * math.sqrt(2 / Mv) * math.exp(math.lgamma(Mv / 2) - math.lgamma((Mv - 1) / 2))
    assert B.simple_error(Mv, exact=True) == pytest.approx(closed, rel=1e-13)
    assert float(B.derive_simple_error(2)["gaussian_exact"].subs(M, Mv).evalf(30)) == pytest.approx(closed, rel=1e-12)


def test_numeric_twins_equal_their_derivations():
    st = B.derive_batch_std_series(2)
    assert sp.simplify(B.batch_std_mean(M, rho, sigma, 2, skew=g, m6=m6) - st["mean"]) == 0
    assert sp.simplify(B.batch_std_var(M, rho, sigma, 2, skew=g, m6=m6) - st["var"]) == 0
    assert sp.simplify(B.simple_error(M, rho=rho, order=2, skew=g, m6=m6) - B.derive_simple_error(2)["series"]) == 0
    cov = B.derive_sample_batch_covariance(2)
    assert sp.simplify(B.sample_std_corr(M, rho, g, 2, m5, m6) - cov["corr_std"]) == 0
    dev = B.derive_bn_deviation_ms(2)
    assert sp.simplify(B.bn_deviation_ms(M, rho, u, gam, g, 2, m5, m6) - dev) == 0
    first = sp.expand(sp.limit(dev * M, M, sp.oo))
    assert sp.expand(first - gam**2 * (1 + g * u + (rho + 2) * u**2 / 4)) == 0


def test_seed_formula_is_reproduced_and_differs_from_the_derivation():
    seed_printed = gam**2 * (u**2 * (rho + 2) / (4 * M) + (1 + 3 * (rho + 2) / (4 * M)) / M)
    seed = B.derive_bn_deviation_ms_seed()
    assert sp.simplify(seed - seed_printed) == 0
    dev = B.derive_bn_deviation_ms(2)
    # Order 1/M: the write-up misses the skewness term g u (a sample is part of its own batch).
    assert sp.expand(sp.limit(sp.expand((dev - seed) * M), M, sp.oo) - gam**2 * g * u) == 0
    # Order 1/M^2 for Gaussian input at u = 0: derived 3, seed 3/2.
    c2 = sp.limit(sp.expand((dev - sp.limit(dev * M, M, sp.oo) / M) * M**2), M, sp.oo)
    assert c2.subs({u: 0, g: 0, rho: 0, m5: 0, m6: 15, gam: 1}) == 3
    seed_c2 = sp.limit(sp.expand((seed - sp.limit(seed * M, M, sp.oo) / M) * M**2), M, sp.oo)
    assert seed_c2.subs({rho: 0, gam: 1}) == sp.Rational(3, 2)


def test_cov_sample_batch():
    d = B.derive_sample_batch_covariance(1)
    assert sp.expand(d["cov_std"] - sigma**2 * g / (2 * M)) == 0
    # sqrt(M (rho+2)) = sqrt(M) sqrt(rho+2) for M > 0, rho > -2
    assert sp.simplify(d["corr_std"] - g / (sp.sqrt(M) * sp.sqrt(rho + 2))) == 0
    for Mv in (2, 3, 64, 10**12):  # the numeric twin of the exact Corr(h_i, mu_B)
        assert B.sample_mean_corr(Mv) == pytest.approx(float(d["corr_mean"].subs(M, Mv)), rel=1e-15)


@pytest.mark.parametrize("family", FAMILIES)
def test_family_raw_moments_closed_form_equals_integration(family):
    derived = derive_raw_moments(family, 8)
    for k, val in enumerate(derived):
        assert float(val) == pytest.approx(raw_moment(family, k), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("family,dist", [
    ("gaussian", stats.norm()), ("uniform", stats.uniform()), ("laplace", stats.laplace()),
    ("exponential", stats.expon())])
def test_family_skew_and_kurtosis_match_scipy(family, dist):
    fm = family_moments(family)
    sk, ku = dist.stats(moments="sk")
    assert fm.skew == pytest.approx(float(sk), abs=1e-12)
    assert fm.rho == pytest.approx(float(ku), abs=1e-12)


def test_relu_moments_by_quadrature():
    fm = family_moments("relu")
    raw = [integrate.quad(lambda z, k=k: z**k * stats.norm.pdf(z), 0, np.inf)[0] for k in range(5)]
    mean = raw[1]
    var = raw[2] - mean**2
    central4 = raw[4] - 4 * raw[3] * mean + 6 * raw[2] * mean**2 - 3 * mean**4
    assert fm.mean == pytest.approx(mean, rel=1e-10)
    assert fm.rho == pytest.approx(central4 / var**2 - 3, rel=1e-9)


def test_numeric_functions_reject_bad_input():
    from bnreg.params import ParameterError

    for call in (lambda: B.simple_error(1), lambda: B.simple_error(2.5), lambda: B.batch_std_var(8, sigma=-1),
                 lambda: B.batch_std_var(8, rho=-3), lambda: B.simple_error(8, exact=True, rho=1.0),
                 lambda: B.batch_std_var(8, rho=1.0, order=2), lambda: B.bn_deviation_ms(8, u=float("nan")),
                 lambda: B.bn_deviation_ms(8, variant="other")):
        with pytest.raises(ParameterError):
            call()


def _example(p):
    """A valid value for a required parameter other than M."""
    if p.kind == "choice":
        return p.choices[0]
    if p.kind == "bool":
        return False
    lo, hi = p.lo, p.hi
    if lo is not None and hi is not None and hi - lo <= 10:
        return (lo + hi) / 2 if p.kind == "float" else int(lo)
    if lo is not None:
        return lo + 0.5 if p.kind == "float" else int(lo) + 1
    return (hi - 0.5 if hi is not None else 0.5) if p.kind == "float" else 1


def test_every_registered_formula_evaluates_at_defaults():
    from bnreg.theory.catalog import FORMULAS, evaluate

    for name, f in FORMULAS.items():
        names = {p.name for p in f.params}
        for Mv, fam in itertools.product((2, 64), (None, "laplace")):
            kw = {"M": max(Mv, int(f.param("M").lo or 2))} if "M" in names else {}  # M >= the formula's bound
            kw.update({p.name: _example(p) for p in f.params if p.required and p.name not in kw})
            if fam and "family" in names:
                kw["family"] = fam
            v = evaluate(name, **kw)
            # +inf is a legitimate value (e.g. the pseudo-inverse student at alpha = 1); NaN never is.
            assert not math.isnan(v) and v != -math.inf, (name, kw)

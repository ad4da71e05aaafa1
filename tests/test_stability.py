"""Every exact (closed-form) formula against mpmath at extreme but legal parameters (issue 14).

The references are written here from the mathematics, not from the library's code: Gamma-function
ratios with mpmath's loggamma at 80 digits, the Marchenko-Pastur G from the textbook closed form
[1 - alpha - lam + sqrt((lam + (1+sqrt a)^2)(lam + (1-sqrt a)^2))]/(2 lam) at 2000 digits (where
its cancellation is harmless) with G' from implicit differentiation, and, as a check of those
identities, the spectral integrals int rho(s) f(s) ds by mpmath quadrature.  Each formula goes
through `bnreg.theory.catalog.evaluate`, i.e. with its declared ranges.

`python tests/test_stability.py` prints the table of the closing note (max relative error per
formula over its extreme parameters).
"""

from __future__ import annotations

import itertools

import mpmath as mp
import pytest

from bnreg.theory.catalog import evaluate

M_EXTREME = [2, 3, 4, 19, 20, 21, 32, 64, 1000, 10**6, 10**9, 10**12, 10**15]
A_EXTREME = [1e-300, 1e-10, 0.5, 1 - 2**-40, 1.0, 1 + 2**-40, 2.0, 1e10, 1e300]
L_EXTREME = [1e-300, 1e-12, 1e-10, 0.25, 1.0, 1e10, 1e300]
D2_EXTREME = [0.0, 0.25, 1e10]
TOL = 2e-14  # relative; the worst case measured is below 1e-14 (see the table)


def _kappa(M, dps=80):
    with mp.workdps(dps):
        M = mp.mpf(M)
        return mp.sqrt(2 / M) * mp.exp(mp.loggamma(M / 2) - mp.loggamma((M - 1) / 2))


def _rms(M, dps=80):
    with mp.workdps(dps):
        M = mp.mpf(M)
        return mp.sqrt(2 / M) * mp.exp(mp.loggamma((M + 1) / 2) - mp.loggamma(M / 2))


def _G(a, l, dps=2000):
    """Textbook closed form at 2000 digits (its cancellation costs up to 900 digits at alpha = 1e300,
    lam = 1e-300; G ~ 1/lam at large lam)."""
    with mp.workdps(dps):
        a, l = mp.mpf(a), mp.mpf(l)
        sa = mp.sqrt(a)
        return (1 - a - l + mp.sqrt((l + (1 + sa) ** 2) * (l + (1 - sa) ** 2))) / (2 * l)


def _ridge(a, l, d, dps=2000):
    """eps = delta2 (G + lam G') - lam^2 G', G' = -(G^2 + G)/(2 lam G + lam + alpha - 1)."""
    with mp.workdps(dps):
        g = _G(a, l, dps)
        a, l, d = mp.mpf(a), mp.mpf(l), mp.mpf(d)
        dg = -(g * g + g) / (2 * l * g + l + a - 1)
        return d * (g + l * dg) - l * l * dg


def _mp_integral(f, a, dps=30):
    """int rho(s) f(s) ds over the continuous MP part (s = c + r cos t) + nothing for the atom."""
    with mp.workdps(dps):
        a = mp.mpf(a)
        lo, hi = (1 - mp.sqrt(a)) ** 2, (1 + mp.sqrt(a)) ** 2
        c, r = (lo + hi) / 2, (hi - lo) / 2
        return mp.quad(lambda t: f(c + r * mp.cos(t)) * r * r * mp.sin(t) ** 2 / (2 * mp.pi * (c + r * mp.cos(t))),
                       [0, mp.pi / 2, mp.pi])


def _shift(s2, c, v, d=1, corr=0.0, cos2=1.0):
    with mp.workdps(50):
        s2, c, v = mp.mpf(s2), mp.mpf(c), mp.mpf(v)
        A = 1 - mp.mpf(corr) + mp.mpf(corr) * d * mp.mpf(cos2)
        return v * A / (v * A + s2 * (v + c * c))


def cases():
    """(formula, params, mpmath reference) at extreme legal parameters."""
    for M in M_EXTREME:
        k = _kappa(M)
        yield "simple_error", {"M": M, "exact": True}, 2 - 2 * k
        yield "bn_shrinkage", {"M": M}, k
        yield "sample_mean_corr", {"M": M}, 1 / mp.sqrt(M)
        yield "optimal_gamma_ratio", {"case": "identity", "M": M, "variant": "exact"}, k
        yield "optimal_gamma_ratio", {"case": "no_bias", "M": M, "variant": "exact"}, _rms(M)
        for sigma in (1e-150, 1.0, 1e150):
            yield "batch_std_mean", {"M": M, "sigma": sigma, "exact": True}, mp.mpf(sigma) * k
            yield "batch_std_var", {"M": M, "sigma": sigma, "exact": True}, \
                mp.mpf(sigma) ** 2 * ((mp.mpf(M) - 1) / M - k * k)
            yield "batch_mean_var", {"M": M, "sigma": sigma}, mp.mpf(sigma) ** 2 / M
        for a, d in itertools.product((1e-300, 0.5, 1 - 2**-40, 1 + 2**-40, 2.0, 1e300), (0.0, 0.25)):
            a_, d_ = mp.mpf(a), mp.mpf(d)
            if a < 1:
                ref = 1 - a_ + a_ * (1 - k) ** 2 + d_ * a_ * k * k / (1 - a_)
            else:
                ref = (1 - k) ** 2 + d_ * k * k / (a_ - 1)
            yield "gen_error_bn_limit", {"alpha": a, "delta2": d, "M": M}, ref
    for a, l in itertools.product(A_EXTREME, L_EXTREME):
        yield "mp_stieltjes", {"alpha": a, "lam": l}, _G(a, l)
        for d in D2_EXTREME:
            yield "gen_error_ridge", {"alpha": a, "lam": l, "delta2": d}, _ridge(a, l, d)
            if 1e-300 <= a * l <= 1e300:  # zeta = lam: alpha zeta in range
                yield "gen_error_wn", {"alpha": a, "zeta": l, "delta2": d}, _ridge(a, mp.mpf(a) * mp.mpf(l), d)
    for a, d in itertools.product(A_EXTREME, D2_EXTREME):
        if a != 1.0:
            a_, d_ = mp.mpf(a), mp.mpf(d)
            yield "gen_error_sgd", {"alpha": a, "delta2": d}, (1 - a_ + a_ * d_ / (1 - a_)) if a < 1 \
                else d_ / (a_ - 1)
        for x in (1e-300, 0.01, 0.5, 1.0, 3.0, 1e300):
            with mp.workdps(60):
                lo, hi = (1 - mp.sqrt(a)) ** 2, (1 + mp.sqrt(a)) ** 2
                ref = mp.sqrt((x - lo) * (hi - x)) / (2 * mp.pi * x) if lo < x < hi else mp.mpf(0)
            yield "mp_density", {"alpha": a, "x": x}, ref
    for N, P in [(10**15, 1), (10**15, 10**15 - 2), (1, 10**15), (10**15 - 2, 10**15), (20, 10), (10, 20)]:
        for d in (0.0, 0.25, 1e10):
            N_, P_, d_ = mp.mpf(N), mp.mpf(P), mp.mpf(d)
            ref = (N_ - P_) / N_ + d_ * P_ / (N_ - P_ - 1) if P < N else d_ * N_ / (P_ - N_ - 1)
            yield "gen_error_sgd_exact", {"N": N, "P": P, "delta2": d}, ref
    for keep, c, v in itertools.product((5e-324, 1e-300, 0.5, 1 - 2**-52, 1.0), (0.0, 1e-300, 1.0, 1e300),
                                        (1e-300, 1.0, 1e300)):
        with mp.workdps(50):
            s2 = (1 - mp.mpf(keep)) / mp.mpf(keep)
        yield "variance_shift_ratio", {"keep": keep, "c": c, "v": v}, _shift(s2, c, v)
    for beta, c, v, d, corr in itertools.product((0.0, 1e-150, 1.0, 1e150), (0.0, 1e300), (5e-324, 1e300),
                                                 (1, 10**12), (0.0, 0.5)):
        if d == 1 and corr:
            continue
        with mp.workdps(50):
            s2 = mp.mpf(beta) ** 2 / 3
        yield "uout_shift_ratio", {"beta": beta, "c": c, "v": v, "d": d, "corr": corr}, \
            _shift(s2, c, v, d, corr)


def _rel(got: float, ref) -> float:
    ref = mp.mpf(ref)
    if abs(ref) < mp.mpf("2.2250738585072014e-308"):  # below the normal doubles: absolute
        return float(abs(mp.mpf(got) - ref)) / 2.2250738585072014e-308
    return float(abs((mp.mpf(got) - ref) / ref))


def table() -> dict[str, tuple[int, float, dict]]:
    """formula -> (cases, max relative error, where).  The references are formed at 100 digits."""
    out: dict[str, tuple[int, float, dict]] = {}
    with mp.workdps(100):
        for name, kw, ref in cases():
            err = _rel(evaluate(name, **kw), ref)
            n, worst, at = out.get(name, (0, -1.0, {}))
            out[name] = (n + 1, max(worst, err), kw if err > worst else at)
    return out


def test_exact_formulas_match_mpmath_at_extreme_parameters():
    bad = {n: (w, at) for n, (_, w, at) in table().items() if w > TOL}
    assert not bad, bad


@pytest.mark.parametrize("M", [20, 10**9, 10**15])
def test_simple_error_exact_positive_and_right_at_huge_M(M):
    """The reported case: 2 - 2 E[s] from a Gamma ratio was -2.19e-06 at M = 1e9."""
    v = evaluate("simple_error", M=M, exact=True)
    with mp.workdps(80):
        assert v > 0 and _rel(v, 2 - 2 * _kappa(M)) < TOL


@pytest.mark.parametrize("alpha, lam, expected", [(0.5, 1e-10, None), (0.5, 1e-12, None), (2.0, 1e-300, None)])
def test_ridge_near_lam_zero(alpha, lam, expected):
    """The reported case: gen_error_ridge alpha=0.5 lam=1e-10 printed 244 (right: about 0.75)."""
    v = evaluate("gen_error_ridge", alpha=alpha, lam=lam)
    with mp.workdps(100):
        assert _rel(v, _ridge(alpha, lam, 0.25)) < TOL
        assert _rel(evaluate("gen_error_wn", alpha=alpha, zeta=lam / alpha), _ridge(alpha, lam, 0.25)) < 1e-13


@pytest.mark.parametrize("a, l", [(0.5, 0.3), (2.0, 1e-3), (0.999, 0.01), (0.1, 2.0)])
def test_closed_forms_equal_spectral_integrals(a, l):
    """The references' identities, checked by quadrature: G = atom/lam + int rho/(s + lam) and
    eps = atom + int rho (lam^2 + delta2 s)/(s + lam)^2 (delta2 = 0.25)."""
    atom = max(0.0, 1 - a)
    with mp.workdps(30):
        g = atom / mp.mpf(l) + _mp_integral(lambda s: 1 / (s + l), a)
        e = atom + _mp_integral(lambda s: (l * l + mp.mpf("0.25") * s) / (s + l) ** 2, a)
        assert abs(g / _G(a, l) - 1) < 1e-15  # the quadrature's own accuracy
        assert abs(e / _ridge(a, l, 0.25) - 1) < 1e-15


def test_kappa_series_coefficients_are_the_stirling_ones():
    """The 12 coefficients c_j = 2 B_{2j+1}(1/4)/((2j+1) 2j) of the log-kappa series."""
    import sympy as sp

    from bnreg.theory import bn_noise as B

    want = [2 * sp.bernoulli(2 * j + 1, sp.Rational(1, 4)) / ((2 * j + 1) * 2 * j) for j in range(1, 13)]
    assert [float(w) for w in want] == list(B._KAPPA_COEFFS)


def test_log_kappa_table_is_correctly_rounded():
    from bnreg.theory import bn_noise as B

    with mp.workdps(50):
        assert [float(mp.log(_kappa(M, 50))) for M in range(2, 20)] == list(B._LOG_KAPPA_SMALL)


@pytest.mark.parametrize("M", [2, 19, 20, 21, 100, 10**15])
def test_log_kappa_against_mpmath(M):
    from bnreg.theory import bn_noise as B

    with mp.workdps(80):
        assert _rel(B.gaussian_log_kappa(M), mp.log(_kappa(M))) < 1e-15
        assert _rel(B.gaussian_std_deficit(M), 1 - _kappa(M)) < 1e-15


if __name__ == "__main__":  # pragma: no cover - the closing note's table
    for name, (n, worst, at) in table().items():
        print(f"{name:22s} {n:4d} cases  max rel err {worst:.2e}  at {at}")

"""Every exact (closed-form) formula against mpmath at extreme but legal parameters (issue 14).

The references are written here from the mathematics, not from the library's code: Gamma-function
ratios with mpmath's loggamma at 80 digits, the Marchenko-Pastur G from the textbook closed form
[1 - alpha - lam + sqrt((lam + (1+sqrt a)^2)(lam + (1-sqrt a)^2))]/(2 lam) at 2000 digits (where
its cancellation is harmless) with G' from implicit differentiation, and, as a check of those
identities, the spectral integrals int rho(s) f(s) ds by mpmath quadrature.  Each formula goes
through `bnreg.theory.catalog.evaluate`, i.e. with its declared ranges.

Training practice: the EMA's Pi_t and sum_k w_k^2 from their definitions (the variance recursion
V <- d_k^2 V + (1 - d_k)^2 through the warm-up, or, for a warm-up of more than 2000 updates, SymPy's
closed-form sum of the squared weights, then the geometric series at d), the warm-up's switch step
from exact rationals; the minibatch and SGD factors as written; the lasso risk and zero probability
from the textbook closed form in Phi and phi at 800 digits (its cancellation costs up to 510 of them).
init_forward_q and init_backward_r (linear, ReLU) from sigma_w2 q0 (sigma_w2 m)^(L-1).
relu_dead_fraction and the tanh/sigmoid moments of the init recursion are quadratures, checked
against mpmath quadrature in their own tests below.

`python tests/theory/test_stability.py` prints the table of the closing note (max relative error per
formula over its extreme parameters).
"""

from __future__ import annotations

import fractions
import functools
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


# ------------------------------------------------------------------ training practice
EMA_D = [0.0, 1e-300, 0.5, 0.9, 0.999999, 1 - 2**-53]
EMA_T = [0, 1, 9, 10, 1000, 10**7]


@functools.cache
def _warm_sum_poly():
    """sum_{k<K} ((k+2)...(k+9))^2 as a polynomial in K (SymPy's summation)."""
    import sympy as sp

    k, K = sp.symbols("k K", integer=True, nonnegative=True)
    return sp.Poly(sp.expand(sp.summation(sp.prod([k + i for i in range(2, 10)]) ** 2, (k, 0, K - 1))), K)


def _ema(d, t, warm, dps=60):
    """(Pi_t, sum_k w_k^2) from the definitions; the warm-up d_k = (1 + k)/(10 + k) runs while it is
    below d, i.e. for k < ceil((10 d - 1)/(1 - d)) in exact arithmetic."""
    with mp.workdps(dps):
        D = mp.mpf(d)
        K = 0
        if warm:
            q = fractions.Fraction(d)
            K = min(t, max(0, -((1 - 10 * q) // (1 - q))))
        if K <= 2000:
            V, Pi = mp.mpf(0), mp.mpf(1)
            for j in range(K):
                dk = mp.mpf(1 + j) / (10 + j)
                V = dk * dk * V + (1 - dk) ** 2
                Pi *= dk
        else:
            Q = mp.rf(K + 1, 9)
            V, Pi = 81 * mp.mpf(int(_warm_sum_poly().eval(K))) / Q**2, mp.factorial(9) / Q
        n = t - K
        return Pi * D**n, D ** (2 * n) * V + (1 - D) ** 2 * (1 - D ** (2 * n)) / (1 - D * D)


def _lasso(lam, w, sigma, dps=800):
    """(risk, P(w = 0)) from w*^2 (Phi(b) - Phi(a)) + sigma^2 (1 - Phi(b) + b phi(b)) - 2 sigma lam phi(b)
    + lam^2 (1 - Phi(b)) + sigma^2 (Phi(a) - a phi(a)) - 2 sigma lam phi(a) + lam^2 Phi(a)."""
    with mp.workdps(dps):
        l, w, s = mp.mpf(lam), mp.mpf(w), mp.mpf(sigma)
        a, b = (-l - w) / s, (l - w) / s
        cdf = lambda x: mp.ncdf(x) if abs(x) < 1e30 else mp.mpf(x > 0)  # noqa: E731
        pdf = lambda x: mp.npdf(x) if abs(x) < 1e30 else mp.mpf(0)  # noqa: E731
        Pa, Pb, pa, pb = cdf(a), cdf(b), pdf(a), pdf(b)
        risk = (w**2 * (Pb - Pa) + s**2 * (1 - Pb + b * pb) - 2 * s * l * pb + l**2 * (1 - Pb)
                + s**2 * (Pa - a * pa) - 2 * s * l * pa + l**2 * Pa)
        return risk, Pb - Pa


def training_practice_cases():
    """(formula, params, mpmath reference) of the exact training-practice formulas."""
    for d, t, warm in itertools.product(EMA_D, EMA_T, (False, True)):
        Pi, V = _ema(d, t, warm)
        base = {"d": d, "t": t, "warmup": warm}
        with mp.workdps(60):
            for s0, mu in ((0.0, 1.0), (1e100, -1e100), (1.0, 1.0 + 2**-52)):
                yield "running_mean_bias", {**base, "s0": s0, "mu": mu}, Pi * (mp.mpf(s0) - mp.mpf(mu))
            for M, sigma in ((2, 1.0), (10**15, 1e100), (3, 1e-150)):
                yield "running_mean_var", {**base, "M": M, "sigma": sigma}, mp.mpf(sigma) ** 2 / M * V
            for s0, sigma in ((1.0, 1.0), (1.0, 1.0 + 2**-52), (-1e100, 1e50), (2.0, 2**0.5)):
                yield "running_var_bias", {**base, "s0": s0, "sigma": sigma}, Pi * (mp.mpf(s0) - mp.mpf(sigma) ** 2)
            for M, sigma, rho in ((2, 1.0, 0.0), (10**15, 1.0, -2.0), (32, 1e75, 0.0), (4, 1e-75, -1.999),
                                  (10**6, 1e20, 1e100)):
                yield "running_var_var", {**base, "M": M, "sigma": sigma, "rho": rho}, \
                    mp.mpf(sigma) ** 4 * (2 / (mp.mpf(M) - 1) + mp.mpf(rho) / M) * V
    with mp.workdps(60):
        for M, N, s2, rep in ((1, None, 1e300, False), (10**15, None, 5e-324, False), (10**12, 10**12, 1.0, False),
                              (1, 10**12, 1e300, False), (10**12 - 1, 10**12, 1.0, False), (2, 3, 1.0, False),
                              (10**15, 10**12, 1e-300, True), (7, 2, 3.0, True)):
            f = mp.mpf(1) / M if rep or N is None else mp.mpf(N - M) / (mp.mpf(M) * (N - 1))
            kw = {"M": M, "sigma2": s2, "replace": rep, **({} if N is None else {"N": N})}
            yield "minibatch_mean_var", kw, mp.mpf(s2) * f
            sgd = {"lr": 0.01, "trace_sigma": s2, **{k: v for k, v in kw.items() if k != "sigma2"}}
            yield "sgd_excess_loss", sgd, mp.mpf("0.01") * f * mp.mpf(s2) / 4
        for lr, M, tr in ((5e-324, 10**15, 1e300), (1e100, 1, 1e200), (1e10, 10**6, 1e300), (1e-300, 1, 0.0)):
            yield "sgd_excess_loss", {"lr": lr, "M": M, "trace_sigma": tr}, mp.mpf(lr) * mp.mpf(tr) / (4 * M)
    for act, init, width, depth, q0 in (("relu", "xavier", 1, 1000, 1e100), ("linear", "small", 9999, 1000, 1.0),
                                        ("linear", "small", 20001, 1000, 5e-324), ("relu", "small", 20001, 1000, 1e100),
                                        ("relu", "standard", 3, 1000, 1e-100), ("relu", "he", 10**9, 1000, 5e-324),
                                        ("relu", "small", 10**9, 60, 1e-300), ("linear", "small", 1, 75, 1e100)):
        with mp.workdps(60):  # sigma_w2 = n x per-weight variance (0.01^2, 1, 2/(2n), 2/n); m = E phi^2/q
            s2 = {"small": mp.mpf(width) / 10**4, "standard": mp.mpf(width), "xavier": 1, "he": 2}[init]
            chi = s2 * (1 if act == "linear" else mp.mpf(1) / 2)
            kw = {"activation": act, "init": init, "width": width, "depth": depth, "q0": q0}
            yield "init_forward_q", kw, s2 * mp.mpf(q0) * chi ** (depth - 1)
            yield "init_backward_r", kw, chi ** (depth - 1)
    for lam, w, sigma in itertools.product((0.0, 5e-324, 1e-10, 0.5, 3.0, 37.0, 1e100),
                                           (0.0, 1e-300, -1.0, 30.0, -1e100), (5e-324, 1e-10, 1.0, 1e100)):
        kw = {"lam": lam, "w_star": w, "sigma": sigma}
        risk, p0 = _lasso(lam, w, sigma)
        yield "lasso_orthonormal_risk", kw, risk
        yield "lasso_zero_prob", kw, p0
        with mp.workdps(60):
            l_, w_, s_ = mp.mpf(lam), mp.mpf(w), mp.mpf(sigma)
            yield "ridge_orthonormal_risk", kw, ((l_ * w_) ** 2 + s_**2) / (1 + l_) ** 2


def _rel(got: float, ref) -> float:
    ref = mp.mpf(ref)
    if abs(ref) < mp.mpf("2.2250738585072014e-308"):  # below the normal doubles: absolute
        return float(abs(mp.mpf(got) - ref)) / 2.2250738585072014e-308
    return float(abs((mp.mpf(got) - ref) / ref))


def table() -> dict[str, tuple[int, float, dict]]:
    """formula -> (cases, max relative error, where).  The references are formed at 100 digits."""
    out: dict[str, tuple[int, float, dict]] = {}
    with mp.workdps(100):
        for name, kw, ref in itertools.chain(cases(), training_practice_cases()):
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

    from bnreg.theory import bn_noise_numeric as BN

    want = [2 * sp.bernoulli(2 * j + 1, sp.Rational(1, 4)) / ((2 * j + 1) * 2 * j) for j in range(1, 13)]
    assert [float(w) for w in want] == list(BN._KAPPA_COEFFS)


def test_log_kappa_table_is_correctly_rounded():
    from bnreg.theory import bn_noise_numeric as BN

    with mp.workdps(50):
        assert [float(mp.log(_kappa(M, 50))) for M in range(2, 20)] == list(BN._LOG_KAPPA_SMALL)


@pytest.mark.parametrize("M", [2, 19, 20, 21, 100, 10**15])
def test_log_kappa_against_mpmath(M):
    from bnreg.theory import bn_noise as B

    with mp.workdps(80):
        assert _rel(B.gaussian_log_kappa(M), mp.log(_kappa(M))) < 1e-15
        assert _rel(B.gaussian_std_deficit(M), 1 - _kappa(M)) < 1e-15


RELU_DEAD = [(1e-300, 3), (1e-300, 1000), (1e-3, 1000), (0.01, 10**5), (0.3, 10**6), (0.5, 64), (0.8, 3),
             (0.99, 10**6), (1 - 1e-6, 1000), (1 - 2**-53, 10**6)]


def _relu_dead(c, B, dps=25):
    """int phi(z) Phi(k z)^B dz, k = sqrt(c/(1-c)), around the peak of the log-concave integrand (to
    12 on either side: e^-72 of the peak), with break points at the scales 1 and 1/k."""
    with mp.workdps(dps):
        c = mp.mpf(c)
        k = mp.sqrt(c / (1 - c))
        logf = lambda z: -z * z / 2 + B * mp.log(mp.ncdf(k * z))  # noqa: E731
        lo, hi = mp.mpf(0), 0.8 * B * k + 1  # the peak: L' = -z + B k phi(kz)/Phi(kz) decreases from > 0 to < 0
        for _ in range(200):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if -mid + B * k * mp.npdf(k * mid) / mp.ncdf(k * mid) > 0 else (lo, mid)
        zs = lo
        pts = sorted({*mp.linspace(zs - 12, zs + 12, 25), *(mp.mpf(j) / k for j in (-8, -4, -2, -1, 0, 1, 2, 4, 8)
                                                           if abs(mp.mpf(j) / k - zs) < 12)})
        return mp.quad(lambda z: mp.exp(logf(z) - logf(zs)), pts) * mp.exp(logf(zs)) / mp.sqrt(2 * mp.pi)


@pytest.mark.parametrize("c, batch", RELU_DEAD)
def test_relu_dead_fraction_against_mpmath_quadrature(c, batch):
    """The quadrature keeps its relative accuracy from 2^-1000 to 1/2 and at the edge c -> 1 (it was
    off by 6 orders of magnitude at c = 1e-3, B = 1000 and returned 1/2 at c = 1 - 1e-10).  The
    allowance is the rounding of batch log Phi and of exp(log P) near underflow."""
    ref = _relu_dead(c, batch)
    got = evaluate("relu_dead_fraction", c=c, batch=batch)
    with mp.workdps(30):
        assert _rel(got, ref) < 1e-15 * (10 + abs(float(mp.log(ref)))) + 1e-19 * batch, (got, ref)


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
@pytest.mark.parametrize("qv", [1e-300, 1e-5, 0.5, 1.0, 1.0000001, 100.0, 1e20, 1e109])
def test_activation_moments_against_mpmath(act, qv):
    """E[phi(h)^2] and E[phi'(h)^2], h ~ N(0, q): relative accuracy at every q (the quadrature with an
    absolute tolerance was off by 1e-2 at q = 1e6 and returned E[tanh^2] > 1)."""
    from bnreg.theory import training_practice as TP

    with mp.workdps(30):
        sq = mp.sqrt(qv)
        if act == "tanh":
            fs = (lambda h: mp.tanh(h) ** 2, lambda h: mp.sech(h) ** 4)
        else:
            sg = lambda h: 1 / (1 + mp.exp(-h))  # noqa: E731
            fs = (lambda h: (sg(h) ** 2 + sg(-h) ** 2) / 2, lambda h: (sg(h) * sg(-h)) ** 2)
        pts = sorted({mp.mpf(0), *(mp.mpf(p) for p in (0.5, 1, 2, 3, 5, 10, 20, 40, 80, 160, 320, 640, 1280)),
                      *(sq * p for p in (0.01, 0.1, 0.5, 1, 2, 3, 5, 8, 12, 40))}) + [mp.inf]
        # 2 n_q(h) = 2 exp(-h^2/(2q))/sqrt(2 pi q); the constant is applied after the quadrature (mp.quad's
        # tolerance is absolute)
        refs = [mp.quad(lambda h, f=f: f(h) * mp.exp(-h * h / (2 * qv)), pts) * 2 / (sq * mp.sqrt(2 * mp.pi))
                for f in fs]
        if qv < 1e-100:  # below the quadrature's reach: the series q - 2q^2, 1 - 2q (tanh); 1/4, 1/16 (sigmoid)
            refs = [qv - 2 * mp.mpf(qv) ** 2, 1 - 2 * mp.mpf(qv)] if act == "tanh" else [0.25, mp.mpf(1) / 16]
        for got, ref in zip(TP.activation_moments(act, qv), refs, strict=True):
            assert _rel(got, ref) < 1e-14, (got, ref)


if __name__ == "__main__":  # pragma: no cover - the closing note's table
    for name, (n, worst, at) in table().items():
        print(f"{name:22s} {n:4d} cases  max rel err {worst:.2e}  at {at}")

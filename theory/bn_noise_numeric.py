"""Batch statistics as noise, numerically: moments of sigma_B, simple error, correlations, E[(hhat - hbar)^2].

The numeric twins of the derivations in bn_noise_derive (conventions: theory/bn_noise.py, the
topic's public face), written with plain arithmetic so that tests can call them on SymPy symbols and
prove them equal to the derivations; the exact Gaussian E[sigma_B]/sigma from its logarithm.
"""

from __future__ import annotations

import math

import sympy as sp

from bnreg.params import ParameterError, check_bool, check_float, check_int

__all__ = [
    "batch_mean_var",
    "batch_std_mean",
    "batch_std_var",
    "simple_error",
    "sample_mean_corr",
    "sample_std_corr",
    "bn_deviation_ms",
    "bn_dev_c2",
    "gaussian_log_kappa",
    "gaussian_std_deficit",
]


def _sym(*xs) -> bool:
    """Numeric twins accept SymPy symbols (validation skipped) so tests can prove them equal
    to the derivations."""
    return any(isinstance(x, sp.Basic) for x in xs)


def _sqrt(x):
    return sp.sqrt(x) if isinstance(x, sp.Basic) else math.sqrt(x)


def _std_b2(rho, skew, m6):
    """1/M^2 coefficient of E[sigma_B]/sigma (from `derive_batch_std_series`)."""
    return -sp.Rational(3, 8) * skew**2 + m6 / 16 - sp.Rational(15, 128) * rho**2 - sp.Rational(19, 32) * rho \
        - sp.Rational(37, 32) if _sym(rho, skew, m6) else \
        -3 * skew**2 / 8 + m6 / 16 - 15 * rho**2 / 128 - 19 * rho / 32 - 37 / 32


# log kappa, kappa = sqrt(2/M) Gamma(M/2)/Gamma((M-1)/2).  For M >= _KAPPA_SERIES_M, with w = (2M - 3)/4,
# log kappa = log1p(-3/(2M))/2 + sum_j c_j w^-2j, c_j = 2 B_{2j+1}(1/4)/((2j+1) 2j) (the generalized Stirling
# series DLMF 5.11.8 for ln Gamma(w + 3/4) - ln Gamma(w + 1/4); only odd Bernoulli polynomials survive);
# twelve terms leave a relative error below 1e-19 from M = 20 on.  Below, log kappa is tabulated
# (correctly rounded, from mpmath at 50 digits; tests/theory/test_stability.py recomputes the table).
_KAPPA_SERIES_M = 20
_KAPPA_COEFFS = tuple(n / d for n, d in (
    (1, 64), (-5, 2048), (61, 49152), (-1385, 1048576), (50521, 20971520), (-2702765, 402653184),
    (199360981, 7516192768), (-19391512145, 137438953472), (2404879675441, 2473901162496),
    (-74074237647505, 8796093022208), (69348874393137901, 774056185954304),
    (-15514534163557086905, 13510798882111488)))
_LOG_KAPPA_SMALL = (  # M = 2 .. 19
    -0.5723649429247001, -0.3235147916893274, -0.22579135264472744, -0.17346249546415837, -0.1408418342470287,
    -0.11855506246055508, -0.10236131367896453, -0.09006159677374982, -0.08040169671154679,
    -0.07261390884844195, -0.0662019594506978, -0.06083077137570018, -0.056265922374697186,
    -0.052338485522500415, -0.048923646533236616, -0.045927185512551975, -0.04327664322385717,
    -0.04091538125122932)


def gaussian_log_kappa(M: int) -> float:
    """log kappa, kappa = E[sigma_B]/sigma = sqrt(2/M) Gamma(M/2)/Gamma((M-1)/2) for Gaussian input,
    to an ulp or two at every M >= 2 (the difference of two log-gammas loses the digits of
    log kappa ~ -3/(4M) at large M: 2 - 2 kappa went negative at M = 1e9).

    Parameters: M batch size (>= 2).  Returns: log kappa (< 0).  tests/theory/test_stability.py checks it
    against mpmath."""
    Mv = check_int("M", M, 2)
    if Mv < _KAPPA_SERIES_M:
        return _LOG_KAPPA_SMALL[Mv - 2]
    w = (2.0 * Mv - 3.0) / 4.0
    x = 1.0 / (w * w)
    acc = 0.0
    for c in reversed(_KAPPA_COEFFS):
        acc = acc * x + c
    return 0.5 * math.log1p(-1.5 / Mv) + acc * x


def _gaussian_std_mean(Mv) -> float:
    """kappa = sqrt(2/M) Gamma(M/2)/Gamma((M-1)/2), from its logarithm (no overflow, no cancellation)."""
    return math.exp(gaussian_log_kappa(Mv))


def gaussian_std_deficit(M: int) -> float:
    """1 - kappa = 1 - E[sigma_B]/sigma for Gaussian input, without cancellation at large M
    (2 - 2 kappa is the exact simple error).  Parameters: M batch size (>= 2).  Returns: 1 - kappa > 0."""
    return -math.expm1(gaussian_log_kappa(M))


def _gaussian_std_var(Mv) -> float:
    """Var(sigma_B)/sigma^2 = (M-1)/M - kappa^2 = (1 - kappa^2) - 1/M (at most a factor 3 of cancellation)."""
    return -math.expm1(2.0 * gaussian_log_kappa(Mv)) - 1.0 / Mv


def _validate(Mv, rho=None, sigma_v=None, order=None, skew=None, m6=None):
    if _sym(Mv, rho, sigma_v, skew, m6):
        return {"M": Mv, "rho": rho, "sigma": sigma_v, "order": order, "skew": skew, "m6": m6}
    out = {"M": check_int("M", Mv, 2)}
    if rho is not None:
        out["rho"] = check_float("rho", rho, -2.0)
    if sigma_v is not None:
        out["sigma"] = check_float("sigma", sigma_v, 0.0, lo_open=True)
    if order is not None:
        out["order"] = check_int("order", order, 1, 2)
    if skew is not None:
        out["skew"] = check_float("skew", skew)
    if m6 is not None:
        out["m6"] = check_float("m6", m6, 0.0)
    return out


def _needs_m6(rho, m6):
    if m6 is None:
        if rho != 0:
            raise ParameterError("m6 (sixth standardized moment E[u^6]) is required for order=2 when rho != 0")
        return 15.0
    return m6


def batch_mean_var(M: int, sigma: float = 1.0) -> float:
    """Var(mu_B) = sigma^2 / M (exact, any input law).

    Parameters: M batch size (>= 2); sigma population std sigma_P.
    Returns: Var(mu_B).  Teye et al. 2018; docs/bn_noise.md."""
    return sigma**2 / M


def batch_std_mean(M: int, rho: float = 0.0, sigma: float = 1.0, order: int = 1,
                   exact: bool = False, skew: float = 0.0, m6: float | None = None) -> float:
    """E[sigma_B] = sigma [1 - (rho+6)/(8M) + b2/M^2], or the exact Gaussian value (rho = 0)
    sigma sqrt(2/M) Gamma(M/2)/Gamma((M-1)/2); b2 = -3g^2/8 + m6/16 - 15rho^2/128 - 19rho/32 - 37/32.

    Parameters: M batch size (>= 2); rho excess kurtosis of h; sigma population std; order 1 or 2
    (terms in 1/M); exact Gaussian closed form (needs rho = 0); skew g = E[u^3]; m6 = E[u^6]
    (order 2; required unless rho = 0).
    Returns: E[sigma_B] of the ddof-0 batch std.  docs/bn_noise.md (derive_batch_std_series)."""
    p = _validate(M, rho, sigma, order, skew)
    if check_bool("exact", exact):
        if rho != 0:
            raise ParameterError("exact=true needs Gaussian input (rho = 0)")
        return sigma * _gaussian_std_mean(p["M"])
    val = 1 - (rho + 6) / (8 * M)
    if order == 2:
        val += _std_b2(rho, skew, _needs_m6(rho, m6)) / M**2
    return sigma * val


def batch_std_var(M: int, rho: float = 0.0, sigma: float = 1.0, order: int = 1,
                  exact: bool = False, skew: float = 0.0, m6: float | None = None) -> float:
    """Var(sigma_B) = sigma^2 [(rho+2)/(4M) - (a^2 + 2 b2)/M^2], a = (rho+6)/8;
    exact Gaussian value sigma^2 (M-1)/M - E[sigma_B]^2 when exact=true (rho = 0).
    The write-up (section 1.3) writes (rho+2)/(4M) without the sigma^2 factor (docs/errata.md).

    Parameters: as `batch_std_mean`.
    Returns: Var(sigma_B).  docs/bn_noise.md."""
    p = _validate(M, rho, sigma, order, skew)
    if check_bool("exact", exact):
        if rho != 0:
            raise ParameterError("exact=true needs Gaussian input (rho = 0)")
        return sigma**2 * _gaussian_std_var(p["M"])
    val = (rho + 2) / (4 * M)
    if order == 2:
        a = (rho + 6) / 8
        val -= (a**2 + 2 * _std_b2(rho, skew, _needs_m6(rho, m6))) / M**2
    return sigma**2 * val


def simple_error(M: int, exact: bool = False, rho: float = 0.0, order: int = 1,
                 skew: float = 0.0, m6: float | None = None) -> float:
    """E[(b - a)^2] for standardized input a and b = (a - mu_B)/sigma_B (the simple example of
    the write-up, section 1.1, which gives 3/(2M)).
    exact=true: 2 - 2 sqrt(2/M) Gamma(M/2)/Gamma((M-1)/2) (Gaussian input);
    otherwise (rho+6)/(4M) [= 3/(2M) for Gaussian], plus -2 b2/M^2 at order 2.

    Parameters: M batch size (>= 2); exact Gaussian closed form; rho, order, skew, m6 as in
    `batch_std_mean`.
    Returns: the mean-square error E[(b - a)^2].  docs/bn_noise.md."""
    if check_bool("exact", exact):
        p = _validate(M, rho)
        if rho != 0:
            raise ParameterError("exact=true needs Gaussian input (rho = 0)")
        return 2.0 * gaussian_std_deficit(p["M"])
    return 2 - 2 * batch_std_mean(M, rho, 1, order, skew=skew, m6=m6)


def sample_mean_corr(M: int) -> float:
    """Corr(h_i, mu_B) = 1/sqrt(M) (exact): the sample is one of the M terms of its batch mean.

    Parameters: M batch size (>= 2).  Returns: the correlation.  docs/bn_noise.md."""
    check_int("M", M, 2)
    return 1 / math.sqrt(M)


def sample_std_corr(M: int, rho: float = 0.0, skew: float = 0.0, order: int = 1,
                    m5: float | None = None, m6: float | None = None) -> float:
    """Corr(h_i, sigma_B) = M^-1/2 [c1/sqrt(v1) + (c2/sqrt(v1) - c1 v2/(2 v1^3/2))/M], c1 = g/2,
    v1 = (rho+2)/4, v2 = -(a^2 + 2 b2) (see batch_std_var) and c2 = 3 g rho/16 + 7g/8 - m5/8
    (the 1/M^2 coefficient of Cov(h_i, sigma_B)/sigma^2).  Zero for symmetric inputs.

    Parameters: M batch size (>= 2); rho excess kurtosis (> -2); skew g; order 1 or 2;
    m5 = E[u^5], m6 = E[u^6] (order 2, needed unless Gaussian).
    Returns: Corr(h_i, sigma_B).  docs/bn_noise.md."""
    p = _validate(M, rho, order=order, skew=skew)
    if not _sym(M, rho, skew) and rho <= -2:
        raise ParameterError("rho must satisfy rho > -2 for the correlation to be defined")
    v1 = (rho + 2) / 4
    c1 = skew / 2
    val = c1 / _sqrt(v1)
    if p["order"] == 2:
        if m5 is None:
            if skew != 0 or rho != 0:
                raise ParameterError("m5 (fifth standardized moment) is required for order=2 unless Gaussian")
            m5 = 0.0
        a = (rho + 6) / 8
        v2 = -(a**2 + 2 * _std_b2(rho, skew, _needs_m6(rho, m6)))
        c2 = 3 * skew * rho / 16 + 7 * skew / 8 - m5 / 8
        val += (c2 / _sqrt(v1) - c1 * v2 / (2 * v1 * _sqrt(v1))) / M
    return val / _sqrt(M)


def bn_dev_c2(u_, rho_, g_, m5_, m6_):
    """1/M^2 coefficient of E[(hhat - hbar)^2]/gamma^2 (from `derive_bn_deviation_ms`)."""
    return (9 * g_**2 * u_**2 / 4 + 2 * g_**2 + 33 * g_ * rho_ * u_ / 8 - 7 * g_ * u_**3 / 2
            + 67 * g_ * u_ / 4 - 5 * m5_ * u_ / 4 - 3 * m6_ * u_**2 / 8 + 87 * rho_**2 * u_**2 / 64
            - 9 * rho_ * u_**4 / 8 + 109 * rho_ * u_**2 / 16 + u_**6 / 4 - 9 * u_**4 / 4
            + 97 * u_**2 / 16 + 3)


def bn_deviation_ms(M: int, rho: float = 0.0, u: float = 0.0, gamma: float = 1.0,
                    skew: float = 0.0, order: int = 1, m5: float | None = None,
                    m6: float | None = None, variant: str = "derived") -> float:
    """E[(hhat - hbar)^2 | u] for a sample inside its own batch (Luo et al. 2019; write-up
    section 1.3).

    derived, order 1: gamma^2 (1 + g u + (rho+2) u^2/4)/M
    derived, order 2: + gamma^2 c2(u)/M^2 (needs m5, m6 unless Gaussian)
    variant=luo2019:     gamma^2 [u^2 (rho+2)/(4M) + (1/M)(1 + 3(rho+2)/(4M))]  (the write-up's formula)

    Parameters: M batch size (>= 2); rho excess kurtosis; u = (h - mu_P)/sigma_P of the sample;
    gamma BN scale; skew g; order 1 or 2; m5, m6 = E[u^5], E[u^6]; variant "derived" or "luo2019".
    Returns: the conditional mean square of hhat - hbar.  docs/bn_noise.md, docs/errata.md.
    """
    p = _validate(M, rho, order=order, skew=skew)
    if not _sym(M, rho, u, gamma, skew):
        u = check_float("u", u)
        gamma = check_float("gamma", gamma)
    if variant == "luo2019":
        return gamma**2 * (u**2 * (rho + 2) / (4 * M) + (1 + 3 * (rho + 2) / (4 * M)) / M)
    if variant != "derived":
        raise ParameterError(f"variant must be one of derived, luo2019 (got {variant!r})")
    val = (1 + skew * u + (rho + 2) * u**2 / 4) / M
    if p["order"] == 2:
        if m5 is None:
            if rho != 0 or skew != 0:
                raise ParameterError("m5 (fifth standardized moment) is required for order=2 unless Gaussian")
            m5 = 0.0
        val += bn_dev_c2(u, rho, skew, m5, _needs_m6(rho, m6)) / M**2
    return gamma**2 * val

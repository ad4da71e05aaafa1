"""Batch statistics as noise: laws of mu_B and sigma_B, the simple example of the authors'
write-up, and the expansion of E[(hhat - hbar)^2].  Explained, with measurements, in docs/bn_noise.md.

References: Luo, Wang, Shao, Peng, "Towards Understanding Regularization in Batch Normalization",
ICLR 2019 (arXiv:1809.00846), section 2 and appendix; the authors' introductory write-up of that
paper (in Chinese; "the write-up" below), sections 1.1 and 1.3, whose errors are listed in
docs/errata.md; Teye, Azizpour, Smith, ICML 2018 (arXiv:1802.06455) for the laws of mu_B, sigma_B.

Conventions: a batch holds M i.i.d. pre-activations h with population mean mu and std sigma;
u = (h - mu)/sigma has skewness g = E[u^3], excess kurtosis rho = E[u^4] - 3 and higher
moments m_k = E[u^k].  mu_B is the batch mean, sigma_B the batch std with ddof = 0 (as BN).

Every `derive_*` returns SymPy expressions built from the exact moment engine
(`theory.sample_moments`); every plain function is the numeric twin, written with plain
arithmetic so that tests can call it on SymPy symbols and prove it equals the derivation.
"""

from __future__ import annotations

import math
from functools import cache

import sympy as sp

from bnreg.params import ParameterError, check_bool, check_float, check_int

from .sample_moments import expect_power_sums, moment_symbols

__all__ = [
    "SYMBOLS",
    "derive_batch_mean_law",
    "derive_batch_variance_moments",
    "derive_batch_std_series",
    "derive_batch_std_gaussian_exact",
    "derive_gamma_ratio_series",
    "derive_simple_error_identity",
    "derive_simple_error",
    "derive_sample_batch_covariance",
    "derive_bn_deviation_ms",
    "derive_bn_deviation_ms_seed",
    "batch_mean_var",
    "batch_std_mean",
    "batch_std_var",
    "simple_error",
    "sample_mean_corr",
    "sample_std_corr",
    "bn_deviation_ms",
    "gaussian_log_kappa",
    "gaussian_std_deficit",
]

M, sigma, mu, gamma, u = sp.symbols("M sigma mu gamma u", real=True)
g, rho = sp.symbols("g rho", real=True)
m5, m6 = sp.symbols("m5 m6", real=True)
_eps = sp.Symbol("epsilon", positive=True)  # 1/M
_S1, _S2 = sp.symbols("S1 S2")
SYMBOLS = {"M": M, "sigma": sigma, "mu": mu, "gamma": gamma, "u": u, "g": g, "rho": rho,
           "m5": m5, "m6": m6}


def _series_in_inv_M(expr: sp.Expr, order: int) -> sp.Expr:
    """Expansion of `expr` in powers of 1/M up to and including M^-order."""
    ser = sp.series(sp.expand(expr).subs(M, 1 / _eps), _eps, 0, order + 1).removeO()
    return sp.expand(ser.subs(_eps, 1 / M))


def _taylor(f, k_max: int) -> list[sp.Expr]:
    x = sp.Symbol("x")
    ser = sp.series(f(x), x, 0, k_max + 1).removeO()
    return [ser.coeff(x, k) for k in range(k_max + 1)]


# ---------------------------------------------------------------------------- derivations
@cache
def derive_batch_mean_law() -> dict[str, sp.Expr]:
    """Exact: E[mu_B] = mu, Var(mu_B) = sigma^2/M (any distribution, any M).

    Returns: {"mean", "var"}, SymPy expressions in mu, sigma, M."""
    mom = moment_symbols(2)
    m1 = expect_power_sums(_S1 / M, _S1, _S2, M, mom)
    m2 = expect_power_sums((_S1 / M) ** 2, _S1, _S2, M, mom)
    return {"mean": sp.simplify(mu + sigma * m1), "var": sp.simplify(sigma**2 * (m2 - m1**2))}


@cache
def derive_batch_variance_moments() -> dict[str, sp.Expr]:
    """Exact moments of the ddof=0 batch variance s^2 = sigma_B^2:
    E[s^2] = sigma^2 (M-1)/M,  Var(s^2) = sigma^4 (M-1)(M(rho+2) - rho)/M^3.

    Returns: {"mean", "var"}, SymPy expressions in sigma, rho, M (Kendall & Stuart vol. 1 ch. 12)."""
    mom = moment_symbols(4)
    s2 = _S2 / M - _S1**2 / M**2
    e1 = expect_power_sums(s2, _S1, _S2, M, mom)
    e2 = expect_power_sums(s2**2, _S1, _S2, M, mom)
    return {"mean": sp.factor(sigma**2 * e1), "var": sp.factor(sigma**4 * (e2 - e1**2))}


@cache
def _std_power_moments(k_max: int) -> tuple[sp.Expr, ...]:
    """E[e^k], e = s^2/sigma^2 - 1, exact in M for k = 0..k_max."""
    mom = moment_symbols(2 * k_max)
    e = _S2 / M - _S1**2 / M**2 - 1
    return tuple(expect_power_sums(e**k, _S1, _S2, M, mom) for k in range(k_max + 1))


@cache
def derive_batch_std_series(order: int = 2) -> dict[str, sp.Expr]:
    """E[sigma_B] and Var(sigma_B) to O(M^-order).

    sigma_B = sigma sqrt(1 + e); Taylor in e to degree 2*order (E[e^k] = O(M^-ceil(k/2)), so
    higher powers cannot reach this order), then expand in 1/M:
      E[sigma_B]   = sigma [1 - (rho+6)/(8M) + b2/M^2 + ...]
      Var(sigma_B) = E[s^2] - E[sigma_B]^2 = sigma^2 [(rho+2)/(4M) + v2/M^2 + ...]

    Parameters: order, the highest power of 1/M kept.
    Returns: {"mean", "var", "bias"} (bias = E[sigma_B] - sigma), SymPy expressions in sigma, M,
    g, rho, m5, m6.  docs/bn_noise.md, table "Results".
    """
    k_max = 2 * order
    coeffs = _taylor(lambda x: sp.sqrt(1 + x), k_max)
    ek = _std_power_moments(k_max)
    mean = _series_in_inv_M(sum(c * e for c, e in zip(coeffs, ek, strict=False)), order)
    var = _series_in_inv_M((M - 1) / M - mean**2, order)
    return {"mean": sp.expand(sigma * mean), "var": sp.expand(sigma**2 * var),
            "bias": sp.expand(sigma * (mean - 1))}


def derive_batch_std_gaussian_exact() -> dict[str, sp.Expr]:
    """Gaussian input: M s^2/sigma^2 ~ chi^2_(M-1), hence exactly
    E[sigma_B] = sigma sqrt(2/M) Gamma(M/2)/Gamma((M-1)/2),  Var(sigma_B) = sigma^2 (M-1)/M - E^2.

    Returns: {"mean", "var"}, SymPy expressions in sigma, M."""
    mean = sigma * sp.sqrt(2 / M) * sp.gamma(M / 2) / sp.gamma((M - 1) / 2)
    return {"mean": mean, "var": sigma**2 * (M - 1) / M - mean**2}


def derive_gamma_ratio_series(order: int = 3) -> sp.Expr:
    """sqrt(2/M) Gamma(M/2)/Gamma((M-1)/2) in powers of 1/M, from the Stirling series
    ln Gamma(z+h) ~ (z+h-1/2) ln z - z + ln(2 pi)/2 + sum_k (-1)^k B_k(h)/(k(k-1) z^(k-1))
    (DLMF 5.11.8) with z = M/2, h = 0 and h = -1/2; the ln z terms cancel the sqrt(2/M).

    Parameters: order, the highest power of 1/M kept.  Returns: the SymPy series in M."""
    z = M / 2
    log_ratio = sum(
        (-1) ** k * (sp.bernoulli(k, 0) - sp.bernoulli(k, sp.Rational(-1, 2))) / (k * (k - 1) * z ** (k - 1))
        for k in range(2, order + 3)
    )
    return _series_in_inv_M(sp.exp(log_ratio), order)


def derive_simple_error_identity(M_value: int = 4) -> sp.Expr:
    """Within one batch, mean_i (b_i - a_i)^2 = 1 - 2 s + mean_i a_i^2 with b = (a - mean)/s,
    because mean(b^2) = 1 and mean(a b) = s.  Returns the difference, which simplifies to 0
    (proved for a concrete batch of symbolic values of size `M_value`).

    Parameters: M_value, the size of the symbolic batch (>= 2).  Returns: SymPy 0."""
    a = sp.symbols(f"a0:{M_value}", real=True)
    mean = sum(a) / M_value
    s = sp.sqrt(sum((ai - mean) ** 2 for ai in a) / M_value)
    b = [(ai - mean) / s for ai in a]
    lhs = sum((bi - ai) ** 2 for ai, bi in zip(a, b, strict=False)) / M_value
    rhs = 1 - 2 * s + sum(ai**2 for ai in a) / M_value
    return sp.simplify(sp.expand(lhs - rhs))


@cache
def derive_simple_error(order: int = 2) -> dict[str, sp.Expr]:
    """The write-up's simple example (section 1.1) E[(b - a)^2], a standardized input, b its
    batch-normalized value.

    By the identity above, E[(b-a)^2] = 2 - 2 E[sigma_B]/sigma exactly, for any distribution.
      series:   (rho+6)/(4M) - 2 b2/M^2 + ...   (3/(2M) + 7/(16 M^2) for Gaussian input)
      gaussian: 2 - 2 sqrt(2/M) Gamma(M/2)/Gamma((M-1)/2)   (exact, every M >= 2)

    Parameters: order, the highest power of 1/M kept in the series.
    Returns: {"series", "gaussian_exact", "gaussian_series"}, SymPy expressions.  docs/bn_noise.md.
    """
    std = derive_batch_std_series(order)["mean"].subs(sigma, 1)
    return {
        "series": sp.expand(2 - 2 * std),
        "gaussian_exact": 2 - 2 * derive_batch_std_gaussian_exact()["mean"].subs(sigma, 1),
        "gaussian_series": sp.expand(2 - 2 * derive_gamma_ratio_series(order)),
    }


@cache
def derive_sample_batch_covariance(order: int = 1) -> dict[str, sp.Expr]:
    """A sample belongs to its own batch, so it is correlated with the batch statistics:
      Cov(h_i, mu_B) = sigma^2/M exactly, Corr = 1/sqrt(M);
      Cov(h_i, sigma_B) = Cov(mu_B, sigma_B) = sigma^2 g/(2M) + O(M^-2),
      Corr(h_i, sigma_B) = g / sqrt(M (rho + 2)) + O(M^-3/2).
    (Exchangeability: E[h_i sigma_B] = E[mu_B sigma_B].)

    Parameters: order, the highest power of 1/M kept in the covariance.
    Returns: {"cov_mean", "corr_mean", "cov_std", "corr_std"}, SymPy expressions."""
    k_max = 2 * order + 1
    coeffs = _taylor(lambda x: sp.sqrt(1 + x), k_max)
    mom = moment_symbols(2 * k_max + 1)
    e = _S2 / M - _S1**2 / M**2 - 1
    cov_sd = sum(c * expect_power_sums((_S1 / M) * e**k, _S1, _S2, M, mom) for k, c in enumerate(coeffs))
    cov_sd = _series_in_inv_M(cov_sd, order)
    var_sd = derive_batch_std_series(order)["var"].subs(sigma, 1)
    # Corr = sqrt(1/M) * (M cov)/sqrt(M var); the ratio is a series in 1/M.
    ratio = _series_in_inv_M(sp.expand(cov_sd * M) / sp.sqrt(sp.expand(var_sd * M)), order - 1)
    return {
        "cov_mean": sigma**2 / M,
        "corr_mean": 1 / sp.sqrt(M),
        "cov_std": sp.expand(sigma**2 * cov_sd),
        "corr_std": ratio / sp.sqrt(M),
    }


@cache
def derive_bn_deviation_ms(order: int = 2) -> sp.Expr:
    """E[(hhat - hbar)^2 | u] for a sample with standardized value u inside its own batch of M,
    to O(M^-order), both sides with the same gamma (beta cancels).

    Setup: the other M-1 samples are i.i.d.; with T1, T2 their power sums,
    mu_B = (u + T1)/M, sigma_B^2 = (u^2 + T2)/M - mu_B^2 = 1 + e.  Then
      (hhat - hbar)^2/gamma^2 = (u - mu_B)^2 (1+e)^-1 - 2u (u - mu_B)(1+e)^-1/2 + u^2,
    Taylor in e to degree 2*order, exact expectations, expansion in 1/M.  Result:
      gamma^2 [ (1 + g u + (rho+2) u^2/4)/M + c2(u)/M^2 + ... ].
    The g u term (skewed inputs) and all of c2 are absent from the write-up's formula (section 1.3).

    Parameters: order, the highest power of 1/M kept.
    Returns: SymPy expression in gamma, u, M, g, rho, m5, m6.  docs/bn_noise.md, docs/errata.md.
    """
    k_max = 2 * order
    inv = _taylor(lambda x: 1 / (1 + x), k_max)
    isq = _taylor(lambda x: 1 / sp.sqrt(1 + x), k_max)
    mom = moment_symbols(2 * k_max + 2)
    n = M - 1
    mb = (u + _S1) / M
    e = sp.expand((u**2 + _S2) / M - mb**2 - 1)
    d = u - mb
    total = u**2
    for k in range(k_max + 1):
        ek = sp.expand(e**k)
        total += inv[k] * expect_power_sums(d**2 * ek, _S1, _S2, n, mom)
        total += -2 * u * isq[k] * expect_power_sums(d * ek, _S1, _S2, n, mom)
    return sp.expand(gamma**2 * _series_in_inv_M(total, order))


def derive_bn_deviation_ms_seed() -> sp.Expr:
    """The write-up's formula (section 1.3; Luo et al. 2019), reproduced from the model it
    implicitly uses: mu_B ~ N(mu, sigma^2/M)
    and sigma_B = sigma (1 + d), d ~ N(0, (rho+2)/(4M)), independent of each other and of the
    sample, sigma_B unbiased, and 1/(1+d)^2 ~ 1 - 2d + 3d^2, 1/(1+d) ~ 1 - d + d^2.  Gives
      gamma^2 [u^2 (rho+2)/(4M) + (1/M)(1 + 3(rho+2)/(4M))].

    Returns: that SymPy expression in gamma, u, rho, M.  Why it is wrong: docs/errata.md."""
    m, d = sp.symbols("m d", real=True)
    v = (rho + 2) / (4 * M)
    expr = sp.expand((u - m) ** 2 * (1 - 2 * d + 3 * d**2) - 2 * u * (u - m) * (1 - d + d**2) + u**2)
    moments = {m: {0: 1, 1: 0, 2: 1 / M}, d: {0: 1, 1: 0, 2: v}}
    poly = sp.Poly(expr, m, d)
    out = sum(c * moments[m][i] * moments[d][j] for (i, j), c in poly.terms())
    return sp.expand(gamma**2 * out)


# ---------------------------------------------------------------------- numeric twins
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
# (correctly rounded, from mpmath at 50 digits; tests/test_stability.py recomputes the table).
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

    Parameters: M batch size (>= 2).  Returns: log kappa (< 0).  tests/test_stability.py checks it
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


def _bn_dev_c2(u_, rho_, g_, m5_, m6_):
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
        val += _bn_dev_c2(u, rho, skew, m5, _needs_m6(rho, m6)) / M**2
    return gamma**2 * val


# ---------------------------------------------------------------- `bnreg derive` steps
def _steps_simple_error(latex: bool) -> list[tuple[str, sp.Expr]]:
    d = derive_simple_error(2)
    return [
        ("identity mean_i (b_i-a_i)^2 - (1 - 2 s + mean_i a_i^2), batch of 4 symbolic values",
         derive_simple_error_identity(4)),
        ("so E[(b-a)^2] = 2 - 2 E[sigma_B]; series for any input", d["series"]),
        ("Gaussian input, exact", d["gaussian_exact"]),
        ("Gaussian exact, expanded by the Stirling series", d["gaussian_series"]),
    ]


def _steps_std(latex: bool) -> list[tuple[str, sp.Expr]]:
    v = derive_batch_variance_moments()
    s = derive_batch_std_series(2)
    return [("E[s^2] (exact)", v["mean"]), ("Var(s^2) (exact)", v["var"]),
            ("E[sigma_B] = E[sigma sqrt(1+e)], Taylor in e, to O(1/M^2)", s["mean"]),
            ("Var(sigma_B) = E[s^2] - E[sigma_B]^2", s["var"])]


def _steps_dev(latex: bool) -> list[tuple[str, sp.Expr]]:
    d = derive_bn_deviation_ms(2)
    seed = derive_bn_deviation_ms_seed()
    return [("derived: sample inside its batch, to O(1/M^2)", d),
            ("write-up's model (independent Gaussian mu_B, sigma_B; sigma_B unbiased)", seed),
            ("derived - write-up, terms of order 1/M", sp.expand(sp.limit(sp.expand((d - seed) * M), M, sp.oo))
             / M)]


DERIVATION_STEPS: dict = {
    "batch_mean": (lambda latex: list(derive_batch_mean_law().items()), "E[mu_B], Var(mu_B): exact"),
    "batch_std": (_steps_std, "moments of s^2 (exact) and of sigma_B to O(1/M^2)"),
    "gaussian_std_exact": (lambda latex: list(derive_batch_std_gaussian_exact().items()),
                           "E[sigma_B], Var(sigma_B) for Gaussian input, exact (chi distribution)"),
    "simple_error": (_steps_simple_error, "the write-up's simple example: identity, exact, series"),
    "sample_batch_covariance": (lambda latex: list(derive_sample_batch_covariance(2).items()),
                                "correlation of a sample with its own batch mean and std"),
    "bn_deviation_ms": (_steps_dev, "E[(hhat - hbar)^2 | u] to O(1/M^2) vs the write-up's formula"),
}

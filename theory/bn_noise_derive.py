"""Batch statistics as noise, the SymPy derivations: laws of mu_B and sigma_B, simple error, E[(hhat - hbar)^2].

Built on the exact moment engine (theory.sample_moments); the conventions and references are in
theory/bn_noise.py (the topic's public face), the numeric twins in bn_noise_numeric.  Also the
`bnreg derive` steps, and the two series helpers the gamma-decay derivations share.
"""

from __future__ import annotations

from functools import cache

import sympy as sp

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
    "series_in_inv_M",
    "taylor",
    "DERIVATION_STEPS",
]

M, sigma, mu, gamma, u = sp.symbols("M sigma mu gamma u", real=True)
g, rho = sp.symbols("g rho", real=True)
m5, m6 = sp.symbols("m5 m6", real=True)
_eps = sp.Symbol("epsilon", positive=True)  # 1/M
_S1, _S2 = sp.symbols("S1 S2")
SYMBOLS = {"M": M, "sigma": sigma, "mu": mu, "gamma": gamma, "u": u, "g": g, "rho": rho,
           "m5": m5, "m6": m6}


def series_in_inv_M(expr: sp.Expr, order: int) -> sp.Expr:
    """Expansion of `expr` in powers of 1/M up to and including M^-order."""
    ser = sp.series(sp.expand(expr).subs(M, 1 / _eps), _eps, 0, order + 1).removeO()
    return sp.expand(ser.subs(_eps, 1 / M))


def taylor(f, k_max: int) -> list[sp.Expr]:
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
    coeffs = taylor(lambda x: sp.sqrt(1 + x), k_max)
    ek = _std_power_moments(k_max)
    mean = series_in_inv_M(sum(c * e for c, e in zip(coeffs, ek, strict=False)), order)
    var = series_in_inv_M((M - 1) / M - mean**2, order)
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
    return series_in_inv_M(sp.exp(log_ratio), order)


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
    coeffs = taylor(lambda x: sp.sqrt(1 + x), k_max)
    mom = moment_symbols(2 * k_max + 1)
    e = _S2 / M - _S1**2 / M**2 - 1
    cov_sd = sum(c * expect_power_sums((_S1 / M) * e**k, _S1, _S2, M, mom) for k, c in enumerate(coeffs))
    cov_sd = series_in_inv_M(cov_sd, order)
    var_sd = derive_batch_std_series(order)["var"].subs(sigma, 1)
    # Corr = sqrt(1/M) * (M cov)/sqrt(M var); the ratio is a series in 1/M.
    ratio = series_in_inv_M(sp.expand(cov_sd * M) / sp.sqrt(sp.expand(var_sd * M)), order - 1)
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
    inv = taylor(lambda x: 1 / (1 + x), k_max)
    isq = taylor(lambda x: 1 / sp.sqrt(1 + x), k_max)
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
    return sp.expand(gamma**2 * series_in_inv_M(total, order))


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

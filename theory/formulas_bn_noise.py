"""Registered formulas of the BN-noise topic (theory/bn_noise.py): batch statistics as noise.

References are printed by `bnreg formulas`: Luo, Wang, Shao, Peng, "Towards Understanding
Regularization in Batch Normalization", ICLR 2019 (arXiv:1809.00846); "write-up" is the authors'
introductory write-up of that paper (in Chinese, docs/index.md#references); docs/bn_noise.md explains all.
"""

from __future__ import annotations

from dataclasses import replace

from bnreg.params import Param

from . import bn_noise as B
from .distributions import FAMILIES
from .registry import Evidence, Formula

__all__ = ["FORMULAS"]

FORMULAS: list[Formula] = []

# Ranges are what the code computes in doubles: M <= 1e15 (M, 2M exact); sigma <= 1e150 (sigma^2 is
# formed); moments and u bounded so that every product of the order-2 coefficients (u^6, rho^2 u^2,
# m6 u^2, ...) stays below 1e40.  Moments must also be those of one distribution (catalog.evaluate).
M_MAX = 10**15
_M = Param("M", "int", lo=2, hi=M_MAX, doc="batch size", required=True)
_RHO = Param("rho", "float", 0.0, lo=-2.0, hi=1e12, doc="excess kurtosis of h (0 for Gaussian)")
_SIGMA = Param("sigma", "float", 1.0, lo=0.0, lo_open=True, hi=1e150, doc="population std sigma_P")
_ORDER = Param("order", "int", 1, lo=1, hi=2, doc="terms kept in 1/M")
_EXACT = Param("exact", "bool", False, doc="exact finite-M value (Gaussian input)")
_SKEW = Param("skew", "float", 0.0, lo=-1e6, hi=1e6, doc="skewness g = E[u^3] (g^2 <= rho + 2)")
_M5 = Param("m5", "float", None, lo=-1e18, hi=1e18, doc="E[u^5]")
_M6 = Param("m6", "float", None, lo=0.0, hi=1e24, doc="E[u^6] (order 2, non-Gaussian; 15 if Gaussian; >= (rho+3)^2)")
_U = Param("u", "float", 0.0, lo=-1e6, hi=1e6, doc="standardized pre-activation (h - mu_P)/sigma_P")
_SERIES = ("the 1/M series holds for M large against the moments (rho, skew, m6); use a larger M, order=1, "
           "or exact=true (Gaussian input)")
_FAMILY = Param("family", "choice", None, choices=FAMILIES, doc="fill rho/skew/m5/m6 from an input family")

_REF_SEED = "Luo et al., ICLR 2019 (arXiv:1809.00846) §2 and their Chinese write-up §1.3; docs/bn_noise.md"

FORMULAS.append(Formula(
    "simple_error", B.simple_error, (_M, _EXACT, _RHO, _ORDER, _SKEW, _M6, _FAMILY),
    "E[(b-a)^2] = 2 - 2 E[sigma_B] ~ (rho+6)/(4M) [3/(2M) Gaussian]; "
    "exact Gaussian: 2 - 2 sqrt(2/M) Gamma(M/2)/Gamma((M-1)/2); order 2 Gaussian: 3/(2M) + 7/(16M^2)",
    "the Chinese write-up of Luo et al., ICLR 2019 (arXiv:1809.00846), §1.1; docs/bn_noise.md",
    "the write-up's simple example: error of batch vs population normalization",
    bounds=(0.0, 2.0), validity=_SERIES))
FORMULAS.append(Formula(
    "batch_mean_var", B.batch_mean_var, (_M, _SIGMA),
    "Var(mu_B) = sigma^2/M (exact)", "Teye et al., ICML 2018 (arXiv:1802.06455); docs/bn_noise.md",
    "variance of the batch mean", bounds=(0.0, None)))
FORMULAS.append(Formula(
    "batch_std_mean", B.batch_std_mean, (_M, _RHO, _SIGMA, _ORDER, _EXACT, _SKEW, _M6, _FAMILY),
    "E[sigma_B] = sigma [1 - (rho+6)/(8M) + b2/M^2], b2 = -3g^2/8 + m6/16 - 15rho^2/128 - 19rho/32 - 37/32",
    "docs/bn_noise.md (the O(1/M) bias of sigma_B, derived here)",
    "mean of the batch std (ddof=0), with its O(1/M) bias", bounds=(0.0, None), validity=_SERIES))
FORMULAS.append(Formula(
    "batch_std_var", B.batch_std_var, (_M, _RHO, _SIGMA, _ORDER, _EXACT, _SKEW, _M6, _FAMILY),
    "Var(sigma_B) = sigma^2 (rho+2)/(4M) - sigma^2 (a^2 + 2 b2)/M^2, a = (rho+6)/8 "
    "(the write-up omits sigma^2)",
    _REF_SEED, "variance of the batch std", bounds=(0.0, None), validity=_SERIES))
FORMULAS.append(Formula(
    "sample_mean_corr", B.sample_mean_corr, (_M,),
    "Corr(h_i, mu_B) = 1/sqrt(M) (exact)", "docs/bn_noise.md (derived here)",
    "correlation of a sample with its own batch mean", bounds=(0.0, 1.0)))
FORMULAS.append(Formula(
    "sample_std_corr", B.sample_std_corr,
    (_M, Param("rho", "float", 0.0, lo=-2.0, lo_open=True, hi=1e12, doc="excess kurtosis"), _SKEW, _ORDER,
     _M5, _M6, _FAMILY),
    "Corr(h_i, sigma_B) = g/sqrt(M (rho+2)) + O(M^-3/2) (order 2 adds the M^-3/2 term)",
    "docs/bn_noise.md (derived here)",
    "correlation of a sample with its own batch std (nonzero only for skewed inputs)",
    bounds=(-1.0, 1.0), validity=_SERIES))
FORMULAS.append(Formula(
    "bn_deviation_ms", B.bn_deviation_ms,
    (_M, _RHO, _U,
     Param("gamma", "float", 1.0, lo=-1e100, hi=1e100, doc="BN scale"), _SKEW, _ORDER, _M5,
     _M6, Param("variant", "choice", "derived", choices=("derived", "luo2019"), doc="derived or write-up's formula"),
     _FAMILY),
    "E[(hhat-hbar)^2 | u] = gamma^2 (1 + g u + (rho+2) u^2/4)/M + gamma^2 c2(u)/M^2; "
    "write-up: gamma^2 [u^2 (rho+2)/(4M) + (1 + 3(rho+2)/(4M))/M]",
    _REF_SEED, "mean-square BN-vs-PN deviation of one sample inside its own batch", bounds=(0.0, None),
    validity=_SERIES))

# ------------------------------------------------------------------------- evidence
_MOM = "tests/theory/test_moments.py::"
_MPMATH = "tests/theory/test_stability.py::test_exact_formulas_match_mpmath_at_extreme_parameters"
_SERIES_STAB = ("a polynomial in 1/M and the moments, evaluated as written (no cancellation: each term is "
                "bounded by the declared ranges); tests/theory/test_fuzz_eval.py finds no non-finite or "
                "out-of-bounds value over the whole legal range")
EVIDENCE = {
    "simple_error": Evidence("derived", "simple_error", twin=_MOM + "test_numeric_twins_equal_their_derivations",
                             stability=_MPMATH, figures=("simple_error",), demos=("bn_noise",)),
    "batch_mean_var": Evidence("derived", "batch_mean", twin=_MOM + "test_batch_mean_law_exact", stability=_MPMATH,
                               absent={"shown": "a one-line exact law (sigma^2/M); the batch_stats figure shows "
                                                "the batch std, the page states this law"}),
    "batch_std_mean": Evidence("derived", "batch_std", twin=_MOM + "test_numeric_twins_equal_their_derivations",
                               stability=_MPMATH, figures=("batch_stats",)),
    "batch_std_var": Evidence("derived", "batch_std", twin=_MOM + "test_numeric_twins_equal_their_derivations",
                              stability=_MPMATH, figures=("batch_stats",)),
    "sample_mean_corr": Evidence("derived", "sample_batch_covariance", twin=_MOM + "test_cov_sample_batch",
                                 stability=_MPMATH,
                                 absent={"shown": "an exact one-line law (1/sqrt(M)), stated on the page"}),
    "sample_std_corr": Evidence("derived", "sample_batch_covariance",
                                twin=_MOM + "test_numeric_twins_equal_their_derivations",
                                absent={"stability": _SERIES_STAB,
                                        "shown": "stated on the page with its check's table "
                                                 "(`bnreg verify --only sample_std_corr`)"}),
    "bn_deviation_ms": Evidence("derived", "bn_deviation_ms", twin=_MOM + "test_numeric_twins_equal_their_derivations",
                                absent={"stability": _SERIES_STAB,
                                        "shown": "it enters the gamma_decay figure through zeta; its own values are "
                                                 "the check's table (`bnreg verify --only bn_deviation_ms`)"}),
}
FORMULAS[:] = [replace(f, evidence=EVIDENCE[f.name]) for f in FORMULAS]

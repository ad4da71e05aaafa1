"""Registered formulas of the gamma-decay topic (theory/gamma_decay.py).

References are printed by `bnreg formulas`: Luo, Wang, Shao, Peng, "Towards Understanding
Regularization in Batch Normalization", ICLR 2019 (arXiv:1809.00846); "write-up" is the authors'
introductory write-up of that paper (in Chinese, docs/index.md#references); docs/gamma_decay.md explains all.
"""

from __future__ import annotations

from dataclasses import replace

from bnreg.params import Param

from . import gamma_decay as G
from .distributions import FAMILIES
from .registry import Evidence, Formula

__all__ = ["FORMULAS"]

FORMULAS: list[Formula] = []

# Ranges are what the code computes in doubles: M <= 1e15; gamma, |beta| <= 1e6 and gamma >= 1e-6 for
# the GLM cases (the quadrature evaluates A(gamma u + beta) up to |u| = 700 and differentiates in gamma
# with a relative step; a Poisson mean exp(gamma u + beta) past a double is refused as an overflow);
# moments bounded as in formulas_bn_noise.
_M = Param("M", "int", lo=2, hi=10**15, doc="batch size", required=True)
_CASE = Param("case", "choice", None, choices=G.CASES, doc="GLM", required=True)
_GAMMA = Param("gamma", "float", 1.0, lo=1e-6, hi=1e6, doc="BN/PN scale gamma")
_BETA = Param("beta", "float", 0.0, lo=-1e6, hi=1e6, doc="BN/PN shift beta")
_FAM = Param("family", "choice", "gaussian", choices=FAMILIES, doc="law of the pre-activation h")
_G0 = Param("gamma0", "float", None, lo=1e-6, hi=1e6, doc="true GLM gamma (default: gamma)")
_B0 = Param("beta0", "float", None, lo=-1e6, hi=1e6, doc="true GLM beta (default: beta)")
_RHO = Param("rho", "float", 0.0, lo=-2.0, hi=1e12, doc="excess kurtosis of h")
_SKEW = Param("skew", "float", 0.0, lo=-1e6, hi=1e6, doc="skewness g of h (g^2 <= rho + 2)")
_REF = "Luo et al., ICLR 2019 (arXiv:1809.00846) §2 and their Chinese write-up §1.3-§1.4; docs/gamma_decay.md"

FORMULAS.append(Formula(
    "zeta", G.zeta,
    (_M, _RHO,
     Param("F_gamma", "float", 1.0, lo=0.0, hi=1e100, doc="mean A''(hbar) u^2"),
     Param("mu_d2A", "float", 1.0, lo=0.0, hi=1e100, doc="mean A''(hbar)"),
     Param("skew", "float", 0.0, lo=-1e6, hi=1e6, doc="skewness g of h (derived term, absent from Luo et al.)"),
     Param("G_gamma", "float", 0.0, lo=-1e100, hi=1e100, doc="mean A''(hbar) u")),
    "zeta = (rho+2)/(8M) F_gamma + mu_d2A/(2M) [+ g G_gamma/(2M), derived]", _REF,
    "gamma-decay coefficient: L_BN ~ L_PN + zeta gamma^2 (second-order term)"))
FORMULAS.append(Formula(
    "zeta_special", G.zeta_special,
    (_CASE, _M, _GAMMA, _BETA, _FAM,
     Param("approx", "choice", "exact", choices=("exact", "sigmoid"), doc="relu: Heaviside or the write-up's sigmoid"),
     Param("terms", "choice", "derived", choices=("derived", "luo2019"), doc="with or without the skewness term")),
    "identity 3/(4M), squared 3/(2M), no_bias 1/(2M) (Gaussian h); relu (beta=0) 3/(8M); "
    "logistic/poisson: zeta with F_gamma, mu_d2A by quadrature", _REF,
    "zeta for a named GLM", bounds=(0.0, None)))
FORMULAS.append(Formula(
    "bn_mean_shift", G.bn_mean_shift,
    (_M, Param("u", "float", 0.0, lo=-1e6, hi=1e6, doc="standardized pre-activation"),
     _RHO, _SKEW,
     Param("order", "int", 1, lo=1, hi=2, doc="terms in 1/M"), Param("m5", "float", None, lo=-1e18, hi=1e18,
                                                                       doc="E[u^5]"),
     Param("m6", "float", None, lo=0.0, hi=1e24, doc="E[u^6] (>= (rho+3)^2)")),
    "E[(hhat - hbar)/gamma | u] = (g/2 + 3(rho+2)u/8 - u^3/2)/M + O(M^-2)", _REF,
    "mean BN-vs-PN shift of a sample in its own batch (the first-order term)"))
FORMULAS.append(Formula(
    "bn_loss_excess", G.bn_loss_excess,
    (_CASE, _M, _GAMMA, _BETA, _G0, _B0, _FAM,
     Param("part", "choice", "total", choices=("total", "first", "second"), doc="which Taylor terms"),
     Param("order", "int", 1, lo=1, hi=2, doc="terms in 1/M"),
     Param("variant", "choice", "derived", choices=("derived", "luo2019"), doc="derived or Luo et al.'s zeta gamma^2")),
    "L_BN - L_PN = E[(A'(hbar) - A'(eta0)) gamma E[D|u]] + E[A''(hbar) gamma^2 E[D^2|u]]/2 + O(M^-2)", _REF,
    "expected BN loss minus PN loss of a well-specified GLM"))
FORMULAS.append(Formula(
    "optimal_gamma_ratio", G.optimal_gamma_ratio,
    (_CASE, _M, Param("gamma0", "float", 1.0, lo=1e-6, hi=1e6, doc="PN-optimal gamma"),
     Param("beta0", "float", 0.0, lo=-1e6, hi=1e6, doc="beta (held fixed)"), _FAM,
     Param("variant", "choice", "derived", choices=("derived", "zeta", "exact"), doc="prediction"),
     Param("order", "int", 1, lo=1, hi=2, doc="terms in 1/M")),
    "gamma*_BN/gamma*_PN = 1 - dDeltaL/dgamma/(gamma0 F_gamma); exact (squared): E[sigma_B]/sigma_P; "
    "Luo et al. (PN + zeta gamma^2): 1 - 2 zeta/F_gamma", _REF,
    "shrinkage of the optimal gamma by BN"))

# ------------------------------------------------------------------------- evidence
_T = "tests/theory/test_gamma_decay.py::"
_MPMATH = "tests/theory/test_stability.py::test_exact_formulas_match_mpmath_at_extreme_parameters"
_QUAD = ("closed forms c/M (no cancellation) for identity, squared, no_bias and relu; logistic and Poisson by "
         "Gauss-Hermite quadrature, checked against adaptive quadrature in " + _T
         + "test_logistic_and_relu_quadrature_vs_gauss_hermite; tests/theory/test_fuzz_eval.py finds no "
         "non-finite value over the legal range")
EVIDENCE = {
    "zeta": Evidence("derived", "zeta", twin=_T + "test_zeta_derivation_and_seed_difference", stability=_MPMATH,
                     figures=("gamma_decay",), demos=("gamma_decay",)),
    "zeta_special": Evidence("derived", "zeta_special", twin=_T + "test_special_cases_gaussian",
                             figures=("gamma_decay",), demos=("gamma_decay",), absent={"stability": _QUAD}),
    "bn_mean_shift": Evidence("derived", "zeta", twin=_T + "test_first_order_mean_shift_form_and_zero_average",
                              absent={"stability": "a cubic polynomial in u over M, evaluated as written; "
                                                   "tests/theory/test_fuzz_eval.py covers the legal range",
                                      "shown": "an intermediate of zeta (its first-order term); the gamma_decay "
                                               "figure shows zeta, the check's table shows the shift"}),
    "bn_loss_excess": Evidence(
        "derived", "zeta", figures=("gamma_decay",), demos=("gamma_decay",),
        absent={"stability": _QUAD,
                "twin": "a quadrature over u of the derived E[D|u] and E[D^2|u], whose numeric twins are tested ("
                        + _T + "test_first_order_mean_shift_form_and_zero_average, tests/theory/test_moments.py::"
                        "test_numeric_twins_equal_their_derivations); no single SymPy expression exists for a "
                        "general GLM; the squared-loss identity is tested in "
                        + _T + "test_excess_parts_add_up_and_seed_variant"}),
    "optimal_gamma_ratio": Evidence("derived", "squared_exact",
                                    twin=_T + "test_derived_shrinkage_matches_exact_series_at_first_order",
                                    stability=_MPMATH, figures=("gamma_shrinkage",)),
}
FORMULAS[:] = [replace(f, evidence=EVIDENCE[f.name]) for f in FORMULAS]

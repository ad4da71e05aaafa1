"""Registered formulas of the variance-shift topic (theory/variance_shift.py; docs/variance_shift.md)."""

from __future__ import annotations

from dataclasses import replace

from bnreg.params import Param

from . import variance_shift as VS
from . import variance_shift_width as VSW
from .registry import Evidence, Formula

__all__ = ["FORMULAS"]

FORMULAS: list[Formula] = []

_REF = ("Li, Chen, Hu, Yang, Understanding the Disharmony between Dropout and Batch Normalization by "
        "Variance Shift, CVPR 2019 (arXiv:1801.05134) §3-§5; docs/variance_shift.md")
_C = Param("c", "float", lo=-1e300, hi=1e300, doc="mean of the inputs", required=True)
_V = Param("v", "float", lo=0.0, lo_open=True, hi=1e300, doc="variance of the inputs", required=True)
_D = Param("d", "int", 1, lo=1, hi=10**12, doc="number of inputs summed before BN (case a: 1)")
_CORR = Param("corr", "float", 0.0, lo=-1.0, hi=1.0,
              doc="pairwise correlation of the inputs (>= -1/(d-1): positive semi-definite)")
_COS2 = Param("cos2", "float", 1.0, lo=0.0, lo_open=True, hi=1.0,
              doc="cos^2 of the angle between w and (1,...,1) (1 for equal weights; 1 when d = 1)")

FORMULAS.append(Formula(
    "variance_shift_ratio", VS.variance_shift_ratio,
    (Param("keep", "float", lo=0.0, lo_open=True, hi=1.0, doc="retain probability of inverted dropout",
           required=True), _C, _V, _D, _CORR, _COS2,
     Param("noise", "choice", "bernoulli", choices=("bernoulli", "gaussian"),
           doc="Bernoulli a/keep or Gaussian 1 + N(0, (1-keep)/keep) multipliers (same Delta)")),
    "Delta = Var_test/Var_train = v A/(v A + (1-keep)/keep (v + c^2)), A = 1 - corr + corr d cos2; "
    "case a (d = 1): keep v/(v + (1-keep) c^2)",
    _REF, "variance shift of a BN input after dropout: test variance over the running (train) variance",
    bounds=(0.0, 1.0)))
FORMULAS.append(Formula(
    "uout_shift_ratio", VS.uout_shift_ratio,
    (Param("beta", "float", lo=0.0, hi=1e150, doc="Uout width: multiplier 1 + U(-beta, beta)", required=True),
     _C, _V, _D, _CORR, _COS2),
    "Delta = v A/(v A + beta^2/3 (v + c^2)), A = 1 - corr + corr d cos2 (equal to Bernoulli dropout when "
    "beta^2/3 = (1-keep)/keep)",
    _REF, "variance shift of a BN input after Uout (uniform multiplicative noise)", bounds=(0.0, 1.0)))

FORMULAS.append(Formula(
    "variance_shift_finite_width", VSW.finite_width_shift,
    (Param("layer", "int", lo=1, hi=VSW.WIDTH_DEPTH, doc="BN layer of the random stack (1 = first)", required=True),
     Param("width", "int", lo=32, hi=10**9, doc="units per layer (the fit covers 32 ... 1024)", required=True),
     Param("keep", "float", lo=0.0, lo_open=True, hi=1.0, required=True,
           doc="Bernoulli dropout keep; one of the measured values (WIDTH_CORRECTION)")),
    "r_l(n) = MF_l (1 + a_l/n): the random-stack mean field MF_l times the measured O(1/width) correction a_l "
    "(Bernoulli dropout, inputs N(0, 1), M = 128, depth 8)",
    "measured here: bnreg figures variance_shift_width --paper; docs/variance_shift.md, \"Finite width\"",
    "variance shift of a deep random stack at finite width (inference variance / running variance)",
    bounds=(0.0, None)))

# ------------------------------------------------------------------------- evidence
_T = "tests/theory/test_variance_shift.py::"
_MPMATH = "tests/theory/test_stability.py::test_exact_formulas_match_mpmath_at_extreme_parameters"
EVIDENCE = {
    "variance_shift_ratio": Evidence("derived", "variance_shift", twin=_T + "test_twin_equals_derivation",
                                     stability=_MPMATH, figures=("variance_shift_ratio",), demos=("variance_shift",)),
    "uout_shift_ratio": Evidence("derived", "variance_shift", twin=_T + "test_twin_equals_derivation",
                                 stability=_MPMATH, figures=("variance_shift_ratio",)),
}
EVIDENCE["variance_shift_finite_width"] = Evidence(
    "measured", source="bnreg figures variance_shift_width --paper (default seed 2019): per layer, a weighted "
    "least-squares fit of r_l(n)/MF_l - 1 = b_l + a_l/n + c_l/n^2 over widths 32 ... 1024 with 8-512 networks per "
    "width (docs/variance_shift.md, \"Finite width\")",
    figures=("variance_shift_width", "variance_shift_layers"),
    absent={"derivation": "the O(1/width) correction resisted derivation here (it comes from the correlations between "
                          "units and the spread of the per-unit ratios, which the mean field drops): the coefficients "
                          "are measured instead, and checked on independent networks (shift.finite_width)",
            "twin": "no SymPy expression: the coefficients a_l are measured (the mean field they multiply is the "
                    "recursion of mean_field_shift, tested in tests/theory/test_variance_shift.py)",
            "stability": "a ratio of order one times (1 + a_l/n) with |a_l|/n < 1 over the legal range: no "
                         "cancellation to test at extreme parameters"})
FORMULAS[:] = [replace(f, evidence=EVIDENCE[f.name]) for f in FORMULAS]

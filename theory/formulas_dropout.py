"""Registered formulas of the dropout topic (theory/dropout.py; docs/dropout.md).

The teacher-student normalization is that of docs/teacher_student.md (per-N Krogh-Hertz cost,
alpha = P/N); `keep` is the retain probability of inverted dropout on the student's inputs.
"""

from __future__ import annotations

from dataclasses import replace

from bnreg.params import Param

from . import dropout as DO
from .registry import Evidence, Formula

__all__ = ["FORMULAS"]

FORMULAS: list[Formula] = []

_ALPHA = Param("alpha", "float", lo=0.0, lo_open=True, doc="alpha = P/N", required=True)
_KEEP = Param("keep", "float", lo=0.0, lo_open=True, hi=1.0, doc="retain probability of inverted input dropout",
              required=True)
_D2 = Param("delta2", "float", 0.25, lo=0.0, doc="label-noise variance")
_N = Param("N", "int", lo=1, hi=10**15, doc="input dimension", required=True)
_REF = ("Srivastava et al., Dropout, JMLR 15 (2014); Krogh & Hertz, J. Phys. A 25 (1992); docs/dropout.md, "
        "docs/teacher_student.md")

FORMULAS.append(Formula(
    "dropout_to_lam", DO.dropout_to_lam, (_ALPHA, _KEEP),
    "lam = alpha (1 - keep)/keep (large N; exact: the diagonal ridge (A + c diag(A))^-1 X^T y/N, c = (1-keep)/keep)",
    _REF, "Krogh-Hertz ridge coefficient of a linear student trained with input dropout"))
FORMULAS.append(Formula(
    "gen_error_dropout", DO.gen_error_dropout, (_ALPHA, _KEEP, _D2),
    "gen_error_ridge(alpha, alpha (1 - keep)/keep, delta2); pseudo-inverse at keep = 1",
    _REF, "converged input-dropout student, thermodynamic limit"))
FORMULAS.append(Formula(
    "dropout_diag_correction", DO.dropout_diag_correction, (_ALPHA, _KEEP, _D2, _N),
    "(2/P)(eps - lam^2 G^2) - [delta2 d(z Dg)/dz - z^2 dDg/dz]_{z=lam}, P = alpha N (bnreg derive dropout_finite_n)",
    _REF, "O(1/N) mean of eps(diagonal dropout ridge) - eps(scalar ridge at lam), same Gaussian data"))
FORMULAS.append(Formula(
    "gen_error_dropout_bn_limit", DO.gen_error_dropout_bn_limit,
    (_ALPHA, _KEEP, _D2, Param("M", "int", 32, lo=2, hi=10**15, doc="batch size"),
     Param("stats", "choice", "running", choices=("running", "recomputed"),
           doc="BN statistics learned with dropout on, or recomputed without dropout")),
    "rho^2 Q - 2 rho (1 - lam G) + 1, Q = 1 - 2 lam G - lam^2 G' + delta2 (G + lam G'); rho = kappa (running) "
    "or kappa sqrt(1 + lam Q/V) (recomputed)",
    "Li et al., CVPR 2019 (arXiv:1801.05134); " + _REF, "BN + input dropout student at convergence"))

# ------------------------------------------------------------------------- evidence
_T = "tests/theory/test_dropout.py::"
_VIA_G = ("built from mp_stieltjes, its lam-derivative and kappa (mpmath-tested in tests/theory/test_stability.py), "
          "evaluated as written; tests/theory/test_fuzz_eval.py finds no non-finite value over the legal range")
_MAPPING = "test_mapping_has_alpha_and_is_not_the_drop_rate"
EVIDENCE = {
    "dropout_to_lam": Evidence("derived", "dropout_objective", twin=_T + _MAPPING,
                               absent={"stability": "one product alpha (1 - keep)/keep over the declared ranges",
                                       "shown": "a conversion: the figures plot gen_error_dropout, the ridge curve at "
                                                "this lam"}),
    "gen_error_dropout": Evidence("derived", "dropout_objective", twin=_T + _MAPPING,
                                  figures=("teacher_student",),
                                  absent={"stability": "gen_error_ridge (mpmath-tested) at lam = dropout_to_lam"}),
    "dropout_diag_correction": Evidence(
        "derived", "dropout_finite_n", twin=_T + "test_finite_n_numeric_twin_equals_the_derivation",
        absent={"stability": _VIA_G,
                "shown": "an O(1/N) correction: docs/dropout.md tabulates it against sampled designs "
                         "(" + _T + "test_finite_n_correction_explains_the_diagonal_gap)"}),
    "gen_error_dropout_bn_limit": Evidence("derived", "dropout_bn", twin=_T + "test_bn_limit_reduces_to_bn_and_ridge",
                                           figures=("teacher_student",), absent={"stability": _VIA_G}),
}
FORMULAS[:] = [replace(f, evidence=EVIDENCE[f.name]) for f in FORMULAS]

"""Registered formulas of the teacher-student topic (theory/teacher_student.py).

References are printed by `bnreg formulas`: Luo, Wang, Shao, Peng, "Towards Understanding
Regularization in Batch Normalization", ICLR 2019 (arXiv:1809.00846); "write-up" is the authors'
introductory write-up of that paper (in Chinese, docs/index.md#references); docs/teacher_student.md
explains all.
"""

from __future__ import annotations

from dataclasses import replace

from bnreg.params import Param

from . import teacher_student as TS
from .registry import Evidence, Formula

__all__ = ["FORMULAS"]

FORMULAS: list[Formula] = []

# Ranges are what the code computes in doubles: alpha, lam, zeta, delta2 <= 1e300 (the sums
# alpha + lam + 1 of the Stieltjes forms stay finite); a value past a double (G ~ (1 - alpha)/lam,
# delta2/(alpha - 1) next to alpha = 1) is refused as an overflow by catalog.evaluate.
_ALPHA = Param("alpha", "float", lo=0.0, lo_open=True, hi=TS.LAM_MAX, doc="alpha = P/N", required=True)
_LAM = Param("lam", "float", lo=0.0, lo_open=True, hi=TS.LAM_MAX,
             doc="ridge coefficient of the per-N (Krogh-Hertz) cost", required=True)
_D2 = Param("delta2", "float", 0.25, lo=0.0, hi=1e300, doc="label-noise variance")
_ZETA = Param("zeta", "float", lo=0.0, lo_open=True, hi=TS.LAM_MAX,
              doc="gamma-decay coefficient of the per-P cost (alpha zeta <= 1e300)", required=True)
_M = Param("M", "int", 32, lo=2, hi=10**15, doc="batch size")
_N_MAX = 10**15


def _sgd_diverges(alpha, delta2=0.25, **_):
    return "the pseudo-inverse error diverges at alpha = 1 (delta2 > 0)" if alpha == 1.0 and delta2 > 0 else None


def _sgd_exact_diverges(N, P, delta2=0.25, **_):
    return ("the expected pseudo-inverse error is infinite for |P - N| <= 1 (inverse-Wishart mean; delta2 > 0)"
            if abs(P - N) <= 1 and delta2 > 0 else None)
_REF = ("Krogh & Hertz, J. Phys. A 25 (1992); Luo et al., ICLR 2019 (arXiv:1809.00846) §4 and their Chinese "
        "write-up §2.3; docs/teacher_student.md")

FORMULAS.append(Formula(
    "mp_stieltjes", TS.mp_stieltjes, (_ALPHA, _LAM),
    "G = [1 - alpha - lam + sqrt((lam + (1+sqrt alpha)^2)(lam + (1-sqrt alpha)^2))]/(2 lam) "
    "= lim (1/N) tr (X^T X/N + lam)^-1; root of lam G^2 + (lam + alpha - 1) G - 1 = 0",
    "Marchenko & Pastur 1967; " + _REF, "Stieltjes transform of the Marchenko-Pastur law of X^T X/N",
    bounds=(0.0, None)))
FORMULAS.append(Formula(
    "mp_density", lambda alpha, x: float(TS.mp_density(x, alpha)),
    (_ALPHA, Param("x", "float", lo=0.0, hi=1e300, doc="eigenvalue", required=True)),
    "rho(x) = sqrt((x - a)(b - x))/(2 pi x) on [a, b] = [(1-sqrt alpha)^2, (1+sqrt alpha)^2]; "
    "plus an atom 1 - alpha at 0 if alpha < 1",
    "Marchenko & Pastur 1967; docs/teacher_student.md", "continuous part of the MP density of X^T X/N",
    bounds=(0.0, None)))
FORMULAS.append(Formula(
    "gen_error_sgd", TS.gen_error_sgd, (_ALPHA, _D2),
    "1 - alpha + alpha delta2/(1 - alpha) (alpha < 1); delta2/(alpha - 1) (alpha > 1; the write-up prints "
    "delta2/(1 - alpha) < 0); inf at alpha = 1",
    _REF, "plain SGD from w = 0 = pseudo-inverse, thermodynamic limit", bounds=(0.0, None),
    diverges=_sgd_diverges))
FORMULAS.append(Formula(
    "gen_error_sgd_exact", TS.gen_error_sgd_exact,
    (Param("N", "int", lo=1, hi=_N_MAX, doc="input dimension", required=True),
     Param("P", "int", lo=1, hi=_N_MAX, doc="training samples", required=True), _D2),
    "(N - P)/N + delta2 P/(N - P - 1) (P <= N - 2); delta2 N/(P - N - 1) (P >= N + 2) (inverse Wishart)",
    "inverse-Wishart mean; docs/teacher_student.md", "pseudo-inverse error at finite N, exact",
    bounds=(0.0, None), diverges=_sgd_exact_diverges))
FORMULAS.append(Formula(
    "gen_error_ridge", TS.gen_error_ridge, (_ALPHA, _LAM, _D2),
    "eps = delta2 d(lam G)/d lam - lam^2 dG/d lam; minimum at lam = delta2",
    _REF, "ridge = WN + gamma decay at its global minimum (per-N cost)", bounds=(0.0, None)))
FORMULAS.append(Formula(
    "zeta_to_lam", TS.zeta_to_lam, (_ALPHA, _ZETA),
    "lam = alpha zeta for the cost (1/P) sum (phi - y)^2 + zeta gamma^2 (the write-up uses lam = zeta)",
    "docs/teacher_student.md (the convention trap)", "per-sample gamma decay -> Krogh-Hertz lam",
    bounds=(0.0, None)))
FORMULAS.append(Formula(
    "gen_error_wn", TS.gen_error_wn, (_ALPHA, _ZETA, _D2),
    "gen_error_ridge(alpha, alpha zeta, delta2)", _REF, "WN + gamma decay zeta (per-P cost)", bounds=(0.0, None)))
FORMULAS.append(Formula(
    "bn_shrinkage", TS.bn_shrinkage, (_M,),
    "kappa = E[sigma_B]/sigma = sqrt(2/M) Gamma(M/2)/Gamma((M-1)/2) = 1 - 3/(4M) + O(M^-2)",
    "docs/teacher_student.md (derived here)", "shrinkage of a converged BN student (Gaussian h)",
    bounds=(0.0, 1.0)))
FORMULAS.append(Formula(
    "gen_error_bn_limit", TS.gen_error_bn_limit,
    (_ALPHA, _D2, _M, Param("variant", "choice", "exact", choices=("exact", "gamma_decay"),
                            doc="kappa = E[sigma_B]/sigma or 1/(1 + 3/(2M))")),
    "(1 - kappa)^2 + delta2 kappa^2/(alpha - 1) (alpha > 1); (1 - alpha) + alpha (1 - kappa)^2 + "
    "delta2 alpha kappa^2/(1 - alpha) (alpha < 1); inf at alpha = 1",
    "docs/teacher_student.md (derived here)", "BN student trained to convergence (diverges at alpha = 1)",
    bounds=(0.0, None), diverges=_sgd_diverges))
FORMULAS.append(Formula(
    "gen_error_gd", TS.gen_error_gd,
    (_ALPHA, _D2, Param("tau", "float", lo=0.0, hi=1e300, doc="gradient-flow time (lr x steps)", required=True),
     Param("init_var", "float", 0.0, lo=0.0, hi=1e300, doc="N E[v0^2] of the initial weights")),
    "int rho(s) [(1 - f)^2 (1 + init_var) + delta2 f^2/s] ds + atom (1 + init_var), f = 1 - exp(-2 s tau/alpha)",
    "Advani & Saxe 2017 (arXiv:1710.03667); docs/teacher_student.md", "early-stopped gradient descent",
    bounds=(0.0, None)))
FORMULAS.append(Formula(
    "early_stopping_lam", TS.early_stopping_lam,
    (Param("alpha", "float", lo=1e-6, hi=1e6, doc="alpha = P/N", required=True),
     Param("tau", "float", lo=1e-6, hi=1e6, doc="gradient-flow time (lr x steps)", required=True), _D2),
    "argmin_lam int rho(s) (f_tau(s) - s/(s + lam))^2 (1 + delta2/s) ds, f_tau = 1 - exp(-2 s tau/alpha); "
    "alpha/(2 tau) to first order in s",
    "derived here (docs/teacher_student.md, \"Early stopping as a ridge\"); the small-s mapping as in Ali, Kolter "
    "& Tibshirani 2019 (arXiv:1810.10082)",
    "the ridge coefficient whose predictor is closest to gradient flow stopped at time tau",
    bounds=(0.0, None)))

# ------------------------------------------------------------------------- evidence
_T = "tests/theory/test_teacher_student.py::"
_MPMATH = "tests/theory/test_stability.py::test_exact_formulas_match_mpmath_at_extreme_parameters"
EVIDENCE = {
    "mp_stieltjes": Evidence("derived", "mp_stieltjes", stability=_MPMATH,
                             twin=_T + "test_stieltjes_root_solves_equation_and_equals_closed_form",
                             absent={"shown": "not plotted itself: it is the G inside every teacher-student curve "
                                              "(teacher_student figure) and its density is the mp_law figure"}),
    "mp_density": Evidence("derived", "mp_stieltjes", twin=_T + "test_stieltjes_is_transform_of_density_plus_atom",
                           stability=_MPMATH, figures=("mp_law",)),
    "gen_error_sgd": Evidence("derived", "sgd_limits", stability=_MPMATH,
                              twin=_T + "test_sgd_limits_from_ridge_and_the_writeup_sign_error",
                              figures=("teacher_student",), demos=("teacher_student", "weight_decay")),
    "gen_error_sgd_exact": Evidence(
        "paper", source="the mean of an inverse-Wishart matrix, E[(X^T X)^-1] = I/(P - N - 1) for Gaussian X "
                        "(e.g. Muirhead, Aspects of Multivariate Statistical Theory, 1982, Theorem 3.2.12)",
        stability=_MPMATH, demos=("teacher_student",),
        absent={"derivation": "a textbook moment of the inverse-Wishart law, quoted, not re-derived here",
                "twin": "no SymPy expression to compare with; " + _T + "test_exact_finite_n_pinv_tends_to_the_limit "
                        "shows it tends to the derived gen_error_sgd as N grows"}),
    "gen_error_ridge": Evidence("derived", "ridge_error", twin=_T + "test_ridge_error_and_optimum", stability=_MPMATH,
                                figures=("teacher_student", "bn_learning_rate"),
                                demos=("teacher_student", "weight_decay", "bn_dynamics")),
    "zeta_to_lam": Evidence("derived", "zeta_mapping", twin="tests/sims/test_teacher_student.py::test_zeta_mapping",
                            absent={"stability": "one product alpha zeta; the declared range caps it at 1e300",
                                    "shown": "a conversion: the teacher_student figure plots WN students at "
                                             "lam = alpha zeta (gen_error_wn)"}),
    "gen_error_wn": Evidence("derived", "zeta_mapping", stability=_MPMATH,
                             figures=("teacher_student", "bn_training_length"), demos=("teacher_student",),
                             absent={"twin": "defined as gen_error_ridge at lam = zeta_to_lam(alpha, zeta), both "
                                             "twin-tested; tests/theory/test_stability.py::test_ridge_near_lam_zero "
                                             "checks the composition"}),
    "bn_shrinkage": Evidence("derived", "bn_limit", twin=_T + "test_bn_limit_derivation_and_shrinkage",
                             stability=_MPMATH, demos=("bn_dynamics",)),
    "gen_error_bn_limit": Evidence("derived", "bn_limit", twin=_T + "test_bn_limit_derivation_and_shrinkage",
                                   stability=_MPMATH,
                                   figures=("teacher_student", "bn_learning_rate", "bn_training_length"),
                                   demos=("teacher_student", "bn_dynamics")),
    "gen_error_gd": Evidence(
        "paper", source="Advani & Saxe, High-dimensional dynamics of generalization error in neural networks, "
                        "arXiv:1710.03667 (2017), §3: the gradient-flow learning curve as an integral over the "
                        "Marchenko-Pastur density", figures=("bn_training_length",), demos=("weight_decay",),
        absent={"derivation": "quoted from the paper (gradient flow solved mode by mode), not re-derived in SymPy",
                "twin": "no SymPy expression; " + _T + "test_gd_learning_curve_limits checks its limits "
                        "(tau = 0: 1 + init_var; tau -> oo: the derived gen_error_sgd)",
                "stability": "a quadrature over the MP density (scipy quad); tests/theory/test_fuzz_eval.py finds no "
                             "non-finite or negative value over the legal range"}),
}
EVIDENCE["early_stopping_lam"] = Evidence(
    "derived", "early_stopping", twin=_T + "test_early_stopping_lam_minimises_the_derived_distance",
    figures=("regularizer_atlas",),
    absent={"stability": "a bounded 1-D search over an MP quadrature of a positive integrand; the twin test covers "
                         "tau from 1e-3 (lam ~ alpha/(2 tau)) to 30 (lam -> 0)"})
FORMULAS[:] = [replace(f, evidence=EVIDENCE[f.name]) for f in FORMULAS]

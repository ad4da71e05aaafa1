"""Registered formulas of the BN-at-a-finite-learning-rate topic (theory/bn_dynamics.py).

References are printed by `bnreg formulas`: Luo, Wang, Shao, Peng, "Towards Understanding
Regularization in Batch Normalization", ICLR 2019 (arXiv:1809.00846); Smith, Dherin, Barrett, De,
"On the origin of implicit regularization in stochastic gradient descent", ICLR 2021
(arXiv:2101.12176); docs/bn_dynamics.md explains all.
"""

from __future__ import annotations

from dataclasses import replace

from bnreg.params import Param

from . import bn_dynamics as BD
from . import bn_dynamics_fluctuation as BF
from .registry import Evidence, Formula

__all__ = ["FORMULAS"]

FORMULAS: list[Formula] = []

_ALPHA = Param("alpha", "float", lo=1.0, lo_open=True, doc="alpha = P/N (> 1: the fit does not interpolate)",
               required=True)
_M = Param("M", "int", 32, lo=4, hi=10**15, doc="batch size")
_D2 = Param("delta2", "float", 0.25, lo=0.0, doc="label-noise variance")
_N = Param("N", "int", lo=64, hi=10**15, doc="input dimension (the noise strength is lr_eff N/M; leading order in 1/N, "
           "and P = round(alpha N) must exceed N + 1 and M)", required=True)
_LR_EFF = Param("lr_eff", "float", lo=0.0, lo_open=True, doc="effective learning rate lr/|w|^2", required=True)
_REF = ("Smith et al., ICLR 2021 (arXiv:2101.12176) for the modified loss; docs/bn_dynamics.md "
        "(BN at a finite learning rate, derived here)")

FORMULAS.append(Formula(
    "bn_stationary_error",
    lambda alpha, lr_eff, N, M=32, delta2=0.25: BD.bn_stationary_error(alpha, M, delta2, lr_eff, N),
    (_ALPHA, _M, _D2, _LR_EFF, _N),
    "kappa^2 |v_lam|^2 - 2 kappa (1 - lam G) + 1, lam = alpha nu, nu = lr_eff N rho2/M, "
    "rho2 = delta2 (P - N - 1)/P ((P - M)/(P - 1) - 2/M) M/(M - 3); |v_lam|^2 = 1 - 2 lam G - lam^2 G' + "
    "delta2 (G + lam G')", _REF,
    "stationary error of a BN student at a fixed effective learning rate, leading order (kappa x ridge)"))
FORMULAS.append(Formula(
    "bn_noise_ridge",
    lambda alpha, lr_eff, N, M=32, delta2=0.25: BD.bn_noise_ridge(alpha, M, delta2, lr_eff, N),
    (_ALPHA, _M, _D2, _LR_EFF, _N),
    "nu = lr_eff N rho2/M (per-sample ridge coefficient zeta; Krogh-Hertz lam = alpha nu)", _REF,
    "ridge coefficient of SGD's implicit regularizer on the BN direction"))
FORMULAS.append(Formula(
    "bn_weight_norm_growth",
    lambda alpha, lr, steps, N, M=32, delta2=0.25, w0_sq=1.0: BD.bn_weight_norm_growth(alpha, M, delta2, lr, steps, N,
                                                                                   w0_sq),
    (_ALPHA, _M, _D2, Param("lr", "float", lo=0.0, lo_open=True, doc="raw step size", required=True),
     Param("steps", "float", lo=0.0, doc="SGD steps", required=True), _N,
     Param("w0_sq", "float", 1.0, lo=0.0, lo_open=True, doc="|w|^2 at steps = 0")),
    "|w|^4 = |w_0|^4 + 2 lr^2 G^2 steps, G^2 = 4 kappa^2 (1 + delta2/(alpha - 1)) N rho2/M", _REF,
    "growth of |w|^2 of a BN student under SGD without weight decay (lr_eff = lr/|w|^2 ~ steps^-1/2)"))
FORMULAS.append(Formula(
    "bn_wd_effective_lr",
    lambda alpha, lr, wd, N, M=32, delta2=0.25: BD.bn_wd_effective_lr(alpha, M, delta2, lr, wd, N),
    (_ALPHA, _M, _D2, Param("lr", "float", lo=0.0, lo_open=True, doc="raw step size", required=True),
     Param("wd", "float", lo=0.0, lo_open=True, doc="weight decay on w", required=True), _N),
    "lr_eff* = lr/|w*|^2, |w*|^4 = lr G^2/(wd (2 - lr wd)) ~ sqrt(2 lr wd)/G", _REF,
    "effective learning rate at the weight-decay equilibrium of |w|"))
FORMULAS.append(Formula(
    "bn_sgd_error",
    lambda alpha, lr_eff, N, M=32, delta2=0.25, batches="reshuffled", average="instant":
    BF.bn_sgd_error(alpha, M, delta2, lr_eff, N, batches, average),
    (_ALPHA, _M, _D2,
     Param("lr_eff", "float", lo=0.0, lo_open=True, hi=0.3, required=True,
           doc="effective learning rate lr/|w|^2 (the model's own stability edge, where it refuses, is lower at "
               "most parameters: 0.19-0.28 at N = 256, M = 32)"),
     _N,
     Param("batches", "choice", "reshuffled", choices=BF.BATCHES,
           doc="batch order: a permutation per epoch, or each batch drawn afresh"),
     Param("average", "choice", "instant", choices=("instant", "predictor"),
           doc="eps at epoch ends, or of the time-averaged predictor")),
    "kappa x ridge(nu) at the self-consistent residual Lbar = E L_dir(w), nu = lr_eff N g Lbar/M, plus the "
    "stationary fluctuation of the direction: per mode Sigma_i from a discrete Lyapunov equation, "
    "lam_i = 1 - 2 eta (c_i + nu), noise 4 E[gamma^2/S] c_i g L/M (reshuffled: the mean state's noise sums to 0 "
    "over an epoch); predictor moments to second order (Gaussian closure); MP limit at this N",
    _REF, "stationary error of a BN student at a fixed lr_eff beyond leading order (ridge + fluctuation)"))

# ------------------------------------------------------------------------- evidence
_T = "tests/theory/test_bn_dynamics.py::"
_PRODUCTS = ("products and square roots of bounded factors (kappa, the residual, the sampling factor) evaluated "
             "as written; tests/theory/test_fuzz_eval.py finds no non-finite value over the legal range")
EVIDENCE = {
    "bn_stationary_error": Evidence(
        "derived", "bn_stationary_error", twin=_T + "test_stationary_slope_matches_formula_and_finite_difference",
        figures=("bn_learning_rate",), demos=("bn_dynamics",),
        absent={"stability": "built from mp_stieltjes and its lam-derivative (both mpmath-tested in "
                             "tests/theory/test_stability.py) and kappa; " + _PRODUCTS}),
    "bn_noise_ridge": Evidence(
        "derived", "bn_noise_ridge", demos=("bn_dynamics",),
        absent={"twin": "nu is a symbol of the SymPy derivation (which proves the stationary predictor is the ridge "
                        "solution at nu: " + _T + "test_noise_ridge_is_the_ridge_solution); its value "
                        "lr_eff N rho2/M is tested term by term in " + _T + "test_noise_ridge_and_growth_law_values "
                        "and the gradient-noise law behind rho2 against sampled batches in "
                        "tests/sims/test_bn_dynamics.py",
                "stability": _PRODUCTS}),
    "bn_weight_norm_growth": Evidence("derived", "bn_weight_norm", twin=_T + "test_weight_norm_law_and_equilibrium",
                                      figures=("bn_learning_rate",), absent={"stability": _PRODUCTS}),
    "bn_wd_effective_lr": Evidence("derived", "bn_weight_norm", twin=_T + "test_weight_norm_law_and_equilibrium",
                                   figures=("bn_learning_rate",),
                                   absent={"stability": "a fixed-point iteration of " + _PRODUCTS}),
    "bn_sgd_error": Evidence(
        "derived", "bn_sgd_lyapunov",
        twin="tests/theory/test_bn_dynamics_fluctuation.py::test_mp_twin_matches_a_large_data_set",
        figures=("bn_learning_rate",),
        absent={"stability": "a damped fixed point of finite sums over an MP quadrature; it refuses lr_eff beyond the "
                             "model's stability edge (tests/theory/test_bn_dynamics_fluctuation.py)"}),
}
FORMULAS[:] = [replace(f, evidence=EVIDENCE[f.name]) for f in FORMULAS]

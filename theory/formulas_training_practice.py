"""Registered formulas of the training-practice topic (theory/training_practice.py;
docs/training_practice.md): initialization (mean field), BN running statistics (exact),
minibatch-gradient noise (exact) and SGD's excess loss (first order in lr), L1 vs L2 (exact)."""

from __future__ import annotations

from dataclasses import replace

from bnreg.params import Param

from . import training_practice as TP
from .registry import Evidence, Formula

__all__ = ["FORMULAS", "M_MAX"]

FORMULAS: list[Formula] = []
_add = FORMULAS.append

_DOC = "docs/training_practice.md"
_REF_INIT = ("Glorot & Bengio, Understanding the difficulty of training deep feedforward neural networks, AISTATS "
             "2010; He, Zhang, Ren, Sun, Delving Deep into Rectifiers, arXiv:1502.01852; Poole et al., Exponential "
             f"expressivity in deep neural networks through transient chaos, arXiv:1606.05340; {_DOC}")
_REF_EMA = ("Ioffe & Szegedy, Batch Normalization, arXiv:1502.03167 (running statistics); the warm-up "
            f"min(d, (1+t)/(10+t)) of TensorFlow's ExponentialMovingAverage(num_updates); {_DOC}")
_REF_NOISE = ("Goyal et al., Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour, arXiv:1706.02677; "
              f"Smith & Le, A Bayesian Perspective on Generalization and Stochastic Gradient Descent, "
              f"arXiv:1710.06451; {_DOC}")
_REF_PEN = f"Tibshirani, Regression shrinkage and selection via the lasso, JRSS B 58 (1996); {_DOC}"

_ACT = Param("activation", "choice", "relu", choices=TP.ACTIVATIONS, doc="activation phi")
_INIT = Param("init", "choice", "he", choices=TP.INITS,
              doc="small N(0,0.01^2) | standard N(0,1) | xavier 2/(fan_in+fan_out) | he 2/fan_in")
# Ranges are what the code computes in doubles: integers (M, N, t, depth, width, batch) capped where
# they stay exact and the closed forms O(1); the real parameters up to 1e100 (1e300 for sigma2 and
# trace_sigma, which are not squared; 1e75 for the sigma of running_var_var, whose scale is sigma^4).
# The numerics form no power or square that could overflow where the result is a double
# (theory/training_practice.py: one scaled product, d^t in two halves, the lasso as positive tail
# integrals); a result beyond a double (q_L or r_1 of an exploding init, sigma^4 rho with both huge)
# is refused by catalog.evaluate as an overflow.  Nothing here diverges.
M_MAX = 10**15
_DEPTH = Param("depth", "int", 10, lo=1, hi=1000, doc="number of layers L")
_WIDTH = Param("width", "int", 256, lo=1, hi=10**9, doc="units per layer n (square layers)")
_Q0 = Param("q0", "float", 1.0, lo=0.0, lo_open=True, hi=1e100, doc="E[x_i^2] of the input")
_D = Param("d", "float", 0.9, lo=0.0, hi=1.0, hi_open=True, doc="EMA decay (PyTorch momentum = 1 - d)")
_T = Param("t", "int", 100, lo=0, hi=10**7, doc="number of updates")
_M = Param("M", "int", lo=2, hi=M_MAX, doc="batch size", required=True)
_SIGMA = Param("sigma", "float", 1.0, lo=0.0, lo_open=True, hi=1e100, doc="population std of the unit")
_SIGMA4 = Param("sigma", "float", 1.0, lo=0.0, lo_open=True, hi=1e75,
                doc="population std of the unit (sigma^4 <= 1e300)")
_WARM = Param("warmup", "bool", False, doc="decay min(d, (1+t)/(10+t)) instead of d")

_add(Formula(
    "init_forward_q", TP.init_forward_q, (_ACT, _INIT, _DEPTH, _WIDTH, _Q0),
    "q_1 = sigma_w2 q0, q_{l+1} = sigma_w2 E[phi(h)^2], h ~ N(0, q_l); ReLU: q_{l+1} = sigma_w2 q_l/2, linear: "
    "sigma_w2 q_l; tanh/sigmoid by quadrature; sigma_w2 = n x per-weight variance",
    _REF_INIT, "mean-field pre-activation variance at layer L (wide layers)", bounds=(0.0, None)))
_add(Formula(
    "init_backward_r", TP.init_backward_r, (_ACT, _INIT, _DEPTH, _WIDTH, _Q0),
    "r_L = 1, r_l = sigma_w2 E[phi'(h_l)^2] r_{l+1}; ReLU: r_1 = (sigma_w2/2)^(L-1)",
    _REF_INIT, "mean-field backpropagated gradient variance at layer 1 relative to layer L", bounds=(0.0, None)))
_add(Formula(
    "relu_dead_fraction", TP.relu_dead_fraction,
    (Param("c", "float", lo=0.0, hi=1.0, doc="pairwise correlation of the unit's pre-activations", required=True),
     Param("batch", "int", 64, lo=1, hi=10**6, doc="inputs in the batch B")),
    "P(h_b <= 0 for all b) = int phi(z) Phi(-sqrt(c/(1-c)) z)^B dz",
    "Lu, Shin, Su, Karniadakis, Dying ReLU and Initialization, arXiv:1903.06733; " + _DOC,
    "probability that a ReLU unit is off on a whole batch of equicorrelated inputs", bounds=(0.0, 0.5)))
_add(Formula(
    "running_mean_bias", TP.running_mean_bias,
    (_D, _T, Param("s0", "float", 0.0, lo=-1e100, hi=1e100, doc="initial running mean (PyTorch: 0)"),
     Param("mu", "float", 1.0, lo=-1e100, hi=1e100, doc="population mean"), _WARM),
    "E[s_t] - mu = Pi_t (s0 - mu), Pi_t = prod_k d_k (d^t without warm-up, 9! t!/(t+9)! in the warm-up)",
    _REF_EMA, "bias of BN's running mean after t updates (exact)"))
_add(Formula(
    "running_mean_var", TP.running_mean_var, (_D, _T, _M, _SIGMA, _WARM),
    "Var(s_t) = (sigma^2/M) sum_k w_k^2, w_k = (1 - d_k) prod_{j>k} d_j; constant d: (1-d)(1-d^2t)/(1+d) sigma^2/M",
    _REF_EMA, "variance of BN's running mean after t updates (exact)", bounds=(0.0, None)))
_add(Formula(
    "running_var_bias", TP.running_var_bias,
    (_D, _T, Param("s0", "float", 1.0, lo=-1e100, hi=1e100, doc="initial running variance (PyTorch: 1)"),
     _SIGMA, _WARM),
    "E[s_t] - sigma^2 = Pi_t (s0 - sigma^2) (EMA of unbiased batch variances)",
    _REF_EMA, "bias of BN's running variance after t updates (exact)"))
_add(Formula(
    "running_var_var", TP.running_var_var,
    (_D, _T, _M, _SIGMA4, Param("rho", "float", 0.0, lo=-2.0, hi=1e100, doc="excess kurtosis of the unit"), _WARM),
    "Var(s_t) = sigma^4 (2/(M-1) + rho/M) sum_k w_k^2",
    _REF_EMA, "variance of BN's running variance after t updates (exact)", bounds=(0.0, None)))
_add(Formula(
    "minibatch_mean_var", TP.minibatch_mean_var,
    (Param("M", "int", lo=1, hi=M_MAX, doc="minibatch size (<= N without replacement)", required=True),
     Param("N", "int", None, lo=2, hi=10**12, doc="examples in the training set (default: infinitely many)"),
     Param("sigma2", "float", 1.0, lo=0.0, hi=1e300, doc="population variance (1/N) sum (g_i - gbar)^2"),
     Param("replace", "bool", False, doc="draw the minibatch with replacement")),
    "Var(minibatch mean) = sigma2 (N - M)/(M (N - 1)) without replacement, sigma2/M with",
    _REF_NOISE, "minibatch-gradient noise of one gradient component (exact, any model)", bounds=(0.0, None)))
_add(Formula(
    "sgd_excess_loss", TP.sgd_excess_loss,
    (Param("lr", "float", lo=0.0, lo_open=True, hi=1e100, doc="SGD step", required=True),
     Param("M", "int", lo=1, hi=M_MAX, doc="minibatch size (<= N without replacement)", required=True),
     Param("trace_sigma", "float", lo=0.0, hi=1e300, doc="tr of the per-example gradient covariance at w*",
           required=True),
     Param("N", "int", None, lo=2, hi=10**12, doc="examples in the training set (default: infinitely many)"),
     Param("replace", "bool", False, doc="minibatches drawn with replacement")),
    "E[L(w)] - L(w*) = lr factor(N, M) tr(Sigma_g(w*))/4 + O(lr^2), factor = (N-M)/(M(N-1)) or 1/M",
    _REF_NOISE, "stationary excess loss of constant-step SGD on a quadratic (first order in lr)", bounds=(0.0, None)))
_PEN = (Param("lam", "float", lo=0.0, hi=1e100, doc="penalty strength", required=True),
        Param("w_star", "float", 0.0, lo=-1e100, hi=1e100, doc="true coefficient"),
        _SIGMA)
_add(Formula(
    "ridge_orthonormal_risk", TP.ridge_orthonormal_risk, _PEN,
    "E[(z/(1+lam) - w*)^2] = ((lam w*)^2 + sigma^2)/(1 + lam)^2, z ~ N(w*, sigma^2)",
    _REF_PEN, "risk of L2 (ridge) per coordinate with an orthonormal design (exact)", bounds=(0.0, None)))
_add(Formula(
    "lasso_orthonormal_risk", TP.lasso_orthonormal_risk, _PEN,
    "E[(sign(z)(|z| - lam)_+ - w*)^2], closed form in Phi, phi of a = (-lam-w*)/sigma, b = (lam-w*)/sigma",
    _REF_PEN, "risk of L1 (lasso) per coordinate with an orthonormal design (exact)", bounds=(0.0, None)))
_add(Formula(
    "lasso_zero_prob", TP.lasso_zero_prob, _PEN,
    "P(w = 0) = Phi((lam - w*)/sigma) - Phi((-lam - w*)/sigma)",
    _REF_PEN, "probability that L1 sets a coefficient exactly to zero (orthonormal design, exact)",
    bounds=(0.0, 1.0)))

# ------------------------------------------------------------------------- evidence
_T = "tests/theory/test_training_practice.py::"
_MPMATH = "tests/theory/test_stability.py::test_exact_formulas_match_mpmath_at_extreme_parameters"
_EMA_TWIN = _T + "test_running_stats_twins_equal_the_derivations"
_EMA = dict(derivation="bn_running_stats", twin=_EMA_TWIN, stability=_MPMATH, demos=("bn_running_stats",))
_PEN_EV = dict(derivation="soft_threshold", twin=_T + "test_sgd_lyapunov_and_soft_threshold", stability=_MPMATH,
               demos=("weight_decay",))
_INIT_EV = dict(derivation="init_variance", twin=_T + "test_init_twins_equal_the_relu_depth_law", stability=_MPMATH,
                absent={"shown": "the initialization demo plots the whole recursion through depth (forward_variance, "
                                 "backward_variance), of which this formula is the last layer's value"})
EVIDENCE = {
    "init_forward_q": Evidence("derived", **_INIT_EV),
    "init_backward_r": Evidence("derived", **_INIT_EV),
    "relu_dead_fraction": Evidence(
        "paper", source="Lu, Shin, Su, Karniadakis, Dying ReLU and Initialization, arXiv:1903.06733: the probability "
                        "that a unit is dead on a whole batch of correlated Gaussian pre-activations (an orthant "
                        "probability, written as a one-dimensional integral)",
        stability=_MPMATH, demos=("initialization",),
        absent={"derivation": "an orthant probability of an equicorrelated Gaussian, quoted in its textbook "
                              "one-dimensional form, not derived in SymPy",
                "twin": "no SymPy expression; " + _T + "test_relu_dead_fraction_orthant_closed_forms checks it "
                        "against the closed orthant probabilities (B = 1, 2, 3) and "
                        + _T + "test_relu_dead_fraction_limits_and_brute_force by brute force"}),
    "running_mean_bias": Evidence("derived", **_EMA),
    "running_mean_var": Evidence("derived", **_EMA),
    "running_var_bias": Evidence("derived", **_EMA),
    "running_var_var": Evidence("derived", **_EMA),
    "minibatch_mean_var": Evidence("derived", "minibatch_noise", twin=_EMA_TWIN, stability=_MPMATH,
                                   demos=("lr_batch_size",)),
    "sgd_excess_loss": Evidence("derived", "minibatch_noise", twin=_EMA_TWIN, stability=_MPMATH,
                                demos=("lr_batch_size",)),
    "ridge_orthonormal_risk": Evidence("derived", **_PEN_EV),
    "lasso_orthonormal_risk": Evidence("derived", **_PEN_EV),
    "lasso_zero_prob": Evidence("derived", **_PEN_EV),
}
FORMULAS[:] = [replace(f, evidence=EVIDENCE[f.name]) for f in FORMULAS]

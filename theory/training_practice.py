"""Training practice, derived: initialization, BN running statistics, batch size and learning rate,
L1 vs L2 weight decay (docs/training_practice.md; the demos `bnreg demo initialization`,
`bn_running_stats`, `lr_batch_size`, `weight_decay`).

1. Initialization (mean field: wide layers, Gaussian pre-activations, the weights of the backward
   pass treated as independent of the forward pass).  A square net of width n,
   h_1 = W_1 x, h_{l+1} = W_{l+1} phi(h_l), W_l entries N(0, sigma_w2/n), no bias, E[x_i^2] = q0:
       q_1 = sigma_w2 q0,     q_{l+1} = sigma_w2 E[phi(h_l)^2],   h_l ~ N(0, q_l)
   Backward, for the loss L = g . h_L with g ~ N(0, I) (delta_L = g, r_L = 1):
       r_l = E[delta_l^2] = sigma_w2 E[phi'(h_l)^2] r_{l+1}
   and the weight gradient dL/dW_l = delta_l phi(h_{l-1})^T has RMS entry sqrt(r_l p_{l-1}),
   p_l = E[phi(h_l)^2] = q_{l+1}/sigma_w2, p_0 = q0.  Closed forms (SymPy): linear E phi^2 = q,
   ReLU q/2 (so ReLU keeps q for sigma_w2 = 2: He et al. 2015, arXiv:1502.01852), tanh and
   sigmoid as series in small q; otherwise quadrature.  The initializations for square layers:
   N(0, 0.01^2) per weight (sigma_w2 = 1e-4 n), N(0, 1) (sigma_w2 = n), Xavier/Glorot
   2/(fan_in + fan_out) (sigma_w2 = 1; Glorot & Bengio, AISTATS 2010) and He 2/fan_in (sigma_w2 = 2).
   Dying ReLU at initialization: with zero biases the inputs' pre-activations at layer l are
   equicorrelated with c_l, c_{l+1} = (sqrt(1 - c^2) + (pi - arccos c) c)/pi (the ReLU arc-cosine
   kernel, Cho & Saul 2009), and a unit is off on all B inputs of a batch with probability
   int phi(z) Phi(-sqrt(c/(1-c)) z)^B dz (Lu, Shin, Su, Karniadakis, "Dying ReLU and Initialization",
   arXiv:1903.06733, study the same collapse).

2. BN running statistics: the exponential moving average s <- d s + (1 - d) x_t of i.i.d. batch
   statistics x_t (mean mu, variance v), with constant d or with the warm-up
   d_t = min(d, (1 + t)/(10 + t)) (t = updates done before this one).  Unrolled exactly:
       s_t = Pi_t s_0 + sum_k w_k x_k,  Pi_t = prod_k d_k,  w_k = (1 - d_k) prod_{j>k} d_j,
       sum_k w_k = 1 - Pi_t,
   so  E[s_t] - mu = Pi_t (s_0 - mu)  and  Var(s_t) = v sum_k w_k^2.  Constant d: Pi_t = d^t,
   sum w^2 = (1 - d)(1 - d^{2t})/(1 + d).  Running mean: x = batch mean, v = sigma^2/M.  Running
   variance: x = unbiased batch variance (PyTorch, and `sims.nn`), E = sigma^2 and
   v = sigma^4 (2/(M - 1) + rho/M), rho the excess kurtosis (exact for i.i.d. inputs).

3. Minibatch-gradient noise.  For per-example gradients g_1..g_N (population mean gbar, population
   covariance Sigma = (1/N) sum (g_i - gbar)(g_i - gbar)^T) a minibatch mean of M of them has
   covariance Sigma (N - M)/(M (N - 1)) when the M are drawn without replacement (the usual
   shuffled minibatch) and Sigma/M with replacement: exact, any N, any model.  For linear least
   squares L = (1/2N) sum (x_i . w - y_i)^2, g_i = (x_i . w - y_i) x_i, so the noise covariance at
   any w is explicit.  SGD with step lr then fluctuates around w* with, to first order in lr,
   E[L(w)] - L(w*) = lr tr(C)/4 with C the minibatch covariance at w* (from the Lyapunov equation
   H S + S H = lr C): it depends on lr and M only through lr/M (with replacement) -- the linear
   scaling rule of Goyal et al., "Accurate, Large Minibatch SGD", arXiv:1706.02677.

4. L1 vs L2 with an orthonormal design (X^T X = I): the least-squares coefficient is
   z ~ N(w*, sigma^2) per coordinate; ridge (penalty lam |w|^2/2) gives z/(1 + lam), the lasso
   (lam |w|_1) the soft threshold sign(z)(|z| - lam)_+.  Risks and the probability of an exact
   zero are closed forms in Phi and phi (derived here by integration).

Layout.  This module is the topic's public face: it re-exports the SymPy derivations and `bnreg
derive` steps (training_practice_derive) and the numeric functions of training_practice_init (1),
training_practice_ema (2), training_practice_noise (3) and training_practice_penalties (4); their
exact double-precision building blocks are in double_double.  Names outside `__all__` (the SymPy
symbols, WARMUP_OFFSET) are re-exported as `name as name`.
"""

from __future__ import annotations

from .training_practice_derive import (
    DERIVATION_STEPS,
    derive_activation_moments,
    derive_ema_constant,
    derive_ema_unrolled,
    derive_ema_warmup,
    derive_minibatch_noise,
    derive_relu_depth,
    derive_sgd_excess_loss,
    derive_soft_threshold,
    derive_tanh_small_q,
)
from .training_practice_derive import dd as dd
from .training_practice_derive import lam as lam
from .training_practice_derive import q as q
from .training_practice_derive import s2w as s2w
from .training_practice_derive import sig as sig
from .training_practice_derive import t_ as t_
from .training_practice_derive import ws as ws
from .training_practice_derive import x as x
from .training_practice_derive import z as z
from .training_practice_ema import (
    STATS,
    batch_var_var,
    ema_bias,
    ema_decays,
    ema_pi,
    ema_sum_w2,
    ema_terms,
    ema_variance,
    ema_weights,
    running_mean_bias,
    running_mean_var,
    running_var_bias,
    running_var_var,
)
from .training_practice_ema import WARMUP_OFFSET as WARMUP_OFFSET
from .training_practice_init import (
    ACTIVATIONS,
    INITS,
    activation_moments,
    backward_variance,
    forward_variance,
    init_backward_r,
    init_forward_q,
    init_sigma_w2,
    relu_correlation_map,
    relu_correlations,
    relu_dead_fraction,
    weight_grad_rms,
)
from .training_practice_noise import (
    gradient_noise_cov,
    minibatch_factor,
    minibatch_mean_var,
    sgd_excess_loss,
    sgd_stationary_excess,
)
from .training_practice_penalties import lasso_orthonormal_risk, lasso_zero_prob, ridge_orthonormal_risk

__all__ = [
    "ACTIVATIONS", "INITS", "STATS",
    "derive_activation_moments", "derive_relu_depth", "derive_tanh_small_q", "derive_ema_unrolled",
    "derive_ema_constant", "derive_ema_warmup", "derive_minibatch_noise", "derive_sgd_excess_loss",
    "derive_soft_threshold",
    "init_sigma_w2", "activation_moments", "forward_variance", "backward_variance", "weight_grad_rms",
    "init_forward_q", "init_backward_r",
    "relu_correlation_map", "relu_correlations", "relu_dead_fraction",
    "ema_decays", "ema_weights", "ema_terms", "ema_pi", "ema_sum_w2", "ema_bias", "ema_variance", "batch_var_var",
    "running_mean_bias", "running_mean_var", "running_var_bias", "running_var_var",
    "minibatch_factor", "minibatch_mean_var", "gradient_noise_cov", "sgd_excess_loss", "sgd_stationary_excess",
    "ridge_orthonormal_risk", "lasso_orthonormal_risk", "lasso_zero_prob",
    "DERIVATION_STEPS",
]

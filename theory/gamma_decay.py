"""Gamma decay: the regularization BN adds to a GLM loss, zeta(h), and what it leaves out.
Explained, with measurements, in docs/gamma_decay.md.  References: Luo, Wang, Shao, Peng, "Towards
Understanding Regularization in Batch Normalization", ICLR 2019 (arXiv:1809.00846) §2, and the
authors' introductory write-up of that paper (in Chinese; "the write-up" below) §1.2-§1.5, whose
errors are listed in docs/errata.md.

Setup.  A unit h = w·x with population stats (mu_P, sigma_P), u = (h - mu_P)/sigma_P.
BN output hhat = gamma (h - mu_B)/sigma_B + beta; PN output hbar = gamma u + beta; so
hhat - hbar = gamma D with D = (u - m)/s - u, m and s the batch mean/std (ddof 0) of the
standardized batch, which contains the sample itself.  GLM loss l(eta) = A(eta) - y eta.
Taylor around hbar and the expectation over the other M - 1 batch members give

  E[l(hhat) | u] - l(hbar) = (A'(hbar) - y) gamma E[D|u] + A''(hbar) gamma^2 E[D^2|u]/2
                             + A'''(hbar) gamma^3 E[D^3|u]/6 + A''''(hbar) gamma^4 E[D^4|u]/24 + ...

with (derived below, exact moment engine, sample inside its own batch)
  E[D|u]   = (g/2 + 3 (rho+2) u/8 - u^3/2)/M + O(M^-2)          (first-order term)
  E[D^2|u] = (1 + g u + (rho+2) u^2/4)/M + O(M^-2),  E[D^3|u], E[D^4|u] = O(M^-2).
Averaging the second-order term over the data gives the gamma decay L_BN ~ L_PN + zeta gamma^2,
  zeta = (rho+2)/(8M) F_gamma + mu_d2A/(2M) + g G_gamma/(2M),
  F_gamma = mean A''(hbar) u^2, mu_d2A = mean A''(hbar), G_gamma = mean A''(hbar) u;
Luo et al.'s zeta is the same without the skewness term g G_gamma/(2M).  The first-order term
that Luo et al. drop is of the same order 1/M; see `derive_squared_exact` for what it does.

Numeric functions take the input law as a `family` (theory.distributions) and average over it by
quadrature: the population is the training distribution (P -> infinity), and labels enter
only through E[y|u] = A'(gamma0 u + beta0) (a well-specified GLM), because the loss is linear in y.

Layout.  This module is the topic's public face: it re-exports the derivations and the `bnreg derive`
steps of gamma_decay_derive and the numeric twins of gamma_decay_numeric.  Names outside `__all__`
(the SymPy symbols, DERIVATION_STEPS) are re-exported as `name as name`.
"""

from __future__ import annotations

from .gamma_decay_derive import (
    CASES,
    GLMS,
    derive_deviation_moments,
    derive_first_order_mean,
    derive_glm_taylor,
    derive_squared_exact,
    derive_zeta,
    derive_zeta_special,
)
from .gamma_decay_derive import DERIVATION_STEPS as DERIVATION_STEPS
from .gamma_decay_derive import A as A
from .gamma_decay_derive import F_gamma as F_gamma
from .gamma_decay_derive import G_gamma as G_gamma
from .gamma_decay_derive import M as M
from .gamma_decay_derive import beta as beta
from .gamma_decay_derive import derive_pn_wn as derive_pn_wn
from .gamma_decay_derive import g as g
from .gamma_decay_derive import gamma as gamma
from .gamma_decay_derive import m5 as m5
from .gamma_decay_derive import m6 as m6
from .gamma_decay_derive import mu_d2A as mu_d2A
from .gamma_decay_derive import rho as rho
from .gamma_decay_derive import u as u
from .gamma_decay_derive import y as y
from .gamma_decay_numeric import (
    bn_loss_excess,
    bn_loss_grad,
    bn_mean_shift,
    deviation_coeffs,
    glm,
    glm_stats,
    optimal_gamma_ratio,
    zeta,
    zeta_special,
)

__all__ = [
    "GLMS", "CASES",
    "derive_deviation_moments", "derive_glm_taylor", "derive_zeta", "derive_zeta_special",
    "derive_squared_exact", "derive_first_order_mean", "derive_pn_wn",
    "deviation_coeffs", "zeta", "glm_stats", "zeta_special", "bn_mean_shift",
    "bn_loss_excess", "bn_loss_grad", "optimal_gamma_ratio", "glm",
]

"""Teacher-student generalization with random-matrix theory.  Explained, with measurements, in
docs/teacher_student.md; the write-up's errors on this topic are in docs/errata.md.

Setup: teacher y = w*.x + eps, x ~ N(0, I_N), w*_i ~ N(0, 1/N), eps ~ N(0, delta2); P = alpha N
training pairs (design X, P x N).  A linear student phi(x) = v.x has, for a fresh x, the
generalization error eps_gen = E_x[(phi(x) - w*.x)^2] = |v - w*|^2 (test noise excluded;
add delta2 for the test loss).

Spectral object: A = X^T X / N (N x N).  As N, P -> inf at fixed alpha its eigenvalues follow
the Marchenko-Pastur law with ratio alpha: an atom (1 - alpha) at 0 when alpha < 1 and the
density rho(s) = sqrt((s - a)(b - s)) / (2 pi s) on [a, b], a, b = (1 -+ sqrt(alpha))^2.
Its Stieltjes transform G(alpha, lam) = (1/N) tr (A + lam)^-1 solves the self-consistent
equation G = 1/(lam + alpha/(1 + G)), i.e. lam G^2 + (lam + alpha - 1) G - 1 = 0.

Students (Krogh & Hertz 1992, J. Phys. A 25; Luo, Wang, Shao, Peng, "Towards Understanding
Regularization in Batch Normalization", ICLR 2019 (arXiv:1809.00846) §4, and the authors'
introductory write-up of that paper (in Chinese; "the write-up" below) §2.1-§2.3):
- ridge (= WN + gamma decay at its global minimum) with the Krogh-Hertz cost normalized per N:
  v = (A + lam)^-1 X^T y / N, eps(lam) = delta2 d(lam G)/d lam - lam^2 dG/d lam; optimum lam = delta2.
- pseudo-inverse (= plain SGD from w = 0): the limit lam -> 0+:
  1 - alpha + alpha delta2/(1 - alpha) (alpha < 1), delta2/(alpha - 1) (alpha > 1).
- the convention trap: the cost (1/P) sum (phi - y)^2 + zeta |v|^2 has lam = alpha zeta.
- BN at convergence (derived here, docs/teacher_student.md): BN normalizes with the *training
  set* statistics, so its gamma decay zeta gamma^2 = zeta v^T C_train v penalizes the training
  predictions, not |v|^2: the minimizer is the (centred) pseudo-inverse shrunk by 1/(1 + zeta).
  It regularizes no small-eigenvalue direction and diverges at alpha = 1 like plain SGD.
- gradient flow from v0 (the mean dynamics of SGD) on the cost (1/P) sum (v.x - y)^2 for a time
  tau: mode s of A is learned by the filter f = 1 - exp(-2 s tau / alpha); early stopping is a
  spectral regularizer that keeps the error finite at alpha = 1 for every finite tau.

Finite N: exact pseudo-inverse errors from inverse-Wishart moments; the O(1/N) correction of any
linear spectral statistic from the Bai-Silverstein CLT (Ann. Probab. 32, 2004, Thm 1.1, real case).

Layout.  This module is the topic's public face: it re-exports the derivations and the `bnreg derive`
steps of teacher_student_derive and the numeric twins of teacher_student_numeric.  Names outside
`__all__` (the SymPy symbols, LAM_MAX) are re-exported as `name as name`.
"""

from __future__ import annotations

from .teacher_student_derive import (
    DERIVATION_STEPS,
    SYMBOLS,
    derive_bn_limit,
    derive_early_stopping,
    derive_mp_density,
    derive_mp_stieltjes,
    derive_ridge_error,
    derive_ridge_optimum,
    derive_sgd_limits,
    derive_zeta_mapping,
)
from .teacher_student_derive import Gs as Gs
from .teacher_student_derive import alpha as alpha
from .teacher_student_derive import delta2 as delta2
from .teacher_student_derive import lam as lam
from .teacher_student_derive import s as s
from .teacher_student_derive import tau as tau
from .teacher_student_derive import zeta as zeta
from .teacher_student_numeric import LAM_MAX as LAM_MAX
from .teacher_student_numeric import (
    bn_shrinkage,
    early_stopping_lam,
    gen_error_bn_limit,
    gen_error_gd,
    gen_error_ridge,
    gen_error_sgd,
    gen_error_sgd_exact,
    gen_error_wn,
    mp_atom,
    mp_density,
    mp_edges,
    mp_nodes,
    mp_stieltjes,
    mp_stieltjes_dlam,
    ridge_finite_n_correction,
    ridge_optimal_lam,
    spectral_mean_correction,
    stieltjes_finite_n_correction,
    zeta_bn,
    zeta_to_lam,
)

__all__ = [
    "SYMBOLS",
    "derive_mp_stieltjes",
    "derive_mp_density",
    "derive_ridge_error",
    "derive_ridge_optimum",
    "derive_sgd_limits",
    "derive_zeta_mapping",
    "derive_bn_limit",
    "mp_edges",
    "mp_atom",
    "mp_density",
    "mp_nodes",
    "mp_stieltjes",
    "mp_stieltjes_dlam",
    "gen_error_sgd",
    "gen_error_sgd_exact",
    "gen_error_ridge",
    "ridge_optimal_lam",
    "zeta_to_lam",
    "gen_error_wn",
    "zeta_bn",
    "bn_shrinkage",
    "gen_error_bn_limit",
    "gen_error_gd",
    "early_stopping_lam",
    "derive_early_stopping",
    "spectral_mean_correction",
    "ridge_finite_n_correction",
    "stieltjes_finite_n_correction",
    "DERIVATION_STEPS",
]

"""Batch statistics as noise: laws of mu_B and sigma_B, the simple example of the authors'
write-up, and the expansion of E[(hhat - hbar)^2].  Explained, with measurements, in docs/bn_noise.md.

References: Luo, Wang, Shao, Peng, "Towards Understanding Regularization in Batch Normalization",
ICLR 2019 (arXiv:1809.00846), section 2 and appendix; the authors' introductory write-up of that
paper (in Chinese; "the write-up" below), sections 1.1 and 1.3, whose errors are listed in
docs/errata.md; Teye, Azizpour, Smith, ICML 2018 (arXiv:1802.06455) for the laws of mu_B, sigma_B.

Conventions: a batch holds M i.i.d. pre-activations h with population mean mu and std sigma;
u = (h - mu)/sigma has skewness g = E[u^3], excess kurtosis rho = E[u^4] - 3 and higher
moments m_k = E[u^k].  mu_B is the batch mean, sigma_B the batch std with ddof = 0 (as BN).

Every `derive_*` returns SymPy expressions built from the exact moment engine
(`theory.sample_moments`); every plain function is the numeric twin, written with plain
arithmetic so that tests can call it on SymPy symbols and prove it equals the derivation.

Layout.  This module is the topic's public face: it re-exports the derivations and the `bnreg derive`
steps of bn_noise_derive and the numeric twins of bn_noise_numeric.  Names outside `__all__` (the
SymPy symbols, DERIVATION_STEPS) are re-exported as `name as name`.
"""

from __future__ import annotations

from .bn_noise_derive import DERIVATION_STEPS as DERIVATION_STEPS
from .bn_noise_derive import (
    SYMBOLS,
    derive_batch_mean_law,
    derive_batch_std_gaussian_exact,
    derive_batch_std_series,
    derive_batch_variance_moments,
    derive_bn_deviation_ms,
    derive_bn_deviation_ms_seed,
    derive_gamma_ratio_series,
    derive_sample_batch_covariance,
    derive_simple_error,
    derive_simple_error_identity,
)
from .bn_noise_derive import M as M
from .bn_noise_derive import g as g
from .bn_noise_derive import gamma as gamma
from .bn_noise_derive import m5 as m5
from .bn_noise_derive import m6 as m6
from .bn_noise_derive import mu as mu
from .bn_noise_derive import rho as rho
from .bn_noise_derive import sigma as sigma
from .bn_noise_derive import u as u
from .bn_noise_numeric import (
    batch_mean_var,
    batch_std_mean,
    batch_std_var,
    bn_deviation_ms,
    gaussian_log_kappa,
    gaussian_std_deficit,
    sample_mean_corr,
    sample_std_corr,
    simple_error,
)

__all__ = [
    "SYMBOLS",
    "derive_batch_mean_law",
    "derive_batch_variance_moments",
    "derive_batch_std_series",
    "derive_batch_std_gaussian_exact",
    "derive_gamma_ratio_series",
    "derive_simple_error_identity",
    "derive_simple_error",
    "derive_sample_batch_covariance",
    "derive_bn_deviation_ms",
    "derive_bn_deviation_ms_seed",
    "batch_mean_var",
    "batch_std_mean",
    "batch_std_var",
    "simple_error",
    "sample_mean_corr",
    "sample_std_corr",
    "bn_deviation_ms",
    "gaussian_log_kappa",
    "gaussian_std_deficit",
]

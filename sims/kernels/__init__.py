"""Numba kernels, one module per topic (batchnorm: the one BN implementation of the CNN library).

The Monte-Carlo kernels fill additive per-chunk sums (see bnreg.runtime.mc); the CNN kernels
(cnn, batchnorm) fill row ranges of preallocated outputs (see bnreg.runtime.parts)."""

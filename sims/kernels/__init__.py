"""Numba kernels, one module per topic.  Each fills additive per-chunk sums (see bnreg.runtime.mc)."""

"""Monte Carlo for batch statistics as noise (docs/bn_noise.md): the laws of mu_B and
sigma_B, the simple example of the authors' write-up of Luo et al., ICLR 2019 (arXiv:1809.00846),
the correlation of a sample with its own batch, and the BN-vs-PN deviation of a sample inside its batch."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from bnreg.params import ParameterError, check_finite_array, check_float, check_int
from bnreg.runtime import MCResult, jackknife, run_chunks, split_batches

from .families import Family, get_family, kernel_for
from .kernels.bn_noise import N_ACC, N_Q, Q_ERR, Q_MU, Q_SD, Q_X1, batch_stats_kernel, member_deviation_kernel

__all__ = ["BatchStatsResult", "DeviationResult", "simulate_batch_stats", "simulate_bn_deviation"]


@dataclass(frozen=True)
class BatchStatsResult:
    """Pooled sums over batches; every statistic comes back as an MCResult (jackknife SE)."""

    family: str
    M: int
    mu: float
    sigma: float
    n_batches: int
    chunk_sums: np.ndarray = field(repr=False)
    hist: np.ndarray = field(repr=False)
    hist_edges: np.ndarray = field(repr=False)

    def _stat(self, f) -> MCResult:
        def stat(t):
            nb = t[-1]
            S = t[:N_Q] / nb
            C = t[N_Q:N_ACC].reshape(N_Q, N_Q) / nb
            return f(S, C, nb)

        return jackknife(stat, self.chunk_sums, self.n_batches * self.M)

    def mean(self, k: int) -> MCResult:
        """Mean over batches of per-batch quantity k (kernels.bn_noise Q_* index)."""
        return self._stat(lambda S, C, nb: S[k])

    def cov(self, k: int, j: int) -> MCResult:
        """Covariance over batches of quantities k and j (ddof 1)."""
        return self._stat(lambda S, C, nb: (C[k, j] - S[k] * S[j]) * nb / (nb - 1))

    def corr(self, k: int, j: int) -> MCResult:
        """Correlation over batches of quantities k and j."""
        return self._stat(lambda S, C, nb: (C[k, j] - S[k] * S[j])
                          / math.sqrt((C[k, k] - S[k] ** 2) * (C[j, j] - S[j] ** 2)))

    # named statistics
    def mean_mu(self) -> MCResult:
        """E[mu_B]."""
        return self.mean(Q_MU)

    def var_mu(self) -> MCResult:
        """Var(mu_B) (theory: bn_noise.batch_mean_var)."""
        return self.cov(Q_MU, Q_MU)

    def mean_sd(self) -> MCResult:
        """E[sigma_B] (theory: bn_noise.batch_std_mean)."""
        return self.mean(Q_SD)

    def var_sd(self) -> MCResult:
        """Var(sigma_B) (theory: bn_noise.batch_std_var)."""
        return self.cov(Q_SD, Q_SD)

    def simple_error(self) -> MCResult:
        """E[(b - a)^2], the simple example (theory: bn_noise.simple_error)."""
        return self.mean(Q_ERR)

    def corr_sample_mean(self) -> MCResult:
        """Corr(x_1, mu_B) of a sample with its own batch mean (theory: bn_noise.sample_mean_corr)."""
        return self.corr(Q_X1, Q_MU)

    def corr_sample_sd(self) -> MCResult:
        """Corr(x_1, sigma_B) of a sample with its own batch std (theory: bn_noise.sample_std_corr)."""
        return self.corr(Q_X1, Q_SD)


def simulate_batch_stats(
    family: str | Family = "gaussian",
    M: int = 32,
    n_batches: int = 100_000,
    seed: int = 0,
    mu: float = 0.0,
    sigma: float = 1.0,
    n_chunks: int = 64,
    hist_range: tuple[float, float] | None = None,
    hist_bins: int = 0,
    threads: int | None = None,
    progress: bool = False,
) -> BatchStatsResult:
    """Draw n_batches batches of M inputs x = mu + sigma u (u standardized `family`) and
    accumulate the batch mean mu_B, batch std sigma_B (ddof=0), the simple-example error
    mean_i ((x_i - mu_B)/sigma_B - u_i)^2 and the first sample x_1 of each batch.

    Parameters: family input family name or Family; M batch size (>= 2); n_batches total batches;
    seed base seed (results are bit-identical for any thread count); mu, sigma location and scale;
    n_chunks independent streams (jackknife SE); hist_range, hist_bins optional histogram of
    sigma_B; threads, progress execution options.
    Returns: BatchStatsResult, whose methods give each statistic as an MCResult.
    Protocol: docs/verification.md; theory: docs/bn_noise.md."""
    fam = get_family(family)
    M = check_int("M", M, 2)
    mu = check_float("mu", mu)
    sigma = check_float("sigma", sigma, 0.0, lo_open=True)
    per = split_batches(n_batches, n_chunks)
    if hist_bins:
        hist_bins = check_int("hist_bins", hist_bins, 1)
        if hist_range is None or not hist_range[1] > hist_range[0]:
            raise ParameterError("hist_range must be (lo, hi) with hi > lo when hist_bins > 0")
    lo, hi = hist_range if hist_bins else (0.0, 1.0)

    def chunk(i, rng):
        acc = np.zeros(N_ACC + 1 + hist_bins)
        h = np.zeros(hist_bins)
        kernel_for(batch_stats_kernel, fam)(rng, fam.code, fam.mean, fam.std, mu, sigma, M, per, lo, hi, h, acc[:N_ACC])
        acc[N_ACC] = per
        acc[N_ACC + 1:] = h
        return acc

    sums = run_chunks(chunk, n_chunks, seed, threads, progress, desc=f"{fam.name} M={M}")
    return BatchStatsResult(
        fam.name, M, mu, sigma, per * n_chunks, sums[:, : N_ACC + 1],
        sums[:, N_ACC + 1:].sum(axis=0), np.linspace(lo, hi, hist_bins + 1) if hist_bins else np.empty(0))


@dataclass(frozen=True)
class DeviationResult:
    """E[((u - mu_B)/sigma_B - u)^2] for each u: `ms[k]` is an MCResult (gamma = 1)."""

    family: str
    M: int
    u: np.ndarray
    ms: tuple[MCResult, ...]


def simulate_bn_deviation(
    family: str | Family = "gaussian",
    M: int = 32,
    u=(-2.0, -1.0, 0.0, 1.0, 2.0),
    n_batches: int = 100_000,
    seed: int = 0,
    n_chunks: int = 64,
    threads: int | None = None,
    progress: bool = False,
) -> DeviationResult:
    """MC of the mean-square BN-vs-PN deviation of a sample with standardized value u that
    belongs to its own batch of M (the others are i.i.d. draws of `family`).

    Parameters: family input family; M batch size (>= 2); u grid of standardized sample values;
    n_batches, seed, n_chunks, threads, progress as in `simulate_batch_stats`.
    Returns: DeviationResult, ms[k] = E[(hhat - hbar)^2 | u[k]] at gamma = 1 (theory:
    bn_noise.bn_deviation_ms; docs/bn_noise.md)."""
    fam = get_family(family)
    M = check_int("M", M, 2)
    u_grid = check_finite_array("u", np.atleast_1d(np.asarray(u, dtype=float)), ndim=1)
    per = split_batches(n_batches, n_chunks)

    def chunk(i, rng):
        acc = np.zeros((len(u_grid), 2))
        kernel_for(member_deviation_kernel, fam)(rng, fam.code, fam.mean, fam.std, M, per, u_grid, acc)
        return acc

    sums = run_chunks(chunk, n_chunks, seed, threads, progress, desc=f"deviation {fam.name} M={M}")
    nb = per * n_chunks
    ms = tuple(jackknife(lambda t, k=k: t[k, 0] / nb, sums, nb * M) for k in range(len(u_grid)))
    return DeviationResult(fam.name, M, u_grid, ms)

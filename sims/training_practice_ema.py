"""BN's running statistics, simulated: independent runs of the EMA of batch means and variances (a numba kernel).

Part 2 of the training-practice simulations (the public face: sims/training_practice.py; theory:
bnreg.theory.training_practice, running_mean_bias/var and running_var_bias/var).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba as nb
import numpy as np

from bnreg.params import check_bool, check_float, check_int
from bnreg.runtime import MCResult, jackknife, run_chunks, split_batches
from bnreg.theory.training_practice import ema_decays

from .families import Family, get_family

__all__ = ["ema_kernel", "RunningStatsResult", "simulate_running_stats"]


@nb.njit(cache=True, nogil=True)
def ema_kernel(rng, draw, raw_mean, inv_std, M, decays, rec, mu, sigma, s0_mean, s0_var, n_rep,
               buf, out):  # pragma: no cover - njit
    """n_rep independent runs of BN's running statistics: per update t, a batch of M inputs
    x = mu + sigma u (u standardized draws), batch mean and unbiased batch variance, then
    s <- d_t s + (1 - d_t) stat.  At the updates flagged in rec (after update t + 1), adds
    running mean, its square, running variance, its square to out[j, 0:4]."""
    T = decays.shape[0]
    for _ in range(n_rep):
        sm = s0_mean
        sv = s0_var
        j = 0
        for t in range(T):
            s = 0.0
            for i in range(M):
                xv = mu + sigma * (draw(rng) - raw_mean) * inv_std
                buf[i] = xv
                s += xv
            mean = s / M
            ss = 0.0
            for i in range(M):
                e = buf[i] - mean
                ss += e * e
            var = ss / (M - 1)
            d = decays[t]
            sm = d * sm + (1.0 - d) * mean
            sv = d * sv + (1.0 - d) * var
            if rec[t]:
                out[j, 0] += sm
                out[j, 1] += sm * sm
                out[j, 2] += sv
                out[j, 3] += sv * sv
                j += 1


@dataclass(frozen=True)
class RunningStatsResult:
    """Per recorded update count `steps[j]`: MCResults (jackknife over chunks of runs) of the running
    mean's mean and variance, and of the running variance's mean and variance across runs."""

    steps: np.ndarray
    n_runs: int
    sums: np.ndarray = field(repr=False)  # (chunks, n_rec, 5): 4 sums and the run count

    def _jk(self, f) -> MCResult:
        return jackknife(f, self.sums, self.n_runs)

    def mean_of_mean(self, j: int) -> MCResult:
        """E[running mean] after steps[j] updates."""
        return self._jk(lambda t: t[j, 0] / t[j, 4])

    def var_of_mean(self, j: int) -> MCResult:
        """Var(running mean) after steps[j] updates (ddof 1 over runs)."""
        return self._jk(lambda t: _var(t[j], 0))

    def mean_of_var(self, j: int) -> MCResult:
        """E[running variance] after steps[j] updates."""
        return self._jk(lambda t: t[j, 2] / t[j, 4])

    def var_of_var(self, j: int) -> MCResult:
        """Var(running variance) after steps[j] updates (ddof 1 over runs)."""
        return self._jk(lambda t: _var(t[j], 2))


def _var(row: np.ndarray, a: int) -> float:
    n = row[4]
    return (row[a + 1] - row[a] ** 2 / n) / (n - 1)


def simulate_running_stats(M: int = 8, d: float = 0.9, steps=(10, 100), warmup: bool = False,
                           family: str | Family = "gaussian", mu: float = 1.0, sigma: float = 2.0,
                           s0_mean: float = 0.0, s0_var: float = 1.0, n_runs: int = 10_000, seed: int = 0,
                           n_chunks: int = 64, threads: int | None = None) -> RunningStatsResult:
    """Independent runs of BN's running mean and variance (EMA with decay d, or with the warm-up
    min(d, (1 + t)/(10 + t))) over batches of M i.i.d. inputs mu + sigma u (u a standardized
    `family` draw), started at s0_mean, s0_var (PyTorch: 0 and 1), recorded after each of
    `steps` updates.  Theory: running_mean_bias/var, running_var_bias/var.

    Parameters: M >= 2, d in [0, 1), steps (update counts >= 1), warmup, family, mu, sigma > 0,
    s0_mean, s0_var, n_runs, seed, n_chunks.  Returns RunningStatsResult."""
    M = check_int("M", M, 2)
    fam = get_family(family)
    st = np.unique(np.asarray([check_int("steps", s, 1, 10**7) for s in np.atleast_1d(steps)]))
    T = int(st[-1])
    dk = ema_decays(d, T, check_bool("warmup", warmup))
    rec = np.zeros(T, dtype=np.bool_)
    rec[st - 1] = True
    mu = check_float("mu", mu)
    sigma = check_float("sigma", sigma, 0.0, lo_open=True)
    per = split_batches(n_runs, n_chunks)

    def chunk(i: int, rng: np.random.Generator) -> np.ndarray:
        out = np.zeros((len(st), 5))
        ema_kernel(rng, fam.draw, fam.mean, 1.0 / fam.std, M, dk, rec, mu, sigma, float(s0_mean), float(s0_var),
                   per, np.empty(M), out)
        out[:, 4] = per
        return out

    sums = run_chunks(chunk, n_chunks, seed, threads)
    return RunningStatsResult(st, per * n_chunks, sums)

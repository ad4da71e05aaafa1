"""Monte Carlo of the expected BN loss of a GLM unit vs its PN loss: the gamma decay of Luo, Wang,
Shao, Peng, "Towards Understanding Regularization in Batch Normalization", ICLR 2019
(arXiv:1809.00846) §2, measured.  Results and protocol in docs/gamma_decay.md.

Protocol: the training distribution is the population (P -> infinity): every batch is M fresh
standardized draws of the input family, so PN's statistics are exactly (0, 1).  Labels enter
through E[y|u] = A'(gamma0 u + beta0), a well-specified GLM with true parameters (gamma0, beta0);
this is exact for the expected loss because the GLM loss is linear in y.  beta is held at beta0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bnreg.params import ParameterError, check_choice, check_finite_array, check_float, check_int
from bnreg.runtime import MCResult, jackknife, run_chunks, split_batches
from bnreg.theory.gamma_decay import GLMS

from .families import get_family, kernel_for
from .kernels.gamma_decay import (
    IDENTITY,
    LOGISTIC,
    N_STAT,
    POISSON,
    RELU,
    S_CURV_BN,
    S_DL,
    S_FIRST,
    S_GRAD_BN,
    S_GRAD_PN,
    S_SECOND,
    SQUARED,
    glm_bn_kernel,
)

__all__ = ["SETUPS", "GAMMA_OFF", "GLMLossResult", "simulate_glm_bn", "simulate_optimal_gamma"]

# (gamma0, beta0): true GLM parameters, chosen so every case is non-degenerate (ReLU and logistic
# with beta0 != 0, so the active fraction is not 1/2 and the sigmoid approximation is tested).
SETUPS = {
    "identity": (1.0, 0.0), "squared": (1.0, 0.0), "no_bias": (1.0, 0.0),
    "logistic": (2.0, 0.5), "poisson": (0.5, 0.0), "relu": (1.0, 0.5),
}
NEWTON_STOP = 1e-3  # simulate_optimal_gamma stops once a Newton step is below this many SEs
GAMMA_OFF = 1.5  # off-optimum point gamma = 1.5 gamma0, where the first-order term is not zero

_KIND = {"identity": IDENTITY, "squared": SQUARED, "no_bias": SQUARED, "logistic": LOGISTIC,
         "poisson": POISSON, "relu": RELU}


@dataclass(frozen=True)
class GLMLossResult:
    """Per gamma: MCResults of E[l(hhat) - l(hbar)] (dl), of the first- and second-order Taylor
    terms, of dL_BN/dgamma and of d(L_BN - L_PN)/dgamma; `sums` keeps the chunk sums."""

    case: str
    family: str
    M: int
    gammas: np.ndarray
    n_members: int
    sums: np.ndarray  # (chunks, K, N_STAT)

    def _stat(self, k: int, s: int) -> MCResult:
        n = self.n_members
        return jackknife(lambda t: t[k, s] / n, self.sums, n)

    def dl(self, k: int = 0) -> MCResult:
        """E[l(hhat) - l(hbar)] = L_BN - L_PN at gammas[k] (theory: gamma_decay.bn_loss_excess)."""
        return self._stat(k, S_DL)

    def first(self, k: int = 0) -> MCResult:
        """First-order Taylor term E[(A'(hbar) - y)(hhat - hbar)] at gammas[k]."""
        return self._stat(k, S_FIRST)

    def second(self, k: int = 0) -> MCResult:
        """Second-order Taylor term E[A''(hbar)(hhat - hbar)^2/2] at gammas[k] (~ zeta gamma^2)."""
        return self._stat(k, S_SECOND)

    def grad_excess(self, k: int = 0) -> MCResult:
        """d/dgamma (L_BN - L_PN) at gammas[k]."""
        n = self.n_members
        return jackknife(lambda t: (t[k, S_GRAD_BN] - t[k, S_GRAD_PN]) / n, self.sums, n)

    def newton_step(self, k: int = 0) -> MCResult:
        """gamma - dL_BN/dgamma / d^2L_BN/dgamma^2 at gammas[k] (jackknifed ratio)."""
        g = float(self.gammas[k])
        return jackknife(lambda t: g - t[k, S_GRAD_BN] / t[k, S_CURV_BN], self.sums, self.n_members)


def simulate_glm_bn(case: str, M: int, gammas, gamma0: float = 1.0, beta0: float = 0.0,
                    family: str = "gaussian", n_batches: int = 100_000, seed: int = 0, n_chunks: int = 64,
                    threads: int | None = None, progress: bool = False) -> GLMLossResult:
    """MC of the BN vs PN loss of GLM `case` at the given gammas (beta = beta0), see module doc.

    Parameters: case one of theory.gamma_decay.GLMS; M batch size (>= 2); gammas the BN/PN scales
    (> 0); gamma0, beta0 true GLM parameters; family input law; n_batches total batches; seed base
    seed; n_chunks independent streams (jackknife SE); threads, progress execution options.
    Returns: GLMLossResult (dl, first, second, grad_excess, newton_step per gamma)."""
    case = check_choice("case", case, GLMS)
    M = check_int("M", M, 2)
    fam = get_family(family)
    g = check_finite_array("gammas", np.atleast_1d(np.asarray(gammas, dtype=float)), ndim=1)
    if np.any(g <= 0):
        raise ParameterError("gammas must satisfy gamma > 0")
    gamma0 = check_float("gamma0", gamma0, 0.0, lo_open=True)
    beta0 = check_float("beta0", beta0)
    if case == "no_bias" and beta0 != 0:
        raise ParameterError("beta0 must be 0 for case=no_bias")
    per = split_batches(n_batches, n_chunks)
    center = case != "no_bias"

    def chunk(i, rng):
        acc = np.zeros((len(g), N_STAT))
        kernel = kernel_for(glm_bn_kernel, fam)
        kernel(rng, fam.code, fam.mean, fam.std, M, per, center, _KIND[case], g, beta0, gamma0, beta0, acc)
        return acc

    sums = run_chunks(chunk, n_chunks, seed, threads, progress, desc=f"{case} {fam.name} M={M}")
    return GLMLossResult(case, fam.name, M, g, per * n_chunks * M, sums)


def simulate_optimal_gamma(case: str, M: int, gamma0: float = 1.0, beta0: float = 0.0, family: str = "gaussian",
                           n_batches: int = 100_000, seed: int = 0, n_newton: int = 4, **kw) -> MCResult:
    """gamma*_BN / gamma*_PN (= gamma*_BN / gamma0 here, beta fixed at beta0): Newton's method on the
    sampled BN objective.  Every iteration reuses the same seed, hence the same batches (common random
    numbers), so the iterations converge to the minimizer of one sampled objective; the SE is the
    jackknife of the last Newton step (delta method).  At most n_newton iterations; it stops earlier
    once a step is below NEWTON_STOP x its SE (Newton converges quadratically: the next step is of
    order the square of this one, far below the SE; a quadratic loss, identity/squared, is done after
    the second iteration, whose step is 0).

    Parameters: as `simulate_glm_bn` (one gamma, starting at gamma0); n_newton iterations; kw
    passed on (n_chunks, threads, progress).
    Returns: MCResult of gamma*_BN / gamma*_PN (theory: gamma_decay.optimal_gamma_ratio)."""
    g = float(gamma0)
    step = None
    for _ in range(check_int("n_newton", n_newton, 1)):
        step = simulate_glm_bn(case, M, [g], gamma0, beta0, family, n_batches, seed, **kw).newton_step(0)
        converged = abs(step.estimate - g) < NEWTON_STOP * step.se
        g = step.estimate
        if converged:
            break
    assert step is not None
    return MCResult(step.estimate / gamma0, step.se / gamma0, step.n, step.n_chunks)

"""BN running statistics, numerically: the EMA of batch statistics in closed form, its bias and variance.

Part 2 of the training-practice topic (the model and the public names: theory/training_practice.py;
the derivations: training_practice_derive): s <- d s + (1 - d) x_t with constant d or the warm-up
min(d, (1 + t)/(10 + t)), unrolled exactly; BN's running mean and running variance as two instances.
"""

from __future__ import annotations

import math

import numpy as np

from bnreg.params import check_bool, check_float, check_int

from .double_double import pow_times, product, two_prod

__all__ = [
    "STATS", "WARMUP_OFFSET",
    "ema_decays", "ema_weights", "ema_terms", "ema_pi", "ema_sum_w2", "ema_bias", "ema_variance", "batch_var_var",
    "running_mean_bias", "running_mean_var", "running_var_bias", "running_var_var",
]

STATS = ("mean", "var")
WARMUP_OFFSET = 10  # d_t = min(d, (1 + t)/(10 + t))


def _check_ema(d: float, t: int) -> tuple[float, int]:
    return check_float("d", d, 0.0, 1.0, hi_open=True), check_int("t", t, 0, 10**8)


def ema_decays(d: float, t: int, warmup: bool = False) -> np.ndarray:
    """The decays d_0..d_{t-1} of t updates: d, or min(d, (1 + k)/(10 + k)) with warm-up."""
    d, t = _check_ema(d, t)
    if not check_bool("warmup", warmup):
        return np.full(t, d)
    k = np.arange(t, dtype=float)
    return np.minimum(d, (1.0 + k) / (WARMUP_OFFSET + k))


def ema_weights(d: float, t: int, warmup: bool = False) -> tuple[float, np.ndarray]:
    """(Pi_t, w): s_t = Pi_t s_0 + sum_k w[k] x_k, k = 0..t-1 (module docstring)."""
    dk = ema_decays(d, t, warmup)
    suffix = np.ones(t + 1)  # suffix[k] = prod_{j >= k} d_j
    for k in range(t - 1, -1, -1):
        suffix[k] = suffix[k + 1] * dk[k]
    return float(suffix[0]), (1.0 - dk) * suffix[1:]


def _warmup_steps(d: float, t: int) -> int:
    """K, the number of the first t updates that use the warm-up decay, i.e. the first k with
    (1 + k)/(10 + k) >= d in doubles (as `ema_decays` compares), or t; by bisection."""
    lo, hi = 0, t
    while lo < hi:
        mid = (lo + hi) // 2
        if (1.0 + mid) / (WARMUP_OFFSET + mid) >= d:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _p8_sq(k: int) -> int:
    return math.prod(range(k + 2, k + 10)) ** 2


# Forward differences at 0 of P(k)^2, P(k) = (k+2)(k+3)...(k+9) (degree 16): sum_{k<K} P(k)^2 =
# sum_j DELTA[j] C(K, j+1) exactly, in integers (Newton's forward-difference formula).
_P8_DIFFS: list[int] = []
_row = [_p8_sq(k) for k in range(17)]
while _row:
    _P8_DIFFS.append(_row[0])
    _row = [b - a for a, b in zip(_row, _row[1:], strict=False)]
del _row


def ema_terms(d: float, t: int, warmup: bool = False) -> tuple[float, int, float, float]:
    """The EMA of t updates in closed form, O(1) in t: (W, n, A, B) with Pi_t = W d^n and
    sum_k w_k^2 = A d^(2n) + B.  With K = `_warmup_steps` warm-up updates followed by n = t - K at d:
    W = 9!/((K+1)...(K+9)), A = 81 sum_{k<K} ((k+2)...(k+9))^2/((K+1)...(K+9))^2 (since
    (1 - d_k) prod_{k<j<K} d_j = 9 (k+2)...(k+9)/((K+1)...(K+9)) for d_k = (1+k)/(10+k)), both exact
    rationals rounded once, and B = (1 - d)(1 - d^(2n))/(1 + d) with 1 - d^(2n) = -expm1(2n log d)
    (log1p(-(1 - d)) for d > 1/2: no cancellation at d near 1 or small n (1 - d))."""
    d, t = _check_ema(d, t)
    K = _warmup_steps(d, t) if check_bool("warmup", warmup) else 0
    n = t - K
    Q = math.prod(range(K + 1, K + 10))
    W = math.factorial(9) / Q
    A = 81 * sum(c * math.comb(K, j + 1) for j, c in enumerate(_P8_DIFFS)) / (Q * Q)
    if n == 0:
        B = 0.0
    elif d == 0.0:
        B = 1.0
    else:
        B = (1.0 - d) / (1.0 + d) * -math.expm1(2 * n * (math.log1p(-(1.0 - d)) if d > 0.5 else math.log(d)))
    return W, n, A, B


def ema_pi(d: float, t: int, warmup: bool = False) -> float:
    """Pi_t = prod_k d_k, the weight left on the start value after t updates (closed form)."""
    W, n, _, _ = ema_terms(d, t, warmup)
    return pow_times(W, d, n)


def ema_sum_w2(d: float, t: int, warmup: bool = False) -> float:
    """sum_k w_k^2, the variance of the EMA of t independent unit-variance inputs (closed form)."""
    _, n, A, B = ema_terms(d, t, warmup)
    return pow_times(A, d, 2 * n) + B


def ema_bias(d: float, t: int, s0: float, target: float, warmup: bool = False) -> float:
    """E[s_t] - target = Pi_t (s0 - target) when every x_k has mean `target` (exact; closed form,
    the power of d taken so that Pi_t (s0 - target) is right even where Pi_t alone underflows)."""
    W, n, _, _ = ema_terms(d, t, warmup)
    return pow_times(W * (check_float("s0", s0) - check_float("target", target)), d, n)


def ema_variance(d: float, t: int, v: float, warmup: bool = False) -> float:
    """Var(s_t) = v sum_k w_k^2 for independent x_k of variance v (exact); constant d:
    v (1 - d)(1 - d^(2t))/(1 + d)."""
    return check_float("v", v, 0.0) * ema_sum_w2(d, t, warmup)


def batch_var_var(M: int, sigma: float = 1.0, rho: float = 0.0) -> float:
    """Var of the unbiased batch variance of M i.i.d. inputs: sigma^4 (2/(M - 1) + rho/M), evaluated
    as sigma^4 ((2 + rho)/M + 2/(M (M - 1))), two non-negative terms (no cancellation at rho near -2)."""
    M = check_int("M", M, 2)
    sigma = check_float("sigma", sigma, 0.0, lo_open=True)
    rho = check_float("rho", rho, -2.0)
    return product(sigma, sigma, sigma, sigma, _var_coef(M, rho))


def _var_coef(M: int, rho: float) -> float:
    return (2.0 + rho) / M + 2 / (M * (M - 1))


def running_mean_bias(d: float = 0.9, t: int = 100, s0: float = 0.0, mu: float = 1.0, warmup: bool = False) -> float:
    """Bias E[s_t] - mu of BN's running mean after t updates from s0 (PyTorch starts at 0):
    Pi_t (s0 - mu); exact."""
    return ema_bias(d, t, s0, mu, warmup)


def running_mean_var(M: int, d: float = 0.9, t: int = 100, sigma: float = 1.0, warmup: bool = False) -> float:
    """Var of BN's running mean after t updates with batch means of M i.i.d. inputs:
    (sigma^2/M) sum_k w_k^2; exact."""
    M = check_int("M", M, 1)
    sigma = check_float("sigma", sigma, 0.0, lo_open=True)
    return product(sigma, sigma, ema_sum_w2(d, t, warmup)) / M


def running_var_bias(d: float = 0.9, t: int = 100, s0: float = 1.0, sigma: float = 1.0, warmup: bool = False) -> float:
    """Bias E[s_t] - sigma^2 of BN's running variance (EMA of unbiased batch variances) after t
    updates from s0 (PyTorch starts at 1): Pi_t (s0 - sigma^2); exact (s0 - sigma^2 with the exact
    product sigma sigma, so s0 near sigma^2 loses nothing)."""
    s0 = check_float("s0", s0)
    sigma = check_float("sigma", sigma, 0.0, lo_open=True)
    p, e = two_prod(sigma, sigma) if 1e-140 < sigma < 1e140 else (sigma * sigma, 0.0)
    W, n, _, _ = ema_terms(d, t, warmup)
    return pow_times(W * ((s0 - p) - e), d, n)


def running_var_var(M: int, d: float = 0.9, t: int = 100, sigma: float = 1.0, rho: float = 0.0,
                    warmup: bool = False) -> float:
    """Var of BN's running variance after t updates: sigma^4 (2/(M - 1) + rho/M) sum_k w_k^2; exact
    (one product: no spurious overflow of sigma^4 where the whole is a double)."""
    M = check_int("M", M, 2)
    sigma = check_float("sigma", sigma, 0.0, lo_open=True)
    rho = check_float("rho", rho, -2.0)
    return product(sigma, sigma, sigma, sigma, _var_coef(M, rho), ema_sum_w2(d, t, warmup))

"""Monte Carlo of the dropout variance shift (docs/variance_shift.md; Li, Chen, Hu, Yang, CVPR 2019,
arXiv:1801.05134): the train- and test-mode variance of a unit that BN sees after dropout, and a
random deep stack [dropout -> linear -> BN -> ReLU] whose running variances are compared with the
real inference-mode variances layer by layer.  Imports theory only to validate parameters."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bnreg.params import ParameterError, check_choice, check_float, check_int
from bnreg.runtime import MCResult, derive_seed, jackknife, mc_from_values, one_blas_thread, run_chunks, split_batches
from bnreg.theory.variance_shift import NOISES, correlation_factor, noise_variance

from .families import Family, get_family, kernel_for
from .kernels.variance_shift import BERNOULLI, GAUSSIAN, N_ACC, UOUT, shift_kernel

__all__ = ["ShiftResult", "weights_with_cos2", "simulate_variance_shift", "StackShiftResult",
           "simulate_stack_shift"]

_CODES = {"bernoulli": BERNOULLI, "gaussian": GAUSSIAN, "uout": UOUT}


def weights_with_cos2(d: int, cos2: float) -> np.ndarray:
    """A unit weight vector w in R^d with cos^2(w, (1,...,1)) = cos2:
    w = cos(t) 1/sqrt(d) + sin(t) (e_1 - e_2)/sqrt(2)."""
    correlation_factor(d, 0.0, cos2)  # validates d and cos2
    w = np.full(d, math.sqrt(cos2 / d))
    if d >= 2:
        s = math.sqrt(max(1.0 - cos2, 0.0) / 2.0)
        w[0] += s
        w[1] -= s
    return w


@dataclass(frozen=True)
class ShiftResult:
    """MCResults of Var_test, Var_train and Delta = Var_test/Var_train (jackknife over chunks),
    per |w|^2 = 1, from the same inputs in both modes (common random numbers)."""

    var_test: MCResult
    var_train: MCResult
    ratio: MCResult


def simulate_variance_shift(noise: str = "bernoulli", keep: float | None = None, beta: float | None = None,
                            c: float = 0.0, v: float = 1.0, d: int = 1, corr: float = 0.0, cos2: float = 1.0,
                            family: str | Family = "gaussian", n_samples: int = 1_000_000, seed: int = 0,
                            n_chunks: int = 64, threads: int | None = None) -> ShiftResult:
    """Sample z = sum_i w_i m_i x_i (train) and sum_i w_i x_i (test) for n_samples draws of d inputs
    x_i = c + sqrt(v) (sqrt(corr) F + sqrt(1 - corr) E_i), F and E_i standardized `family` draws
    (gaussian, uniform, relu = ReLU-of-Gaussian, ...), w from `weights_with_cos2`.

    Parameters: noise bernoulli | gaussian (with keep in (0, 1]) or uout (with beta >= 0); c, v > 0
    the inputs' mean and variance; d >= 1; corr in [0, 1] (a shared factor cannot make negative
    correlation); cos2 in (0, 1]; n_samples, seed, n_chunks.  Returns a ShiftResult."""
    noise = check_choice("noise", noise, NOISES)
    fam = get_family(family)
    s2 = noise_variance(noise, keep=keep, beta=beta)
    if not math.isfinite(s2):
        raise ParameterError("noise variance overflows: use keep >= 1e-300 or beta <= 1e150")
    c = check_float("c", c, -1e100, 1e100)
    v = check_float("v", v, 1e-100, 1e100)
    corr = check_float("corr", corr, 0.0, 1.0)
    correlation_factor(d, corr, cos2)
    w = weights_with_cos2(d, cos2)
    per = split_batches(n_samples, n_chunks)
    k = 1.0 if keep is None else float(keep)
    b = 0.0 if beta is None else float(beta)

    def chunk(i: int, rng: np.random.Generator) -> np.ndarray:
        acc = np.zeros(N_ACC)
        kernel_for(shift_kernel, fam)(rng, fam.code, fam.mean, 1.0 / fam.std, per, w, c, math.sqrt(v), math.sqrt(corr),
                     math.sqrt(1.0 - corr), _CODES[noise], k, b, acc)
        return acc

    sums = run_chunks(chunk, n_chunks, seed, threads)
    n = per * n_chunks

    def var(t: np.ndarray, j: int) -> float:
        return (t[j + 1] - t[j] ** 2 / n) / (n - 1)

    return ShiftResult(jackknife(lambda t: var(t, 0), sums, n), jackknife(lambda t: var(t, 2), sums, n),
                       jackknife(lambda t: var(t, 0) / var(t, 2), sums, n))


# ------------------------------------------------------------------------ deep random stack
@dataclass(frozen=True)
class StackShiftResult:
    """Per layer (1..depth): `var_ratio[l]` = mean over units of (real inference-mode variance of the
    BN input) / (its running variance), `mean_shift2[l]` = mean over units of ((real mean - running
    mean)^2 / running variance); MCResults over independent networks (seeds)."""

    var_ratio: tuple[MCResult, ...]
    mean_shift2: tuple[MCResult, ...]
    per_net_var_ratio: np.ndarray | None = None    # (n_nets, depth): each network's var_ratio per layer
    per_net_mean_shift2: np.ndarray | None = None  # (n_nets, depth)


TEST_BLOCK = 4096  # inference rows per block: no (n_test, width) temporaries


def _stack_once(depth: int, width: int, s2_noise: str, keep: float, beta: float, c: float, v: float,
                M: int, n_train: int, n_test: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # float32 activations, weights and noise (the GEMMs are the cost: float32 halves it); every
    # statistic is accumulated in float64.  The estimates' SE (over networks) is ~1e-4 or more,
    # float32 rounding ~1e-7.
    f32 = np.float32
    Ws = [(rng.standard_normal((width, width), dtype=f32) / f32(math.sqrt(width))) for _ in range(depth)]
    inv_keep, g_sd = f32(1.0 / keep), f32(math.sqrt((1.0 - keep) / keep))

    def drop(x: np.ndarray) -> np.ndarray:
        if s2_noise == "bernoulli":
            return x * ((rng.random(x.shape, dtype=f32) < keep) * inv_keep)
        if s2_noise == "gaussian":
            return x * (f32(1.0) + g_sd * rng.standard_normal(x.shape, dtype=f32))
        return x * (f32(1.0) + f32(beta) * (f32(2.0) * rng.random(x.shape, dtype=f32) - f32(1.0)))

    def data(n: int) -> np.ndarray:
        return f32(c) + f32(math.sqrt(v)) * rng.standard_normal((n, width), dtype=f32)

    run_mean = np.zeros((depth, width))
    run_var = np.zeros((depth, width))
    n_batches = max(n_train // M, 1)
    for _ in range(n_batches):  # train mode: batch statistics; running stats = mean over batches
        x = data(M)
        for layer in range(depth):
            h = drop(x) @ Ws[layer]
            mu, var = h.mean(axis=0, dtype=np.float64), h.var(axis=0, ddof=1, dtype=np.float64)
            run_mean[layer] += mu
            run_var[layer] += var
            x = np.maximum((h - mu.astype(f32)) * (1.0 / np.sqrt(var * (M - 1) / M)).astype(f32), f32(0.0))
    run_mean /= n_batches
    run_var /= n_batches
    # Inference mode (no dropout, running statistics) on n_test fresh samples, in row blocks:
    # per layer, sums of d = h - running mean and d^2 (shifted sums: no cancellation).
    s1 = np.zeros((depth, width))
    s2 = np.zeros((depth, width))
    shift = run_mean.astype(f32)
    scale = (1.0 / np.sqrt(run_var)).astype(f32)
    for start in range(0, n_test, TEST_BLOCK):
        x = data(min(TEST_BLOCK, n_test - start))
        for layer in range(depth):
            d = x @ Ws[layer] - shift[layer]
            s1[layer] += d.sum(axis=0, dtype=np.float64)
            s2[layer] += np.einsum("ij,ij->j", d, d, dtype=np.float64)
            x = np.maximum(d * scale[layer], f32(0.0))
    dm = s1 / n_test                                   # real mean - running mean
    var = (s2 - n_test * dm * dm) / (n_test - 1)       # real (unbiased) variance
    ratio = np.mean(var / run_var, axis=1)
    shift2 = np.mean(dm * dm / run_var, axis=1)
    return ratio, shift2


def simulate_stack_shift(depth: int = 6, width: int = 256, noise: str = "bernoulli", keep: float | None = 0.5,
                         beta: float | None = None, c: float = 0.0, v: float = 1.0, M: int = 128,
                         n_train: int = 32_768, n_test: int = 32_768, n_nets: int = 8,
                         seed: int = 0, first_net: int = 0) -> StackShiftResult:
    """A random stack [dropout -> linear (W ~ N(0, 1/width)) -> BN(gamma = 1, beta = 0) -> ReLU] x depth
    on Gaussian data with mean c, variance v: train mode over n_train samples in batches of M
    (running statistics = the average of batch means and unbiased batch variances), then inference
    mode over n_test fresh samples.  The mean-field prediction is
    `bnreg.theory.variance_shift.mean_field_shift`.

    Parameters: depth, width >= 2, noise with keep or beta, c, v > 0, M >= 2 (batch), n_train,
    n_test, n_nets >= 2 independent networks (the SE is over networks), seed; first_net: the index of
    the first network (network k draws from derive_seed(seed, "net", k)), so that chunks of networks
    run apart are the networks of one call.  Returns a StackShiftResult (with every network's values)."""
    depth = check_int("depth", depth, 1, 1000)
    width = check_int("width", width, 2, 8192)
    noise = check_choice("noise", noise, NOISES)
    noise_variance(noise, keep=keep, beta=beta)
    c = check_float("c", c, -1e6, 1e6)
    v = check_float("v", v, 1e-6, 1e6)
    M = check_int("M", M, 2)
    n_train = check_int("n_train", n_train, M)
    n_test = check_int("n_test", n_test, 2)
    n_nets = check_int("n_nets", n_nets, 2)
    first_net = check_int("first_net", first_net, 0)
    # One BLAS thread: OpenBLAS' float32 GEMM can round differently on different thread counts, and
    # the result must not depend on how many threads the caller has.
    with one_blas_thread():
        runs = [_stack_once(depth, width, noise, 1.0 if keep is None else keep, 0.0 if beta is None else beta,
                            c, v, M, n_train, n_test, np.random.default_rng(derive_seed(seed, "net", k)))
                for k in range(first_net, first_net + n_nets)]
    ratios = np.array([r[0] for r in runs])
    shifts = np.array([r[1] for r in runs])
    n = n_test * width
    return StackShiftResult(tuple(mc_from_values(ratios[:, j], n) for j in range(depth)),
                            tuple(mc_from_values(shifts[:, j], n) for j in range(depth)), ratios, shifts)

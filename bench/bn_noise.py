"""Throughput benchmark for the batch-normalization Monte Carlo kernel (`bnreg bench bn_noise`).

Three workloads, timed in one run (compile time excluded), in normalized samples/s:
  numpy    the write-up's snippet  a = randn(M, N); b = (a - a.mean(0))/a.std(0); mean((b - a)^2)   -> M N / t
  kernel   `simulate_batch_stats("gaussian", M, n_batches)` on t threads                        -> M n_batches / t
  ceiling  an njit loop summing rng.standard_normal() through `run_chunks` (same chunks, same variate count):
           the raw normal-variate generation speed.
Kernel and ceiling run in alternating timed blocks (`timing.interleaved_rates`), so that changing
load on a shared machine affects both alike; kernel/ceiling is the median of the per-block ratios
and the samples/s are block medians.  numpy is timed best-of-`repeats`.
Targets: kernel/ceiling >= 0.8 on 1 thread and >= 0.75 on 2 or more, kernel(t_lo)/numpy >= 5,
scaling efficiency kernel(t_hi)/kernel(t_lo) / (t_hi/t_lo) >= 0.8.
"""

from __future__ import annotations

import os
import platform

import numba as nb
import numpy as np

from bnreg.params import ParameterError, check_int
from bnreg.runtime import run_chunks
from bnreg.sims.bn_noise import simulate_batch_stats

from .timing import best_time, blas_info, calibrate, interleaved_rates

__all__ = ["format_benchmark", "run_benchmark"]

N_CHUNKS = 64
NUMPY_BLOCK = 1 << 16  # columns per numpy call: bounds memory (M * 2^16 * 8 B per temporary)
TARGETS = {"kernel_vs_ceiling_1t": 0.8, "kernel_vs_ceiling": 0.75, "kernel_vs_numpy": 5.0, "scaling_efficiency": 0.8}


def ceiling_target(t: int) -> float:
    """The kernel/ceiling target on t threads."""
    return TARGETS["kernel_vs_ceiling_1t"] if t == 1 else TARGETS["kernel_vs_ceiling"]


@nb.njit(cache=True, nogil=True)
def normal_sum_kernel(rng, n):
    """sum_{k<n} z_k with z_k = rng.standard_normal(): generation only (the sum keeps it live)."""
    s = 0.0
    for _ in range(n):
        s += rng.standard_normal()
    return s


def _numpy_snippet(M: int, N: int, seed: int = 0) -> float:
    a = np.random.default_rng(seed).standard_normal((M, N))  # a fixed stream: the baseline's timing input
    b = (a - a.mean(0)) / a.std(0)
    return float(np.mean((b - a) ** 2))


def _numpy_run(M: int, N: int) -> None:
    for start in range(0, N, NUMPY_BLOCK):
        _numpy_snippet(M, min(NUMPY_BLOCK, N - start), start)


def _kernel_run(M: int, n_batches: int, t: int) -> None:
    simulate_batch_stats("gaussian", M=M, n_batches=n_batches, seed=1, n_chunks=N_CHUNKS, threads=t)


def _ceiling_run(n_variates: int, t: int) -> None:
    per = -(-n_variates // N_CHUNKS)
    run_chunks(lambda i, rng: np.array([normal_sum_kernel(rng, per)]), N_CHUNKS, 2, t)


def run_benchmark(quick: bool = False, threads: tuple[int, ...] = (1, 2), M: int = 32) -> dict:
    """Measure numpy, kernel and ceiling throughput (samples/s) and their ratios; see module docstring."""
    M = check_int("M", M, 2)
    threads = tuple(sorted({check_int("threads", t, 1) for t in threads}))
    if not threads:
        raise ParameterError("threads must contain at least one thread count >= 1")
    target_s, repeats = (0.3, 3) if quick else (1.0, 7)
    t_lo, t_hi = threads[0], threads[-1]

    _kernel_run(M, 2 * N_CHUNKS, t_lo)  # warm-up: numba compile / cache load
    _ceiling_run(N_CHUNKS, t_lo)

    N = calibrate(lambda n: _numpy_run(M, n), 1024, target_s)
    n_batches = calibrate(lambda n: _kernel_run(M, n, t_lo), 2 * N_CHUNKS, target_s)
    n_batches = -(-n_batches // N_CHUNKS) * N_CHUNKS  # what the kernel actually runs
    n_samples = n_batches * M

    numpy_sps = M * N / best_time(lambda: _numpy_run(M, N), min(repeats, 3))
    kernel: dict[int, float] = {}
    ceiling: dict[int, float] = {}
    ratios: dict[str, float] = {}
    blocks: dict[str, list[float]] = {}
    for t in threads:
        rates = interleaved_rates({"kernel": lambda t=t: _kernel_run(M, n_batches, t),
                                   "ceiling": lambda t=t: _ceiling_run(n_samples, t)},
                                  {"kernel": 1, "ceiling": 1}, repeats, units_per_call=n_samples)
        kernel[t], ceiling[t] = float(np.median(rates["kernel"])), float(np.median(rates["ceiling"]))
        blocks[f"kernel_{t}t"], blocks[f"ceiling_{t}t"] = rates["kernel"], rates["ceiling"]
        ratios[f"kernel_{t}t/numpy"] = kernel[t] / numpy_sps
        ratios[f"kernel_{t}t/ceiling_{t}t"] = float(np.median(np.divide(rates["kernel"], rates["ceiling"])))
    meets = {f"kernel_{t}t/ceiling_{t}t>={ceiling_target(t)}": ratios[f"kernel_{t}t/ceiling_{t}t"] >= ceiling_target(t)
             for t in threads}
    meets[f"kernel_{t_lo}t/numpy>={TARGETS['kernel_vs_numpy']}"] = (
        ratios[f"kernel_{t_lo}t/numpy"] >= TARGETS["kernel_vs_numpy"])
    if t_hi > t_lo:
        ratios[f"scaling_{t_hi}t/{t_lo}t"] = kernel[t_hi] / kernel[t_lo]
        ratios["scaling_efficiency"] = ratios[f"scaling_{t_hi}t/{t_lo}t"] / (t_hi / t_lo)
        meets[f"scaling_efficiency>={TARGETS['scaling_efficiency']}"] = (
            ratios["scaling_efficiency"] >= TARGETS["scaling_efficiency"])

    return {
        "config": {"quick": quick, "M": M, "threads": list(threads), "repeats": repeats, "target_seconds": target_s,
                   "numpy_N": N, "numpy_block": NUMPY_BLOCK, "n_batches": n_batches, "n_chunks": N_CHUNKS},
        "samples_per_s": {"numpy": numpy_sps, **{f"kernel_{t}t": v for t, v in kernel.items()},
                          **{f"ceiling_{t}t": v for t, v in ceiling.items()}},
        "blocks_samples_per_s": blocks,
        "ratios": ratios,
        "meets_targets": meets,
        "load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "env": {"python": platform.python_version(), "numpy": np.__version__, "numba": nb.__version__,
                "machine": platform.machine(), "cpu_count": os.cpu_count(),
                "BNREG_THREADS": os.environ.get("BNREG_THREADS"), **blas_info()},
    }


def format_benchmark(result: dict) -> str:
    """A readable table of `run_benchmark` output."""
    c, e = result["config"], result["env"]
    lines = [f"BN kernel benchmark (M={c['M']}, {c['repeats']} interleaved blocks of ~{c['target_seconds']} s; "
             "kernel/ceiling = median per-block ratio)",
             (f"  numpy {e['numpy']}, numba {e['numba']}, python {e['python']}, {e['machine']}, "
              f"cpu_count={e['cpu_count']}, BLAS {e['blas']} {e['blas_kernel']} (OPENBLAS_CORETYPE="
              f"{e['OPENBLAS_CORETYPE']}, OPENBLAS_L2_SIZE={e['OPENBLAS_L2_SIZE']}; numpy snippet only)"),
             (f"  numpy N={c['numpy_N']} (blocks of {c['numpy_block']}), kernel n_batches={c['n_batches']} "
              f"in {c['n_chunks']} chunks"), "", f"  {'workload':<28}{'samples/s':>14}"]
    lines += [f"  {k:<28}{v:>14.4g}" for k, v in result["samples_per_s"].items()]
    lines += ["", f"  {'ratio':<28}{'value':>14}"]
    lines += [f"  {k:<28}{v:>14.3f}" for k, v in result["ratios"].items()]
    lines += ["", "  targets"] + [f"  {k:<40}{'yes' if v else 'NO':>4}" for k, v in result["meets_targets"].items()]
    return "\n".join(lines)

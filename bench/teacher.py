"""Benchmark of the teacher-student SGD kernels (`bnreg bench teacher`).

Measured in one run, best of `repeats`, compile time excluded:
  floor    one streaming read of the training matrix X (P x N float32, as trained) by numpy (X.sum()):
           the memory-bandwidth floor of an epoch, since an epoch must read every row once.
  kernel   one epoch of each student (linear, wn, bn) on the same X (M = 32): time / floor.
  numpy    the same plain-SGD epoch written with numpy (X[rows] @ w, w -= lr X[rows].T @ r): kernel speed-up.
  figure   wall time of `bnreg figures teacher_student` at --quick (and default, --paper unless quick),
           no cache, serial sweep (one worker, `threads` threads; default 2).
Targets (issue 4): epoch/floor <= 2; figure --quick < 30 s, default < 120 s, --paper < 600 s.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time

import numba as nb
import numpy as np

from bnreg.figures.run import make_figure
from bnreg.sims.kernels.teacher_student import bn_epoch, linear_epoch, wn_epoch
from bnreg.sims.teacher_student import teacher_data

from .timing import best_time

__all__ = ["run_benchmark", "format_benchmark"]

TARGETS = {"epoch_vs_floor": 2.0, "figure_quick_s": 30.0, "figure_default_s": 120.0, "figure_paper_s": 600.0}


def _numpy_epoch(X: np.ndarray, y: np.ndarray, perm: np.ndarray, M: int, lr: float, w: np.ndarray) -> None:
    for b in range(len(perm) // M):
        rows = perm[b * M:(b + 1) * M]
        xb = X[rows]
        r = 2.0 * (xb @ w - y[rows]) / M
        w -= lr * (xb.T @ r)


def _epochs(N: int, alpha: float, M: int, repeats: int) -> dict[str, float]:
    P = int(round(alpha * N))
    rng = np.random.default_rng(7)
    X, y, _ = teacher_data(N, P, 0.25, rng)
    X = np.ascontiguousarray(X, dtype=np.float32)  # as trained (Protocol.x_dtype)
    perm = rng.permutation(P)
    lr = 0.5 * M / N
    w = rng.standard_normal(N) / np.sqrt(N)
    g, rm, rv, acc = np.ones(1), np.zeros(1), np.ones(1), np.zeros(1)
    runs = {
        "floor_read": lambda: X.sum(),
        "linear": lambda: linear_epoch(X, y, perm, M, lr, w),
        "wn": lambda: wn_epoch(X, y, perm, M, lr, 1.0 / (2 * M), w, g, acc),
        "bn": lambda: bn_epoch(X, y, perm, M, lr, w, g, rm, rv, 0.1, 1e-5, acc),
        "numpy_linear": lambda: _numpy_epoch(X, y, perm, M, lr, w),
    }
    for f in runs.values():  # warm-up (compile / cache load, page-in)
        f()
    out = {k: best_time(f, repeats) for k, f in runs.items()}
    out["bytes"] = float(X.nbytes)
    return out


def _figure_time(scale: str, threads: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        make_figure("teacher_student", scale=scale, out=d, force=True, workers=1, threads=threads, progress=False)
        return time.perf_counter() - t0


def run_benchmark(quick: bool = False, threads: int | None = None) -> dict:
    """Epoch time of each student vs the memory floor at N = 4096 (1024 if quick), alpha = 2, M = 32;
    figure wall times (quick only, or quick + default + paper) with `threads` threads (default:
    min(2, cores))."""
    threads = threads or min(2, os.cpu_count() or 1)
    N = 1024 if quick else 4096
    repeats = 3 if quick else 5
    ep = _epochs(N, 2.0, 32, repeats)
    floor = ep["floor_read"]
    ratios = {f"{k}_epoch/floor": ep[k] / floor for k in ("linear", "wn", "bn")}
    ratios["numpy_linear/linear_kernel"] = ep["numpy_linear"] / ep["linear"]
    scales = ("quick",) if quick else ("quick", "default", "paper")
    fig = {s: _figure_time(s, threads) for s in scales}
    meets = {f"{k}<={TARGETS['epoch_vs_floor']}": v <= TARGETS["epoch_vs_floor"]
             for k, v in ratios.items() if k.endswith("/floor")}
    meets.update({f"figure_{s}<{TARGETS['figure_' + s + '_s']:g}s": t < TARGETS["figure_" + s + "_s"]
                  for s, t in fig.items()})
    return {
        "config": {"quick": quick, "N": N, "alpha": 2.0, "M": 32, "repeats": repeats, "threads": threads},
        "seconds": {**{f"epoch_{k}": v for k, v in ep.items() if k != "bytes"},
                    **{f"figure_{s}": t for s, t in fig.items()}},
        "bandwidth_GBps": ep["bytes"] / floor / 1e9,
        "ratios": ratios,
        "meets_targets": meets,
        "env": {"python": platform.python_version(), "numpy": np.__version__, "numba": nb.__version__,
                "machine": platform.machine(), "cpu_count": os.cpu_count()},
    }


def format_benchmark(result: dict) -> str:
    c = result["config"]
    lines = [f"teacher-student benchmark: N={c['N']}, alpha={c['alpha']}, M={c['M']}, best of {c['repeats']}; "
             f"figures on 1 worker x {c['threads']} threads",
             f"  measured read bandwidth (numpy X.sum()): {result['bandwidth_GBps']:.2f} GB/s", "",
             f"  {'timing':<28}{'seconds':>12}"]
    lines += [f"  {k:<28}{v:>12.4g}" for k, v in result["seconds"].items()]
    lines += ["", f"  {'ratio':<28}{'value':>12}"] + [f"  {k:<28}{v:>12.3f}" for k, v in result["ratios"].items()]
    lines += ["", "  targets"] + [f"  {k:<40}{'yes' if v else 'NO':>4}" for k, v in result["meets_targets"].items()]
    return "\n".join(lines)

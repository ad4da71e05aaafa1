"""Training-throughput benchmark of the CNN of Luo et al. 2019 (arXiv:1809.00846; docs/cnn.md):
`bnreg bench cnn` (docs/performance.md).

Workload: one SGD step = forward (training mode) + softmax cross-entropy + backward + momentum SGD
update of conv(3,32)-conv(3,32)-conv(3,64)-conv(3,64)-pool(2,2)-fc(512)-fc(10) with BN after every
hidden layer, batch 64, float32, on three inputs: 1-D length 40 (1x40x1, kernels 1x3), 8x8x1 and
32x32x3.  Measured in one run, on `threads` cores (numba, BLAS and torch thread pools all limited):
  sims    sims.nn (numba kernels + BLAS GEMM)
  numpy   a plain numpy implementation of the same step (sliding_window_view im2col, numpy BN),
          the in-run baseline
  torch   torch.nn (NCHW, its default CPU kernels) when PyTorch is installed
Throughput = 64 * steps / time in images/s; the three implementations run in alternating timed
blocks (after warm-up, compile time excluded) so that changing load on a shared machine affects
them alike; ratios are medians of the per-block ratios.  Targets: sims/torch >= 0.7 on 1-D and 8x8, >= 0.5 on 32x32x3.
On a shared machine the numbers are noisy: the ratios (measured back to back) are what counts.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable

import numba as nb
import numpy as np

from bnreg.sims.executor import thread_limits
from bnreg.sims.nn.config import CNNConfig
from bnreg.sims.nn.layers import get_num_threads, set_num_threads
from bnreg.sims.nn.model import build_cnn, softmax_cross_entropy
from bnreg.sims.nn.optim import SGD

from .timing import interleaved_rates

__all__ = ["run_benchmark", "format_benchmark", "SHAPES", "TARGETS"]

SHAPES = {"1d_40": (1, 40, 1), "8x8x1": (8, 8, 1), "32x32x3": (32, 32, 3)}
TARGETS = {"1d_40": 0.7, "8x8x1": 0.7, "32x32x3": 0.5}
BATCH = 64
WIDTHS = (32, 32, 64, 64)
FC = 512
K = 10
EPS = 1e-5


def _data(shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((BATCH, *shape)).astype(np.float32), rng.integers(0, K, BATCH)


# ------------------------------------------------------------------------------------------------
def sims_step(shape: tuple[int, int, int]) -> Callable[[], None]:
    """One training step of sims.nn on the benchmark workload."""
    model = build_cnn(CNNConfig(shape, K, WIDTHS, FC, norm="bn"))
    opt = SGD(model.parameters(), lr=0.01)
    x, y = _data(shape)

    def step() -> None:
        _, d = softmax_cross_entropy(model.forward(x, True), y)
        model.backward(d)
        opt.step()

    return step


# ------------------------------------------------------------------------------------------------
# numpy-only baseline (reference implementation for the in-run ratio; not used by the library)
# ------------------------------------------------------------------------------------------------
def _np_im2col(x: np.ndarray, kh: int, kw: int) -> np.ndarray:
    b, h, w, c = x.shape
    xp = np.pad(x, ((0, 0), ((kh - 1) // 2,) * 2, ((kw - 1) // 2,) * 2, (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(1, 2))  # (b, h, w, c, kh, kw)
    return win.transpose(0, 1, 2, 4, 5, 3).reshape(b * h * w, kh * kw * c)


def _np_col2im(d: np.ndarray, shape: tuple[int, ...], kh: int, kw: int) -> np.ndarray:
    b, h, w, c = shape
    ph, pw = (kh - 1) // 2, (kw - 1) // 2
    dp = np.zeros((b, h + kh - 1, w + kw - 1, c), d.dtype)
    d6 = d.reshape(b, h, w, kh, kw, c)
    for i in range(kh):
        for j in range(kw):
            dp[:, i:i + h, j:j + w] += d6[:, :, :, i, j]
    return dp[:, ph:ph + h, pw:pw + w]


def numpy_step(shape: tuple[int, int, int]) -> Callable[[], None]:
    """The same training step in plain numpy (BN in training mode, ReLU, max-pool, momentum SGD)."""
    rng = np.random.default_rng(0)
    h, w, c = shape
    kh, kw = (1, 3) if h == 1 else (3, 3)
    ph, pw = (1, 2) if h == 1 else (2, 2)
    dims, cin = [], c
    for wd in WIDTHS:
        dims.append((kh * kw * cin, wd))
        cin = wd
    dims += [((h // ph) * (w // pw) * cin, FC), (FC, K)]
    ws = [(rng.standard_normal(dd) * np.sqrt(2 / dd[0])).astype(np.float32) for dd in dims]
    gam = [np.ones(dd[1], np.float32) for dd in dims[:-1]]
    bet = [np.zeros(dd[1], np.float32) for dd in dims[:-1]]
    bout = np.zeros(K, np.float32)
    params = ws + gam + bet + [bout]
    vel = [np.zeros_like(p) for p in params]
    x, y = _data(shape)

    def step() -> None:
        cache, a = [], x
        for i in range(len(WIDTHS) + 1):
            if i == len(WIDTHS):
                bb, hh, ww, cc = a.shape
                pooled = a.reshape(bb, hh // ph, ph, ww // pw, pw, cc)
                m = pooled.max(axis=(2, 4))
                pool_cache = (a.shape, pooled == m[:, :, None, :, None, :])
                a = m.reshape(bb, -1)
            inp = _np_im2col(a, kh, kw) if i < len(WIDTHS) else a
            z = inp @ ws[i]
            mu, var = z.mean(0), z.var(0)
            inv = 1 / np.sqrt(var + EPS)
            xh = (z - mu) * inv
            o = np.maximum(gam[i] * xh + bet[i], 0)
            cache.append((a.shape, inp, xh, inv, o))
            a = o.reshape(a.shape[:-1] + (-1,)) if i < len(WIDTHS) else o
        logits = a @ ws[-1] + bout
        _, d = softmax_cross_entropy(logits, y)
        grads = [None] * len(params)
        grads[-1] = d.sum(0)
        grads[len(ws) - 1] = a.T @ d
        g = d @ ws[-1].T
        for i in range(len(WIDTHS), -1, -1):
            ashape, inp, xh, inv, o = cache[i]
            g = g.reshape(o.shape) * (o > 0)
            grads[len(ws) + i] = (g * xh).sum(0)
            grads[2 * len(ws) - 1 + i] = g.sum(0)
            dxh = g * gam[i]
            dz = inv * (dxh - dxh.mean(0) - xh * (dxh * xh).mean(0))
            grads[i] = inp.T @ dz
            if i == 0:
                break
            din = dz @ ws[i].T
            if i == len(WIDTHS):
                pshape, mask = pool_cache
                bb, hh, ww, cc = pshape
                g6 = din.reshape(bb, hh // ph, 1, ww // pw, 1, cc) * mask
                g = g6.reshape(pshape)
            else:
                g = _np_col2im(din, ashape, kh, kw)
        for p, v, gr in zip(params, vel, grads, strict=True):
            v *= 0.9
            v += gr
            p -= 0.01 * v

    return step


# ------------------------------------------------------------------------------------------------
def torch_step(shape: tuple[int, int, int]) -> Callable[[], None] | None:
    """The same step in torch.nn (None when PyTorch is not installed)."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    h, w, c = shape
    k, p = ((1, 3), (0, 1)) if h == 1 else ((3, 3), (1, 1))
    pool = (1, 2) if h == 1 else (2, 2)
    layers, cin = [], c
    for wd in WIDTHS:
        layers += [torch.nn.Conv2d(cin, wd, k, padding=p, bias=False), torch.nn.BatchNorm2d(wd), torch.nn.ReLU()]
        cin = wd
    d = (h // pool[0]) * (w // pool[1]) * cin
    net = torch.nn.Sequential(*layers, torch.nn.MaxPool2d(pool), torch.nn.Flatten(),
                              torch.nn.Linear(d, FC, bias=False), torch.nn.BatchNorm1d(FC), torch.nn.ReLU(),
                              torch.nn.Linear(FC, K))
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    xn, yn = _data(shape)
    x = torch.tensor(xn.transpose(0, 3, 1, 2).copy())
    y = torch.tensor(yn)

    def step() -> None:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()

    return step


def _limit_threads(n: int):
    """Context limiting BLAS, numba (sims.executor.thread_limits), the sims.nn pool and torch to n threads."""
    from contextlib import ExitStack

    stack = ExitStack()
    stack.enter_context(thread_limits(n))
    old_sims = get_num_threads()
    set_num_threads(n)
    stack.callback(set_num_threads, old_sims)
    try:
        import torch

        old_t = torch.get_num_threads()
        torch.set_num_threads(n)
        stack.callback(torch.set_num_threads, old_t)
    except ImportError:
        pass
    return stack


def run_benchmark(quick: bool = False, threads: tuple[int, ...] | None = None,
                  shapes: tuple[str, ...] = tuple(SHAPES)) -> dict:
    """Images/s of sims.nn, the numpy baseline and torch (if installed) per input shape and thread
    count (default: 2 and 1; quick: 2): medians over interleaved blocks; vs_torch is the median of
    the per-block ratios, vs_numpy the ratio of medians (numpy runs at most 3 blocks)."""
    threads = threads or ((2,) if quick else (2, 1))
    repeats = 3 if quick else 7
    res: dict = {"batch": BATCH, "repeats": repeats, "widths": list(WIDTHS), "fc": FC, "norm": "bn",
                 "dtype": "float32", "targets": TARGETS, "runs": [],
                 "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                             "numpy": np.__version__, "numba": nb.__version__, "load_avg_1min": _load()}}
    try:
        import torch

        res["machine"]["torch"] = torch.__version__
    except ImportError:
        res["machine"]["torch"] = None
    for th in threads:
        with _limit_threads(th):
            run: dict = {"threads": th, "shapes": {}}
            for name in shapes:
                run["shapes"][name] = _bench_shape(name, quick, repeats)
            res["runs"].append(run)
    res["machine"]["load_avg_1min_after"] = _load()
    return res


def _load() -> float | None:
    return float(os.getloadavg()[0]) if hasattr(os, "getloadavg") else None


def _bench_shape(name: str, quick: bool, repeats: int) -> dict:
    shape = SHAPES[name]
    # blocks of about 0.2 s (quick: 0.1 s) of sims work; numpy gets a quarter of the steps
    n = max(1, int({"1d_40": 3000, "8x8x1": 1500, "32x32x3": 80}[name] * (0.1 if quick else 0.2) / BATCH))
    steppers = {"sims": sims_step(shape), "numpy": numpy_step(shape), "torch": torch_step(shape)}
    rates = interleaved_rates(steppers, {"sims": n, "numpy": max(1, n // 4), "torch": n}, repeats,
                              units_per_call=BATCH, max_blocks={"numpy": 3})
    row: dict = {"shape": list(shape), "steps_per_block": n}
    for k in ("sims", "numpy", "torch"):
        row[k] = float(np.median(rates[k])) if k in rates else None
        row[f"{k}_blocks"] = rates.get(k)
    row["vs_numpy"] = row["sims"] / row["numpy"]
    row["vs_torch"] = float(np.median(np.divide(rates["sims"], rates["torch"]))) if "torch" in rates else None
    row["target_vs_torch"] = TARGETS[name]
    row["meets_target"] = None if row["vs_torch"] is None else row["vs_torch"] >= TARGETS[name]
    return row


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1f}"


def format_benchmark(res: dict) -> str:
    """A readable table of `run_benchmark` output."""
    m = res["machine"]
    lines = [f"CNN training throughput (images/s): the CNN of Luo et al. 2019 + BN, batch {res['batch']}, float32; "
             "medians of "
             f"{res['repeats']} interleaved blocks; vs torch = median per-block ratio",
             f"machine: {m['cpu_count']} cpus, 1-min load average {_fmt(m['load_avg_1min'])} -> "
             f"{_fmt(m['load_avg_1min_after'])}, "
             f"torch {m['torch']}",
             f"{'threads':>7} {'input':>9} {'sims':>8} {'numpy':>8} {'torch':>8} {'vs numpy':>9} {'vs torch':>9} "
             f"{'target':>7}"]
    for run in res["runs"]:
        for name, r in run["shapes"].items():
            t = f"{r['torch']:8.0f}" if r["torch"] else f"{'n/a':>8}"
            vt = f"{r['vs_torch']:9.2f}" if r["vs_torch"] else f"{'n/a':>9}"
            ok = "" if r["meets_target"] is None else (" ok" if r["meets_target"] else " MISS")
            lines.append(f"{run['threads']:>7} {name:>9} {r['sims']:8.0f} {r['numpy']:8.0f} {t} {r['vs_numpy']:9.2f} "
                         f"{vt} {r['target_vs_torch']:>6.1f}x{ok}")
    lines.append("Shared machine: absolute numbers are noisy (a load average above the core count means the "
                 "threads share cores); ratios come from interleaved blocks in one run.")
    return "\n".join(lines)

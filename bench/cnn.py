"""Training-throughput benchmark of sims.nn (docs/cnn_library.md, "Performance"): `bnreg bench cnn`.

Workload: one SGD step = forward (training mode) + softmax cross-entropy + backward + momentum SGD
update, float32, 10 classes, kernel 3 ((1, 3) on 1-D inputs), BN after every hidden layer, on the
networks of `WORKLOADS`:
  luo_*          the CNN of Luo et al. 2019 (arXiv:1809.00846) conv32-32-64-64-pool-fc512-fc10, batch
                 64, on 1-D length 40 (1x40x1), 8x8x1 and 32x32x3 inputs  (target >= 1.0x torch)
  the MNIST-1D nets (1x40x1) the figures train, one thread per process (target >= 1.5x torch):
  norms          cnn_norms / cnn_dropout / variance_shift_fixes "cnn" default: widths (16,16,32,32), fc 128,
                 batch 64
  norms_quick    the quick scale of the same: widths (4,4,8,8), fc 32, batch 64
  drop_overfit   dropout_schedules overfit: widths (32,32,64,64), fc 256, batch 32, Bernoulli p = 0.25
                 after every BN+ReLU
  drop_underfit  dropout_schedules underfit: widths (4,4,8,8), fc 16, batch 64, Bernoulli p = 0.1 after
  vs_mlp         variance_shift_fixes "mlp" default: no conv, fc (128,)*5, batch 64, Bernoulli p = 0.5
                 before every BN
  vs_cnn         variance_shift_fixes "cnn" default: as norms with Bernoulli p = 0.5 before every BN
  bsize_256      cnn_batch_size default at its large batch: widths (8,8,16,16), fc 64, batch 256
Implementations, timed in one run on `threads` cores (numba, BLAS and torch thread pools limited):
  sims    sims.nn (numba kernels + BLAS GEMM)
  numpy   a plain numpy implementation of the luo_* step (sliding_window_view im2col, numpy BN), the
          in-run baseline when torch is missing (luo_* only)
  torch   torch.nn (NCHW, its default CPU kernels) when PyTorch is installed, the same network
  gemm    numpy float32 matmul of the workload's largest forward GEMM (rows x k @ k x out) and, once per
          thread count, of 2048x1024 @ 1024x1024: the machine's own GEMM rate in the same run
Throughput = batch * steps / time in images/s; sims and torch run in alternating timed blocks
(after warm-up, compile time excluded) so that changing load on a shared machine affects them alike;
vs_torch is the median of the per-block ratios.  The BLAS-threaded references (gemm, numpy) are timed
right after each workload's sims/torch blocks, alternating among themselves: OpenBLAS worker threads
spin-wait after a call and would slow whichever block follows them.

FLOP count (`step_flops`, GEMM-equivalent, analytic): forward conv 2 (B H W) (kh kw C_in) C_out,
dense 2 B d_in d_out; backward = the weight-gradient GEMM of every layer (the forward's flops) + the
input-gradient GEMM of every layer but the first (also the forward's flops), i.e.
step = 3 forward - forward(first layer).  BN, ReLU, pooling, dropout and the SGD update are not
counted.  GFLOP/s = step flops * steps / time.
On a shared machine the numbers are noisy: the ratios (measured back to back) are what counts.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass

import numba as nb
import numpy as np

from bnreg.runtime import thread_limits
from bnreg.sims.nn.config import CNNConfig
from bnreg.sims.nn.model import build_cnn, softmax_cross_entropy
from bnreg.sims.nn.optim import SGD

from .timing import blas_info, blas_note, interleaved_rates

__all__ = ["run_benchmark", "format_benchmark", "WORKLOADS", "Workload", "step_flops", "QUICK"]

K = 10
EPS = 1e-5
LUO = {"widths": (32, 32, 64, 64), "fc": 512, "batch": 64}
ONE_D = (1, 40, 1)


@dataclass(frozen=True)
class Workload:
    """One benchmarked network: input (H, W, C), conv widths, hidden fc width(s), batch, dropout
    (kind, drop rate p, place) and the target ratio sims/torch; `work` = images per timed block."""

    in_shape: tuple[int, int, int]
    widths: tuple[int, ...]
    fc: int | tuple[int, ...]
    batch: int
    target: float
    work: int
    dropout: str = "none"
    p_drop: float = 0.0
    place: str = "after"

    def config(self) -> CNNConfig:
        """The sims.nn config of the workload (BN after every hidden layer)."""
        return CNNConfig(self.in_shape, K, self.widths, self.fc, norm="bn", dropout=self.dropout,
                         p_drop=self.p_drop, dropout_place=self.place)

    @property
    def fcs(self) -> tuple[int, ...]:
        return tuple(self.fc) if isinstance(self.fc, tuple) else (self.fc,)


WORKLOADS: dict[str, Workload] = {
    "luo_1d": Workload(ONE_D, **LUO, target=1.0, work=1500),
    "luo_8x8": Workload((8, 8, 1), **LUO, target=1.0, work=600),
    "luo_32x32x3": Workload((32, 32, 3), **LUO, target=1.0, work=60),
    "norms": Workload(ONE_D, (16, 16, 32, 32), 128, 64, target=1.5, work=4000),
    "norms_quick": Workload(ONE_D, (4, 4, 8, 8), 32, 64, target=1.5, work=10000),
    "drop_overfit": Workload(ONE_D, (32, 32, 64, 64), 256, 32, target=1.5, work=1500, dropout="bernoulli",
                             p_drop=0.25),
    "drop_underfit": Workload(ONE_D, (4, 4, 8, 8), 16, 64, target=1.5, work=10000, dropout="bernoulli", p_drop=0.1),
    "vs_mlp": Workload(ONE_D, (), (128,) * 5, 64, target=1.5, work=15000, dropout="bernoulli", p_drop=0.5,
                       place="before"),
    "vs_cnn": Workload(ONE_D, (16, 16, 32, 32), 128, 64, target=1.5, work=4000, dropout="bernoulli", p_drop=0.5,
                       place="before"),
    "bsize_256": Workload(ONE_D, (8, 8, 16, 16), 64, 256, target=1.5, work=6000),
}
QUICK = ("luo_1d", "norms_quick", "vs_mlp")  # `--quick`: a subset, 2 threads


def _layer_gemms(w: Workload) -> list[tuple[int, int, int]]:
    """(rows, k, out) of the forward GEMM of every conv/dense layer, in order."""
    h, wd, c = w.in_shape
    kh, kw = (1, 3) if h == 1 else (3, 3)
    out, cin = [], c
    for width in w.widths:
        out.append((w.batch * h * wd, kh * kw * cin, width))
        cin = width
    if w.widths:
        h, wd = (h, wd // 2) if h == 1 else (h // 2, wd // 2)
    d = h * wd * cin
    for f in w.fcs:
        out.append((w.batch, d, f))
        d = f
    out.append((w.batch, d, K))
    return out


def step_flops(w: Workload) -> int:
    """GEMM-equivalent flops of one training step (module docstring): 3 forward - forward(first layer)."""
    f = [2 * r * k * o for r, k, o in _layer_gemms(w)]
    return 3 * sum(f) - f[0]


def _data(w: Workload) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((w.batch, *w.in_shape)).astype(np.float32), rng.integers(0, K, w.batch)


# ------------------------------------------------------------------------------------------------
def sims_step(w: Workload) -> Callable[[], None]:
    """One training step of sims.nn on workload `w`."""
    model = build_cnn(w.config())
    opt = SGD(model.parameters(), lr=0.01)
    x, y = _data(w)

    def step() -> None:
        _, d = softmax_cross_entropy(model.forward(x, True), y)
        model.backward(d)
        opt.step()

    return step


def gemm_step(m: int, k: int, n: int) -> Callable[[], None]:
    """numpy float32 matmul (m, k) @ (k, n) into a preallocated output."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    c = np.empty((m, n), np.float32)
    return lambda: np.matmul(a, b, out=c)


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


def numpy_step(wl: Workload) -> Callable[[], None]:
    """The luo_* training step in plain numpy (BN in training mode, ReLU, max-pool, momentum SGD)."""
    rng = np.random.default_rng(0)
    h, w, c = wl.in_shape
    WIDTHS, FC = wl.widths, wl.fc  # noqa: N806
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
    x, y = _data(wl)

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
def torch_step(w: Workload) -> Callable[[], None] | None:
    """The same step in torch.nn (None when PyTorch is not installed): conv/linear without bias before
    BatchNorm, ReLU, torch.nn.Dropout(p) at the workload's place, max-pool, cross-entropy, SGD(0.9)."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    h, wd, c = w.in_shape
    k, p = ((1, 3), (0, 1)) if h == 1 else ((3, 3), (1, 1))
    pool = (1, 2) if h == 1 else (2, 2)
    drop = w.dropout != "none"

    def block(lin: object, bn: object) -> list:
        out = [lin]
        if drop and w.place == "before":
            out.append(torch.nn.Dropout(w.p_drop))
        out += [bn, torch.nn.ReLU()]
        if drop and w.place == "after":
            out.append(torch.nn.Dropout(w.p_drop))
        return out

    layers, cin = [], c
    for width in w.widths:
        layers += block(torch.nn.Conv2d(cin, width, k, padding=p, bias=False), torch.nn.BatchNorm2d(width))
        cin = width
    if w.widths:
        layers.append(torch.nn.MaxPool2d(pool))
        h, wd = h // pool[0], wd // pool[1]
    layers.append(torch.nn.Flatten())
    d = h * wd * cin
    for f in w.fcs:
        layers += block(torch.nn.Linear(d, f, bias=False), torch.nn.BatchNorm1d(f))
        d = f
    net = torch.nn.Sequential(*layers, torch.nn.Linear(d, K))
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    xn, yn = _data(w)
    x = torch.tensor(xn.transpose(0, 3, 1, 2).copy())
    y = torch.tensor(yn)

    def step() -> None:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()

    return step


def _limit_threads(n: int):
    """Context limiting our threads (chunk runner, part pool, numba, BLAS: bnreg.runtime.thread_limits)
    and torch's to n."""
    from contextlib import ExitStack

    stack = ExitStack()
    stack.enter_context(thread_limits(n))
    try:
        import torch

        old_t = torch.get_num_threads()
        torch.set_num_threads(n)
        stack.callback(torch.set_num_threads, old_t)
    except ImportError:
        pass
    return stack


def run_benchmark(quick: bool = False, threads: tuple[int, ...] | None = None,
                  workloads: tuple[str, ...] | None = None) -> dict:
    """Images/s and GFLOP/s of sims.nn, torch (if installed), the numpy baseline (luo_* only) and the
    machine's numpy GEMM per workload and thread count (default: 2 and 1; quick: 2 threads, the
    `QUICK` workloads): medians over interleaved blocks; vs_torch is the median of the per-block
    ratios, vs_numpy the ratio of medians (gemm and numpy: at most 3 blocks, after sims/torch)."""
    threads = threads or ((2,) if quick else (2, 1))
    workloads = workloads or (QUICK if quick else tuple(WORKLOADS))
    repeats = 3 if quick else 7
    res: dict = {"repeats": repeats, "dtype": "float32", "norm": "bn",
                 "workloads": {n: {"in_shape": list(w.in_shape), "widths": list(w.widths), "fc": list(w.fcs),
                                   "batch": w.batch, "dropout": w.dropout, "p_drop": w.p_drop, "place": w.place,
                                   "step_gflop": step_flops(w) / 1e9, "target_vs_torch": w.target}
                               for n, w in WORKLOADS.items() if n in workloads},
                 "targets": {n: WORKLOADS[n].target for n in workloads}, "runs": [],
                 "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                             "processor": _cpu_name(), "numpy": np.__version__, "numba": nb.__version__,
                             "load_avg_1min": _load(), **blas_info()}}
    try:
        import torch

        res["machine"]["torch"] = torch.__version__
    except ImportError:
        res["machine"]["torch"] = None
    for th in threads:
        with _limit_threads(th):
            large = (2048, 1024, 1024)
            rates = interleaved_rates({"gemm": gemm_step(*large)}, {"gemm": 3 if quick else 10}, repeats)
            run: dict = {"threads": th, "gemm_large": {"shape": list(large),
                                                       "gflops": float(np.median(rates["gemm"])) * 2 * np.prod(large)
                                                       / 1e9},
                         "workloads": {}}
            for name in workloads:
                run["workloads"][name] = _bench_workload(name, quick, repeats)
            res["runs"].append(run)
    res["machine"]["load_avg_1min_after"] = _load()
    return res


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _load() -> float | None:
    return float(os.getloadavg()[0]) if hasattr(os, "getloadavg") else None


def _bench_workload(name: str, quick: bool, repeats: int) -> dict:
    w = WORKLOADS[name]
    # blocks of about 0.2 s (quick: 0.1 s) of sims work; numpy gets a quarter of the steps
    n = max(1, int(w.work * (0.1 if quick else 0.2) / w.batch))
    gm = max(_layer_gemms(w), key=lambda s: s[0] * s[1] * s[2])
    gemm_calls = max(1, int(2e7 * (0.1 if quick else 0.2) / (2 * gm[0] * gm[1] * gm[2])) * 5)
    # sims and torch alternate; the BLAS-threaded references (the GEMM, the numpy step) are timed right
    # after, on their own: OpenBLAS worker threads spin for a while after a call and would slow the
    # block that follows them on a shared machine (hence also the pause before the sims/torch blocks)
    time.sleep(0.25)
    rates = interleaved_rates({"sims": sims_step(w), "torch": torch_step(w)}, {"sims": n, "torch": n}, repeats)
    refs = {"gemm": gemm_step(*gm), "numpy": numpy_step(w) if name.startswith("luo_") else None}
    rates.update(interleaved_rates(refs, {"gemm": gemm_calls, "numpy": max(1, n // 4)}, min(repeats, 3)))
    flops = step_flops(w)
    row: dict = {"steps_per_block": n, "gemm_shape": list(gm)}
    for k in ("sims", "torch", "numpy"):
        row[k] = float(np.median(rates[k])) * w.batch if k in rates else None
        row[f"{k}_blocks"] = [r * w.batch for r in rates[k]] if k in rates else None
        row[f"{k}_gflops"] = float(np.median(rates[k])) * flops / 1e9 if k in rates else None
    row["gemm_gflops"] = float(np.median(rates["gemm"])) * 2 * gm[0] * gm[1] * gm[2] / 1e9
    row["vs_numpy"] = row["sims"] / row["numpy"] if row["numpy"] else None
    row["vs_torch"] = float(np.median(np.divide(rates["sims"], rates["torch"]))) if "torch" in rates else None
    row["target_vs_torch"] = w.target
    row["meets_target"] = None if row["vs_torch"] is None else row["vs_torch"] >= w.target
    return row


def _fmt(x: float | None, spec: str = ".1f") -> str:
    return "n/a" if x is None else format(x, spec)


def format_benchmark(res: dict) -> str:
    """A readable table of `run_benchmark` output."""
    m = res["machine"]
    lines = [f"CNN training throughput (images/s) and GEMM-equivalent GFLOP/s, float32, BN; medians of "
             f"{res['repeats']} interleaved blocks; vs torch = median per-block ratio",
             f"machine: {m['processor']}, {m['cpu_count']} cpus, 1-min load average {_fmt(m['load_avg_1min'])} -> "
             f"{_fmt(m['load_avg_1min_after'])}, torch {m['torch']}",
             f"{'threads':>7} {'workload':>13} {'batch':>5} {'sims':>8} {'torch':>8} {'vs torch':>8} {'target':>7} "
             f"{'sims GF/s':>9} {'torch GF/s':>10} {'GEMM GF/s':>9} {'gemm shape':>16}"]
    for run in res["runs"]:
        for name, r in run["workloads"].items():
            ok = "" if r["meets_target"] is None else (" ok" if r["meets_target"] else " MISS")
            gs = "x".join(map(str, r["gemm_shape"]))
            lines.append(f"{run['threads']:>7} {name:>13} {res['workloads'][name]['batch']:>5} {r['sims']:8.0f} "
                         f"{_fmt(r['torch'], '8.0f'):>8} {_fmt(r['vs_torch'], '8.2f'):>8} "
                         f"{r['target_vs_torch']:>5.1f}x{ok:5} {r['sims_gflops']:9.1f} "
                         f"{_fmt(r['torch_gflops'], '10.1f'):>10} {r['gemm_gflops']:9.1f} {gs:>16}")
        g = run["gemm_large"]
        lines.append(f"{run['threads']:>7} threads: numpy GEMM {'x'.join(map(str, g['shape']))}: "
                     f"{g['gflops']:.1f} GFLOP/s")
    lines.append("GF/s = analytic GEMM-equivalent flops of a step (3 x forward - first layer's input gradient) "
                 "per second; GEMM GF/s = numpy float32 matmul of the workload's largest forward GEMM, same threads.")
    lines.append("Shared machine: absolute numbers are noisy (a load average above the core count means the "
                 "threads share cores); ratios come from interleaved blocks in one run.")
    lines.append(f"BLAS: {m.get('blas')} {m.get('blas_kernel')} kernel")
    note = blas_note(m)
    if note:
        lines.append(note)
    return "\n".join(lines)

"""
Learning rate and batch size: gradient noise and the linear scaling rule
========================================================================

A minibatch gradient is the mean of M per-example gradients, so its noise covariance is exactly
Sigma (N - M)/(M (N - 1)) when the batch is drawn without replacement from N examples (Sigma/M with
replacement), Sigma being the covariance of the per-example gradients; for linear least squares
everything is explicit.  Constant-step SGD then fluctuates around the minimum with excess loss
lr tr(C)/4 to first order in lr (C the minibatch covariance at the minimum; exactly, the solution of
a Lyapunov equation that the demo solves), which depends on lr and M only through about lr/M: keep
lr/M fixed when changing the batch (the linear scaling rule of Goyal et al., arXiv:1706.02677).
The rule is then tried on the CNN library (docs/training_practice.md).
"""

# %%
# Ingredients: exact formulas (``bnreg.theory.training_practice``), the minibatch and SGD Monte
# Carlo for a linear model, and the CNN library's training loop on MNIST-1D.
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from bnreg.demos.common import Report, quick_from_env
from bnreg.runtime import derive_seed
from bnreg.sims.nn.config import CNNConfig
from bnreg.sims.nn.data import load_dataset
from bnreg.sims.nn.train import train
from bnreg.sims.training_practice import (
    linear_dataset,
    per_example_gradients,
    simulate_minibatch_noise,
    simulate_sgd_linear,
)
from bnreg.theory import training_practice as TP

NAME = "lr_batch_size"
TITLE = "learning rate and batch size: minibatch-gradient noise, SGD's excess loss, linear scaling on a CNN"
N, DIM = 200, 5


# %%
# 1. The noise of a minibatch gradient, exact vs Monte Carlo (a fixed dataset, at a point away from
# the minimum).
def gradient_noise(Ms, samples: int, seed: int = 0) -> list[dict[str, float]]:
    X, y, w = linear_dataset(N, DIM, 1.0, seed=seed + 1)
    G = per_example_gradients(X, y, w + 0.3)
    tr = float(np.sum((G - G.mean(axis=0)) ** 2) / N)
    rows = []
    for M in Ms:
        for replace in (False, True):
            mc = simulate_minibatch_noise(G, M, replace, max(samples // M, 256), derive_seed(seed, NAME, M, replace))
            rows.append({"M": M, "replace": replace, "theory": TP.minibatch_mean_var(M, N, tr, replace),
                         "mc": mc.estimate, "se": mc.se})
    return rows


# %%
# 2. Constant-step SGD on the same kind of problem: the stationary excess loss against lr/M.
def sgd_excess(pairs, steps: int, chains: int, seed: int = 0) -> list[dict[str, float]]:
    X, y, w = linear_dataset(N, DIM, 1.0, seed=seed + 2)
    G = per_example_gradients(X, y, w)
    tr = float(np.sum((G - G.mean(axis=0)) ** 2) / N)
    rows = []
    for lr, M in pairs:
        mc = simulate_sgd_linear(X, y, lr, M, steps, steps // 10, n_chains=chains, seed=derive_seed(seed, NAME, lr, M))
        rows.append({"lr": lr, "M": M, "theory": TP.sgd_stationary_excess(X, y, lr, M),
                     "first_order": TP.sgd_excess_loss(lr, M, tr, N), "mc": mc.estimate, "se": mc.se})
    return rows


# %%
# 3. The CNN: batch sizes M with a fixed learning rate, and with lr scaled by M (same epochs);
# replicate k trains with seed `seed + k`, on the fixed data split (split_seed 0).
def cnn(Ms, base_lr: float, base_M: int, seeds: int, n_train: int, epochs: int, widths, fc,
        seed: int = 0) -> list[dict]:
    data = load_dataset("mnist1d", n_train, 1000, 0)
    rows = []
    for rule in ("fixed lr", "lr ∝ M"):
        for M in Ms:
            lr = base_lr * (M / base_M if rule == "lr ∝ M" else 1.0)
            accs = []
            for s in range(seeds):
                cfg = CNNConfig(widths=widths, fc=fc, dataset="mnist1d", n_train=n_train, n_val=1000, batch=M, lr=lr,
                                momentum=0.9, epochs=epochs, seed=seed + s)
                r = train(cfg, progress=False, data=data, threads=1)
                accs.append(float("nan") if r["diverged"] else r["final"]["val_acc"])
            a = np.array(accs)
            rows.append({"rule": rule, "M": M, "lr": lr, "val_acc": float(np.mean(a)),
                         "se": float(np.std(a, ddof=1) / np.sqrt(len(a))) if len(a) > 1 else float("nan")})
    return rows


# %%
# The figure.
def plot(noise, sgd, nets) -> plt.Figure:
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    ax = axes[0]
    Mg = np.arange(1, N)
    tr = noise[0]["theory"]  # M = 1: tr Sigma
    ax.loglog(Mg, [TP.minibatch_mean_var(m, N, tr) for m in Mg], "C0-", label="without replacement (N−M)/(M(N−1))")
    ax.loglog(Mg, tr / Mg, "C1--", label="with replacement 1/M")
    for k, rep in enumerate((False, True)):
        sel = [r for r in noise if r["replace"] == rep]
        ax.errorbar([r["M"] for r in sel], [r["mc"] for r in sel], [r["se"] for r in sel], fmt="o", color=f"C{k}",
                    capsize=2, label=f"MC {'with' if rep else 'without'} replacement")
    ax.set_xlabel("batch size M")
    ax.set_ylabel("tr Cov(minibatch gradient)")
    ax.set_title(f"linear least squares, N = {N}")
    ax.legend(fontsize=7)
    ax = axes[1]
    for k, M in enumerate(sorted({r["M"] for r in sgd})):
        sel = [r for r in sgd if r["M"] == M]
        x = np.array([r["lr"] / M for r in sel])
        ax.errorbar(x, [r["mc"] for r in sel], [r["se"] for r in sel], fmt="o", color=f"C{k}", capsize=2,
                    label=f"SGD, M = {M}")
        ax.plot(x, [r["theory"] for r in sel], f"C{k}-", lw=1)
        ax.plot(x, [r["first_order"] for r in sel], f"C{k}:", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("lr / M")
    ax.set_ylabel("stationary E[L(w)] − L(w*)")
    ax.set_title("SGD noise floor: exact (solid), lr tr(C)/4 (dotted)")
    ax.legend(fontsize=7)
    ax = axes[2]
    for k, rule in enumerate(("fixed lr", "lr ∝ M")):
        sel = [r for r in nets if r["rule"] == rule]
        ax.errorbar([r["M"] for r in sel], [r["val_acc"] for r in sel], [r["se"] for r in sel], fmt="o-",
                    color=f"C{k}", capsize=2, label=rule)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size M")
    ax.set_ylabel("validation accuracy")
    ax.set_title("CNN on MNIST-1D, same number of epochs")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# %%
# Run it.
def main(save: str | None = None, quick: bool = False, seed: int = 0) -> dict[str, float]:
    rep = Report(NAME, TITLE, quick, seed)
    noise = gradient_noise((1, 4, 16, 64, 150) if not quick else (1, 16, 150), 2**16 if quick else 2**21, seed)
    for r in noise:
        rep.compare(f"M = {r['M']:3d} {'with   ' if r['replace'] else 'without'} replacement: tr Cov",
                    f"noise_M{r['M']}_{'w' if r['replace'] else 'wo'}", r["theory"], r["mc"], r["se"])
    pairs = [(lr, M) for M in (4, 16, 64) for lr in (0.01 * M / 4, 0.04 * M / 4)]
    sgd = sgd_excess(pairs, 2000 if quick else 20000, 4 if quick else 32, seed)
    for r in sgd:
        rep.compare(f"SGD lr = {r['lr']:.2f}, M = {r['M']:2d} (lr/M = {r['lr'] / r['M']:.4f}): excess loss",
                    f"sgd_lr{r['lr']:g}_M{r['M']}", r["theory"], r["mc"], r["se"],
                    f"first order lr tr(C)/4 = {r['first_order']:.4g}")
    if quick:
        nets = cnn((16, 64), 0.01, 16, 1, 256, 2, (4, 4, 8, 8), 16, seed)
    else:
        nets = cnn((16, 64, 256), 0.01, 16, 2, 2000, 8, (8, 8, 16, 16), 64, seed)
    for r in nets:
        rep.say(f"  CNN {r['rule']:8s} M = {r['M']:3d} lr = {r['lr']:.3f}: val acc {r['val_acc']:.3f}"
                + (f" ± {r['se']:.3f}" if np.isfinite(r["se"]) else ""))
        rep.number(f"cnn_{'scaled' if '∝' in r['rule'] else 'fixed'}_M{r['M']}_val_acc", r["val_acc"])
    table = {"part": np.array(["noise"] * len(noise) + ["sgd"] * len(sgd) + ["cnn"] * len(nets)),
             "M": np.array([r["M"] for r in noise + sgd + nets]),
             "lr": np.array([np.nan] * len(noise) + [r["lr"] for r in sgd + nets]),
             "variant": np.array([("with" if r["replace"] else "without") for r in noise] + ["iid batches"] * len(sgd)
                                 + [r["rule"] for r in nets]),
             "theory": np.array([r["theory"] for r in noise + sgd] + [np.nan] * len(nets)),
             "sim": np.array([r["mc"] for r in noise + sgd] + [r["val_acc"] for r in nets]),
             "se": np.array([r["se"] for r in noise + sgd + nets])}
    return rep.finish(plot(noise, sgd, nets), table, save)


if __name__ == "__main__":
    results = main(quick=quick_from_env())

"""
Dropout schedules: none, constant, early, late
==============================================

Liu, Xu, Jin, Shen, Darrell, "Dropout Reduces Underfitting" (ICML 2023, arXiv:2303.01500) switch
dropout on only for the first part of training (early dropout: helps models that underfit) or only
after it (late dropout: regularizes models that overfit).  Here a small CNN from the project's
numpy/numba library (``bnreg.sims.nn``) is trained on a small MNIST-1D training set with each
schedule, same seeds, and the final training loss and validation loss/accuracy are compared
(docs/cnn_library.md, "Dropout").  No formula predicts these numbers: the demo measures them.
"""

# %%
# Ingredients: the one configuration of a CNN run (`CNNConfig`), its training loop, the offline
# MNIST-1D data.
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from bnreg.demos.common import Report, quick_from_env
from bnreg.runtime import mc_from_values
from bnreg.sims.nn.config import CNNConfig
from bnreg.sims.nn.data import load_dataset
from bnreg.sims.nn.train import train

NAME = "dropout_schedules"
TITLE = "dropout schedules on MNIST-1D (small CNN, small training set)"
SCHEDULES = ("none", "constant", "early", "late")
P_DROP = 0.1
SWITCH = 0.25  # early: dropout for the first 25 % of the steps; late: from 25 % on


# %%
# One run per (schedule, training seed): replicate k of a run with seed S trains with seed S + k on
# the fixed data split (split_seed 0, as in `bnreg cnn` and the figures: replicates differ in their
# initialization, dropout masks and minibatch order, not in their data).
def run(schedule: str, seed: int, data, n_train: int, epochs: int, widths: tuple[int, ...], fc: int) -> dict:
    cfg = CNNConfig(widths=widths, fc=fc, dataset="mnist1d", n_train=n_train, n_val=len(data.y_val), epochs=epochs,
                    batch=32, lr=0.02, momentum=0.9, seed=seed,
                    dropout="none" if schedule == "none" else "bernoulli",
                    p_drop=0.0 if schedule == "none" else P_DROP,
                    dropout_schedule="constant" if schedule == "none" else schedule, dropout_switch=SWITCH)
    return train(cfg, progress=False, data=data, threads=1)


# %%
# The figure: validation loss over training for each schedule (the first replicate, training seed
# `seed`), and the final numbers.
def plot(runs: dict[str, list[dict]], summary: dict[str, dict], seed: int = 0) -> plt.Figure:
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10.5, 4))
    for j, (s, rs) in enumerate(runs.items()):
        c = rs[0]["curves"]
        ax.plot(c["epoch"], c["val_loss"], f"C{j}-", label=f"{s}: validation")
        ax.plot(c["epoch"], c["train_loss"], f"C{j}:", lw=1)
    ax.axvline(SWITCH * runs["none"][0]["curves"]["epoch"][-1], color="0.6", lw=0.8)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (dotted: training set)")
    ax.set_title(f"p_drop = {P_DROP}, switch at {SWITCH:.0%} of training (seed {seed})")
    ax.legend(fontsize=8)
    x = np.arange(len(summary))
    ax2.errorbar(x, [v["val_acc"].estimate for v in summary.values()], [v["val_acc"].se for v in summary.values()],
                 fmt="o", capsize=3)
    ax2.set_xticks(x, list(summary))
    ax2.set_ylabel("final validation accuracy (mean ± SE over seeds)")
    ax2.set_title("MNIST-1D, inference mode")
    fig.tight_layout()
    return fig


# %%
# Run it.
def main(save: str | None = None, quick: bool = False, seed: int = 0) -> dict[str, float]:
    rep = Report(NAME, TITLE, quick, seed)
    n_train, epochs, seeds = (256, 3, 2) if quick else (1000, 15, 3)
    widths, fc = ((4, 4, 8, 8), 16) if quick else ((8, 8, 16, 16), 64)
    data = load_dataset("mnist1d", n_train, 500 if quick else 2000, 0)  # the fixed split
    runs = {s: [run(s, seed + k, data, n_train, epochs, widths, fc) for k in range(seeds)] for s in SCHEDULES}
    summary = {}
    for s, rs in runs.items():
        f = [r["final"] for r in rs]
        summary[s] = {k: mc_from_values([x[k] for x in f]) for k in ("train_loss", "val_loss", "val_acc")}
        v = summary[s]
        rep.say(f"  {s:8s}: val acc {v['val_acc'].estimate:.3f} ± {v['val_acc'].se:.3f}, "
                f"val loss {v['val_loss'].estimate:.3f} ± {v['val_loss'].se:.3f}, "
                f"train loss {v['train_loss'].estimate:.3f} ± {v['train_loss'].se:.3f} ({seeds} seeds)")
        for k, m in v.items():
            rep.number(f"{s}_{k}", m.estimate)
            rep.number(f"{s}_{k}_se", m.se)
    table = {"schedule": np.array(list(summary))}
    for k in ("train_loss", "val_loss", "val_acc"):
        table[k] = np.array([v[k].estimate for v in summary.values()])
        table[k + "_se"] = np.array([v[k].se for v in summary.values()])
    return rep.finish(plot(runs, summary, seed), table, save, {"n_train": n_train, "epochs": epochs,
                                                               "seeds": seeds, "p_drop": P_DROP, "switch": SWITCH})


if __name__ == "__main__":
    results = main(quick=quick_from_env())

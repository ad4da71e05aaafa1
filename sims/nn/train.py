"""Train one CNN configuration and measure its generalization (docs/cnn.md, "Protocol").

Protocol (every choice, stated once here and in docs/cnn.md):

* Mini-batch SGD with momentum on softmax cross-entropy (+ ``model.regularizer()``, the explicit
  gamma decay of PN).  Each epoch visits a fresh permutation of the training set drawn from
  ``derive_seed(seed, "order", epoch)``; the last incomplete batch is dropped, so every step has
  exactly ``batch`` examples (BN statistics always see M = batch).
* Learning rate: ``constant``; ``cosine``: lr * (1 + cos(pi t / T)) / 2; ``step``: x0.1 at 50 %
  and again at 75 % of the T steps (`sims.nn.optim.scheduled_lr`).
* PN population statistics are recomputed (``model.refresh_population`` on the whole training
  set) before step 0 and then every ``pn_refresh`` steps (0: every epoch) for training.  Every
  evaluation uses statistics recomputed for the current weights (standard PN inference) on a deep
  copy of the model, so the training trajectory does not depend on the evaluation cadence.
* Evaluation every ``eval_every`` steps (0: every epoch) and at the end, in inference mode
  (``training=False``: BN running statistics, PN population statistics, no dropout), on the *whole*
  training set and the whole validation set.  The generalization gap is
  ``val_loss - train_loss``, both measured this way at the end of training.
* A non-finite training loss (or evaluation loss) stops the run; it is returned with
  ``diverged=True`` and the step, and never enters a plot.
* Gradient diagnostics (``grad_diag_every`` > 0): at step 0 and every ``grad_diag_every`` steps, at
  the parameters before that step, `sims.nn.diagnostics.gradient_diagnostics` with
  ``grad_diag_batches`` minibatches of ``batch`` examples (dropout at the step's scheduled rate),
  the full training set in inference mode and the distance from the initialization; computed on a
  copy with its own seeds, so the training trajectory does not depend on them.
* Checkpoints (sims.nn.checkpoint) are written at every evaluation when ``checkpoint_dir`` is
  given; a run with the same config resumes from its last checkpoint and gives the same result as
  an uninterrupted one.

The configuration is `sims.nn.config.CNNConfig`, valid by construction (nothing here checks it
again).  Sweeps of many configs and seeds are in sims.nn.sweep.
"""

from __future__ import annotations

import copy
import math
import os
import sys
import time
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from bnreg.errors import OutputError, ParameterError
from bnreg.params import check_float
from bnreg.runtime import derive_seed, thread_limits

from .checkpoint import capture_state, checkpoint_path, load_checkpoint, restore_state, save_checkpoint
from .config import CNNConfig
from .data import Dataset, load_dataset
from .diagnostics import flat_parameters, gradient_diagnostics
from .model import build_cnn, softmax_cross_entropy
from .optim import SGD, scheduled_lr

__all__ = ["train", "train_model", "evaluate"]

_EVAL_CHUNK = 256


# the model, optimizer and loss of a run (module-level so that tests can put stand-ins in their place)
def _build_model(cfg: CNNConfig):
    return build_cnn(cfg)


def _make_optimizer(params: list, lr: float, momentum: float):
    return SGD(params, lr, momentum=momentum)


def _loss_fn():
    return softmax_cross_entropy


def evaluate(model, x: np.ndarray, y: np.ndarray, loss_fn=None) -> tuple[float, float]:
    """(mean loss, accuracy) of `model` in inference mode over all of `x` (B, H, W, C) with labels
    `y`, in chunks of 256; `loss_fn(logits, y) -> (loss, grad)` defaults to softmax cross-entropy."""
    loss_fn = loss_fn or _loss_fn()
    tot, correct = 0.0, 0
    for i in range(0, len(y), _EVAL_CHUNK):
        with np.errstate(over="ignore", invalid="ignore"):  # a non-finite loss is reported by the caller
            logits = model.forward(x[i:i + _EVAL_CHUNK], training=False)
            loss, _ = loss_fn(logits, y[i:i + _EVAL_CHUNK])
        tot += float(loss) * len(logits)
        correct += int(np.sum(np.argmax(logits, axis=1) == y[i:i + _EVAL_CHUNK]))
    return tot / len(y), correct / len(y)


def _config_text(cfg: CNNConfig) -> str:
    """The fields of cfg that differ from the defaults, as key=value text (messages)."""
    d = CNNConfig()
    diff = {k: v for k, v in cfg.to_dict().items() if v != d.to_dict()[k]}
    return " ".join(f"{k}={v}" for k, v in diff.items()) or "defaults"


# History key of the batch losses since the last evaluation, in a checkpoint taken between two.
_PENDING = "pending_batch_losses"


def train(cfg: CNNConfig, progress: bool = True, checkpoint_dir: str | os.PathLike | None = None,
          data: Dataset | None = None, threads: int | None = None,
          checkpoint_every_s: float = 60.0) -> dict[str, Any]:
    """Train one configuration (module docstring; docs/cnn.md, "Protocol").

    Parameters: `cfg` the run (a CNNConfig, valid by construction; ParameterError before any work
    if its batch exceeds the dataset's training split); `progress` show a progress bar;
    `checkpoint_dir` write checkpoints there and resume from one of the same config (at every
    evaluation, and at least every `checkpoint_every_s` seconds of training in between, so a long
    epoch loses at most that much work); `data` a preloaded Dataset (else loaded from cfg);
    `threads` numba/BLAS thread cap (None: unchanged).

    Returns JSON-able metrics: "config" (the config with the data's in_shape/n_classes),
    "config_key", "n_train", "n_val", "in_shape", "steps", "steps_per_epoch", "data_mean",
    "data_std", "curves" (step, epoch, lr, mean training-mode batch loss, train/val loss and
    accuracy in inference mode, regularizer), "gamma2" (curve per normalized layer), "grad_diagnostics"
    (step, gdv, gde, grad_norm, mb_grad_norm, dist_init lists; {} when grad_diag_every = 0), "final"
    (train/val loss and accuracy, gap = val_loss - train_loss, gamma2; {} if diverged),
    "diverged", "diverged_step", "message", "wall_time_s", "resumed_from"."""
    return train_model(cfg, progress, checkpoint_dir, data, threads, checkpoint_every_s)[0]


def train_model(cfg: CNNConfig, progress: bool = True, checkpoint_dir: str | os.PathLike | None = None,
                data: Dataset | None = None, threads: int | None = None,
                checkpoint_every_s: float = 60.0) -> tuple[dict[str, Any], Any]:
    """`train`, also returning the trained model: (metrics, model), the model as it is at the end of
    training (or at divergence), for diagnostics on the trained weights (sims.nn.diagnostics)."""
    if not isinstance(cfg, CNNConfig):
        raise ParameterError(f"cfg must be a CNNConfig (got {type(cfg).__name__})")
    checkpoint_every_s = check_float("checkpoint_every_s", checkpoint_every_s, 0.0)
    with thread_limits(threads):
        return _train(cfg, progress, checkpoint_dir, data, checkpoint_every_s)


def _train(cfg: CNNConfig, progress: bool, checkpoint_dir: str | os.PathLike | None,
           data: Dataset | None, checkpoint_every_s: float = 60.0) -> tuple[dict[str, Any], Any]:
    t_start = time.perf_counter()
    if data is None:
        data = load_dataset(cfg.dataset, cfg.n_train, cfg.n_val, cfg.split_seed, cfg.data_dir)
    n = len(data.y_train)
    if cfg.batch > n:
        raise ParameterError(f"batch must satisfy batch <= n_train = {n} (got {cfg.batch})")
    spe = n // cfg.batch
    total = cfg.steps if cfg.steps is not None else cfg.epochs * spe
    eval_every = cfg.eval_every or spe
    pn_every = cfg.pn_refresh or spe
    run_cfg = cfg.with_data(data.in_shape, data.n_classes)
    model = _build_model(run_cfg)
    theta0 = flat_parameters(model) if cfg.grad_diag_every else None  # the initialization (same on resume)
    opt = _make_optimizer(model.parameters(), cfg.lr, cfg.momentum)
    loss_fn = _loss_fn()
    is_pn = cfg.norm == "pn"

    hist: dict[str, Any] = {k: [] for k in ("step", "epoch", "lr", "train_loss_batch", "train_loss", "train_acc",
                                           "val_loss", "val_acc", "regularizer")}
    hist["gamma2"] = {}
    if cfg.grad_diag_every:
        keys = ("step", "gdv", "gde", "grad_norm", "mb_grad_norm", "dist_init")
        hist["grad_diag"] = {k: [] for k in keys + (("gde_train", "gdv_eval", "gde_eval")
                                                     if cfg.grad_diag_conventions else ())}
    start, ckpt = 0, None
    ckpt_path = checkpoint_path(checkpoint_dir, run_cfg) if checkpoint_dir is not None else None
    batch_losses: list[float] = []
    if ckpt_path is not None and (ckpt_path.is_dir() or (ckpt_path.exists() and not ckpt_path.is_file())):
        # checked before training, not at the first save
        raise OutputError(f"cannot write the checkpoint {ckpt_path}: a directory or a special file is in the way")
    if ckpt_path is not None:
        ckpt = load_checkpoint(ckpt_path, run_cfg)
        if ckpt is not None:
            start, state, hist, _ = ckpt
            restore_state({"model": model, "opt": opt}, state)
            # a checkpoint between evaluations carries the batch losses of the open interval
            batch_losses = hist.pop(_PENDING, [])
    diverged, div_step, message = False, None, ""
    bar = tqdm(total=total, initial=start, desc=f"cnn {cfg.norm}", disable=not progress, leave=False,
               file=sys.stderr)

    def record(step: int) -> bool:
        ev = model
        if is_pn:  # evaluate PN with the current weights' statistics, on a copy: training is untouched
            ev = copy.deepcopy(model)
            ev.refresh_population(data.x_train)
        tr_loss, tr_acc = evaluate(ev, data.x_train, data.y_train, loss_fn)
        va_loss, va_acc = evaluate(ev, data.x_val, data.y_val, loss_fn)
        hist["step"].append(step)
        hist["epoch"].append(step / spe)
        hist["lr"].append(scheduled_lr(cfg.lr, cfg.lr_schedule, min(step, total - 1), total))
        hist["train_loss_batch"].append(float(np.mean(batch_losses)) if batch_losses else None)
        hist["train_loss"].append(tr_loss)
        hist["train_acc"].append(tr_acc)
        hist["val_loss"].append(va_loss)
        hist["val_acc"].append(va_acc)
        hist["regularizer"].append(float(ev.regularizer()))
        for layer, g in ev.gamma2().items():
            hist["gamma2"].setdefault(str(layer), []).append(float(g))
        batch_losses.clear()
        return math.isfinite(tr_loss) and math.isfinite(va_loss)

    done_already = ckpt is not None and ckpt[3]
    try:
        if not done_already:
            if start == 0:
                if is_pn:
                    model.refresh_population(data.x_train)
                record(0)
            perm, perm_epoch = None, -1
            last_save = time.monotonic()
            for step in range(start, total):
                epoch = step // spe
                if epoch != perm_epoch:
                    perm = np.random.default_rng(derive_seed(cfg.seed, "order", epoch)).permutation(n)
                    perm_epoch = epoch
                if is_pn and step > 0 and step % pn_every == 0:
                    model.refresh_population(data.x_train)
                j = (step % spe) * cfg.batch
                idx = perm[j:j + cfg.batch]
                model.set_step(step, total)
                if cfg.grad_diag_every and step % cfg.grad_diag_every == 0:
                    gd = gradient_diagnostics(model, data.x_train, data.y_train, cfg.batch, cfg.grad_diag_batches,
                                              derive_seed(cfg.seed, "grad_diag", step), theta0,
                                              cfg.grad_diag_conventions)
                    hist["grad_diag"]["step"].append(step)
                    for k, v in gd.items():
                        hist["grad_diag"][k].append(v)
                with np.errstate(over="ignore", invalid="ignore"):  # divergence is caught just below
                    logits = model.forward(data.x_train[idx], training=True)
                    loss, dlogits = loss_fn(logits, data.y_train[idx])
                    reg = float(model.regularizer())
                full = float(loss) + reg
                if not math.isfinite(full):
                    diverged, div_step = True, step
                    break
                batch_losses.append(float(loss))
                with np.errstate(over="ignore", invalid="ignore"):
                    model.backward(dlogits)
                    opt.lr = scheduled_lr(cfg.lr, cfg.lr_schedule, step, total)
                    opt.step()
                bar.update(1)
                if progress and step % 20 == 0:
                    bar.set_postfix(loss=f"{loss:.3f}")
                last = step + 1 == total
                if (step + 1) % eval_every == 0 or last:
                    if not record(step + 1):
                        diverged, div_step = True, step + 1
                        break
                    if ckpt_path is not None:
                        save_checkpoint(ckpt_path, run_cfg, step + 1, capture_state({"model": model, "opt": opt}),
                                        hist, last)
                        last_save = time.monotonic()
                elif ckpt_path is not None and time.monotonic() - last_save >= checkpoint_every_s:
                    save_checkpoint(ckpt_path, run_cfg, step + 1, capture_state({"model": model, "opt": opt}),
                                    {**hist, _PENDING: list(batch_losses)}, False)
                    last_save = time.monotonic()
    finally:
        bar.close()
    if diverged:
        message = (f"diverged: non-finite loss at step {div_step} of {total} for config {_config_text(cfg)}; "
                   "recorded as diverged, not plotted")
        print(f"bnreg cnn: {message}", file=sys.stderr)
    final: dict[str, Any] = {}
    if not diverged:
        final = {"train_loss": hist["train_loss"][-1], "val_loss": hist["val_loss"][-1],
                 "train_acc": hist["train_acc"][-1], "val_acc": hist["val_acc"][-1],
                 "gap": hist["val_loss"][-1] - hist["train_loss"][-1],
                 "gamma2": {k: v[-1] for k, v in hist["gamma2"].items()}}
    return {
        "config": run_cfg.to_dict(), "config_key": run_cfg.key(), "n_train": n, "n_val": len(data.y_val),
        "in_shape": list(data.in_shape), "steps": total, "steps_per_epoch": spe,
        "data_mean": data.mean.tolist(), "data_std": data.std.tolist(),
        "curves": {k: v for k, v in hist.items() if k not in ("gamma2", "grad_diag")}, "gamma2": hist["gamma2"],
        "grad_diagnostics": hist.get("grad_diag", {}),
        "final": final, "diverged": diverged, "diverged_step": div_step, "message": message,
        "wall_time_s": time.perf_counter() - t_start, "resumed_from": start,
    }, model

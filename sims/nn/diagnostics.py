"""Diagnostics of a trained network: its variance shift and its gradient direction variance and error.

The variance shift: Li, Chen, Hu, Yang, "Understanding the Disharmony between Dropout and Batch
Normalization by Variance Shift", CVPR 2019, arXiv:1801.05134; docs/variance_shift.md, "Trained
networks".

* `bn_shift_per_layer(model, x)`: per BN layer, the real statistics of the layer's input over `x`
  in inference mode (every upstream BN with its running statistics, no dropout) against the running
  statistics learned in training (the paper's Fig. 1).
* `reestimate_bn_statistics(model, x, batch)`: the "recompute BN statistics" fix: one pass over `x`
  in training mode (batch statistics) with dropout off; every BN layer's running mean/variance
  becomes the population mean/variance (exact averages over the pass, not an EMA) of its input.
* `train_vs_inference(model, x, y, batch)`: the same weights in training mode (batch statistics,
  dropout on, fixed seed) and in inference mode on one data set: both accuracies and the samples
  that flip from correct to wrong (the paper's Figs. 5, 6).

Gradient diagnostics (Liu, Xu, Jin, Shen, Darrell, "Dropout Reduces Underfitting", ICML 2023,
arXiv:2303.01500, §3; docs/dropout.md), at fixed parameters from n minibatch gradients g_i (training
mode, dropout as in training at the current scheduled rate) and the full-training-set gradient g^
(inference mode: dropout off, BN running statistics):
* `gradient_direction_variance(G)` GDV = 2/(n(n-1)) sum_{i<j} (1 - cos(g_i, g_j));
* `gradient_direction_error(G, g_full)` GDE = (1/n) sum_i (1 - cos(g_i, g^));
* `gradient_diagnostics(model, x, y, batch, n, seed, theta0)`: both, |g^|, mean |g_i| and the distance
  |theta - theta0| from the initialization, on a copy (the model, its running statistics and its
  dropout generators are untouched).

The layer inputs are read with `Model.forward`'s hook, which changes no number of the pass.
Statistics are per channel over examples and positions (the BN convention), accumulated in float64
around the running mean (no cancellation), variances with ddof = 0.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np

from bnreg.params import ParameterError, check_int
from bnreg.runtime import derive_seed

from .model import Model
from .norm import Norm

__all__ = ["bn_layers", "bn_shift_per_layer", "reestimate_bn_statistics", "train_vs_inference",
           "gradient_direction_variance", "gradient_direction_error", "flat_parameters", "minibatch_gradients",
           "full_gradient", "gradient_diagnostics"]


def bn_layers(model: Model) -> list[Norm]:
    """The BN layers (kind "bn": batch statistics in training, running statistics at inference) of
    `model`, in order.  Raises ParameterError if there is none."""
    norms = [n for n in model.norms if n.kind == "bn"]
    if not norms:
        raise ParameterError("the model must have at least one BN layer (norm='bn')")
    return norms


def _check_x(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[0] < 2:
        raise ParameterError(f"x must have shape (N, H, W, C) with N >= 2 (got {x.shape})")
    return x


class _Moments:
    """Per-channel count, sum and sum of squares of each watched layer's input, around `center`."""

    def __init__(self, norms: list[Norm], centers: list[np.ndarray] | None = None) -> None:
        self.index = {id(n): k for k, n in enumerate(norms)}
        self.center: list[np.ndarray | None] = list(centers) if centers is not None else [None] * len(norms)
        self.n = [0] * len(norms)
        self.s1 = [np.zeros(n.channels) for n in norms]
        self.s2 = [np.zeros(n.channels) for n in norms]

    def __call__(self, layer: Any, x: np.ndarray) -> None:
        k = self.index.get(id(layer))
        if k is None:
            return
        z = x.reshape(-1, x.shape[-1]).astype(np.float64)
        if self.center[k] is None:  # first batch: centre at its mean (stable sums)
            self.center[k] = z.mean(axis=0)
        z -= self.center[k]
        self.n[k] += z.shape[0]
        self.s1[k] += z.sum(axis=0)
        self.s2[k] += np.einsum("ij,ij->j", z, z)

    def mean_var(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(mean, variance with ddof = 0) per channel of watched layer k."""
        d = self.s1[k] / self.n[k]
        return self.center[k] + d, np.maximum(self.s2[k] / self.n[k] - d * d, 0.0)


def bn_shift_per_layer(model: Model, x: np.ndarray) -> dict[str, np.ndarray]:
    """The variance shift of every BN layer of `model` over the data `x` (N, H, W, C), N >= 2.

    One inference-mode pass (running statistics, no dropout) records each BN layer's input z.  Per
    layer, with per-channel real mean m_c and variance v_c (ddof 0, over examples and positions) and
    running statistics r_c, s_c (s_c + eps is what BN divides by at inference, eps = 1e-5):

        var_ratio   = mean_c  v_c / (s_c + eps)            1 = no shift; < 1: inference variance smaller
        mean_shift2 = mean_c (m_c - r_c)^2 / (s_c + eps)
        real_var    = mean_c v_c,   running_var = mean_c s_c

    Returns a dict of arrays over the BN layers in order: "layer" (names), "var_ratio",
    "mean_shift2", "real_var", "running_var".  The model is not changed."""
    norms = bn_layers(model)
    x = _check_x(x)
    acc = _Moments(norms, [n.running_mean.copy() for n in norms])
    model.forward(x, training=False, hook=acc)
    out: dict[str, list] = {k: [] for k in ("layer", "var_ratio", "mean_shift2", "real_var", "running_var")}
    for k, n in enumerate(norms):
        m, v = acc.mean_var(k)
        den = n.running_var + n.eps
        out["layer"].append(n.name)
        out["var_ratio"].append(float(np.mean(v / den)))
        out["mean_shift2"].append(float(np.mean((m - n.running_mean) ** 2 / den)))
        out["real_var"].append(float(np.mean(v)))
        out["running_var"].append(float(np.mean(n.running_var)))
    return {k: np.array(v, dtype=str if k == "layer" else float) for k, v in out.items()}


def _batches(n: int, batch: int, seed: int | None) -> list[np.ndarray]:
    """Indices 0..n-1 (a `seed` permutation; None: in order) in ceil(n / batch) nearly equal parts,
    so every batch has between batch/2 and batch examples (no tiny last batch)."""
    idx = np.arange(n) if seed is None else np.random.default_rng(derive_seed(seed, "batches")).permutation(n)
    return np.array_split(idx, math.ceil(n / batch))


def reestimate_bn_statistics(model: Model, x: np.ndarray, batch: int, seed: int | None = 0) -> None:
    """Re-estimate every BN layer's running statistics on `x` (N, H, W, C) with dropout off.

    One pass over `x` in training mode (BN with batch statistics, as in training) with every dropout
    layer the identity, in ceil(N / batch) batches of nearly equal size (a `seed` permutation of x;
    None: in order).  Each BN layer's running mean and variance are then set to the population mean
    and variance (ddof 0) of its input over the whole pass: exact averages, not an EMA.  The layer-1
    statistics are then exactly those of the inference-mode input; deeper layers saw upstream
    layers normalized with batch statistics, so their inference-mode ratio is 1 up to the batch
    noise, O(1/batch) (exactly 1 for batch >= N).  Model state other than the running statistics is
    unchanged (the dropout generators are not advanced)."""
    norms = bn_layers(model)
    x = _check_x(x)
    batch = check_int("batch", batch, 2)
    acc = _Moments(norms)
    saved_m = model.batch_size
    with model.dropout_off():
        for idx in _batches(x.shape[0], batch, seed):
            model.forward(x[idx], training=True, hook=acc)
    model.batch_size = saved_m
    for k, n in enumerate(norms):
        m, v = acc.mean_var(k)
        n.running_mean[...] = m
        n.running_var[...] = v


def train_vs_inference(model: Model, x: np.ndarray, y: np.ndarray, batch: int, seed: int = 0) -> dict[str, Any]:
    """The same weights in training mode and in inference mode on `x` (N, H, W, C) with labels `y`.

    Training mode: BN with batch statistics and dropout on, over ceil(N / batch) batches of nearly
    equal size (a `seed` permutation of x) with dropout generators seeded from `seed`; it runs on a
    copy, so the model's running statistics and generators are untouched.  Inference mode: running
    statistics, no dropout.  Returns {"train_mode_acc", "inference_acc", "flips_to_wrong" (correct in
    training mode, wrong at inference), "flips_to_right" (the reverse), "n"}."""
    x = _check_x(x)
    y = np.asarray(y)
    if y.shape != (x.shape[0],):
        raise ParameterError(f"y must have shape ({x.shape[0]},) (got {y.shape})")
    batch = check_int("batch", batch, 2)
    tm = copy.deepcopy(model)
    for k, d in enumerate(tm.dropouts):
        d.rng = np.random.default_rng(derive_seed(seed, "dropout", k))
    pred_train = np.empty(x.shape[0], dtype=np.int64)
    for idx in _batches(x.shape[0], batch, seed):
        pred_train[idx] = np.argmax(tm.forward(x[idx], training=True), axis=1)
    pred_inf = np.argmax(model.forward(x, training=False), axis=1)
    ok_t, ok_i = pred_train == y, pred_inf == y
    return {"train_mode_acc": float(ok_t.mean()), "inference_acc": float(ok_i.mean()),
            "flips_to_wrong": int(np.sum(ok_t & ~ok_i)), "flips_to_right": int(np.sum(~ok_t & ok_i)),
            "n": int(x.shape[0])}


# ------------------------------------------------------------------------------ gradient diagnostics
def _unit_rows(G: np.ndarray, name: str) -> np.ndarray:
    G = np.asarray(G, dtype=float)
    if G.ndim != 2 or G.shape[1] < 1:
        raise ParameterError(f"{name} must be an n x D array (got shape {G.shape})")
    if not np.isfinite(G).all():
        raise ParameterError(f"{name} must be finite (found NaN or inf)")
    norms = np.linalg.norm(G, axis=1)
    if np.any(norms == 0):
        raise ParameterError(f"{name} has a zero gradient: its direction (cosine) is undefined")
    return G / norms[:, None]


def gradient_direction_variance(G: np.ndarray) -> float:
    """GDV = 2/(n(n-1)) sum_{i<j} (1 - cos(g_i, g_j)) over the rows g_i of `G` (n x D, n >= 2, no zero row).

    0 when all gradients point the same way, 1 for mutually orthogonal ones, at most 2.  Liu et al.,
    ICML 2023 (arXiv:2303.01500), §3.  Returns the GDV."""
    U = _unit_rows(G, "G")
    n = U.shape[0]
    if n < 2:
        raise ParameterError(f"G must have n >= 2 rows (got {n})")
    s = U.sum(axis=0)
    # sum_{i<j} cos_ij = (|sum u_i|^2 - n)/2
    return float(1.0 - (s @ s - n) / (n * (n - 1)))


def gradient_direction_error(G: np.ndarray, g_full: np.ndarray) -> float:
    """GDE = (1/n) sum_i (1 - cos(g_i, g_full)) over the rows g_i of `G` (n x D) against the full-data
    gradient `g_full` (D,), no zero vector.  Liu et al., ICML 2023 (arXiv:2303.01500), §3.  Returns the GDE."""
    U = _unit_rows(G, "G")
    g = _unit_rows(np.asarray(g_full, dtype=float).reshape(1, -1), "g_full")[0]
    if g.shape[0] != U.shape[1]:
        raise ParameterError(f"g_full must have D = {U.shape[1]} entries (got {g.shape[0]})")
    return float(np.mean(1.0 - U @ g))


def flat_parameters(model: Model) -> np.ndarray:
    """All trainable parameters of `model` as one float64 vector (layer order)."""
    return np.concatenate([p.value.astype(np.float64).ravel() for p in model.parameters()])


def _flat_grad(model: Model) -> np.ndarray:
    return np.concatenate([p.grad.astype(np.float64).ravel() for p in model.parameters()])


def _check_xy(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = _check_x(x)
    y = np.asarray(y)
    if y.shape != (x.shape[0],):
        raise ParameterError(f"y must have shape ({x.shape[0]},) (got {y.shape})")
    return x, y


def minibatch_gradients(model: Model, x: np.ndarray, y: np.ndarray, batch: int, n: int, seed: int = 0,
                        loss_fn=None, training: bool = True) -> np.ndarray:
    """n gradients (n x D, float64) of the mean loss (+ regularizer) on minibatches of `batch` examples
    (each drawn without replacement from x, seeded by `seed`), in training mode with dropout as in
    training at its current rate (masks from generators seeded by `seed`), or in inference mode
    (`training` False: dropout off, BN with running statistics).  Runs on a copy of `model`:
    its parameters, running statistics and generators are untouched.  `loss_fn(logits, y) -> (loss,
    dlogits)` defaults to softmax cross-entropy."""
    from .model import softmax_cross_entropy

    x, y = _check_xy(x, y)
    batch = check_int("batch", batch, 2, x.shape[0])
    n = check_int("n", n, 1)
    loss_fn = loss_fn or softmax_cross_entropy
    m = copy.deepcopy(model)
    for k, d in enumerate(m.dropouts):
        d.rng = np.random.default_rng(derive_seed(seed, "grad_dropout", k))
    rng = np.random.default_rng(derive_seed(seed, "grad_batches"))
    out = np.empty((n, flat_parameters(m).size))
    for i in range(n):
        idx = rng.choice(x.shape[0], size=batch, replace=False)
        _, dlogits = loss_fn(m.forward(x[idx], training=training), y[idx])
        m.backward(dlogits)
        out[i] = _flat_grad(m)
    return out


def full_gradient(model: Model, x: np.ndarray, y: np.ndarray, loss_fn=None, training: bool = False,
                  seed: int = 0) -> np.ndarray:
    """The gradient (D,) of the mean loss over all of x in inference mode (dropout off, BN with its
    running statistics, PN with its population statistics), accumulated over chunks of
    `model.eval_batch` examples, plus the regularizer's gradient (the PN gamma decay, added by
    backward once per chunk, so it is weighted by the chunk fractions: exactly once in total).
    `training` True: the same over x in training mode, one dropout mask per example (generators seeded
    by `seed`), an unbiased estimate of the gradient of the objective SGD follows in expectation.
    Runs on a copy of `model`."""
    from .model import softmax_cross_entropy

    x, y = _check_xy(x, y)
    loss_fn = loss_fn or softmax_cross_entropy
    m = copy.deepcopy(model)
    if training:
        for k, d in enumerate(m.dropouts):
            d.rng = np.random.default_rng(derive_seed(seed, "full_grad_dropout", k))
    total = np.zeros(flat_parameters(m).size)
    nx = x.shape[0]
    for s in range(0, nx, m.eval_batch):
        xb, yb = x[s:s + m.eval_batch], y[s:s + m.eval_batch]
        _, dlogits = loss_fn(m.forward(xb, training=training), yb)
        m.backward(dlogits)  # gradient of the chunk mean; weight by the chunk's share
        total += _flat_grad(m) * (len(yb) / nx)
    return total


def gradient_diagnostics(model: Model, x: np.ndarray, y: np.ndarray, batch: int, n: int, seed: int = 0,
                         theta0: np.ndarray | None = None, other_conventions: bool = False) -> dict[str, float]:
    """The gradient diagnostics of `model` at its current parameters (module docstring): "gdv" and "gde"
    from n minibatch gradients (`minibatch_gradients(model, x, y, batch, n, seed)`) and the full
    gradient (`full_gradient(model, x, y)`), "grad_norm" = |g^|, "mb_grad_norm" = mean_i |g_i| and
    "dist_init" = |theta - theta0| (NaN without theta0).  `other_conventions`: also "gde_train" (the same
    minibatch gradients against the full gradient in training mode, `full_gradient(..., training=True)`),
    "gdv_eval" and "gde_eval" (the same minibatches with dropout off).  The model is not changed."""
    G = minibatch_gradients(model, x, y, batch, n, seed)
    g = full_gradient(model, x, y)
    theta = flat_parameters(model)
    out = {"gdv": gradient_direction_variance(G) if n >= 2 else math.nan,
           "gde": gradient_direction_error(G, g), "grad_norm": float(np.linalg.norm(g)),
            "mb_grad_norm": float(np.mean(np.linalg.norm(G, axis=1))),
           "dist_init": float(np.linalg.norm(theta - theta0)) if theta0 is not None else math.nan}
    if other_conventions:
        # the error against the training-mode objective's gradient, and the spread of the gradients of the
        # same minibatches with dropout off (the model's own geometry, without the masks' noise)
        out["gde_train"] = gradient_direction_error(G, full_gradient(model, x, y, training=True, seed=seed))
        Ge = minibatch_gradients(model, x, y, batch, n, seed, training=False)
        out["gdv_eval"] = gradient_direction_variance(Ge) if n >= 2 else math.nan
        out["gde_eval"] = gradient_direction_error(Ge, g)
    return out

"""Weight penalties and early stopping, simulated: L1 vs L2 on an orthonormal design, GD on a teacher, an MLP.

Part 4 of the training-practice simulations (the public face: sims/training_practice.py; theory:
bnreg.theory.training_practice and teacher_student.gen_error_gd): proximal gradient descent for the
lasso and ridge, the per-coordinate estimators on z ~ N(w*, sigma^2) directly (a numba kernel),
full-batch gradient descent stopped early, and a small MLP of the network library trained with
weight decay (L2) or a proximal L1 step.
"""

from __future__ import annotations

import math
from typing import Any

import numba as nb
import numpy as np

from bnreg.params import ParameterError, check_choice, check_float, check_int
from bnreg.runtime import MCResult, derive_seed, jackknife, mc_from_values, one_blas_thread, run_chunks, split_batches

from .nn.layers import Dense, ReLU
from .nn.model import softmax_cross_entropy
from .nn.optim import SGD

__all__ = ["simulate_penalized_orthonormal", "orthonormal_estimates_kernel", "simulate_orthonormal_estimates",
           "gd_teacher_errors", "train_mlp"]


# ------------------------------------------------------------------------------ L1 vs L2
def simulate_penalized_orthonormal(w_star: np.ndarray, sigma: float, lams, n_rep: int = 200, N: int | None = None,
                                   seed: int = 0, iters: int = 100) -> dict[str, np.ndarray]:
    """Fit y = X w* + sigma eps with an orthonormal design X (N x dim, X^T X = I, from a QR) by
    proximal gradient descent (`iters` steps of size 1/(1 + max lam), stable for both: ISTA for
    L1 = lam |w|_1, gradient descent with weight decay for L2 = lam |w|^2/2), for each lam, over
    n_rep noise draws.  Returns arrays
    (len(lams),): "l1_risk", "l1_risk_se", "l1_zero", "l2_risk", "l2_risk_se", "l2_zero" (risk =
    |w - w*|^2 per coordinate; zero = fraction of coefficients exactly 0)."""
    w_star = np.asarray(w_star, dtype=float)
    dim = w_star.size
    sigma = check_float("sigma", sigma, 0.0, lo_open=True)
    lams = np.atleast_1d(np.asarray(lams, dtype=float))
    N = dim * 2 if N is None else check_int("N", N, dim)
    rng = np.random.default_rng(derive_seed(seed, "orthonormal"))
    X, _ = np.linalg.qr(rng.standard_normal((N, dim)))
    out = {k: np.zeros(len(lams)) for k in ("l1_risk", "l1_risk_se", "l1_zero", "l2_risk", "l2_risk_se", "l2_zero")}
    step = 1.0 / (1.0 + float(np.max(lams)))
    for j, lam_ in enumerate(lams):
        risks = {"l1": [], "l2": []}
        zeros = {"l1": [], "l2": []}
        for r in range(n_rep):
            y = X @ w_star + sigma * np.random.default_rng(derive_seed(seed, "noise", r)).standard_normal(N)
            w1 = np.zeros(dim)
            w2 = np.zeros(dim)
            for _ in range(iters):
                v = w1 - step * (X.T @ (X @ w1 - y))
                w1 = np.sign(v) * np.maximum(np.abs(v) - step * lam_, 0.0)
                w2 = w2 - step * (X.T @ (X @ w2 - y) + lam_ * w2)
            for k, w in (("l1", w1), ("l2", w2)):
                risks[k].append(np.mean((w - w_star) ** 2))
                zeros[k].append(np.mean(w == 0.0))
        for k in ("l1", "l2"):
            m = mc_from_values(risks[k])
            out[f"{k}_risk"][j], out[f"{k}_risk_se"][j] = m.estimate, m.se
            out[f"{k}_zero"][j] = float(np.mean(zeros[k]))
    return out


@nb.njit(cache=True, nogil=True)
def orthonormal_estimates_kernel(rng, lam, w_star, sigma, n, out):  # pragma: no cover - njit
    """n draws z = w* + sigma u, u ~ N(0, 1) (the least-squares coefficient of an orthonormal
    design): adds sum (z/(1 + lam) - w*)^2 (ridge), sum (sign(z)(|z| - lam)_+ - w*)^2 (lasso) and
    the number of lasso zeros (|z| <= lam) to out[0:3]."""
    shrink = 1.0 / (1.0 + lam)
    r2 = 0.0
    r1 = 0.0
    zeros = 0
    for _ in range(n):
        z = w_star + sigma * rng.standard_normal()
        e = z * shrink - w_star
        r2 += e * e
        if z > lam:
            e = z - lam - w_star
        elif z < -lam:
            e = z + lam - w_star
        else:
            e = -w_star
            zeros += 1
        r1 += e * e
    out[0] += r2
    out[1] += r1
    out[2] += zeros


def simulate_orthonormal_estimates(lam: float, w_star: float = 0.0, sigma: float = 1.0, n: int = 1_000_000,
                                   seed: int = 0, n_chunks: int = 64, threads: int | None = None
                                   ) -> dict[str, MCResult]:
    """Per-coordinate ridge and lasso with an orthonormal design, on n draws z ~ N(w*, sigma^2) (theory:
    ridge_orthonormal_risk, lasso_orthonormal_risk, lasso_zero_prob).  Returns MCResults (jackknife
    over chunks) "ridge_risk" E[(z/(1 + lam) - w*)^2], "lasso_risk" E[(sign(z)(|z| - lam)_+ - w*)^2],
    "lasso_zero" P(|z| <= lam)."""
    lam = check_float("lam", lam, 0.0)
    w_star = check_float("w_star", w_star)
    sigma = check_float("sigma", sigma, 0.0, lo_open=True)
    per = split_batches(n, n_chunks)

    def chunk(i: int, rng: np.random.Generator) -> np.ndarray:
        out = np.zeros(4)
        orthonormal_estimates_kernel(rng, lam, w_star, sigma, per, out)
        out[3] = per
        return out

    sums = run_chunks(chunk, n_chunks, seed, threads)
    return {k: jackknife(lambda t, j=j: t[j] / t[3], sums, per * n_chunks)
            for j, k in enumerate(("ridge_risk", "lasso_risk", "lasso_zero"))}


# ------------------------------------------------------------------------- early stopping
def gd_teacher_errors(N: int, alpha: float, taus, delta2: float = 0.25, lr: float = 0.1, n_data: int = 8,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Full-batch gradient descent on (1/P) sum (v . x - y)^2 for a linear teacher (the data of
    sims.teacher_student: x ~ N(0, I_N), y = w* . x + sqrt(delta2) eps, |w*|^2 = 1) from v = 0;
    eps_gen = |v - w*|^2 at gradient-flow times `taus` (tau = lr x steps; theory
    teacher_student.gen_error_gd).  Returns (mean, SE) over n_data datasets, arrays like taus."""
    from .teacher_student import n_samples, teacher_data

    N = check_int("N", N, 2)
    P = n_samples(N, alpha)
    taus = np.atleast_1d(np.asarray(taus, dtype=float))
    steps = np.round(taus / check_float("lr", lr, 0.0, lo_open=True)).astype(int)
    errs = np.zeros((check_int("n_data", n_data, 2), len(taus)))
    for k in range(n_data):
        X, y, w_star = teacher_data(N, P, delta2, np.random.default_rng(derive_seed(seed, "gd_teacher", k)))
        A = X.T @ X / P
        b = X.T @ y / P
        v = np.zeros(N)
        done = 0
        for j, s in enumerate(steps):
            for _ in range(s - done):
                v -= lr * 2.0 * (A @ v - b)
            done = max(done, s)
            errs[k, j] = float(np.sum((v - w_star) ** 2))
    return errs.mean(axis=0), errs.std(axis=0, ddof=1) / math.sqrt(n_data)


def train_mlp(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, x_test: np.ndarray,
              y_test: np.ndarray, hidden: int = 128, penalty: str = "none", lam: float = 0.0, lr: float = 0.05,
              momentum: float = 0.9, epochs: int = 100, batch: int = 32, seed: int = 0) -> dict[str, Any]:
    """A one-hidden-layer ReLU MLP from the network library (`Dense`, `ReLU`, `SGD`,
    `softmax_cross_entropy`) trained by minibatch SGD with momentum on flattened inputs.
    penalty "l2": lam |W|^2/2 on the weights (gradient lam W, i.e. weight decay); "l1": lam |W|_1
    by a proximal step after each update (soft threshold lr lam: exact zeros); biases never.
    Returns per-epoch curves (train_loss, val_loss, val_acc, test_acc), the final and the
    early-stopped (best validation loss) test accuracy, and the fraction of exactly-zero weights."""
    penalty = check_choice("penalty", penalty, ("none", "l2", "l1"))
    lam = check_float("lam", lam, 0.0)
    x_train, x_val, x_test = (np.ascontiguousarray(a.reshape(len(a), -1), dtype=np.float32)
                              for a in (x_train, x_val, x_test))
    n, d_in = x_train.shape
    k = int(max(y_train.max(), y_val.max(), y_test.max())) + 1
    rng = np.random.default_rng(derive_seed(seed, "mlp"))
    f32 = np.dtype("float32")
    layers = [Dense("fc1", d_in, hidden, rng, f32), ReLU(), Dense("out", hidden, k, rng, f32, gain=1.0)]
    weights = [layers[0].W, layers[2].W]
    opt = SGD([p for layer in layers for p in layer.params], lr, momentum)

    def forward(x: np.ndarray, training: bool) -> np.ndarray:
        with one_blas_thread():  # as the library's Model: tiny GEMMs, no BLAS threads
            for layer in layers:
                x = layer.forward(x, training)
        return x

    def evaluate(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        logits = forward(x, False)
        loss, _ = softmax_cross_entropy(logits, y)
        return float(loss), float(np.mean(np.argmax(logits, axis=1) == y))

    curves: dict[str, list[float]] = {c: [] for c in ("train_loss", "val_loss", "val_acc", "test_acc")}
    steps_per_epoch = max(n // batch, 1)
    for epoch in range(check_int("epochs", epochs, 1)):
        perm = np.random.default_rng(derive_seed(seed, "order", epoch)).permutation(n)
        for s in range(steps_per_epoch):
            idx = perm[s * batch:(s + 1) * batch]
            logits = forward(x_train[idx], True)
            _, dlog = softmax_cross_entropy(logits, y_train[idx])
            d = dlog
            with one_blas_thread():
                for layer in reversed(layers):
                    d = layer.backward(d)
            if penalty == "l2":
                for W in weights:
                    W.grad += np.float32(lam) * W.value
            opt.step()
            if penalty == "l1":
                thr = np.float32(lr * lam)
                for W in weights:
                    W.value[...] = np.sign(W.value) * np.maximum(np.abs(W.value) - thr, 0)
        tl, _ = evaluate(x_train, y_train)
        vl, va = evaluate(x_val, y_val)
        _, ta = evaluate(x_test, y_test)
        for c, v in zip(curves, (tl, vl, va, ta), strict=True):
            curves[c].append(v)
        if not math.isfinite(tl):
            raise ParameterError(f"training diverged at epoch {epoch} (lr = {lr} too large)")
    best = int(np.argmin(curves["val_loss"]))
    w_all = np.concatenate([W.value.ravel() for W in weights])
    return {"curves": {c: np.array(v) for c, v in curves.items()}, "final_test_acc": curves["test_acc"][-1],
            "best_epoch": best + 1, "early_stop_test_acc": curves["test_acc"][best],
            "zero_frac": float(np.mean(w_all == 0.0)), "zero_frac_fc1": float(np.mean(weights[0].value == 0.0)),
            "weight_l1": float(np.abs(w_all).sum()), "weight_l2": float(np.sqrt(np.sum(w_all.astype(float) ** 2)))}

"""Simulations of training practice (docs/training_practice.md; theory in
bnreg.theory.training_practice): deep nets at initialization built from the network library's
`Dense` layers, BN's running statistics (a numba kernel), minibatch-gradient noise and constant-step
SGD on linear least squares, L1/L2 on an orthonormal design, and a small MLP on the digits with
weight decay and early stopping.  Imports theory only to validate parameters and for the
initialization scales."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numba as nb
import numpy as np
from scipy.special import expit

from bnreg.params import ParameterError, check_bool, check_choice, check_float, check_int
from bnreg.runtime import MCResult, derive_seed, jackknife, mc_from_values, one_blas_thread, run_chunks, split_batches
from bnreg.theory.training_practice import ACTIVATIONS, INITS, ema_decays, init_sigma_w2

from .families import Family, get_family
from .nn.layers import Dense, Layer, ReLU
from .nn.model import softmax_cross_entropy
from .nn.optim import SGD

__all__ = ["Identity", "Tanh", "Sigmoid", "DeepNet", "InitResult", "simulate_init", "RunningStatsResult",
           "simulate_running_stats", "linear_dataset", "per_example_gradients", "simulate_minibatch_noise",
           "simulate_sgd_linear", "simulate_penalized_orthonormal", "gd_teacher_errors", "train_mlp"]


# ------------------------------------------------------------------ activations (library Layers)
class Identity(Layer):
    """y = x."""

    def __init__(self) -> None:
        self.params = []

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy


class Tanh(Layer):
    """y = tanh(x); dx = dy (1 - y^2)."""

    def __init__(self) -> None:
        self.params = []

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        self._y = np.tanh(x)
        return self._y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy * (1.0 - self._y * self._y)


class Sigmoid(Layer):
    """y = 1/(1 + exp(-x)); dx = dy y (1 - y)."""

    def __init__(self) -> None:
        self.params = []

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        self._y = expit(x)
        return self._y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy * self._y * (1.0 - self._y)


def _activation(name: str) -> Layer:
    return {"linear": Identity, "relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid}[name]()


# --------------------------------------------------------------------------- initialization
class DeepNet:
    """A square net of `depth` library `Dense` layers (no bias) of `width` units, weights
    N(0, sigma_w2/width), with `activation` between them: h_1 = x W_1, h_{l+1} = phi(h_l) W_{l+1}.
    `forward` keeps every pre-activation h_l; `backward(g)` returns dL/dh_l for L = sum g . h_depth
    and leaves dL/dW_l in the layers' W.grad."""

    def __init__(self, activation: str, sigma_w2: float, width: int, depth: int, rng: np.random.Generator) -> None:
        self.dense = []
        self.acts = []
        for layer in range(depth):
            d = Dense(f"fc{layer + 1}", width, width, rng, np.dtype("float64"), bias=False)
            d.W.value[...] = rng.standard_normal((width, width)) * math.sqrt(sigma_w2 / width)
            self.dense.append(d)
            self.acts.append(_activation(activation))

    def forward(self, x: np.ndarray) -> list[np.ndarray]:
        hs = []
        a = x
        for layer, (d, act) in enumerate(zip(self.dense, self.acts, strict=True)):
            h = d.forward(a, True)
            hs.append(h.copy())
            if layer + 1 < len(self.dense):
                a = act.forward(h, True)
        return hs

    def backward(self, g: np.ndarray) -> list[np.ndarray]:
        deltas = [g]
        d = self.dense[-1].backward(g)
        for layer in range(len(self.dense) - 2, -1, -1):
            delta = self.acts[layer].backward(d)
            deltas.append(delta)
            d = self.dense[layer].backward(delta)
        return deltas[::-1]


@dataclass(frozen=True)
class InitResult:
    """Per layer 1..depth, MCResults over independent nets: `q` mean h^2, `r` mean (dL/dh)^2, `grad_rms`
    = |dL/dW_l|_F/(width sqrt(batch)) (the RMS per-example weight gradient, since the per-example
    directions g are independent), `dead` fraction of units with h <= 0 on the whole batch, `corr`
    mean pairwise correlation of the batch's pre-activation vectors; `hist` a sample of h per layer
    (first net)."""

    activation: str
    init: str
    sigma_w2: float
    q: tuple[MCResult, ...]
    r: tuple[MCResult, ...]
    grad_rms: tuple[MCResult, ...]
    dead: tuple[MCResult, ...]
    corr: tuple[MCResult, ...]
    hist: dict[int, np.ndarray] = field(repr=False, default_factory=dict)


def simulate_init(activation: str = "relu", init: str = "he", width: int = 256, depth: int = 20, batch: int = 128,
                  n_nets: int = 4, seed: int = 0, hist_layers: tuple[int, ...] = ()) -> InitResult:
    """Random nets at initialization on inputs x ~ N(0, I_width) (q0 = 1), loss L = sum_b g_b . h_depth,b
    with g_b ~ N(0, I) (theory: `forward_variance`, `backward_variance`, `weight_grad_rms`,
    `relu_dead_fraction` of bnreg.theory.training_practice).

    Parameters: activation, init (theory ACTIVATIONS, INITS), width, depth, batch >= 2, n_nets >= 2
    (the SE is over nets), seed, hist_layers (1-based layers whose h to keep).  Returns InitResult."""
    activation = check_choice("activation", activation, ACTIVATIONS)
    init = check_choice("init", init, INITS)
    width = check_int("width", width, 2, 4096)
    depth = check_int("depth", depth, 1, 1000)
    batch = check_int("batch", batch, 2)
    n_nets = check_int("n_nets", n_nets, 2)
    s2 = init_sigma_w2(init, width)
    stats = np.zeros((n_nets, 5, depth))
    hist: dict[int, np.ndarray] = {}
    for k in range(n_nets):
        rng = np.random.default_rng(derive_seed(seed, "init", activation, init, k))
        net = DeepNet(activation, s2, width, depth, rng)
        x = rng.standard_normal((batch, width))
        with np.errstate(over="ignore", invalid="ignore"), one_blas_thread():
            hs = net.forward(x)
            g = rng.standard_normal((batch, width))
            deltas = net.backward(g)
        for layer in range(depth):
            h = hs[layer]
            stats[k, 0, layer] = np.mean(h * h)
            stats[k, 1, layer] = np.mean(deltas[layer] ** 2)
            gw = net.dense[layer].W.grad
            stats[k, 2, layer] = math.sqrt(float(np.sum(gw * gw))) / (width * math.sqrt(batch))
            stats[k, 3, layer] = np.mean(np.all(h <= 0, axis=0))
            hn = h / np.maximum(np.linalg.norm(h, axis=1, keepdims=True), 1e-300)
            c = hn @ hn.T
            stats[k, 4, layer] = (c.sum() - np.trace(c)) / (batch * (batch - 1))
            if k == 0 and (layer + 1) in hist_layers:
                hist[layer + 1] = h.ravel().copy()
    n = batch * width
    res = [tuple(mc_from_values(stats[:, j, layer], n) for layer in range(depth)) for j in range(5)]
    return InitResult(activation, init, s2, *res, hist=hist)


# ------------------------------------------------------------------------ running statistics
@nb.njit(cache=True, nogil=True)
def ema_kernel(rng, draw, raw_mean, inv_std, M, decays, rec, mu, sigma, s0_mean, s0_var, n_rep,
               buf, out):  # pragma: no cover - njit
    """n_rep independent runs of BN's running statistics: per update t, a batch of M inputs
    x = mu + sigma u (u standardized draws), batch mean and unbiased batch variance, then
    s <- d_t s + (1 - d_t) stat.  At the updates flagged in rec (after update t + 1), adds
    running mean, its square, running variance, its square to out[j, 0:4]."""
    T = decays.shape[0]
    for _ in range(n_rep):
        sm = s0_mean
        sv = s0_var
        j = 0
        for t in range(T):
            s = 0.0
            for i in range(M):
                xv = mu + sigma * (draw(rng) - raw_mean) * inv_std
                buf[i] = xv
                s += xv
            mean = s / M
            ss = 0.0
            for i in range(M):
                e = buf[i] - mean
                ss += e * e
            var = ss / (M - 1)
            d = decays[t]
            sm = d * sm + (1.0 - d) * mean
            sv = d * sv + (1.0 - d) * var
            if rec[t]:
                out[j, 0] += sm
                out[j, 1] += sm * sm
                out[j, 2] += sv
                out[j, 3] += sv * sv
                j += 1


@dataclass(frozen=True)
class RunningStatsResult:
    """Per recorded update count `steps[j]`: MCResults (jackknife over chunks of runs) of the running
    mean's mean and variance, and of the running variance's mean and variance across runs."""

    steps: np.ndarray
    n_runs: int
    sums: np.ndarray = field(repr=False)  # (chunks, n_rec, 5): 4 sums and the run count

    def _jk(self, f) -> MCResult:
        return jackknife(f, self.sums, self.n_runs)

    def mean_of_mean(self, j: int) -> MCResult:
        """E[running mean] after steps[j] updates."""
        return self._jk(lambda t: t[j, 0] / t[j, 4])

    def var_of_mean(self, j: int) -> MCResult:
        """Var(running mean) after steps[j] updates (ddof 1 over runs)."""
        return self._jk(lambda t: _var(t[j], 0))

    def mean_of_var(self, j: int) -> MCResult:
        """E[running variance] after steps[j] updates."""
        return self._jk(lambda t: t[j, 2] / t[j, 4])

    def var_of_var(self, j: int) -> MCResult:
        """Var(running variance) after steps[j] updates (ddof 1 over runs)."""
        return self._jk(lambda t: _var(t[j], 2))


def _var(row: np.ndarray, a: int) -> float:
    n = row[4]
    return (row[a + 1] - row[a] ** 2 / n) / (n - 1)


def simulate_running_stats(M: int = 8, d: float = 0.9, steps=(10, 100), warmup: bool = False,
                           family: str | Family = "gaussian", mu: float = 1.0, sigma: float = 2.0,
                           s0_mean: float = 0.0, s0_var: float = 1.0, n_runs: int = 10_000, seed: int = 0,
                           n_chunks: int = 64, threads: int | None = None) -> RunningStatsResult:
    """Independent runs of BN's running mean and variance (EMA with decay d, or with the warm-up
    min(d, (1 + t)/(10 + t))) over batches of M i.i.d. inputs mu + sigma u (u a standardized
    `family` draw), started at s0_mean, s0_var (PyTorch: 0 and 1), recorded after each of
    `steps` updates.  Theory: running_mean_bias/var, running_var_bias/var.

    Parameters: M >= 2, d in [0, 1), steps (update counts >= 1), warmup, family, mu, sigma > 0,
    s0_mean, s0_var, n_runs, seed, n_chunks.  Returns RunningStatsResult."""
    M = check_int("M", M, 2)
    fam = get_family(family)
    st = np.unique(np.asarray([check_int("steps", s, 1, 10**7) for s in np.atleast_1d(steps)]))
    T = int(st[-1])
    dk = ema_decays(d, T, check_bool("warmup", warmup))
    rec = np.zeros(T, dtype=np.bool_)
    rec[st - 1] = True
    mu = check_float("mu", mu)
    sigma = check_float("sigma", sigma, 0.0, lo_open=True)
    per = split_batches(n_runs, n_chunks)

    def chunk(i: int, rng: np.random.Generator) -> np.ndarray:
        out = np.zeros((len(st), 5))
        ema_kernel(rng, fam.draw, fam.mean, 1.0 / fam.std, M, dk, rec, mu, sigma, float(s0_mean), float(s0_var),
                   per, np.empty(M), out)
        out[:, 4] = per
        return out

    sums = run_chunks(chunk, n_chunks, seed, threads)
    return RunningStatsResult(st, per * n_chunks, sums)


# ----------------------------------------------------------------- minibatch-gradient noise
def linear_dataset(N: int, dim: int = 5, noise: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray,
                                                                                       np.ndarray]:
    """(X, y, w_ls): X ~ N(0, I_dim) (N rows), y = X w_true + noise eps with w_true ~ N(0, I/dim),
    w_ls the least-squares solution (the minimum of L = (1/2N) |X w - y|^2)."""
    N = check_int("N", N, 2)
    dim = check_int("dim", dim, 1)
    rng = np.random.default_rng(derive_seed(seed, "linear_dataset", N, dim))
    X = rng.standard_normal((N, dim))
    y = X @ (rng.standard_normal(dim) / math.sqrt(dim)) + check_float("noise", noise, 0.0) * rng.standard_normal(N)
    return X, y, np.linalg.lstsq(X, y, rcond=None)[0]


def per_example_gradients(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """g_i = (x_i . w - y_i) x_i, the gradients of (x_i . w - y_i)^2/2 (rows)."""
    return (X @ w - y)[:, None] * X


@nb.njit(cache=True, nogil=True)
def _fy_draw(rng, perm, M, replace, idx):  # pragma: no cover - njit
    N = perm.shape[0]
    for i in range(M):
        if replace:
            j = int(rng.random() * N)
            idx[i] = j if j < N else N - 1
        else:
            j = i + int(rng.random() * (N - i))
            if j >= N:
                j = N - 1
            tmp = perm[i]
            perm[i] = perm[j]
            perm[j] = tmp
            idx[i] = perm[i]


@nb.njit(cache=True, nogil=True)
def minibatch_noise_kernel(rng, G, gbar, M, replace, n, perm, idx, out):  # pragma: no cover - njit
    """n minibatches of M rows of G (partial Fisher-Yates without replacement, or uniform with):
    adds |mean of the rows - gbar|^2 to out[0]."""
    dim = G.shape[1]
    for _ in range(n):
        _fy_draw(rng, perm, M, replace, idx)
        tot = 0.0
        for k in range(dim):
            s = 0.0
            for i in range(M):
                s += G[idx[i], k]
            e = s / M - gbar[k]
            tot += e * e
        out[0] += tot


def simulate_minibatch_noise(G: np.ndarray, M: int, replace: bool = False, n_batches: int = 100_000, seed: int = 0,
                             n_chunks: int = 64, threads: int | None = None) -> MCResult:
    """MC of tr Cov(minibatch mean gradient) = E|ghat - gbar|^2 for per-example gradients G (N, dim)
    (theory: factor(N, M) tr Sigma_g, minibatch_factor).  Returns an MCResult (jackknife)."""
    G = np.ascontiguousarray(G, dtype=float)
    N = G.shape[0]
    M = check_int("M", M, 1, None if replace else N)
    replace = check_bool("replace", replace)
    gbar = G.mean(axis=0)
    per = split_batches(n_batches, n_chunks)

    def chunk(i: int, rng: np.random.Generator) -> np.ndarray:
        out = np.zeros(2)
        minibatch_noise_kernel(rng, G, gbar, M, replace, per, np.arange(N), np.empty(M, dtype=np.int64), out)
        out[1] = per
        return out

    sums = run_chunks(chunk, n_chunks, seed, threads)
    return jackknife(lambda t: t[0] / t[1], sums, per * n_chunks)


@nb.njit(cache=True, nogil=True)
def sgd_linear_kernel(rng, X, y, w_star, H, lr, M, replace, steps, burn, w, perm, idx, grad):  # pragma: no cover
    """Constant-step SGD on (1/2N) |X w - y|^2 with i.i.d. minibatches; returns the mean over the
    steps after `burn` of the excess loss (w - w*)^T H (w - w*)/2."""
    dim = X.shape[1]
    acc = 0.0
    for step in range(steps):
        _fy_draw(rng, perm, M, replace, idx)
        for k in range(dim):
            grad[k] = 0.0
        for i in range(M):
            r = -y[idx[i]]
            for k in range(dim):
                r += X[idx[i], k] * w[k]
            for k in range(dim):
                grad[k] += r * X[idx[i], k]
        for k in range(dim):
            w[k] -= lr * grad[k] / M
        if step >= burn:
            e = 0.0
            for a in range(dim):
                da = w[a] - w_star[a]
                for b in range(dim):
                    e += da * H[a, b] * (w[b] - w_star[b])
            acc += 0.5 * e
    return acc / max(steps - burn, 1)


def simulate_sgd_linear(X: np.ndarray, y: np.ndarray, lr: float, M: int, steps: int = 20_000, burn: int = 2_000,
                        replace: bool = False, n_chains: int = 16, seed: int = 0) -> MCResult:
    """Stationary excess loss E[L(w)] - L(w*) of constant-step SGD on L = (1/2N)|X w - y|^2 with
    i.i.d. minibatches of M, started at w*, averaged over steps after `burn`; SE over independent
    chains (theory, first order in lr: sgd_excess_loss)."""
    X = np.ascontiguousarray(X, dtype=float)
    y = np.ascontiguousarray(y, dtype=float)
    N, dim = X.shape
    lr = check_float("lr", lr, 0.0, lo_open=True)
    M = check_int("M", M, 1, None if replace else N)
    steps = check_int("steps", steps, 1)
    burn = check_int("burn", burn, 0, steps - 1)
    n_chains = check_int("n_chains", n_chains, 2)
    w_star = np.linalg.lstsq(X, y, rcond=None)[0]
    H = X.T @ X / N
    vals = []
    for c in range(n_chains):
        rng = np.random.default_rng(derive_seed(seed, "sgd_linear", c))
        vals.append(sgd_linear_kernel(rng, X, y, w_star, H, lr, M, bool(replace), steps, burn, w_star.copy(),
                                      np.arange(N), np.empty(M, dtype=np.int64), np.empty(dim)))
    return mc_from_values(vals, (steps - burn) * M)


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

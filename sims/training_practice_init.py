"""Deep nets at initialization, simulated: forward and backward variances, gradients, dead ReLUs, correlations.

Part 1 of the training-practice simulations (the public face: sims/training_practice.py; theory:
bnreg.theory.training_practice): square nets of the network library's `Dense` layers (float64)
with the activations as library Layers, and the Monte Carlo over independent nets; and a numba
kernel for a ReLU unit on a batch of equicorrelated Gaussian pre-activations (dead on the batch?).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numba as nb
import numpy as np
from scipy.special import expit

from bnreg.params import check_choice, check_float, check_int
from bnreg.runtime import MCResult, derive_seed, jackknife, mc_from_values, one_blas_thread, run_chunks, split_batches
from bnreg.theory.training_practice import ACTIVATIONS, INITS, init_sigma_w2

from .nn.layers import Dense, Layer, ReLU

__all__ = ["Identity", "Tanh", "Sigmoid", "DeepNet", "InitResult", "simulate_init", "dead_relu_kernel",
           "simulate_dead_relu"]


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


# ------------------------------------------------------------------ dead ReLU on a correlated batch
@nb.njit(cache=True, nogil=True)
def dead_relu_kernel(rng, c, batch, n_units, out):  # pragma: no cover - njit
    """n_units independent units, each with pre-activations h_b = sqrt(c) z0 + sqrt(1 - c) z_b,
    b = 1..batch (z i.i.d. N(0, 1): equicorrelated with c): adds the number dead on the whole
    batch (h_b <= 0 for every b) to out[0].  A unit's draws stop at its first h_b > 0 (it is alive
    whatever the rest), which changes no probability."""
    sc = np.sqrt(c)
    sr = np.sqrt(1.0 - c)
    dead = 0
    for _ in range(n_units):
        z0 = sc * rng.standard_normal()
        alive = False
        for _b in range(batch):
            if z0 + sr * rng.standard_normal() > 0.0:
                alive = True
                break
        if not alive:
            dead += 1
    out[0] += dead


def simulate_dead_relu(c: float, batch: int, n_units: int = 1_000_000, seed: int = 0, n_chunks: int = 64,
                       threads: int | None = None) -> MCResult:
    """MC of P(h_b <= 0 for all b = 1..batch) for zero-mean unit-variance Gaussian pre-activations
    with pairwise correlation c in [0, 1] (theory: relu_dead_fraction, int phi(z) Phi(-sqrt(c/(1-c)) z)^B dz).
    Returns an MCResult (jackknife over chunks of units)."""
    c = check_float("c", c, 0.0, 1.0)
    batch = check_int("batch", batch, 1)
    per = split_batches(n_units, n_chunks)

    def chunk(i: int, rng: np.random.Generator) -> np.ndarray:
        out = np.zeros(2)
        dead_relu_kernel(rng, c, batch, per, out)
        out[1] = per
        return out

    sums = run_chunks(chunk, n_chunks, seed, threads)
    return jackknife(lambda t: t[0] / t[1], sums, per * n_chunks)

"""Training-practice checks at initialization: the mean-field q_L and r_1 of random deep nets, and dead ReLUs.

Extends sims/checks_training_practice.py (docs/training_practice.md, "Initialization").  Nets of the
network library's `Dense` layers (sims.training_practice.simulate_init: weights N(0, sigma_w2/n), no
bias, inputs x ~ N(0, I_n) so q0 = 1, loss g . h_L with g ~ N(0, I)); the SE is over independent nets.

Finite width, derived (the allowance).  For one input, Q_l = (sigma_w2/n) |phi(h_{l-1})|^2
(Q_1 = sigma_w2 |x|^2/n) is a Markov chain: given Q_l the n pre-activations of layer l are i.i.d.
N(0, Q_l), so E[Q_{l+1} | Q_l] = F(Q_l) = sigma_w2 E[phi(h)^2] and Var(Q_{l+1} | Q_l) = sigma_w2^2 V(Q_l)/n,
V(q) = Var(phi(h)^2), h ~ N(0, q).  Expanding F around the mean-field q_l gives
E[mean h_L^2] = q_L + beta_L/n + O(n^-2) with beta_1 = 0, beta_{l+1} = F'(q_l) beta_l + F''(q_l) v_l/2,
v_1 = 2 sigma_w2^2 q0^2, v_{l+1} = F'(q_l)^2 v_l + sigma_w2^2 V(q_l).  Linear and ReLU: F is linear in q,
beta = 0 (E[q_L] exact at any width).  Backward, linear and ReLU: E[r_l] = (sigma_w2 m)^(L-l) exactly
at any width (flipping the sign of a row of W_{l+1} flips h_{l+1,i} and the propagated perturbation
together, so E[1{h > 0} v^2] = E[v^2]/2 layer by layer), up to the event that a whole layer is off
for an input (probability ~2^-n).  tanh backward: at depth 2 E[r_1] = sigma_w2 E[G(Q_1)],
G(q) = E[phi'(h)^2] (W_2 and g are independent of h_1), = r_1 + sigma_w2 G''(q_1) v_1/(2n) + O(n^-2);
from depth 3 on the gradient-independence assumption itself fails at O(1/n) (W_{l+1} and
delta_{l+1} are dependent), a term not derived here, so deeper tanh nets are not judged for r_1.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from bnreg.runtime import MCResult
from bnreg.testing.judge import N_CHUNKS, Check, Params
from bnreg.theory import training_practice as TP

from .training_practice import InitResult, simulate_dead_relu, simulate_init

__all__ = ["CHECKS", "finite_width_q", "finite_width_r2"]

CHECKS: list[Check] = []
_add = CHECKS.append

BATCH = 32
NET_SAMPLES = 2048  # the check's sample count per net: nets = samples // NET_SAMPLES (64 quick, 512 default)
_DEPTHS = (2, 3, 8)
# linear/ReLU are exact at any width (module docstring), so a narrow net; tanh wider: its 1/n term is the allowance
_NETS = (("linear", "xavier", 64), ("relu", "xavier", 64), ("relu", "he", 64), ("relu", "standard", 64),
         ("tanh", "xavier", 128), ("tanh", "he", 128))
_Z, _W = np.polynomial.hermite_e.hermegauss(160)
_W = _W / _W.sum()


def _gauss(f, q: float) -> float:
    """E[f(h)], h ~ N(0, q), by 160-node Gauss-Hermite (f smooth: tanh and its powers)."""
    return float(np.sum(_W * f(math.sqrt(q) * _Z)))


def _tanh2(h: np.ndarray) -> np.ndarray:
    return np.tanh(h) ** 2


def _sech4(h: np.ndarray) -> np.ndarray:
    return (1.0 - np.tanh(h) ** 2) ** 2


def _d1d2(f, q: float) -> tuple[float, float]:
    """First and second derivative in q of E[f(h)], h ~ N(0, q), by central differences (step
    1e-3 q: truncation ~1e-6 relative, far below what an allowance needs)."""
    e = 1e-3 * q
    a, b, c = _gauss(f, q - e), _gauss(f, q), _gauss(f, q + e)
    return (c - a) / (2 * e), (c - 2 * b + a) / (e * e)


def finite_width_q(activation: str, sigma_w2: float, depth: int, q0: float = 1.0) -> float:
    """beta_depth: E[mean h_depth^2] = q_depth + beta_depth/n + O(n^-2) (module docstring); 0 for
    linear and ReLU, by the recursion for tanh."""
    if activation in ("linear", "relu"):
        return 0.0
    if activation != "tanh":
        raise ValueError(f"finite_width_q: no derivation for {activation!r}")
    m, v, beta = sigma_w2 * q0, 2.0 * sigma_w2**2 * q0**2, 0.0
    for _ in range(depth - 1):
        d1, d2 = _d1d2(_tanh2, m)
        beta = sigma_w2 * d1 * beta + sigma_w2 * d2 * v / 2
        var = _gauss(lambda h: np.tanh(h) ** 4, m) - _gauss(_tanh2, m) ** 2
        v = (sigma_w2 * d1) ** 2 * v + sigma_w2**2 * var
        m = sigma_w2 * _gauss(_tanh2, m)
    return beta


def finite_width_r2(activation: str, sigma_w2: float, q0: float = 1.0) -> float:
    """The 1/n coefficient of E[r_1] of a depth-2 net: sigma_w2 G''(q_1) v_1/2, G(q) = E[phi'(h)^2],
    q_1 = sigma_w2 q0, v_1 = 2 sigma_w2^2 q0^2 (0 for linear and ReLU)."""
    if activation in ("linear", "relu"):
        return 0.0
    if activation != "tanh":
        raise ValueError(f"finite_width_r2: no derivation for {activation!r}")
    _, d2 = _d1d2(_sech4, sigma_w2 * q0)
    return sigma_w2 * d2 * (2.0 * sigma_w2**2 * q0**2) / 2


@lru_cache(maxsize=64)
def _nets(activation: str, init: str, width: int, depth: int, samples: int, seed: int) -> InitResult:
    # forward and backward checks evaluate the same points: one set of nets serves both
    return simulate_init(activation, init, width, depth, BATCH, max(samples // NET_SAMPLES, 16), seed)


def _q_points(scale: str) -> list[Params]:
    return [dict(activation=a, init=i, width=w, depth=d) for a, i, w in _NETS for d in _DEPTHS]


def _r_points(scale: str) -> list[Params]:
    # tanh only at depth 2: beyond it the O(1/n) failure of gradient independence is not derived
    return [p for p in _q_points(scale) if p["activation"] != "tanh" or p["depth"] == 2]


def _s2(p: Params) -> float:
    return TP.init_sigma_w2(p["init"], p["width"])


def _q_sim(p: Params, samples: int, seed: int) -> MCResult:
    return _nets(p["activation"], p["init"], p["width"], p["depth"], samples, seed).q[-1]


def _r_sim(p: Params, samples: int, seed: int) -> MCResult:
    return _nets(p["activation"], p["init"], p["width"], p["depth"], samples, seed).r[0]


def _q(p: Params) -> float:
    return TP.init_forward_q(p["activation"], p["init"], p["depth"], p["width"], 1.0)


def _r(p: Params) -> float:
    return TP.init_backward_r(p["activation"], p["init"], p["depth"], p["width"], 1.0)


def _q_term(p: Params) -> float:
    return finite_width_q(p["activation"], _s2(p), p["depth"]) / p["width"]


def _r_term(p: Params) -> float:
    return finite_width_r2(p["activation"], _s2(p)) / p["width"] if p["depth"] == 2 else 0.0


_WIDTH_DOC = ("2 |beta_L|/n, beta_L the derived 1/n term of E[q_L] at width n (Markov chain of the layer's second "
              "moment, sims/training_practice_checks_init.py); 0 for linear and ReLU, exact at any width")
_add(Check(
    "init.forward_q", "init_forward_q",
    "q_L = sigma_w2 q0 (sigma_w2 m)^(L-1) (linear m = 1, ReLU m = 1/2), tanh by the recursion "
    "q_{l+1} = sigma_w2 E[tanh(h)^2]: E[h_L^2] of random nets (Dense, N(0, sigma_w2/n)); exact at any width for "
    "linear/ReLU, up to O(1/n) for tanh",
    _q_points, _q_sim, _q,
    {"phi linear (ReLU's 1/2 omitted, tanh linearized): sigma_w2^L q0":
        lambda p: float(TP.forward_variance("linear", _s2(p), p["depth"])[-1]),
     "Glorot's sigma_w2 = 1 whatever the init": lambda p: float(TP.forward_variance(p["activation"], 1.0,
                                                                                     p["depth"])[-1]),
     "x treated as a pre-activation (one layer too many)":
        lambda p: float(TP.forward_variance(p["activation"], _s2(p), p["depth"] + 1, 1.0 / _s2(p))[-1])},
    allowance=lambda p: 2 * abs(_q_term(p)), allowance_doc=_WIDTH_DOC, min_M=None,
    shown={"with the 1/n term: q_L + beta_L/n": lambda p: _q(p) + _q_term(p)}, n=512 * NET_SAMPLES))

_add(Check(
    "init.backward_r", "init_backward_r",
    "r_1 = (sigma_w2 m)^(L-1) (linear m = 1, ReLU m = 1/2; tanh sigma_w2 E[tanh'(h_1)^2] at L = 2): "
    "E[(dL/dh_1)^2] of random nets for L = g . h_L; exact at any width for linear/ReLU, up to O(1/n) for tanh "
    "at depth 2 (deeper tanh nets not judged: gradient independence fails at O(1/n))",
    _r_points, _r_sim, _r,
    {"phi' = 1 (ReLU's 1/2 omitted, tanh linearized): sigma_w2^(L-1)": lambda p: _s2(p) ** (p["depth"] - 1),
     "Glorot's sigma_w2 = 1 whatever the init": lambda p: float(TP.backward_variance(p["activation"], 1.0,
                                                                                      p["depth"])[0]),
     "L layer factors instead of L - 1": lambda p: float(TP.backward_variance(p["activation"], _s2(p),
                                                                               p["depth"] + 1)[0])},
    allowance=lambda p: 2 * abs(_r_term(p)),
    allowance_doc="2 |1/n term| of E[r_1] at width n: sigma_w2 G''(q_1) v_1/(2n) for tanh at depth 2 (derived, "
                  "sims/training_practice_checks_init.py); 0 for linear and ReLU, exact at any width",
    min_M=None, shown={"with the 1/n term": lambda p: _r(p) + _r_term(p)}, n=512 * NET_SAMPLES))


# ------------------------------------------------------------- dead ReLU on a correlated batch
def _dead_points(scale: str) -> list[Params]:
    return [dict(c=c, batch=B) for c in (0.3, 0.6, 0.9, 0.99) for B in (2, 8, 64)]


def _dead_sim(p: Params, samples: int, seed: int) -> MCResult:
    # a unit costs at most `batch` draws and stops at its first positive one: samples/4 units
    return simulate_dead_relu(p["c"], p["batch"], samples // 4, seed, N_CHUNKS)


def _dead(p: Params, c: float | None = None, batch: int | None = None) -> float:
    return TP.relu_dead_fraction(p["c"] if c is None else c, p["batch"] if batch is None else batch)


_add(Check(
    "relu.dead_fraction", "relu_dead_fraction",
    "P(h_b <= 0 for all b = 1..B), h equicorrelated N(0, 1) with correlation c: "
    "int phi(z) Phi(-sqrt(c/(1-c)) z)^B dz",
    _dead_points, _dead_sim, _dead,
    {"independent inputs (c = 0): 2^-B": lambda p: 0.5 ** p["batch"],
     "sqrt(c) for sqrt(c/(1-c)) (the 1 - c dropped)": lambda p: _dead(p, c=p["c"] / (1 + p["c"])),
     "Sheppard's 1/4 + arcsin(c)/(2 pi) for any batch": lambda p: 0.25 + math.asin(p["c"]) / (2 * math.pi),
     "B - 1 inputs": lambda p: _dead(p, batch=p["batch"] - 1)},
    min_M=None))

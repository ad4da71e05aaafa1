"""Initialization through depth, numerically: mean-field forward and backward variances, init scales, dying ReLU.

Part 1 of the training-practice topic (the model and the public names: theory/training_practice.py;
the derivations: training_practice_derive): a square net of width n, weights N(0, sigma_w2/n),
inputs of second moment q0; the variances q_l, r_l and the weight-gradient RMS per layer, the four
initializations' sigma_w2, and the probability that a ReLU unit is off on a whole batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

import numpy as np
from scipy import integrate, optimize
from scipy.special import log_ndtr

from bnreg.params import check_choice, check_float, check_int

from .double_double import INV_SQRT_2PI, product

__all__ = [
    "ACTIVATIONS", "INITS",
    "init_sigma_w2", "activation_moments", "forward_variance", "backward_variance", "weight_grad_rms",
    "init_forward_q", "init_backward_r", "relu_correlation_map", "relu_correlations", "relu_dead_fraction",
]

ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid")
INITS = ("small", "standard", "xavier", "he")  # N(0, 0.01^2), N(0, 1), Glorot, He


def init_sigma_w2(init: str, width: int) -> float:
    """sigma_w2 = width x (per-weight variance) of a square layer of `width` units under `init`:
    small N(0, 0.01^2) -> 1e-4 width; standard N(0, 1) -> width; xavier 2/(fan_in + fan_out) -> 1;
    he 2/fan_in -> 2."""
    init = check_choice("init", init, INITS)
    width = check_int("width", width, 1)
    return {"small": 1e-4 * width, "standard": float(width), "xavier": 1.0, "he": 2.0}[init]


# tanh for h ~ N(0, q), q < 1e-4: E[tanh^2] and E[tanh'^2] to O(q^5) (derive_activation_moments("tanh", 5);
# tests/theory/test_training_practice.py compares), relative error below 1e-17.
_TANH_SERIES = ((0.0, 1.0, -2.0, 17 / 3, -62 / 3, 1382 / 15), (1.0, -2.0, 7.0, -94 / 3, 502 / 3, -15484 / 15))


def _sech2(h: np.ndarray) -> np.ndarray:
    e = np.exp(-2.0 * np.abs(h))
    return 4.0 * e / (1.0 + e) ** 2


def _dsigmoid(h: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(h))
    return e / (1.0 + e) ** 2


def _even_gauss_expect(f: Callable[[np.ndarray], np.ndarray], qv: float, local: bool) -> float:
    """E[f(h)], h ~ N(0, q), for an even f, by adaptive quadrature with a relative tolerance only:
    on z = h/sqrt(q) in [0, 12] for q <= 1, on h for q > 1 where f is `local` (decays at least like
    e^-|h|: [0, min(12 sqrt q, 45)], break points at the scales of f and of the density)."""
    if qv <= 1.0 or not local:
        s = math.sqrt(qv)
        g = lambda zz: 2.0 * f(np.asarray(s * zz)) * math.exp(-0.5 * zz * zz) * INV_SQRT_2PI
        pts, end = [3.0], 12.0
    else:
        s = math.sqrt(qv)
        g = lambda hh: 2.0 * f(np.asarray(hh)) * math.exp(-0.5 * (hh / s) ** 2) * INV_SQRT_2PI / s
        end = min(12.0 * s, 45.0)
        pts = sorted({p for p in (1.0, 3.0, 10.0, 20.0, s, 3.0 * s) if p < end})
    val, _ = integrate.quad(g, 0.0, end, points=pts, limit=400, epsabs=0.0, epsrel=1e-13)
    return float(val)


def activation_moments(activation: str, qv: float) -> tuple[float, float]:
    """(E[phi(h)^2], E[phi'(h)^2]) for h ~ N(0, q): closed forms for linear (q, 1) and ReLU
    (q/2, 1/2); for tanh and sigmoid the series in q below q = 1e-4 (tanh) and otherwise adaptive
    quadrature of even, overflow-free integrands with a relative tolerance, E[tanh^2] = 1 - E[sech^2]
    and E[sigmoid^2] = 1/2 - E[sigmoid'] (sigmoid(-h) = 1 - sigmoid(h)) so that large q loses nothing."""
    activation = check_choice("activation", activation, ACTIVATIONS)
    qv = check_float("q", qv, 0.0)
    if activation == "linear":
        return qv, 1.0
    if activation == "relu":
        return qv / 2.0, 0.5
    if activation == "tanh":
        if qv < 1e-4:
            a, b = (sum(c * qv**k for k, c in enumerate(cs)) for cs in _TANH_SERIES)
            return a, b
        m2 = (_even_gauss_expect(lambda h: np.tanh(h) ** 2, qv, False) if qv <= 1.0
              else 1.0 - _even_gauss_expect(_sech2, qv, True))
        return m2, _even_gauss_expect(lambda h: _sech2(h) ** 2, qv, True)
    return (0.5 - _even_gauss_expect(_dsigmoid, qv, True),
            _even_gauss_expect(lambda h: _dsigmoid(h) ** 2, qv, True))


def _check_net(activation: str, sigma_w2: float, depth: int, q0: float) -> tuple[str, float, int, float]:
    return (check_choice("activation", activation, ACTIVATIONS), check_float("sigma_w2", sigma_w2, 0.0, lo_open=True),
            check_int("depth", depth, 1, 10_000), check_float("q0", q0, 0.0, lo_open=True))


def forward_variance(activation: str, sigma_w2: float, depth: int, q0: float = 1.0) -> np.ndarray:
    """Pre-activation variances q_1..q_depth of the mean-field recursion (module docstring):
    q_1 = sigma_w2 q0, q_{l+1} = sigma_w2 E[phi(h_l)^2].  Overflow gives inf (exploding)."""
    activation, sigma_w2, depth, q0 = _check_net(activation, sigma_w2, depth, q0)
    out = np.empty(depth)
    qv = sigma_w2 * q0
    for layer in range(depth):
        out[layer] = qv
        if not math.isfinite(qv):
            out[layer:] = math.inf
            break
        qv = sigma_w2 * activation_moments(activation, qv)[0]
    return out


def _chi(activation: str, sigma_w2: float, qv: float) -> float:
    """sigma_w2 E[phi'(h)^2], h ~ N(0, q): the factor of one layer of the backward pass (for linear
    and ReLU independent of q, so also where q overflowed)."""
    if activation in ("linear", "relu"):
        return sigma_w2 * (1.0 if activation == "linear" else 0.5)
    return sigma_w2 * activation_moments(activation, qv)[1]


def backward_variance(activation: str, sigma_w2: float, depth: int, q0: float = 1.0) -> np.ndarray:
    """r_l = E[(dL/dh_l)^2], l = 1..depth, for L = g . h_depth, g ~ N(0, I): r_depth = 1,
    r_l = sigma_w2 E[phi'(h_l)^2] r_{l+1} (mean field, gradient-independence assumption).
    Overflow gives inf, underflow 0."""
    qs = forward_variance(activation, sigma_w2, depth, q0)
    r = np.empty(depth)
    r[-1] = 1.0
    with np.errstate(over="ignore"):
        for layer in range(depth - 2, -1, -1):
            r[layer] = _chi(activation, sigma_w2, qs[layer]) * r[layer + 1]
    return r


def weight_grad_rms(activation: str, sigma_w2: float, depth: int, q0: float = 1.0) -> np.ndarray:
    """RMS entry of dL/dW_l per example, l = 1..depth: sqrt(r_l p_{l-1}) with p_0 = q0 and
    p_{l-1} = q_l/sigma_w2 (the second moment of the layer's input)."""
    qs = forward_variance(activation, sigma_w2, depth, q0)
    r = backward_variance(activation, sigma_w2, depth, q0)
    p = qs / sigma_w2
    with np.errstate(invalid="ignore", over="ignore"):
        return np.sqrt(r * p)


def _sigma_w2_exact(init: str, width: int) -> Fraction:
    """`init_sigma_w2` as the exact rational it stands for (n/10^4, n, 1, 2)."""
    init = check_choice("init", init, INITS)
    width = check_int("width", width, 1)
    return {"small": Fraction(width, 10**4), "standard": Fraction(width), "xavier": Fraction(1),
            "he": Fraction(2)}[init]


def init_forward_q(activation: str = "relu", init: str = "he", depth: int = 10, width: int = 256,
                   q0: float = 1.0) -> float:
    """q_depth, the pre-activation variance at layer `depth` of a square net of `width` units under
    `init` (`init_sigma_w2`), from the mean-field recursion `forward_variance`; linear and ReLU by the
    closed form sigma_w2 q0 (sigma_w2 m)^(depth-1), m = 1 or 1/2, in exact rational arithmetic rounded
    once (no rounding amplified by the power, no spurious under- or overflow; OverflowError where
    q_depth exceeds a double)."""
    activation, _, depth, q0 = _check_net(activation, init_sigma_w2(init, width), depth, q0)
    if activation in ("linear", "relu"):
        s2 = _sigma_w2_exact(init, width)
        return float(s2 * Fraction(q0) * (s2 * (1 if activation == "linear" else Fraction(1, 2))) ** (depth - 1))
    return float(forward_variance(activation, init_sigma_w2(init, width), depth, q0)[-1])


def init_backward_r(activation: str = "relu", init: str = "he", depth: int = 10, width: int = 256,
                    q0: float = 1.0) -> float:
    """r_1 = E[(dL/dh_1)^2] at the first layer for L = g . h_depth (r_depth = 1): below 1 the
    gradient vanishes towards the input, above 1 it explodes (`backward_variance`).  Linear and ReLU:
    (sigma_w2 m)^(depth-1) exactly, rounded once; tanh and sigmoid: the depth - 1 layer factors
    multiplied as one product (`product`: no spurious under- or overflow of a partial product).
    OverflowError where r_1 exceeds a double."""
    activation, sigma_w2, depth, q0 = _check_net(activation, init_sigma_w2(init, width), depth, q0)
    if activation in ("linear", "relu"):
        s2 = _sigma_w2_exact(init, width)
        return float((s2 * (1 if activation == "linear" else Fraction(1, 2))) ** (depth - 1))
    qs = forward_variance(activation, sigma_w2, depth, q0)
    return product(*(_chi(activation, sigma_w2, qv) for qv in qs[:-1]))


def relu_correlation_map(c: float) -> float:
    """Correlation of the next ReLU layer's pre-activations given correlation c of this layer's
    (zero bias, any weight scale): (sqrt(1 - c^2) + (pi - arccos c) c)/pi."""
    c = check_float("c", c, -1.0, 1.0)
    return (math.sqrt(max(1.0 - c * c, 0.0)) + (math.pi - math.acos(c)) * c) / math.pi


def relu_correlations(depth: int, c1: float = 0.0) -> np.ndarray:
    """c_1..c_depth from c_1 (the inputs' pairwise correlation) through the ReLU map."""
    depth = check_int("depth", depth, 1)
    out = np.empty(depth)
    c = check_float("c1", c1, -1.0, 1.0)
    for layer in range(depth):
        out[layer] = c
        c = relu_correlation_map(c)
    return out


def relu_dead_fraction(c: float, batch: int = 64) -> float:
    """Probability that a ReLU unit whose pre-activations on `batch` inputs are jointly Gaussian,
    zero mean, equicorrelated with c in [0, 1], is off (h <= 0) on all of them:
    int phi(z) Phi(-sqrt(c/(1-c)) z)^batch dz (1/2 at c = 1, 2^-batch at c = 0; 1/2 for one input,
    1/4 + arcsin(c)/(2 pi) for two, Sheppard).

    The integrand, written exp(L(z)) with L(z) = log phi(z) + batch log Phi(k z) (z -> -z), is
    log-concave with L'' <= -1: its peak z* is the root of L', the window where L > L(z*) - 60 lies
    within 11 of it, and the integral of exp(L - L(z*)) over that window (break points where L has
    dropped by 1/2, 2, 8 and 20 and where k z = 1, 2, 4, 8, the end of Phi(k z)^batch's rise) is taken
    with a relative tolerance, so the result keeps its relative
    accuracy down to the smallest doubles and at the sharp edge of c near 1."""
    c = check_float("c", c, 0.0, 1.0)
    batch = check_int("batch", batch, 1)
    if c >= 1.0 or batch == 1:
        return 0.5
    if c == 0.0:
        return math.ldexp(1.0, -batch)
    if batch == 2:
        return 0.25 + math.asin(c) / (2.0 * math.pi)
    k = math.sqrt(c / (1.0 - c))
    lnd = lambda zz: float(log_ndtr(k * zz))
    L = lambda zz: -0.5 * zz * zz + batch * lnd(zz)
    # L'(z) = -z + batch k phi(kz)/Phi(kz) > 0 at z <= 0; phi/Phi <= 2 phi(0) for z >= 0, so z* <= 0.8 batch k
    dL = lambda zz: -zz + batch * k * math.exp(-0.5 * (k * zz) ** 2 - lnd(zz)) * INV_SQRT_2PI
    zs = optimize.brentq(dL, 0.0, 0.8 * batch * k + 1.0, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)
    Ls = L(zs)
    at = lambda drop, side: optimize.brentq(lambda zz: L(zz) - Ls + drop, *sorted((zs, zs + 11.5 * side)),
                                            xtol=1e-300, rtol=1e-10, maxiter=500)
    lo, hi = at(60.0, -1.0), at(60.0, 1.0)
    pts = sorted({zs, *(at(dr, sd) for dr in (0.5, 2.0, 8.0, 20.0) for sd in (-1.0, 1.0)),
                  *(j / k for j in (1.0, 2.0, 4.0, 8.0) if lo < j / k < hi)} - {lo, hi})
    # batch log Phi carries an absolute rounding error of about batch eps |log Phi|: ask no more than that
    tol = max(1e-13, 100 * np.finfo(float).eps * batch * (1.0 - lnd(zs)))
    val, _ = integrate.quad(lambda zz: math.exp(L(zz) - Ls), lo, hi, points=pts, limit=400, epsabs=0.0, epsrel=tol)
    return math.exp(Ls + math.log(val)) * INV_SQRT_2PI

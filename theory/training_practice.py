"""Training practice, derived: initialization, BN running statistics, batch size and learning rate,
L1 vs L2 weight decay (docs/training_practice.md; the demos `bnreg demo initialization`,
`bn_running_stats`, `lr_batch_size`, `weight_decay`).

1. Initialization (mean field: wide layers, Gaussian pre-activations, the weights of the backward
   pass treated as independent of the forward pass).  A square net of width n,
   h_1 = W_1 x, h_{l+1} = W_{l+1} phi(h_l), W_l entries N(0, sigma_w2/n), no bias, E[x_i^2] = q0:
       q_1 = sigma_w2 q0,     q_{l+1} = sigma_w2 E[phi(h_l)^2],   h_l ~ N(0, q_l)
   Backward, for the loss L = g . h_L with g ~ N(0, I) (delta_L = g, r_L = 1):
       r_l = E[delta_l^2] = sigma_w2 E[phi'(h_l)^2] r_{l+1}
   and the weight gradient dL/dW_l = delta_l phi(h_{l-1})^T has RMS entry sqrt(r_l p_{l-1}),
   p_l = E[phi(h_l)^2] = q_{l+1}/sigma_w2, p_0 = q0.  Closed forms (SymPy): linear E phi^2 = q,
   ReLU q/2 (so ReLU keeps q for sigma_w2 = 2: He et al. 2015, arXiv:1502.01852), tanh and
   sigmoid as series in small q; otherwise quadrature.  The initializations for square layers:
   N(0, 0.01^2) per weight (sigma_w2 = 1e-4 n), N(0, 1) (sigma_w2 = n), Xavier/Glorot
   2/(fan_in + fan_out) (sigma_w2 = 1; Glorot & Bengio, AISTATS 2010) and He 2/fan_in (sigma_w2 = 2).
   Dying ReLU at initialization: with zero biases the inputs' pre-activations at layer l are
   equicorrelated with c_l, c_{l+1} = (sqrt(1 - c^2) + (pi - arccos c) c)/pi (the ReLU arc-cosine
   kernel, Cho & Saul 2009), and a unit is off on all B inputs of a batch with probability
   int phi(z) Phi(-sqrt(c/(1-c)) z)^B dz (Lu, Shin, Su, Karniadakis, "Dying ReLU and Initialization",
   arXiv:1903.06733, study the same collapse).

2. BN running statistics: the exponential moving average s <- d s + (1 - d) x_t of i.i.d. batch
   statistics x_t (mean mu, variance v), with constant d or with the warm-up
   d_t = min(d, (1 + t)/(10 + t)) (t = updates done before this one).  Unrolled exactly:
       s_t = Pi_t s_0 + sum_k w_k x_k,  Pi_t = prod_k d_k,  w_k = (1 - d_k) prod_{j>k} d_j,
       sum_k w_k = 1 - Pi_t,
   so  E[s_t] - mu = Pi_t (s_0 - mu)  and  Var(s_t) = v sum_k w_k^2.  Constant d: Pi_t = d^t,
   sum w^2 = (1 - d)(1 - d^{2t})/(1 + d).  Running mean: x = batch mean, v = sigma^2/M.  Running
   variance: x = unbiased batch variance (PyTorch, and `sims.nn`), E = sigma^2 and
   v = sigma^4 (2/(M - 1) + rho/M), rho the excess kurtosis (exact for i.i.d. inputs).

3. Minibatch-gradient noise.  For per-example gradients g_1..g_N (population mean gbar, population
   covariance Sigma = (1/N) sum (g_i - gbar)(g_i - gbar)^T) a minibatch mean of M of them has
   covariance Sigma (N - M)/(M (N - 1)) when the M are drawn without replacement (the usual
   shuffled minibatch) and Sigma/M with replacement: exact, any N, any model.  For linear least
   squares L = (1/2N) sum (x_i . w - y_i)^2, g_i = (x_i . w - y_i) x_i, so the noise covariance at
   any w is explicit.  SGD with step lr then fluctuates around w* with, to first order in lr,
   E[L(w)] - L(w*) = lr tr(C)/4 with C the minibatch covariance at w* (from the Lyapunov equation
   H S + S H = lr C): it depends on lr and M only through lr/M (with replacement) -- the linear
   scaling rule of Goyal et al., "Accurate, Large Minibatch SGD", arXiv:1706.02677.

4. L1 vs L2 with an orthonormal design (X^T X = I): the least-squares coefficient is
   z ~ N(w*, sigma^2) per coordinate; ridge (penalty lam |w|^2/2) gives z/(1 + lam), the lasso
   (lam |w|_1) the soft threshold sign(z)(|z| - lam)_+.  Risks and the probability of an exact
   zero are closed forms in Phi and phi (derived here by integration).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from functools import cache

import numpy as np
import sympy as sp
from scipy import integrate, optimize
from scipy.special import log_ndtr

from bnreg.params import ParameterError, check_bool, check_choice, check_float, check_int

__all__ = [
    "ACTIVATIONS", "INITS", "STATS",
    "derive_activation_moments", "derive_relu_depth", "derive_tanh_small_q", "derive_ema_unrolled",
    "derive_ema_constant", "derive_ema_warmup", "derive_minibatch_noise", "derive_sgd_excess_loss",
    "derive_soft_threshold",
    "init_sigma_w2", "activation_moments", "forward_variance", "backward_variance", "weight_grad_rms",
    "init_forward_q", "init_backward_r",
    "relu_correlation_map", "relu_correlations", "relu_dead_fraction",
    "ema_decays", "ema_weights", "ema_terms", "ema_pi", "ema_sum_w2", "ema_bias", "ema_variance", "batch_var_var",
    "running_mean_bias", "running_mean_var", "running_var_bias", "running_var_var",
    "minibatch_factor", "minibatch_mean_var", "gradient_noise_cov", "sgd_excess_loss", "sgd_stationary_excess",
    "ridge_orthonormal_risk", "lasso_orthonormal_risk", "lasso_zero_prob",
    "DERIVATION_STEPS",
]

ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid")
INITS = ("small", "standard", "xavier", "he")  # N(0, 0.01^2), N(0, 1), Glorot, He
STATS = ("mean", "var")
WARMUP_OFFSET = 10  # d_t = min(d, (1 + t)/(10 + t))

q, s2w, x, z = sp.symbols("q sigma_w2 x z", positive=True)
dd = sp.symbols("d", positive=True)
t_ = sp.symbols("t", positive=True, integer=True)
lam, sig, ws = sp.symbols("lam sigma w_star", positive=True)


# ----------------------------------------------------------------------------- derivations
def _phi_sym(activation: str, arg: sp.Expr) -> sp.Expr:
    return {"linear": arg, "tanh": sp.tanh(arg), "sigmoid": 1 / (1 + sp.exp(-arg))}[activation]


@cache
def derive_activation_moments(activation: str, order: int = 3) -> dict[str, sp.Expr]:
    """E[phi(h)^2] and E[phi'(h)^2] for h ~ N(0, q): exact for linear and ReLU (integrals), series in
    q to O(q^order) for tanh and sigmoid (Taylor in h, then E[h^(2k)] = (2k - 1)!! q^k)."""
    activation = check_choice("activation", activation, ACTIVATIONS)
    dens = sp.exp(-x**2 / (2 * q)) / sp.sqrt(2 * sp.pi * q)
    if activation == "relu":
        m2 = sp.simplify(sp.integrate(x**2 * dens, (x, 0, sp.oo)))
        d2 = sp.simplify(sp.integrate(dens, (x, 0, sp.oo)))
        return {"E phi^2": m2, "E phi'^2": d2}
    h = sp.Symbol("h", real=True)
    phi = _phi_sym(activation, h)
    out = {}
    for key, f in (("E phi^2", phi**2), ("E phi'^2", sp.diff(phi, h) ** 2)):
        ser = sp.series(f, h, 0, 2 * order + 1).removeO()
        poly = sp.Poly(sp.expand(ser), h)
        val = 0
        for (k,), coef in poly.terms():
            if k % 2 == 0:
                val += coef * sp.factorial2(k - 1) * q ** (k // 2)
        out[key] = sp.expand(val)
    return out


@cache
def derive_relu_depth() -> dict[str, sp.Expr]:
    """ReLU: q_{l+1} = sigma_w2 q_l/2 and r_l = (sigma_w2/2) r_{l+1}, so after L layers
    q_L = sigma_w2 (sigma_w2/2)^(L-1) q0 and r_1 = (sigma_w2/2)^(L-1): the only scale that
    neither vanishes nor explodes is sigma_w2 = 2 (He).  Linear: sigma_w2 = 1 (Xavier, square)."""
    L, q0 = sp.symbols("L q0", positive=True)
    m = derive_activation_moments("relu")
    step = sp.simplify(s2w * m["E phi^2"] / q)
    back = sp.simplify(s2w * m["E phi'^2"])
    return {"q_{l+1}/q_l": step, "r_l/r_{l+1}": back, "q_L": s2w * step ** (L - 1) * q0,
            "r_1": back ** (L - 1), "critical sigma_w2": sp.solve(sp.Eq(step, 1), s2w)[0],
            "linear critical sigma_w2": sp.solve(sp.Eq(s2w * derive_activation_moments("linear")["E phi^2"] / q, 1),
                                                 s2w)[0]}


@cache
def derive_tanh_small_q() -> dict[str, sp.Expr]:
    """tanh at sigma_w2 = 1: q' = q - 2 q^2 + O(q^3), so dq/dl = -2 q^2 and q_l ~ 1/(2 l): the
    forward signal decays only algebraically (and the gradient factor E[phi'^2] = 1 - 2q -> 1)."""
    m = derive_activation_moments("tanh", 2)
    l_ = sp.Symbol("l", positive=True)
    qf = sp.Function("q")
    sol = sp.dsolve(sp.Eq(qf(l_).diff(l_), -2 * qf(l_) ** 2))
    return {"E tanh^2 (small q)": m["E phi^2"], "E tanh'^2 (small q)": m["E phi'^2"],
            "continuum dq/dl = -2 q^2": sol.rhs, "large l": sp.limit(sol.rhs * l_, l_, sp.oo) / l_}


@cache
def derive_ema_unrolled(T: int = 4) -> dict[str, sp.Expr]:
    """For symbolic decays d_0..d_{T-1}, batch statistics x_0..x_{T-1} and start s_0: the recursion
    s <- d_k s + (1 - d_k) x_k equals Pi s_0 + sum_k w_k x_k with Pi = prod d_k and
    w_k = (1 - d_k) prod_{j>k} d_j (difference 0), and sum_k w_k = 1 - Pi (difference 0)."""
    ds = sp.symbols(f"d0:{T}", positive=True)
    xs = sp.symbols(f"x0:{T}", real=True)
    s0 = sp.Symbol("s0", real=True)
    s = s0
    for k in range(T):
        s = ds[k] * s + (1 - ds[k]) * xs[k]
    Pi = sp.prod(ds)
    w = [(1 - ds[k]) * sp.prod(ds[k + 1:]) for k in range(T)]
    return {"recursion - unrolled": sp.expand(s - Pi * s0 - sum(wk * xk for wk, xk in zip(w, xs, strict=True))),
            "sum w_k - (1 - Pi)": sp.expand(sum(w) - (1 - Pi)),
            "E[s_T] - mu": sp.factor(sp.expand(s.subs({xk: sp.Symbol("mu") for xk in xs})) - sp.Symbol("mu")),
            "Var(s_T)/v": sp.expand(sum(wk**2 for wk in w))}


@cache
def derive_ema_constant() -> dict[str, sp.Expr]:
    """Constant d: w_k = (1 - d) d^(t-1-k), Pi = d^t, sum w^2 = (1 - d)(1 - d^(2t))/(1 + d) and the
    stationary variance (1 - d)/(1 + d) v; the bias decays like d^t."""
    k = sp.Symbol("k", integer=True, nonnegative=True)
    sw2 = sp.simplify(sp.summation(((1 - dd) * dd ** (t_ - 1 - k)) ** 2, (k, 0, t_ - 1)))
    closed = (1 - dd) * (1 - dd ** (2 * t_)) / (1 + dd)
    return {"sum w_k": sp.simplify(sp.summation((1 - dd) * dd ** (t_ - 1 - k), (k, 0, t_ - 1))),
            "sum w_k^2": sw2, "sum w_k^2 - (1-d)(1-d^2t)/(1+d)": sp.simplify(sw2 - closed),
            "t -> oo": sp.limit(closed.subs(dd, sp.Rational(9, 10)), t_, sp.oo),
            "stationary Var/v": (1 - dd) / (1 + dd)}


@cache
def derive_ema_warmup() -> dict[str, sp.Expr]:
    """Warm-up d_k = (1 + k)/(10 + k) (while below d): Pi_t = prod_{k<t} (1+k)/(10+k) = 9! t!/(t+9)!
    ~ 9!/t^9, so the start value is forgotten algebraically fast; the cap d is reached at the first
    k with (1 + k)/(10 + k) >= d, k* = ceil((10 d - 1)/(1 - d))."""
    k = sp.Symbol("k", integer=True, nonnegative=True)
    Pi = sp.simplify(sp.product((1 + k) / (10 + k), (k, 0, t_ - 1)))
    Pi_closed = sp.factorial(9) * sp.factorial(t_) / sp.factorial(t_ + 9)
    kstar = sp.solve(sp.Eq((1 + k) / (10 + k), dd), k)[0]
    return {"Pi_t (warm-up)": Pi, "Pi_t - 9! t!/(t+9)!": sp.simplify(sp.combsimp(Pi - Pi_closed)),
            "t^9 Pi_t as t -> oo": sp.limit(Pi_closed * t_**9, t_, sp.oo),
            "switch step k* (d_k = d)": sp.simplify(kstar)}


@cache
def derive_minibatch_noise(N: int = 5, M: int = 2) -> dict[str, sp.Expr]:
    """Enumerate every minibatch of M of N symbolic per-example gradients g_1..g_N: the variance of
    the minibatch mean minus sigma^2 (N - M)/(M (N - 1)) (without replacement, all C(N, M) subsets
    equally likely) and minus sigma^2/M (with replacement, all N^M ordered draws), sigma^2 the
    population variance (1/N) sum (g_i - gbar)^2.  Both differences are 0."""
    import itertools

    g = sp.symbols(f"g1:{N + 1}", real=True)
    gbar = sum(g) / N
    s2 = sp.expand(sum((gi - gbar) ** 2 for gi in g) / N)
    subs = list(itertools.combinations(g, M))
    var_wo = sp.expand(sum((sum(b) / M - gbar) ** 2 for b in subs) / len(subs))
    draws = list(itertools.product(g, repeat=M))
    var_w = sp.expand(sum((sum(b) / M - gbar) ** 2 for b in draws) / len(draws))
    f = sp.Rational(N - M, M * (N - 1))
    return {"without replacement - sigma^2 (N-M)/(M(N-1))": sp.expand(var_wo - f * s2),
            "with replacement - sigma^2/M": sp.expand(var_w - s2 / M), "factor without": f,
            "factor with": sp.Rational(1, M)}


@cache
def derive_sgd_excess_loss() -> dict[str, sp.Expr]:
    """Small-lr SGD w <- w - lr (H (w - w*) + xi), Cov(xi) = C: the stationary covariance S solves
    H S + S H = lr C (to first order in lr), so tr(H S) = lr tr(C)/2 and the excess loss
    E[(w - w*)^T H (w - w*)]/2 = lr tr(C)/4.  Checked on a symbolic 2x2 case (difference 0)."""
    h1, h2 = sp.symbols("h1 h2", positive=True)
    c11, c12, c22, lr = sp.symbols("c11 c12 c22 lr", real=True)
    H = sp.diag(h1, h2)
    C = sp.Matrix([[c11, c12], [c12, c22]])
    S = sp.Matrix(2, 2, sp.symbols("s11 s12 s12 s22"))
    sol = sp.solve(list(H * S + S * H - lr * C), list(set(S)), dict=True)[0]
    Ssol = S.subs(sol)
    excess = sp.simplify((H * Ssol).trace() / 2)
    return {"S (Lyapunov)": Ssol, "excess loss": excess,
            "excess - lr tr(C)/4": sp.simplify(excess - lr * C.trace() / 4)}


@cache
def derive_soft_threshold() -> dict[str, sp.Expr]:
    """Orthonormal design, z = w* + sigma u, u ~ N(0, 1).  Lasso: w = sign(z)(|z| - lam)_+; its
    probability of an exact zero and its risk E[(w - w*)^2], integrated piecewise; ridge
    z/(1 + lam): risk (lam w*/(1 + lam))^2 + sigma^2/(1 + lam)^2."""
    u = sp.Symbol("u", real=True)
    dens = sp.exp(-u**2 / 2) / sp.sqrt(2 * sp.pi)
    zz = ws + sig * u
    a, b = (-lam - ws) / sig, (lam - ws) / sig  # z < -lam  <=> u < a;  z > lam <=> u > b
    p0 = sp.simplify(sp.integrate(dens, (u, a, b)))
    risk = (sp.integrate(ws**2 * dens, (u, a, b)) + sp.integrate((zz - lam - ws) ** 2 * dens, (u, b, sp.oo))
            + sp.integrate((zz + lam - ws) ** 2 * dens, (u, -sp.oo, a)))
    ridge = sp.simplify(sp.integrate((zz / (1 + lam) - ws) ** 2 * dens, (u, -sp.oo, sp.oo)))
    return {"lasso P(w = 0)": p0, "lasso risk": sp.simplify(risk), "ridge risk": ridge,
            "lasso risk at w* = 0": sp.simplify(risk.subs(ws, 0))}


# ------------------------------------------------------ double-precision building blocks
# Exact sums and products of two doubles (Knuth, Dekker), exp(a) 2^k without intermediate under- or
# overflow, the normal density at a point known to twice the working precision and a product of
# several factors kept as mantissa x 2^exponent.  They make the closed forms below accurate to a few
# units in the last place at every legal parameter (tests/test_stability.py).
_SPLIT = 134217729.0  # 2^27 + 1 (Veltkamp)
_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10  # ln 2 = HI + LO, HI 32 bits
_INV_SQRT_2PI = 0.3989422804014327
_TINY = 2.2250738585072014e-308  # the smallest normal double


def _two_sum(a: float, b: float) -> tuple[float, float]:
    """(s, e) with s = fl(a + b) and s + e = a + b exactly."""
    s = a + b
    bv = s - a
    return s, (a - (s - bv)) + (b - bv)


def _two_prod(a: float, b: float) -> tuple[float, float]:
    """(p, e) with p = fl(a b) and p + e = a b exactly (|a|, |b| < 1e290, no underflow)."""
    p = a * b
    ca, cb = _SPLIT * a, _SPLIT * b
    ah, bh = ca - (ca - a), cb - (cb - b)
    al, bl = a - ah, b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _quotient(a: float, b: float, sigma: float) -> tuple[float, float]:
    """(x, xl): x = fl((a + b)/sigma) and x + xl = (a + b)/sigma to about twice the working precision
    (xl = 0 where x is not finite or outside [1, 1e4], where the correction cannot matter)."""
    n, nl = _two_sum(a, b)
    x = n / sigma
    if not (1.0 <= abs(x) <= 1e4) or sigma > 1e280:
        return x, 0.0
    p, e = _two_prod(x, sigma)
    return x, (((n - p) - e) + nl) / sigma


def _exp2k(a: float, b: float, k: int) -> float:
    """exp(a + b) 2^k / sqrt(2 pi) for an exactly known a and a small correction b: a is reduced by
    multiples of ln 2 exactly (Cody-Waite), so exp is only taken of a number in [-0.35, 0.35] and the
    result is right even where exp(a) alone would under- or overflow."""
    if a < -1e6:
        return 0.0
    n = round(a / _LN2_HI)
    r = (a - n * _LN2_HI) - n * _LN2_LO
    return math.ldexp(math.exp(r + b) * _INV_SQRT_2PI, n + k)


def _phi2k(x: float, xl: float = 0.0, k: int = 0) -> float:
    """phi(x + xl) 2^k, phi the standard normal density, accurate to a few ulp for every x >= 0 (x^2/2
    is split so that exp sees it exactly; xl a correction of order eps x)."""
    if not x <= 1e150:
        return 0.0
    c = _SPLIT * x
    xh = c - (c - x)
    return _exp2k(-0.5 * xh * xh, -0.5 * (x - xh) * (x + xh) - x * xl, k)


def _product(*xs: float) -> float:
    """x_1 x_2 ... x_n rounded once per factor, without an intermediate under- or overflow (mantissas
    and exponents apart); OverflowError if the product itself exceeds a double."""
    m, e = 1.0, 0
    for v in xs:
        fm, fe = math.frexp(v)
        m, me = math.frexp(m * fm)
        e += fe + me
    return math.ldexp(m, e)


def _pow_times(x: float, d: float, n: int) -> float:
    """x d^n for 0 <= d <= 1, with d^n taken in two halves where it alone would leave the normal
    doubles (x d^n can be normal when d^n is not)."""
    p = math.pow(d, n)
    if p >= _TINY or p == 1.0 or x == 0.0:
        return x * p
    h = n // 2
    return x * math.pow(d, h) * math.pow(d, n - h)


_GL_T, _GL_W = np.polynomial.legendre.leggauss(10)
_BREAKS = np.arange(1.0, 61.0)


def _tail_quad(x: float, xl: float, C: float, D: float, smax: float = math.inf) -> float:
    """int_0^smax (C + D s)^2 phi(x + s) ds for x >= 0 (x + xl the exact lower limit), a positive
    integrand integrated without cancellation: phi(x + s) = phi(x) exp(-x s - s^2/2), Gauss-Legendre
    (10 points) on the pieces where x s + s^2/2 grows by 1, up to 60 (e^-60 of the peak: negligible).
    The scale of C, D is taken out exactly, so the result is right wherever it is a normal double."""
    big = max(abs(C), abs(D))
    if big == 0.0 or smax <= 0.0 or not x <= 1e150:
        return 0.0
    s = np.concatenate(([0.0], 2.0 * _BREAKS / (x + np.sqrt(x * x + 2.0 * _BREAKS))))  # x s + s^2/2 = j, stably
    if smax < s[-1]:
        s = np.append(s[s < smax], smax)
    lo, hi = s[:-1], s[1:]
    half = 0.5 * (hi - lo)
    nodes = (0.5 * (lo + hi))[:, None] + half[:, None] * _GL_T
    h = math.frexp(big)[1]
    c, dd_ = math.ldexp(C, -h), math.ldexp(D, -h)
    vals = (c + dd_ * nodes) ** 2 * np.exp(-(x * nodes + 0.5 * nodes * nodes))
    total = float(np.sum(half * (vals @ _GL_W)))
    return total * _phi2k(x, xl, 2 * h)


# ------------------------------------------------------------------------------- numerics
def init_sigma_w2(init: str, width: int) -> float:
    """sigma_w2 = width x (per-weight variance) of a square layer of `width` units under `init`:
    small N(0, 0.01^2) -> 1e-4 width; standard N(0, 1) -> width; xavier 2/(fan_in + fan_out) -> 1;
    he 2/fan_in -> 2."""
    init = check_choice("init", init, INITS)
    width = check_int("width", width, 1)
    return {"small": 1e-4 * width, "standard": float(width), "xavier": 1.0, "he": 2.0}[init]


# tanh for h ~ N(0, q), q < 1e-4: E[tanh^2] and E[tanh'^2] to O(q^5) (derive_activation_moments("tanh", 5);
# tests/test_training_practice.py compares), relative error below 1e-17.
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
        g = lambda zz: 2.0 * f(np.asarray(s * zz)) * math.exp(-0.5 * zz * zz) * _INV_SQRT_2PI
        pts, end = [3.0], 12.0
    else:
        s = math.sqrt(qv)
        g = lambda hh: 2.0 * f(np.asarray(hh)) * math.exp(-0.5 * (hh / s) ** 2) * _INV_SQRT_2PI / s
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
    multiplied as one product (`_product`: no spurious under- or overflow of a partial product).
    OverflowError where r_1 exceeds a double."""
    activation, sigma_w2, depth, q0 = _check_net(activation, init_sigma_w2(init, width), depth, q0)
    if activation in ("linear", "relu"):
        s2 = _sigma_w2_exact(init, width)
        return float((s2 * (1 if activation == "linear" else Fraction(1, 2))) ** (depth - 1))
    qs = forward_variance(activation, sigma_w2, depth, q0)
    return _product(*(_chi(activation, sigma_w2, qv) for qv in qs[:-1]))


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
    dL = lambda zz: -zz + batch * k * math.exp(-0.5 * (k * zz) ** 2 - lnd(zz)) * _INV_SQRT_2PI
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
    return math.exp(Ls + math.log(val)) * _INV_SQRT_2PI


# --------------------------------------------------------------- running statistics (EMA)
def _check_ema(d: float, t: int) -> tuple[float, int]:
    return check_float("d", d, 0.0, 1.0, hi_open=True), check_int("t", t, 0, 10**8)


def ema_decays(d: float, t: int, warmup: bool = False) -> np.ndarray:
    """The decays d_0..d_{t-1} of t updates: d, or min(d, (1 + k)/(10 + k)) with warm-up."""
    d, t = _check_ema(d, t)
    if not check_bool("warmup", warmup):
        return np.full(t, d)
    k = np.arange(t, dtype=float)
    return np.minimum(d, (1.0 + k) / (WARMUP_OFFSET + k))


def ema_weights(d: float, t: int, warmup: bool = False) -> tuple[float, np.ndarray]:
    """(Pi_t, w): s_t = Pi_t s_0 + sum_k w[k] x_k, k = 0..t-1 (module docstring)."""
    dk = ema_decays(d, t, warmup)
    suffix = np.ones(t + 1)  # suffix[k] = prod_{j >= k} d_j
    for k in range(t - 1, -1, -1):
        suffix[k] = suffix[k + 1] * dk[k]
    return float(suffix[0]), (1.0 - dk) * suffix[1:]


def _warmup_steps(d: float, t: int) -> int:
    """K, the number of the first t updates that use the warm-up decay, i.e. the first k with
    (1 + k)/(10 + k) >= d in doubles (as `ema_decays` compares), or t; by bisection."""
    lo, hi = 0, t
    while lo < hi:
        mid = (lo + hi) // 2
        if (1.0 + mid) / (WARMUP_OFFSET + mid) >= d:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _p8_sq(k: int) -> int:
    return math.prod(range(k + 2, k + 10)) ** 2


# Forward differences at 0 of P(k)^2, P(k) = (k+2)(k+3)...(k+9) (degree 16): sum_{k<K} P(k)^2 =
# sum_j DELTA[j] C(K, j+1) exactly, in integers (Newton's forward-difference formula).
_P8_DIFFS: list[int] = []
_row = [_p8_sq(k) for k in range(17)]
while _row:
    _P8_DIFFS.append(_row[0])
    _row = [b - a for a, b in zip(_row, _row[1:], strict=False)]
del _row


def ema_terms(d: float, t: int, warmup: bool = False) -> tuple[float, int, float, float]:
    """The EMA of t updates in closed form, O(1) in t: (W, n, A, B) with Pi_t = W d^n and
    sum_k w_k^2 = A d^(2n) + B.  With K = `_warmup_steps` warm-up updates followed by n = t - K at d:
    W = 9!/((K+1)...(K+9)), A = 81 sum_{k<K} ((k+2)...(k+9))^2/((K+1)...(K+9))^2 (since
    (1 - d_k) prod_{k<j<K} d_j = 9 (k+2)...(k+9)/((K+1)...(K+9)) for d_k = (1+k)/(10+k)), both exact
    rationals rounded once, and B = (1 - d)(1 - d^(2n))/(1 + d) with 1 - d^(2n) = -expm1(2n log d)
    (log1p(-(1 - d)) for d > 1/2: no cancellation at d near 1 or small n (1 - d))."""
    d, t = _check_ema(d, t)
    K = _warmup_steps(d, t) if check_bool("warmup", warmup) else 0
    n = t - K
    Q = math.prod(range(K + 1, K + 10))
    W = math.factorial(9) / Q
    A = 81 * sum(c * math.comb(K, j + 1) for j, c in enumerate(_P8_DIFFS)) / (Q * Q)
    if n == 0:
        B = 0.0
    elif d == 0.0:
        B = 1.0
    else:
        B = (1.0 - d) / (1.0 + d) * -math.expm1(2 * n * (math.log1p(-(1.0 - d)) if d > 0.5 else math.log(d)))
    return W, n, A, B


def ema_pi(d: float, t: int, warmup: bool = False) -> float:
    """Pi_t = prod_k d_k, the weight left on the start value after t updates (closed form)."""
    W, n, _, _ = ema_terms(d, t, warmup)
    return _pow_times(W, d, n)


def ema_sum_w2(d: float, t: int, warmup: bool = False) -> float:
    """sum_k w_k^2, the variance of the EMA of t independent unit-variance inputs (closed form)."""
    _, n, A, B = ema_terms(d, t, warmup)
    return _pow_times(A, d, 2 * n) + B


def ema_bias(d: float, t: int, s0: float, target: float, warmup: bool = False) -> float:
    """E[s_t] - target = Pi_t (s0 - target) when every x_k has mean `target` (exact; closed form,
    the power of d taken so that Pi_t (s0 - target) is right even where Pi_t alone underflows)."""
    W, n, _, _ = ema_terms(d, t, warmup)
    return _pow_times(W * (check_float("s0", s0) - check_float("target", target)), d, n)


def ema_variance(d: float, t: int, v: float, warmup: bool = False) -> float:
    """Var(s_t) = v sum_k w_k^2 for independent x_k of variance v (exact); constant d:
    v (1 - d)(1 - d^(2t))/(1 + d)."""
    return check_float("v", v, 0.0) * ema_sum_w2(d, t, warmup)


def batch_var_var(M: int, sigma: float = 1.0, rho: float = 0.0) -> float:
    """Var of the unbiased batch variance of M i.i.d. inputs: sigma^4 (2/(M - 1) + rho/M), evaluated
    as sigma^4 ((2 + rho)/M + 2/(M (M - 1))), two non-negative terms (no cancellation at rho near -2)."""
    M = check_int("M", M, 2)
    sigma = check_float("sigma", sigma, 0.0, lo_open=True)
    rho = check_float("rho", rho, -2.0)
    return _product(sigma, sigma, sigma, sigma, _var_coef(M, rho))


def _var_coef(M: int, rho: float) -> float:
    return (2.0 + rho) / M + 2 / (M * (M - 1))


def running_mean_bias(d: float = 0.9, t: int = 100, s0: float = 0.0, mu: float = 1.0, warmup: bool = False) -> float:
    """Bias E[s_t] - mu of BN's running mean after t updates from s0 (PyTorch starts at 0):
    Pi_t (s0 - mu); exact."""
    return ema_bias(d, t, s0, mu, warmup)


def running_mean_var(M: int, d: float = 0.9, t: int = 100, sigma: float = 1.0, warmup: bool = False) -> float:
    """Var of BN's running mean after t updates with batch means of M i.i.d. inputs:
    (sigma^2/M) sum_k w_k^2; exact."""
    M = check_int("M", M, 1)
    sigma = check_float("sigma", sigma, 0.0, lo_open=True)
    return _product(sigma, sigma, ema_sum_w2(d, t, warmup)) / M


def running_var_bias(d: float = 0.9, t: int = 100, s0: float = 1.0, sigma: float = 1.0, warmup: bool = False) -> float:
    """Bias E[s_t] - sigma^2 of BN's running variance (EMA of unbiased batch variances) after t
    updates from s0 (PyTorch starts at 1): Pi_t (s0 - sigma^2); exact (s0 - sigma^2 with the exact
    product sigma sigma, so s0 near sigma^2 loses nothing)."""
    s0 = check_float("s0", s0)
    sigma = check_float("sigma", sigma, 0.0, lo_open=True)
    p, e = _two_prod(sigma, sigma) if 1e-140 < sigma < 1e140 else (sigma * sigma, 0.0)
    W, n, _, _ = ema_terms(d, t, warmup)
    return _pow_times(W * ((s0 - p) - e), d, n)


def running_var_var(M: int, d: float = 0.9, t: int = 100, sigma: float = 1.0, rho: float = 0.0,
                    warmup: bool = False) -> float:
    """Var of BN's running variance after t updates: sigma^4 (2/(M - 1) + rho/M) sum_k w_k^2; exact
    (one product: no spurious overflow of sigma^4 where the whole is a double)."""
    M = check_int("M", M, 2)
    sigma = check_float("sigma", sigma, 0.0, lo_open=True)
    rho = check_float("rho", rho, -2.0)
    return _product(sigma, sigma, sigma, sigma, _var_coef(M, rho), ema_sum_w2(d, t, warmup))


# ------------------------------------------------------------------ minibatch-gradient noise
def minibatch_factor(N: int | None, M: int, replace: bool = False) -> float:
    """Cov(minibatch mean) / Sigma: (N - M)/(M (N - 1)) without replacement, 1/M with (and for an
    infinite population, N = None)."""
    replace = check_bool("replace", replace)
    if N is None:
        return 1.0 / check_int("M", M, 1)
    N = check_int("N", N, 2)
    M = check_int("M", M, 1, None if replace else N)
    return 1.0 / M if replace else (N - M) / (M * (N - 1))


def minibatch_mean_var(M: int, N: int | None = None, sigma2: float = 1.0, replace: bool = False) -> float:
    """Variance of the mean of a minibatch of M of N fixed per-example values (gradient components)
    with population variance sigma2 = (1/N) sum (g_i - gbar)^2: sigma2 (N - M)/(M (N - 1)) without
    replacement, sigma2/M with (or for N = None, an infinite population); exact."""
    return check_float("sigma2", sigma2, 0.0) * minibatch_factor(N, M, replace)


def gradient_noise_cov(X: np.ndarray, y: np.ndarray, w: np.ndarray, M: int, replace: bool = False) -> np.ndarray:
    """The exact covariance of the minibatch gradient of L = (1/2N) sum (x_i . w - y_i)^2 at w:
    factor(N, M) Sigma_g, Sigma_g the population covariance of g_i = (x_i . w - y_i) x_i."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.asarray(w, dtype=float)
    if X.ndim != 2 or y.shape != (X.shape[0],) or w.shape != (X.shape[1],):
        raise ParameterError(f"X must be (N, d), y (N,), w (d,) (got {X.shape}, {y.shape}, {w.shape})")
    G = (X @ w - y)[:, None] * X
    Gc = G - G.mean(axis=0)
    return minibatch_factor(X.shape[0], M, replace) * (Gc.T @ Gc) / X.shape[0]


def sgd_excess_loss(lr: float, M: int, trace_sigma: float, N: int | None = None, replace: bool = False) -> float:
    """Stationary E[L(w)] - L(w*) of SGD with step lr and minibatches of M of N examples, to first
    order in lr: lr factor(N, M) tr(Sigma_g(w*))/4 (Lyapunov equation; module docstring)."""
    lr = check_float("lr", lr, 0.0, lo_open=True)
    return _product(lr, minibatch_factor(N, M, replace), check_float("trace_sigma", trace_sigma, 0.0), 0.25)


def sgd_stationary_excess(X: np.ndarray, y: np.ndarray, lr: float, M: int, replace: bool = False) -> float:
    """The exact stationary E[L(w)] - L(w*) of constant-step SGD with i.i.d. minibatches of M rows on
    L = (1/2N) |X w - y|^2, any lr below the stability edge.  With e = w - w*, a batch B gives
    e' = (I - lr Hb) e - lr xi_B, Hb = (1/M) sum_B x x^T, xi_B the minibatch gradient at w*
    (mean 0, covariance C = factor(N, M) Sigma_g(w*)); e is independent of B and E[e] = 0, so the
    cross terms vanish and S = E[e e^T] solves  H S + S H - lr E[Hb S Hb] = lr C  exactly, with
    E[Hb S Hb] = (1/M^2) [p1 Q + p2 (N^2 H S H - Q)], Q = sum_i A_i S A_i, A_i = x_i x_i^T,
    p1 = M/N, p2 = M(M-1)/(N(N-1)) without replacement (with: E = (1/M)(Q/N) + (1 - 1/M) H S H).
    Returns tr(H S)/2 (inf if lr is beyond the edge, where no stationary law exists)."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    N, dim = X.shape
    lr = check_float("lr", lr, 0.0, lo_open=True)
    replace = check_bool("replace", replace)
    M = check_int("M", M, 1, None if replace else N)
    H = X.T @ X / N
    w_star = np.linalg.lstsq(X, y, rcond=None)[0]
    G = (X @ w_star - y)[:, None] * X
    C = minibatch_factor(N, M, replace) * (G.T @ G) / N

    def op(S: np.ndarray) -> np.ndarray:
        XS = X @ S
        Q = (X * np.einsum("ij,ij->i", XS, X)[:, None]).T @ X  # sum_i (x_i^T S x_i) x_i x_i^T
        HSH = H @ S @ H
        if replace:
            E = Q / (N * M) + (1.0 - 1.0 / M) * HSH
        else:
            E = (M / N * Q + M * (M - 1) / (N * (N - 1)) * (N * N * HSH - Q)) / (M * M)
        return H @ S + S @ H - lr * E

    A = np.empty((dim * dim, dim * dim))
    for k in range(dim * dim):
        B = np.zeros(dim * dim)
        B[k] = 1.0
        A[:, k] = op(B.reshape(dim, dim)).ravel()
    S = np.linalg.solve(A, lr * C.ravel()).reshape(dim, dim)
    S = (S + S.T) / 2
    if np.min(np.linalg.eigvalsh(S)) < -1e-12 * max(np.max(np.abs(S)), 1e-300):
        return math.inf
    return float(np.trace(H @ S) / 2)


# ---------------------------------------------------------------------------- L1 vs L2
def _check_pen(lam_: float, w_star: float, sigma: float) -> tuple[float, float, float]:
    return (check_float("lam", lam_, 0.0), check_float("w_star", w_star),
            check_float("sigma", sigma, 0.0, lo_open=True))


def ridge_orthonormal_risk(lam: float, w_star: float = 0.0, sigma: float = 1.0) -> float:
    """E[(z/(1 + lam) - w*)^2], z ~ N(w*, sigma^2): (lam w*)^2/(1 + lam)^2 + sigma^2/(1 + lam)^2,
    evaluated as (w* lam/(1 + lam))^2 + (sigma/(1 + lam))^2 (no square of lam w* formed)."""
    lam, w_star, sigma = _check_pen(lam, w_star, sigma)
    return (w_star * (lam / (1.0 + lam))) ** 2 + (sigma / (1.0 + lam)) ** 2


def _zero_part(lam: float, w: float, sigma: float, C: float) -> float:
    """C^2 P(|z| <= lam), z ~ N(w, sigma^2), w >= 0: u = (z - w)/sigma in [a, b] = [-(lam + w)/sigma,
    (lam - w)/sigma].  If the interval holds u = 0: (erf(b/sqrt 2) + erf(-a/sqrt 2))/2, a sum of two
    non-negative numbers; otherwise (w > lam) the integral of phi over [lo, lo + 2 lam/sigma],
    lo = (w - lam)/sigma > 0, by `_tail_quad` (a difference of two normal tails would cancel)."""
    if lam == 0.0:
        return 0.0
    if w <= lam:
        r = math.sqrt(0.5)
        return C * C * (0.5 * (math.erf((lam - w) / sigma * r) + math.erf((lam + w) / sigma * r)))
    lo, lo_l = _quotient(w, -lam, sigma)
    return _tail_quad(lo, lo_l, C, 0.0, 2.0 * lam / sigma)


def lasso_zero_prob(lam: float, w_star: float = 0.0, sigma: float = 1.0) -> float:
    """P(soft threshold = 0) = Phi((lam - w*)/sigma) - Phi((-lam - w*)/sigma), evaluated without
    cancellation (`_zero_part`; symmetric in w*)."""
    lam, w_star, sigma = _check_pen(lam, w_star, sigma)
    return min(1.0, _zero_part(lam, abs(w_star), sigma, 1.0))


def lasso_orthonormal_risk(lam: float, w_star: float = 0.0, sigma: float = 1.0) -> float:
    """E[(sign(z)(|z| - lam)_+ - w*)^2], z ~ N(w*, sigma^2), with a = (-lam - w*)/sigma,
    b = (lam - w*)/sigma: w*^2 (Phi(b) - Phi(a)) + sigma^2 (1 - Phi(b) + b phi(b)) - 2 sigma lam phi(b)
    + lam^2 (1 - Phi(b)) + sigma^2 (Phi(a) - a phi(a)) - 2 sigma lam phi(a) + lam^2 Phi(a).

    That sum cancels (to nothing in the tails), so it is evaluated as three non-negative parts, with
    w = |w*| (the risk is symmetric), u = (z - w)/sigma: w^2 P(zero) + int_b^oo (sigma u - lam)^2 phi
    + int_{(lam + w)/sigma}^oo (sigma u - lam)^2 phi (the part z < -lam, reflected).  A tail integral
    from x >= 0 is `_tail_quad` with the integrand's value at x exact (sigma x - lam = -w or w); for
    b < 0 the second part is sigma^2 + lam^2 minus the tail beyond -b (at most 0.9 of it)."""
    lam, w_star, sigma = _check_pen(lam, w_star, sigma)
    w = abs(w_star)
    x, x_l = _quotient(lam, w, sigma)
    below = _tail_quad(x, x_l, w, sigma)
    b, b_l = _quotient(lam, -w, sigma)
    if b >= 0.0:
        above = _tail_quad(b, b_l, -w, sigma)
    else:
        above = (sigma * sigma + lam * lam) - _tail_quad(-b, -b_l, w, sigma)
    return _zero_part(lam, w, sigma, w) + above + below


# ---------------------------------------------------------------- `bnreg derive` steps
def _steps_init(latex: bool) -> list[tuple[str, sp.Expr]]:
    out = []
    for a in ACTIVATIONS:
        m = derive_activation_moments(a)
        tag = "exact" if a in ("linear", "relu") else "series in q"
        out.append((f"{a}: E[phi(h)^2], E[phi'(h)^2], h ~ N(0, q) ({tag})", sp.Matrix([m["E phi^2"], m["E phi'^2"]])))
    out += list(derive_relu_depth().items())
    out += list(derive_tanh_small_q().items())
    return out


def _steps_ema(latex: bool) -> list[tuple[str, sp.Expr]]:
    u = derive_ema_unrolled(4)
    return [*u.items(), *derive_ema_constant().items(), *derive_ema_warmup().items()]


def _steps_noise(latex: bool) -> list[tuple[str, sp.Expr]]:
    return [*derive_minibatch_noise(5, 2).items(), *derive_sgd_excess_loss().items()]


DERIVATION_STEPS: dict[str, tuple[Callable[[bool], list[tuple[str, sp.Expr]]], str]] = {
    "init_variance": (_steps_init, "forward/backward variance through depth: linear, ReLU (He), tanh, sigmoid"),
    "bn_running_stats": (_steps_ema, "the EMA of batch statistics with and without warm-up: bias and variance"),
    "minibatch_noise": (_steps_noise, "minibatch-gradient noise vs M (with/without replacement); SGD excess loss"),
    "soft_threshold": (lambda latex: list(derive_soft_threshold().items()),
                       "L1 vs L2 with an orthonormal design: lasso zero probability and risk, ridge risk"),
}

"""Training practice, the SymPy derivations: each subtopic's closed forms, and the `bnreg derive` steps.

The model and the notation are in theory/training_practice.py (the topic's public face); the numeric
twins of these derivations are in training_practice_init, _ema, _noise and _penalties.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import sympy as sp

from bnreg.params import check_choice

from .training_practice_init import ACTIVATIONS

__all__ = [
    "derive_activation_moments", "derive_relu_depth", "derive_tanh_small_q", "derive_ema_unrolled",
    "derive_ema_constant", "derive_ema_warmup", "derive_minibatch_noise", "derive_sgd_excess_loss",
    "derive_soft_threshold", "DERIVATION_STEPS",
]

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

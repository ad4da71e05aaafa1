"""The BN student at a finite learning rate: dynamics of the direction and of the norm of w under
minibatch SGD, the stationary error at a fixed effective learning rate, and the weight-decay
equilibrium.  Explained, with measurements, in docs/bn_dynamics.md; the write-up's claim it bears
on is in docs/errata.md item 8.

Setup as in theory/teacher_student.py: x ~ N(0, I_N), y = w*.x + eps, P = round(alpha N) training
pairs; the BN student phi = gamma (w.x - mu_B)/sigma_B (beta = 0) is trained by SGD with step lr on
the batch loss L_B = (1/M) sum_batch (phi - y)^2, batches drawn by reshuffling every epoch.
C = centred training covariance of x, b = centred training covariance of x and y, S(w) = w^T C w,
v = gamma w/sqrt(S) the predictor with training-set statistics.

Results (each derived below; `bnreg derive bn_direction_gradient | bn_weight_norm | bn_noise_ridge |
bn_stationary_error`):
1. Direction gradient.  grad_w L_B = -(2 gamma/(M sigma_B)) sum_j (x_j - xbar_B) rho_j with
   rho_j = y_j - ybar_B - z_j <y z>_B: the part of y that the batch's own z cannot fit.  gamma drops
   out of rho, and any a h_j + c added to y drops out, so BN's batch-statistics jitter of a
   sample's own prediction sends no noise into w.  w . grad_w L_B = 0 (L_B is scale invariant).
2. Norm of w.  Because the step is orthogonal to w, |w'|^2 = (1 - lr wd)^2 |w|^2 + lr^2 G^2/|w|^2
   exactly, with G^2 = |grad_u L_B|^2 at the unit vector u = w/|w| (the gradient scales as 1/|w|).
   The direction moves with the effective learning rate lr_eff = lr/|w|^2.
   - wd = 0: |w|^4 = |w_0|^4 + 2 lr^2 G^2 t (continuous in t), so lr_eff = lr/|w|^2 -> 1/(G sqrt(2t)):
     it decays whatever lr is.
   - wd > 0: |w| settles at |w|^4 = lr G^2/(wd (2 - lr wd)), so lr_eff* = sqrt(wd (2 - lr wd)/lr) lr/G
     ~ sqrt(2 lr wd)/G.
3. Noise ridge.  SGD with step lr follows, to first order in lr, the gradient flow of the modified
   loss L + (lr/4) E_B |grad L_B|^2 (Smith, Dherin, Barrett, De, "On the origin of implicit
   regularization in stochastic gradient descent", ICLR 2021, arXiv:2101.12176; with reshuffling
   as with independent batches).  For BN at |w| = 1 the expected squared batch gradient is
   E_B |grad_w L_B|^2 = 4 gamma^2 N rho2/(M S(w)), rho2 = L_res (f - 2/M) M/(M - 3),
   f = (P - M)/(P - 1), L_res the training residual (per sample) of the centred least-squares fit.
   Assumptions: N >> 1 (x_j . x_k ~ -N/M for j != k in a centred batch), rho and the x-directions
   outside w independent within a batch, Gaussian h for E[1/sigma_B^2] = M/((M - 3) S), rho2
   evaluated at the limit (its gradient vanishes there).  The regularizer is then gamma^2 nu |w|^2/S
   with nu = lr_eff N rho2/M: it penalizes directions of small training variance.  Minimizing
   gamma^2 (1 + nu |w|^2/S) - 2 gamma w.b/sqrt(S) over gamma leaves the direction objective
   (w.b)^2/(w^T (C + nu) w), maximized at w ~ (C + nu)^-1 b, and the predictor is exactly the ridge
   solution (C + nu)^-1 b of the per-sample cost with zeta = nu (Krogh-Hertz lam = alpha nu).  BN's
   gamma identity (E[z^2] = 1, E[z u] = E[sigma_B]/sigma) multiplies it by kappa.  A plain linear
   student has E|grad L_B|^2 proportional to its training loss, stationary at the least-squares fit,
   so no shift: the regularization needs the scale invariance.
4. Stationary error at a fixed lr_eff, leading order: eps = E|kappa v_nu - w*|^2
   = kappa^2 |v_lam|^2 - 2 kappa (1 - lam G) + 1, lam = alpha nu, |v_lam|^2 = 1 - 2 lam G - lam^2 G'
   + delta2 (G + lam G') (Marchenko-Pastur, G = G(alpha, lam)).  Its slope at lr_eff -> 0 (alpha > 1)
   is alpha (N rho2/M) [2 kappa (1 - kappa)/(alpha - 1) - 2 kappa^2 delta2 alpha/(alpha - 1)^3].
   Not included (the next order, bounded in `bn_stationary_next_order`): the fluctuation of the
   predictor about its mean (between 0 with reshuffled batches at lr -> 0 and kappa^2 |v|^2 nu for
   independent batches), and the feedback of that fluctuation on rho2, which can raise nu up to
   nu/(1 - lr_eff N f kappa^2 |v|^2/M).  For alpha < 1 the least-squares fit interpolates, rho2 = 0 and
   there is no shift at this order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache

import sympy as sp

from bnreg.params import ParameterError, check_float, check_int

from . import teacher_student as TS

__all__ = [
    "SYMBOLS",
    "derive_direction_gradient",
    "derive_weight_norm",
    "derive_noise_ridge",
    "derive_stationary_error",
    "noise_factor",
    "bn_residual",
    "bn_noise_ridge",
    "bn_predictor_norm2",
    "bn_grad_norm2",
    "bn_stationary_error",
    "bn_stationary_slope",
    "bn_stationary_next_order",
    "bn_weight_norm_growth",
    "bn_wd_effective_lr",
    "bn_wd_stationary_error",
    "DERIVATION_STEPS",
]

eta, wd, nu, t, kap = sp.symbols("eta wd nu t kappa", positive=True)
alpha, lam, delta2 = TS.SYMBOLS["alpha"], TS.SYMBOLS["lam"], TS.SYMBOLS["delta2"]
SYMBOLS = {"eta": eta, "wd": wd, "nu": nu, "t": t, "kappa": kap, "alpha": alpha, "lam": lam, "delta2": delta2}


# ---------------------------------------------------------------------------- derivations
@cache
def derive_direction_gradient() -> dict[str, sp.Expr]:
    """The BN batch loss on a symbolic batch of 3 pre-activations h_j = w.x_j:
    L_B = (1/3) sum (gamma z_j - y_j)^2, z_j = (h_j - mu_B)/sigma_B.  Since grad_w L_B = sum_j
    (dL_B/dh_j) x_j, everything follows from dL_B/dh_j.  Returns (each 0):
    dL_B/dh_j + (2 gamma/(3 sigma_B)) (y_j - ybar_B - z_j <y z>_B) for j = 1, 2, 3 (so
    grad_w L_B = -(2 gamma/(M sigma_B)) sum_j (x_j - xbar_B) rho_j); sum_j h_j dL_B/dh_j (= w . grad_w L_B:
    scale invariance); the change of rho_j when y_j -> y_j + a h_j + c (the batch's own
    prediction, hence BN's jitter of it, sends no noise into w; gamma does not appear in rho).

    Returns: dict of SymPy expressions, every one 0.  docs/bn_dynamics.md."""
    M_ = 3
    h = sp.symbols("h1:4", real=True)
    y = sp.symbols("y1:4", real=True)
    g, a, c = sp.symbols("gamma a c", real=True)
    mu = sum(h) / M_
    sd = sp.sqrt(sum((hj - mu) ** 2 for hj in h) / M_)
    z = [(hj - mu) / sd for hj in h]

    def dldh(yy):
        loss = sum((g * zj - yj) ** 2 for zj, yj in zip(z, yy, strict=True)) / M_
        return [sp.diff(loss, hj) for hj in h]

    def resid(yy):
        ybar = sum(yy) / M_
        yz = sum(yj * zj for yj, zj in zip(yy, z, strict=True)) / M_
        return [yj - ybar - zj * yz for yj, zj in zip(yy, z, strict=True)]

    d = dldh(y)
    rho = resid(y)
    shifted = resid([yj + a * hj + c for yj, hj in zip(y, h, strict=True)])
    out = {f"dL_B/dh_{j + 1} + 2 gamma rho_{j + 1}/(3 sigma_B)": sp.simplify(d[j] + 2 * g * rho[j] / (M_ * sd))
           for j in range(M_)}
    out["sum_j h_j dL_B/dh_j (= w . grad_w L_B)"] = sp.simplify(sum(hj * dj for hj, dj in zip(h, d, strict=True)))
    out.update({f"change of rho_{j + 1} under y -> y + a h + c": sp.simplify(shifted[j] - rho[j])
                for j in range(M_)})
    return out


@cache
def derive_weight_norm() -> dict[str, sp.Expr]:
    """|w|^2 = W under w' = (1 - eta wd) w - eta grad, grad orthogonal to w with |grad|^2 = G2/W:
    W' = (1 - eta wd)^2 W + eta^2 G2/W exactly.  wd = 0, continuous time: dW/dt = eta^2 G2/W gives
    W^2 = W0^2 + 2 eta^2 G2 t.  wd > 0: the fixed point W*^2 = eta G2/(wd (2 - eta wd)); the effective
    learning rate eta/W*.

    Returns: {"W'", "W(t), wd = 0", "W*", "W'(W*) - W* (fixed point)" (0), "lr_eff* = eta/W*",
    "lr_eff*, leading order in eta wd"} (SymPy)."""
    W, W0, G2 = sp.symbols("W W0 G2", positive=True)
    step = (1 - eta * wd) ** 2 * W + eta**2 * G2 / W
    Wf = sp.Function("W")
    sol = sp.dsolve(sp.Eq(Wf(t).diff(t), eta**2 * G2 / Wf(t)), Wf(t), ics={Wf(0): W0})
    sol = sol if not isinstance(sol, list) else next(s for s in sol if s.rhs.subs(t, 0) == W0)
    Wstar = sp.sqrt(eta * G2 / (wd * (2 - eta * wd)))
    lr_eff = eta / Wstar
    return {"W'": step, "W(t), wd = 0": sp.simplify(sol.rhs), "W*": Wstar,
            "W'(W*) - W* (fixed point)": sp.simplify(step.subs(W, Wstar) - Wstar),
            "lr_eff* = eta/W*": sp.simplify(lr_eff),
            "lr_eff*, leading order in eta wd": sp.sqrt(2 * eta * wd / G2)}


@cache
def derive_noise_ridge() -> dict[str, sp.Expr]:
    """The modified loss of a BN unit, per eigen-direction of C (three shown: eigenvalues c1..c3,
    b1..b3 the components of b, w1..w3 of w): L_mod = gamma^2 (1 + nu |w|^2/S) - 2 gamma w.b/sqrt(S),
    S = sum c_i w_i^2 (the regularizer (lr/4) E|grad_w L_B|^2 = gamma^2 nu |w|^2/S, nu = lr_eff N rho2/M).
    Its gamma minimum leaves -(w.b)^2/(S + nu |w|^2); at w = (C + nu)^-1 b the direction gradient
    vanishes and the predictor gamma* w/sqrt(S) equals the ridge solution b_i/(c_i + nu).

    Returns: {"gamma*", "min over gamma", "direction gradient at ridge" (3 zeros),
    "predictor - ridge" (3 zeros)}."""
    c = sp.symbols("c1:4", positive=True)
    b = sp.symbols("b1:4", real=True)
    w = sp.symbols("w1:4", real=True)
    g = sp.Symbol("gamma", positive=True)
    S = sum(ci * wi**2 for ci, wi in zip(c, w, strict=True))
    n2 = sum(wi**2 for wi in w)
    wb = sum(wi * bi for wi, bi in zip(w, b, strict=True))
    L = g**2 * (1 + nu * n2 / S) - 2 * g * wb / sp.sqrt(S)
    gstar = sp.solve(sp.diff(L, g), g)[0]
    Lmin = sp.simplify(L.subs(g, gstar))
    ridge = {wi: bi / (ci + nu) for wi, bi, ci in zip(w, b, c, strict=True)}
    obj = wb**2 / (S + nu * n2)
    grads = sp.Matrix([sp.simplify(sp.diff(obj, wi).subs(ridge)) for wi in w])
    pred = sp.Matrix([sp.simplify((gstar * wi / sp.sqrt(S)).subs(ridge) - ridge[wi]) for wi in w])
    return {"gamma*": sp.simplify(gstar), "min over gamma": Lmin, "direction gradient at ridge": grads,
            "predictor - ridge": pred}


@cache
def derive_stationary_error() -> dict[str, sp.Expr]:
    """eps(kappa, lam) = E|kappa v_lam - w*|^2 with (1/N) tr of the ridge moments:
    v.w* -> 1 - lam G, |v|^2 -> 1 - 2 lam G - lam^2 G' + delta2 (G + lam G').  At lam -> 0 for
    alpha > 1, G -> 1/(alpha - 1) and G' -> -alpha/(alpha - 1)^3 (implicit differentiation of
    lam G^2 + (lam + alpha - 1) G - 1 = 0), giving the slope d eps/d lam at 0.

    Returns: {"eps(kappa, lam)", "G(0)", "G'(0)", "d eps/d lam at 0", "eps at 0 (= BN limit)"}."""
    G, Gp = sp.symbols("G Gp")
    v2 = 1 - 2 * lam * G - lam**2 * Gp + delta2 * (G + lam * Gp)
    eps = kap**2 * v2 - 2 * kap * (1 - lam * G) + 1
    G0 = sp.solve((alpha - 1) * G - 1, G)[0]  # lam G^2 + (lam + alpha - 1) G - 1 = 0 at lam = 0
    Gf = sp.Function("G")(lam)
    eq = lam * Gf**2 + (lam + alpha - 1) * Gf - 1
    dG = sp.solve(sp.diff(eq, lam), sp.diff(Gf, lam))[0]  # G' in terms of G and lam
    Gp0 = sp.simplify(dG.subs(Gf, G).subs(lam, 0).subs(G, G0))
    e_f = eps.subs(Gp, sp.diff(Gf, lam)).subs(G, Gf)
    d_eps = sp.diff(e_f, lam).subs(sp.diff(Gf, lam, 2), sp.Symbol("Gpp")).subs(sp.diff(Gf, lam), Gp).subs(Gf, G)
    slope = sp.factor(sp.simplify(d_eps.subs(lam, 0).subs({G: G0, Gp: Gp0})))
    return {"eps(kappa, lam)": eps, "G(0)": G0, "G'(0)": Gp0, "d eps/d lam at 0": slope,
            "eps at 0 (= BN limit)": sp.simplify(eps.subs({lam: 0, G: G0}))}


def _steps(fn: Callable[[], dict[str, sp.Expr]]) -> Callable[[bool], list[tuple[str, sp.Expr]]]:
    return lambda latex: list(fn().items())


DERIVATION_STEPS: dict[str, tuple[Callable[[bool], list[tuple[str, sp.Expr]]], str]] = {
    "bn_direction_gradient": (_steps(derive_direction_gradient),
                              "BN's w-gradient sees only the part of y its own batch cannot fit (no BN jitter)"),
    "bn_weight_norm": (_steps(derive_weight_norm), "growth of |w|^2 under SGD; the weight-decay equilibrium"),
    "bn_noise_ridge": (_steps(derive_noise_ridge),
                       "SGD's implicit regularizer on a scale-invariant w is a ridge: (C + nu)^-1 b"),
    "bn_stationary_error": (_steps(derive_stationary_error),
                            "stationary error kappa-shrunk ridge at lam = alpha nu; its slope at lr -> 0"),
}


# ---------------------------------------------------------------------------- numerics
def _common(alpha_: float, M: int, delta2_: float, N: int) -> tuple[float, int, float, int, int]:
    a = check_float("alpha", alpha_, 1.0, lo_open=True)
    M = check_int("M", M, 4)
    d = check_float("delta2", delta2_, 0.0)
    N = check_int("N", N, 2)
    P = max(1, int(round(a * N)))
    if P < N + 2 or P <= M:
        raise ParameterError(f"need P = round(alpha N) >= N + 2 and P > M (got P = {P}, N = {N}, M = {M})")
    return a, M, d, N, P


def noise_factor(M: int, P: int) -> float:
    """g = (f - 2/M) M/(M - 3), f = (P - M)/(P - 1): rho2 = L_res g in E|grad_w L_B|^2 = 4 gamma^2 N rho2/(M S).
    f: sampling M of P without replacement (the batch gradients sum to the full one, 0 at the fit);
    -2/M: the batch's own mean and slope are fitted by BN (rho_j = y_j - ybar_B - z_j <y z>_B);
    M/(M - 3) = E[sigma^2/sigma_B^2] for Gaussian h.

    Parameters: M batch size (>= 4); P training samples (> M).  Returns: g."""
    M = check_int("M", M, 4)
    P = check_int("P", P, M + 1)
    return ((P - M) / (P - 1) - 2.0 / M) * M / (M - 3)


def bn_residual(alpha: float, delta2: float = 0.25, N: int = 256) -> float:
    """Training residual per sample of the centred least-squares fit, E = delta2 (P - N - 1)/P
    (residual degrees of freedom P - N - 1; -> delta2 (1 - 1/alpha)).

    Parameters: alpha = P/N (> 1); delta2 label-noise variance; N input dimension.  Returns: L_res."""
    a = check_float("alpha", alpha, 1.0, lo_open=True)
    d = check_float("delta2", delta2, 0.0)
    N = check_int("N", N, 2)
    P = int(round(a * N))
    if P < N + 2:
        raise ParameterError(f"need P = round(alpha N) >= N + 2 (got P = {P}, N = {N})")
    return d * (P - N - 1) / P


def bn_noise_ridge(alpha: float, M: int, delta2: float, lr_eff: float, N: int) -> float:
    """nu = lr_eff N rho2/M, rho2 = L_res noise_factor(M, P): the ridge coefficient (per-sample cost,
    zeta = nu; Krogh-Hertz lam = alpha nu) of SGD's implicit regularizer on the BN direction.

    Parameters: alpha = P/N (> 1); M batch size (>= 4); delta2; lr_eff = lr/|w|^2 (> 0); N.
    Returns: nu.  docs/bn_dynamics.md."""
    a, M, d, N, P = _common(alpha, M, delta2, N)
    e = check_float("lr_eff", lr_eff, 0.0, lo_open=True)
    return e * N * bn_residual(a, d, N) * noise_factor(M, P) / M


def _ridge_moments(a: float, lam_: float, d: float) -> tuple[float, float]:
    """(|v_lam|^2, v_lam . w*) in the thermodynamic limit."""
    g, dg = TS.mp_stieltjes(a, lam_), TS.mp_stieltjes_dlam(a, lam_)
    return 1 - 2 * lam_ * g - lam_ * lam_ * dg + d * (g + lam_ * dg), 1 - lam_ * g


def _eps_at(a: float, d: float, kappa: float, nu_: float) -> tuple[float, float]:
    """(eps, |kappa v|^2) of kappa times the ridge solution at zeta = nu_ (lam = alpha nu_)."""
    if nu_ <= 0:
        v2 = 1 + d / (a - 1)
        return (1 - kappa) ** 2 + d * kappa * kappa / (a - 1), kappa * kappa * v2
    v2, vw = _ridge_moments(a, a * nu_, d)
    return kappa * kappa * v2 - 2 * kappa * vw + 1, kappa * kappa * v2


def bn_predictor_norm2(alpha: float, M: int, delta2: float, lr_eff: float, N: int) -> float:
    """|v|^2 = kappa^2 |v_lam|^2 of the stationary BN predictor (leading order).

    Parameters: as `bn_stationary_error`.  Returns: |v|^2."""
    a, M, d, N, _ = _common(alpha, M, delta2, N)
    return _eps_at(a, d, TS.bn_shrinkage(M), bn_noise_ridge(a, M, d, lr_eff, N))[1]


def bn_grad_norm2(alpha: float, M: int, delta2: float, N: int, lr_eff: float = 0.0) -> float:
    """G^2 = E_B |grad_u L_B|^2 at the unit vector u = w/|w| in the stationary state: 4 |v|^2 N rho2/M
    (|v|^2 = gamma^2/S of the predictor; at lr_eff = 0 the BN limit, kappa^2 (1 + delta2/(alpha - 1))).

    Parameters: alpha (> 1); M (>= 4); delta2; N; lr_eff (>= 0) for |v|^2.  Returns: G^2."""
    a, M, d, N, P = _common(alpha, M, delta2, N)
    e = check_float("lr_eff", lr_eff, 0.0)
    v2 = _eps_at(a, d, TS.bn_shrinkage(M), bn_noise_ridge(a, M, d, e, N) if e > 0 else 0.0)[1]
    return 4 * v2 * N * bn_residual(a, d, N) * noise_factor(M, P) / M


def bn_stationary_error(alpha: float, M: int, delta2: float, lr_eff: float, N: int) -> float:
    """Stationary eps_gen of a BN student trained by SGD at a fixed effective learning rate
    lr_eff = lr/|w|^2, to leading order: kappa times the ridge solution at lam = alpha nu,
    nu = bn_noise_ridge(...): eps = kappa^2 |v_lam|^2 - 2 kappa (1 - lam G) + 1 (Marchenko-Pastur).
    -> gen_error_bn_limit as lr_eff -> 0.  Time average at epoch ends, training-set statistics.

    Parameters: alpha = P/N (> 1); M batch size (>= 4); delta2 label-noise variance; lr_eff (> 0);
    N input dimension (the noise strength is lr_eff N/M).
    Returns: eps_gen (test noise excluded).  docs/bn_dynamics.md."""
    a, M, d, N, _ = _common(alpha, M, delta2, N)
    return _eps_at(a, d, TS.bn_shrinkage(M), bn_noise_ridge(a, M, d, lr_eff, N))[0]


def bn_stationary_slope(alpha: float, M: int, delta2: float, N: int) -> float:
    """d eps/d lr_eff at lr_eff -> 0: alpha (N rho2/M) [2 kappa (1 - kappa)/(alpha - 1)
    - 2 kappa^2 delta2 alpha/(alpha - 1)^3] (derive_stationary_error).  Valid while
    lam = alpha nu is small against the lower MP edge (1 - sqrt(alpha))^2.

    Parameters: alpha (> 1); M (>= 4); delta2; N.  Returns: the slope."""
    a, M, d, N, P = _common(alpha, M, delta2, N)
    k = TS.bn_shrinkage(M)
    dnu = N * bn_residual(a, d, N) * noise_factor(M, P) / M
    return a * dnu * (2 * k * (1 - k) / (a - 1) - 2 * k * k * d * a / (a - 1) ** 3)


def bn_stationary_next_order(alpha: float, M: int, delta2: float, lr_eff: float, N: int) -> dict[str, float]:
    """Bounds on the two next-order terms that the leading order leaves out (both enhanced by N/M):
    - "fluctuation": the predictor's fluctuation about its mean adds 0 ... |v|^2 nu to eps (0 for
      reshuffled batches as lr -> 0, where the epoch's gradient noise sums to 0; |v|^2 nu for
      independent batches, whose stationary covariance solves C Sigma + Sigma C = lr D/2);
    - "feedback": the fluctuation adds |v|^2 tr(C Sigma) <= |v|^2 nu to rho2, raising nu to at most
      nu/(1 - q), q = lr_eff N f |v|^2/M: eps(nu/(1 - q)) - eps(nu) (<= 0; +inf if q >= 1).
    Their absolute sum is the check's allowance.

    Parameters: as `bn_stationary_error`.  Returns: {"fluctuation", "feedback", "q"}."""
    a, M, d, N, P = _common(alpha, M, delta2, N)
    k = TS.bn_shrinkage(M)
    n0 = bn_noise_ridge(a, M, d, lr_eff, N)
    e0, v2 = _eps_at(a, d, k, n0)
    q = lr_eff * N * noise_factor(M, P) * v2 / M
    fb = _eps_at(a, d, k, n0 / (1 - q))[0] - e0 if q < 1 else -math.inf
    return {"fluctuation": v2 * n0, "feedback": fb, "q": q}


def bn_weight_norm_growth(alpha: float, M: int, delta2: float, lr: float, steps: float, N: int,
                          w0_sq: float = 1.0) -> float:
    """|w|^2 after `steps` SGD steps without weight decay, in the stationary regime:
    |w|^4 = |w_0|^4 + 2 lr^2 G^2 steps, G^2 = bn_grad_norm2 at the BN limit (derive_weight_norm).
    The effective learning rate lr/|w|^2 then falls as 1/(G sqrt(2 steps)) whatever lr is.

    Parameters: alpha (> 1); M (>= 4); delta2; lr (> 0) raw step; steps (>= 0); N; w0_sq |w|^2 at
    steps = 0.  Returns: |w|^2.  docs/bn_dynamics.md."""
    lr = check_float("lr", lr, 0.0, lo_open=True)
    st = check_float("steps", steps, 0.0)
    w0 = check_float("w0_sq", w0_sq, 0.0, lo_open=True)
    return math.sqrt(w0 * w0 + 2 * lr * lr * bn_grad_norm2(alpha, M, delta2, N) * st)


def bn_wd_effective_lr(alpha: float, M: int, delta2: float, lr: float, wd: float, N: int) -> float:
    """Effective learning rate at the weight-decay equilibrium: lr_eff* = lr/|w*|^2 with
    |w*|^4 = lr G^2/(wd (2 - lr wd)), G^2 = bn_grad_norm2 at lr_eff* (solved by fixed-point
    iteration; it starts from the BN limit); ~ sqrt(2 lr wd)/G.

    Parameters: alpha (> 1); M (>= 4); delta2; lr (> 0); wd weight decay on w (0 < lr wd < 2); N.
    Returns: lr_eff*."""
    lr = check_float("lr", lr, 0.0, lo_open=True)
    wd_ = check_float("wd", wd, 0.0, lo_open=True)
    if lr * wd_ >= 2:
        raise ParameterError(f"need lr wd < 2 (got {lr * wd_:g})")
    e = 0.0
    for _ in range(60):
        e_new = lr / math.sqrt(lr * bn_grad_norm2(alpha, M, delta2, N, e) / (wd_ * (2 - lr * wd_)))
        if abs(e_new - e) <= 1e-12 * e_new:
            return e_new
        e = e_new
    return e


def bn_wd_stationary_error(alpha: float, M: int, delta2: float, lr: float, wd: float, N: int) -> float:
    """bn_stationary_error at the weight-decay equilibrium lr_eff* = bn_wd_effective_lr(...).

    Parameters: as `bn_wd_effective_lr`.  Returns: eps_gen."""
    return bn_stationary_error(alpha, M, delta2, bn_wd_effective_lr(alpha, M, delta2, lr, wd, N), N)

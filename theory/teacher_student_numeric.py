"""Teacher-student, numerically: the Marchenko-Pastur law and the students' generalization errors.

The numeric twins of the derivations in teacher_student_derive (setup: theory/teacher_student.py,
the topic's public face): the MP edges, density and Stieltjes transform without cancellation; the
errors of the pseudo-inverse, ridge (= WN + gamma decay), BN at convergence and gradient flow; the
O(1/N) corrections of finite N.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache

import numpy as np
from scipy.optimize import minimize_scalar

from bnreg.params import ParameterError, check_choice, check_finite_array, check_float, check_int

from . import bn_noise as B

__all__ = [
    "LAM_MAX",
    "mp_edges",
    "mp_atom",
    "mp_density",
    "mp_nodes",
    "mp_stieltjes",
    "mp_stieltjes_dlam",
    "gen_error_sgd",
    "gen_error_sgd_exact",
    "gen_error_ridge",
    "ridge_optimal_lam",
    "zeta_to_lam",
    "gen_error_wn",
    "zeta_bn",
    "bn_shrinkage",
    "gen_error_bn_limit",
    "gen_error_gd",
    "spectral_mean_correction",
    "ridge_finite_n_correction",
    "stieltjes_finite_n_correction",
]

LAM_MAX = 1e300  # alpha, lam <= 1e300: the sums alpha + lam + 1 of _mp_hk stay finite


def _alpha(a: float) -> float:
    return check_float("alpha", a, 0.0, lo_open=True)


def _delta2(d: float) -> float:
    return check_float("delta2", d, 0.0)


def _lam(x: float) -> float:
    return check_float("lam", x, 0.0, lo_open=True)


def mp_edges(alpha: float) -> tuple[float, float]:
    """Support [(1 - sqrt(alpha))^2, (1 + sqrt(alpha))^2] of the continuous MP part.

    Parameters: alpha = P/N (> 0).  Returns: (a, b)."""
    a = _alpha(alpha)
    return (1 - math.sqrt(a)) ** 2, (1 + math.sqrt(a)) ** 2


def mp_atom(alpha: float) -> float:
    """Mass max(0, 1 - alpha) of the atom of the MP law at 0.

    Parameters: alpha = P/N (> 0).  Returns: the atom's mass."""
    return max(0.0, 1.0 - _alpha(alpha))


def mp_density(x: np.ndarray | float, alpha: float) -> np.ndarray:
    """Continuous part sqrt((x - a)(b - x))/(2 pi x) on [a, b], 0 elsewhere (atom not included).

    Parameters: x eigenvalue(s) of X^T X/N; alpha = P/N (> 0).
    Returns: the density at x, an array shaped like x.  Marchenko & Pastur 1967."""
    a, b = mp_edges(alpha)
    x = check_finite_array("x", x)
    sa = math.sqrt(alpha)
    # For 1/2 <= x <= 2 (x - 1 exact): x - a = (x - 1) + sqrt(alpha) (2 - sqrt(alpha)) and b - x = (1 - x) +
    # sqrt(alpha) (2 + sqrt(alpha)), no loss when the support is narrow (alpha -> 0); elsewhere x - a, b - x.
    # The square root of each factor: no overflow.
    mid = (x >= 0.5) & (x <= 2.0)
    lo = np.where(mid, (x - 1) + sa * (2 - sa), x - a)
    hi = np.where(mid, (1 - x) + sa * (2 + sa), b - x)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.sqrt(np.clip(lo, 0.0, None)) * np.sqrt(np.clip(hi, 0.0, None)) / (2 * np.pi * x)
    return np.where((x > a) & (x < b) & (x > 0), d, 0.0)


def _mp_hk(a: float, l: float) -> tuple[float, float, float]:
    """(H, K, R) with H = lam G, K = 1 - H and R = sqrt((lam + alpha - 1)^2 + 4 lam) = 2 H + lam + alpha - 1.

    H and K are the roots in (0, 1) of H^2 + (lam + alpha - 1) H - lam = 0 and K^2 - (lam + alpha + 1) K
    + alpha = 0 (the self-consistent equation of G), each taken in the form that adds terms of one sign:
    no cancellation as lam -> 0 (where G ~ (1 - alpha)/lam for alpha < 1 made the textbook form
    [1 - alpha - lam + R]/(2 lam) print 244 for 0.75), and no overflow for alpha, lam <= 1e300."""
    t = (a - 1.0) + l
    r = math.hypot(t, 2.0 * math.sqrt(l))
    k = 2.0 * a / ((l + a + 1.0) + r)
    h = (r - t) / 2.0 if t <= 0 else 2.0 * l / (t + r)
    return h, k, r


def mp_stieltjes(alpha: float, lam: float) -> float:
    """G(alpha, lam) = [1 - alpha - lam + sqrt((lam + (1+sqrt a)^2)(lam + (1-sqrt a)^2))]/(2 lam)
    = lim (1/N) tr (X^T X/N + lam)^-1  (lam > 0).  Evaluated as H/lam with H = lam G from `_mp_hk`
    (no cancellation at any lam; G overflows a double only when lam < (1 - alpha)/1.8e308).

    Parameters: alpha = P/N (> 0); lam > 0.  Returns: G.  docs/teacher_student.md."""
    a, l = _alpha(alpha), _lam(lam)
    t = (a - 1.0) + l
    r = math.hypot(t, 2.0 * math.sqrt(l))
    # H/lam without forming H (which underflows when G ~ 1/alpha is tiny): the two forms of _mp_hk
    return (r - t) / (2.0 * l) if t <= 0 else 2.0 / (t + r)


def mp_stieltjes_dlam(alpha: float, lam: float) -> float:
    """dG/dlam = -(G^2 + G)/(2 lam G + lam + alpha - 1) (implicit differentiation of the
    self-consistent equation lam G^2 + (lam + alpha - 1) G - 1 = 0); the denominator is R > 0 of `_mp_hk`.

    Parameters: alpha = P/N (> 0); lam > 0.  Returns: dG/dlam."""
    a, l = _alpha(alpha), _lam(lam)
    h, _, r = _mp_hk(a, l)
    g = h / l
    return -g * (1.0 + g) / r


def gen_error_sgd(alpha: float, delta2: float = 0.25) -> float:
    """Pseudo-inverse (plain SGD from w = 0) in the limit: 1 - alpha + alpha delta2/(1 - alpha)
    for alpha < 1, delta2/(alpha - 1) for alpha > 1 (the write-up §2.3 prints delta2/(1 - alpha), < 0),
    +inf at alpha = 1 (if delta2 > 0).  Krogh & Hertz 1992; docs/teacher_student.md.

    Parameters: alpha = P/N (> 0); delta2 label-noise variance (>= 0).
    Returns: eps_gen in the thermodynamic limit (test noise excluded)."""
    a, d = _alpha(alpha), _delta2(delta2)
    if a == 1.0:
        return math.inf if d > 0 else 0.0
    if a < 1:
        return 1 - a + a * d / (1 - a)
    return d / (a - 1)


def gen_error_sgd_exact(N: int, P: int, delta2: float = 0.25) -> float:
    """Exact E[|X^+ y - w*|^2] at finite N, P (Gaussian X, E|w*|^2 = 1), from E tr W^-1 = d/(n-d-1)
    for a d x d Wishart W with n degrees of freedom:
    (N - P)/N + delta2 P/(N - P - 1)  (P <= N - 2);   delta2 N/(P - N - 1)  (P >= N + 2).
    Infinite for |P - N| <= 1.

    Parameters: N input dimension; P training samples; delta2 label-noise variance.
    Returns: the expected eps_gen of the pseudo-inverse."""
    N = check_int("N", N, 1)
    P = check_int("P", P, 1)
    d = _delta2(delta2)
    if abs(P - N) <= 1:
        return math.inf if d > 0 else (N - P) / N if P < N else 0.0
    if P < N:
        return (N - P) / N + d * P / (N - P - 1)
    return d * N / (P - N - 1)


def gen_error_ridge(alpha: float, lam: float, delta2: float = 0.25) -> float:
    """Ridge (Krogh-Hertz cost per N): eps = delta2 (G + lam G') - lam^2 G', G = G(alpha, lam).

    Parameters: alpha = P/N (> 0); lam > 0, coefficient of the per-N cost; delta2 label-noise variance.
    Returns: eps_gen of the ridge solution in the thermodynamic limit.  docs/teacher_student.md."""
    a, l, d = _alpha(alpha), _lam(lam), _delta2(delta2)
    # With H = lam G, K = 1 - H, R as in _mp_hk: d(lam G)/dlam = K/R and lam^2 G' = lam K/R - H, so
    # eps = (delta2 K + H (H + lam))/R (H^2 + (lam + alpha - 1) H = lam), a sum of positive terms:
    # exact as lam -> 0 (1 - alpha + alpha delta2/(1 - alpha), resp. delta2/(alpha - 1)) and at any lam.
    h, k, r = _mp_hk(a, l)
    return (d * k + h * (h + l)) / r


def ridge_optimal_lam(delta2: float = 0.25) -> float:
    """lam* = delta2 for every alpha (d eps/d lam vanishes only there; derive_ridge_optimum).

    Parameters: delta2 label-noise variance (> 0).  Returns: lam*."""
    d = check_float("delta2", delta2, 0.0, lo_open=True)
    return d


def zeta_to_lam(alpha: float, zeta: float) -> float:
    """lam = alpha zeta: the per-sample coefficient of (1/P) sum (phi - y)^2 + zeta gamma^2 seen
    in the per-N (Krogh-Hertz) normalization of G.  The write-up (§2.3) plugs zeta into G directly.

    Parameters: alpha = P/N (> 0); zeta > 0.  Returns: lam.  docs/teacher_student.md, "The convention trap"."""
    a, z = _alpha(alpha), check_float("zeta", zeta, 0.0, lo_open=True)
    lam = a * z
    if not 0.0 < lam <= LAM_MAX:
        raise ParameterError(f"alpha * zeta must satisfy 0 < alpha * zeta <= {LAM_MAX:g} (it is the per-N ridge "
                             f"coefficient lam; got alpha={a:g}, zeta={z:g})")
    return lam


def gen_error_wn(alpha: float, zeta: float, delta2: float = 0.25) -> float:
    """WN + gamma decay (at its global minimum = ridge): gen_error_ridge(alpha, alpha zeta, delta2).

    Parameters: alpha = P/N (> 0); zeta > 0, gamma-decay coefficient of the per-sample cost
    (1/P) sum (phi - y)^2 + zeta gamma^2; delta2 label-noise variance.  Returns: eps_gen."""
    return gen_error_ridge(alpha, zeta_to_lam(alpha, zeta), delta2)


def zeta_bn(M: int, mean_noise: bool = True) -> float:
    """Gamma-decay coefficient of a BN unit on Gaussian h with the squared loss (phi - y)^2
    (no 1/2, so A'' = 2 and F_gamma = mu_d2A = 2, rho = 0): zeta = 2/(8M) * 2 + 2/(2M) = 3/(2M) with
    batch-mean noise, 1/(2M) without (docs/gamma_decay.md, special cases).  The write-up (§2.3) uses
    1/(2M) for a student that subtracts mu_B.

    Parameters: M batch size (>= 2); mean_noise False for BN without the mean.  Returns: zeta."""
    M = check_int("M", M, 2)
    return 1.5 / M if mean_noise else 0.5 / M


def bn_shrinkage(M: int = 32) -> float:
    """kappa = E[sigma_B]/sigma_P for Gaussian h (exact: sqrt(2/M) Gamma(M/2)/Gamma((M-1)/2)
    = 1 - 3/(4M) + O(M^-2)): the factor by which a converged BN student shrinks the centred
    least-squares fit when it predicts with running (training-set) statistics.  Why: with z_i the
    batch-standardized value of sample i, mean_i z_i^2 = 1 and mean_i z_i u_i = sigma_B/sigma
    inside every batch, so the expected BN loss gamma^2 - 2 gamma E[z y] + const is minimized
    at gamma = E[sigma_B/sigma] gamma_PN (docs/teacher_student.md; the same identity is proved in
    theory.gamma_decay.derive_squared_exact).  Gamma decay alone (dropping
    the first-order term E[z - u], as Luo et al. 2019 do) would give 1/(1 + 3/(2M)) = 1 - 3/(2M) + ...

    Parameters: M batch size (>= 2).  Returns: kappa."""
    return B.batch_std_mean(check_int("M", M, 2), exact=True)


def gen_error_bn_limit(alpha: float, delta2: float = 0.25, M: int = 32, variant: str = "exact") -> float:
    """BN student trained to convergence (derive_bn_limit): the centred pseudo-inverse shrunk by
    kappa, eps = (1 - alpha) + alpha (1 - kappa)^2 + delta2 alpha kappa^2/(1 - alpha)  (alpha < 1),
    (1 - kappa)^2 + delta2 kappa^2/(alpha - 1)  (alpha > 1); +inf at alpha = 1 (delta2 > 0).
    variant "exact": kappa = E[sigma_B]/sigma (bn_shrinkage); "gamma_decay": kappa = 1/(1 + 3/(2M))
    (PN + gamma decay with zeta_bn, first-order term dropped).  Excludes the part of the initial
    weights outside the span of the data (alpha < 1), which BN never changes.

    Parameters: alpha = P/N (> 0); delta2 label-noise variance; M batch size; variant "exact" or
    "gamma_decay".  Returns: eps_gen of the converged BN student.  docs/teacher_student.md."""
    a, d = _alpha(alpha), _delta2(delta2)
    check_choice("variant", variant, ("exact", "gamma_decay"))
    M = check_int("M", M, 2)
    if variant == "exact":  # 1 - kappa without cancellation at large M
        sh, gap = bn_shrinkage(M), B.gaussian_std_deficit(M)
    else:
        sh = 1.0 / (1.0 + zeta_bn(M))
        gap = 1 - sh
    if a == 1.0:
        return math.inf if d > 0 else gap**2
    if a < 1:
        return 1 - a + a * gap**2 + d * a / (1 - a) * sh * sh
    return gap**2 + d / (a - 1) * sh * sh


@cache
def _gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes mapped to theta in [0, pi] and weights (pi/2) w_i (computed once per n)."""
    x, w = np.polynomial.legendre.leggauss(n)
    return (x + 1) * np.pi / 2, w * np.pi / 2


def mp_nodes(alpha: float, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes s and weights of the MP law (continuous part by Gauss-Legendre in theta,
    s = (a+b)/2 + r cos theta, no edge singularity; plus the atom 1 - alpha at 0 when alpha < 1).
    The weights sum to 1, so sum_k w_k f(s_k) ~ E f(s).

    Parameters: alpha = P/N (> 0); n nodes of the continuous part.  Returns: (s, w)."""
    lo, hi = mp_edges(alpha)
    c, r = (lo + hi) / 2, (hi - lo) / 2
    th, wt = _gauss_legendre(check_int("n", n, 2))
    s = c + r * np.cos(th)
    w = wt * r * r * np.sin(th) ** 2 / (2 * np.pi * s)
    atom = mp_atom(alpha)
    if atom <= 0:
        return s, w
    return np.append(s, 0.0), np.append(w, atom)


def _mp_integral(f: Callable[[np.ndarray], np.ndarray], alpha: float) -> float:
    """int f(s) rho(s) ds over the continuous part, with s = (a+b)/2 + r cos(theta) (no edge
    singularity; Gauss-Legendre in theta)."""
    a, b = mp_edges(alpha)
    c, r = (a + b) / 2, (b - a) / 2
    th, wt = _gauss_legendre(400)
    x = c + r * np.cos(th)
    # rho(x) dx = sqrt((x-a)(b-x))/(2 pi x) * r sin(th) dth = r^2 sin^2(th)/(2 pi x) dth
    return float(np.sum(wt * f(x) * r * r * np.sin(th) ** 2 / (2 * np.pi * x)))


def gen_error_gd(alpha: float, tau: float, delta2: float = 0.25, init_var: float = 0.0) -> float:
    """Gradient flow for a time tau on (1/P) sum (v.x - y)^2 from v0 with E[v0 v0^T] = init_var I/N
    (v0 independent of the teacher): per eigenvalue s of A, f = 1 - exp(-2 s tau/alpha),
    error = (1 - f)^2 (1 + init_var) + delta2 f^2/s; the atom (alpha < 1) keeps 1 + init_var.
    Minibatch SGD with step lr follows it with tau = lr * steps (its noise is O(lr)).

    Parameters: alpha = P/N (> 0); tau >= 0 gradient-flow time; delta2 label-noise variance;
    init_var = N E[v0_i^2] of the initial weights.
    Returns: eps_gen after time tau (thermodynamic limit).  Advani & Saxe 2017 (arXiv:1710.03667);
    docs/teacher_student.md, "Training length"."""
    a, d = _alpha(alpha), _delta2(delta2)
    t = check_float("tau", tau, 0.0)
    c0 = check_float("init_var", init_var, 0.0)

    def f(x):
        with np.errstate(over="ignore"):  # 2 x tau/alpha -> inf means the mode is learned: ff = 1
            ff = -np.expm1(-2 * x * t / a)
        return (1 - ff) ** 2 * (1 + c0) + d * ff * ff / x

    return _mp_integral(f, a) + mp_atom(a) * (1 + c0)


def early_stopping_lam(alpha: float, tau: float, delta2: float = 0.25) -> float:
    """The ridge coefficient (per-N, Krogh-Hertz) whose predictor is closest to gradient flow stopped
    at time tau (from v = 0, the flow of gen_error_gd):
        lam_hat = argmin_lam D(lam),  D(lam) = int rho(s) (f_tau(s) - s/(s + lam))^2 (1 + delta2/s) ds,
    f_tau = 1 - exp(-2 s tau/alpha), rho the continuous Marchenko-Pastur density (the atom: both
    filters 0).  D is E|v_tau - v_lam|^2 in the thermodynamic limit (derive_early_stopping).  To
    first order in s the filters agree at lam = alpha/(2 tau); lam_hat falls below that as tau
    grows, and tends to 0 once the flow has converged in every direction above the spectrum's edge.

    The search runs over lam in [lam0 1e-40, 10 lam0], lam0 = alpha/(2 tau) (lam_hat <= lam0: at
    second order ridge shrinks more); a minimiser at the floor is returned as 0 (the flow has
    converged: the closest ridge is the pseudo-inverse).

    Parameters: alpha = P/N in [1e-6, 1e6]; tau in [1e-6, 1e6]; delta2 label-noise variance (>= 0).
    Returns: lam_hat.  docs/teacher_student.md, "Early stopping as a ridge"."""
    a = check_float("alpha", alpha, 1e-6, 1e6)
    t = check_float("tau", tau, 1e-6, 1e6)
    d = _delta2(delta2)

    def dist(u: float) -> float:
        lam_ = math.exp(u)
        with np.errstate(over="ignore"):
            return _mp_integral(lambda x: (-np.expm1(-2 * x * t / a) - x / (x + lam_)) ** 2 * (1 + d / x), a)

    top = math.log(a / (2 * t))
    lo, hi = top - 40 * math.log(10), top + math.log(10)
    r = minimize_scalar(dist, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10})
    return 0.0 if r.x - lo < 1e-6 * (hi - lo) else float(math.exp(r.x))


def spectral_mean_correction(f: Callable[[np.ndarray], np.ndarray], alpha: float) -> float:
    """O(1) mean of sum_i f(s_i) - N int f dMP for s_i the eigenvalues of A = X^T X/N, real
    Gaussian X: Bai & Silverstein (2004) Thm 1.1 for S = X^T X/P (y = N/P = 1/alpha), A = alpha S:
    EX_f = [f(alpha a_y) + f(alpha b_y)]/4 - (1/2 pi) int_{a_y}^{b_y} f(alpha x)/sqrt(4y - (x-1-y)^2) dx,
    a_y, b_y = (1 -+ sqrt y)^2.  So E[(1/N) sum f] = int f dMP + EX_f/N + o(1/N).

    Parameters: f a vectorized function of the eigenvalue; alpha = P/N (> 0).  Returns: EX_f."""
    a = _alpha(alpha)
    y = 1.0 / a
    ay, by = (1 - math.sqrt(y)) ** 2, (1 + math.sqrt(y)) ** 2
    c, r = 1 + y, 2 * math.sqrt(y)
    # x = c + r cos(th): dx / sqrt(r^2 - (x-c)^2) = dth  -> (1/2pi) int_0^pi f(alpha x(th)) dth
    th, wt = _gauss_legendre(200)
    integral = float(np.sum(wt * f(a * (c + r * np.cos(th))))) / (2 * np.pi)
    return float((f(np.array([a * ay]))[0] + f(np.array([a * by]))[0]) / 4 - integral)


def ridge_finite_n_correction(alpha: float, lam: float, delta2: float, N: int) -> float:
    """O(1/N) term of E[eps_ridge] at finite N: EX_f/N with f(s) = (lam^2 + delta2 s)/(s + lam)^2.

    Parameters: alpha = P/N; lam > 0; delta2 label-noise variance; N input dimension.
    Returns: the O(1/N) correction to gen_error_ridge."""
    a, l, d = _alpha(alpha), _lam(lam), _delta2(delta2)
    N = check_int("N", N, 1)
    return spectral_mean_correction(lambda x: (l * l + d * x) / (x + l) ** 2, a) / N


def stieltjes_finite_n_correction(alpha: float, lam: float, N: int) -> float:
    """O(1/N) term of E[(1/N) tr (A + lam)^-1]: EX_f/N with f(s) = 1/(s + lam).

    Parameters: alpha = P/N; lam > 0; N input dimension.  Returns: the O(1/N) correction to G."""
    a, l = _alpha(alpha), _lam(lam)
    N = check_int("N", N, 1)
    return spectral_mean_correction(lambda x: 1.0 / (x + l), a) / N

"""Gamma decay, numerically: zeta for GLMs, the BN-minus-PN loss to O(M^-2) and the optimal gamma.

The numeric twins of the derivations in gamma_decay_derive (setup: theory/gamma_decay.py, the
topic's public face).  The input law is a `family` (theory.distributions), averaged over by
quadrature; labels enter only through E[y|u] = A'(gamma0 u + beta0).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import sympy as sp
from scipy.special import expit

from bnreg.params import ParameterError, check_choice, check_float, check_int

from . import bn_noise as B
from .bn_noise_numeric import bn_dev_c2
from .distributions import FAMILIES, family_moments, population_mean, standardized_law
from .gamma_decay_derive import CASES, GLMS, g, m5, m6, rho, rms_series

__all__ = [
    "deviation_coeffs", "zeta", "glm_stats", "zeta_special", "bn_mean_shift",
    "bn_loss_excess", "bn_loss_grad", "optimal_gamma_ratio", "glm",
]


def _is_sym(*xs) -> bool:
    return any(isinstance(x, sp.Basic) for x in xs)


def deviation_coeffs(u_, rho_=0.0, g_=0.0, m5_=0.0, m6_=15.0, center: bool = True) -> dict[tuple[int, int], float]:
    """Coefficients c[k, j] of E[D^k | u] = sum_j c[k, j] M^-j (k = 1..4, j = 1, 2), the numeric
    twin of `derive_deviation_moments(2, center)` (tests prove equality).

    Parameters: u_ standardized value of the sample; rho_, g_, m5_, m6_ the excess kurtosis,
    skewness, E[u^5], E[u^6] of h; center False for BN without the mean.
    Returns: {(k, j): c[k, j]} for k = 1..4, j = 1, 2."""
    u2, u3, u4, u5, u6 = u_**2, u_**3, u_**4, u_**5, u_**6
    r2 = rho_**2
    if center:
        return {
            (1, 1): g_ / 2 + 3 * rho_ * u_ / 8 - u3 / 2 + 3 * u_ / 4,
            (1, 2): (15 * g_**2 * u_ / 8 + 15 * g_ * rho_ / 16 - 9 * g_ * u2 / 4 + 37 * g_ / 8 - 3 * m5_ / 8
                     - 5 * m6_ * u_ / 16 + 105 * r2 * u_ / 128 - 15 * rho_ * u3 / 16 + 147 * rho_ * u_ / 32
                     + 3 * u5 / 8 - 19 * u3 / 8 + 191 * u_ / 32),
            (2, 1): g_ * u_ + rho_ * u2 / 4 + u2 / 2 + 1,
            (2, 2): bn_dev_c2(u_, rho_, g_, m5_, m6_),
            (3, 1): 0,
            (3, 2): (3 * g_**2 * u3 / 4 + 21 * g_**2 * u_ / 4 + 9 * g_ * rho_ * u2 / 2 - 3 * g_ * u4 / 2
                     + 27 * g_ * u2 / 2 + 7 * g_ / 2 - 3 * m5_ * u2 / 4 - m6_ * u3 / 8 + 27 * r2 * u3 / 32
                     - 3 * rho_ * u5 / 8 + 15 * rho_ * u3 / 4 + 9 * rho_ * u_ / 8 - 3 * u5 / 4 + 11 * u3 / 4
                     + 21 * u_ / 4),
            (4, 1): 0,
            (4, 2): (3 * g_**2 * u2 + 3 * g_ * rho_ * u3 / 2 + 3 * g_ * u3 + 6 * g_ * u_ + 3 * r2 * u4 / 16
                     + 3 * rho_ * u4 / 4 + 3 * rho_ * u2 / 2 + 3 * u4 / 4 + 3 * u2 + 3),
        }
    return {
        (1, 1): 3 * rho_ * u_ / 8 - u3 / 2 + 5 * u_ / 4,
        (1, 2): (-5 * m6_ * u_ / 16 + 105 * r2 * u_ / 128 - 15 * rho_ * u3 / 16 + 153 * rho_ * u_ / 32
                 + 3 * u5 / 8 - 21 * u3 / 8 + 223 * u_ / 32),
        (2, 1): rho_ * u2 / 4 + u2 / 2,
        (2, 2): (-3 * m6_ * u2 / 8 + 87 * r2 * u2 / 64 - 9 * rho_ * u4 / 8 + 119 * rho_ * u2 / 16 + u6 / 4
                 - 11 * u4 / 4 + 161 * u2 / 16),
        (3, 1): 0,
        (3, 2): -m6_ * u3 / 8 + 27 * r2 * u3 / 32 - 3 * rho_ * u5 / 8 + 33 * rho_ * u3 / 8 - 3 * u5 / 4 + 5 * u3,
        (4, 1): 0,
        (4, 2): 3 * r2 * u4 / 16 + 3 * rho_ * u4 / 4 + 3 * u4 / 4,
    }


def zeta(M: int, rho: float = 0.0, F_gamma: float = 1.0, mu_d2A: float = 1.0,
         skew: float = 0.0, G_gamma: float = 0.0) -> float:
    """zeta = (rho+2)/(8M) F_gamma + mu_d2A/(2M) + skew G_gamma/(2M) (Luo et al. 2019 §2, write-up
    §1.3; the last term, absent from both, matters only for skewed h: G_gamma = mean A''(hbar) u).

    Parameters: M batch size (>= 2); rho excess kurtosis of h; F_gamma = mean A''(hbar) u^2;
    mu_d2A = mean A''(hbar); skew g of h; G_gamma = mean A''(hbar) u.
    Returns: the gamma-decay coefficient zeta, L_BN ~ L_PN + zeta gamma^2.  docs/gamma_decay.md."""
    if not _is_sym(M, rho, F_gamma, mu_d2A, skew, G_gamma):
        M = check_int("M", M, 2)
        rho = check_float("rho", rho, -2.0)
        F_gamma = check_float("F_gamma", F_gamma, 0.0)
        mu_d2A = check_float("mu_d2A", mu_d2A, 0.0)
        skew = check_float("skew", skew)
        G_gamma = check_float("G_gamma", G_gamma)
    return (rho + 2) / (8 * M) * F_gamma + mu_d2A / (2 * M) + skew * G_gamma / (2 * M)


# GLM derivatives A^(k)(eta), k = 0..4.  relu: A''' = delta, A'''' = delta' (handled by
# integration by parts in `_relu_point_terms`).
def _glm_fns(case: str) -> Callable[[float, int], float]:
    def f(eta: float, k: int) -> float:
        if case == "identity":
            return (eta * eta / 2, eta, 1.0, 0.0, 0.0)[k]
        if case in ("squared", "no_bias"):
            return (eta * eta, 2 * eta, 2.0, 0.0, 0.0)[k]
        if case == "poisson":
            return math.exp(eta)
        if case == "logistic":
            s = float(expit(eta))
            return (max(eta, 0.0) + math.log1p(math.exp(-abs(eta))), s, s * (1 - s),
                    s * (1 - s) * (1 - 2 * s), s * (1 - s) * (1 - 6 * s + 6 * s * s))[k]
        p = max(eta, 0.0)  # relu
        return (p * p / 2, p, 1.0 if eta > 0 else 0.0, 0.0, 0.0)[k]
    return f


def glm(case: str) -> Callable[[float, int], float]:
    """A^(k)(eta) for the GLM `case` (k = 0..4); see GLMS for the definitions.

    Parameters: case, one of GLMS.  Returns: a function f(eta, k) -> A^(k)(eta)."""
    return _glm_fns(check_choice("case", case, GLMS))


def _check_common(case, M_, family, gamma_, beta_):
    case = check_choice("case", case, CASES)
    M_ = check_int("M", M_, 2)
    family = check_choice("family", family, FAMILIES)
    gamma_ = check_float("gamma", gamma_, 0.0, lo_open=True)
    beta_ = check_float("beta", beta_)
    if case == "no_bias" and beta_ != 0.0:
        raise ParameterError("beta must be 0 for case=no_bias (no bias, no mean statistics)")
    return case, M_, family, gamma_, beta_


def _breaks(case: str, gamma_: float, beta_: float) -> tuple[float, ...]:
    return (-beta_ / gamma_,) if case == "relu" else ()


def glm_stats(case: str, gamma: float = 1.0, beta: float = 0.0, family: str = "gaussian",
              approx: str = "exact") -> dict[str, float]:
    """F_gamma = E[A''(hbar) u^2], mu_d2A = E[A''(hbar)], G_gamma = E[A''(hbar) u] over the
    standardized law of `family`, hbar = gamma u + beta.  approx='sigmoid' replaces the ReLU's
    Heaviside A'' by sigmoid(hbar), the write-up's approximation (§1.4).

    Parameters: case one of GLMS; gamma, beta the PN scale and shift; family the input law of h
    (theory.distributions.FAMILIES); approx "exact" or "sigmoid" (relu only).
    Returns: {"F_gamma", "mu_d2A", "G_gamma"}.  docs/gamma_decay.md."""
    case, _, family, gamma, beta = _check_common(case, 2, family, gamma, beta)
    approx = check_choice("approx", approx, ("exact", "sigmoid"))
    if approx == "sigmoid" and case != "relu":
        raise ParameterError("approx=sigmoid applies to case=relu only")
    f = _glm_fns(case)
    a = (lambda x: float(expit(gamma * x + beta))) if approx == "sigmoid" else (lambda x: f(gamma * x + beta, 2))
    br = _breaks(case, gamma, beta)
    return {"F_gamma": population_mean(family, lambda x: a(x) * x * x, br),
            "mu_d2A": population_mean(family, a, br),
            "G_gamma": population_mean(family, lambda x: a(x) * x, br)}


def zeta_special(case: str, M: int, gamma: float = 1.0, beta: float = 0.0, family: str = "gaussian",
                 approx: str = "exact", terms: str = "derived") -> float:
    """zeta for a GLM `case` with h of the given input `family` (the special cases of the
    write-up §1.4, corrected in docs/gamma_decay.md):
    identity 3/(4M), squared 3/(2M), no_bias 1/(2M) for Gaussian h; relu (A'' = Heaviside, or
    the write-up's sigmoid approximation), logistic and poisson by quadrature of F_gamma, mu_d2A.
    terms='luo2019' drops the skewness term g G_gamma/(2M), as Luo et al. 2019 do.

    Parameters: case one of CASES; M batch size (>= 2); gamma, beta PN scale and shift; family
    input law of h; approx "exact" or "sigmoid" (relu); terms "derived" or "luo2019".
    Returns: zeta."""
    case, M, family, gamma, beta = _check_common(case, M, family, gamma, beta)
    terms = check_choice("terms", terms, ("derived", "luo2019"))
    fm = family_moments(family)
    st = glm_stats(case, gamma, beta, family, approx)
    skew = fm.skew if terms == "derived" else 0.0
    if case == "no_bias":
        return (fm.rho + 2) / (8 * M) * st["F_gamma"]
    return zeta(M, fm.rho, st["F_gamma"], st["mu_d2A"], skew, st["G_gamma"])


def bn_mean_shift(M: int, u: float = 0.0, rho: float = 0.0, skew: float = 0.0, order: int = 1,
                  m5: float | None = None, m6: float | None = None, center: bool = True) -> float:
    """E[(hhat - hbar)/gamma | u] = (g/2 + 3(rho+2)u/8 - u^3/2)/M + c(u)/M^2 (centred BN); the
    first-order term of the GLM expansion, dropped by Luo et al. 2019 (sample inside its own batch).

    Parameters: M batch size (>= 2); u standardized value of the sample; rho, skew, m5, m6 moments
    of h (m5, m6 enter at order 2); order 1 or 2; center False for BN without the mean.
    Returns: E[D|u].  docs/gamma_decay.md."""
    if not _is_sym(M, u, rho, skew):
        M = check_int("M", M, 2)
        u = check_float("u", u)
        rho = check_float("rho", rho, -2.0)
        skew = check_float("skew", skew)
        order = check_int("order", order, 1, 2)
    c = deviation_coeffs(u, rho, skew, m5 or 0.0, 15.0 if m6 is None else m6, center)
    return c[1, 1] / M + (c[1, 2] / M**2 if order == 2 else 0)


def _moments(family: str) -> tuple[float, float, float, float]:
    fm = family_moments(family)
    return fm.rho, fm.skew, fm.m[5], fm.m[6]


def _excess_integrand(case, M_, gamma_, beta_, gamma0, beta0, family, part, order):
    f = _glm_fns(case)
    rho_, g_, m5_, m6_ = _moments(family)
    center = case != "no_bias"
    w1 = 0.0 if order == "next" else 1.0 / M_
    w2 = 0.0 if order == 1 else 1.0 / M_**2

    def term(x: float) -> float:
        c = deviation_coeffs(x, rho_, g_, m5_, m6_, center)
        eta, eta0 = gamma_ * x + beta_, gamma0 * x + beta0
        d = [0.0] + [c[k, 1] * w1 + c[k, 2] * w2 for k in range(1, 5)]
        first = (f(eta, 1) - f(eta0, 1)) * gamma_ * d[1]
        second = f(eta, 2) * gamma_**2 * d[2] / 2
        if part == "first":
            return first
        if part == "second":
            return second
        rest = f(eta, 3) * gamma_**3 * d[3] / 6 + f(eta, 4) * gamma_**4 * d[4] / 24
        return first + second + rest
    return term


def _relu_point_terms(M_, gamma_, beta_, family) -> float:
    """relu: A''' = delta(eta), A'''' = delta'(eta) contribute, after integrating by parts against
    the input density p(u), p(u*) E3(u*) gamma^2/6 - (p E4)'(u*) gamma^2/24 at the kink u* = -beta/gamma
    (E_k = E[D^k|u], both O(M^-2))."""
    rho_, g_, m5_, m6_ = _moments(family)
    law = standardized_law(family)
    us = -beta_ / gamma_
    if not law.lo < us < law.hi or us in law.kinks:
        raise ParameterError("relu at order 2 needs the kink -beta/gamma inside a smooth part of the input law")
    e3 = lambda x: deviation_coeffs(x, rho_, g_, m5_, m6_)[3, 2] / M_**2
    e4 = lambda x: deviation_coeffs(x, rho_, g_, m5_, m6_)[4, 2] / M_**2
    h = 1e-5
    pe4 = lambda x: law.pdf(x) * e4(x)
    d_pe4 = (pe4(us + h) - pe4(us - h)) / (2 * h)
    return law.pdf(us) * e3(us) * gamma_**2 / 6 - d_pe4 * gamma_**2 / 24


def bn_loss_excess(case: str, M: int, gamma: float = 1.0, beta: float = 0.0, gamma0: float | None = None,
                   beta0: float | None = None, family: str = "gaussian", part: str = "total",
                   order: int | str = 1, variant: str = "derived") -> float:
    """E[l(hhat)] - E[l(hbar)] for a well-specified GLM (E[y|u] = A'(gamma0 u + beta0)), averaged over
    the input law, to O(M^-order) (order='next' returns only the M^-2 part).
      part=first:  E[(A'(hbar) - A'(eta0)) gamma E[D|u]]       (dropped by Luo et al. 2019)
      part=second: E[A''(hbar) gamma^2 E[D^2|u]/2]             (= zeta gamma^2 at order 1)
      part=total:  first + second (+ the A''' and A'''' terms at O(M^-2))
    variant='luo2019': Luo et al.'s zeta gamma^2 (their L_BN - L_PN; first part 0).

    Parameters: case one of CASES; M batch size (>= 2); gamma, beta where the losses are taken;
    gamma0, beta0 the true GLM parameters (default: gamma, beta); family input law of h;
    part "total" | "first" | "second"; order 1, 2 or "next"; variant "derived" or "luo2019".
    Returns: L_BN - L_PN.  docs/gamma_decay.md."""
    case, M, family, gamma, beta = _check_common(case, M, family, gamma, beta)
    gamma0 = gamma if gamma0 is None else check_float("gamma0", gamma0, 0.0, lo_open=True)
    beta0 = beta if beta0 is None else check_float("beta0", beta0)
    part = check_choice("part", part, ("total", "first", "second"))
    if order not in (1, 2, "next"):
        raise ParameterError(f"order must be one of 1, 2, next (got {order!r})")
    variant = check_choice("variant", variant, ("derived", "luo2019"))
    if variant == "luo2019":
        if part == "first":
            return 0.0
        return zeta_special(case, M, gamma, beta, family, terms="luo2019") * gamma**2
    val = population_mean(family, _excess_integrand(case, M, gamma, beta, gamma0, beta0, family, part, order),
                          _breaks(case, gamma, beta))
    if case == "relu" and part == "total" and order != 1:
        val += _relu_point_terms(M, gamma, beta, family)
    return val


def bn_loss_grad(case: str, M: int, gamma0: float = 1.0, beta0: float = 0.0, family: str = "gaussian",
                 order: int | str = 1, variant: str = "derived", part: str = "total") -> float:
    """d/dgamma [L_BN - L_PN] at the PN optimum gamma = gamma0 (beta = beta0 fixed), by a central
    difference of `bn_loss_excess` (smooth in gamma).  This gradient moves the optimal gamma.

    Parameters: as `bn_loss_excess`, at gamma = gamma0, beta = beta0.
    Returns: d(L_BN - L_PN)/dgamma (variant "luo2019": 2 zeta gamma0)."""
    h = 1e-4 * gamma0
    f = lambda gm: bn_loss_excess(case, M, gm, beta0, gamma0, beta0, family, part, order, variant)
    if variant == "luo2019":  # Luo et al.'s zeta frozen at gamma0: d(zeta gamma^2)/dgamma = 2 zeta gamma
        return 2 * zeta_special(case, M, gamma0, beta0, family, terms="luo2019") * gamma0
    return (f(gamma0 + h) - f(gamma0 - h)) / (2 * h)


def _pn_curvature(case: str, gamma0: float, beta0: float, family: str) -> float:
    """d^2 L_PN / dgamma^2 at gamma0 = E[A''(eta0) u^2] = F_gamma."""
    return glm_stats(case, gamma0, beta0, family)["F_gamma"]


def optimal_gamma_ratio(case: str, M: int, gamma0: float = 1.0, beta0: float = 0.0, family: str = "gaussian",
                        variant: str = "derived", order: int = 1) -> float:
    """gamma*_BN / gamma*_PN with beta fixed at beta0 (one Newton step from the PN optimum gamma0):
      derived: 1 - dDeltaL/dgamma(gamma0) / (gamma0 F_gamma)   (first + second order terms)
      zeta:    1 - 2 zeta / F_gamma                             (PN + zeta gamma^2, zeta frozen; Luo et al.)
      exact:   squared/identity: E[sigma_B]/sigma_P (Gaussian: sqrt(2/M) Gamma(M/2)/Gamma((M-1)/2));
               no_bias: E[r], r the batch RMS (Gaussian: sqrt(2/M) Gamma((M+1)/2)/Gamma(M/2));
               non-Gaussian inputs: the O(M^-order) series of these.

    Parameters: case one of CASES (exact: identity, squared, no_bias); M batch size (>= 2);
    gamma0, beta0 the PN optimum; family input law of h; variant "derived" | "zeta" | "exact";
    order 1 or 2.
    Returns: gamma*_BN / gamma*_PN.  docs/gamma_decay.md."""
    case, M, family, gamma0, beta0 = _check_common(case, M, family, gamma0, beta0)
    variant = check_choice("variant", variant, ("derived", "zeta", "exact"))
    order = check_int("order", order, 1, 2)
    if variant == "exact":
        if case not in ("identity", "squared", "no_bias"):
            raise ParameterError("variant=exact exists for case identity|squared|no_bias only")
        rho_, g_, m5_, m6_ = _moments(family)
        if case == "no_bias":
            if family == "gaussian":
                # E[r] = sqrt((M+1)/M) kappa(M+1), in logs accurate at every M
                return math.exp(0.5 * math.log1p(1.0 / M) + B.gaussian_log_kappa(M + 1))
            ser = rms_series(order)
            return float(ser.subs({B.M: M, rho: rho_, g: g_, m5: m5_, m6: m6_}))
        if family == "gaussian":
            return B.batch_std_mean(M, exact=True)
        return B.batch_std_mean(M, rho_, order=order, skew=g_, m6=m6_)
    F = _pn_curvature(case, gamma0, beta0, family)
    if variant == "zeta":
        return 1 - 2 * zeta_special(case, M, gamma0, beta0, family, terms="luo2019") / F
    return 1 - bn_loss_grad(case, M, gamma0, beta0, family, order) / (gamma0 * F)

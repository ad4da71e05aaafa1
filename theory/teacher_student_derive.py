"""Teacher-student, the SymPy derivations: the Marchenko-Pastur law, ridge, SGD, the zeta mapping, BN's limit.

The setup and references are in theory/teacher_student.py (the topic's public face), the numeric
twins in teacher_student_numeric.  Also the `bnreg derive` steps.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import sympy as sp

from . import bn_noise as B

__all__ = [
    "SYMBOLS",
    "derive_mp_stieltjes",
    "derive_mp_density",
    "derive_ridge_error",
    "derive_ridge_optimum",
    "derive_sgd_limits",
    "derive_zeta_mapping",
    "derive_bn_limit",
    "DERIVATION_STEPS",
    "derive_early_stopping",
]

alpha, lam, delta2, zeta, s, tau = sp.symbols("alpha lambda delta2 zeta s tau", positive=True)
Gs = sp.Symbol("G")
SYMBOLS = {"alpha": alpha, "lam": lam, "delta2": delta2, "zeta": zeta, "s": s, "tau": tau, "G": Gs}


# ---------------------------------------------------------------------------- derivations
def _g_closed(a, l):
    """The closed form of G printed in the write-up §2.3, with its typesetting repaired (docs/errata.md)."""
    return (1 - a - l + sp.sqrt((l + (1 + sp.sqrt(a)) ** 2) * (l + (1 - sp.sqrt(a)) ** 2))) / (2 * l)


@cache
def derive_mp_stieltjes() -> dict[str, sp.Expr]:
    """G from its self-consistent equation G = 1/(lam + alpha/(1+G)) (the resolvent of a sum of
    P rank-one terms x x^T/N, each seen through the others): the root with G ~ 1/lam at large lam.
    Returns: {"equation" (= 0), "G" (the chosen root), "G_closed" (the repaired closed form of the
    write-up §2.3), "dG_dlam"}, SymPy expressions in alpha, lambda."""
    eq = sp.expand(sp.numer(sp.together(Gs * (lam + alpha / (1 + Gs)) - 1)))  # = 0
    roots = sp.solve(eq, Gs)
    big = sp.Symbol("L", positive=True)
    root = next(r for r in roots if sp.limit(sp.simplify(r.subs(lam, big) * big), big, sp.oo) == 1)
    dG = sp.diff(root, lam)
    return {"equation": eq, "G": sp.simplify(root), "G_closed": _g_closed(alpha, lam), "dG_dlam": dG}


@cache
def derive_mp_density() -> dict[str, sp.Expr]:
    """rho(s) = -Im G(-s + i0)/pi: on [a, b] the square root is imaginary,
    sqrt((b - s)(s - a)) i, giving rho = sqrt((s - a)(b - s))/(2 pi s); mass of the continuous
    part = min(1, alpha), so an atom 1 - alpha sits at 0 when alpha < 1.

    Returns: {"a", "b" (support edges), "density", "atom", "mean"}, SymPy expressions in alpha, s."""
    a_, b_ = (1 - sp.sqrt(alpha)) ** 2, (1 + sp.sqrt(alpha)) ** 2
    # at lam = -s the product (lam + b)(lam + a) = (b - s)(a - s) = -(s - a)(b - s) < 0 inside [a, b]
    im_sqrt = sp.sqrt((s - a_) * (b_ - s))
    density = im_sqrt / (2 * sp.pi * s)  # -Im[(... + i im_sqrt)/(-2 s)]/pi
    mean_eig = sp.Integer(1) * alpha  # (1/N) tr A = P/N exactly
    return {"a": a_, "b": b_, "density": density, "atom": sp.Max(0, 1 - alpha), "mean": mean_eig}


@cache
def derive_ridge_error() -> dict[str, sp.Expr]:
    """v - w* = -lam (A+lam)^-1 w* + (A+lam)^-1 X^T eps / N, so with E[w* w*^T] = I/N and
    E[eps eps^T] = delta2 I:  eps(lam) = lam^2 (1/N) tr (A+lam)^-2 + delta2 (1/N) tr A (A+lam)^-2
    = -lam^2 G' + delta2 (G + lam G') = delta2 d(lam G)/d lam - lam^2 dG/d lam.

    Returns: {"per_eigenvalue", "eps"}, SymPy expressions in alpha, lambda, delta2, s."""
    G = derive_mp_stieltjes()["G"]
    spectral = lam**2 / (s + lam) ** 2 + delta2 * s / (s + lam) ** 2  # per eigenvalue s of A
    eps_lam = delta2 * sp.diff(lam * G, lam) - lam**2 * sp.diff(G, lam)
    return {"per_eigenvalue": spectral, "eps": eps_lam}


@cache
def derive_ridge_optimum() -> dict[str, sp.Expr]:
    """d eps/d lam = 2 lam (G'... ) reduces to (lam - delta2) * (something of one sign):
    we return d eps/dlam / (lam - delta2), which is free of delta2, so lam* = delta2 for every alpha.

    Returns: {"d_eps_dlam", "ratio"}, SymPy expressions."""
    eps = derive_ridge_error()["eps"]
    d = sp.diff(eps, lam)
    ratio = sp.simplify(d / (lam - delta2))
    return {"d_eps_dlam": d, "ratio": ratio}


@cache
def derive_sgd_limits() -> dict[str, sp.Expr]:
    """Pseudo-inverse = ridge at lam -> 0+, from eps(lam) with the repaired closed form of G.
    sqrt(alpha) = 1/(1 + t) (alpha < 1) or 1 + t (alpha > 1), t > 0, makes the branch of every
    square root explicit for SymPy; the results are then rewritten in alpha.

    Returns: {"alpha<1", "alpha>1"}: 1 - alpha + alpha delta2/(1 - alpha) and delta2/(alpha - 1)."""
    t = sp.Symbol("t", positive=True)
    sa = sp.Symbol("sa", positive=True)
    sq = sp.sqrt(lam + (1 + sa) ** 2) * sp.sqrt(lam + (1 - sa) ** 2)
    G = (1 - sa**2 - lam + sq) / (2 * lam)
    eps = delta2 * sp.diff(lam * G, lam) - lam**2 * sp.diff(G, lam)
    out: dict[str, sp.Expr] = {}
    for name, sa_t, t_of_a in (("alpha<1", 1 / (1 + t), 1 / sp.sqrt(alpha) - 1),
                               ("alpha>1", 1 + t, sp.sqrt(alpha) - 1)):
        lim = sp.limit(eps.subs(sa, sa_t), lam, 0, "+")
        out[name] = sp.simplify(sp.simplify(lim.subs(t, t_of_a)))
    return out


@cache
def derive_zeta_mapping() -> dict[str, sp.Expr]:
    """Per eigen-direction of X^T X with eigenvalue P s_P = N s (s of A = X^T X/N), the per-P cost
    (1/P)|Xv - y|^2 + zeta |v|^2 gives v = b_P/(s_P + zeta) with s_P = s/alpha, b_P = b/alpha; the
    per-N cost gives v = b/(s + lam).  Returns their difference at lam = alpha zeta (0) and the
    solution of equality for lam.

    Returns: {"v_per_P", "v_per_N", "difference_at_lam=alpha*zeta", "lam"}, SymPy expressions."""
    b = sp.Symbol("b", real=True)
    v_p = (b / alpha) / (s / alpha + zeta)
    v_n = b / (s + lam)
    return {"v_per_P": v_p, "v_per_N": v_n,
            "difference_at_lam=alpha*zeta": sp.simplify(v_p - v_n.subs(lam, alpha * zeta)),
            "lam": sp.solve(sp.Eq(v_p, v_n), lam)[0]}


@cache
def derive_bn_limit() -> dict[str, sp.Expr]:
    """BN = PN with training-set statistics + gamma decay zeta gamma^2, and gamma^2 = v^T C v
    (C = training covariance of x).  Per eigen-direction of C with eigenvalue c > 0 the cost
    c (v - v_ls)^2 + zeta c v^2 (+const) is minimized by v = v_ls/(1 + zeta): a uniform shrinkage
    of the least-squares fit, independent of c.  Then with v_ls = Pi w* + n (n the pinv noise):
    eps = (1 - alpha) + alpha (zeta/(1+zeta))^2 + delta2 alpha/((1-alpha)(1+zeta)^2)  (alpha < 1)
        = (zeta/(1+zeta))^2 + delta2/((alpha-1)(1+zeta)^2)                            (alpha > 1).
    With the first-order term kept the shrinkage is kappa = E[sigma_B]/sigma instead of 1/(1 + zeta)
    (the batch identities and kappa are returned too).

    Returns: a dict of SymPy expressions ("v_star", "alpha<1", "alpha>1", the two batch identities
    (each 0), kappa and its 1/M series).  docs/teacher_student.md, "BN at convergence"."""
    c, vls, v = sp.symbols("c v_ls v", real=True)
    cost = c * (v - vls) ** 2 + zeta * c * v**2
    vstar = sp.solve(sp.diff(cost, v), v)[0]
    sh = 1 / (1 + zeta)
    lt1 = (1 - alpha) + alpha * (1 - sh) ** 2 + delta2 * alpha / (1 - alpha) * sh**2
    gt1 = (1 - sh) ** 2 + delta2 / (alpha - 1) * sh**2
    # Exact BN (first-order term kept): within a batch of M, with z the batch-standardized u,
    # mean z^2 = 1 and mean z u = s_B, so the loss is minimized at gamma = E[s_B] gamma_PN: the shrinkage
    # is kappa = E[sigma_B]/sigma (Gaussian: chi mean), not 1/(1 + zeta).  Shown on a batch of 3 symbols.
    us = sp.symbols("u1:4", real=True)
    ub = sum(us) / 3
    sb = sp.sqrt(sum((x - ub) ** 2 for x in us) / 3)
    zs = [(x - ub) / sb for x in us]
    Mi = sp.Symbol("M", positive=True)
    kappa = sp.sqrt(2 / Mi) * sp.gamma(Mi / 2) / sp.gamma((Mi - 1) / 2)
    Bs = B.SYMBOLS
    kappa_series = B.derive_batch_std_series(1)["mean"].subs({Bs["rho"]: 0, Bs["sigma"]: 1, Bs["g"]: 0})
    return {"v_star": vstar, "alpha<1": sp.simplify(lt1), "alpha>1": sp.simplify(gt1),
            "mean z^2 - 1 (batch of 3)": sp.simplify(sum(z**2 for z in zs) / 3 - 1),
            "mean z u - s_B (batch of 3)": sp.simplify(sum(z * x for z, x in zip(zs, us, strict=True)) / 3 - sb),
            "kappa = E[sigma_B]/sigma (Gaussian)": kappa,
            "kappa to O(1/M), Gaussian (general: 1 - (rho+6)/(8M))": kappa_series}


def _steps_mp(latex: bool) -> list[tuple[str, sp.Expr]]:
    d = derive_mp_stieltjes()
    dens = derive_mp_density()
    radicand = (lam + (1 + sp.sqrt(alpha)) ** 2) * (lam + (1 - sp.sqrt(alpha)) ** 2)
    return [("self-consistent equation (= 0)", d["equation"]), ("root with G ~ 1/lam", d["G"]),
            ("closed form (the write-up's, typesetting repaired)", d["G_closed"]),
            ("radicand of the closed form - radicand (lam + alpha - 1)^2 + 4 lam of the root",
             sp.expand(radicand - ((lam + alpha - 1) ** 2 + 4 * lam))),
            ("density on [a, b]", dens["density"]), ("atom at 0", dens["atom"])]


def _steps_ridge(latex: bool) -> list[tuple[str, sp.Expr]]:
    r = derive_ridge_error()
    o = derive_ridge_optimum()
    return [("error per eigenvalue s of A", r["per_eigenvalue"]), ("eps(lam)", sp.simplify(r["eps"])),
            ("d eps/d lam / (lam - delta2) (no delta2 left: optimum at lam = delta2)", o["ratio"])]


@cache
def derive_early_stopping() -> dict[str, sp.Expr]:
    """Gradient flow for a time tau from v = 0 and ridge at lam, per eigenvalue s of A = X^T X/N,
    both act on the least-squares component u of the data (E[N u^2] = 1 + delta2/s): as filters
    f_tau = 1 - exp(-2 s tau/alpha) and f_lam = s/(s + lam).  Their first-order terms in s agree
    for lam = alpha/(2 tau) (the small-eigenvalue mapping); at second order ridge shrinks more.  The
    distance between the two predictors, per eigenvalue, is (f_tau - f_lam)^2 (1 + delta2/s).

    Returns: {"f_tau", "f_lam", "lam_first_order", "second_order_gap" (f_tau - f_lam at that lam,
    order s^2), "distance_per_eigenvalue"}, SymPy expressions."""
    f_tau = 1 - sp.exp(-2 * s * tau / alpha)
    f_lam = s / (s + lam)
    c1 = sp.series(f_tau, s, 0, 2).removeO().coeff(s, 1)
    c1_lam = sp.series(f_lam, s, 0, 2).removeO().coeff(s, 1)
    lam0 = sp.solve(sp.Eq(c1, c1_lam), lam)[0]
    gap = sp.simplify(sp.series(f_tau - f_lam.subs(lam, lam0), s, 0, 3).removeO())
    return {"f_tau": f_tau, "f_lam": f_lam, "lam_first_order": lam0, "second_order_gap": gap,
            "distance_per_eigenvalue": (f_tau - f_lam) ** 2 * (1 + delta2 / s)}


def _steps_sgd(latex: bool) -> list[tuple[str, sp.Expr]]:
    return list(derive_sgd_limits().items())


DERIVATION_STEPS: dict[str, tuple[Callable[[bool], list[tuple[str, sp.Expr]]], str]] = {
    "mp_stieltjes": (_steps_mp, "Marchenko-Pastur G(alpha, lam) from its self-consistent equation; density"),
    "ridge_error": (_steps_ridge, "ridge / WN + gamma decay error eps(lam) and its optimum lam = delta2"),
    "sgd_limits": (_steps_sgd, "pseudo-inverse error as lam -> 0+ for alpha < 1 and alpha > 1"),
    "zeta_mapping": (lambda latex: list(derive_zeta_mapping().items()),
                     "per-P coefficient zeta vs Krogh-Hertz lam: lam = alpha zeta"),
    "bn_limit": (lambda latex: list(derive_bn_limit().items()),
                 "BN at convergence: training-set normalization turns gamma decay into uniform shrinkage"),
    "early_stopping": (lambda latex: list(derive_early_stopping().items()),
                       "early stopping vs ridge: the filters, lam = alpha/(2 tau) to first order in s, the distance"),
}

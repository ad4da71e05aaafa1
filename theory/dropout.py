"""Dropout on the inputs of the teacher-student linear student, derived (docs/dropout.md, part 1).

Setting: the teacher-student model of theory.teacher_student (docs/teacher_student.md): x ~ N(0, I_N),
w*_i ~ N(0, 1/N), y = w*.x + eps, eps ~ N(0, delta2), P = alpha N training pairs (design X, P x N),
A = X^T X / N, and the Krogh-Hertz ridge of the per-N cost (1/N)|Xv - y|^2 + lam |v|^2.

The dropout student predicts phi = w.(m o x)/keep in training, m_j ~ Bernoulli(keep) independent
(inverted dropout on the inputs, Srivastava et al., "Dropout: A Simple Way to Prevent Neural
Networks from Overfitting", JMLR 15, 2014), and phi = w.x at test.  Its squared loss per sample is
(phi - y)^2 (no 1/2), the loss of the other students.

Results (derive_* below; `bnreg derive dropout_...`):
- Expected objective.  E_m[(y - w.(m o x)/keep)^2] = (y - w.x)^2 + c sum_j w_j^2 x_j^2,
  c = (1 - keep)/keep (the mask variance).  Over the training set, the per-P cost
  (1/P)|Xw - y|^2 + c w^T D w, D = diag(X^T X)/P: a ridge with a *data-dependent diagonal*.  Its
  minimizer, exact at every N: v_D = (A + c diag(A))^-1 X^T y/N.
- Mapping.  D -> I as N -> inf (D_jj = chi^2_P/P = 1 + O(P^-1/2)); with the convention trap of
  docs/teacher_student.md (per-P coefficient zeta -> lam = alpha zeta), the dropout student is the
  ridge at lam = dropout_to_lam(alpha, keep) = alpha (1 - keep)/keep.  Not (1 - keep) (dropout's
  drop rate), not (1 - keep)/keep (the per-P coefficient: no alpha).
- Finite N.  With s_j = D_jj (independent of the column directions X~ = X S^-1/2 for Gaussian X),
  A + lam D = S^1/2 (A~ + lam) S^1/2, and averaging over S exactly (E[1/s] = P/(P - 2)) gives
      E eps_D - E eps_ridge(lam) = (2/P) (eps - lam^2 G^2) - D_eps + o(1/N),
  D_eps = delta2 d(z Dg)/dz - z^2 dDg/dz at z = lam, where Dg(z) = E (1/N) tr (A + z)^-1 minus the
  same for the column-normalized design, at O(1/P) (second-order perturbation in S^1/2 - 1:
  `derive_dropout_finite_n`).  Both are O(1/N); the total bias of E eps_D is this plus the
  Bai-Silverstein O(1/N) term of the ridge (theory.teacher_student.ridge_finite_n_correction).
- BN on top (student gamma (h - mu_B)/sigma_B, h = w.(m o x)/keep).  The running statistics are
  learned with dropout on, so the test predictor v = gamma w/sigma_drop is the one the training
  objective sees: BN + dropout at convergence = kappa x (centred) dropout ridge (kappa =
  E[sigma_B]/sigma, theory.teacher_student.bn_shrinkage).  The variance shift (Li, Chen, Hu, Yang,
  "Understanding the Disharmony between Dropout and Batch Normalization by Variance Shift",
  CVPR 2019, arXiv:1801.05134) Delta = Var_test/Var_train = 1/(1 + lam Q/V) < 1 of the BN input is
  here *part of the regularization*: "fixing" it by recomputing the statistics without dropout
  scales the predictor up by sqrt(1 + lam Q/V) and undoes part of the ridge shrinkage
  (`gen_error_dropout_bn_limit`, stats="recomputed").
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from functools import cache

import numpy as np
import sympy as sp

from bnreg.params import check_choice, check_float, check_int

from . import teacher_student as TS

__all__ = [
    "SYMBOLS",
    "derive_dropout_objective",
    "derive_dropout_to_lam",
    "derive_dropout_finite_n",
    "derive_dropout_bn",
    "mask_variance",
    "dropout_to_lam",
    "gen_error_dropout",
    "dropout_diag_correction",
    "dropout_finite_n_correction",
    "dropout_bn_scale",
    "gen_error_dropout_bn_limit",
    "dropout_train_loss",
    "sgd_excess_error",
    "DERIVATION_STEPS",
]

alpha, keep, lam, delta2, P, z = sp.symbols("alpha keep lambda delta2 P z", positive=True)
Gs = sp.Symbol("G")
SYMBOLS = {"alpha": alpha, "keep": keep, "lam": lam, "delta2": delta2, "P": P, "z": z, "G": Gs}


# ---------------------------------------------------------------------------- derivations
@cache
def derive_dropout_objective(n: int = 3) -> dict[str, sp.Expr]:
    """The objective dropout SGD minimizes in expectation.

    Step 1 (exact, small N = n): sum over all 2^n Bernoulli(keep) masks of P(m) (y - w.(m o x)/keep)^2
    minus [(y - w.x)^2 + c sum_j w_j^2 x_j^2], c = (1 - keep)/keep: 0.
    Step 2 (any N): E[m_j/keep] = 1, Var[m_j/keep] = c, masks independent, so the cross terms vanish and
    E_m (y - sum_j w_j x_j m_j/keep)^2 = (y - w.x)^2 + sum_j w_j^2 x_j^2 Var(m_j/keep).
    Step 3: averaged over the P training pairs, (1/P)|Xw - y|^2 + c w^T D w, D = diag(X^T X)/P, whose
    stationarity condition (X^T X/P + c D) w = X^T y/P gives, multiplied by P/N,
    (A + c diag(A)) w = X^T y/N: the exact minimizer v_D.

    Returns: {"mask sum - closed form (N = n)" (0), "per-sample objective", "mask mean", "mask variance",
    "gradient of the per-P cost / 2 (coordinate j)"}."""
    xs = sp.symbols(f"x1:{n + 1}", real=True)
    ws = sp.symbols(f"w1:{n + 1}", real=True)
    y = sp.Symbol("y", real=True)
    c = (1 - keep) / keep
    total = sp.Integer(0)
    for m in itertools.product((0, 1), repeat=n):
        prob = sp.Mul(*[keep if mj else 1 - keep for mj in m])
        total += prob * (y - sum(w * x * mj for w, x, mj in zip(ws, xs, m, strict=True)) / keep) ** 2
    closed = (y - sum(w * x for w, x in zip(ws, xs, strict=True))) ** 2 + c * sum(
        w**2 * x**2 for w, x in zip(ws, xs, strict=True))
    mean = keep * (1 / keep)  # m/keep takes 1/keep with probability keep, else 0
    var = sp.simplify(keep * (1 / keep) ** 2 - mean**2)
    # per-P cost for P = 2 samples, one coordinate (j = 1) of its gradient: shows the diagonal D_11
    xa, xb, ya, yb, w1 = sp.symbols("x_a x_b y_a y_b w_1", real=True)
    cost = sp.Rational(1, 2) * ((w1 * xa - ya) ** 2 + (w1 * xb - yb) ** 2 + c * w1**2 * (xa**2 + xb**2))
    return {"mask sum - closed form (N = n)": sp.simplify(sp.expand(total - closed)),
            "per-sample objective": closed, "mask mean": sp.simplify(mean), "mask variance": var,
            "gradient of the per-P cost / 2 (coordinate j, P = 2)": sp.factor(sp.diff(cost, w1) / 2)}


@cache
def derive_dropout_to_lam() -> dict[str, sp.Expr]:
    """The ridge the converged dropout student is, in the toolkit's (per-N, Krogh-Hertz) normalization.
    D -> I (large N) turns the per-P cost into (1/P)|Xw - y|^2 + zeta |w|^2 with zeta = c = (1-keep)/keep;
    the zeta mapping of docs/teacher_student.md (theory.teacher_student.derive_zeta_mapping) then gives
    lam = alpha zeta.  Equivalently the exact minimizer (A + c diag(A))^-1 X^T y/N with diag(A) -> alpha I.

    Returns: {"zeta (per-P coefficient)", "lam", "lam - (1 - keep) (the drop-rate variant)",
    "lam - zeta (the no-alpha variant)"}."""
    c = (1 - keep) / keep
    zmap = TS.derive_zeta_mapping()["lam"]
    lam_ = sp.simplify(zmap.subs({TS.SYMBOLS["zeta"]: c, TS.SYMBOLS["alpha"]: alpha}))
    return {"zeta (per-P coefficient)": c, "lam": lam_,
            "lam - (1 - keep) (the drop-rate variant)": sp.factor(lam_ - (1 - keep)),
            "lam - zeta (the no-alpha variant)": sp.factor(lam_ - c)}


def _taus(z_: sp.Expr, g: sp.Expr, a: sp.Expr) -> dict[str, sp.Expr]:
    """Normalized traces tau(F) = (1/N) tr F of the resolvent R = (A~ + z)^-1 and A~ in terms of
    g = (1/N) tr R (a function of z); A~ R = 1 - z R, tau(A~) = alpha."""
    g1 = sp.diff(g, z_)
    return {"R": g, "R2": -g1, "AR": 1 - z_ * g, "AR2": g + z_ * g1, "ARA": a - z_ * (1 - z_ * g),
            "A2R2": 1 - 2 * z_ * g - z_**2 * g1}


@cache
def derive_dropout_finite_n() -> dict[str, sp.Expr]:
    """The O(1/N) difference E eps_D - E eps_ridge(lam) between the exact dropout ridge (diagonal
    lam D, D = diag(X^T X)/P) and the scalar ridge at lam, on Gaussian data.

    Write X = X~ S^1/2 with s_j = |X_:j|^2/P ~ chi^2_P/P independent of the column directions X~
    (Gaussian columns).  Then A + lam S = S^1/2 (A~ + lam) S^1/2, A~ = X~^T X~/N (diag(A~) = alpha exactly),
    and y = X~ S^1/2 w* + eps, so after averaging w*, eps exactly:
        eps_D = (lam^2/N) tr(S^-1 R S R) + (delta2/N) tr(S^-1 R A~ R),   R = (A~ + lam)^-1.
    Averaging S (independent of R): E[s_j^-1 s_k] = P/(P-2) (j != k), 1 (j = k), E[s^-1] = P/(P-2):
        E_S eps_D = (P/(P-2)) eps~ - (2/(P-2)) lam^2 (1/N) sum_j R_jj^2           (exact),
    eps~ the ridge error of the column-normalized design.  The Gaussian design's scalar ridge differs
    from eps~ through Dg(z) = E(1/N) tr (S^1/2 A~ S^1/2 + z)^-1 - (1/N) tr (A~ + z)^-1: to second order
    in Delta = S^1/2 - 1 (E Delta_j = m1, E Delta_j^2 = m2, independent across j, E tr(X Delta Y Delta) =
    m2 sum_j X_jj Y_jj -> N m2 tau(X) tau(Y)):
        Dg = -2 m1 tau(A R^2) - m2 alpha tau(R^2)
             + m2 [2 tau(A R^2) tau(A R) + tau(R^2) tau(A R A) + tau(A^2 R^2) tau(R)],
    with m1 = -1/(4P), m2 = 1/(2P) (delta method on sqrt(s), E s = 1, Var s = 2/P).  The ridge error is
    eps = delta2 d(z g)/dz - z^2 dg/dz (derive_ridge_error), so its design difference is
    D_eps = delta2 d(z Dg)/dz - z^2 dDg/dz, and
        E eps_D - E eps_ridge = (2/P) (eps - lam^2 G^2) - D_eps + o(1/N).
    Checked against the exact matrix average at N = 64, 128 (tests/theory/test_dropout.py).

    Returns: {"E[1/s]", "E[sqrt s] to O(1/P)", "m1", "m2", "Dg", "D_eps", "correction"}: SymPy
    expressions in alpha, lambda, delta2, P and G, G', G'' written as G, G1, G2."""
    # moments of s = chi^2_P / P: a Gamma(P/2, scale 2/P) variable
    t = sp.Symbol("t", positive=True)
    dens = t ** (P / 2 - 1) * sp.exp(-t * P / 2) * (P / 2) ** (P / 2) / sp.gamma(P / 2)
    e_inv = sp.simplify(sp.integrate(dens / t, (t, 0, sp.oo), conds="none"))
    # delta method: sqrt(s) = 1 + (s-1)/2 - (s-1)^2/8 + ..., E(s-1) = 0, E(s-1)^2 = 2/P
    e_sqrt = 1 + sp.Rational(1, 2) * 0 - sp.Rational(1, 8) * 2 / P
    m1 = sp.simplify(e_sqrt - 1)
    m2 = sp.simplify(2 * (1 - e_sqrt))  # E(sqrt s - 1)^2 = E s - 2 E sqrt s + 1, exactly
    g = sp.Function("g")(z)
    tau = _taus(z, g, alpha)
    dg = (-2 * m1 * tau["AR2"] - m2 * alpha * tau["R2"]
          + m2 * (2 * tau["AR2"] * tau["AR"] + tau["R2"] * tau["ARA"] + tau["A2R2"] * tau["R"]))
    d_eps = delta2 * sp.diff(z * dg, z) - z**2 * sp.diff(dg, z)
    G0, G1, G2 = sp.symbols("G G1 G2")
    subs = {sp.Derivative(g, (z, 2)): G2, sp.Derivative(g, z): G1}

    def at_lam(e: sp.Expr) -> sp.Expr:
        return sp.expand(e.subs(subs).subs(g, G0).subs(z, lam))

    eps = delta2 * (G0 + lam * G1) - lam**2 * G1
    corr = 2 / P * (eps - lam**2 * G0**2) - at_lam(d_eps)
    return {"E[1/s]": e_inv, "E[sqrt s] to O(1/P)": e_sqrt, "m1": m1, "m2": m2, "Dg": at_lam(dg),
            "D_eps": at_lam(d_eps), "correction": sp.expand(corr)}


@cache
def derive_dropout_bn() -> dict[str, sp.Expr]:
    """BN + input dropout at convergence, large N.  With v the test predictor and
    Q = E|v|^2, V = E v^T A v, C = E v.w* for v the ridge at lam (per eigenvalue s of A: v = (s w*_s +
    noise)/(s + lam)):
        Q = 1 - 2 lam G - lam^2 G' + delta2 (G + lam G'),   C = 1 - lam G,
        V = alpha - 2 lam + 3 lam^2 G + lam^3 G' + delta2 (1 - 2 lam G - lam^2 G'),
    and a predictor rho v has error rho^2 Q - 2 rho C + 1 (E|w*|^2 = 1).  rho = kappa with the running
    (dropout-on) statistics; rho = kappa sqrt(1 + lam Q/V) with statistics recomputed without dropout
    (Var_train/Var_test of the BN input = (V/alpha + c Q)/(V/alpha) = 1 + lam Q/V: the inverse variance
    shift).  The per-eigenvalue identities are checked by partial fractions.

    Returns: a dict of SymPy expressions (Q, C, V, the error of rho v, the scale of the recomputed
    statistics, and the partial-fraction residuals, each 0)."""
    s = TS.SYMBOLS["s"]
    G0, G1 = sp.symbols("G G1")
    rho, kap = sp.symbols("rho kappa", positive=True)
    Q = 1 - 2 * lam * G0 - lam**2 * G1 + delta2 * (G0 + lam * G1)
    C = 1 - lam * G0
    V = alpha - 2 * lam + 3 * lam**2 * G0 + lam**3 * G1 + delta2 * (1 - 2 * lam * G0 - lam**2 * G1)
    # partial fractions: f(s) = poly + a/(s + lam) + b/(s + lam)^2 -> tau = poly mean + a G - b G'
    res = {}
    for name, f, want in (("Q", (s / (s + lam)) ** 2 + delta2 * s / (s + lam) ** 2, Q),
                          ("V", s**3 / (s + lam) ** 2 + delta2 * s**2 / (s + lam) ** 2, V)):
        # rewrite want with G = 1/(s + lam), -G' = 1/(s + lam)^2 and tau(1) = 1, tau(s) = alpha -> s
        as_s = want.subs({G0: 1 / (s + lam), G1: -1 / (s + lam) ** 2}).subs(alpha, s)
        res[f"{name}: per-eigenvalue form - closed form"] = sp.simplify(f - as_s)
    return {"Q = E|v|^2": Q, "C = E v.w*": C, "V = E v^T A v": V,
            "error of rho v": sp.expand(rho**2 * Q - 2 * rho * C + 1),
            "rho (running statistics)": kap, "rho (recomputed without dropout)": kap * sp.sqrt(1 + lam * Q / V),
            **res}


def _steps_objective(latex: bool) -> list[tuple[str, sp.Expr]]:
    return list(derive_dropout_objective().items()) + list(derive_dropout_to_lam().items())


DERIVATION_STEPS: dict[str, tuple[Callable[[bool], list[tuple[str, sp.Expr]]], str]] = {
    "dropout_objective": (_steps_objective,
                          "input dropout on a linear student: expected objective = data-dependent ridge; "
                          "lam = alpha (1 - keep)/keep"),
    "dropout_finite_n": (lambda latex: list(derive_dropout_finite_n().items()),
                         "O(1/N) difference between the exact dropout ridge (diagonal D) and the scalar ridge"),
    "dropout_bn": (lambda latex: list(derive_dropout_bn().items()),
                   "BN + input dropout at convergence: kappa x dropout ridge; recomputed statistics rescale it"),
}


# ---------------------------------------------------------------------------- numerics
def _keep(k: float) -> float:
    return check_float("keep", k, 0.0, 1.0, lo_open=True)


def mask_variance(keep: float) -> float:
    """c = Var(m/keep) = (1 - keep)/keep for an inverted Bernoulli(keep) mask.

    Parameters: keep retain probability in (0, 1].  Returns: c."""
    k = _keep(keep)
    return (1.0 - k) / k


def dropout_to_lam(alpha: float, keep: float) -> float:
    """lam = alpha (1 - keep)/keep: the Krogh-Hertz (per-N) ridge coefficient of a linear student
    trained with inverted input dropout, in the large-N limit (derive_dropout_to_lam).  0 at keep = 1.

    Parameters: alpha = P/N (> 0); keep retain probability in (0, 1].  Returns: lam.  docs/dropout.md."""
    a = check_float("alpha", alpha, 0.0, lo_open=True)
    return a * mask_variance(keep)


def gen_error_dropout(alpha: float, keep: float, delta2: float = 0.25) -> float:
    """eps_gen of the converged dropout student, large N: gen_error_ridge(alpha, dropout_to_lam(alpha,
    keep), delta2); the pseudo-inverse (gen_error_sgd) at keep = 1.

    Parameters: alpha = P/N (> 0); keep in (0, 1]; delta2 label-noise variance.  Returns: eps_gen."""
    lam_ = dropout_to_lam(alpha, keep)
    if lam_ == 0.0:
        return TS.gen_error_sgd(alpha, delta2)
    return TS.gen_error_ridge(alpha, lam_, delta2)


def _stieltjes3(a: float, l: float) -> tuple[float, float, float]:
    """G, G', G'' at (alpha, lam) from G and implicit differentiation of l G^2 + (l + a - 1) G - 1 = 0."""
    g = TS.mp_stieltjes(a, l)
    den = 2 * l * g + l + a - 1
    g1 = -(g * g + g) / den
    # d/dl [l G^2 + (l + a - 1) G - 1] = 0 twice
    g2 = -(4 * g * g1 + 2 * g1 + 2 * l * g1 * g1) / den
    return g, g1, g2


def dropout_diag_correction(alpha: float, keep: float, delta2: float = 0.25, *, N: int) -> float:
    """O(1/N) expected difference eps(exact dropout ridge, diagonal lam D) - eps(scalar ridge at lam) on
    the same Gaussian data, lam = dropout_to_lam(alpha, keep) (derive_dropout_finite_n; P = alpha N):
    (2/P)(eps - lam^2 G^2) - D_eps.  0 at keep = 1.

    Parameters: alpha = P/N; keep in (0, 1]; delta2 label-noise variance; N input dimension.
    Returns: the correction (its sign: > 0 for alpha < 1 mostly, < 0 for alpha > 1)."""
    a = check_float("alpha", alpha, 0.0, lo_open=True)
    d = check_float("delta2", delta2, 0.0)
    n = check_int("N", N, 1)
    l = dropout_to_lam(a, keep)
    if l == 0.0:
        return 0.0
    p = a * n
    g, g1, g2 = _stieltjes3(a, l)
    # tau's and their z-derivatives at z = l (derive_dropout_finite_n)
    tR, dR = g, g1
    tR2, dR2 = -g1, -g2
    tAR, dAR = 1 - l * g, -g - l * g1
    tAR2, dAR2 = g + l * g1, 2 * g1 + l * g2
    tARA, dARA = a - l + l * l * g, -1 + 2 * l * g + l * l * g1
    tA2R2, dA2R2 = 1 - 2 * l * g - l * l * g1, -2 * g - 4 * l * g1 - l * l * g2
    m1, m2 = -1 / (4 * p), 1 / (2 * p)
    dg = (-2 * m1 * tAR2 - m2 * a * tR2 + m2 * (2 * tAR2 * tAR + tR2 * tARA + tA2R2 * tR))
    ddg = (-2 * m1 * dAR2 - m2 * a * dR2 + m2 * (2 * (dAR2 * tAR + tAR2 * dAR) + dR2 * tARA + tR2 * dARA
                                                 + dA2R2 * tR + tA2R2 * dR))
    d_eps = d * (dg + l * ddg) - l * l * ddg
    eps = d * (g + l * g1) - l * l * g1
    return 2 / p * (eps - l * l * g * g) - d_eps


def dropout_finite_n_correction(alpha: float, keep: float, delta2: float = 0.25, *, N: int) -> float:
    """O(1/N) term of E[eps of the exact dropout ridge] - gen_error_dropout: the Bai-Silverstein term of
    the scalar ridge (theory.teacher_student.ridge_finite_n_correction) plus dropout_diag_correction.

    Parameters: alpha = P/N; keep in (0, 1]; delta2; N.  Returns: the O(1/N) correction."""
    l = dropout_to_lam(alpha, keep)
    if l == 0.0:
        return 0.0
    return TS.ridge_finite_n_correction(alpha, l, delta2, N) + dropout_diag_correction(alpha, keep, delta2, N=N)


def dropout_bn_scale(alpha: float, keep: float, delta2: float = 0.25) -> float:
    """sqrt(1 + lam Q/V) = sqrt(Var_train/Var_test) of the BN input of a BN + dropout student at the
    dropout ridge (derive_dropout_bn): the factor by which recomputing the BN statistics without dropout
    (the variance-shift "fix") scales the predictor up.  1 at keep = 1.

    Parameters: alpha = P/N; keep in (0, 1]; delta2.  Returns: the scale (>= 1)."""
    a = check_float("alpha", alpha, 0.0, lo_open=True)
    d = check_float("delta2", delta2, 0.0)
    l = dropout_to_lam(a, keep)
    if l == 0.0:
        return 1.0
    g, g1, _ = _stieltjes3(a, l)
    q = 1 - 2 * l * g - l * l * g1 + d * (g + l * g1)
    v = a - 2 * l + 3 * l * l * g + l**3 * g1 + d * (1 - 2 * l * g - l * l * g1)
    return math.sqrt(1.0 + l * q / v)


def gen_error_dropout_bn_limit(alpha: float, keep: float, delta2: float = 0.25, M: int = 32,
                               stats: str = "running") -> float:
    """BN + input dropout trained to convergence, large N (derive_dropout_bn): the predictor rho v_D,
    v_D the dropout ridge at lam = dropout_to_lam(alpha, keep), error rho^2 Q - 2 rho (1 - lam G) + 1.
    stats "running": rho = kappa = E[sigma_B]/sigma (statistics learned with dropout on, as trained);
    "recomputed": rho = kappa dropout_bn_scale (statistics recomputed on the training set without
    dropout, the variance-shift fix).  keep = 1 gives the BN limit (theory.teacher_student.gen_error_bn_limit).

    Parameters: alpha = P/N; keep in (0, 1]; delta2; M batch size (>= 2); stats "running" | "recomputed".
    Returns: eps_gen.  docs/dropout.md, "BN on top"."""
    a = check_float("alpha", alpha, 0.0, lo_open=True)
    d = check_float("delta2", delta2, 0.0)
    check_choice("stats", stats, ("running", "recomputed"))
    kap = TS.bn_shrinkage(M)
    l = dropout_to_lam(a, keep)
    if l == 0.0:
        return TS.gen_error_bn_limit(a, d, M)
    g, g1, _ = _stieltjes3(a, l)
    q = 1 - 2 * l * g - l * l * g1 + d * (g + l * g1)
    rho = kap * (dropout_bn_scale(a, keep, d) if stats == "recomputed" else 1.0)
    return rho * rho * q - 2 * rho * (1 - l * g) + 1.0


def dropout_train_loss(alpha: float, keep: float, delta2: float = 0.25) -> float:
    """L* = the expected training-mode loss E_{i,m} (v_D.(x_i m)/keep - y_i)^2 at the dropout ridge, large N:
    (1/P) tr[(I + X X^T/(c P))^-1 (X X^T/N + delta2)] = (lam/alpha)(1 + (delta2 - lam) G) + (1 - 1/alpha) delta2
    (eigen-decomposition of X X^T/P; its P - N zero eigenvalues for alpha > 1 give the last term).

    Parameters: alpha = P/N; keep in (0, 1); delta2.  Returns: L*."""
    a = check_float("alpha", alpha, 0.0, lo_open=True)
    d = check_float("delta2", delta2, 0.0)
    l = dropout_to_lam(a, keep)
    if l == 0.0:
        return max(0.0, 1 - 1 / a) * d
    return l / a * (1 + (d - l) * TS.mp_stieltjes(a, l)) + (1 - 1 / a) * d


def sgd_excess_error(alpha: float, keep: float, delta2: float, M: int, N: int,
                     schedule: Sequence[tuple[float, int]]) -> float:
    """Leading-order E|v_T - v_D|^2: the excess of eps_gen that minibatch SGD with input dropout still
    carries at the end of `schedule` (sims.teacher_student's students from w = 0; docs/dropout.md).

    Per eigen-direction of the expected Hessian H = 2(A + lam)/alpha of the per-sample objective
    (eigenvalue h = 2(s + lam)/alpha, s ~ MP(alpha)), the deviation obeys
    var <- (1 - eta h)^2 var + eta^2 sigma^2 with the minibatch gradient noise sigma^2 = 2 L* h/M
    (per-sample gradient 2 r x m/keep, E[r^2 x x^T] ~ L* H/2 to leading order; L* = dropout_train_loss;
    sampling without replacement and reshuffling only lower it).  The mean deviation from w = 0 decays
    as prod (1 - eta h) and is added too.  Returns N times the MP average of var + mean^2.

    Parameters: alpha, keep in (0, 1), delta2 as for gen_error_dropout; M batch size; N input
    dimension; schedule a sequence of (eta, n_steps): n_steps SGD steps of size eta on the batch loss
    (1/M) sum (phi - y)^2.  Returns: the expected excess error (>= 0)."""
    a = check_float("alpha", alpha, 0.0, lo_open=True)
    d = check_float("delta2", delta2, 0.0)
    m = check_int("M", M, 1)
    n = check_int("N", N, 1)
    l = dropout_to_lam(a, keep)
    s, wts = TS.mp_nodes(a)
    h = 2 * (s + l) / a
    sig2 = 2 * dropout_train_loss(a, keep, d) * h / m
    var = np.zeros_like(s)
    # squared mean deviation from w = 0: E (v_D)_s^2 per direction, (s/(s+lam))^2 + delta2 s/(s+lam)^2, over N
    mean2 = (s / (s + l)) ** 2 + d * s / (s + l) ** 2
    for eta, steps in schedule:
        eta = check_float("eta", eta, 0.0)
        k = check_int("n_steps", steps, 0)
        q = (1 - eta * h) ** 2
        if np.any(q >= 1) and eta > 0:
            return math.inf
        qk = q**k
        var = qk * var + eta * eta * sig2 * np.where(q < 1, (1 - qk) / np.maximum(1 - q, 1e-300), k)
        mean2 = qk * mean2
    return float(n * np.sum(wts * var) + np.sum(wts * mean2))

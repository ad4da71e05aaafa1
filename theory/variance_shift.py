"""Dropout before batch normalization: the variance shift, derived.

Li, Chen, Hu, Yang, "Understanding the Disharmony between Dropout and Batch Normalization by
Variance Shift", CVPR 2019 (arXiv:1801.05134).  docs/variance_shift.md explains every formula here.

Conventions (docs/variance_shift.md):
- `keep` = retain probability p of inverted dropout: train y = a x / keep, a ~ Bernoulli(keep);
  test y = x.  Gaussian dropout: y = x (1 + n), n ~ N(0, (1 - keep)/keep).  Uout: y = x (1 + r),
  r ~ U(-beta, beta).  Each is a multiplier m with E[m] = 1 and noise variance
  s2 = Var(m) = (1 - keep)/keep (Bernoulli, Gaussian) or beta^2/3 (Uout).
- Inputs x_1..x_d have mean c, variance v and pairwise correlation corr; BN sees one dropped input
  (case a, d = 1) or z = sum_i w_i y_i (case b); cos2 = cos^2 of the angle between w and (1,...,1).
- The shift ratio is Delta = Var_test / Var_train (Var_train is what BN's running variance learns).

Result (any input law, masks independent of the inputs):
    A = (1 - corr) + corr d cos2                      (so Var_test = |w|^2 v A)
    Var_train = |w|^2 [v A + s2 (v + c^2)]
    Delta = v A / (v A + s2 (v + c^2))
Case a is d = 1, cos2 = 1 (A = 1): Delta = keep v / (v + (1 - keep) c^2) for Bernoulli dropout.
At test time BN divides by sqrt(Var_train), so the normalized unit has variance Delta, not 1.

Through depth (mean-field, `mean_field_shift`): under the assumptions stated there, the ratio of a
BN layer's real inference-mode input variance to its running variance compounds layer by layer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache

import numpy as np
import sympy as sp
from scipy.special import ndtr

from bnreg.params import ParameterError, check_choice, check_float, check_int

__all__ = [
    "NOISES",

    "derive_multiplier_moments",
    "derive_quadratic_form",
    "derive_variance_shift",
    "derive_shift_limits",
    "derive_matched_uout",
    "derive_relu_layer",
    "noise_variance",
    "matched_uout_beta",
    "correlation_factor",
    "shift_variances",
    "variance_shift_ratio",
    "uout_shift_ratio",
    "relu_gaussian_moments",
    "mean_field_shift",
    "DERIVATION_STEPS",
]

NOISES = ("bernoulli", "gaussian", "uout")

keep, beta, v, s2, cos2 = sp.symbols("keep beta v s2 cos2", positive=True)
c, corr = sp.symbols("c corr", real=True)
d = sp.symbols("d", positive=True, integer=True)
q, sig2 = sp.symbols("q sigma_mu2", positive=True)


# ----------------------------------------------------------------------------- derivations
@cache
def derive_multiplier_moments(noise: str) -> dict[str, sp.Expr]:
    """E[m] and E[m^2] of the multiplicative noise m, computed from its law with sympy.stats:
    Bernoulli m = a/keep, a ~ Bernoulli(keep); Gaussian m = 1 + n, n ~ N(0, (1-keep)/keep);
    Uout m = 1 + r, r ~ U(-beta, beta).  Returns {"mean", "second", "noise_var"}."""
    from sympy import stats as st

    noise = check_choice("noise", noise, NOISES)
    if noise == "bernoulli":
        m = st.Bernoulli("a", keep) / keep
    elif noise == "gaussian":
        m = 1 + st.Normal("n", 0, sp.sqrt((1 - keep) / keep))
    else:
        m = 1 + st.Uniform("r", -beta, beta)
    mean = sp.simplify(st.E(m))
    second = sp.simplify(st.E(m**2))
    return {"mean": mean, "second": second, "noise_var": sp.simplify(second - mean**2)}


@cache
def derive_quadratic_form(n: int = 4) -> dict[str, sp.Expr]:
    """The identity behind case b, proved for n symbolic weights: for a covariance with equal
    diagonal D and equal off-diagonal O,  sum_ij w_i w_j C_ij = S2 (D - O) + S1^2 O  with
    S2 = sum w_i^2, S1 = sum w_i.  Returns the difference of both sides (0) and the form."""
    w = sp.symbols(f"w1:{n + 1}", real=True)
    D, O = sp.symbols("D O", real=True)
    lhs = sum(w[i] * w[j] * (D if i == j else O) for i in range(n) for j in range(n))
    S1, S2 = sum(w), sum(x**2 for x in w)
    rhs = S2 * (D - O) + S1**2 * O
    return {"difference": sp.expand(lhs - rhs), "form": rhs}


@cache
def derive_variance_shift(noise: str = "bernoulli") -> dict[str, sp.Expr]:
    """Var_train, Var_test and Delta for case b (case a: d = 1, cos2 = 1), per unit |w|^2.

    y_i = m_i x_i with independent multipliers: Cov(y_i, y_i) = E[m^2](v + c^2) - c^2 and, for
    i != j, Cov(y_i, y_j) = E[m]^2 (corr v + c^2) - c^2.  With S1^2 = d cos2 S2 the quadratic form
    gives Var(sum w_i y_i)/S2 = (D - O) + d cos2 O.  Test: the same with m = 1."""
    mm = derive_multiplier_moments(noise)
    D_tr = mm["second"] * (v + c**2) - c**2
    O_tr = mm["mean"] ** 2 * (corr * v + c**2) - c**2
    D_te, O_te = v, corr * v
    train = sp.expand((D_tr - O_tr) + d * cos2 * O_tr)
    test = sp.expand((D_te - O_te) + d * cos2 * O_te)
    ratio = sp.simplify(test / train)
    A = (1 - corr) + corr * d * cos2
    closed = v * A / (v * A + mm["noise_var"] * (v + c**2))
    case_a = sp.simplify(ratio.subs({d: 1, cos2: 1}))
    return {"var_train": train, "var_test": test, "ratio": ratio, "closed_form": closed,
            "closed_minus_ratio": sp.simplify(closed - ratio), "case_a": case_a}


@cache
def derive_shift_limits() -> dict[str, sp.Expr]:
    """Limits and monotonicity of Delta = v A/(v A + s2 (v + c^2)), A = 1 - corr + corr d cos2."""
    A = (1 - corr) + corr * d * cos2
    D = v * A / (v * A + s2 * (v + c**2))
    return {
        "Delta": D,
        "corr -> 0 (no dependence on d or cos2)": sp.simplify(D.subs(corr, 0)),
        "d -> oo (corr > 0)": sp.limit(D.subs(corr, sp.Rational(1, 4)), d, sp.oo),
        "s2 -> 0 (keep -> 1, beta -> 0)": sp.simplify(sp.limit(D, s2, 0)),
        "dDelta/dd": sp.factor(sp.diff(D, d)),  # = corr cos2 v s2 (v + c^2)/(...)^2 > 0 for corr > 0
        "dDelta/dc^2": sp.factor(sp.diff(D.subs(c, sp.sqrt(sp.Symbol("c2", positive=True))),
                                         sp.Symbol("c2", positive=True))),
        "1 - Delta (zero only when s2 = 0)": sp.factor(sp.simplify(1 - D)),
    }


@cache
def derive_matched_uout() -> dict[str, sp.Expr]:
    """Uout and Bernoulli dropout enter Delta only through their noise variance, so Uout with
    beta^2/3 = (1 - keep)/keep shifts exactly as much as Bernoulli dropout (difference 0)."""
    bern = derive_variance_shift("bernoulli")["ratio"]
    uout = derive_variance_shift("uout")["ratio"]
    b = sp.sqrt(3 * (1 - keep) / keep)
    return {"beta_matched": b, "difference": sp.simplify(uout.subs(beta, b) - bern)}


@cache
def derive_relu_layer() -> dict[str, sp.Expr]:
    """One ReLU layer of the mean-field recursion (docs/variance_shift.md), closed form when the
    previous BN output has zero mean at test time: train-mode BN output z ~ N(0, 1), test-mode
    z ~ N(0, q).  ReLU moments: E[relu(z)] = sqrt(q/(2 pi)), E[relu(z)^2] = q/2.  The next layer
    (corr = 0) then has running variance |w|^2 [v_R + s2/2], v_R = 1/2 - 1/(2 pi), and real test
    variance |w|^2 q v_R, so q' = q v_R/(v_R + s2/2); the mean shifts by sqrt(d cos2)(sqrt(q) - 1)
    /sqrt(2 pi) in units of the running std."""
    z = sp.Symbol("z", real=True)
    dens = sp.exp(-z**2 / (2 * q)) / sp.sqrt(2 * sp.pi * q)
    m1 = sp.simplify(sp.integrate(z * dens, (z, 0, sp.oo)))
    m2 = sp.simplify(sp.integrate(z**2 * dens, (z, 0, sp.oo)))
    vR = sp.Rational(1, 2) - 1 / (2 * sp.pi)
    train_second = m2.subs(q, 1)
    train_var = m2.subs(q, 1) - m1.subs(q, 1) ** 2
    running = train_var + s2 * train_second
    real = m2 - m1**2
    return {"E relu(z)": m1, "E relu(z)^2": m2, "train variance v_R": sp.simplify(train_var - vR) + vR,
            "q_next": sp.simplify(real / running),
            "mean shift / running std (per sqrt(d cos2))": sp.simplify((m1 - m1.subs(q, 1)) / sp.sqrt(running))}


# ------------------------------------------------------------------------------- numerics
def noise_variance(noise: str = "bernoulli", keep: float | None = None, beta: float | None = None) -> float:
    """s2 = Var(m) of the multiplicative noise: (1 - keep)/keep (bernoulli, gaussian), beta^2/3 (uout).

    Parameters: noise; keep in (0, 1] (bernoulli, gaussian); beta >= 0 (uout).  Returns s2 >= 0
    (inf only if beta^2/3 or 1/keep overflow a double)."""
    noise = check_choice("noise", noise, NOISES)
    if noise == "uout":
        if beta is None:
            raise ParameterError("noise=uout needs beta (beta >= 0)")
        b = check_float("beta", beta, 0.0)
        with np.errstate(over="ignore"):
            return float(np.float64(b) * np.float64(b) / 3.0)
    if keep is None:
        raise ParameterError(f"noise={noise} needs keep (0 < keep <= 1)")
    k = check_float("keep", keep, 0.0, 1.0, lo_open=True)
    with np.errstate(over="ignore"):
        return float((1.0 - np.float64(k)) / np.float64(k))


def matched_uout_beta(keep: float) -> float:
    """The Uout width with the noise variance of Bernoulli dropout at `keep`:
    beta = sqrt(3 (1 - keep)/keep).  Same Delta (derive_matched_uout)."""
    return math.sqrt(3.0 * noise_variance("bernoulli", keep=keep))


def correlation_factor(d: int = 1, corr: float = 0.0, cos2: float = 1.0) -> float:
    """A = (1 - corr) + corr d cos2 = Var_test / (|w|^2 v).  Validates d >= 1, the equicorrelation
    matrix being positive semi-definite (-1/(d-1) <= corr <= 1; |corr| <= 1 for d = 1) and
    0 < cos2 <= 1 (cos2 = 1 when d = 1)."""
    d = check_int("d", d, 1)
    lo = -1.0 if d == 1 else -1.0 / (d - 1)
    corr = check_float("corr", corr, -1.0, 1.0)
    if corr < lo:
        raise ParameterError(f"corr must satisfy {lo:g} <= corr <= 1 for d = {d} (an equicorrelation matrix of "
                             f"size d is positive semi-definite only there; got {corr:g})")
    cos2 = check_float("cos2", cos2, 0.0, 1.0, lo_open=True)
    if d == 1 and cos2 != 1.0:
        raise ParameterError(f"cos2 must be 1 when d = 1 (a single weight is parallel to (1); got {cos2:g})")
    return max((1.0 - corr) + corr * d * cos2, 0.0)


def _ratio(s2_: float, c_: float, v_: float, A: float) -> float:
    """Delta = v A/(v A + s2 (v + c^2)) = 1/(1 + s2 (1 + (c/sqrt v)^2)/A), without overflow to NaN."""
    if s2_ == 0.0:
        return 1.0
    if A == 0.0:
        return 0.0  # Var_test = 0 (perfectly anti-correlated inputs on the PSD boundary)
    with np.errstate(over="ignore"):
        k = np.float64(c_) / np.sqrt(np.float64(v_))
        x = np.float64(s2_) * (1.0 + k * k) / np.float64(A)
        return float(1.0 / (1.0 + x))


def _check_cv(c_: float, v_: float) -> tuple[float, float]:
    return check_float("c", c_), check_float("v", v_, 0.0, lo_open=True)


def shift_variances(s2_: float, c: float, v: float, d: int = 1, corr: float = 0.0,
                    cos2: float = 1.0) -> tuple[float, float]:
    """(Var_test, Var_train) per |w|^2 for noise variance s2: (v A, v A + s2 (v + c^2))."""
    c, v = _check_cv(c, v)
    A = correlation_factor(d, corr, cos2)
    s2_ = check_float("s2", s2_, 0.0)
    return v * A, v * A + s2_ * (v + c * c)


def variance_shift_ratio(keep: float, c: float, v: float, d: int = 1, corr: float = 0.0, cos2: float = 1.0,
                         noise: str = "bernoulli") -> float:
    """Delta = Var_test/Var_train = v A/(v A + (1 - keep)/keep (v + c^2)), A = 1 - corr + corr d cos2,
    for inverted Bernoulli or Gaussian dropout (same second moment, same Delta) before BN.

    Parameters: keep in (0, 1]; c the inputs' mean; v > 0 their variance; d >= 1 inputs summed
    (case a: d = 1); corr their pairwise correlation (PSD for d); cos2 in (0, 1] for the weights;
    noise bernoulli | gaussian.  Returns Delta in [0, 1].  Reference: Li et al. 2019
    (arXiv:1801.05134) §3; docs/variance_shift.md."""
    noise = check_choice("noise", noise, ("bernoulli", "gaussian"))
    c, v = _check_cv(c, v)
    s2_ = noise_variance(noise, keep=keep)
    return _ratio(s2_, c, v, correlation_factor(d, corr, cos2))


def uout_shift_ratio(beta: float, c: float, v: float, d: int = 1, corr: float = 0.0, cos2: float = 1.0) -> float:
    """Delta for Uout, y = x (1 + r), r ~ U(-beta, beta): v A/(v A + beta^2/3 (v + c^2)).

    Parameters as `variance_shift_ratio` with beta >= 0 in place of keep.  Returns Delta in [0, 1].
    Reference: Li et al. 2019 (arXiv:1801.05134) §5; docs/variance_shift.md."""
    c, v = _check_cv(c, v)
    s2_ = noise_variance("uout", beta=beta)
    return _ratio(s2_, c, v, correlation_factor(d, corr, cos2))


def relu_gaussian_moments(mu: float | np.ndarray, var: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(E[relu(z)], E[relu(z)^2]) for z ~ N(mu, var):  mu Phi(t) + s phi(t)  and
    (mu^2 + var) Phi(t) + mu s phi(t), with s = sqrt(var), t = mu/s."""
    mu = np.asarray(mu, dtype=float)
    s = np.sqrt(np.asarray(var, dtype=float))
    t = mu / s
    phi = np.exp(-0.5 * t * t) / math.sqrt(2 * math.pi)
    Phi = ndtr(t)
    return mu * Phi + s * phi, (mu * mu + s * s) * Phi + mu * s * phi


_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(80)
_GH_W = _GH_W / _GH_W.sum()


def mean_field_shift(depth: int, keep: float | None = None, c: float = 0.0, v: float = 1.0,
                     noise: str = "bernoulli", beta: float | None = None) -> dict[str, np.ndarray]:
    """Per-layer variance shift of a deep stack [dropout -> linear -> BN -> ReLU] x depth at
    inference, in the mean-field approximation (docs/variance_shift.md):

    Assumptions: (MF1) every BN input is Gaussian over the data (wide layers); (MF2) the weights are
    random, independent of the activations, so the inputs of a unit are uncorrelated (corr = 0)
    and each unit's weight sum S1 is N(0, |w|^2): cos2 enters only through the mean shift;
    (MF3) BN has gamma = 1, beta = 0 and its running statistics equal the train-mode population
    statistics; (MF4) in train mode every BN output is N(0, 1).

    Layer 1 sees data with mean c, variance v: q_1 = Delta(case a), mean shift 0.  For l >= 1,
    with the layer-l BN output at test N(mu, q_l), mu ~ N(0, m_l) across units, and train-mode
    moments of relu(N(0,1)) c_R = 1/sqrt(2 pi), e_R = 1/2:
        T = (e_R - c_R^2) + s2 e_R                         (running variance per |w|^2)
        q_{l+1} = E_mu[Var relu(N(mu, q_l))] / T
        m_{l+1} = E_mu[(E relu(N(mu, q_l)) - c_R)^2] / T   (mean square of the mean shift)
    E_mu by 80-point Gauss-Hermite quadrature.

    Returns {"layer": 1..depth, "var_ratio": q_l (real inference variance / running variance of
    the BN input), "mean_shift2": m_l (squared running-std units)}."""
    depth = check_int("depth", depth, 1, 10_000)
    c, v = _check_cv(c, v)
    s2_ = noise_variance(noise, keep=keep, beta=beta)
    ratio = np.empty(depth)
    shift2 = np.empty(depth)
    ratio[0], shift2[0] = _ratio(s2_, c, v, 1.0), 0.0
    cR, eR = 1.0 / math.sqrt(2 * math.pi), 0.5
    T = (eR - cR * cR) + s2_ * eR
    for layer in range(1, depth):
        mu = math.sqrt(shift2[layer - 1]) * _GH_X
        m1, m2 = relu_gaussian_moments(mu, np.full_like(mu, ratio[layer - 1]))
        ratio[layer] = float(_GH_W @ (m2 - m1 * m1)) / T
        shift2[layer] = float(_GH_W @ (m1 - cR) ** 2) / T
    return {"layer": np.arange(1, depth + 1), "var_ratio": ratio, "mean_shift2": shift2}


# ---------------------------------------------------------------- `bnreg derive` steps
def _steps_shift(latex: bool) -> list[tuple[str, sp.Expr]]:
    out = []
    for n in NOISES:
        mm = derive_multiplier_moments(n)
        out.append((f"{n}: E[m], E[m^2], noise variance s2", sp.Matrix([mm["mean"], mm["second"], mm["noise_var"]])))
    out.append(("quadratic form: sum_ij w_i w_j C_ij - [S2 (D - O) + S1^2 O] (4 weights)",
                derive_quadratic_form(4)["difference"]))
    b = derive_variance_shift("bernoulli")
    out += [("Bernoulli: Var_train / |w|^2 (S1^2 = d cos2 |w|^2)", b["var_train"]),
            ("Var_test / |w|^2", b["var_test"]), ("Delta = Var_test/Var_train", b["ratio"]),
            ("Delta - v A/(v A + s2 (v + c^2))", b["closed_minus_ratio"]),
            ("case a (d = 1, cos2 = 1)", b["case_a"]),
            ("Uout: Delta", derive_variance_shift("uout")["ratio"])]
    return out


def _steps_limits(latex: bool) -> list[tuple[str, sp.Expr]]:
    lim = derive_shift_limits()
    mu = derive_matched_uout()
    return [*lim.items(), ("Uout beta matched to keep", mu["beta_matched"]),
            ("Delta(Uout, matched beta) - Delta(Bernoulli)", mu["difference"])]


DERIVATION_STEPS: dict[str, tuple[Callable[[bool], list[tuple[str, sp.Expr]]], str]] = {
    "variance_shift": (_steps_shift, "dropout before BN: Var_train, Var_test, Delta for Bernoulli, Gaussian, Uout"),
    "variance_shift_limits": (_steps_limits, "limits of Delta (corr, d, keep), monotonicity, matched Uout"),
    "variance_shift_relu": (lambda latex: list(derive_relu_layer().items()),
                            "the shift through BN and a ReLU to the next layer (mean-field step)"),
}

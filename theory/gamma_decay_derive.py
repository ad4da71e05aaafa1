"""Gamma decay, the SymPy derivations: E[D^k | u], the GLM Taylor expansion, zeta and its special cases.

The setup and references are in theory/gamma_decay.py (the topic's public face), the numeric twins
in gamma_decay_numeric.  Also the GLMs of the topic (GLMS), the batch-RMS series and the `bnreg
derive` steps.
"""

from __future__ import annotations

from functools import cache
from math import comb

import sympy as sp

from bnreg.params import check_choice, check_int

from . import bn_noise as B
from .bn_noise_derive import series_in_inv_M, taylor
from .sample_moments import expect_power_sums, moment_symbols

__all__ = [
    "GLMS", "CASES",
    "derive_deviation_moments", "derive_glm_taylor", "derive_zeta", "derive_zeta_special",
    "derive_squared_exact", "derive_first_order_mean", "derive_pn_wn", "rms_series", "DERIVATION_STEPS",
]

M, u, g, rho, gamma = B.M, B.u, B.g, B.rho, B.gamma
m5, m6 = B.m5, B.m6
beta, y = sp.symbols("beta y", real=True)
F_gamma, mu_d2A, G_gamma = sp.symbols("F_gamma mu_d2A G_gamma", real=True)
A = sp.Function("A")
_S1, _S2 = sp.symbols("S1 S2")

# GLMs: A(eta) and the centring of BN.  "squared" is the loss (hhat - y)^2 (A = eta^2, the
# natural parameter's coefficient is 2y); "no_bias" is the squared loss with BN that only divides
# by the batch RMS (no mean, write-up §1.4); "relu" is the softplus GLM in its t -> inf limit:
# mean function A' = ReLU, A = max(eta, 0)^2/2, A'' = Heaviside (write-up §1.4).
GLMS = ("identity", "squared", "no_bias", "logistic", "poisson", "relu")
CASES = GLMS


# --------------------------------------------------------------------------- derivations
@cache
def derive_deviation_moments(order: int = 2, center: bool = True) -> dict[int, sp.Expr]:
    """E[D^k | u], k = 1..2*order, to O(M^-order); D = (u - m)/s - u (center) or u/r - u with
    r^2 = mean of squares (no centring).  The other M - 1 members have power sums S1, S2:
      m = (u + S1)/M,  s^2 = (u^2 + S2)/M - m^2 = 1 + e,
      D^k = sum_j C(k, j) (u - m)^j (1 + e)^(-j/2) (-u)^(k-j),
    Taylor in e to degree 2*order (E[e^i] = O(M^-ceil(i/2))), exact expectations, series in 1/M.

    Parameters: order 1..3 (highest power of 1/M kept); center False for BN without the mean.
    Returns: {k: E[D^k | u]} for k = 1..2*order, SymPy expressions in u, M, g, rho, m5, m6, ..."""
    order = check_int("order", order, 1, 3)
    tdeg, kmax = 2 * order, 2 * order
    mom = moment_symbols(2 * tdeg + kmax + 2)
    mb = (u + _S1) / M if center else sp.Integer(0)
    e = sp.expand((u**2 + _S2) / M - mb**2 - 1)
    d = u - mb
    epow = [sp.Integer(1)]
    for _ in range(tdeg):
        epow.append(sp.expand(epow[-1] * e))
    ed = {}
    for j in range(1, kmax + 1):
        co = taylor(lambda x, j=j: (1 + x) ** sp.Rational(-j, 2), tdeg)
        dj = sp.expand(d**j)
        ed[j] = sum(co[i] * expect_power_sums(sp.expand(dj * epow[i]), _S1, _S2, M - 1, mom)
                    for i in range(tdeg + 1))
    out = {}
    for k in range(1, kmax + 1):
        tot = (-u) ** k + sum(comb(k, j) * (-u) ** (k - j) * ed[j] for j in range(1, k + 1))
        out[k] = series_in_inv_M(tot, order)
    return out


def derive_glm_taylor(kmax: int = 4) -> sp.Expr:
    """l(hbar + gamma D) - l(hbar) for l(eta) = A(eta) - y eta, Taylor to D^kmax:
    (A'(hbar) - y) gamma D + sum_{k>=2} A^(k)(hbar) gamma^k D^k / k!.

    Parameters: kmax, the highest power of D kept.  Returns: the SymPy expression (A undefined)."""
    hb, D = sp.symbols("hbar D", real=True)
    loss = lambda eta: A(eta) - y * eta
    t = sp.Symbol("t")
    ser = sp.series(loss(hb + t), t, 0, kmax + 1).removeO()
    return sp.expand(ser.subs(t, gamma * D) - loss(hb)).doit()


@cache
def derive_zeta(center: bool = True) -> dict[str, sp.Expr]:
    """Average the second-order term over the data: with a(u) = A''(hbar(u)),
    E_u[a(u) gamma^2 E[D^2|u]/2] = zeta gamma^2 + O(M^-2),
      zeta = (rho+2)/(8M) F_gamma + mu_d2A/(2M) + g G_gamma/(2M)    (centred BN)
      zeta = (rho+2)/(8M) F_gamma                                    (no centring, mean-zero h)
    F_gamma = E[a u^2], mu_d2A = E[a], G_gamma = E[a u]: the leading coefficient of E[D^2|u] is a
    polynomial in u, so its average against a(u) is a combination of these three moments.

    Parameters: center, False for BN without the mean (only sigma_B noise).
    Returns: {"per_sample", "zeta", "luo2019" (Luo et al. 2019 §2 / write-up §1.3: no skewness
    term), "missing_in_seed" (derived minus luo2019)}, SymPy expressions."""
    lead = sp.expand(derive_deviation_moments(1, center)[2] * M)
    poly = sp.Poly(lead, u)
    repl = {0: mu_d2A, 1: G_gamma, 2: F_gamma}
    if poly.degree() > 2:  # pragma: no cover - the derivation gives degree 2
        raise AssertionError("unexpected degree")
    z = sum(c * repl[k[0]] for k, c in poly.terms()) / (2 * M)
    seed = (rho + 2) / (8 * M) * F_gamma + (mu_d2A / (2 * M) if center else 0)
    return {"per_sample": lead / (2 * M), "zeta": sp.expand(z), "luo2019": seed,
            "missing_in_seed": sp.simplify(sp.expand(z - seed))}


@cache
def derive_first_order_mean() -> dict[str, sp.Expr]:
    """E[D|u] to O(1/M) and its average over u, which is exactly 0 for centred BN because the
    normalized batch has mean 0 (and, at this order, (g/2 - E[u^3]/2) = 0).

    Returns: {"E[D|u]", "E_u E[D|u] (x M)"}, SymPy expressions."""
    d1 = derive_deviation_moments(1, True)[1]
    lead = sp.expand(d1 * M)
    mom = moment_symbols(4)
    avg = sum(c * mom[k[0]] for k, c in sp.Poly(lead, u).terms())
    return {"E[D|u]": d1, "E_u E[D|u] (x M)": sp.simplify(avg)}


def _gauss_int(f: sp.Expr) -> sp.Expr:
    return sp.simplify(sp.integrate(f * sp.exp(-u**2 / 2) / sp.sqrt(2 * sp.pi), (u, -sp.oo, sp.oo)))


@cache
def derive_zeta_special(case: str) -> dict[str, sp.Expr]:
    """Special cases for Gaussian u (g = 0, rho = 0), hbar = gamma u + beta:
      identity  A = eta^2/2:  A'' = 1  -> F = 1, mu = 1       -> zeta = 3/(4M)
      squared   A = eta^2:    A'' = 2  -> F = 2, mu = 2       -> zeta = 3/(2M) (the simple example)
      no_bias   squared loss, BN without mean (only sigma_B)  -> zeta = 1/(2M)
      relu      A'' = H(hbar): F = E[H u^2], mu = P(hbar > 0); beta = 0 -> F = mu = 1/2 -> 3/(8M)
      poisson   A = exp(eta): mu = exp(beta + gamma^2/2), F = (1 + gamma^2) mu
      logistic  A = log(1 + e^eta): A'' = sigma(eta)(1 - sigma(eta)); F, mu are Gaussian integrals
                without closed form (numeric in `zeta_special`).

    Parameters: case, one of CASES.
    Returns: {"A''", "F_gamma", "mu_d2A", "G_gamma", "zeta"}, SymPy expressions in gamma, beta, M
    (the write-up §1.4 special cases, corrected; docs/gamma_decay.md)."""
    check_choice("case", case, CASES)
    z = derive_zeta(case != "no_bias")["zeta"].subs({g: 0, rho: 0})
    eta = gamma * u + beta
    if case in ("identity", "squared", "no_bias"):
        a = sp.Integer(1) if case == "identity" else sp.Integer(2)
        F, mu_, G = _gauss_int(a * u**2), _gauss_int(a), _gauss_int(a * u)
    elif case == "relu":
        half = lambda f: sp.integrate(f * sp.exp(-u**2 / 2) / sp.sqrt(2 * sp.pi), (u, 0, sp.oo))
        F, mu_, G = half(u**2), half(sp.Integer(1)), half(u)  # beta = 0
    elif case == "poisson":
        a = sp.exp(eta)
        F, mu_, G = _gauss_int(a * u**2), _gauss_int(a), _gauss_int(a * u)
    else:
        s = 1 / (1 + sp.exp(-eta))
        a = s * (1 - s)
        F, mu_, G = (sp.Integral(f * sp.exp(-u**2 / 2) / sp.sqrt(2 * sp.pi), (u, -sp.oo, sp.oo))
                     for f in (a * u**2, a, a * u))
    val = z.subs({F_gamma: F, mu_d2A: mu_, G_gamma: G})
    return {"A''": sp.Integer(1) if case == "identity" else a if case in ("poisson", "logistic") else
            (sp.Heaviside(eta) if case == "relu" else sp.Integer(2)),
            "F_gamma": sp.simplify(F), "mu_d2A": sp.simplify(mu_), "G_gamma": sp.simplify(G),
            "zeta": sp.simplify(val) if case != "logistic" else val}


def derive_squared_exact(M_value: int = 4) -> dict[str, sp.Expr]:
    """Squared loss, exactly.  In every batch mean_i xhat_i^2 = 1, mean_i xhat_i = 0 and
    mean_i u_i xhat_i = s (s the batch std of u) - proved here on a batch of `M_value` symbols -
    so over batches E[xhat^2] = 1 = E[u^2]: the BN objective has the same gamma^2 coefficient as PN
    and zeta gamma^2 is cancelled exactly by the gamma^2 part of the first-order term:
      L_BN(gamma, beta) - L_PN(gamma, beta) = -2 gamma E[y (xhat - u)].
    For y = a u + b + noise: E[y xhat] = a E[s], so gamma*_BN / gamma*_PN = E[sigma_B]/sigma_P
    = 1 - (rho+6)/(8M) + ..., whereas PN + zeta gamma^2 (zeta = (rho+6)/(4M)) gives 1/(1 + zeta)
    = 1 - (rho+6)/(4M): twice the shrinkage.  Without centring (r = RMS of the batch) the same
    identities give gamma*_BN/gamma*_PN = E[r] = 1 - (rho+2)/(8M) vs 1/(1 + (rho+2)/(4M)).

    Parameters: M_value, the size of the symbolic batch.
    Returns: the five batch identities (each 0) and the four ratio series, as a dict of SymPy
    expressions.  docs/gamma_decay.md, "The first-order term is not negligible"."""
    a = sp.symbols(f"a0:{M_value}", real=True)
    mean = sum(a) / M_value
    s = sp.sqrt(sum((ai - mean) ** 2 for ai in a) / M_value)
    xh = [(ai - mean) / s for ai in a]
    r = sp.sqrt(sum(ai**2 for ai in a) / M_value)
    ident = {
        "mean xhat^2 - 1": sp.simplify(sum(x**2 for x in xh) / M_value - 1),
        "mean xhat": sp.simplify(sum(xh) / M_value),
        "mean u xhat - s": sp.simplify(sum(ai * x for ai, x in zip(a, xh, strict=True)) / M_value - s),
        "no centring: mean (u/r)^2 - 1": sp.simplify(sum((ai / r) ** 2 for ai in a) / M_value - 1),
        "no centring: mean u (u/r) - r": sp.simplify(sum(ai * ai / r for ai in a) / M_value - r),
    }
    std = B.derive_batch_std_series(2)["mean"].subs(B.sigma, 1)
    rms = rms_series(2)
    return {**ident, "ratio_exact_series": std, "ratio_zeta_series": series_in_inv_M(
        1 / (1 + (rho + 6) / (4 * M)), 2), "ratio_exact_no_bias_series": rms,
        "ratio_zeta_no_bias_series": series_in_inv_M(1 / (1 + (rho + 2) / (4 * M)), 2)}


@cache
def rms_series(order: int) -> sp.Expr:
    """E[r], r^2 = S2/M the batch mean of squares of M standardized draws, to O(M^-order)."""
    mom = moment_symbols(4 * order + 2)
    e = _S2 / M - 1
    co = taylor(lambda x: sp.sqrt(1 + x), 2 * order)
    tot = sum(c * expect_power_sums(sp.expand(e**k), _S1, _S2, M, mom) for k, c in enumerate(co))
    return series_in_inv_M(tot, order)


# ------------------------------------------------------------------ `bnreg derive` steps
def _steps_zeta(latex: bool) -> list[tuple[str, sp.Expr]]:
    d = derive_deviation_moments(1, True)
    z = derive_zeta(True)
    return [
        ("loss l = A(eta) - y eta; l(hbar + gamma D) - l(hbar), Taylor to D^4", derive_glm_taylor(4)),
        ("E[D|u] to O(1/M) (sample inside its batch): the first-order term Luo et al. drop", d[1]),
        ("E[D^2|u] to O(1/M)", d[2]),
        ("E[A''(hbar)/2 gamma^2 E[D^2|u]] = gamma^2 x  (per-sample coefficient, a = A''(hbar))",
         z["per_sample"]),
        ("zeta: average over the data (F_gamma = E[a u^2], mu_d2A = E[a], G_gamma = E[a u])", z["zeta"]),
        ("zeta as Luo et al. write it", z["luo2019"]),
        ("derived - Luo et al.", z["missing_in_seed"]),
        ("no centring (no bias): zeta", derive_zeta(False)["zeta"]),
        ("average of E[D|u] over u, times M (exactly 0: the normalized batch has mean 0)",
         derive_first_order_mean()["E_u E[D|u] (x M)"]),
    ]


def _steps_special(latex: bool) -> list[tuple[str, sp.Expr]]:
    out = []
    for c in CASES:
        d = derive_zeta_special(c)
        out.append((f"{c}: A'' = {d[chr(65) + chr(39) * 2]}, F_gamma, mu_d2A, zeta (Gaussian h)",
                    sp.Tuple(d["F_gamma"], d["mu_d2A"], d["zeta"])))
    return out


def _steps_squared(latex: bool) -> list[tuple[str, sp.Expr]]:
    d = derive_squared_exact(4)
    return [(k, v) for k, v in d.items()]


DERIVATION_STEPS: dict = {
    "zeta": (_steps_zeta, "gamma decay zeta(h) for a GLM loss, and the first-order term"),
    "zeta_special": (_steps_special, "zeta for identity, squared, no-bias, ReLU, logistic, Poisson GLMs"),
    "squared_exact": (_steps_squared, "squared loss exactly: zeta is cancelled, gamma* shrinks by E[sigma_B]"),
}


def derive_pn_wn(N: int = 3) -> dict[str, sp.Expr]:
    """PN vs WN (write-up §1.5; docs/gamma_decay.md).  Inputs with mean m and covariance Sigma give
    mu_P = w·m, sigma_P^2 = w' Sigma w.  For Sigma = a I (any law, Gaussian not needed):
      gamma (w·x - mu_P)/sigma_P + beta = v w·x/||w|| + b,  v = gamma/sqrt(a),  b = beta - gamma w·m/(sqrt(a) ||w||)
    (the write-up writes v = gamma/a, which holds if a is the standard deviation, not the variance;
    and b depends on w unless m = 0).  Proved for N symbolic weights; the 'anisotropic' entry
    shows the ratio sigma_P/(sqrt(a)||w||) for Sigma = diag(a_1..a_N), which is 1 only when all a_i = a.

    Parameters: N, the number of symbolic weights.
    Returns: {"PN - WN (Sigma = a I)" (0), "v", "b", "anisotropic ..."}, SymPy expressions."""
    w = sp.symbols(f"w0:{N}", real=True)
    x = sp.symbols(f"x0:{N}", real=True)
    m = sp.symbols(f"m0:{N}", real=True)
    a = sp.Symbol("a", positive=True)
    gm, bt = sp.symbols("gamma beta", positive=True)
    norm = sp.sqrt(sum(wi**2 for wi in w))
    wx, wm = sum(wi * xi for wi, xi in zip(w, x, strict=True)), sum(wi * mi for wi, mi in zip(w, m, strict=True))
    pn = gm * (wx - wm) / sp.sqrt(a * norm**2) + bt
    v, b = gm / sp.sqrt(a), bt - gm * wm / (sp.sqrt(a) * norm)
    wn = v * wx / norm + b
    ai = sp.symbols(f"a1:{N + 1}", positive=True)
    return {"PN - WN (Sigma = a I)": sp.simplify(pn - wn), "v": v, "b": b,
            "anisotropic sigma_P/(sqrt(a) ||w||)": sp.sqrt(sum(aj * wi**2 for aj, wi in zip(ai, w, strict=True)))
            / (sp.sqrt(a) * norm)}


DERIVATION_STEPS["pn_wn"] = (lambda latex: list(derive_pn_wn(3).items()),
                             "when population normalization equals weight normalization")

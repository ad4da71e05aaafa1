"""Gamma-decay checks (docs/gamma_decay.md), aggregated by sims/catalog.py.  The claims tested are
the gamma decay of Luo, Wang, Shao, Peng, "Towards Understanding Regularization in Batch
Normalization", ICLR 2019 (arXiv:1809.00846) §2 (sections 1.3-1.4 of the authors' Chinese write-up).

Every point is one GLM `case`, input `family` and batch size M.  The GLM is well specified with
true parameters (gamma0, beta0) from SETUPS; beta stays at beta0.  One simulation per point
(`simulate_glm_bn` at gamma0 and at GAMMA_OFF * gamma0) serves all checks; only `zeta_special`'s
ReLU points at beta = 0 (its closed form 3/(8M)) run the same simulation at (1, 0).  Allowances follow
docs/verification.md: 2 x |derived M^-2 term| for O(1/M) formulas, 0 for exact ones.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from bnreg.runtime import MCResult
from bnreg.testing.judge import N_CHUNKS, Check, Params
from bnreg.theory import gamma_decay as G
from bnreg.theory.distributions import family_moments

from .gamma_decay import GAMMA_OFF, SETUPS, simulate_glm_bn, simulate_optimal_gamma

__all__ = ["CHECKS", "M_GRID"]

CHECKS: list[Check] = []
_add = CHECKS.append

M_GRID = (4, 8, 16, 32, 64, 128, 256)
KURT_FAMILIES = ("uniform", "laplace", "exponential")
MIN_M = 8  # M = 4 is shown, not judged: the 1/M series is not yet asymptotic there


def _points(scale: str) -> list[Params]:
    pts = [dict(case=c, family="gaussian", M=M) for c in G.CASES for M in M_GRID]
    pts += [dict(case=c, family=f, M=M) for c in ("squared", "logistic") for f in KURT_FAMILIES for M in (16, 64, 256)]
    return pts


def _setup(p: Params) -> tuple[float, float]:
    return SETUPS[p["case"]]


@lru_cache(maxsize=256)
def _sim(case: str, family: str, M: int, samples: int, seed: int):
    g0, b0 = SETUPS[case]
    n_batches = max(samples // M, 4 * N_CHUNKS)
    return simulate_glm_bn(case, M, [g0, GAMMA_OFF * g0], g0, b0, family, n_batches, seed, n_chunks=N_CHUNKS)


def _mc(stat: str, k: int) -> Callable[[Params, int, int], MCResult]:
    def sim(p: Params, samples: int, seed: int) -> MCResult:
        return getattr(_sim(p["case"], p["family"], p["M"], samples, seed), stat)(k)
    return sim


def _excess(part: str, off: bool, order: int | str = 1) -> Callable[[Params], float]:
    def f(p: Params) -> float:
        g0, b0 = _setup(p)
        gm = GAMMA_OFF * g0 if off else g0
        return G.bn_loss_excess(p["case"], p["M"], gm, b0, g0, b0, p["family"], part, order)
    return f


def _allow(part: str, off: bool) -> Callable[[Params], float]:
    nxt = _excess(part, off, "next")
    return lambda p: 2.0 * abs(nxt(p))


def _allow_total(off: bool) -> Callable[[Params], float]:
    """2 x (|M^-2 term of the first-order part| + |... second-order part| + |... A^(3), A^(4) part|):
    the parts' M^-2 terms can cancel in the total (logistic, Laplace input, M = 16: -0.0023 + 0.0075
    + ... = 0.0001), and then |total next term| is no bound on the remainder."""
    first, second, total = (_excess(q, off, "next") for q in ("first", "second", "total"))

    def f(p: Params) -> float:
        a, b = first(p), second(p)
        return 2.0 * (abs(a) + abs(b) + abs(total(p) - a - b))
    return f


def _zeta_g2(off: bool, **kw) -> Callable[[Params], float]:
    """zeta gamma^2 with zeta from `zeta_special` (kw: terms='luo2019' etc.)."""
    def f(p: Params) -> float:
        g0, b0 = _setup(p)
        gm = GAMMA_OFF * g0 if off else g0
        return G.zeta_special(p["case"], p["M"], gm, b0, p["family"], **kw) * gm**2
    return f


def _no_mean_term(off: bool) -> Callable[[Params], float]:
    def f(p: Params) -> float:
        g0, b0 = _setup(p)
        gm = GAMMA_OFF * g0 if off else g0
        st = G.glm_stats(p["case"], gm, b0, p["family"])
        return (family_moments(p["family"]).rho + 2) / (8 * p["M"]) * st["F_gamma"] * gm**2
    return f


def _kurtosis_ignored(off: bool) -> Callable[[Params], float]:
    def f(p: Params) -> float:
        g0, b0 = _setup(p)
        gm = GAMMA_OFF * g0 if off else g0
        st = G.glm_stats(p["case"], gm, b0, p["family"])
        if p["case"] == "no_bias":
            return 2 / (8 * p["M"]) * st["F_gamma"] * gm**2
        return G.zeta(p["M"], 0.0, st["F_gamma"], st["mu_d2A"]) * gm**2
    return f


_NEXT = "2 x |derived M^-2 term| (E[D^k|u], k <= 4, to O(M^-2); ReLU kink terms by parts)"
_NEXT_PARTS = ("2 x sum over Taylor parts (first-order, second-order, A^(3)/A^(4)) of |derived M^-2 term| "
               "(the parts can cancel in the total)")

_add(Check(
    "zeta.second_order", "zeta",
    "E[A''(hbar)(hhat-hbar)^2/2] = zeta gamma^2 + O(M^-2), zeta = (rho+2)/(8M) F_gamma + mu_d2A/(2M) "
    "+ g G_gamma/(2M) (at gamma = 1.5 gamma0)",
    _points, _mc("second", 1), _excess("second", True),
    {"Luo et al.'s zeta (no skewness term)": _zeta_g2(True, terms="luo2019"),
     "mu_B term missing: (rho+2)/(8M) F_gamma": _no_mean_term(True),
     "kurtosis ignored (rho = 0)": _kurtosis_ignored(True)},
    allowance=_allow("second", True), allowance_doc=_NEXT, min_M=MIN_M,
    shown={"order 2": _excess("second", True, 2)}))

# ------------------------------------------------------------------ special cases (zeta_special)
# Gaussian h, every GLM at its PN optimum gamma0 (k = 0 of the shared simulation: the points of `_points` with
# these parameters reuse its cache), plus ReLU at beta = 0, the case of the closed form 3/(8M).
SPECIAL_M = (32, 256)
RELU0 = (1.0, 0.0)  # (gamma0, beta0) of the ReLU beta = 0 points


def _special_points(scale: str) -> list[Params]:
    pts = [dict(case=c, family="gaussian", M=M) for c in G.CASES for M in SPECIAL_M]
    return pts + [dict(case="relu", family="gaussian", M=M, beta=RELU0[1]) for M in SPECIAL_M]


def _special_setup(p: Params) -> tuple[float, float]:
    return RELU0 if "beta" in p else _setup(p)


@lru_cache(maxsize=16)
def _sim_relu0(M: int, samples: int, seed: int):
    return simulate_glm_bn("relu", M, [RELU0[0]], *RELU0, "gaussian", max(samples // M, 4 * N_CHUNKS), seed,
                           n_chunks=N_CHUNKS)


def _special_mc(p: Params, samples: int, seed: int) -> MCResult:
    if "beta" in p:
        return _sim_relu0(p["M"], samples, seed).second(0)
    return _sim(p["case"], p["family"], p["M"], samples, seed).second(0)


def _special(variant: str = "") -> Callable[[Params], float]:
    """zeta_special gamma0^2 at the point's (gamma0, beta0); variant: a wrong form for the cases it concerns."""
    def f(p: Params) -> float:
        g0, b0 = _special_setup(p)
        case, M = p["case"], p["M"]
        if variant == "swapped":  # centred cases without the mu_B term, no_bias with it
            st = G.glm_stats(case, g0, b0, p["family"])
            kurt = (family_moments(p["family"]).rho + 2) / (8 * M) * st["F_gamma"]
            return (kurt + st["mu_d2A"] / (2 * M) if case == "no_bias" else kurt) * g0**2
        if variant == "unit_curvature" and case not in ("identity", "no_bias"):
            return 3 / (4 * M) * g0**2
        approx = "sigmoid" if variant == "sigmoid" and case == "relu" else "exact"
        return G.zeta_special(case, M, g0, b0, p["family"], approx=approx) * g0**2
    return f


def _special_allow(p: Params) -> float:
    g0, b0 = _special_setup(p)
    return 2.0 * abs(G.bn_loss_excess(p["case"], p["M"], g0, b0, g0, b0, p["family"], "second", "next"))


_add(Check(
    "zeta_special", "zeta_special",
    "E[A''(hbar)(hhat-hbar)^2/2] = zeta gamma0^2 + O(M^-2) at the PN optimum, Gaussian h: identity 3/(4M), "
    "squared 3/(2M), no_bias 1/(2M), relu (beta = 0) 3/(8M), relu (beta = 0.5), logistic, poisson by quadrature",
    _special_points, _special_mc, _special(),
    {"mean and no-mean coefficients swapped (the write-up's 1/(2M) for the centred squared loss)":
     _special("swapped"),
     "A'' = 1 for every GLM: 3/(4M)": _special("unit_curvature"),
     "the write-up's ReLU: A'' ~ sigmoid(hbar)": _special("sigmoid")},
    allowance=_special_allow, allowance_doc=_NEXT, min_M=MIN_M,
    shown={"order 2": lambda p: G.bn_loss_excess(p["case"], p["M"], *_special_setup(p), *_special_setup(p),
                                                 p["family"], "second", 2)}))

_add(Check(
    "zeta.first_order", "bn_mean_shift",
    "E[(A'(hbar) - y)(hhat - hbar)] = gamma E[(A'(hbar) - A'(eta0)) E[D|u]], E[D|u] = (g/2 + 3(rho+2)u/8 - u^3/2)/M "
    "(at gamma = 1.5 gamma0; Luo et al. drop this term)",
    _points, _mc("first", 1), _excess("first", True),
    {"dropped (Luo et al.): 0": lambda p: 0.0},
    allowance=_allow("first", True), allowance_doc=_NEXT, min_M=MIN_M,
    shown={"order 2": _excess("first", True, 2)}))

_add(Check(
    "zeta.bn_loss.at_optimum", "zeta",
    "L_BN - L_PN = zeta gamma0^2 + O(M^-2) at the PN optimum (gamma0, beta0), where A'(hbar) = E[y|u] "
    "kills the first-order term: Luo et al.'s gamma decay holds here",
    _points, _mc("dl", 0), _excess("total", False),
    {"Luo et al.'s zeta (no skewness term)": _zeta_g2(False, terms="luo2019"),
     "mu_B term missing": _no_mean_term(False)},
    allowance=_allow_total(False), allowance_doc=_NEXT_PARTS, min_M=MIN_M,
    shown={"order 2": _excess("total", False, 2), "Luo et al. zeta gamma^2": _zeta_g2(False, terms="luo2019")}))

_add(Check(
    "zeta.bn_loss.off_optimum", "bn_loss_excess",
    "L_BN - L_PN = first-order term + zeta gamma^2 + O(M^-2) at gamma = 1.5 gamma0; "
    "PN + zeta gamma^2 alone (Luo et al.) misses the first-order term",
    _points, _mc("dl", 1), _excess("total", True),
    {"Luo et al.: zeta gamma^2 only": _zeta_g2(True, terms="luo2019")},
    allowance=_allow_total(True), allowance_doc=_NEXT_PARTS, min_M=MIN_M,
    shown={"order 2": _excess("total", True, 2), "Luo et al. zeta gamma^2": _zeta_g2(True, terms="luo2019")}))


def _grad(order: int | str, variant: str = "derived", part: str = "total") -> Callable[[Params], float]:
    def f(p: Params) -> float:
        g0, b0 = _setup(p)
        return G.bn_loss_grad(p["case"], p["M"], g0, b0, p["family"], order, variant, part)
    return f


def _allow_grad(p: Params) -> float:
    a, b, t = (_grad("next", part=q)(p) for q in ("first", "second", "total"))
    return 2.0 * (abs(a) + abs(b) + abs(t - a - b))


_add(Check(
    "zeta.gradient", "bn_loss_excess",
    "d(L_BN - L_PN)/dgamma at gamma0 = d/dgamma [first-order + second-order terms] + O(M^-2): "
    "what moves the optimal gamma",
    _points, _mc("grad_excess", 0), _grad(1),
    {"Luo et al.: d(zeta gamma^2)/dgamma = 2 zeta gamma0": _grad(1, "luo2019")},
    allowance=_allow_grad, allowance_doc=_NEXT_PARTS, min_M=MIN_M,
    shown={"order 2": _grad(2)}))


@lru_cache(maxsize=128)
def _opt(case: str, family: str, M: int, samples: int, seed: int) -> MCResult:
    g0, b0 = SETUPS[case]
    return simulate_optimal_gamma(case, M, g0, b0, family, max(samples // M, 4 * N_CHUNKS), seed,
                                  n_chunks=N_CHUNKS)


def _ratio(variant: str) -> Callable[[Params], float]:
    def f(p: Params) -> float:
        g0, b0 = _setup(p)
        return G.optimal_gamma_ratio(p["case"], p["M"], g0, b0, p["family"], variant)
    return f


_add(Check(
    "zeta.shrinkage.exact", "optimal_gamma_ratio",
    "squared/identity loss: gamma*_BN/gamma*_PN = E[sigma_B]/sigma_P exactly (no bias: E[batch RMS]); "
    "PN + zeta gamma^2 predicts 1/(1 + 2 zeta/F_gamma), twice the shrinkage",
    lambda scale: [dict(case=c, family="gaussian", M=M) for c in ("identity", "squared", "no_bias") for M in M_GRID],
    lambda p, samples, seed: _opt(p["case"], p["family"], p["M"], samples, seed), _ratio("exact"),
    {"PN + zeta gamma^2 (Luo et al.)": _ratio("zeta")},
    shown={"derived O(1/M)": _ratio("derived")}))

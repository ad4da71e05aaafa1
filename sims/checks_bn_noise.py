"""BN-noise checks (batch statistics as noise; docs/bn_noise.md): the simple example, the moments
of the batch mean and std, the sample-batch correlations and the mean-square BN deviation.
Declared for topic bn_noise (bnreg/topics.py); judged by `bnreg.testing.judge` (docs/verification.md).  The claims
tested come from Luo, Wang, Shao, Peng, "Towards Understanding Regularization in Batch
Normalization", ICLR 2019 (arXiv:1809.00846) §2, and from the authors' introductory write-up of
that paper (in Chinese; "write-up" in the labels, sections as in docs/index.md#references)."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from bnreg.runtime import MCResult
from bnreg.testing.judge import N_CHUNKS, NEXT_TERM_DOC, Check, Params, next_term_allowance
from bnreg.theory import bn_noise as B
from bnreg.theory.distributions import family_moments

from .bn_noise import simulate_batch_stats, simulate_bn_deviation

__all__ = ["CHECKS"]


# ------------------------------------------------------------------------- simulations
@lru_cache(maxsize=512)
def _batch_stats(family: str, M: int, sigma: float, samples: int, seed: int):
    n_batches = max(samples // M, 4 * N_CHUNKS)
    return simulate_batch_stats(family, M, n_batches, seed=seed, sigma=sigma, n_chunks=N_CHUNKS)


def _bs(stat: str):
    def sim(p: Params, samples: int, seed: int) -> MCResult:
        r = _batch_stats(p["family"], p["M"], p.get("sigma", 1.0), samples, seed)
        return getattr(r, stat)()
    return sim


def _deviation(p: Params, samples: int, seed: int) -> MCResult:
    r = _dev_grid(p["family"], p["M"], samples, seed)
    return r.ms[list(r.u).index(p["u"])]


@lru_cache(maxsize=128)
def _dev_grid(family: str, M: int, samples: int, seed: int):
    n_batches = max(samples // M, 4 * N_CHUNKS)
    return simulate_bn_deviation(family, M, U_GRID[family], n_batches, seed=seed, n_chunks=N_CHUNKS)


# -------------------------------------------------------------------------- helpers
def _fm(p: Params):
    return family_moments(p["family"])


def _mom(p: Params) -> dict:
    fm = _fm(p)
    return {"rho": fm.rho, "skew": fm.skew, "m6": fm.m[6]}


def _grid(families, Ms, **extra) -> Callable[[str], list[Params]]:
    def pts(scale: str) -> list[Params]:
        return [dict(family=f, M=M, **extra) for f in families for M in Ms]
    return pts


FAMS = ("gaussian", "uniform", "laplace", "exponential", "relu")
NON_GAUSS = FAMS[1:]
M_ALL = (2, 3, 4, 6, 8, 16, 32, 64, 128, 256, 512, 1024)
M_ASYM = (8, 16, 64, 256, 1024)
# u values inside each family's support (standardized units).
U_GRID = {
    "gaussian": (-2.0, -1.0, 0.0, 1.0, 2.0),
    "laplace": (-2.0, -1.0, 0.0, 1.0, 2.0),
    "uniform": (-1.5, -0.5, 0.0, 0.5, 1.5),
    "exponential": (-0.5, 0.0, 1.0, 2.0, 3.0),
    "relu": (-0.5, 0.0, 1.0, 2.0, 3.0),
}



# ---------------------------------------------------------------------------- checks
CHECKS: list[Check] = []
_add = CHECKS.append


_add(Check(
    "simple_error.exact", "simple_error",
    "E[(b-a)^2] = 2 - 2 sqrt(2/M) Gamma(M/2)/Gamma((M-1)/2) exactly (Gaussian input, every M)",
    _grid(["gaussian"], M_ALL), _bs("simple_error"),
    lambda p: B.simple_error(p["M"], exact=True),
    {"1/M (missing 3/2)": lambda p: 1 / p["M"], "3/(2M) taken as exact": lambda p: 1.5 / p["M"]},
    shown={"asymptotic 3/(2M)": lambda p: B.simple_error(p["M"]),
           "order 2": lambda p: B.simple_error(p["M"], order=2)}))

_add(Check(
    "simple_error.asymptotic", "simple_error",
    "E[(b-a)^2] ~ 3/(2M) (Gaussian input; the write-up's simple example, §1.1)",
    _grid(["gaussian"], M_ALL), _bs("simple_error"),
    lambda p: B.simple_error(p["M"]),
    {"1/M (missing 3/2)": lambda p: 1 / p["M"]},
    allowance=next_term_allowance(lambda p: B.simple_error(p["M"]), lambda p: B.simple_error(p["M"], order=2)),
    allowance_doc=NEXT_TERM_DOC, min_M=8,
    shown={"exact": lambda p: B.simple_error(p["M"], exact=True)}))

_add(Check(
    "simple_error.kurtosis", "simple_error",
    "E[(b-a)^2] ~ (rho+6)/(4M) for non-Gaussian input (3/(2M) only when rho = 0)",
    _grid(NON_GAUSS, (16, 64, 256, 1024)), _bs("simple_error"),
    lambda p: B.simple_error(p["M"], rho=_fm(p).rho),
    {"kurtosis ignored: 3/(2M)": lambda p: 1.5 / p["M"]},
    allowance=next_term_allowance(lambda p: B.simple_error(p["M"], rho=_fm(p).rho),
                         lambda p: B.simple_error(p["M"], order=2, **_mom(p))),
    allowance_doc=NEXT_TERM_DOC, min_M=8,
    shown={"order 2": lambda p: B.simple_error(p["M"], order=2, **_mom(p))}))

_add(Check(
    "batch_mean_var", "batch_mean_var", "Var(mu_B) = sigma^2/M exactly (any input)",
    _grid(FAMS, (2, 4, 16, 64), sigma=2.0), _bs("var_mu"),
    lambda p: B.batch_mean_var(p["M"], p["sigma"]),
    {"sigma^2/(M-1)": lambda p: p["sigma"] ** 2 / (p["M"] - 1)}))

_add(Check(
    "batch_std_mean.gaussian_exact", "batch_std_mean",
    "E[sigma_B] = sigma sqrt(2/M) Gamma(M/2)/Gamma((M-1)/2) exactly (Gaussian input)",
    _grid(["gaussian"], M_ALL, sigma=2.0), _bs("mean_sd"),
    lambda p: B.batch_std_mean(p["M"], sigma=p["sigma"], exact=True),
    {"unbiased: sigma": lambda p: p["sigma"]},
    shown={"order 1": lambda p: B.batch_std_mean(p["M"], sigma=p["sigma"])}))

_add(Check(
    "batch_std_mean.bias", "batch_std_mean",
    "E[sigma_B] = sigma (1 - (rho+6)/(8M)) + O(M^-2): the O(1/M) bias of sigma_B",
    _grid(FAMS, M_ASYM, sigma=2.0), _bs("mean_sd"),
    lambda p: B.batch_std_mean(p["M"], _fm(p).rho, p["sigma"]),
    {"unbiased: sigma": lambda p: p["sigma"],
     "kurtosis ignored: sigma (1 - 3/(4M))": lambda p: p["sigma"] * (1 - 0.75 / p["M"])},
    allowance=next_term_allowance(lambda p: B.batch_std_mean(p["M"], _fm(p).rho, p["sigma"]),
                         lambda p: B.batch_std_mean(p["M"], sigma=p["sigma"], order=2, **_mom(p))),
    allowance_doc=NEXT_TERM_DOC, min_M=8,
    shown={"order 2": lambda p: B.batch_std_mean(p["M"], sigma=p["sigma"], order=2, **_mom(p))}))

_add(Check(
    "batch_std_var.gaussian_exact", "batch_std_var",
    "Var(sigma_B) = sigma^2 (M-1)/M - E[sigma_B]^2 exactly (Gaussian input)",
    _grid(["gaussian"], M_ALL, sigma=2.0), _bs("var_sd"),
    lambda p: B.batch_std_var(p["M"], sigma=p["sigma"], exact=True),
    {"write-up: (rho+2)/(4M) without sigma^2": lambda p: 2 / (4 * p["M"])},
    shown={"order 1": lambda p: B.batch_std_var(p["M"], sigma=p["sigma"])}))

_add(Check(
    "batch_std_var.kurtosis", "batch_std_var",
    "Var(sigma_B) = sigma^2 (rho+2)/(4M) + O(M^-2) (write-up §1.3, with the sigma^2 it omits)",
    _grid(FAMS, M_ASYM, sigma=2.0), _bs("var_sd"),
    lambda p: B.batch_std_var(p["M"], _fm(p).rho, p["sigma"]),
    {"write-up: (rho+2)/(4M) without sigma^2": lambda p: (_fm(p).rho + 2) / (4 * p["M"]),
     "kurtosis ignored: sigma^2/(2M)": lambda p: p["sigma"] ** 2 / (2 * p["M"])},
    allowance=next_term_allowance(lambda p: B.batch_std_var(p["M"], _fm(p).rho, p["sigma"]),
                         lambda p: B.batch_std_var(p["M"], sigma=p["sigma"], order=2, **_mom(p))),
    allowance_doc=NEXT_TERM_DOC, min_M=8,
    shown={"order 2": lambda p: B.batch_std_var(p["M"], sigma=p["sigma"], order=2, **_mom(p))}))

_add(Check(
    "sample_mean_corr", "sample_mean_corr",
    "Corr(h_i, mu_B) = 1/sqrt(M) exactly: a sample is part of its own batch mean",
    _grid(FAMS, (2, 8, 32, 128)), _bs("corr_sample_mean"),
    lambda p: B.sample_mean_corr(p["M"]),
    {"independent noise (Luo et al.'s model): 0": lambda p: 0.0}))


def _corr2(p: Params) -> float:
    fm = _fm(p)
    return B.sample_std_corr(p["M"], fm.rho, fm.skew, order=2, m5=fm.m[5], m6=fm.m[6])


_add(Check(
    "sample_std_corr", "sample_std_corr",
    "Corr(h_i, sigma_B) = g/sqrt(M (rho+2)) + O(M^-3/2): nonzero for skewed inputs",
    _grid(FAMS, (16, 64, 256, 1024)), _bs("corr_sample_sd"),
    lambda p: B.sample_std_corr(p["M"], _fm(p).rho, _fm(p).skew),
    {"independent noise (Luo et al.'s model): 0": lambda p: 0.0},
    allowance=next_term_allowance(lambda p: B.sample_std_corr(p["M"], _fm(p).rho, _fm(p).skew), _corr2),
    allowance_doc=NEXT_TERM_DOC, min_M=8,
    shown={"order 2": _corr2}))


def _dev1(p: Params) -> float:
    fm = _fm(p)
    return B.bn_deviation_ms(p["M"], fm.rho, p["u"], skew=fm.skew)


def _dev2(p: Params) -> float:
    fm = _fm(p)
    return B.bn_deviation_ms(p["M"], fm.rho, p["u"], skew=fm.skew, order=2, m5=fm.m[5], m6=fm.m[6])


def _dev_points(scale: str) -> list[Params]:
    return [dict(family=f, M=M, u=u) for f in FAMS for M in (8, 32, 128, 512, 2048) for u in U_GRID[f]]


_add(Check(
    "bn_deviation_ms", "bn_deviation_ms",
    "E[(hhat-hbar)^2 | u] = gamma^2 (1 + g u + (rho+2) u^2/4)/M + O(M^-2), sample inside its batch",
    _dev_points, _deviation, _dev1,
    {"Luo et al.'s formula (write-up §1.3)": lambda p: B.bn_deviation_ms(p["M"], _fm(p).rho, p["u"],
                                                                         variant="luo2019"),
     "kurtosis ignored": lambda p: B.bn_deviation_ms(p["M"], 0.0, p["u"], skew=_fm(p).skew),
     "u^2 term missing: 1/M": lambda p: 1.0 / p["M"]},
    # Judged from M = 128: at M = 32 the expansion has not converged for skewed inputs
    # (exponential/ReLU, |u| >= 2 off by 15-50%); those rows are shown, not hidden.
    allowance=next_term_allowance(_dev1, _dev2), allowance_doc=NEXT_TERM_DOC, min_M=128,
    shared_over=("u",),  # one simulation per (family, M) gives every u
    shown={"order 2": _dev2,
           "Luo et al.": lambda p: B.bn_deviation_ms(p["M"], _fm(p).rho, p["u"], variant="luo2019")}))

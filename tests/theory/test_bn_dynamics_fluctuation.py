"""BN at a finite learning rate beyond leading order, theory (theory/bn_dynamics_fluctuation.py): the SymPy steps,
the batch-level noise share against sampled Gaussian batches, the per-mode Lyapunov sums against a
simulated linear system with the same noise (both batch orders), the MP twin against data sets, the
lr -> 0 limit, and bad input.  Tolerances: z = 4 (two-sided false-alarm 6e-5 per assertion) times the
Monte Carlo SE, plus the stated finite-size bound where there is one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bnreg.params import ParameterError
from bnreg.theory import bn_dynamics as BD
from bnreg.theory import bn_dynamics_fluctuation as BF
from bnreg.theory import teacher_student as TS
from bnreg.theory.catalog import evaluate

Z = 4.0


@pytest.mark.derivation
def test_lyapunov_steps_are_exact():
    d = BF.derive_lyapunov()
    assert d["fixed point residual"] == 0
    assert d["K = 4: explicit double sum - formula"] == 0
    # reshuffling cancels the mean state's noise to first order in 1 - l: the injection is O((1 - l)^2)
    eps_ = next(s for s in d["leading order as l -> 1 (K = 4)"].free_symbols if s.name == "epsilon")
    assert d["leading order as l -> 1 (K = 4)"].as_poly(eps_).degree() == 2


@pytest.mark.derivation
def test_predictor_moments_match_the_second_order_expansion():
    for k, v in BF.derive_predictor_moments().items():
        assert all(x == 0 for x in v), k


def _batch_level_share(M: int, n: int, rng: np.random.Generator, with_sigma: bool = True) -> tuple[float, float]:
    """Sampled Var(e)/Var(a) for one tangent direction x (independent of h and r), Gaussian h, r; SE by blocks."""
    h = rng.standard_normal((n, M))
    r = rng.standard_normal((n, M))
    x = rng.standard_normal((n, M))
    hc = h - h.mean(1, keepdims=True)
    sb = np.sqrt((hc * hc).mean(1, keepdims=True))
    z = hc / sb
    rho = r - r.mean(1, keepdims=True) - z * (r * z).mean(1, keepdims=True)
    scale = 1.0 / sb if with_sigma else 1.0
    e = ((rho * scale - r) * x).sum(1)  # sigma = 1
    a = (r * x).sum(1)
    blocks = np.array_split(np.arange(n), 20)
    ratios = np.array([np.mean(e[b] ** 2) / np.mean(a[b] ** 2) for b in blocks])
    return float(ratios.mean()), float(ratios.std(ddof=1) / math.sqrt(len(ratios)))


def test_batch_level_noise_share_matches_sampled_batches():
    rng = np.random.default_rng(11)
    for M in (8, 32):
        mc, se = _batch_level_share(M, 400_000, rng)
        assert abs(mc - BF.batch_level_noise(M)) <= Z * se, (M, mc, se, BF.batch_level_noise(M))
    # power: leaving out BN's 1/sigma_B (only the batch's own mean and slope) gives a different share
    mc, se = _batch_level_share(32, 400_000, rng, with_sigma=False)
    assert abs(mc - BF.batch_level_noise(32)) > Z * se


def _linear_additive(c: np.ndarray, D: np.ndarray, eta: float, K: int, reshuffled: bool, epochs: int,
                     rng: np.random.Generator) -> np.ndarray:
    """x' = (1 - 2 eta c) x - eta xi per mode, xi with variance D per step; reshuffled: an epoch's K noises
    sum to 0 (Cov -D/(K - 1) between steps).  Returns the epoch-end second moment per mode."""
    x = np.zeros((c.size,))
    lam = 1 - 2 * eta * c
    acc = np.zeros_like(c)
    burn = epochs // 5
    for ep in range(epochs):
        xi = rng.standard_normal((K, c.size)) * np.sqrt(D)
        if reshuffled:  # project onto sum 0 and restore the per-step variance
            xi = (xi - xi.mean(0)) * math.sqrt(K / (K - 1))
        for k in range(K):
            x = lam * x - eta * xi[k]
        if ep >= burn:
            acc += x * x
    return acc / (epochs - burn)


@pytest.mark.parametrize("reshuffled", [False, True])
def test_epoch_lyapunov_sums_match_a_simulated_linear_system(reshuffled):
    c = np.array([0.05, 0.3, 1.0, 2.5])
    D = 4 * c / 32
    eta, K = 0.05, 12
    lam = 1 - 2 * eta * c
    unit = eta * eta * D
    inj = BF._injections(lam, unit, K, 1.0, 0.0, 1.0, 0.0, np.zeros(K), reshuffled)
    pred = inj[K] / (1 - lam ** (2 * K))
    other = BF._injections(lam, unit, K, 1.0, 0.0, 1.0, 0.0, np.zeros(K), not reshuffled)[K] / (1 - lam ** (2 * K))
    rng = np.random.default_rng(3)
    runs = np.array([_linear_additive(c, D, eta, K, reshuffled, 3000, rng) for _ in range(8)])
    mc, se = runs.mean(0), runs.std(0, ddof=1) / math.sqrt(len(runs))
    assert np.all(np.abs(mc - pred) <= Z * se), (mc, se, pred)
    # power: the other batch order's sums are rejected in at least the slow modes
    assert np.any(np.abs(mc - other) > Z * se)


def _data_spectrum(N: int, alpha: float, delta2: float, M: int, rng: np.random.Generator) -> BF.Spectrum:
    P = int(round(alpha * N))
    X = rng.standard_normal((P, N))
    w = rng.standard_normal(N) / math.sqrt(N)
    y = X @ w + math.sqrt(delta2) * rng.standard_normal(P)
    Xc, yc = X - X.mean(0), y - y.mean()
    c, U = np.linalg.eigh(Xc.T @ Xc / P)
    b = U.T @ (Xc.T @ yc / P)
    ws = U.T @ w
    resid = float(yc @ yc / P - np.sum(b * b / c))
    return BF.Spectrum(c, b * b, b * ws, np.ones(N), float(w @ w), resid, N, M, P)


@pytest.mark.mc
def test_mp_twin_matches_a_large_data_set():
    """The registered formula (MP quadrature) against the same model on 6 data sets at N = 512: the data-set
    spread gives the SE; the MP limit's own finite-N offset is O(1/N) relative (bound: 4/N of the value)."""
    N, alpha, M, d, lr = 512, 2.0, 32, 0.25, 0.02
    k = TS.bn_shrinkage(M)
    rng = np.random.default_rng(5)
    for batches in BF.BATCHES:
        vals = np.array([[getattr(BF.stationary_fluctuation(_data_spectrum(N, alpha, d, M, rng), lr, k, batches), f)
                          for f in ("eps_mean", "fluctuation", "nu")] for _ in range(6)])
        st = BF.stationary_fluctuation(BF.spectrum_mp(alpha, M, d, N), lr, k, batches)
        mp = np.array([st.eps_mean, st.fluctuation, st.nu])
        assert BF.bn_sgd_error(alpha, M, d, lr, N, batches, "predictor") == pytest.approx(st.eps_mean, rel=1e-12)
        mc, se = vals.mean(0), vals.std(0, ddof=1) / math.sqrt(len(vals))
        assert np.all(np.abs(mc - mp) <= Z * se + 4 / N * np.abs(mp)), (batches, mc, se, mp)


def test_small_learning_rate_limit_is_the_leading_order():
    """As lr_eff -> 0 the model's time-averaged predictor tends to kappa x ridge(nu): the gap is a small share of
    the shift nu itself makes (LO - limit), and it grows with lr_eff (at 0.05 the feedback and the fluctuation act)."""
    limit = TS.gen_error_bn_limit(2.0, 0.25, 32)
    for batches in BF.BATCHES:
        share = []
        for lr in (2.5e-4, 1e-3, 0.05):
            lo = BD.bn_stationary_error(2.0, 32, 0.25, lr, 256)
            share.append(abs(BF.bn_sgd_error(2.0, 32, 0.25, lr, 256, batches, "predictor") - lo) / abs(lo - limit))
        assert share[0] < 0.05 and share[1] < 0.05 and share[2] > 2 * max(share[:2]), (batches, share)


def test_instant_error_exceeds_the_time_averaged_predictor_by_the_fluctuation():
    st = BF.stationary_fluctuation(BF.spectrum_mp(3.0, 32, 0.25, 256), 0.05, TS.bn_shrinkage(32), "independent")
    assert st.fluctuation > 0 and st.eps_instant == pytest.approx(st.eps_mean + st.fluctuation)
    # the alpha = 3 rise: at lr_eff = 0.05 the instantaneous error is above the lr -> 0 limit, the mean below it
    limit = TS.gen_error_bn_limit(3.0, 0.25, 32)
    assert st.eps_instant > limit > st.eps_mean


def test_registered_formula_and_bad_input():
    v = evaluate("bn_sgd_error", alpha=2.0, lr_eff=0.01, N=256)
    assert v == pytest.approx(BF.bn_sgd_error(2.0, 32, 0.25, 0.01, 256))
    with pytest.raises(ParameterError, match="stability edge"):
        BF.bn_sgd_error(3.0, 32, 0.25, 5.0, 256, "independent")
    with pytest.raises(ParameterError, match="batches"):
        BF.bn_sgd_error(3.0, 32, 0.25, 0.01, 256, "random")
    with pytest.raises(ParameterError, match="average"):
        BF.bn_sgd_error(3.0, 32, 0.25, 0.01, 256, "independent", "median")

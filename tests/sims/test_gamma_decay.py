"""Gamma decay, simulations: the GLM kernel and the optimal-gamma simulation against the theory
(sims/gamma_decay.py; the registered Monte-Carlo checks are sims/checks_gamma_decay.py)."""

from __future__ import annotations

import pytest

from bnreg.params import ParameterError
from bnreg.sims.gamma_decay import simulate_glm_bn, simulate_optimal_gamma
from bnreg.theory import gamma_decay as G

M, u, g, rho = G.M, G.u, G.g, G.rho


def test_mc_squared_objective_is_exactly_quadratic_with_unit_curvature():
    # E[xhat^2] = 1 exactly: the sampled BN curvature for squared loss is 2 per member, so one Newton
    # step lands on the optimum and a second step does not move it.
    r = simulate_glm_bn("squared", 8, [1.0], n_batches=512, seed=3, n_chunks=8)
    s = r.sums.sum(axis=0)
    assert s[0, 4] / r.n_members == pytest.approx(2.0, rel=1e-12)
    one = simulate_optimal_gamma("squared", 8, n_batches=512, seed=3, n_chunks=8, n_newton=1)
    two = simulate_optimal_gamma("squared", 8, n_batches=512, seed=3, n_chunks=8, n_newton=2)
    assert two.estimate == pytest.approx(one.estimate, rel=1e-12)


@pytest.mark.parametrize("call,match", [
    (lambda: G.zeta_special("nope", 8), "case must be one of"),
    (lambda: G.zeta_special("squared", 1), "M must satisfy M >= 2"),
    (lambda: G.zeta_special("squared", 8, gamma=0.0), "gamma must satisfy"),
    (lambda: G.zeta_special("no_bias", 8, beta=1.0), "beta must be 0"),
    (lambda: G.glm_stats("poisson", approx="sigmoid"), "approx=sigmoid applies to case=relu"),
    (lambda: G.zeta(8, rho=-3.0), "rho must satisfy"),
    (lambda: G.optimal_gamma_ratio("logistic", 8, variant="exact"), "variant=exact exists"),
    (lambda: G.bn_loss_excess("squared", 8, order=3), "order must be one of"),
    (lambda: simulate_glm_bn("squared", 8, [-1.0]), "gammas must satisfy"),
    (lambda: simulate_glm_bn("squared", 8, [float("nan")]), "gammas"),
    (lambda: simulate_glm_bn("squared", 1, [1.0]), "M must satisfy"),
    (lambda: simulate_glm_bn("no_bias", 8, [1.0], beta0=0.5), "beta0 must be 0"),
])
def test_bad_input(call, match):
    with pytest.raises(ParameterError, match=match):
        call()


@pytest.mark.parametrize("case", ["identity", "squared", "logistic", "poisson", "relu"])
def test_kernel_glm_derivatives_match_theory(case):
    """The MC kernel's (A, A', A'') (one exponential per call) against theory.gamma_decay.glm,
    including |eta| large enough that a naive sigmoid or softplus would overflow."""
    from bnreg.sims.kernels.gamma_decay import IDENTITY, LOGISTIC, POISSON, RELU, SQUARED, glm_a012

    kind = {"identity": IDENTITY, "squared": SQUARED, "logistic": LOGISTIC, "poisson": POISSON, "relu": RELU}[case]
    f = G.glm(case)
    etas = [-700.0, -40.0, -3.0, -0.5, -1e-9, 0.0, 1e-9, 0.7, 3.0, 40.0] + ([] if case == "poisson" else [700.0])
    for eta in etas:
        got = glm_a012(kind, eta)
        for k in range(3):
            assert got[k] == pytest.approx(f(eta, k), rel=1e-14, abs=1e-300), (case, eta, k)


@pytest.mark.parametrize("case, M", [("identity", 8), ("relu", 16), ("logistic", 64)])
def test_newton_early_stop_matches_full_iterations(case, M):
    """simulate_optimal_gamma stops once a step is below NEWTON_STOP SEs; the result must equal running
    Newton to convergence (8 plain iterations on the same sampled objective) within 1e-3 SE."""
    from bnreg.sims.gamma_decay import SETUPS, simulate_glm_bn

    g0, b0 = SETUPS[case]
    n_batches = 2**16 // M
    r = simulate_optimal_gamma(case, M, g0, b0, "gaussian", n_batches, 3, n_newton=4)
    g = g0
    for _ in range(8):
        g = simulate_glm_bn(case, M, [g], g0, b0, "gaussian", n_batches, 3).newton_step(0).estimate
    assert abs(r.estimate - g / g0) < 1e-3 * r.se
    # power: one Newton step is not converged for the non-quadratic losses
    one = simulate_optimal_gamma(case, M, g0, b0, "gaussian", n_batches, 3, n_newton=1)
    assert (abs(one.estimate - g / g0) > 1e-3 * r.se) == (case != "identity")


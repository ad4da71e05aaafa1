"""Input dropout, theory: the expected objective, the dropout ridge, its mapping and finite-N term
(theory/dropout.py, docs/dropout.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from bnreg.params import ParameterError
from bnreg.theory import dropout as DO
from bnreg.theory import teacher_student as TS
from bnreg.theory.catalog import evaluate

S = DO.SYMBOLS


def test_expected_objective_is_a_diagonal_ridge():
    d = DO.derive_dropout_objective()
    assert d["mask sum - closed form (N = n)"] == 0
    assert sp.simplify(d["mask mean"] - 1) == 0
    assert sp.simplify(d["mask variance"] - (1 - S["keep"]) / S["keep"]) == 0


def test_mapping_has_alpha_and_is_not_the_drop_rate():
    d = DO.derive_dropout_to_lam()
    assert sp.simplify(d["lam"] - S["alpha"] * (1 - S["keep"]) / S["keep"]) == 0
    assert DO.dropout_to_lam(2.0, 0.5) == pytest.approx(2.0)
    assert DO.dropout_to_lam(0.5, 0.8) == pytest.approx(0.125)
    assert DO.dropout_to_lam(3.0, 1.0) == 0.0
    assert evaluate("dropout_to_lam", alpha="2", keep="0.8") == pytest.approx(0.5)
    assert DO.gen_error_dropout(2.0, 1.0) == TS.gen_error_sgd(2.0)
    assert DO.gen_error_dropout(2.0, 0.5, 0.3) == pytest.approx(TS.gen_error_ridge(2.0, 2.0, 0.3))


@pytest.mark.parametrize("call", [
    lambda: DO.dropout_to_lam(2.0, 0.0), lambda: DO.dropout_to_lam(2.0, 1.5), lambda: DO.dropout_to_lam(0.0, 0.5),
    lambda: DO.dropout_to_lam(float("nan"), 0.5), lambda: DO.dropout_to_lam(2.0, "x"),
    lambda: DO.gen_error_dropout(2.0, 0.5, -1.0), lambda: DO.dropout_diag_correction(2.0, 0.5, N=0),
    lambda: DO.gen_error_dropout_bn_limit(2.0, 0.5, stats="other"), lambda: DO.gen_error_dropout_bn_limit(2, 0.5, M=1),
    lambda: evaluate("dropout_to_lam", alpha=2), lambda: evaluate("dropout_to_lam", alpha=-1, keep=0.5)])
def test_bad_input_is_rejected(call):
    with pytest.raises(ParameterError):
        call()


def test_finite_n_numeric_twin_equals_the_derivation():
    corr = DO.derive_dropout_finite_n()["correction"]
    assert DO.derive_dropout_finite_n()["E[1/s]"] == S["P"] / (S["P"] - 2)
    G, G1, G2 = sp.symbols("G G1 G2")
    for a, k, N in ((2.0, 0.5, 128), (0.5, 0.8, 64), (3.0, 0.8, 128)):
        lam = DO.dropout_to_lam(a, k)
        g = TS.mp_stieltjes(a, lam)
        h = 1e-5 * lam
        g1 = TS.mp_stieltjes_dlam(a, lam)
        g2 = (TS.mp_stieltjes_dlam(a, lam + h) - TS.mp_stieltjes_dlam(a, lam - h)) / (2 * h)
        v = float(corr.subs({S["alpha"]: a, S["lam"]: lam, S["delta2"]: 0.25, S["P"]: a * N, G: g, G1: g1, G2: g2}))
        assert DO.dropout_diag_correction(a, k, 0.25, N=N) == pytest.approx(v, rel=1e-6)


def _exact_pair(N, alpha, keep, n, seed=0, d2=0.25):
    """Exact E over (w*, eps) of eps(diagonal ridge) - eps(scalar ridge), averaged over n design matrices."""
    rng = np.random.default_rng(seed)
    P = round(alpha * N)
    a = P / N
    lam = DO.dropout_to_lam(a, keep)
    out = []
    for _ in range(n):
        X = rng.standard_normal((P, N))
        A = X.T @ X / N
        Sd = np.diag(np.diag(A) / a)
        Ri = np.linalg.inv(A + lam * np.eye(N))
        Mi = np.linalg.inv(A + lam * Sd)
        out.append((lam**2 * np.trace(Mi @ Sd @ Sd @ Mi) + d2 * np.trace(Mi @ A @ Mi)
                    - lam**2 * np.trace(Ri @ Ri) - d2 * np.trace(Ri @ A @ Ri)) / N)
    return a, float(np.mean(out)), float(np.std(out, ddof=1) / math.sqrt(n))


@pytest.mark.mc
@pytest.mark.parametrize("alpha,keep", [(2.0, 0.5), (0.5, 0.8)])
def test_finite_n_correction_explains_the_diagonal_gap(alpha, keep):
    """The O(1/N) term accounts for the exact matrix average at N = 64 to within 15 % (the rest is O(1/N^2))."""
    a, m, se = _exact_pair(64, alpha, keep, 200)
    pred = DO.dropout_diag_correction(a, keep, N=64)
    assert abs(m - pred) < 0.15 * abs(pred) + 4 * se


def test_bn_limit_reduces_to_bn_and_ridge():
    assert DO.gen_error_dropout_bn_limit(2.0, 1.0, M=32) == TS.gen_error_bn_limit(2.0, 0.25, 32)
    for a, k in ((0.5, 0.5), (2.0, 0.8)):
        # rho = 1 is the ridge itself
        lam = DO.dropout_to_lam(a, k)
        g, g1 = TS.mp_stieltjes(a, lam), TS.mp_stieltjes_dlam(a, lam)
        q = 1 - 2 * lam * g - lam**2 * g1 + 0.25 * (g + lam * g1)
        assert q - 2 * (1 - lam * g) + 1 == pytest.approx(DO.gen_error_dropout(a, k))
        assert DO.dropout_bn_scale(a, k) > 1
    d = DO.derive_dropout_bn()
    assert all(v == 0 for key, v in d.items() if key.endswith("- closed form"))


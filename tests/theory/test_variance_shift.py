"""Variance shift, theory: SymPy proofs, numeric twins against the derivation and against mpmath at
extreme parameters, bad input (theory/variance_shift.py, docs/variance_shift.md)."""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
import sympy as sp

from bnreg.params import ParameterError
from bnreg.theory import variance_shift as VS
from bnreg.theory import variance_shift_width as VSW
from bnreg.theory.catalog import evaluate


# ------------------------------------------------------------------------------ SymPy
def test_multiplier_moments():
    assert VS.derive_multiplier_moments("bernoulli")["second"] == 1 / VS.keep
    assert sp.simplify(VS.derive_multiplier_moments("gaussian")["noise_var"] - (1 - VS.keep) / VS.keep) == 0
    assert sp.simplify(VS.derive_multiplier_moments("uout")["noise_var"] - VS.beta**2 / 3) == 0
    for n in VS.NOISES:
        assert VS.derive_multiplier_moments(n)["mean"] == 1  # every variant preserves the mean


@pytest.mark.parametrize("n", [2, 3, 5])
def test_quadratic_form_identity(n):
    assert VS.derive_quadratic_form(n)["difference"] == 0


@pytest.mark.parametrize("noise", VS.NOISES)
def test_closed_form_equals_derivation(noise):
    r = VS.derive_variance_shift(noise)
    assert r["closed_minus_ratio"] == 0
    # case a, Bernoulli: keep v / (v + (1 - keep) c^2)
    if noise != "uout":
        assert sp.simplify(r["case_a"] - VS.keep * VS.v / (VS.v + (1 - VS.keep) * VS.c**2)) == 0


def test_limits_and_matched_uout():
    lim = VS.derive_shift_limits()
    assert lim["d -> oo (corr > 0)"] == 1
    assert lim["s2 -> 0 (keep -> 1, beta -> 0)"] == 1
    assert "d" not in str(lim["corr -> 0 (no dependence on d or cos2)"])
    # wider layers shift less exactly when corr > 0: the derivative is corr * (positive)
    dd = lim["dDelta/dd"]
    assert sp.simplify(dd.subs(VS.corr, 0)) == 0
    assert VS.derive_matched_uout()["difference"] == 0


def test_relu_layer_closed_form_matches_numeric_mean_field():
    r = VS.derive_relu_layer()
    for keep, c in [(0.5, 0.0), (0.8, 1.0), (0.3, -0.5)]:
        mf = VS.mean_field_shift(2, keep=keep, c=c)
        s2v = (1 - keep) / keep
        q1 = VS.variance_shift_ratio(keep, c, 1.0)
        assert mf["var_ratio"][0] == pytest.approx(q1, rel=1e-14)
        q2 = float(r["q_next"].subs({VS.q: q1, VS.s2: s2v}))
        assert mf["var_ratio"][1] == pytest.approx(q2, rel=1e-10)
        shift = float(r["mean shift / running std (per sqrt(d cos2))"].subs({VS.q: q1, VS.s2: s2v}))
        assert mf["mean_shift2"][1] == pytest.approx(shift**2, rel=1e-10)


# ------------------------------------------------------------------------------ twins
GRID = [(k, c, v, d, r, k2) for k in (0.1, 0.5, 0.99) for c in (-1.0, 0.0, 2.0) for v in (0.3, 1.0)
        for d, r, k2 in ((1, 0.0, 1.0), (1, 0.7, 1.0), (8, 0.3, 0.5), (64, -0.01, 1.0), (3, -0.5, 0.2))]


@pytest.mark.parametrize("keep,c,v,d,corr,cos2", GRID)
def test_twin_equals_derivation(keep, c, v, d, corr, cos2):
    expr = VS.derive_variance_shift("bernoulli")["ratio"]
    subs = {VS.keep: keep, VS.c: c, VS.v: v, VS.d: d, VS.corr: corr, VS.cos2: cos2}
    assert VS.variance_shift_ratio(keep, c, v, d, corr, cos2) == pytest.approx(float(expr.subs(subs)), rel=1e-12)
    assert VS.variance_shift_ratio(keep, c, v, d, corr, cos2, "gaussian") == \
        VS.variance_shift_ratio(keep, c, v, d, corr, cos2)
    b = VS.matched_uout_beta(keep)
    assert VS.uout_shift_ratio(b, c, v, d, corr, cos2) == pytest.approx(
        VS.variance_shift_ratio(keep, c, v, d, corr, cos2), rel=1e-12)


def _mp_delta(s2, c, v, A):
    mp.mp.dps = 60
    s2, c, v, A = (mp.mpf(x) for x in (s2, c, v, A))
    return v * A / (v * A + s2 * (v + c * c))


@pytest.mark.parametrize("keep,c,v", [(1e-300, 0.0, 1.0), (1e-300, 1e150, 1e-150), (0.5, 1e200, 1e-200),
                                      (1 - 1e-16, 1e100, 1.0), (0.5, 1e-300, 1e300), (1e-12, 3.0, 1e-5),
                                      (0.999999, 0.0, 5e-324), (0.5, -1e300, 1e300)])
def test_extreme_parameters_against_mpmath(keep, c, v):
    """Legal extremes give a finite value in [0, 1] equal to the 60-digit value (to 1e-12 relative,
    or to 1e-300 absolute where the true value underflows a double)."""
    got = VS.variance_shift_ratio(keep, c, v)
    want = _mp_delta((1 - mp.mpf(keep)) / mp.mpf(keep), c, v, 1)
    assert math.isfinite(got) and 0.0 <= got <= 1.0
    assert abs(got - float(want)) <= 1e-12 * float(want) + 1e-300
    got_u = VS.uout_shift_ratio(1e150, c, v)
    assert 0.0 <= got_u <= 1e-290


def test_edges():
    assert VS.variance_shift_ratio(1.0, 5.0, 1.0) == 1.0
    assert VS.uout_shift_ratio(0.0, 5.0, 1.0) == 1.0
    assert VS.variance_shift_ratio(0.5, 0.0, 1.0, d=3, corr=-0.5) == 0.0  # PSD boundary: Var_test = 0
    ks = np.linspace(0.01, 1, 50)
    vals = [VS.variance_shift_ratio(k, 0.7, 1.3, 4, 0.2, 0.6) for k in ks]
    assert np.all(np.diff(vals) > 0) and vals[-1] == 1.0


@pytest.mark.parametrize("kw,name", [
    (dict(keep=0.0, c=0, v=1), "keep"), (dict(keep=1.5, c=0, v=1), "keep"), (dict(keep=0.5, c=0, v=0), "v"),
    (dict(keep=0.5, c=0, v=-1), "v"), (dict(keep=0.5, c=0, v=1, corr=1.5), "corr"),
    (dict(keep=0.5, c=0, v=1, d=4, corr=-0.5), "corr"), (dict(keep=0.5, c=0, v=1, d=4, cos2=0), "cos2"),
    (dict(keep=0.5, c=0, v=1, d=4, cos2=1.2), "cos2"), (dict(keep=0.5, c=0, v=1, cos2=0.5), "cos2"),
    (dict(keep=0.5, c=0, v=1, d=0), "d"), (dict(keep=0.5, c=float("nan"), v=1), "c"),
    (dict(keep=0.5, c=0, v=1, noise="uout"), "noise")])
def test_bad_input_names_the_parameter(kw, name):
    with pytest.raises(ParameterError, match=name):
        evaluate("variance_shift_ratio", **kw)


def test_registered_formulas_parse_strings():
    assert evaluate("variance_shift_ratio", keep="0.5", c="1", v="1") == pytest.approx(1 / 3)
    assert evaluate("uout_shift_ratio", beta="0", c="1", v="1") == 1.0
    with pytest.raises(ParameterError, match="beta"):
        evaluate("uout_shift_ratio", beta="-1", c="0", v="1")



def test_finite_width_law_is_the_mean_field_times_the_measured_correction():
    """finite_width_shift = MF_l (1 + b_l + a_l/n + c_l/n^2): layer 1 equals the (exact) mean field at
    any width; deeper layers lie below it at width 64 and tend to MF_l (1 + b_l) as n grows; the
    fit's own uncertainty is positive and shrinks towards the middle of the fitted widths."""
    assert VSW.WIDTH_CORRECTION, "no measured finite-width coefficients"
    for keep in VSW.WIDTH_CORRECTION:
        mf = VS.mean_field_shift(VSW.WIDTH_DEPTH, keep=keep)["var_ratio"]
        assert VSW.finite_width_shift(1, 64, keep) == pytest.approx(mf[0], rel=1e-15)
        for layer in range(2, VSW.WIDTH_DEPTH + 1):
            b, a, c = VSW.WIDTH_CORRECTION[keep][layer - 1][0]
            expected = mf[layer - 1] * (1 + b + a / 64 + c / 64**2)
            assert VSW.finite_width_shift(layer, 64, keep) == pytest.approx(expected)
            assert VSW.finite_width_shift(layer, 64, keep) < mf[layer - 1]
            assert VSW.finite_width_shift(layer, 10**9, keep) == pytest.approx(mf[layer - 1] * (1 + b), rel=1e-6)
            assert VSW.finite_width_uncertainty(layer, 64, keep) > 0


@pytest.mark.parametrize("kw, name", [(dict(layer=0, width=64, keep=0.5), "layer"),
                                      (dict(layer=9, width=64, keep=0.5), "layer"),
                                      (dict(layer=2, width=16, keep=0.5), "width"),
                                      (dict(layer=2, width=64, keep=0.3), "keep")])
def test_finite_width_law_refuses_what_was_not_measured(kw, name):
    with pytest.raises(ParameterError, match=name):
        VSW.finite_width_shift(**kw)

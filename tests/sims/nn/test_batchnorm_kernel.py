"""The shared BN kernel (sims/kernels/batchnorm.py) against numpy formulas and float64 finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from bnreg.sims.kernels.batchnorm import bn_backward, bn_forward, norm_apply, norm_apply_backward, update_running

EPS = 1e-5


def _forward(x, gamma, beta, center, scale):
    n, c = x.shape
    y, xhat = np.empty_like(x), np.empty_like(x)
    mean, inv = np.empty(c), np.empty(c)
    bn_forward(x, gamma, beta, EPS, center, scale, y, xhat, mean, inv)
    return y, xhat, mean, inv


def _numpy_forward(x, gamma, beta, center, scale):
    mu, var = x.mean(0), x.var(0)
    xc = x - mu if center else x
    xhat = xc / np.sqrt(var + EPS) if scale else xc
    return gamma * xhat + beta


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    n, c = 13, 4
    return (rng.standard_normal((n, c)) * 2 + 1, rng.standard_normal(c) + 1.5, rng.standard_normal(c),
            rng.standard_normal((n, c)))


@pytest.mark.parametrize("center,scale", [(True, True), (True, False), (False, True), (False, False)])
def test_forward_matches_numpy(data, center, scale):
    x, g, b, _ = data
    y, _, _, _ = _forward(x, g, b, center, scale)
    np.testing.assert_allclose(y, _numpy_forward(x, g, b, center, scale), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("center,scale", [(True, True), (True, False), (False, True), (False, False)])
def test_backward_matches_finite_differences(data, center, scale):
    x, g, b, dy = data
    y, xhat, mean, inv = _forward(x, g, b, center, scale)
    dx, dg, db = np.empty_like(x), np.empty_like(g), np.empty_like(b)
    bn_backward(dy, x, xhat, g, mean, inv, center, scale, dx, dg, db)
    f = lambda xx, gg, bb: float(np.sum(dy * _numpy_forward(xx, gg, bb, center, scale)))
    h = 1e-6
    num = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        num[idx] = (f(x + e, g, b) - f(x - e, g, b)) / (2 * h)
    np.testing.assert_allclose(dx, num, rtol=1e-6, atol=1e-8)
    num_g = np.array([(f(x, g + h * e, b) - f(x, g - h * e, b)) / (2 * h) for e in np.eye(len(g))])
    np.testing.assert_allclose(dg, num_g, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(db, dy.sum(0), rtol=1e-12)
    # power: the gradient that ignores the batch statistics (PN backward) is not the BN gradient
    if center:
        assert not np.allclose(dx, g * (inv if scale else 1.0) * dy, rtol=1e-3)


def test_fixed_statistics_and_running_update(data):
    x, g, b, dy = data
    c = x.shape[1]
    mean, inv = x.mean(0) + 0.3, 1 / np.sqrt(x.var(0) + 2.0)
    y, xhat = np.empty_like(x), np.empty_like(x)
    norm_apply(x, g, b, mean, inv, y, xhat)
    np.testing.assert_allclose(y, g * (x - mean) * inv + b, rtol=1e-12)
    dx, dg, db = np.empty_like(x), np.empty(c), np.empty(c)
    norm_apply_backward(dy, xhat, g, inv, dx, dg, db)
    np.testing.assert_allclose(dx, g * inv * dy, rtol=1e-12)
    np.testing.assert_allclose(dg, (dy * xhat).sum(0), rtol=1e-12)
    _, _, bm, bi = _forward(x, g, b, True, True)
    rm, rv = np.zeros(c), np.ones(c)
    update_running(rm, rv, bm, bi, EPS, x.shape[0], 0.1)
    np.testing.assert_allclose(rm, 0.1 * x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(rv, 0.9 + 0.1 * x.var(0, ddof=1), rtol=1e-9)


@pytest.mark.parametrize("center,scale", [(True, True), (True, False), (False, True), (False, False)])
@pytest.mark.parametrize("n,c,group", [(50, 3, 7), (64, 4, 16), (5, 3, 7), (45, 8, 8)])
def test_fused_relu_and_grouped_kernels(center, scale, n, c, group):
    """relu=True (max(y, 0), backward dy [y > 0]) and the grouped (flat blocks of rows) kernels equal the
    plain ones followed by a ReLU, to float64 rounding (only the order of the sums differs)."""
    from bnreg.sims.kernels.batchnorm import bn_backward_relu

    rng = np.random.default_rng(n + c)
    x, g, b = rng.standard_normal((n, c)) * 2 + 1, rng.standard_normal(c) + 1.5, rng.standard_normal(c)
    dy = rng.standard_normal((n, c))
    y, xhat, mean, inv = _forward(x, g, b, center, scale)
    ref_y = np.maximum(y, 0)
    ref = [np.empty_like(x), np.empty(c), np.empty(c)]
    bn_backward(dy * (y > 0), x, xhat, g, mean, inv, center, scale, *ref)
    assert 0 < np.mean(ref_y == 0) < 1
    for grp in (1, group):
        y2, xh2, m2, i2 = np.empty_like(x), np.empty_like(x), np.empty(c), np.empty(c)
        bn_forward(x, g, b, EPS, center, scale, y2, xh2, m2, i2, True, grp)
        np.testing.assert_allclose(y2, ref_y, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(xh2, xhat, rtol=1e-13, atol=1e-13)
        out = [np.empty_like(x), np.empty(c), np.empty(c)]
        bn_backward_relu(dy, y2, x, xh2, g, m2, i2, center, scale, *out, grp)
        for a, r in zip(out, ref, strict=True):
            np.testing.assert_allclose(a, r, rtol=1e-12, atol=1e-12)

"""Every layer and every normalization/dropout variant of sims.nn against float64 central finite
differences, with a random upstream gradient R: the scalar checked is L = sum(R * output) (+ the
explicit regularizer for the model).

Tolerance: central differences with step h have error <= h^2 |f'''|/6 + eps_mach |f| / h, about
1e-9 relative here (h = 1e-5, |f| ~ 10), so a correct backward agrees to better than TOL = 1e-6
(relative to the largest gradient entry), while a wrong one is off by O(1).  Power: each
deliberately wrong backward below (batch statistics treated as constants, missing WN projection,
flipped conv taps, mask not applied, ...) must exceed 1e-2.
"""

from __future__ import annotations

import numpy as np
import pytest

import bnreg.sims.nn.layers as L
import bnreg.sims.nn.norm as N
from bnreg.sims.kernels.batchnorm import norm_apply_backward, norm_apply_backward_relu
from bnreg.sims.nn import CNNConfig, build_cnn, softmax_cross_entropy
from bnreg.sims.nn.dropout import Dropout
from bnreg.sims.nn.norm import Norm

TOL = 1e-6
WRONG = 1e-2
H = 1e-5


def rel_err(a: np.ndarray, n: np.ndarray) -> float:
    return float(np.max(np.abs(a - n)) / max(np.max(np.abs(n)), 1e-12))


def numeric_grad(f, arr: np.ndarray, idx=None) -> tuple[np.ndarray, np.ndarray]:
    """Central differences of scalar f() w.r.t. arr (in place) at flat indices idx (default all)."""
    flat = arr.reshape(-1)
    idx = np.arange(flat.size) if idx is None else idx
    g = np.empty(len(idx))
    for k, i in enumerate(idx):
        old = flat[i]
        flat[i] = old + H
        fp = f()
        flat[i] = old - H
        fm = f()
        flat[i] = old
        g[k] = (fp - fm) / (2 * H)
    return g, idx


def layer_errors(layer, x: np.ndarray, training: bool, reset=None) -> dict[str, float]:
    """Max relative error of dx and of every parameter gradient of `layer` at x."""
    rng = np.random.default_rng(1)
    reset = reset or (lambda: None)
    reset()
    y = layer.forward(x, training)
    r = rng.standard_normal(y.shape)

    def f():
        reset()
        return float(np.sum(r * layer.forward(x, training)))

    reset()
    layer.forward(x, training)
    dx = layer.backward(r.copy())
    grads = {p.name: p.grad.copy() for p in layer.params}
    out = {}
    if dx is not None:
        out["x"] = rel_err(dx.reshape(-1), numeric_grad(f, x)[0])
    for p in layer.params:
        out[p.name] = rel_err(grads[p.name].reshape(-1), numeric_grad(f, p.value)[0])
    return out


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


F64 = np.dtype(np.float64)


# ------------------------------------------------------------------------------------------------
# layers
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kernel,shape", [((3, 3), (2, 5, 4, 3)), ((1, 3), (3, 1, 7, 2)), ((5, 3), (2, 6, 5, 2)),
                                          ((1, 1), (2, 3, 3, 2))])
@pytest.mark.parametrize("wn", [False, True])
def test_conv(kernel, shape, wn):
    conv = L.Conv2D("c", shape[-1], 4, kernel, np.random.default_rng(0), F64, bias=not wn, weight_norm=wn)
    errs = layer_errors(conv, rand(*shape), True)
    assert max(errs.values()) < TOL, errs


@pytest.mark.parametrize("wn", [False, True])
def test_dense(wn):
    d = L.Dense("d", 6, 5, np.random.default_rng(0), F64, bias=True, weight_norm=wn)
    errs = layer_errors(d, rand(4, 6), True)
    assert max(errs.values()) < TOL, errs


@pytest.mark.parametrize("pool,shape", [((2, 2), (2, 4, 6, 3)), ((2, 2), (2, 5, 5, 2)), ((1, 2), (3, 1, 9, 2))])
def test_maxpool(pool, shape):
    errs = layer_errors(L.MaxPool(pool), rand(*shape), True)
    assert errs["x"] < TOL, errs


def test_relu_flatten_softmax():
    x = rand(3, 2, 4, 5)
    assert layer_errors(L.ReLU(), x, True)["x"] < TOL
    assert layer_errors(L.Flatten(), x, True)["x"] < TOL
    logits, y = rand(5, 4), np.array([0, 3, 1, 1, 2])
    _, d = softmax_cross_entropy(logits, y)
    num, _ = numeric_grad(lambda: softmax_cross_entropy(logits, y)[0], logits)
    assert rel_err(d.reshape(-1), num) < TOL


def _norm(kind: str, c: int = 3, seed: int = 0) -> Norm:
    n = Norm("n", kind, c, F64, momentum=0.3)
    rng = np.random.default_rng(seed)
    n.gamma.value[...] = rng.uniform(0.5, 1.5, c)
    n.beta.value[...] = rng.standard_normal(c)
    n.running_mean[...] = rng.standard_normal(c)
    n.running_var[...] = rng.uniform(0.5, 2.0, c)
    n.set_population(rng.standard_normal(c), rng.uniform(0.5, 2.0, c))
    return n


@pytest.mark.parametrize("kind", N.NORM_KINDS)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(3, 2, 4, 3), (7, 3)])
@pytest.mark.parametrize("relu", [False, True])
def test_norm(kind, training, shape, relu):
    """Every norm kind, plain and with the fused ReLU (relu=True: max(y, 0), backward dy [y > 0])."""
    n = _norm(kind)  # zeta = 0: the gamma-decay gradient is checked with the penalty in the model tests
    n.relu = relu
    errs = layer_errors(n, rand(*shape) * 2 + 1, training)
    assert max(errs.values()) < TOL, errs
    if relu:  # some outputs are clipped, so the check has power over the mask
        assert 0 < np.mean(n.forward(rand(*shape) * 2 + 1, training) == 0) < 1


@pytest.mark.parametrize("kind", ["bn", "pn"])
def test_power_fused_relu_without_mask(kind):
    """A fused norm + ReLU whose backward forgets the ReLU mask fails the check."""
    n = _norm(kind)
    n.relu = True
    fwd = n.forward

    def forward(x, training):
        y = fwd(x, training)
        n.relu = False  # backward of the plain norm: no mask
        return y

    n.forward = forward
    errs = layer_errors(n, rand(7, 3) * 2 + 1, True, reset=lambda: setattr(n, "relu", True))
    assert errs["x"] > WRONG


@pytest.mark.parametrize("kind", ["bernoulli", "gaussian", "uout"])
def test_dropout(kind):
    d = Dropout(kind, 0.3, np.random.default_rng(0))

    def reset():
        d.rng = np.random.default_rng(5)

    x = rand(4, 3, 2, 5)
    assert layer_errors(d, x, True, reset)["x"] < TOL
    assert layer_errors(d, x, False, reset)["x"] < TOL


# ------------------------------------------------------------------------------------------------
# whole model: every norm (training and inference), dropout kinds and places, PN + gamma decay
# ------------------------------------------------------------------------------------------------
SMALL = dict(in_shape=(4, 4, 2), n_classes=3, widths=(3, 4), fc=5, dtype="float64")


def model_errors(cfg: CNNConfig, training: bool, n_coords: int = 25, x_seed: int = 0) -> dict[str, float]:
    m = build_cnn(cfg)
    x = rand(5, *cfg.in_shape, seed=x_seed) * 1.5 + 0.3
    if cfg.norm == "pn":
        m.refresh_population(rand(40, *cfg.in_shape, seed=9) * 1.5 + 0.3, batch=16)
    for _ in range(3):  # move running statistics away from (0, 1) and gammas away from 1
        m.forward(rand(5, *cfg.in_shape, seed=_ + 3), True)
    prng = np.random.default_rng(2)
    for p in m.parameters():
        if p.name.endswith(("gamma", "beta")):
            p.value[...] += 0.3 * prng.standard_normal(p.value.shape)

    def reset():
        for i, d in enumerate(m.dropouts):
            d.rng = np.random.default_rng(100 + i)

    reset()
    r = np.random.default_rng(1).standard_normal(m.forward(x, training).shape)

    def f():
        reset()
        return float(np.sum(r * m.forward(x, training))) + m.regularizer()

    f()
    m.backward(r.copy())
    out = {}
    for p in m.parameters():
        a = p.grad.reshape(-1).copy()
        idx = np.random.default_rng(3).choice(a.size, min(n_coords, a.size), replace=False)
        num, _ = numeric_grad(f, p.value, idx)
        out[p.name] = float(np.max(np.abs(a[idx] - num)) / max(np.max(np.abs(a)), 1e-12))
    return out


@pytest.mark.parametrize("norm", N.NORMS)
@pytest.mark.parametrize("training", [True, False])
def test_model_norms(norm, training):
    errs = model_errors(CNNConfig(**SMALL, norm=norm), training)
    assert max(errs.values()) < TOL, errs


@pytest.mark.parametrize("dropout", ["bernoulli", "gaussian", "uout"])
@pytest.mark.parametrize("place", ["before", "after", "last"])
def test_model_dropout(dropout, place):
    cfg = CNNConfig(**SMALL, norm="bn", dropout=dropout, p_drop=0.25, dropout_place=place)
    errs = model_errors(cfg, True)
    assert max(errs.values()) < TOL, errs


def test_model_pn_gamma_decay_and_partial_norm():
    errs = model_errors(CNNConfig(**SMALL, norm="pn", gamma_decay=0.05), True)
    assert max(errs.values()) < TOL, errs
    errs = model_errors(CNNConfig(**SMALL, norm="wn_var_bn", norm_layers=(True, False, True)), True)
    assert max(errs.values()) < TOL, errs
    errs = model_errors(CNNConfig(in_shape=(1, 8, 2), n_classes=3, widths=(3, 2), fc=4, dtype="float64",
                                  norm="bn"), True)
    assert max(errs.values()) < TOL, errs


@pytest.mark.parametrize("training", [True, False])
def test_model_mlp(training):
    """widths=() and several hidden fc layers (the MLP), BN with dropout before every BN."""
    cfg = CNNConfig(in_shape=(2, 3, 2), n_classes=3, widths=(), fc=(5, 4, 3), dtype="float64", norm="bn",
                    dropout="bernoulli", p_drop=0.25, dropout_place="before", norm_layers=(True, False, True))
    errs = model_errors(cfg, training)
    assert max(errs.values()) < TOL, errs


# ------------------------------------------------------------------------------------------------
# power: deliberately wrong backward passes must fail the same checks
# ------------------------------------------------------------------------------------------------
def _stats_as_constants(dy, x, xhat, gamma, mean, inv_std, center, scale, dx, dgamma, dbeta):
    norm_apply_backward(dy, xhat, gamma, inv_std, dx, dgamma, dbeta)


def _stats_as_constants_relu(dy, y, x, xhat, gamma, mean, inv_std, center, scale, dx, dgamma, dbeta, group=1):
    norm_apply_backward_relu(dy, y, xhat, gamma, inv_std, dx, dgamma, dbeta)


@pytest.mark.parametrize("kind", ["bn", "wn_mean_bn", "wn_var_bn"])
def test_power_bn_ignoring_batch_statistics(monkeypatch, kind):
    monkeypatch.setattr(N, "bn_backward", _stats_as_constants)
    monkeypatch.setattr(N, "bn_backward_relu", _stats_as_constants_relu)  # the model fuses norm + ReLU
    assert layer_errors(_norm(kind), rand(6, 3) * 2 + 1, True)["x"] > WRONG
    assert max(model_errors(CNNConfig(**SMALL, norm=kind), True).values()) > WRONG


def test_power_wn_without_projection(monkeypatch):
    monkeypatch.setattr(L, "wn_backward", lambda dw, w, inv: dw * inv)
    conv = L.Conv2D("c", 2, 3, (3, 3), np.random.default_rng(0), F64, bias=False, weight_norm=True)
    assert layer_errors(conv, rand(2, 4, 4, 2), True)["c.v"] > WRONG


def test_power_conv_unflipped_taps(monkeypatch):
    monkeypatch.setattr(L, "flip_kernel", lambda w, kh, kw, c_in: np.ascontiguousarray(
        w.reshape(kh, kw, c_in, -1).transpose(0, 1, 3, 2).reshape(-1, c_in)))  # transpose without the flip
    conv = L.Conv2D("c", 2, 3, (3, 3), np.random.default_rng(0), F64)
    assert layer_errors(conv, rand(2, 4, 4, 2), True)["x"] > WRONG


def test_power_dropout_mask_not_applied(monkeypatch):
    monkeypatch.setattr(Dropout, "backward", lambda self, dy: dy)
    d = Dropout("bernoulli", 0.3, np.random.default_rng(0))

    def reset():
        d.rng = np.random.default_rng(5)

    assert layer_errors(d, rand(4, 6), True, reset)["x"] > WRONG


def test_power_maxpool_and_relu(monkeypatch):
    monkeypatch.setattr(L.ReLU, "backward", lambda self, dy: dy)
    assert layer_errors(L.ReLU(), rand(3, 5), True)["x"] > WRONG
    x = rand(2, 4, 4, 2)
    # route the gradient to each window's first element instead of its maximum
    orig = L.maxpool_backward_kernel

    def wrong(dy, arg, ph, pw, b0, b1, dx):
        orig(dy, np.zeros_like(arg), ph, pw, b0, b1, dx)

    monkeypatch.setattr(L, "maxpool_backward_kernel", wrong)
    assert layer_errors(L.MaxPool((2, 2)), x, True)["x"] > WRONG


def test_power_pn_gamma_decay_gradient_missing(monkeypatch):
    orig = Norm.backward

    def no_decay(self, dy):
        z, self.zeta = self.zeta, 0.0
        try:
            return orig(self, dy)
        finally:
            self.zeta = z

    monkeypatch.setattr(Norm, "backward", no_decay)
    errs = model_errors(CNNConfig(**SMALL, norm="pn", gamma_decay=0.5), True)
    assert max(v for k, v in errs.items() if k.endswith("gamma")) > WRONG

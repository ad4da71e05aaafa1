"""sims.nn model: config validation, shapes, dtypes, reproducibility, conventions (BN momentum,
dropout mask moments and schedules, SGD), PN population statistics and the gamma-decay estimate."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from bnreg.params import ParameterError
from bnreg.sims.nn import SGD, CNNConfig, Parameter, build_cnn, softmax_cross_entropy
from bnreg.sims.nn.dropout import Dropout, cutoff_step, scheduled_rate
from bnreg.sims.nn.gemm import im2col
from bnreg.sims.nn.layers import Conv2D, Dense
from bnreg.sims.nn.norm import Norm
from bnreg.sims.nn.optim import scheduled_lr

SMALL = dict(in_shape=(6, 6, 2), n_classes=4, widths=(3, 4, 4, 5), fc=7)


@pytest.mark.parametrize("field,value,msg", [
    ("norm", "batchnorm", "norm must be one of"),
    ("dropout", "spatial", "dropout must be one of"),
    ("p_drop", 1.0, "p_drop must satisfy 0 <= p_drop < 1"),
    ("p_drop", -0.1, "p_drop must satisfy 0 <= p_drop < 1"),
    ("dropout_place", "middle", "dropout_place must be one of"),
    ("dropout_schedule", "cosine", "dropout_schedule must be one of"),
    ("kernel", 2, "kernel must be an odd integer"),
    ("widths", "x", "widths must be an integer, 1 <= widths"),
    ("widths", (3, 0), "widths[1]"),
    ("n_classes", 1, "n_classes"),
    ("in_shape", (6, 6), "in_shape must be 3 values (comma-separated), each 1 <= in_shape[i]"),
    ("in_shape", (6, 1, 2), "in_shape must allow"),
    ("norm_layers", (True, False), "norm_layers must be None or a tuple of len(widths) + 1 = 5 booleans"),
    ("bn_momentum", 1.5, "bn_momentum"),
    ("gamma_decay", -1.0, "gamma_decay"),
    ("dtype", "float16", "dtype must be one of"),
])
def test_config_errors(field, value, msg):
    with pytest.raises(ParameterError, match=re.escape(msg)):  # at construction, before any model
        CNNConfig(**{**SMALL, field: value})


def test_library_parts_refuse_bad_arguments_with_parameter_error():
    """The layers, norm, dropout and schedules raise ParameterError (a ValueError naming the
    argument and its choices), not a bare ValueError."""
    rng = np.random.default_rng(0)
    for make, needle in [
        (lambda: Conv2D("c", 2, 3, (2, 3), rng, np.dtype("float32")), "kernel must be odd"),
        (lambda: Norm("n", "layernorm", 3), "kind must be one of bn, pn"),
        (lambda: Dropout("spatial", 0.5, rng), "dropout must be one of none, bernoulli"),
        (lambda: scheduled_rate(0.5, "cosine", 0, 10), "dropout_schedule must be one of"),
        (lambda: scheduled_lr(0.1, "exp", 0, 10), "lr_schedule must be one of"),
    ]:
        with pytest.raises(ParameterError, match=needle):
            make()


@pytest.mark.parametrize("in_shape", [(1, 40, 1), (8, 8, 1), (6, 7, 3)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_shapes_dtypes(in_shape, dtype):
    m = build_cnn(CNNConfig(**{**SMALL, "in_shape": in_shape, "dtype": dtype}, norm="bn"))
    x = np.random.default_rng(0).standard_normal((3, *in_shape))
    for training in (True, False):
        out = m.forward(x, training)
        assert out.shape == (3, 4) and out.dtype == np.dtype(dtype)
    m.backward(np.ones((3, 4)))
    for p in m.parameters():
        assert p.grad.shape == p.value.shape and p.value.dtype == np.dtype(dtype)
    with pytest.raises(ParameterError, match="x must have shape"):
        m.forward(np.zeros((3, *in_shape[:2], in_shape[2] + 1)), True)
    with pytest.raises(ParameterError, match="finite"):
        m.forward(np.full((2, *in_shape), np.nan), True)


def test_inference_is_chunked_consistently():
    m = build_cnn(CNNConfig(**SMALL, norm="bn", dtype="float64"))
    x = np.random.default_rng(0).standard_normal((10, *SMALL["in_shape"]))
    m.forward(x, True)
    full = m.forward(x, False)
    m.eval_batch = 3
    np.testing.assert_allclose(m.forward(x, False), full, rtol=1e-12)


def test_parameter_names_and_layout():
    m = build_cnn(CNNConfig(**SMALL, norm="wn", norm_layers=(True, False, True, True, False)))
    names = [p.name for p in m.parameters()]
    assert names[:4] == ["conv1.v", "conv1.gamma", "conv1.beta", "conv2.w"]
    assert "conv2.b" in names and "fc1.b" in names and names[-2:] == ["out.w", "out.b"]
    assert set(m.gamma2()) == {"conv1", "conv3", "conv4"}


def _train_steps(cfg: CNNConfig, steps: int = 3) -> list[np.ndarray]:
    m = build_cnn(cfg)
    opt = SGD(m.parameters(), lr=0.05)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((8, *cfg.in_shape)), rng.integers(0, cfg.n_classes, 8)
    for _ in range(steps):
        loss, d = softmax_cross_entropy(m.forward(x, True), y)
        m.backward(d)
        opt.step()
    return [p.value.copy() for p in m.parameters()]


def test_reproducible_by_seed():
    cfg = CNNConfig(**SMALL, norm="bn", dropout="gaussian", p_drop=0.2)
    a, b = _train_steps(cfg), _train_steps(cfg)
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    c = _train_steps(dataclasses.replace(cfg, seed=1))
    assert not np.array_equal(a[0], c[0])


def test_bn_running_statistics_momentum():
    """running = (1-m) running + m batch; running var uses the unbiased batch variance."""
    m = build_cnn(CNNConfig(**SMALL, norm="bn", bn_momentum=0.25, dtype="float64"))
    x = np.random.default_rng(0).standard_normal((5, *SMALL["in_shape"])) * 3 + 1
    m.forward(x, True)
    z = im2col(x, 3, 3) @ m.layers[0].W.value   # conv1 pre-activation, (B*H*W, C)
    n1 = m.norms[0]
    np.testing.assert_allclose(n1.running_mean, 0.25 * z.mean(0), rtol=1e-10)
    np.testing.assert_allclose(n1.running_var, 0.75 + 0.25 * z.var(0, ddof=1), rtol=1e-10)


def test_pn_needs_population_and_uses_it():
    cfg = CNNConfig(**SMALL, norm="pn", dtype="float64")
    m = build_cnn(cfg)
    x = np.random.default_rng(0).standard_normal((30, *SMALL["in_shape"])) + 0.5
    with pytest.raises(RuntimeError, match="refresh_population"):
        m.forward(x[:4], True)
    m.refresh_population(x, batch=7)
    z = im2col(x, 3, 3) @ m.layers[0].W.value
    n1 = m.norms[0]
    np.testing.assert_allclose(n1.pop_mean, z.mean(0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(n1.pop_var, z.var(0), rtol=1e-10)
    # PN output does not depend on the rest of the batch (unlike BN)
    a = m.forward(x[:4], True)
    b = m.forward(x[:8], True)[:4]
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_gamma_decay_fc_layer_reduces_to_glm_formula():
    """fc layer (S = 1): zeta = (rho + 2)/(8M) F_gamma + a/(2M) with rho = E[u^4] - 3,
    F_gamma = mean H(hbar) u^2, a = mean H(hbar) over the training set (Luo et al. 2019,
    arXiv:1809.00846, eq. 8 with ReLU; docs/gamma_decay.md)."""
    cfg = CNNConfig(**SMALL, norm="pn", dtype="float64")
    m = build_cnn(cfg)
    rng = np.random.default_rng(3)
    for n in m.norms:
        n.gamma.value[...] = rng.uniform(0.5, 1.5, n.channels)
        n.beta.value[...] = rng.standard_normal(n.channels) * 0.5
    x = rng.standard_normal((50, *SMALL["in_shape"]))
    m.refresh_population(x, batch=16)
    m.forward(x[:10], True)  # M = 10
    fcn = m.norms[-1]
    m.forward(x, False)
    u = fcn._xhat
    hbar = fcn.gamma.value * u + fcn.beta.value
    on = hbar > 0
    rho = (u ** 4).mean(0) - 3
    want = np.mean((rho + 2) / (8 * 10) * (on * u ** 2).mean(0) + on.mean(0) / (2 * 10))
    assert fcn.zeta == pytest.approx(want, rel=1e-4)  # u uses var_P + eps: differences O(eps/var_P)
    # power: the same formula with the kurtosis term dropped differs
    assert abs(np.mean(on.mean(0) / 20) - want) > 1e-3 * want
    assert m.regularizer() == pytest.approx(sum(n.zeta * np.sum(n.gamma.value ** 2) for n in m.norms))
    assert set(m.gamma_decay_stats) == {"conv1", "conv2", "conv3", "conv4", "fc1"}


def test_running_refresh_for_bn():
    m = build_cnn(CNNConfig(**SMALL, norm="bn", dtype="float64"))
    x = np.random.default_rng(0).standard_normal((20, *SMALL["in_shape"])) + 2
    m.refresh_population(x)  # no-op for BN
    assert np.all(m.norms[0].running_mean == 0)
    m.refresh_population(x, running=True)
    z = im2col(x, 3, 3) @ m.layers[0].W.value
    np.testing.assert_allclose(m.norms[0].running_mean, z.mean(0), rtol=1e-10)


@pytest.mark.parametrize("kind", ["bernoulli", "gaussian", "uout"])
def test_dropout_mask_moments(kind):
    """E[m] = 1 and Var[m] = p/(1-p), within 4.5 standard errors (false alarm ~ 1e-5 per check)."""
    p, n = 0.3, 400_000
    m = Dropout(kind, p, np.random.default_rng(0)).mask((n,), np.dtype(np.float64))
    v = p / (1 - p)
    assert abs(m.mean() - 1) < 4.5 * np.sqrt(v / n)
    se_var = np.sqrt((np.mean((m - 1) ** 4) - v ** 2) / n)
    assert abs(m.var() - v) < 4.5 * se_var
    assert abs(m.var() - 1.2 * v) > 4.5 * se_var  # power: a 20% wrong variance is detected


def test_dropout_schedules_and_cutoff():
    assert scheduled_rate(0.2, "constant", 90, 25) == 0.2
    assert scheduled_rate(0.2, "early", 10, 25) == 0.2 and scheduled_rate(0.2, "early", 25, 25) == 0
    assert scheduled_rate(0.2, "late", 24, 25) == 0 and scheduled_rate(0.2, "late", 25, 25) == 0.2
    # early_linear: p at t = 0, linear to 0 at t = T_c - 1, then 0
    assert scheduled_rate(0.2, "early_linear", 0, 5) == 0.2
    assert scheduled_rate(0.2, "early_linear", 2, 5) == pytest.approx(0.1)
    assert scheduled_rate(0.2, "early_linear", 4, 5) == 0 and scheduled_rate(0.2, "early_linear", 9, 5) == 0
    assert scheduled_rate(0.2, "early_linear", 0, 1) == 0
    # the cutoff from a progress fraction switches exactly where t/total < switch does
    for switch in (0.0, 0.1, 0.25, 0.3, 1 / 3, 0.7, 1.0):
        for total in (1, 3, 7, 10, 30, 100, 1001):
            tc = cutoff_step(switch, total)
            assert all((t < tc) == (t / total < switch) for t in range(total + 1)), (switch, total)
    m = build_cnn(CNNConfig(**SMALL, dropout="bernoulli", p_drop=0.5, dropout_schedule="late"))
    x = np.random.default_rng(0).standard_normal((4, *SMALL["in_shape"]))
    np.testing.assert_array_equal(m.forward(x, True), m.forward(x, False))  # off before the switch
    m.set_step(5, 10)
    assert not np.allclose(m.forward(x, True), m.forward(x, False))
    m2 = build_cnn(CNNConfig(**SMALL, dropout="bernoulli", p_drop=0.5, dropout_schedule="early",
                             dropout_cutoff=3))
    m2.set_step(2, 100)
    assert m2.dropouts[0].rate == 0.5
    m2.set_step(3, 100)
    assert m2.dropouts[0].rate == 0.0  # set_step is the loop's per-step counter: not validated


def test_sgd_momentum_convention():
    p = Parameter("w", np.array([1.0, 2.0]), np.array([0.5, -1.0]))
    opt = SGD([p], lr=0.1, momentum=0.9)
    opt.step()
    opt.step()  # v1 = g, v2 = 0.9 g + g
    np.testing.assert_allclose(p.value, np.array([1.0, 2.0]) - 0.1 * (1 + 1.9) * np.array([0.5, -1.0]))
    with pytest.raises(ParameterError, match="lr"):
        SGD([p], lr=0.0)
    with pytest.raises(ParameterError, match="momentum"):
        SGD([p], lr=0.1, momentum=1.0)


def test_softmax_cross_entropy_values_and_errors():
    logits = np.array([[0.0, 0.0], [2.0, 0.0]])
    loss, d = softmax_cross_entropy(logits, np.array([0, 1]))
    assert loss == pytest.approx(0.5 * (np.log(2) + np.log(1 + np.exp(2))))
    np.testing.assert_allclose(d.sum(1), 0, atol=1e-15)
    with pytest.raises(ParameterError, match="labels"):
        softmax_cross_entropy(logits, np.array([0, 2]))


def test_dense_initialization_scale():
    d = Dense("d", 400, 300, np.random.default_rng(0), np.dtype(np.float64))
    assert d.W.value.std() == pytest.approx(np.sqrt(2 / 400), rel=0.02)  # He: se of std ~ 1/sqrt(2n) = 0.2%


def _train_params(threads: int, cfg: CNNConfig, steps: int = 3) -> list[np.ndarray]:
    from bnreg.runtime import thread_limits

    with thread_limits(threads):
        m = build_cnn(cfg)
        opt = SGD(m.parameters(), lr=0.05)
        rng = np.random.default_rng(3)
        for _ in range(steps):
            x = rng.standard_normal((16, *cfg.in_shape)).astype(cfg.dtype)
            y = rng.integers(0, cfg.n_classes, 16)
            _, d = softmax_cross_entropy(m.forward(x, True), y)
            m.backward(d)
            opt.step()
        return [p.value.copy() for p in m.parameters()] + [n.running_var.copy() for n in m.norms]


@pytest.mark.parametrize("in_shape", [(1, 12, 2), (6, 6, 2)])
def test_training_is_bit_identical_on_1_and_2_threads(monkeypatch, in_shape):
    """Parts are fixed by the problem size (bnreg.runtime.n_parts), so a few SGD steps (BN, dropout, every
    layer split into parts: thresholds lowered) give bit-identical parameters on 1 and 2 threads."""
    import bnreg.sims.nn.gemm as G
    from bnreg.runtime import MAX_PARTS, n_parts

    monkeypatch.setattr(G, "MIN_FLOPS", 1000)
    monkeypatch.setattr(G, "PAR_MIN", 64)
    assert n_parts(1000, 100) == MAX_PARTS
    cfg = CNNConfig(in_shape, 3, (4, 6), (8, 5), norm="bn", dropout="bernoulli", p_drop=0.2, seed=1)
    one, two = _train_params(1, cfg), _train_params(2, cfg)
    assert all(np.array_equal(a, b) for a, b in zip(one, two, strict=True))

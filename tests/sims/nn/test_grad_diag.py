"""Gradient diagnostics of the network library (sims/nn/diagnostics.py; docs/dropout.md, part 2):
GDV and GDE on hand-computed cases, the full-data gradient against finite differences, and their
recording during training without changing the trajectory."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bnreg.params import ParameterError
from bnreg.sims.nn.config import CNNConfig
from bnreg.sims.nn.diagnostics import (
    flat_parameters,
    full_gradient,
    gradient_diagnostics,
    gradient_direction_error,
    gradient_direction_variance,
    minibatch_gradients,
)
from bnreg.sims.nn.model import build_cnn, softmax_cross_entropy
from bnreg.sims.nn.train import train


def test_gdv_hand_computed():
    # identical directions: 0; two orthogonal: 1; opposite: 2; scale-free
    assert gradient_direction_variance(np.array([[1.0, 2.0], [2.0, 4.0], [0.5, 1.0]])) == pytest.approx(0.0, abs=1e-15)
    assert gradient_direction_variance(np.array([[3.0, 0.0], [0.0, 0.1]])) == pytest.approx(1.0)
    assert gradient_direction_variance(np.array([[1.0, 1.0], [-2.0, -2.0]])) == pytest.approx(2.0)
    # (1,0), (0,1), (1,1): pairs cos 0, 1/sqrt2, 1/sqrt2 -> (1 + 2 (1 - 1/sqrt2))/3
    g = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert gradient_direction_variance(g) == pytest.approx((1 + 2 * (1 - 1 / math.sqrt(2))) / 3)


def test_gde_hand_computed():
    g = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert gradient_direction_error(g, np.array([2.0, 0.0])) == pytest.approx((0 + 1 + 1 - 1 / math.sqrt(2)) / 3)
    assert gradient_direction_error(np.array([[0.0, -1.0]]), np.array([0.0, 5.0])) == pytest.approx(2.0)


@pytest.mark.parametrize("call", [
    lambda: gradient_direction_variance(np.ones((1, 3))), lambda: gradient_direction_variance(np.ones(3)),
    lambda: gradient_direction_variance(np.array([[1.0, 0.0], [0.0, 0.0]])),
    lambda: gradient_direction_variance(np.array([[1.0, np.nan], [0.0, 1.0]])),
    lambda: gradient_direction_error(np.ones((2, 3)), np.ones(2)),
    lambda: gradient_direction_error(np.ones((2, 3)), np.zeros(3))])
def test_bad_input(call):
    with pytest.raises(ParameterError):
        call()


TINY = dict(in_shape=(1, 8, 1), n_classes=3, widths=(), fc=(5, 4), dtype="float64", seed=3)


@pytest.mark.parametrize("norm", ["none", "bn"])
def test_full_gradient_is_the_inference_mode_gradient(norm):
    """Central finite differences of the inference-mode mean loss over 300 examples (two eval chunks),
    with dropout present (off at inference); biases moved off 0 so that no pre-activation sits on a kink."""
    m = build_cnn(CNNConfig(**TINY, norm=norm, dropout="bernoulli", p_drop=0.3))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 1, 8, 1))
    y = rng.integers(0, 3, 300)
    for p in m.parameters():  # off the ReLU kinks: a zero bias puts the pre-activation of a dead input at 0
        if p.name.endswith(".b") or p.name.endswith(".beta"):
            p.value[...] = rng.standard_normal(p.value.shape) * 0.3
    if norm == "bn":
        for n in m.norms:
            n.running_mean[...] = rng.standard_normal(n.channels) * 0.1
            n.running_var[...] = 1 + rng.random(n.channels)
    before = flat_parameters(m)
    g = full_gradient(m, x, y)
    assert np.array_equal(flat_parameters(m), before)

    def loss() -> float:
        return softmax_cross_entropy(m.forward(x, training=False), y)[0]

    params = m.parameters()
    for _ in range(6):
        p = params[rng.integers(len(params))]
        j = rng.integers(p.value.size)
        off = sum(q.value.size for q in params[:params.index(p)])
        old = p.value.flat[j]
        p.value.flat[j] = old + 1e-6
        lp = loss()
        p.value.flat[j] = old - 1e-6
        lm = loss()
        p.value.flat[j] = old
        assert g[off + j] == pytest.approx((lp - lm) / 2e-6, rel=1e-5, abs=1e-9)


def test_minibatch_gradients_leave_the_model_alone():
    m = build_cnn(CNNConfig(**TINY, norm="bn", dropout="bernoulli", p_drop=0.5))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 1, 8, 1))
    y = rng.integers(0, 3, 64)
    rm = [n.running_mean.copy() for n in m.norms]
    state = m.dropouts[0].rng.bit_generator.state
    G = minibatch_gradients(m, x, y, 16, 5, seed=7)
    assert G.shape == (5, flat_parameters(m).size)
    assert np.array_equal(G, minibatch_gradients(m, x, y, 16, 5, seed=7))
    assert all(np.array_equal(a, n.running_mean) for a, n in zip(rm, m.norms, strict=True))
    assert m.dropouts[0].rng.bit_generator.state == state
    d = gradient_diagnostics(m, x, y, 16, 5, seed=7, theta0=flat_parameters(m))
    assert 0 < d["gdv"] < 2 and 0 < d["gde"] < 2 and d["dist_init"] == 0 and d["grad_norm"] > 0


def test_training_records_diagnostics_without_changing_the_run():
    base = dict(dataset="digits", n_train=128, n_val=64, batch=32, widths=(), fc=8, steps=12, seed=2,
                dropout="bernoulli", p_drop=0.2, eval_every=6)
    a = train(CNNConfig(**base), progress=False)
    b = train(CNNConfig(**base, grad_diag_every=4, grad_diag_batches=3), progress=False)
    assert a["curves"]["train_loss"] == b["curves"]["train_loss"]
    gd = b["grad_diagnostics"]
    assert gd["step"] == [0, 4, 8] and gd["dist_init"][0] == 0 and gd["dist_init"][2] > 0
    assert a["grad_diagnostics"] == {}


def test_the_other_conventions():
    """Without dropout the training-mode full gradient is the inference-mode one and the dropout-off
    minibatches are the training ones (no BN), so gde_train = gde, gdv_eval = gdv; with dropout the
    training-mode full gradient averages one mask per example: it differs from the inference gradient,
    and its mean over many seeds approaches the expected training-mode gradient (its spread shrinks as
    1/sqrt(examples))."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((400, 1, 8, 1))
    y = rng.integers(0, 3, 400)
    m0 = build_cnn(CNNConfig(**TINY, dropout="bernoulli", p_drop=0.0))
    d0 = gradient_diagnostics(m0, x, y, 16, 6, seed=2, other_conventions=True)
    assert d0["gde_train"] == pytest.approx(d0["gde"], rel=1e-12)
    assert d0["gdv_eval"] == pytest.approx(d0["gdv"], rel=1e-12)
    assert d0["gde_eval"] == pytest.approx(d0["gde"], rel=1e-12)
    m = build_cnn(CNNConfig(**TINY, dropout="bernoulli", p_drop=0.5))
    g_inf = full_gradient(m, x, y)
    g_tr = [full_gradient(m, x, y, training=True, seed=s) for s in range(4)]
    assert not np.allclose(g_tr[0], g_inf)
    assert np.array_equal(g_tr[0], full_gradient(m, x, y, training=True, seed=0))  # seeded
    d = gradient_diagnostics(m, x, y, 16, 6, seed=2, other_conventions=True)
    assert set(d) >= {"gde_train", "gdv_eval", "gde_eval"} and all(0 <= d[k] <= 2 for k in d if k.startswith("g"))


def test_training_records_the_other_conventions():
    base = dict(dataset="digits", n_train=128, n_val=64, batch=32, widths=(), fc=8, steps=8, seed=2,
                dropout="bernoulli", p_drop=0.2, eval_every=4, grad_diag_every=4, grad_diag_batches=3)
    a = train(CNNConfig(**base), progress=False)
    b = train(CNNConfig(**base, grad_diag_conventions=True), progress=False)
    assert a["curves"]["train_loss"] == b["curves"]["train_loss"]
    assert "gde_train" not in a["grad_diagnostics"] and len(b["grad_diagnostics"]["gde_train"]) == 2
    assert b["grad_diagnostics"]["gde"] == a["grad_diagnostics"]["gde"]

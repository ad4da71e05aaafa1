"""The training loop of sims/nn/train.py (with sims/nn/config.py and sims/nn/checkpoint.py):
validation, schedule bookkeeping (PN refreshes, evaluation in inference mode), divergence handling,
checkpoint/resume, with a tiny stand-in model for the loop's logic and the real CNN (sims.nn.model)
for the end-to-end checks."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from bnreg.params import ParameterError
from bnreg.sims.nn import train as T
from bnreg.sims.nn.config import CNNConfig, config_from_strings
from bnreg.sims.nn.data import load_dataset
from bnreg.sims.nn.optim import scheduled_lr

# ------------------------------------------------------------------------- stand-in model


class _P:
    def __init__(self, name, value):
        self.name, self.value, self.grad = name, value, np.zeros_like(value)


class StandIn:
    """Softmax regression with a multiplicative gamma and training-mode noise: enough of the
    model API (forward/backward/parameters/regularizer/refresh_population/gamma2/set_step)
    to test the loop.  Logs every refresh (with the training steps done by then) and forward mode."""

    all_refreshes: list = []  # every refresh, including those on evaluation copies

    def __init__(self, in_dim, k, seed, noise=0.0, nan_at=None):
        rng = np.random.default_rng(seed)
        self.W = _P("w", (0.01 * rng.standard_normal((in_dim, k))).astype(np.float32))
        self.g = _P("gamma", np.ones(1, np.float32))
        self.rng = np.random.default_rng(seed + 1)
        self.noise, self.nan_at = noise, nan_at
        self.refreshes, self.modes, self.progress, self.n_fwd = [], [], 0.0, 0

    def forward(self, x, training):
        self.modes.append(training)
        self.x = x.reshape(len(x), -1)
        self.s = self.x @ self.W.value
        mult = 1.0 + (self.noise * self.rng.standard_normal(self.s.shape) if training else 0.0)
        self.mult = mult
        out = self.g.value[0] * self.s * mult
        if training:
            self.n_fwd += 1
            if self.nan_at is not None and self.n_fwd > self.nan_at:
                out = out * np.nan
        return out.astype(np.float32)

    def backward(self, d):
        self.g.grad[...] = np.sum(d * self.s * self.mult)
        self.W.grad[...] = self.x.T @ (d * self.g.value[0] * self.mult)

    def parameters(self):
        return [self.W, self.g]

    def regularizer(self):
        return 0.0

    def refresh_population(self, x, batch=256):
        self.refreshes.append((len(x), self.n_fwd))
        StandIn.all_refreshes.append((len(x), self.n_fwd))

    def gamma2(self):
        return {"g": float(self.g.value[0] ** 2)}

    def set_step(self, step, total):
        self.progress = step / total


class SGDStandIn:
    def __init__(self, params, lr, momentum=0.9):
        self.params, self.lr, self.m = params, lr, momentum
        self._v = [np.zeros_like(p.value) for p in params]

    def step(self):
        for p, v in zip(self.params, self._v, strict=True):
            v *= self.m
            v += p.grad
            p.value -= self.lr * v


@pytest.fixture
def standin(monkeypatch):
    made = []

    def build(cfg):
        m = StandIn(int(np.prod(cfg.in_shape)), cfg.n_classes, cfg.seed, **build.kw)
        made.append(m)
        return m

    build.kw = {}
    monkeypatch.setattr(T, "_build_model", build)
    monkeypatch.setattr(T, "_make_optimizer", lambda p, lr, mom: SGDStandIn(p, lr, mom))
    monkeypatch.setattr(T, "_loss_fn", lambda: _sce)
    return build, made


def _sce(logits, y):
    z = logits.astype(np.float64)
    z = z - z.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    p = np.exp(logp)
    p[np.arange(len(y)), y] -= 1
    return float(-logp[np.arange(len(y)), y].mean()), (p / len(y)).astype(np.float32)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", n_train=640, n_val=300)


BASE = CNNConfig(dataset="digits", n_train=640, n_val=300, batch=64, lr=0.05, epochs=3)


# ------------------------------------------------------------------------- validation


@pytest.mark.parametrize("change, needle", [
    ({"batch": 700}, "batch must satisfy batch <= n_train = 640"),
    ({"p_drop": 1.0}, "p_drop"),
    ({"p_drop": -0.1}, "p_drop"),
    ({"norm": "layernorm"}, "norm must be one of"),
    ({"dropout": "spatial"}, "dropout must be one of"),
    ({"dataset": "imagenet"}, "dataset must be one of"),
    ({"lr_schedule": "exp"}, "lr_schedule must be one of"),
    ({"dropout_place": "middle"}, "dropout_place"),
    ({"lr": 0.0}, "lr"),
    ({"momentum": 1.0}, "momentum"),
    ({"epochs": 0}, "epochs"),
    ({"norm_layers": (True, False)}, "norm_layers must be None or a tuple of len(widths) + 1 = 5"),
    ({"widths": (4, 0)}, "widths[1]"),
    ({"fc": (8, 0)}, "fc[1]"),
    ({"dataset": "cifar10"}, "data_dir"),
    ({"bn_momentum": 0.0}, "bn_momentum"),
])
def test_bad_config_one_line_error(change, needle):
    with pytest.raises(ParameterError) as e:
        dataclasses.replace(BASE, **change)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_batch_larger_than_default_training_set(digits, standin):
    cfg = dataclasses.replace(BASE, n_train=None, n_val=1000, batch=900)  # 797 training examples
    with pytest.raises(ParameterError, match="batch must satisfy batch <= n_train = 797"):
        T.train(cfg, progress=False)


def test_config_from_strings():
    cfg = config_from_strings({"widths": "4,4,8,8", "norm_layers": "1,0,0,0,0", "p_drop": "0.125",
                                 "dropout": "bernoulli", "batch": "32", "n_val": "none"})
    assert cfg.widths == (4, 4, 8, 8) and cfg.norm_layers == (True, False, False, False, False)
    assert cfg.p_drop == 0.125 and cfg.batch == 32 and cfg.n_val is None
    with pytest.raises(ParameterError, match="unknown config key 'bacth'"):
        config_from_strings({"bacth": "3"})
    with pytest.raises(ParameterError, match="batch must be an integer"):
        config_from_strings({"batch": "six"})


# ------------------------------------------------------------------------- loop logic


def test_schedule_bookkeeping(digits, standin):
    build, made = standin
    StandIn.all_refreshes.clear()
    cfg = dataclasses.replace(BASE, norm="pn", pn_refresh=4, eval_every=5, epochs=2)  # 10 steps/epoch
    r = T.train(cfg, progress=False, data=digits)
    m = made[-1]
    assert r["steps"] == 20 and r["steps_per_epoch"] == 10
    # (size, training steps done): the trained model is refreshed before step 0 and every 4 steps;
    # each evaluation refreshes a copy of the model (on the whole training set)
    assert m.refreshes == [(640, s) for s in (0, 4, 8, 12, 16)]
    assert StandIn.all_refreshes == [(640, s) for s in (0, 0, 4, 5, 8, 10, 12, 15, 16, 20)]
    assert r["curves"]["step"] == [0, 5, 10, 15, 20]
    assert r["curves"]["epoch"] == [0.0, 0.5, 1.0, 1.5, 2.0]
    # evaluation is in inference mode; training steps in training mode
    assert m.modes.count(True) == 20
    # final numbers are the last evaluation of the full sets; gap = val - train
    f = r["final"]
    assert f["train_loss"] == r["curves"]["train_loss"][-1] and f["gap"] == f["val_loss"] - f["train_loss"]
    l0, a0 = T.evaluate(m, digits.x_train, digits.y_train, _sce)
    assert (l0, a0) == (f["train_loss"], f["train_acc"])
    assert r["n_train"] == 640 and r["n_val"] == 300
    assert r["gamma2"]["g"][-1] == f["gamma2"]["g"]
    json.dumps(r)  # JSON-able


def test_learns(digits, standin):
    r = T.train(dataclasses.replace(BASE, epochs=5), progress=False, data=digits)
    c = r["curves"]
    assert c["train_loss"][-1] < 0.5 * c["train_loss"][0]
    assert r["final"]["val_acc"] > 0.8  # chance is 0.1; softmax regression reaches ~0.95 on digits


def test_lr_schedules():
    assert [scheduled_lr(1.0, "step", s, 100) for s in (0, 49, 50, 74, 75, 99)] == pytest.approx(
        [1, 1, 0.1, 0.1, 0.01, 0.01])
    assert [scheduled_lr(1.0, "cosine", s, 100) for s in (0, 50)] == pytest.approx([1, 0.5])
    assert scheduled_lr(0.3, "constant", 99, 100) == 0.3


def test_divergence_is_recorded_not_data(digits, standin, capsys):
    build, _ = standin
    build.kw = {"nan_at": 7}
    cfg = dataclasses.replace(BASE, seed=5)
    r = T.train(cfg, progress=False, data=digits)
    assert r["diverged"] and r["diverged_step"] == 7 and r["final"] == {}
    assert "step 7" in r["message"] and "seed=5" in r["message"] and "dataset=digits" in r["message"]
    assert "step 7" in capsys.readouterr().err
    # genuinely exploding SGD on the real model: huge lr
    build.kw = {}


def test_real_model_divergence(digits):
    cfg = dataclasses.replace(BASE, widths=(4, 4, 4, 4), fc=16, lr=1e4, momentum=0.99, epochs=2)
    r = T.train(cfg, progress=False, data=digits, threads=1)
    assert r["diverged"] and r["final"] == {} and r["diverged_step"] is not None


def test_checkpoint_resume_standin(tmp_path, digits, standin):
    build, made = standin
    build.kw = {"noise": 0.3}  # training noise from the model's own Generator: must be restored too
    cfg = dataclasses.replace(BASE, epochs=3, eval_every=7)
    full = T.train(cfg, progress=False, data=digits)

    class Stop(Exception):
        pass

    orig = StandIn.forward

    def interrupted(self, x, training):
        if training and self.n_fwd == 17:
            raise Stop
        return orig(self, x, training)

    StandIn.forward = interrupted
    try:
        with pytest.raises(Stop):
            T.train(cfg, progress=False, data=digits, checkpoint_dir=tmp_path)
    finally:
        StandIn.forward = orig
    r = T.train(cfg, progress=False, data=digits, checkpoint_dir=tmp_path)
    assert r["resumed_from"] == 14
    assert r["curves"] == full["curves"] and r["final"] == full["final"]
    # a finished checkpoint returns at once with the same numbers
    again = T.train(cfg, progress=False, data=digits, checkpoint_dir=tmp_path)
    assert again["resumed_from"] == 30 and again["final"] == full["final"]
    # another config never picks up this checkpoint
    other = T.train(dataclasses.replace(cfg, seed=1), progress=False, data=digits, checkpoint_dir=tmp_path)
    assert other["resumed_from"] == 0
    build.kw = {}


# ------------------------------------------------------------------------- the real CNN

SMALL = dataclasses.replace(BASE, widths=(4, 4, 6, 6), fc=16, epochs=2, lr=0.05)


@pytest.mark.parametrize("norm, drop", [("bn", "bernoulli"), ("pn", "none")])
def test_real_model_resume_is_exact(tmp_path, digits, monkeypatch, norm, drop):
    """BN running statistics, SGD momentum buffers, dropout Generators and PN statistics all
    survive a checkpoint: resuming gives bit-identical curves."""
    cfg = dataclasses.replace(SMALL, norm=norm, dropout=drop, p_drop=0.25 if drop != "none" else 0.0,
                              eval_every=4)
    full = T.train(cfg, progress=False, data=digits, threads=1)
    assert not full["diverged"]
    from bnreg.sims.nn.model import Model

    real_forward = Model.forward
    calls = {"n": 0}

    def forward(self, x, training):  # the 11th training step is interrupted
        if training:
            calls["n"] += 1
            if calls["n"] == 11:
                raise KeyboardInterrupt
        return real_forward(self, x, training)

    monkeypatch.setattr(Model, "forward", forward)
    with pytest.raises(KeyboardInterrupt):
        T.train(cfg, progress=False, data=digits, checkpoint_dir=tmp_path, threads=1)
    monkeypatch.setattr(Model, "forward", real_forward)
    r = T.train(cfg, progress=False, data=digits, checkpoint_dir=tmp_path, threads=1)
    assert r["resumed_from"] == 8
    assert r["curves"] == full["curves"] and r["gamma2"] == full["gamma2"]
    # and the run learns something (chance = 0.1)
    assert full["final"]["val_acc"] > 0.3


@pytest.mark.training
def test_pn_training_does_not_depend_on_evaluation_cadence(digits):
    """PN evaluations refresh the statistics on a snapshot: training is unchanged by extra evaluations,
    and the final numbers use statistics of the final weights."""
    cfg = dataclasses.replace(SMALL, norm="pn", epochs=2)  # 10 steps per epoch, refresh every epoch
    before = (digits.x_train.copy(), digits.x_val.copy())
    a = T.train(dataclasses.replace(cfg, eval_every=3), progress=False, data=digits, threads=1)
    b = T.train(dataclasses.replace(cfg, eval_every=7), progress=False, data=digits, threads=1)
    assert a["final"] == b["final"] and a["curves"]["step"] != b["curves"]["step"]
    # the caller's data is never written to (model caches may be views of it)
    np.testing.assert_array_equal(digits.x_train, before[0])
    np.testing.assert_array_equal(digits.x_val, before[1])
    # the final evaluation equals PN inference with statistics recomputed for the final weights
    made = []
    real = T._build_model
    T._build_model = lambda *a, **k: made.append(real(*a, **k)) or made[-1]
    try:
        r = T.train(cfg, progress=False, data=digits, threads=1)
    finally:
        T._build_model = real
    m = made[-1]
    m.refresh_population(digits.x_train)
    assert T.evaluate(m, digits.x_val, digits.y_val) == (r["final"]["val_loss"], r["final"]["val_acc"])
    assert T.evaluate(m, digits.x_train, digits.y_train)[0] == r["final"]["train_loss"]


def test_real_model_reproducible_and_metrics(digits):
    cfg = dataclasses.replace(SMALL, norm="bn", norm_layers=(False, True, False, False, False))
    a = T.train(cfg, progress=False, data=digits, threads=1)
    b = T.train(cfg, progress=False, data=digits, threads=1)
    assert a["curves"] == b["curves"]
    assert list(a["gamma2"]) == ["conv2"]  # only the normalized layer has a gamma
    assert a["wall_time_s"] > 0 and a["diverged"] is False


def test_time_checkpoints_between_evaluations_resume_exactly(tmp_path, digits, monkeypatch):
    """With checkpoint_every_s = 0 a checkpoint follows every step, also between evaluations: an
    interrupt at step 11 (evaluations every 8 steps) resumes from step 10, not 8, and the curves,
    including the mean batch loss of the interrupted interval, are bit-identical."""
    cfg = dataclasses.replace(SMALL, norm="bn", dropout="bernoulli", p_drop=0.25, eval_every=8)
    full = T.train(cfg, progress=False, data=digits, threads=1)
    from bnreg.sims.nn.model import Model

    real_forward = Model.forward
    calls = {"n": 0}

    def forward(self, x, training):
        if training:
            calls["n"] += 1
            if calls["n"] == 11:
                raise KeyboardInterrupt
        return real_forward(self, x, training)

    monkeypatch.setattr(Model, "forward", forward)
    with pytest.raises(KeyboardInterrupt):
        T.train(cfg, progress=False, data=digits, checkpoint_dir=tmp_path, threads=1, checkpoint_every_s=0)
    monkeypatch.setattr(Model, "forward", real_forward)
    r = T.train(cfg, progress=False, data=digits, checkpoint_dir=tmp_path, threads=1, checkpoint_every_s=0)
    assert r["resumed_from"] == 10
    assert r["curves"] == full["curves"] and r["gamma2"] == full["gamma2"]
    with pytest.raises(ParameterError, match="checkpoint_every_s"):
        T.train(cfg, progress=False, data=digits, checkpoint_every_s=-1)

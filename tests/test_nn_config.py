"""sims/nn/config.py: the one CNN configuration and its one validator (every field checked, one-line
errors naming the field), the bn_momentum range, the choice lists' single home, the string parser
of `bnreg cnn`, and validation once per run."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from bnreg.params import ParameterError
from bnreg.runtime import PointCache
from bnreg.sims.nn import config, data, dropout, layers, norm, optim
from bnreg.sims.nn import sweep as S
from bnreg.sims.nn import train as T
from bnreg.sims.nn.config import CNNConfig, config_from_strings
from bnreg.sims.nn.model import build_cnn

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(dataset="digits", n_train=64, n_val=32, batch=32, widths=(2, 2, 2, 2), fc=4, steps=2)

# field -> a bad value; the error must name the field
BAD = {
    "in_shape": (6, 6), "n_classes": 1, "widths": (0,), "fc": 0, "kernel": 2, "norm": "layernorm",
    "norm_layers": (True,), "dropout": "spatial", "p_drop": 1.0, "dropout_place": "middle",
    "dropout_schedule": "cosine", "dropout_switch": 1.5, "dropout_cutoff": -1, "bn_momentum": 0.0, "gamma_decay": -1.0,
    "dtype": "float16", "seed": -1, "dataset": "imagenet", "n_train": 0, "n_val": 0, "split_seed": -1,
    "batch": 1, "lr": 0.0, "momentum": 1.0, "epochs": 0, "steps": 0, "lr_schedule": "exp", "pn_refresh": -1,
    "eval_every": -1, "grad_diag_every": -1, "grad_diag_batches": 1,
}
EXTRA = {"data_dir": {"dataset": "cifar10", "data_dir": None}}  # a bad data_dir is a missing one for cifar10


def test_every_field_has_a_bad_value_case():
    assert set(BAD) | set(EXTRA) == {f.name for f in dataclasses.fields(CNNConfig)}


@pytest.mark.parametrize("field", [*BAD, *EXTRA])
def test_bad_value_of_each_field_names_it(field):
    change = EXTRA.get(field, {field: BAD.get(field)})
    with pytest.raises(ParameterError) as e:
        CNNConfig(**change).validated()
    msg = str(e.value)
    assert field in msg and "\n" not in msg


def test_bn_momentum_range_follows_the_running_update_convention():
    """running <- (1 - m) running + m batch (sims.kernels.batchnorm.update_running): m = 0 would
    freeze the running statistics at their initial 0 and 1, so the range is 0 < m <= 1; m = 1 keeps
    the latest batch's statistics."""
    with pytest.raises(ParameterError, match="bn_momentum must satisfy 0 < bn_momentum <= 1"):
        CNNConfig(bn_momentum=0.0).validated()
    with pytest.raises(ParameterError, match="bn_momentum"):
        CNNConfig(bn_momentum=1.01).validated()
    assert CNNConfig(bn_momentum=1).validated().bn_momentum == 1.0
    m = build_cnn(CNNConfig((6, 6, 2), 4, (3, 3), 5, norm="bn", bn_momentum=1.0, dtype="float64"))
    x = np.random.default_rng(0).standard_normal((5, 6, 6, 2)) * 2 + 1
    m.forward(x, True)
    n1 = m.norms[0]
    z = n1._x  # conv1 pre-activation of the latest training batch, (B*H*W, C)
    np.testing.assert_allclose(n1.running_mean, z.mean(0), rtol=1e-10)
    np.testing.assert_allclose(n1.running_var, z.var(0, ddof=1), rtol=1e-8)


def test_choice_lists_have_one_home():
    """The validator uses the implementing modules' tuples themselves, and no other module of the
    package defines them."""
    homes = {"NORMS": norm, "DROPOUTS": dropout, "PLACES": dropout, "SCHEDULES": dropout, "DATASETS": data,
             "LR_SCHEDULES": optim, "DTYPES": layers}
    for name, mod in homes.items():
        assert getattr(config, name) is getattr(mod, name), name
    defined: dict[str, list[str]] = {}
    for p in sorted(p for d in ("sims", "figures", "bnreg") for p in (ROOT / d).rglob("*.py")):
        for node in ast.parse(p.read_text()).body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
                if isinstance(node, ast.AnnAssign) else []
            for t in targets:
                if isinstance(t, ast.Name) and t.id in homes:
                    defined.setdefault(t.id, []).append(str(p.relative_to(ROOT)))
    assert defined == {n: [f"sims/nn/{m.__name__.rsplit('.', 1)[-1]}.py"] for n, m in homes.items()}
    with pytest.raises(ParameterError, match=", ".join(norm.NORMS)):
        CNNConfig(norm="ln").validated()


def test_validated_normalizes_and_is_idempotent():
    c = CNNConfig(in_shape=[1, "40", 1], widths=["4", 4.0], norm_layers=[1, 0, "true"], p_drop="0.25", seed="3",
                  data_dir="none")
    v = c.validated()
    assert v.in_shape == (1, 40, 1) and v.widths == (4, 4) and v.norm_layers == (True, False, True)
    assert v.p_drop == 0.25 and v.seed == 3 and v.data_dir is None
    assert v.validated() is v and v == CNNConfig.from_dict(v.to_dict()).validated()
    with pytest.raises(ParameterError, match="batch"):  # a changed copy is checked again
        dataclasses.replace(v, batch=1).validated()
    with pytest.raises(ParameterError, match="unknown config key 'bacth'"):
        CNNConfig.from_dict({"bacth": 3})


def test_with_data_fills_and_checks_the_data_fields():
    v = CNNConfig().with_data((1, 40, 1), 10)
    assert v.in_shape == (1, 40, 1) and v.n_classes == 10 and v.validated() is v
    assert CNNConfig(in_shape=(1, 40, 1)).with_data((1, 40, 1), 10).n_classes == 10
    with pytest.raises(ParameterError, match="in_shape must match the data's"):
        CNNConfig(in_shape=(8, 8, 1)).with_data((1, 40, 1), 10)
    with pytest.raises(ParameterError, match="n_classes must match the data's"):
        CNNConfig(n_classes=3).with_data((1, 40, 1), 10)
    with pytest.raises(ParameterError, match="in_shape must allow"):
        CNNConfig().with_data((4, 1, 1), 10)
    with pytest.raises(ParameterError, match="in_shape and n_classes must be set"):
        build_cnn(CNNConfig())


def test_config_from_strings_optional_and_tuple_fields():
    c = config_from_strings({"in_shape": "1,40,1", "norm_layers": "all", "gamma_decay": "none", "steps": "",
                             "widths": "8", "norm": "pn", "dropout_switch": "0.5"})
    assert c.in_shape == (1, 40, 1) and c.norm_layers is None and c.gamma_decay is None and c.steps is None
    assert c.widths == (8,) and c.norm == "pn" and c.dropout_switch == 0.5 and c.validated() is c
    with pytest.raises(ParameterError, match="norm_layers\\[1\\] must be true or false"):
        config_from_strings({"widths": "4", "norm_layers": "1,maybe"})


@pytest.fixture
def count_validations(monkeypatch):
    """Counts full validations (each checks lr_schedule exactly once)."""
    seen = []
    real = config.check_choice

    def spy(name, value, choices):
        if name == "lr_schedule":
            seen.append(value)
        return real(name, value, choices)

    monkeypatch.setattr(config, "check_choice", spy)
    return seen


def test_train_validates_once(count_validations):
    d = data.load_dataset("digits", n_train=64, n_val=32)
    r = T.train(CNNConfig(**TINY, norm="bn"), progress=False, data=d, threads=1)
    assert r["steps"] == 2 and len(count_validations) == 1
    with pytest.raises(ParameterError, match="cfg must be a CNNConfig"):
        T.train({"norm": "bn"}, progress=False, data=d)


def test_sweep_validates_once_per_run(count_validations):
    res = S.run_configs([{**TINY, "seed": s} for s in (0, 1)], PointCache(None), "test", progress=False)
    assert len(res) == 2 and len(count_validations) == 2

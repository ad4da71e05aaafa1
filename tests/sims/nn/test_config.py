"""sims/nn/config.py: the one CNN configuration, declared field by field (`CNN_FIELDS`: a `Param` with
range, default and doc per field), checked at construction (one-line errors naming the field and its
range), the bn_momentum range, the choice lists' single home, the string parser of `bnreg cnn`, and
validation once per run (none in the training loop)."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from bnreg.params import Param, ParameterError
from bnreg.runtime import PointCache
from bnreg.sims.nn import config, data, dropout, layers, norm, optim
from bnreg.sims.nn import sweep as S
from bnreg.sims.nn import train as T
from bnreg.sims.nn.config import CNN_FIELDS, CNNConfig, config_from_strings
from bnreg.sims.nn.model import build_cnn

ROOT = Path(__file__).resolve().parents[3]
TINY = dict(dataset="digits", n_train=64, n_val=32, batch=32, widths=(2, 2, 2, 2), fc=4, steps=2)

# field -> a bad value; the error must name the field
BAD = {
    "in_shape": (6, 6), "n_classes": 1, "widths": (0,), "fc": 0, "kernel": 2, "norm": "layernorm",
    "norm_layers": (True,), "dropout": "spatial", "p_drop": 1.0, "dropout_place": "middle",
    "dropout_schedule": "cosine", "dropout_switch": 1.5, "dropout_cutoff": -1, "bn_momentum": 0.0, "gamma_decay": -1.0,
    "dtype": "float16", "seed": -1, "dataset": "imagenet", "n_train": 0, "n_val": 0, "split_seed": -1,
    "batch": 1, "lr": 0.0, "momentum": 1.0, "epochs": 0, "steps": 0, "lr_schedule": "exp", "pn_refresh": -1,
    "eval_every": -1, "grad_diag_every": -1, "grad_diag_batches": 1, "grad_diag_conventions": "maybe",
}
EXTRA = {"data_dir": {"dataset": "cifar10", "data_dir": None}}  # a bad data_dir is a missing one for cifar10


def test_every_field_has_a_bad_value_case():
    assert set(BAD) | set(EXTRA) == {f.name for f in dataclasses.fields(CNNConfig)}


def test_every_field_is_declared_with_range_default_and_doc():
    """One declaration per field, in field order: a Param of the field's name whose default is the
    field's default, with a one-line doc and a range text (what `bnreg cnn --help` shows)."""
    fs = dataclasses.fields(CNNConfig)
    assert [p.name for p in CNN_FIELDS] == [f.name for f in fs]
    for f, p in zip(fs, CNN_FIELDS, strict=True):
        assert isinstance(p, Param) and f.metadata["param"] is p and f.default == p.default, f.name
        assert p.kind in ("int", "float", "bool", "choice", "str") and p.range_text(), f.name
        assert p.doc and "\n" not in p.doc and len(p.doc) <= 100, f.name
        assert p.parse(p.default) == (p.default if p.length is None or p.default is None
                                      else tuple(np.atleast_1d(p.default))), f.name
    assert not hasattr(CNNConfig, "validated")  # construction is the one validation


@pytest.mark.parametrize("field", [*BAD, *EXTRA])
def test_bad_value_of_each_field_is_refused_at_construction(field):
    change = EXTRA.get(field, {field: BAD.get(field)})
    with pytest.raises(ParameterError) as e:
        CNNConfig(**change)
    msg = str(e.value)
    assert field in msg and "\n" not in msg


@pytest.mark.parametrize("field", [p.name for p in CNN_FIELDS if p.kind != "str"])
def test_bad_value_error_names_the_field_and_its_range(field):
    """The one-line ParameterError starts with the field and states its declared bounds or choices."""
    p = next(q for q in CNN_FIELDS if q.name == field)
    with pytest.raises(ParameterError) as e:
        CNNConfig(**{field: BAD[field]})
    msg = str(e.value)
    assert msg.startswith(field) and " must " in msg and "\n" not in msg
    if p.kind == "choice":
        assert ", ".join(p.choices) in msg
    for bound in (p.lo, p.hi):
        if bound is not None:
            assert f"{bound:g}" in msg, msg


def test_bad_value_message_examples():
    with pytest.raises(ParameterError, match=r"^batch must satisfy batch >= 2 \(got 1\)$"):
        CNNConfig(batch=1)
    with pytest.raises(ParameterError, match=r"^p_drop must satisfy 0 <= p_drop < 1 \(got 1\)$"):
        CNNConfig(p_drop=1.0)
    with pytest.raises(ParameterError, match=r"^in_shape must be 3 values \(comma-separated\), each 1 <= "
                                             r"in_shape\[i\], or none \(got \(6, 6\)\)$"):
        CNNConfig(in_shape=(6, 6))


def test_bn_momentum_range_follows_the_running_update_convention():
    """running <- (1 - m) running + m batch (sims.kernels.batchnorm.update_running): m = 0 would
    freeze the running statistics at their initial 0 and 1, so the range is 0 < m <= 1; m = 1 keeps
    the latest batch's statistics."""
    with pytest.raises(ParameterError, match="bn_momentum must satisfy 0 < bn_momentum <= 1"):
        CNNConfig(bn_momentum=0.0)
    with pytest.raises(ParameterError, match="bn_momentum"):
        CNNConfig(bn_momentum=1.01)
    assert CNNConfig(bn_momentum=1).bn_momentum == 1.0
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
        CNNConfig(norm="ln")


def test_construction_normalizes():
    v = CNNConfig(in_shape=[1, "40", 1], widths=["4", 4.0], norm_layers=[1, 0, "true"], p_drop="0.25", seed="3",
                  data_dir="none")
    assert v.in_shape == (1, 40, 1) and v.widths == (4, 4) and v.norm_layers == (True, False, True)
    assert v.p_drop == 0.25 and type(v.p_drop) is float and v.seed == 3 and v.data_dir is None
    assert v == CNNConfig.from_dict(v.to_dict()) and hash(v) == hash(CNNConfig.from_dict(v.to_dict()))
    assert CNNConfig(widths=8, fc=(7,)) == CNNConfig(widths=(8,), fc=7)  # one item: a 1-tuple; one fc layer: an int
    with pytest.raises(ParameterError, match="batch"):  # a changed copy is checked again
        dataclasses.replace(v, batch=1)
    with pytest.raises(ParameterError, match="unknown config key 'bacth'"):
        CNNConfig.from_dict({"bacth": 3})


def test_with_data_fills_and_checks_the_data_fields():
    v = CNNConfig().with_data((1, 40, 1), 10)
    assert v.in_shape == (1, 40, 1) and v.n_classes == 10 and v == CNNConfig(in_shape=(1, 40, 1), n_classes=10)
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
    assert c.widths == (8,) and c.norm == "pn" and c.dropout_switch == 0.5
    assert config_from_strings({"widths": "none", "data_dir": "", "norm_layers": "none"}).widths == ()
    with pytest.raises(ParameterError, match="norm_layers\\[1\\] must be true or false"):
        config_from_strings({"widths": "4", "norm_layers": "1,maybe"})


@pytest.fixture
def count_validations(monkeypatch):
    """Counts full validations (constructions: `__post_init__`) and single-field parses."""
    seen = {"full": 0, "fields": 0}
    post, parse = CNNConfig.__post_init__, Param.parse

    def post_spy(self):
        seen["full"] += 1
        return post(self)

    def parse_spy(self, value):
        seen["fields"] += 1
        return parse(self, value)

    monkeypatch.setattr(CNNConfig, "__post_init__", post_spy)
    monkeypatch.setattr(Param, "parse", parse_spy)
    return seen


@pytest.mark.parametrize("steps", [2, 6])
def test_train_validates_nothing_per_step(count_validations, steps):
    """A run checks its config once, at construction; the loop adds only `with_data`'s two fields
    (the data's in_shape and n_classes), whatever the number of SGD steps, and no per-step check."""
    d = data.load_dataset("digits", n_train=64, n_val=32)
    cfg = CNNConfig(**{**TINY, "steps": steps}, norm="bn", dropout="bernoulli", p_drop=0.25, dropout_schedule="late")
    assert count_validations == {"full": 1, "fields": len(CNN_FIELDS)}
    r = T.train(cfg, progress=False, data=d, threads=1)
    assert r["steps"] == steps and count_validations == {"full": 1, "fields": len(CNN_FIELDS) + 2}
    with pytest.raises(ParameterError, match="cfg must be a CNNConfig"):
        T.train({"norm": "bn"}, progress=False, data=d)


def test_sweep_validates_once_per_run(count_validations):
    res = S.run_configs([{**TINY, "seed": s} for s in (0, 1)], PointCache(None), "test", progress=False)
    assert len(res) == 2 and count_validations["full"] == 2

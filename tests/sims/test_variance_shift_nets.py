"""Variance shift in networks (sims/nn: the MLP, dropout_place="last", the forward hook,
sims/nn/diagnostics.py, run_shift_point; figures variance_shift_fixes and the trained panels of
variance_shift_layers; docs/variance_shift.md, "Trained networks" and "The fixes").  Hand-checkable
cases: BN layers with running statistics set by hand, re-estimation with one batch holding every
example (exact), train mode = inference mode when the statistics agree and no dropout is on."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from bnreg.params import ParameterError
from bnreg.sims.nn import CNNConfig, build_cnn
from bnreg.sims.nn.config import config_from_strings
from bnreg.sims.nn.diagnostics import bn_shift_per_layer, reestimate_bn_statistics, train_vs_inference
from bnreg.sims.nn.model import hidden_layer_names
from bnreg.theory.variance_shift import matched_uout_beta

MLP = dict(in_shape=(1, 6, 1), n_classes=3, widths=(), fc=(5, 4, 3), norm="bn", dtype="float64")


def _x(n: int, shape=(1, 6, 1), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, *shape)) * 1.3 + 0.4


def _perturb(m, seed: int = 1) -> None:
    """Move gammas/betas away from 1/0 and the running statistics away from anything exact."""
    rng = np.random.default_rng(seed)
    for p in m.parameters():
        if p.name.endswith(("gamma", "beta")):
            p.value[...] += 0.3 * rng.standard_normal(p.value.shape)
    for n in m.norms:
        n.running_mean[...] = rng.standard_normal(n.channels)
        n.running_var[...] = rng.uniform(0.5, 2.0, n.channels)


# ---------------------------------------------------------------------------------------- config
def test_mlp_config_validation_and_normalization():
    assert CNNConfig(fc=(7,)).fc == 7                       # one layer: the int
    assert CNNConfig(fc=(7,)).key() == CNNConfig(fc=7).key()
    c = CNNConfig(widths=(), fc=[8, 6])
    assert c.widths == () and c.fc == (8, 6) and c.fc_widths == (8, 6)
    assert CNNConfig.from_dict(c.to_dict()) == c
    for bad, field in (((), "fc"), ((3, 0), "fc[1]"), ((3, "x"), "fc[1]")):
        with pytest.raises(ParameterError, match=field.replace("[", r"\[")):
            CNNConfig(fc=bad)
    with pytest.raises(ParameterError, match="norm_layers"):
        CNNConfig(widths=(2,), fc=(3, 3), norm_layers=(True, True))   # needs 1 + 2
    assert CNNConfig(widths=(2,), fc=(3, 3), norm_layers=(True, False, True)).norm_layers[1] is False
    s = config_from_strings({"widths": "none", "fc": "8,8,8", "dropout_place": "last"})
    assert s.widths == () and s.fc == (8, 8, 8) and s.dropout_place == "last"
    assert hidden_layer_names(0, 3) == ("fc1", "fc2", "fc3")
    assert hidden_layer_names(2) == ("conv1", "conv2", "fc1")


def test_mlp_architecture_and_dropout_places():
    names = lambda m: [type(la).__name__ for la in m.layers]  # noqa: E731
    m = build_cnn(CNNConfig(**MLP, dropout="bernoulli", p_drop=0.5, dropout_place="before"))
    assert names(m) == ["Flatten"] + ["Dense", "Dropout", "Norm", "ReLU"] * 3 + ["Dense"]
    assert [n.name for n in m.norms] == ["fc1", "fc2", "fc3"]
    assert m.affines[0].W.value.shape == (6, 5) and m.affines[-1].W.value.shape == (3, 3)
    m = build_cnn(CNNConfig(**MLP, dropout="bernoulli", p_drop=0.5, dropout_place="last"))
    assert names(m) == ["Flatten"] + ["Dense", "Norm", "ReLU"] * 3 + ["Dropout", "Dense"]
    assert len(m.dropouts) == 1
    m = build_cnn(CNNConfig((1, 8, 1), 3, (2, 2), 4, norm="bn", dropout="uout", p_drop=0.3, dropout_place="last"))
    assert names(m)[-3:] == ["ReLU", "Dropout", "Dense"] and len(m.dropouts) == 1 and "MaxPool" in names(m)
    assert m.forward(_x(3, (1, 8, 1)), True).shape == (3, 3)


def test_uout_width_is_the_matched_beta():
    """Uout in the library at drop rate p has beta = sqrt(3 p/q) = matched_uout_beta(keep)."""
    m = build_cnn(CNNConfig(**MLP, dropout="uout", p_drop=0.3))
    mask = m.dropouts[0].mask((200_000,), np.dtype(np.float64))
    beta = matched_uout_beta(0.7)
    assert mask.max() == pytest.approx(1 + beta, abs=1e-3) and mask.min() == pytest.approx(1 - beta, abs=1e-3)
    assert mask.max() <= 1 + beta + 1e-6


# ---------------------------------------------------------------------------------------- model hooks
def test_forward_hook_changes_nothing_and_sees_every_layer_input():
    m = build_cnn(CNNConfig(**MLP, dropout="bernoulli", p_drop=0.4, dropout_place="before"))
    _perturb(m)
    x = _x(600)  # > eval_batch: chunked inference
    plain = m.forward(x, False)
    seen: list[tuple[str, tuple]] = []
    hooked = m.forward(x, False, hook=lambda la, a: seen.append((type(la).__name__, a.shape)))
    np.testing.assert_array_equal(plain, hooked)
    assert len(seen) == len(m.layers) * math.ceil(600 / m.eval_batch)
    assert seen[0] == ("Flatten", (256, 1, 6, 1)) and seen[len(m.layers) - 1] == ("Dense", (256, 3))


def test_dropout_off_is_no_dropout_and_leaves_the_generators_alone():
    """Inside dropout_off, a training-mode pass equals that of the same network without dropout
    (the initialization does not depend on the dropout), and no mask is drawn."""
    a = build_cnn(CNNConfig(**MLP, dropout="bernoulli", p_drop=0.5, dropout_place="before"))
    b = build_cnn(CNNConfig(**MLP))
    x = _x(16)
    state = [d.rng.bit_generator.state for d in a.dropouts]
    with a.dropout_off():
        np.testing.assert_array_equal(a.forward(x, True), b.forward(x, True))
    assert [d.rng.bit_generator.state for d in a.dropouts] == state
    assert all(d.enabled for d in a.dropouts)
    assert not np.array_equal(a.forward(x, True), b.forward(x, True))


# ---------------------------------------------------------------------------------------- diagnostics
def test_bn_shift_per_layer_hand_set_running_statistics():
    """Two BN layers with hand-set running statistics: the ratio and mean shift of each layer's input,
    computed by hand from the weights (layer 2 from layer 1 normalized with its running statistics)."""
    m = build_cnn(CNNConfig(in_shape=(1, 6, 1), n_classes=3, widths=(), fc=(4, 5), norm="bn", dtype="float64"))
    _perturb(m, seed=3)
    x = _x(700, seed=4)
    n1, n2 = m.norms
    z1 = x.reshape(700, -1) @ m.affines[0].W.value
    a1 = np.maximum(n1.gamma.value * (z1 - n1.running_mean) / np.sqrt(n1.running_var + n1.eps) + n1.beta.value, 0)
    z2 = a1 @ m.affines[1].W.value
    r = bn_shift_per_layer(m, x)
    assert list(r["layer"]) == ["fc1", "fc2"]
    for j, (z, n) in enumerate(((z1, n1), (z2, n2))):
        den = n.running_var + n.eps
        assert r["var_ratio"][j] == pytest.approx(np.mean(z.var(0) / den), rel=1e-10)
        assert r["mean_shift2"][j] == pytest.approx(np.mean((z.mean(0) - n.running_mean) ** 2 / den), rel=1e-9)
        assert r["real_var"][j] == pytest.approx(np.mean(z.var(0)), rel=1e-10)
        assert r["running_var"][j] == pytest.approx(np.mean(n.running_var), rel=1e-12)
    # a known ratio: running statistics set to (mean, var / 4) of the real input -> ratio 4, shift 0
    n1.running_mean[...] = z1.mean(0)
    n1.running_var[...] = z1.var(0) / 4 - n1.eps
    r = bn_shift_per_layer(m, x)
    assert r["var_ratio"][0] == pytest.approx(4.0, rel=1e-10) and r["mean_shift2"][0] == pytest.approx(0, abs=1e-20)


def test_bn_shift_needs_bn():
    with pytest.raises(ParameterError, match="BN layer"):
        bn_shift_per_layer(build_cnn(CNNConfig(**{**MLP, "norm": "none"})), _x(4))
    with pytest.raises(ParameterError, match="N >= 2"):
        bn_shift_per_layer(build_cnn(CNNConfig(**MLP)), _x(1))


@pytest.mark.parametrize("place", ["before", "after"])
def test_reestimate_with_one_batch_makes_every_ratio_one(place):
    """One batch holding every example: the training-mode pass normalizes every layer with exactly
    the population statistics that become the running ones, so inference reproduces it: ratio 1
    (up to eps) and no mean shift at every layer, and the running statistics are the exact
    population statistics of the layer-1 input (not an EMA)."""
    m = build_cnn(CNNConfig(**MLP, dropout="bernoulli", p_drop=0.5, dropout_place=place))
    _perturb(m)
    x = _x(300)
    before = bn_shift_per_layer(m, x)
    assert np.all(np.abs(before["var_ratio"] - 1) > 0.01)
    state = [d.rng.bit_generator.state for d in m.dropouts]
    reestimate_bn_statistics(m, x, batch=300)
    r = bn_shift_per_layer(m, x)
    np.testing.assert_allclose(r["var_ratio"], 1.0, rtol=0, atol=1e-3)  # v / (v + eps)
    np.testing.assert_allclose(r["mean_shift2"], 0.0, atol=1e-20)
    z1 = x.reshape(300, -1) @ m.affines[0].W.value
    np.testing.assert_allclose(m.norms[0].running_mean, z1.mean(0), rtol=1e-12)
    np.testing.assert_allclose(m.norms[0].running_var, z1.var(0), rtol=1e-12)
    assert [d.rng.bit_generator.state for d in m.dropouts] == state


def test_reestimate_in_batches_is_exact_at_layer_one_and_close_deeper():
    m = build_cnn(CNNConfig(**MLP, dropout="bernoulli", p_drop=0.5, dropout_place="before"))
    _perturb(m)
    x = _x(2000)
    reestimate_bn_statistics(m, x, batch=100)
    r = bn_shift_per_layer(m, x)
    assert r["var_ratio"][0] == pytest.approx(1.0, abs=1e-4)
    np.testing.assert_allclose(r["var_ratio"], 1.0, atol=0.1)   # batch noise upstream, O(1/batch)


def test_train_vs_inference_identical_when_statistics_agree():
    """No dropout and the running statistics = the population statistics of one batch holding all
    examples: train mode and inference mode give the same predictions: no flip.  The model is not
    changed by the training-mode pass."""
    m = build_cnn(CNNConfig(**MLP))
    _perturb(m)
    x = _x(200)
    y = np.random.default_rng(5).integers(0, 3, 200)
    reestimate_bn_statistics(m, x, batch=200)
    rm = [n.running_mean.copy() for n in m.norms]
    r = train_vs_inference(m, x, y, batch=200)
    assert r["flips_to_wrong"] == r["flips_to_right"] == 0
    assert r["train_mode_acc"] == r["inference_acc"] and r["n"] == 200
    for a, n in zip(rm, m.norms, strict=True):
        np.testing.assert_array_equal(a, n.running_mean)


def test_train_vs_inference_counts_with_dropout():
    m = build_cnn(CNNConfig(**MLP, dropout="bernoulli", p_drop=0.5, dropout_place="before"))
    _perturb(m)
    x = _x(300)
    y = np.argmax(m.forward(x, False), axis=1)  # inference accuracy 1 by construction
    state = [d.rng.bit_generator.state for d in m.dropouts]
    r = train_vs_inference(m, x, y, batch=32, seed=7)
    assert r["inference_acc"] == 1.0 and r["flips_to_wrong"] == 0
    assert r["flips_to_right"] == round((1 - r["train_mode_acc"]) * 300) > 0
    assert train_vs_inference(m, x, y, batch=32, seed=7) == r        # fixed seed: reproducible
    assert [d.rng.bit_generator.state for d in m.dropouts] == state  # a copy ran in training mode
    with pytest.raises(ParameterError, match="y must have shape"):
        train_vs_inference(m, x, y[:5], batch=32)


# ---------------------------------------------------------------------------------------- sweep point
@pytest.mark.training
def test_run_shift_point_on_a_tiny_run():
    from bnreg.sims.nn.sweep import run_shift_point

    cfg = CNNConfig(dataset="digits", n_train=128, n_val=64, batch=32, widths=(), fc=(8, 8), norm="bn",
                    dropout="bernoulli", p_drop=0.5, dropout_place="before", steps=8, eval_every=8)
    r = run_shift_point(cfg)
    assert not r["diverged"] and list(r["layers"]) == ["fc1", "fc2"]
    for k in ("var_ratio", "mean_shift2", "real_var", "running_var", "reest_var_ratio"):
        assert r[k].shape == (2,) and np.all(np.isfinite(r[k])), k
    assert r["reest_var_ratio"][0] == pytest.approx(1.0, abs=1e-3)
    assert 0 <= r["flips_to_wrong"] <= 128 and 0 <= r["test_acc"] <= 1 and 0 <= r["reest_test_acc"] <= 1


# ---------------------------------------------------------------------------------------- figures
@pytest.mark.training
def test_trained_rows_of_variance_shift_layers_and_the_fixes_table(tmp_path):
    from bnreg.figures import variance_shift_fixes as F
    from bnreg.figures.run import make_figure

    for name in ("variance_shift_layers", "variance_shift_fixes"):
        assert make_figure(name, "quick", tmp_path, progress=False)["status"] == "written"
        for row in csv.DictReader(open(tmp_path / f"{name}.csv")):   # every numeric cell finite
            for k, v in row.items():
                try:
                    val = float(v)
                except ValueError:
                    continue
                assert math.isfinite(val), (name, k, row)
    spec = F.SCALES["quick"]
    rows = list(csv.DictReader(open(tmp_path / "variance_shift_layers.csv")))
    trained = [r for r in rows if r["source"] == "trained"]
    n_layers = {"mlp": 3, "cnn": 5}
    assert len(trained) == sum(n_layers[n] for n in spec["nets"]) * 3 * len(spec["keeps"])
    assert {r["variant"] for r in trained} == {"before", "uout", "last"}
    for r in trained:
        for k in ("var_ratio", "var_ratio_se", "mf_var_ratio", "real_var", "running_var", "reest_var_ratio"):
            assert math.isfinite(float(r[k])), (k, r)
        assert int(r["n_nets"]) == spec["seeds"]
    assert all(float(r["mf_var_ratio"]) == 1.0 for r in trained if r["variant"] == "last")
    first = [r for r in trained if r["layer"] == "1" and r["variant"] == "before"]
    assert all(float(r["mf_var_ratio"]) == pytest.approx(float(r["keep"])) for r in first)
    assert any(r["source"] == "random stack" for r in rows)
    fx = list(csv.DictReader(open(tmp_path / "variance_shift_fixes.csv")))
    assert len(fx) == len(spec["nets"]) * (4 * len(spec["keeps"]) + 1)
    for r in fx:
        assert int(r["n_seeds"]) == spec["seeds"]
        for k in ("test_acc", "test_acc_se", "d_test_acc", "train_mode_acc", "flips_to_wrong"):
            assert math.isfinite(float(r[k])), (k, r)
        if r["fix"] == "uout":
            assert float(r["beta"]) == pytest.approx(matched_uout_beta(float(r["keep"])))


@pytest.mark.training
def test_shared_trained_networks_give_identical_numbers(tmp_path):
    """variance_shift_layers reuses the networks variance_shift_fixes trained (one shared cache entry
    per run config, OUT/.cache/_shared): no new run is trained, and its table is byte-identical to
    the one computed fresh in an empty directory.  make_figures with two workers (one shared pool,
    both figures at once) gives the same bytes again."""
    from bnreg.figures.run import make_figure, make_figures

    shared, fresh, pooled = tmp_path / "shared", tmp_path / "fresh", tmp_path / "pooled"
    make_figure("variance_shift_fixes", "quick", shared, progress=False)
    runs = sorted((shared / ".cache" / "_shared").glob("*.npz"))
    assert runs
    make_figure("variance_shift_layers", "quick", shared, progress=False)
    assert sorted((shared / ".cache" / "_shared").glob("*.npz")) == runs  # nothing trained twice
    make_figure("variance_shift_layers", "quick", fresh, progress=False)
    make_figures(["variance_shift_layers", "variance_shift_fixes"], "quick", pooled, workers=2, threads=1,
                 progress=False)
    assert len(list((pooled / ".cache" / "_shared").glob("*.npz"))) == len(runs)
    for name in ("variance_shift_layers", "variance_shift_fixes"):
        assert (shared / f"{name}.csv").read_bytes() == (pooled / f"{name}.csv").read_bytes(), name
    assert (shared / "variance_shift_layers.csv").read_bytes() == (fresh / "variance_shift_layers.csv").read_bytes()


@pytest.mark.training
def test_forced_runs_share_within_the_run_only(tmp_path, monkeypatch):
    """--force: the two figures of one run share their networks (one session: each trains once),
    and a second forced run trains them again instead of trusting the older entries."""
    from bnreg.figures import variance_shift_fixes as F
    from bnreg.figures.run import make_figures

    calls = []

    def counted(cfg):
        calls.append(cfg)
        return run_shift_point(cfg)

    from bnreg.sims.nn.sweep import run_shift_point

    monkeypatch.setattr(F, "run_shift_point", counted)
    names = ["variance_shift_fixes", "variance_shift_layers"]
    make_figures(names, "quick", tmp_path, workers=1, progress=False)
    n = len(list((tmp_path / ".cache" / "_shared").glob("*.npz")))
    assert len(calls) == n  # the layers figure trained nothing of its own
    calls.clear()
    make_figures(names, "quick", tmp_path, workers=1, force=True, progress=False)
    assert len(calls) == n  # all retrained (forced), each once
    assert len(list((tmp_path / ".cache" / "_shared").glob("*.npz"))) == n

"""`bnreg cnn key=value ...`: one training run, summary on stdout, JSON metrics with --out; bad input
exits 2 with a one-line `bnreg: error: ...`; a diverging run exits 1 and is recorded as diverged."""

from __future__ import annotations

import json

import pytest

from bnreg.cli import main

TINY = ["dataset=digits", "n_train=256", "n_val=128", "widths=4,4,4,4", "fc=16", "epochs=2"]


def test_cnn_runs_and_writes_json(tmp_path, capsys):
    out = tmp_path / "m.json"
    assert main(["cnn", *TINY, "norm=bn", "batch=32", "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "gap (val - train loss)" in text and "gamma^2: conv1=" in text
    r = json.loads(out.read_text())
    assert r["config"]["norm"] == "bn" and r["config"]["widths"] == [4, 4, 4, 4] and r["n_train"] == 256
    assert r["diverged"] is False and r["steps"] == 2 * (256 // 32)
    f = r["final"]
    assert f["gap"] == pytest.approx(f["val_loss"] - f["train_loss"])
    assert set(r["gamma2"]) == {"conv1", "conv2", "conv3", "conv4", "fc1"}
    assert len(r["curves"]["val_loss"]) == 3  # step 0 and after each epoch


@pytest.mark.parametrize("args, needle", [
    (["norm=groupnorm"], "norm must be one of"),
    (["dropout=bernoulli", "p_drop=1"], "p_drop"),
    (["batch=300"], "batch must satisfy batch <= n_train = 256"),
    (["batch"], "config items are key=value"),
    (["colour=red"], "unknown config key 'colour'"),
    (["dataset=cifar10", "--data-dir", "/nonexistent/cifar"], "/nonexistent/cifar does not exist"),
    (["--threads", "0"], "--threads"),
])
def test_bad_input_exits_2(capsys, args, needle):
    assert main(["cnn", *TINY, *args, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bnreg: error: ") and needle in err and "\n" not in err


def test_divergence_exits_1_and_is_recorded(tmp_path, capsys):
    out = tmp_path / "d.json"
    assert main(["cnn", *TINY, "lr=10000", "momentum=0.99", "--out", str(out), "--no-progress"]) == 1
    o = capsys.readouterr()
    assert "diverged: non-finite loss at step" in o.out and "non-finite loss at step" in o.err
    r = json.loads(out.read_text())
    assert r["diverged"] is True and r["final"] == {} and isinstance(r["diverged_step"], int)

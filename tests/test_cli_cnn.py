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
    (["epochs=3"], "epochs is given twice"),
    (["--seed", "3", "seed=3"], "both give the seed"),
    (["--threads", "0"], "--threads"),
])
def test_bad_input_exits_2(capsys, args, needle):
    assert main(["cnn", *TINY, *args, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bnreg: error: ") and needle in err and "\n" not in err


def test_missing_cifar_directory_exits_2(capsys):
    assert main(["cnn", "dataset=cifar10", "epochs=1", "--data-dir", "/nonexistent/cifar", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bnreg: error: ") and "/nonexistent/cifar does not exist" in err and "\n" not in err


def test_divergence_exits_1_and_is_recorded(tmp_path, capsys):
    out = tmp_path / "d.json"
    assert main(["cnn", *TINY, "lr=10000", "momentum=0.99", "--out", str(out), "--no-progress"]) == 1
    o = capsys.readouterr()
    assert "diverged: non-finite loss at step" in o.out and "non-finite loss at step" in o.err
    r = json.loads(out.read_text())
    assert r["diverged"] is True and r["final"] == {} and isinstance(r["diverged_step"], int)


def test_help_lists_every_field_with_range_and_default(capsys):
    """`bnreg cnn --help` renders the declaration table: each field's key=default, doc and range."""
    from bnreg.sims.nn.config import CNN_FIELDS

    with pytest.raises(SystemExit) as e:
        main(["cnn", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    for p in CNN_FIELDS:
        d = p.default
        text = ("none" if d is None else ",".join(map(str, d)) if isinstance(d, tuple)
                else str(d).lower() if isinstance(d, bool) else str(d))
        row = next((k for k, line in enumerate(lines) if line.split()[:1] == [f"{p.name}={text}"]), None)
        assert row is not None, p.name
        assert lines[row].endswith(p.doc) and lines[row + 1].strip() == f"range: {p.range_text()}", p.name
    assert "widths=32,32,64,64" in out and "range: 0 < bn_momentum <= 1" in out and "range: none|bn|pn" in out


def test_help_of_other_commands_does_not_load_the_cnn_library():
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, contextlib, io; from bnreg.cli import build_parser; p = build_parser(); "
            "f = io.StringIO()\nwith contextlib.redirect_stdout(f), contextlib.suppress(SystemExit): "
            "p.parse_args(['formulas', '--help'])\nprint('bnreg.sims.nn.config' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=Path(__file__).resolve().parents[1])
    assert r.stdout.strip().splitlines()[-1] == "False", r.stderr

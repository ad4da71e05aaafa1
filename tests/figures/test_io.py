"""Figure output: every file written atomically, the CSV precision, bad tables refused (figures/_io.py)."""

from __future__ import annotations

import csv
import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from bnreg.figures._io import save  # noqa: E402


def _fig():
    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [0, 1, 4])
    return fig


def test_save_writes_all_outputs(tmp_path):
    table = {"M": np.array([2, 4, 8]), "value": [0.5, 0.25, 0.125], "label": np.array(["a", "b", "c"])}
    meta = {"figure": "demo", "seed": 7, "spec": {"Ms": (2, 4, 8)}, "arr": np.arange(3), "x": np.float64(1.5)}
    files = save(_fig(), table, meta, tmp_path / "out", "demo")
    names = [f.name for f in files]
    assert names == ["demo.png", "demo.pdf", "demo.csv", "demo.json"]
    for f in files:
        assert f.exists() and f.stat().st_size > 0
    assert files[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert files[1].read_bytes()[:5] == b"%PDF-"

    with open(files[2], newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["M", "value", "label"]
    assert len(rows) == 4 and all(len(r) == 3 for r in rows[1:])
    assert [int(r[0]) for r in rows[1:]] == [2, 4, 8]
    assert [float(r[1]) for r in rows[1:]] == [0.5, 0.25, 0.125]
    assert [r[2] for r in rows[1:]] == ["a", "b", "c"]

    js = json.loads(files[3].read_text())
    assert js["figure"] == "demo" and js["seed"] == 7
    assert js["spec"] == {"Ms": [2, 4, 8]}
    assert js["arr"] == [0, 1, 2] and js["x"] == 1.5
    assert js["csv_columns"] == ["M", "value", "label"]
    prov = js["provenance"]
    for k in ("numpy", "numba", "scipy", "sympy", "matplotlib", "python", "git_revision", "bnreg", "created"):
        assert k in prov, k
    assert prov["numpy"] == np.__version__
    import numba

    assert prov["numba"] == numba.__version__
    assert isinstance(prov["git_revision"], str) and prov["git_revision"]


def test_save_float_precision_round_trips(tmp_path):
    vals = np.array([1 / 3, np.pi, 1e-300])
    files = save(_fig(), {"v": vals}, {}, tmp_path, "prec")
    with open(files[2], newline="") as fh:
        rows = list(csv.reader(fh))
    assert [float(r[0]) for r in rows[1:]] == vals.tolist()


def test_save_unequal_columns_raise(tmp_path):
    with pytest.raises(RuntimeError, match="differ in length"):  # a figure module's bug, not bad input
        save(_fig(), {"a": [1, 2, 3], "b": [1, 2]}, {}, tmp_path, "bad")


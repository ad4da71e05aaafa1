"""The benchmark home (bench/ = bnreg.bench): one module per suite behind one registry, one set of
timers.  The suites themselves are timed by `bnreg bench SUITE --quick`, not here."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from bnreg.bench import SUITES, suite_module
from bnreg.bench.timing import best_time, calibrate, interleaved_rates
from bnreg.params import ParameterError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", list(SUITES))
def test_every_suite_has_the_suite_interface(name):
    mod = suite_module(name)
    assert mod.__name__ == f"bnreg.bench.{name}"
    assert callable(mod.run_benchmark) and callable(mod.format_benchmark)
    assert mod.__doc__ and "bnreg bench" in mod.__doc__


def test_the_old_homes_are_gone():
    # (checked on the source tree: an editable install of another checkout could still import them)
    for old in ("sims/benchmark.py", "sims/nn/benchmark.py", "figures/bench_teacher.py", "benchmarks/run.py"):
        assert not (ROOT / old).exists(), old
    assert sorted(p.stem for p in (ROOT / "bench").glob("*.py")) == sorted(["__init__", "timing", *SUITES])


def test_unknown_suite():
    with pytest.raises(ParameterError, match="bn_noise, teacher, cnn"):
        suite_module("nosuch")


def test_registry_import_is_light():
    """`bnreg --help` imports the registry: it must not load numba or a suite."""
    code = ("import sys, bnreg.bench; "
            "print(any(m == 'numba' or m.startswith('bnreg.bench.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_best_time_and_calibrate():
    calls = []
    t = best_time(lambda: calls.append(time.sleep(0.002)), 3)
    assert len(calls) == 3 and 0.001 < t < 1.0
    n = calibrate(lambda n: time.sleep(1e-5 * n), 8, 0.02)
    assert n >= 8 and 1e-5 * n == pytest.approx(0.02, rel=0.8)


def test_interleaved_rates():
    order: list[str] = []
    rates = interleaved_rates({"a": lambda: order.append("a"), "b": lambda: order.append("b"), "none": None},
                              {"a": 2, "b": 1}, repeats=3, units_per_call=64, max_blocks={"b": 1})
    assert set(rates) == {"a", "b"} and len(rates["a"]) == 3 and len(rates["b"]) == 1
    assert all(r > 0 for v in rates.values() for r in v)
    # warm-up (two calls each), then alternating blocks: a a b | a a | a a
    assert order == ["a", "a", "b", "b", "a", "a", "b", "a", "a", "a", "a"]


def test_cnn_step_flops_are_the_analytic_gemm_count():
    """bnreg bench cnn: step = 3 x forward GEMM flops - the first layer's input gradient (by hand)."""
    from bnreg.bench.cnn import WORKLOADS, step_flops

    f = [2 * 2560 * 3 * 32, 2 * 2560 * 96 * 32, 2 * 2560 * 96 * 64, 2 * 2560 * 192 * 64, 2 * 64 * 1280 * 512,
         2 * 64 * 512 * 10]  # luo_1d: convs over 64 x 40 positions, pool to 20, fc 512, out 10
    assert step_flops(WORKLOADS["luo_1d"]) == 3 * sum(f) - f[0] == 584_908_800
    f = [2 * 64 * 40 * 128] + [2 * 64 * 128 * 128] * 4 + [2 * 64 * 128 * 10]  # vs_mlp: no conv, fc 128 x 5
    assert step_flops(WORKLOADS["vs_mlp"]) == 3 * sum(f) - f[0]
    assert all(w.target >= 1.0 for w in WORKLOADS.values())

"""Benchmarks (`bnreg bench SUITE [--quick] [--json FILE]`): one module per suite, each with
`run_benchmark(quick: bool = False) -> dict` and `format_benchmark(dict) -> str`, and one timing
helper module (`timing`).  Every result is a ratio against a baseline timed in the same run, so
that it means something on a shared machine.

  bn_noise  the batch-statistics Monte Carlo kernel vs the write-up's numpy snippet (docs/bn_noise.md) and the raw
            normal-variate generation speed (docs/performance.md)
  teacher   teacher-student SGD epochs vs the memory-bandwidth floor; figure wall times
  cnn       CNN training steps vs a plain-numpy step and torch.nn (if installed)

This package may import bnreg.theory, bnreg.sims and bnreg.figures; none of them imports it.
Importing it is cheap (the suites load lazily)."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["SUITES", "suite_module"]

# suite name -> module (relative to this package), in the order `bnreg bench` lists them
SUITES: dict[str, str] = {"bn_noise": ".bn_noise", "teacher": ".teacher", "cnn": ".cnn"}


def suite_module(name: str) -> ModuleType:
    """The module of benchmark suite `name` (ParameterError naming the suites if unknown)."""
    from bnreg.params import check_choice

    return importlib.import_module(SUITES[check_choice("suite", name, tuple(SUITES))], __name__)

"""The test suite's markers: `slow`, split by cost kind so that each kind can be selected.

    python -m pytest -m "not slow"          the fast inner loop (about a minute)
    python -m pytest -m mc                  the Monte-Carlo checks and statistical agreement tests
    python -m pytest -m "figures or build"  figure/demo runs and the builds (docs site, wheel, README)
    python -m pytest -m hostile             the hostile suite (about 3 minutes)

Hypothesis runs derandomized (the same examples every run). A test carries one kind marker; every
kind implies `slow` (added here at collection), and a test marked `slow` without a kind is a
collection error, so the kinds always partition the slow tests.
"""

from __future__ import annotations

import pytest
from hypothesis import settings

# Property tests are reproducible: the same examples on every run (fixed seeds, no example database).
settings.register_profile("bnreg", derandomize=True, database=None)
settings.load_profile("bnreg")

KINDS = {
    "mc": "Monte-Carlo checks and statistical agreement tests (formula vs simulation, with power)",
    "training": "trained networks and students (the CNN library, the variance-shift networks)",
    "figures": "figure and demo runs (bnreg figures, bnreg demo)",
    "derivation": "long SymPy derivations and series",
    "processes": "process pools, Dask clusters, subprocess runs of the CLI and of pytest",
    "fuzz": "property-based fuzzing of the formula evaluator",
    "build": "builds: the documentation site, the wheel, the README's snippets",
    "hostile": "the hostile suite (tests/hostile): bad inputs, output targets, signals, limits, as a careless user",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: any costly test (implied by every kind below); "
                            "`-m \"not slow\"` is the fast inner loop")
    for kind, doc in KINDS.items():
        config.addinivalue_line("markers", f"{kind}: slow, {doc}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unkinded = []
    for item in items:
        kinds = [k for k in KINDS if item.get_closest_marker(k) is not None]
        if kinds:
            item.add_marker(pytest.mark.slow)
        elif item.get_closest_marker("slow") is not None:
            unkinded.append(item.nodeid)
    if unkinded:
        raise pytest.UsageError(f"slow tests without a cost kind ({', '.join(KINDS)}): {', '.join(unkinded[:5])}"
                                + (f" and {len(unkinded) - 5} more" if len(unkinded) > 5 else ""))

"""The check catalog: every topic's formula-vs-Monte-Carlo checks, aggregated explicitly, and
`select_checks`.  Used by `bnreg verify`, `bnreg.verify` and tests/test_checks.py.

Adding a topic: write `checks_<topic>.py` with a module-level `CHECKS` list and add it to TOPICS
(topic modules import only the harness `checks.py`, never this file: no cycle).
"""

from __future__ import annotations

import fnmatch

from . import (
    checks_bn_dynamics,
    checks_bn_noise,
    checks_gamma,
    checks_teacher,
    checks_training_practice,
    checks_variance_shift,
)
from .checks import Check

__all__ = ["TOPICS", "CHECKS", "select_checks"]

TOPICS = {
    "bn_noise": checks_bn_noise,
    "gamma_decay": checks_gamma,
    "teacher_student": checks_teacher,
    "bn_dynamics": checks_bn_dynamics,
    "variance_shift": checks_variance_shift,
    "training_practice": checks_training_practice,
}

CHECKS: list[Check] = [c for mod in TOPICS.values() for c in mod.CHECKS]


def select_checks(pattern: str | None = None) -> list[Check]:
    """Checks whose name matches the glob `pattern` (substring match if it has no wildcard);
    several patterns may be comma-separated; None or "" selects every check."""
    if not pattern:
        return list(CHECKS)
    pats = [p.strip() for p in pattern.split(",") if p.strip()]
    return [c for c in CHECKS if any(
        fnmatch.fnmatch(c.name, p) if any(ch in p for ch in "*?[") else p in c.name for p in pats)]

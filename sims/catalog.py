"""The check catalog: every topic's formula-vs-Monte-Carlo checks, gathered from the topic manifest,
and `select_checks`.  Used by `bnreg verify`, `bnreg.verify` and tests/sims/test_checks.py.

Adding a topic: write `checks_<topic>.py` with a module-level `CHECKS` list and declare the topic
in `bnreg.topics` (topic modules import only the judge `bnreg.testing.judge`, never this file).
"""

from __future__ import annotations

import fnmatch
import importlib

from bnreg.testing.judge import Check
from bnreg.topics import TOPICS as _TOPICS

__all__ = ["TOPICS", "CHECKS", "select_checks"]

# topic name -> its checks module (sims/checks_<topic>.py), from the topic manifest
TOPICS = {t.name: importlib.import_module(t.checks_module) for t in _TOPICS if t.checks_module}

CHECKS: list[Check] = [c for mod in TOPICS.values() for c in mod.CHECKS]


def select_checks(pattern: str | None = None) -> list[Check]:
    """Checks selected by `pattern`: a topic's name (bnreg/topics.py) selects that topic's checks;
    otherwise a glob on check names (substring match if it has no wildcard).  Several patterns may
    be comma-separated; None or "" selects every check."""
    if not pattern:
        return list(CHECKS)
    pats = [p.strip() for p in pattern.split(",") if p.strip()]
    by_topic = {id(c) for p in pats if p in TOPICS for c in TOPICS[p].CHECKS}
    return [c for c in CHECKS if id(c) in by_topic or any(
        fnmatch.fnmatch(c.name, p) if any(ch in p for ch in "*?[") else p in c.name for p in pats)]

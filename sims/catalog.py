"""The check catalog: every topic's formula-vs-Monte-Carlo checks, gathered from the topic manifest,
and `select_checks`.  Used by `bnreg verify`, `bnreg.verify` and tests/sims/test_checks.py.

Adding a topic: write `checks_<topic>.py` with a module-level `CHECKS` list and declare the topic
in `bnreg.topics` (topic modules import only the judge `bnreg.testing.judge`, never this file).
"""

from __future__ import annotations

import fnmatch
import importlib

from bnreg.errors import ParameterError
from bnreg.testing.judge import Check
from bnreg.topics import TOPICS as _TOPICS

__all__ = ["TOPICS", "CHECKS", "select_checks"]

# topic name -> its checks module (sims/checks_<topic>.py), from the topic manifest
TOPICS = {t.name: importlib.import_module(t.checks_module) for t in _TOPICS if t.checks_module}

CHECKS: list[Check] = [c for mod in TOPICS.values() for c in mod.CHECKS]


def select_checks(pattern: str | None = None, what: str = "only") -> list[Check]:
    """Checks selected by `pattern`: a topic's name (bnreg/topics.py) selects that topic's checks;
    otherwise a glob on check names (substring match if it has no wildcard).  Several patterns may
    be comma-separated; None selects every check.  The one validation of `bnreg verify --only` and
    `bnreg.verify(only=...)`: ParameterError for a pattern that is not a string, is empty or matches
    no check, naming the option as `what`."""
    if pattern is None:
        return list(CHECKS)
    if not isinstance(pattern, str):
        raise ParameterError(f"{what} must be a topic or check-name pattern, a string (got {type(pattern).__name__}); "
                             "see `bnreg verify --list`")
    pats = [p.strip() for p in pattern.split(",") if p.strip()]
    if not pats:
        raise ParameterError(f"{what}={pattern!r} names no check: give at least one topic or check-name pattern "
                             "(None selects every check); see `bnreg verify --list`")

    def match(c: Check, p: str) -> bool:
        if p in TOPICS:
            return any(c is t for t in TOPICS[p].CHECKS)
        return fnmatch.fnmatch(c.name, p) if any(ch in p for ch in "*?[") else p in c.name

    unmatched = [p for p in pats if not any(match(c, p) for c in CHECKS)]
    if unmatched:
        raise ParameterError(f"{what}: {', '.join(map(repr, unmatched))} matches no check; see `bnreg verify --list` "
                             f"(topics: {', '.join(TOPICS)})")
    return [c for c in CHECKS if any(match(c, p) for p in pats)]

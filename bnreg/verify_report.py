"""Text table for `bnreg verify` and `bnreg check`: the one formatter lives next to the judging core,
in `bnreg.sims.check_report` (so that `print(CheckResult)` shows the same table)."""

from __future__ import annotations

from bnreg.sims.check_report import format_check, summary_line

__all__ = ["format_check", "summary_line"]

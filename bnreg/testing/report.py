"""The verdict table of a judged check: theory, MC ± SE, z, tolerance, verdict, and the power per wrong variant.

Printed by `bnreg verify`, `bnreg check` and `print(CheckResult)`.
"""

from __future__ import annotations

from typing import Any

# A judged check (`bnreg.testing.judge.CheckResult`, which imports this module to print itself):
# duck-typed here, so that the two modules do not import each other.
CheckResult = Any

__all__ = ["format_check", "summary_line"]


def _params(p: dict) -> str:
    return " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in p.items())


def _dfs(r: CheckResult) -> str:
    return ",".join(str(d) for d in sorted({p.mc.n_chunks - 1 for p in r.points}))


def format_check(r: CheckResult) -> str:
    """The table of one check: status line, tolerance rule, one row per point, power per wrong variant."""
    c = r.check
    n_j = sum(p.judged for p in r.points)
    status = "PASS" if r.passed else ("FAIL" if not r.accepted else "NO POWER")
    lines = [
        f"== {c.name} [{status}] {c.claim}",
        f"   tolerance = z*SE + allowance, z = {r.zcrit:.2f} (two-sided false-alarm {r.alpha:g} per check, "
        f"Bonferroni over {n_j} judged points, Student t df={_dfs(r)}); allowance: {c.allowance_doc}",
    ]
    shown = list(c.shown)
    head = f"   {'params':34s} {'theory':>11s} {'MC':>11s} {'± SE':>9s} {'z':>7s} {'tol':>9s}  {'verdict':8s}"
    head += "".join(f" | {s}" for s in shown)
    lines.append(head)
    for p in r.points:
        if p.judged:
            verdict = "pass" if p.passed else "FAIL"
        else:
            rel = (p.mc.estimate - p.theory) / p.theory * 100 if p.theory else float("nan")
            verdict = f"info: M<{c.min_M}, outside asymptotic regime, off by {rel:+.1f}%"
        row = (f"   {_params(p.params):34s} {p.theory:11.5g} {p.mc.estimate:11.5g} {p.mc.se:9.2g} "
               f"{p.z:7.2f} {p.tol:9.2g}  {verdict:8s}")
        for s in shown:
            v = p.shown[s]
            rel = (v - p.mc.estimate) / abs(p.mc.estimate) * 100 if p.mc.estimate else float("nan")
            row += f" | {v:.5g} ({rel:+.1f}% vs MC)"
        lines.append(row)
    for w, (k, n) in r.power.items():
        mark = "ok" if k > 0 else "NO POWER"
        lines.append(f"   power: wrong variant '{w}' rejected at {k}/{n} judged points [{mark}]")
    if not r.power:
        lines.append("   power: no wrong variant given, so the power of this check is not shown")
    return "\n".join(lines) + "\n"


def summary_line(results: list[CheckResult], command: str = "verify") -> str:
    n_pass = sum(r.passed for r in results)
    n_fail = len(results) - n_pass
    failed = [r.check.name for r in results if not r.passed]
    tail = f" (failed: {', '.join(failed)})" if failed else ""
    return f"{command}: {n_pass} passed, {n_fail} failed{tail}"

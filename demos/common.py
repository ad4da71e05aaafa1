"""Helpers shared by the demos: formatting the printed key numbers, saving the figure through the
project's one figure-saving path (``bnreg.figures._io.save``, imported only when saving, so that a
notebook keeps its inline backend), and optional ipywidgets sliders."""

from __future__ import annotations

import math
import os
import time
from typing import Any

__all__ = ["mc_text", "Report", "interactive", "quick_from_env"]


def mc_text(estimate: float, se: float) -> str:
    """'estimate ± se' with the precision the SE allows."""
    if not math.isfinite(se) or se == 0:
        return f"{estimate:.5g}"
    return f"{estimate:.5g} ± {se:.2g}"


class Report:
    """Collects a demo's printed lines and key numbers and writes its figure; `seed` (the run's one
    seed, the demo's ``main(seed=...)``) is recorded in the saved JSON provenance."""

    def __init__(self, name: str, title: str, quick: bool, seed: int = 0) -> None:
        self.name, self.title, self.quick, self.seed = name, title, quick, seed
        self.numbers: dict[str, float] = {}
        self.lines: list[str] = []
        self.t0 = time.perf_counter()
        self.say(f"== demo {name}{' (quick)' if quick else ''}: {title}")

    def say(self, line: str) -> None:
        """Print a line (and keep it)."""
        self.lines.append(line)
        print(line, flush=True)

    def compare(self, label: str, key: str, theory: float, estimate: float, se: float, extra: str = "") -> None:
        """Print 'label: theory T | simulation E ± SE (z = ...) extra' and record key_theory, key_sim,
        key_se."""
        z = (estimate - theory) / se if se > 0 and math.isfinite(se) else math.nan
        self.say(f"  {label}: theory {theory:.5g} | simulation {mc_text(estimate, se)}"
                 + (f" (z = {z:+.1f})" if math.isfinite(z) else "") + (f" | {extra}" if extra else ""))
        self.numbers.update({f"{key}_theory": float(theory), f"{key}_sim": float(estimate), f"{key}_se": float(se)})

    def number(self, key: str, value: float) -> None:
        """Record a key number (not printed)."""
        self.numbers[key] = float(value)

    def finish(self, fig: Any, table: dict[str, Any], save: str | None, meta: dict[str, Any] | None = None
               ) -> dict[str, float]:
        """Save the figure and table as NAME.png/.pdf/.csv/.json into `save` (if given; the JSON
        holds demo, title, quick, seed, the numbers and `meta`) and return the key numbers (with the
        run time in seconds as "elapsed_s")."""
        elapsed = time.perf_counter() - self.t0
        self.numbers["elapsed_s"] = elapsed
        if save is not None:
            from bnreg.figures._io import save as save_figure

            provenance = {"demo": self.name, "title": self.title, "quick": self.quick, "seed": self.seed,
                          "numbers": self.numbers, **(meta or {})}
            files = save_figure(fig, table, provenance, save, self.name)
            self.say(f"  saved {files[0]} ({elapsed:.1f} s)")
        else:
            self.say(f"  ({elapsed:.1f} s)")
        return self.numbers


def interactive() -> Any:
    """The ipywidgets module when running in a Jupyter kernel with ipywidgets installed, else None
    (the sliders are an optional extra: a script, a test or sphinx-gallery never needs them)."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is None or type(shell).__name__ != "ZMQInteractiveShell":
            return None
        import ipywidgets
    except ImportError:
        return None
    return ipywidgets


def quick_from_env() -> bool:
    """Quick mode for a script run (``python demos/plot_NAME.py``, the documentation's gallery): True
    when the environment variable BNREG_DEMO_QUICK is set and not "0" (the docs build sets it)."""
    return os.environ.get("BNREG_DEMO_QUICK", "0").strip() not in ("", "0")

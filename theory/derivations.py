"""Derivations by name, for `bnreg derive NAME [--latex]`: each prints its steps and result.

Every topic module exports DERIVATION_STEPS (name -> (steps(latex) -> [(label, expr)], description));
they are aggregated here explicitly."""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from bnreg.params import check_choice

from . import bn_dynamics as BD
from . import bn_dynamics_fluctuation as BF
from . import bn_noise as B
from . import dropout as DO
from . import gamma_decay as G
from . import teacher_student as TS
from . import training_practice as TP
from . import variance_shift as VS

__all__ = ["DERIVATIONS", "show"]

TOPICS = (B, G, TS, VS, TP, DO, BD, BF)

DERIVATIONS: dict[str, tuple[Callable[[bool], list[tuple[str, sp.Expr]]], str]] = {}
for _topic in TOPICS:
    DERIVATIONS.update(_topic.DERIVATION_STEPS)


def _fmt(expr: sp.Expr, latex: bool) -> str:
    return sp.latex(expr) if latex else sp.sstr(expr)


def show(name: str, latex: bool = False) -> str:
    """The derivation `name` as text (or LaTeX): one 'label:' line and its expression per step.

    Parameters: name, a key of DERIVATIONS (`bnreg derive list` prints them); latex for LaTeX.
    Returns: the text printed by `bnreg derive NAME`."""
    check_choice("name", name, tuple(DERIVATIONS))
    steps = DERIVATIONS[name][0](latex)
    return "\n".join(f"{label}:\n    {_fmt(expr, latex)}" for label, expr in steps)

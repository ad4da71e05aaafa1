"""Derivations by name, for `bnreg derive NAME [--latex]`: each prints its steps and result."""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from . import bn_noise as B
from . import gamma_decay, teacher_student
from .params import check_choice

__all__ = ["DERIVATIONS", "show"]


def _fmt(expr: sp.Expr, latex: bool) -> str:
    return sp.latex(expr) if latex else sp.sstr(expr)


def _steps_simple_error(latex: bool) -> list[tuple[str, sp.Expr]]:
    d = B.derive_simple_error(2)
    return [
        ("identity mean_i (b_i-a_i)^2 - (1 - 2 s + mean_i a_i^2), batch of 4 symbolic values",
         B.derive_simple_error_identity(4)),
        ("so E[(b-a)^2] = 2 - 2 E[sigma_B]; series for any input", d["series"]),
        ("Gaussian input, exact", d["gaussian_exact"]),
        ("Gaussian exact, expanded by the Stirling series", d["gaussian_series"]),
    ]


def _steps_std(latex: bool) -> list[tuple[str, sp.Expr]]:
    v = B.derive_batch_variance_moments()
    s = B.derive_batch_std_series(2)
    return [("E[s^2] (exact)", v["mean"]), ("Var(s^2) (exact)", v["var"]),
            ("E[sigma_B] = E[sigma sqrt(1+e)], Taylor in e, to O(1/M^2)", s["mean"]),
            ("Var(sigma_B) = E[s^2] - E[sigma_B]^2", s["var"])]


def _steps_dev(latex: bool) -> list[tuple[str, sp.Expr]]:
    d = B.derive_bn_deviation_ms(2)
    seed = B.derive_bn_deviation_ms_seed()
    return [("derived: sample inside its batch, to O(1/M^2)", d),
            ("seed's model (independent Gaussian mu_B, sigma_B; sigma_B unbiased)", seed),
            ("derived - seed, terms of order 1/M", sp.expand(sp.limit(sp.expand((d - seed) * B.M), B.M, sp.oo))
             / B.M)]


DERIVATIONS: dict[str, tuple[Callable[[bool], list[tuple[str, sp.Expr]]], str]] = {
    "batch_mean": (lambda latex: list(B.derive_batch_mean_law().items()), "E[mu_B], Var(mu_B): exact"),
    "batch_std": (_steps_std, "moments of s^2 (exact) and of sigma_B to O(1/M^2)"),
    "gaussian_std_exact": (lambda latex: list(B.derive_batch_std_gaussian_exact().items()),
                           "E[sigma_B], Var(sigma_B) for Gaussian input, exact (chi distribution)"),
    "simple_error": (_steps_simple_error, "the seed's simple example: identity, exact, series"),
    "sample_batch_covariance": (lambda latex: list(B.derive_sample_batch_covariance(2).items()),
                                "correlation of a sample with its own batch mean and std"),
    "bn_deviation_ms": (_steps_dev, "E[(hhat - hbar)^2 | u] to O(1/M^2) vs the seed's formula"),
}

for _topic in (gamma_decay, teacher_student):
    DERIVATIONS.update(_topic.DERIVATION_STEPS)


def show(name: str, latex: bool = False) -> str:
    check_choice("name", name, tuple(DERIVATIONS))
    steps = DERIVATIONS[name][0](latex)
    return "\n".join(f"{label}:\n    {_fmt(expr, latex)}" for label, expr in steps)

"""Exact moments of power sums of i.i.d. samples, the engine behind every batch-statistic law.

For n i.i.d. copies of X with raw moments m_k = E[X^k], and power sums S1 = sum x_i,
S2 = sum x_i^2, the joint moment generating function factorizes:

    E[exp(t S1 + s S2)] = phi(t, s)^n,   phi(t, s) = E[exp(t X + s X^2)],

so E[S1^p S2^q] = p! q! [t^p s^q] exp(n log phi(t, s)).  The coefficient extraction is done
on truncated bivariate power series with SymPy coefficients, exact for every n (symbolic n
allowed).  Reference: Kendall & Stuart, *The Advanced Theory of Statistics* vol. 1, ch. 12
(moments of sample moments); this is the generating-function route to the same tables.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from math import factorial

import sympy as sp

from bnreg.errors import ParameterError

__all__ = ["power_sum_moment", "expect_power_sums", "moment_symbols"]

_Series = dict[tuple[int, int], sp.Expr]


def _mul(a: _Series, b: _Series, p: int, q: int) -> _Series:
    out: _Series = {}
    for (i1, j1), c1 in a.items():
        for (i2, j2), c2 in b.items():
            i, j = i1 + i2, j1 + j2
            if i <= p and j <= q:
                out[(i, j)] = out.get((i, j), 0) + c1 * c2
    return out


def moment_symbols(max_order: int, standardized: bool = True) -> dict[int, sp.Expr]:
    """Raw moments m_k of a standardized variable: m1 = 0, m2 = 1, m3 = skew `g`,
    m4 = rho + 3 (rho = excess kurtosis), m_k = `m_k` symbols for k >= 5.

    Parameters: max_order, the highest k; standardized False for free symbols m1..m_max_order.
    Returns: {k: m_k} for k = 0..max_order (SymPy)."""
    g, rho = sp.symbols("g rho", real=True)
    out: dict[int, sp.Expr] = {0: sp.Integer(1), 1: sp.Integer(0), 2: sp.Integer(1), 3: g, 4: rho + 3}
    if not standardized:
        out = {0: sp.Integer(1)}
        for k in range(1, max_order + 1):
            out[k] = sp.Symbol(f"m{k}", real=True)
        return out
    for k in range(5, max_order + 1):
        out[k] = sp.Symbol(f"m{k}", real=True)
    return out


@cache
def _power_sum_moment_cached(p: int, q: int, n: sp.Expr, moments: tuple) -> sp.Expr:
    mom = dict(moments)
    psi: _Series = {}
    for a in range(p + 1):
        for b in range(q + 1):
            if (a, b) != (0, 0):
                psi[(a, b)] = mom[a + 2 * b] / (factorial(a) * factorial(b))
    # log(1 + psi), truncated: psi has no constant term, so p + q powers suffice.
    log_phi: _Series = {}
    power: _Series = {(0, 0): sp.Integer(1)}
    for k in range(1, p + q + 1):
        power = _mul(power, psi, p, q)
        for key, c in power.items():
            log_phi[key] = log_phi.get(key, 0) + sp.Rational((-1) ** (k + 1), k) * c
    # exp(n log phi), truncated the same way.
    total: _Series = {(0, 0): sp.Integer(1)}
    power = {(0, 0): sp.Integer(1)}
    nl = {key: n * c for key, c in log_phi.items()}
    for k in range(1, p + q + 1):
        power = _mul(power, nl, p, q)
        for key, c in power.items():
            total[key] = total.get(key, 0) + c / factorial(k)
    return sp.expand(total.get((p, q), 0) * factorial(p) * factorial(q))


def power_sum_moment(p: int, q: int, n: sp.Expr, moments: dict[int, sp.Expr]) -> sp.Expr:
    """E[S1^p S2^q] for n i.i.d. draws with raw moments `moments[k] = E[X^k]` (exact).

    Parameters: p, q powers of S1 = sum x_i and S2 = sum x_i^2; n number of draws (may be a
    symbol); moments, raw moments up to order p + 2q.  Returns: the SymPy expression."""
    need = p + 2 * q
    missing = [k for k in range(need + 1) if k not in moments]
    if missing:
        raise ParameterError(f"moments up to order {need} are needed (missing {missing})")
    key = tuple(sorted((k, sp.sympify(v)) for k, v in moments.items() if k <= need))
    return _power_sum_moment_cached(p, q, sp.sympify(n), key)


def expect_power_sums(
    expr: sp.Expr,
    S1: sp.Symbol,
    S2: sp.Symbol,
    n: sp.Expr,
    moments: dict[int, sp.Expr] | Callable[[int], sp.Expr],
) -> sp.Expr:
    """E[expr] where expr is a polynomial in the power sums S1, S2 (other symbols are constants).

    Parameters: expr the polynomial; S1, S2 its power-sum symbols; n number of draws; moments a
    dict {k: E[X^k]} or a function k -> E[X^k].  Returns: E[expr], expanded."""
    poly = sp.Poly(sp.expand(expr), S1, S2)
    out = sp.Integer(0)
    for (p, q), coeff in poly.terms():
        out += coeff * power_sum_moment(p, q, n, moments if isinstance(moments, dict) else {
            k: moments(k) for k in range(p + 2 * q + 1)})
    return sp.expand(out)

"""bnreg: how batch normalization and dropout regularize, derived (SymPy), checked (Numba Monte
Carlo) and drawn (matplotlib).

One import name.  The bottom modules are ``bnreg.errors`` (the two error types), ``bnreg.params``
(parameter validation and declaration) and ``bnreg.topics`` (the topic manifest).  The subpackages are

- ``bnreg.theory``  pure math: SymPy derivations and their numeric twins (no numba, no I/O);
- ``bnreg.runtime`` the engine beneath the science: threads, seeds to streams, the Monte-Carlo chunk
  runner, atomic files, the point cache, sweeps, the shared pool and Dask;
- ``bnreg.sims``    what is simulated: Monte Carlo kernels, students, the CNN library, the checks;
- ``bnreg.figures`` one module per figure, composing both;
- ``bnreg.bench``   the benchmark suites of ``bnreg bench`` (may use all three);
- ``bnreg.testing`` the judge of the checks and its one runner (``bnreg verify``, ``bnreg check``,
  ``verify()``), also a public testing API for your own formulas and a pytest plugin (docs/testing.md).
- ``bnreg.demos``   the classroom demos of ``bnreg demo`` (percent scripts composing all three).

The functions below are the public API a user reaches without knowing that layout::

    import bnreg
    bnreg.formulas()                              # name -> registered formula
    bnreg.evaluate("simple_error", M=32, exact=True)
    bnreg.verify(only="simple_error*", scale="quick")
    bnreg.make_figures(["simple_error"], scale="quick", out="bnreg-figures")

Imports are lazy so that ``import bnreg`` (and ``bnreg --help``) stays fast.
"""

from __future__ import annotations

from pathlib import Path as _Path
from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "formulas", "evaluate", "derivations", "verify", "make_figures", "figure_names"]

# A source checkout without an install: the subpackages are the sibling folders theory/, sims/,
# figures/, bench/ (pyproject maps them to bnreg.theory etc. when installed), so let the import system
# find them there too.  In an installed wheel they live inside bnreg/ and this does nothing.
_checkout = _Path(__file__).resolve().parent.parent
if (_checkout / "pyproject.toml").is_file() and (_checkout / "theory" / "__init__.py").is_file():
    __path__.append(str(_checkout))  # type: ignore[name-defined]  # noqa: F821


def formulas() -> dict[str, Any]:
    """Every registered formula: name -> `bnreg.theory.registry.Formula` (numeric function,
    parameters with ranges, plain-text formula, reference).  See docs/index.md."""
    from .theory.catalog import FORMULAS

    return dict(FORMULAS)


def evaluate(name: str, **params: Any) -> float:
    """Validate `params` against the formula's declared ranges and evaluate it.

    Returns a finite float, or math.inf where the formula diverges by nature (e.g. gen_error_sgd at
    alpha = 1; `bnreg.theory.catalog.evaluate_detail` gives the reason).  Raises
    `bnreg.params.ParameterError` (a ValueError) naming the parameter and its allowed range on
    bad input, or the formula and its parameters where no finite, possible value exists (overflow,
    a series outside its range).  Example: ``evaluate("simple_error", M=32, exact=True)``."""
    from .theory.catalog import evaluate as _evaluate

    return _evaluate(name, **params)


def derivations() -> dict[str, str]:
    """Every SymPy derivation `bnreg derive NAME` prints: name -> one-line description."""
    from .theory.derivations import DERIVATIONS

    return {name: doc for name, (_, doc) in DERIVATIONS.items()}


def verify(only: str | None = None, scale: str = "quick", threads: int | None = None,
           seed: int | None = None) -> list[Any]:
    """Run the formula-vs-Monte-Carlo checks matching `only` (glob or substring, comma-separated;
    None = all) at `scale` (quick | default | paper) and return their `CheckResult`s (each has
    `.passed`, the per-point table and the power against wrong variants).  `threads`: threads for
    everything (None: BNREG_THREADS or all cores); `seed`: the base seed of every check (None: each
    check's own).  The runner of `bnreg verify` (`bnreg.testing.runner.run_suite`); the protocol is
    in docs/verification.md."""
    from .errors import ParameterError
    from .params import check_choice
    from .sims.catalog import select_checks
    from .testing.judge import SCALES
    from .testing.runner import run_suite

    check_choice("scale", scale, tuple(SCALES))
    checks = select_checks(only)
    if not checks:
        raise ParameterError(f"only={only!r} matches no check")
    return run_suite(checks, scale, seed=seed, threads=threads)


def figure_names() -> tuple[str, ...]:
    """The names `make_figures` accepts."""
    from .figures import FIGURE_MODULES

    return FIGURE_MODULES


def make_figures(names: list[str] | str | None = None, scale: str = "default", out: str = "bnreg-figures",
                 **options: Any) -> list[dict[str, Any]]:
    """Regenerate figures (None or "all" = every figure) at `scale` (quick | default | paper) into
    `out` (NAME.png/.pdf/.csv/.json).  `options` are those of `bnreg.figures.run.make_figure`
    (force, seed, workers, threads, backend, address, progress): `workers` processes shared by
    all the figures (default one per core; 1: one figure after another), `threads` Monte Carlo /
    numba / BLAS threads in each (default cores // workers); see `bnreg.figures.run.make_figures`.
    Returns one status dict per figure."""
    from .figures import FIGURE_MODULES
    from .figures.run import make_figures as _make_figures

    if names is None or names == "all" or names == ["all"]:
        names = list(FIGURE_MODULES)
    elif isinstance(names, str):
        names = [names]
    return _make_figures(names, scale, out, **options)

"""Demos: one percent-format script per topic (`demos/plot_<name>.py`, importable as
``bnreg.demos.plot_<name>``), each runnable as a plain script, by ``bnreg demo NAME``, by
sphinx-gallery (a docstring title and ``# %%`` cells) and as a notebook (``bnreg demo NAME --notebook
DIR``).  Every demo module has ``main(save=None, quick=False) -> dict`` (its key numbers), prints a
few lines (theory vs simulation, with standard errors) and draws one figure, saved as NAME.png
(.pdf, .csv, .json) through the project's one figure-saving path when ``save`` is a directory.

The registry `DEMOS` (name -> one-line description) is what ``bnreg demo list`` prints; nothing
here imports a demo until it is run.  Layering: demos compose theory, sims and figures; nothing
else imports them (except the CLI).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["DEMOS", "demo_module", "demo_path", "run_demo"]

DEMOS: dict[str, str] = {
    "bn_noise": "BN noise: the simple example E[(b-a)^2], exact vs 3/(2M) vs Monte Carlo, at a few M",
    "gamma_decay": "gamma decay: the BN-minus-PN loss of GLM units vs Luo et al.'s zeta and the derived value",
    "teacher_student": "teacher-student: generalization error vs alpha = P/N, theory vs students solved and trained",
    "bn_dynamics": "BN at a finite learning rate: stationary error vs lr/|w|^2, students vs the noise ridge",
    "variance_shift": "dropout before BN: the variance shift Delta vs keep, one unit and through depth",
    "dropout_schedules": "dropout schedules (none, constant, early, late) on MNIST-1D with the CNN library",
    "initialization": "initialization: forward variance, gradients and dying ReLU through deep tanh/ReLU/sigmoid nets",
    "bn_running_stats": "BN running statistics: bias and variance of the EMA, with and without warm-up",
    "lr_batch_size": "learning rate and batch size: minibatch-gradient noise vs M and the linear scaling rule",
    "weight_decay": "L1 vs L2 weight decay (sparsity, test error) and early stopping on a small training set",
}


def demo_module(name: str) -> ModuleType:
    """The module of demo `name` (a key of DEMOS); ParameterError listing the names otherwise."""
    from bnreg.theory.params import ParameterError

    if name not in DEMOS:
        raise ParameterError(f"unknown demo {name!r}; known: {', '.join(DEMOS)}")
    return importlib.import_module(f"{__name__}.plot_{name}")


def demo_path(name: str) -> Path:
    """The source file of demo `name` (the one source of its script, page and notebook)."""
    if name not in DEMOS:
        demo_module(name)  # raises the ParameterError
    return Path(__file__).resolve().parent / f"plot_{name}.py"


def run_demo(name: str, save: str | Path | None = None, quick: bool = False) -> dict[str, Any]:
    """Run demo `name`: prints its key numbers, saves NAME.png/.pdf/.csv/.json into `save` (a
    directory; None: no files) and returns the key numbers.  `quick`: a few seconds (tests)."""
    mod = demo_module(name)
    if save is not None:
        import matplotlib

        matplotlib.use("Agg")  # files only: never open a window
    return mod.main(save=None if save is None else str(save), quick=quick)

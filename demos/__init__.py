"""Demos: one percent-format script per topic (`demos/plot_<name>.py`, importable as
``bnreg.demos.plot_<name>``), each runnable as a plain script, by ``bnreg demo NAME``, by
sphinx-gallery (a docstring title and ``# %%`` cells) and as a notebook (``bnreg demo NAME --notebook
DIR``).  Every demo module has ``main(save=None, quick=False, seed=0) -> dict`` (its key numbers),
prints a few lines (theory vs simulation, with standard errors) and draws one figure, saved as
NAME.png (.pdf, .csv, .json) through the project's one figure-saving path when ``save`` is a
directory.

Seeds: every random number of a demo comes from its one ``seed`` S, by the toolkit's rule
(bnreg.runtime.rng): each independent unit of work gets ``derive_seed(S, NAME, key...)``, whose
simulation spawns its chunk streams from it; replicate k of a trained run (a CNN/MLP training seed)
uses S + k, and the few fixed datasets a demo draws (a train/validation split, a synthetic
regression problem) use S plus a small fixed offset.  S = 0 (the default) is the numbers the docs
show; the saved JSON records S.

The registry `DEMOS` (name -> one-line description, declared per topic in `bnreg.topics`) is
what ``bnreg demo list`` prints; nothing here imports a demo until it is run.  Layering: demos
compose theory, sims and figures; nothing else imports them (except the CLI).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

from bnreg.runtime.rng import MAX_SEED
from bnreg.topics import demo_descriptions

__all__ = ["DEMOS", "demo_module", "demo_path", "run_demo"]

DEMOS: dict[str, str] = demo_descriptions()  # every topic's demos (bnreg.topics), in topic order


def demo_module(name: str) -> ModuleType:
    """The module of demo `name` (a key of DEMOS); ParameterError listing the names otherwise."""
    from bnreg.params import ParameterError

    if name not in DEMOS:
        raise ParameterError(f"unknown demo {name!r}; known: {', '.join(DEMOS)}")
    return importlib.import_module(f"{__name__}.plot_{name}")


def demo_path(name: str) -> Path:
    """The source file of demo `name` (the one source of its script, page and notebook)."""
    if name not in DEMOS:
        demo_module(name)  # raises the ParameterError
    return Path(__file__).resolve().parent / f"plot_{name}.py"


def run_demo(name: str, save: str | Path | None = None, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Run demo `name`: prints its key numbers, saves NAME.png/.pdf/.csv/.json into `save` (a
    directory; None: no files) and returns the key numbers.  `quick`: a few seconds (tests);
    `seed`: the run's one seed, from which every random number of the demo is drawn (0: the
    documented numbers)."""
    from bnreg.params import check_int

    mod = demo_module(name)
    seed = check_int("seed", seed, 0, MAX_SEED)
    if save is not None:
        import matplotlib

        matplotlib.use("Agg")  # files only: never open a window
    return mod.main(save=None if save is None else str(save), quick=quick, seed=seed)

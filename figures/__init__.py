"""Figures: one module per figure, each with SCALES, compute(...) and plot(...).

The interface every figure module offers to figures/run.py (`bnreg figures NAME`):
- NAME, TITLE: file stem and title (recorded in NAME.json).
- SCALES: {"quick" | "default" | "paper": spec}, the parameters of a run at each scale.
- compute(spec, seed, cache, **sweep_kw) -> dict of arrays: every plotted number (NAME.csv);
  spec is one of SCALES, seed the base seed, cache a bnreg.runtime.cache.PointCache, sweep_kw the
  execution options (workers, threads, backend, address, progress).
- point(**record) -> dict (most modules): one independent, cached unit of work of compute; a record
  is a JSON-able dict of keyword arguments including its derived seed, and `bnreg.runtime.sweeps.sweep`
  caches it under the figure name plus the record (the cnn_* figures sweep training configs
  through `bnreg.sims.nn.sweep.run_configs`).
- plot(data) -> matplotlib Figure, drawn from compute's output only.
Each module's docstring says what the figure shows, whose claim it tests (papers by title and
arXiv id) and which docs/ page explains it.
"""

from bnreg.topics import figure_names

__all__ = ["FIGURE_MODULES"]

FIGURE_MODULES: tuple[str, ...] = figure_names()  # every topic's figures (bnreg.topics), in topic order

"""Multiplicative dropout noise, y = x * m with E[m] = 1 in training, y = x at inference
(docs/cnn_library.md, "Dropout").

p = p_drop is the *drop rate* (keep probability q = 1 - p); all three kinds have the same mask
variance Var[m] = p/q, so a given p_drop is the same noise level across kinds:
  bernoulli  m = B/q, B ~ Bernoulli(q)           (inverted dropout; Srivastava et al., "Dropout: A
                                                   Simple Way to Prevent Neural Networks from
                                                   Overfitting", JMLR 15, 2014)
  gaussian   m = 1 + n, n ~ N(0, p/q)            (Gaussian dropout, same paper, §10)
  uout       m = 1 + r, r ~ U(-beta, beta), beta = sqrt(3 p/q), Var = beta^2/3  (Li, Chen, Hu, Yang,
             "Understanding the Disharmony between Dropout and Batch Normalization by Variance
             Shift", CVPR 2019, arXiv:1801.05134)
The mask is drawn per element (per example, position and channel) from the layer's own
numpy Generator (seeded by the model), so runs are reproducible by seed.

Rate schedules (Liu, Xu, Jin, Shen, Darrell, "Dropout Reduces Underfitting", ICML 2023,
arXiv:2303.01500), per SGD iteration t = 0, 1, ... with cutoff T_c iterations (`scheduled_rate`; the
model sets t and T_c with `Model.set_step`):
  constant      p(t) = p                                  (the paper's "standard")
  early         p(t) = p for t < T_c, else 0              ("early dropout", constant)
  early_linear  p(t) = p (T_c - 1 - t)/(T_c - 1) for t < T_c, else 0   (linear from p at t = 0 to 0 at
                t = T_c - 1; T_c <= 1: 0)
  late          p(t) = 0 for t < T_c, else p              ("late dropout")
T_c is the config's ``dropout_cutoff`` (iterations) or, when that is None, `cutoff_step(switch,
total)` = the first iteration t with t/total >= switch, so "early"/"late" switch exactly where the
earlier progress rule (t/total < switch) switched.

The choices of the model's ``dropout``, ``dropout_place`` and ``dropout_schedule``
(sims.nn.config.CNNConfig) are `DROPOUTS`, `PLACES` (before/after the normalization of every hidden
layer, or "last": one dropout after the last hidden layer, the only place no normalization follows;
placed by sims.nn.model) and `SCHEDULES`.  ``enabled = False`` makes a layer the identity in training
mode too (`Model.dropout_off`, used to re-estimate BN statistics without dropout).
"""

from __future__ import annotations

import math

import numpy as np

from bnreg.errors import ParameterError

from .layers import Layer

__all__ = ["DROPOUTS", "SCHEDULES", "PLACES", "Dropout", "scheduled_rate", "cutoff_step"]

DROPOUTS = ("none", "bernoulli", "gaussian", "uout")
SCHEDULES = ("constant", "early", "early_linear", "late")
PLACES = ("before", "after", "last")


def cutoff_step(switch: float, total: int) -> int:
    """The first iteration t >= 0 with t/total >= switch (the cutoff T_c a progress fraction `switch` of
    `total` iterations means; exact in floating point, so t < T_c <=> t/total < switch)."""
    total = max(int(total), 1)
    t = max(0, math.ceil(switch * total))
    while t > 0 and (t - 1) / total >= switch:
        t -= 1
    while t / total < switch:
        t += 1
    return t


def scheduled_rate(p: float, schedule: str, step: int, cutoff: int) -> float:
    """Drop rate at SGD iteration `step` (0-based) under `schedule` (one of `SCHEDULES`) for base rate
    `p` and cutoff T_c = `cutoff` iterations (see the module docstring).  Returns the rate."""
    if schedule == "constant":
        return p
    if schedule == "early":
        return p if step < cutoff else 0.0
    if schedule == "early_linear":
        return p * (cutoff - 1 - step) / (cutoff - 1) if step < cutoff and cutoff > 1 else 0.0
    if schedule == "late":
        return 0.0 if step < cutoff else p
    raise ParameterError(f"dropout_schedule must be one of {', '.join(SCHEDULES)} (got {schedule!r})")


class Dropout(Layer):
    """Dropout of one kind with a scheduled rate; identity when not training or at rate 0."""

    def __init__(self, kind: str, p: float, rng: np.random.Generator, schedule: str = "constant",
                 switch: float = 0.25, cutoff: int | None = None) -> None:
        if kind not in DROPOUTS:
            raise ParameterError(f"dropout must be one of {', '.join(DROPOUTS)} (got {kind!r})")
        self.kind, self.p, self.rng, self.schedule, self.switch = kind, float(p), rng, schedule, switch
        self.cutoff = cutoff  # T_c in iterations; None: cutoff_step(switch, total)
        self.step, self.total = 0, 1
        self.enabled = True   # False: identity in training mode too (Model.dropout_off)
        self.params = []
        self._mask: np.ndarray | None = None

    @property
    def rate(self) -> float:
        """The drop rate at the current iteration `step` of `total` (`scheduled_rate`)."""
        tc = self.cutoff if self.cutoff is not None else cutoff_step(self.switch, self.total)
        return scheduled_rate(self.p, self.schedule, self.step, tc)

    def mask(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A fresh multiplicative mask m with E[m] = 1 and Var[m] = p/(1-p) at the current rate."""
        p = self.rate
        q = 1.0 - p
        if self.kind == "bernoulli":
            m = self.rng.random(shape, dtype=np.float32) >= p
            return m.astype(dtype) * dtype.type(1.0 / q)
        if self.kind == "gaussian":
            m = self.rng.standard_normal(shape, dtype=np.float32) * np.float32(np.sqrt(p / q))
        else:  # uout
            beta = np.sqrt(3.0 * p / q)
            m = self.rng.random(shape, dtype=np.float32) * np.float32(2 * beta) - np.float32(beta)
        m += 1
        return m.astype(dtype, copy=False)

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        if not training or not self.enabled or self.kind == "none" or self.rate == 0.0:
            self._mask = None
            return x
        self._mask = self.mask(x.shape, x.dtype)
        return x * self._mask

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy if self._mask is None else dy * self._mask

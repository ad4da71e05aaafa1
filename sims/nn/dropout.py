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
arXiv:2303.01500), with training progress f in [0, 1] set by `set_progress`:
  constant  p(f) = p
  early     p(f) = p for f < switch, else 0
  late      p(f) = 0 for f < switch, else p

The choices of the model's ``dropout``, ``dropout_place`` and ``dropout_schedule``
(sims.nn.config.CNNConfig) are `DROPOUTS`, `PLACES` (before/after the normalization of every hidden
layer, or "last": one dropout after the last hidden layer, the only place no normalization follows;
placed by sims.nn.model) and `SCHEDULES`.  ``enabled = False`` makes a layer the identity in training
mode too (`Model.dropout_off`, used to re-estimate BN statistics without dropout).
"""

from __future__ import annotations

import numpy as np

from .layers import Layer

__all__ = ["DROPOUTS", "SCHEDULES", "PLACES", "Dropout", "scheduled_rate"]

DROPOUTS = ("none", "bernoulli", "gaussian", "uout")
SCHEDULES = ("constant", "early", "late")
PLACES = ("before", "after", "last")


def scheduled_rate(p: float, schedule: str, progress: float, switch: float) -> float:
    """Drop rate at training progress `progress` in [0, 1] under `schedule` (one of `SCHEDULES`)
    for base rate `p` and switch point `switch` (see the module docstring).  Returns the rate."""
    if schedule == "constant":
        return p
    if schedule == "early":
        return p if progress < switch else 0.0
    if schedule == "late":
        return 0.0 if progress < switch else p
    raise ValueError(f"dropout_schedule must be one of {', '.join(SCHEDULES)} (got {schedule!r})")


class Dropout(Layer):
    """Dropout of one kind with a scheduled rate; identity when not training or at rate 0."""

    def __init__(self, kind: str, p: float, rng: np.random.Generator, schedule: str = "constant",
                 switch: float = 0.25) -> None:
        if kind not in DROPOUTS:
            raise ValueError(f"dropout must be one of {', '.join(DROPOUTS)} (got {kind!r})")
        self.kind, self.p, self.rng, self.schedule, self.switch = kind, float(p), rng, schedule, switch
        self.progress = 0.0
        self.enabled = True   # False: identity in training mode too (Model.dropout_off)
        self.params = []
        self._mask: np.ndarray | None = None

    @property
    def rate(self) -> float:
        """The drop rate at the current training progress (`scheduled_rate`)."""
        return scheduled_rate(self.p, self.schedule, self.progress, self.switch)

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

"""Simulations of training practice (docs/training_practice.md; theory in
bnreg.theory.training_practice): deep nets at initialization built from the network library's
`Dense` layers and dead ReLUs on a correlated batch, BN's running statistics (a numba kernel),
minibatch-gradient noise and constant-step SGD on linear least squares, L1/L2 on an orthonormal design
(proximal descent, and the estimators on z ~ N(w*, sigma^2) directly), and a small MLP on the digits with
weight decay and early stopping.  Imports theory only to validate parameters and for the
initialization scales.

Layout.  This module is the simulations' public face: it re-exports training_practice_init (1),
training_practice_ema (2), training_practice_noise (3) and training_practice_penalties (4).  The
numba kernels, outside `__all__`, are re-exported as `name as name`."""

from __future__ import annotations

from .training_practice_ema import RunningStatsResult, simulate_running_stats
from .training_practice_ema import ema_kernel as ema_kernel
from .training_practice_init import DeepNet, Identity, InitResult, Sigmoid, Tanh, simulate_dead_relu, simulate_init
from .training_practice_init import dead_relu_kernel as dead_relu_kernel
from .training_practice_noise import (
    linear_dataset,
    per_example_gradients,
    simulate_minibatch_noise,
    simulate_sgd_linear,
)
from .training_practice_noise import minibatch_noise_kernel as minibatch_noise_kernel
from .training_practice_noise import sgd_linear_kernel as sgd_linear_kernel
from .training_practice_penalties import (
    gd_teacher_errors,
    simulate_orthonormal_estimates,
    simulate_penalized_orthonormal,
    train_mlp,
)
from .training_practice_penalties import orthonormal_estimates_kernel as orthonormal_estimates_kernel

__all__ = ["Identity", "Tanh", "Sigmoid", "DeepNet", "InitResult", "simulate_init", "simulate_dead_relu",
           "RunningStatsResult", "simulate_running_stats", "linear_dataset", "per_example_gradients",
           "simulate_minibatch_noise", "simulate_sgd_linear", "simulate_penalized_orthonormal",
           "simulate_orthonormal_estimates", "gd_teacher_errors", "train_mlp"]

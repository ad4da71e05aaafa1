"""SGD with momentum and the learning-rate schedules (docs/cnn.md, "Protocol").

SGD (PyTorch convention, the form of Sutskever, Martens, Dahl, Hinton, "On the importance of
initialization and momentum in deep learning", ICML 2013, without dampening):
    v <- momentum * v + grad,   p <- p - lr * v
No weight decay.  Learning-rate schedules `LR_SCHEDULES` over T steps (`scheduled_lr`):
constant; cosine lr (1 + cos(pi t / T)) / 2; step: x0.1 at 50 % and again at 75 % of T."""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from bnreg.errors import ParameterError
from bnreg.params import check_float
from bnreg.runtime import run_parts

from .gemm import PAR_MIN
from .layers import Parameter

__all__ = ["SGD", "LR_SCHEDULES", "scheduled_lr"]

LR_SCHEDULES = ("constant", "cosine", "step")


def scheduled_lr(lr: float, schedule: str, step: int, total: int) -> float:
    """Learning rate at `step` of `total` steps under `schedule` (one of `LR_SCHEDULES`) for base
    rate `lr` (see the module docstring).  Returns the rate."""
    if schedule == "cosine":
        return lr * 0.5 * (1.0 + math.cos(math.pi * step / total))
    if schedule == "step":
        return lr * (0.1 if step >= total // 2 else 1.0) * (0.1 if step >= (3 * total) // 4 else 1.0)
    if schedule == "constant":
        return lr
    raise ParameterError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)} (got {schedule!r})")


class SGD:
    """Momentum SGD over a list of `Parameter`s (updates .value in place from .grad); `lr` > 0 and
    `momentum` in [0, 1) (ParameterError otherwise)."""

    def __init__(self, params: list[Parameter], lr: float, momentum: float = 0.9) -> None:
        self.params = list(params)
        self.lr = check_float("lr", lr, 0.0, lo_open=True)
        self.momentum = check_float("momentum", momentum, 0.0, 1.0, hi_open=True)
        self._v = [np.zeros_like(p.value) for p in self.params]

    def step(self) -> None:
        """One update of every parameter from its .grad with the current `lr` and `momentum`."""
        lr, mom = self.lr, self.momentum
        for p, v in zip(self.params, self._v, strict=True):
            pf, gf, vf = p.value.reshape(-1), p.grad.reshape(-1), v.reshape(-1)
            if pf.size < 2 * PAR_MIN:
                _sgd_kernel(pf, gf, vf, lr, mom, 0, pf.size)
            else:
                run_parts(lambda _k, a, b, pf=pf, gf=gf, vf=vf: _sgd_kernel(pf, gf, vf, lr, mom, a, b),
                          pf.size, PAR_MIN)


@nb.njit(cache=True, nogil=True)
def _sgd_kernel(p, g, v, lr, momentum, r0, r1):  # pragma: no cover - njit
    """Fused update on p[r0:r1]: v = momentum v + g; p -= lr v."""
    for r in range(r0, r1):
        vr = momentum * v[r] + g[r]
        v[r] = vr
        p[r] -= lr * vr

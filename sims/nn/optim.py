"""SGD with momentum (PyTorch convention, Sutskever et al. 2013 form without dampening):
    v <- momentum * v + grad,   p <- p - lr * v
No weight decay (the seed's CNN experiments use none; seed 001 §2.4)."""

from __future__ import annotations

import numba as nb
import numpy as np

from bnreg.theory.params import check_float

from .layers import PAR_MIN, Parameter, run_parts

__all__ = ["SGD"]


class SGD:
    """Momentum SGD over a list of `Parameter`s (updates .value in place from .grad)."""

    def __init__(self, params: list[Parameter], lr: float, momentum: float = 0.9) -> None:
        self.params = list(params)
        self.lr = check_float("lr", lr, 0.0, lo_open=True)
        self.momentum = check_float("momentum", momentum, 0.0, 1.0, hi_open=True)
        self._v = [np.zeros_like(p.value) for p in self.params]

    def step(self) -> None:
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

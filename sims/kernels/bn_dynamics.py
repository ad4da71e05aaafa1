"""BN student SGD steps with the scale of w controlled: renormalization after each step (fixed
effective learning rate lr/|w|^2) or weight decay on w (docs/bn_dynamics.md).  Same
forward/backward as `teacher_student.bn_epoch` (the shared kernels.batchnorm through
`teacher_student.bn_unit_step`, C = 1, beta = 0); the data layout and batching are those of that
module.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .teacher_student import batch_axpy, batch_dots, bn_unit_step, bn_unit_work

__all__ = ["bn_epoch_scaled"]


@njit(cache=True, nogil=True)
def bn_epoch_scaled(X, y, perm, M, lr, wd, renorm, w, gamma, running_mean, running_var, momentum, eps,
                    acc):  # pragma: no cover - njit
    """One epoch of SGD on (1/M) sum (gamma (h - mu_B)/sigma_B - y)^2, h = w.x, beta = 0:
      w <- w - lr (dL/dw + wd w),   gamma <- gamma - lr dL/dgamma,
    then, if renorm > 0, w <- renorm w/|w| (the BN output is invariant to the scale of w, so this
    only fixes the effective learning rate lr/|w|^2 of the direction).  wd = 0 and renorm = 0 is
    plain SGD (bn_epoch).  Per step: acc[0] += lr/|w|^2 (|w| before the step: the effective
    learning rate), acc[1] += the batch loss, acc[2] += 1, acc[3] += |w|^2 |dL/dw|^2 (= |grad_u L_B|^2
    at the unit vector u = w/|w|, from |w'|^2 = (1 - lr wd)^2 |w|^2 + lr^2 |dL/dw|^2: the step is
    orthogonal to w, up to the BN eps).  Returns the mean batch loss."""
    nb = perm.shape[0] // M
    n = w.shape[0]
    work = bn_unit_work(M)
    hv = np.empty(M)
    coef = np.empty(M)
    loss = 0.0
    for b in range(nb):
        rows = perm[b * M:(b + 1) * M]
        batch_dots(X, rows, w, hv)
        lb, dgamma, _ = bn_unit_step(hv, y, rows, gamma, running_mean, running_var, momentum, eps, work, coef)
        loss += lb
        nw2 = 0.0
        for k in range(n):
            nw2 += w[k] * w[k]
        acc[0] += lr / nw2
        acc[1] += lb / M
        acc[2] += 1.0
        if wd > 0.0:
            f = 1.0 - lr * wd
            for k in range(n):
                w[k] *= f
        for i in range(M):
            coef[i] *= -lr
        batch_axpy(X, rows, coef, w)
        gamma[0] -= lr * dgamma
        nw2_new = 0.0
        for k in range(n):
            nw2_new += w[k] * w[k]
        acc[3] += nw2 * (nw2_new - (1.0 - lr * wd) ** 2 * nw2) / (lr * lr)
        if renorm > 0.0:
            f = renorm / np.sqrt(nw2_new)
            for k in range(n):
                w[k] *= f
    return loss / (nb * M)

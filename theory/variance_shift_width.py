"""The variance shift of a random stack at finite width: a MEASURED law (docs/variance_shift.md,
"Finite width").  The mean field of `theory.variance_shift.mean_field_shift` is the infinite-width
limit; here it is multiplied by (1 + b_l + a_l/n + c_l/n^2) with coefficients fitted to random
stacks (`bnreg figures variance_shift_width --paper`).  Not derived: the O(1/width) correction comes
from the correlations between units and the spread of the per-unit ratios, which the mean field
drops, and it resisted a derivation."""

from __future__ import annotations

import math

import numpy as np

from bnreg.params import ParameterError, check_float, check_int

from .variance_shift import mean_field_shift

__all__ = ["WIDTH_CORRECTION", "WIDTH_DEPTH", "finite_width_shift", "finite_width_uncertainty"]

# The gap of a random stack of width n below `mean_field_shift`, MEASURED (not derived): per layer l,
# a weighted least-squares fit of r_l(n)/MF_l - 1 = b_l + a_l/n + c_l/n^2 over widths n = 32 ... 1024
# (`bnreg figures variance_shift_width --paper`, default seed 2019: 8 to 512 independent networks per width;
# docs/variance_shift.md, "Finite width").  Protocol of the networks: Bernoulli dropout, inputs
# N(0, 1) (c = 0, v = 1), batches of M = 128, n_train = n_test = 32768, depth 8.  Keyed by keep: per
# layer 1..8, ((b_l, a_l, c_l), their 3 x 3 covariance); layer 1 is exact at any width (zeros).
_Coef = tuple[tuple[float, float, float], tuple[tuple[float, float, float], ...]]
WIDTH_CORRECTION: dict[float, tuple[_Coef, ...]] = {
    0.5: (  # widths 32, 48, 64, 96, 128, 256, 512, 1024; networks 512, 384, 384, 256, 256, 96, 32, 8
        ((0.0, 0.0, 0.0), ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0))),  # layer 1: exact
        ((-0.0023474, -0.411939, 2.15766),  # layer 2: chi2 11.4 / 5 dof
         ((7.98301e-08, -1.4057e-05, 0.000417751),
          (-1.4057e-05, 0.00364144, -0.122363),
          (0.000417751, -0.122363, 4.67687))),
        ((-0.00710215, -1.00483, -4.19089),  # layer 3: chi2 7.5 / 5 dof
         ((3.66312e-06, -0.00053719, 0.0144988),
          (-0.00053719, 0.107723, -3.24419),
          (0.0144988, -3.24419, 106.768))),
        ((-0.0100193, -2.86219, 11.1121),  # layer 4: chi2 11.1 / 5 dof
         ((1.62974e-05, -0.00231998, 0.0617112),
          (-0.00231998, 0.473986, -14.2897),
          (0.0617112, -14.2897, 473.066))),
        ((-0.0164264, -4.62181, 14.6344),  # layer 5: chi2 6.4 / 5 dof
         ((3.03807e-05, -0.00432251, 0.115332),
          (-0.00432251, 0.896407, -27.277),
          (0.115332, -27.277, 915.788))),
        ((-0.028518, -5.05505, 10.454),  # layer 6: chi2 7.7 / 5 dof
         ((5.42018e-05, -0.00773006, 0.206758),
          (-0.00773006, 1.54688, -46.7092),
          (0.206758, -46.7092, 1549.46))),
        ((-0.0393949, -5.9832, 3.18636),  # layer 7: chi2 4.5 / 5 dof
         ((6.18819e-05, -0.00897206, 0.240013),
          (-0.00897206, 1.90347, -57.8416),
          (0.240013, -57.8416, 1934.46))),
        ((-0.0391314, -8.84706, 58.882),  # layer 8: chi2 4.0 / 5 dof
         ((7.55475e-05, -0.0111186, 0.299106),
          (-0.0111186, 2.39948, -73.2399),
          (0.299106, -73.2399, 2463.2))),
    ),
    0.8: (  # widths 32, 48, 64, 96, 128, 256, 512, 1024; networks 512, 384, 384, 256, 256, 96, 32, 8
        ((0.0, 0.0, 0.0), ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0))),  # layer 1: exact
        ((-0.00398243, -0.241708, -1.03984),  # layer 2: chi2 4.6 / 5 dof
         ((2.64232e-08, -4.43159e-06, 0.000129254),
          (-4.43159e-06, 0.00110197, -0.036491),
          (0.000129254, -0.036491, 1.36189))),
        ((-0.00862051, -0.56422, -6.40648),  # layer 3: chi2 5.5 / 5 dof
         ((3.63943e-07, -5.50807e-05, 0.00153059),
          (-5.50807e-05, 0.0115657, -0.361256),
          (0.00153059, -0.361256, 12.4703))),
        ((-0.0130089, -1.6608, 9.41754),  # layer 4: chi2 1.4 / 5 dof
         ((2.91408e-06, -0.000406485, 0.0107651),
          (-0.000406485, 0.0755242, -2.22994),
          (0.0107651, -2.22994, 71.823))),
        ((-0.018113, -3.00808, 18.765),  # layer 5: chi2 1.0 / 5 dof
         ((9.04903e-06, -0.00121972, 0.0317329),
          (-0.00121972, 0.215053, -6.22963),
          (0.0317329, -6.22963, 196.829))),
        ((-0.0253926, -4.24398, 8.37401),  # layer 6: chi2 3.9 / 5 dof
         ((1.75977e-05, -0.00237392, 0.0616218),
          (-0.00237392, 0.428389, -12.4312),
          (0.0616218, -12.4312, 392.665))),
        ((-0.0256123, -7.4798, 51.4792),  # layer 7: chi2 4.6 / 5 dof
         ((3.46096e-05, -0.00460427, 0.119313),
          (-0.00460427, 0.785346, -22.5444),
          (0.119313, -22.5444, 703.101))),
        ((-0.0294193, -10.6984, 99.483),  # layer 8: chi2 7.5 / 5 dof
         ((4.57773e-05, -0.00621468, 0.161466),
          (-0.00621468, 1.08892, -31.2361),
          (0.161466, -31.2361, 969.257))),
    ),
}
WIDTH_DEPTH = 8


def _width_args(layer: int, width: int, keep: float) -> tuple[int, int, float]:
    layer = check_int("layer", layer, 1, WIDTH_DEPTH)
    width = check_int("width", width, 32, 10**9)
    keep = check_float("keep", keep, 0.0, 1.0, lo_open=True)
    if keep not in WIDTH_CORRECTION:
        raise ParameterError(f"keep must be one of the measured values {', '.join(f'{k:g}' for k in WIDTH_CORRECTION)} "
                             f"(got {keep:g}): the finite-width coefficients are measured, not derived")
    return layer, width, keep


def finite_width_shift(layer: int, width: int, keep: float) -> float:
    """var_ratio of BN layer `layer` of a random stack of width n = `width` at dropout keep `keep`:
    r_l(n) = MF_l (1 + b_l + a_l/n + c_l/n^2), MF_l = mean_field_shift(8, keep)["var_ratio"][l-1],
    (b_l, a_l, c_l) measured (WIDTH_CORRECTION; Bernoulli dropout, c = 0, v = 1, M = 128).

    Parameters: layer 1..8; width >= 32 (fitted on 32 ... 1024; larger n tends to MF_l (1 + b_l));
    keep one of the measured values.  Returns: the ratio (real inference variance / running variance
    of the BN input).  docs/variance_shift.md, "Finite width"."""
    layer, width, keep = _width_args(layer, width, keep)
    mf = float(mean_field_shift(WIDTH_DEPTH, keep=keep)["var_ratio"][layer - 1])
    b, a, c = WIDTH_CORRECTION[keep][layer - 1][0]
    return mf * (1.0 + b + a / width + c / width**2)


def finite_width_uncertainty(layer: int, width: int, keep: float) -> float:
    """The standard error of `finite_width_shift` from the fit: MF_l sqrt(x^T Cov x), x = (1, 1/n, 1/n^2)."""
    layer, width, keep = _width_args(layer, width, keep)
    mf = float(mean_field_shift(WIDTH_DEPTH, keep=keep)["var_ratio"][layer - 1])
    x = np.array([1.0, 1.0 / width, 1.0 / width**2])
    return mf * math.sqrt(max(float(x @ np.array(WIDTH_CORRECTION[keep][layer - 1][1]) @ x), 0.0))

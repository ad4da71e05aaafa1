"""A small GPU-free CNN library (numpy + numba): layers with explicit backward, the
normalization family (BN, PN + gamma decay, WN, WN + mean-/variance-only BN), dropout variants
and schedules, SGD.  Channels-last (B, H, W, C).  See docs/cnn_library.md."""

from .layers import Parameter
from .model import CNNConfig, Model, build_cnn, softmax_cross_entropy
from .optim import SGD

__all__ = ["CNNConfig", "Model", "Parameter", "SGD", "build_cnn", "softmax_cross_entropy"]

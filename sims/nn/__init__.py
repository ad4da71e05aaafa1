"""A small GPU-free CNN library (numpy + numba): layers with explicit backward, the
normalization family (BN, PN + gamma decay, WN, WN + mean-/variance-only BN), dropout variants
and schedules, SGD, and the training loop of the CNN experiments.  Channels-last (B, H, W, C).
See docs/cnn_library.md (the library) and docs/cnn.md (the experiments).

Modules: config (CNNConfig, the one configuration, declared field by field), layers (the layer
classes), gemm (convolution as blocked GEMM), norm, dropout, model (build_cnn), optim (SGD,
learning-rate schedules), data (datasets), train (one run), diagnostics (variance shift, gradient
diagnostics), checkpoint (save/resume), sweep (many runs, cached).  Threads: `bnreg.runtime`."""

from .config import CNNConfig
from .layers import Parameter
from .model import Model, build_cnn, softmax_cross_entropy
from .optim import SGD

__all__ = ["CNNConfig", "Model", "Parameter", "SGD", "build_cnn", "softmax_cross_entropy"]

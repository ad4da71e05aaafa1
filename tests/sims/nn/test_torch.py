"""Cross-check of sims.nn conv / BN / linear / max-pool / the whole CNN against torch.nn
(float64, forward and backward).  Skips cleanly without PyTorch (never a runtime dependency).

Layouts: sims is channels-last (B, H, W, C) with conv weight W[(di kw + dj) C_in + c, o];
torch is (B, C, H, W) with weight (C_out, C_in, kh, kw) -> W = w.permute(2, 3, 1, 0).reshape(K, C_out).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bnreg.sims.nn import CNNConfig, build_cnn, softmax_cross_entropy  # noqa: E402
from bnreg.sims.nn.layers import Conv2D, Dense, MaxPool  # noqa: E402
from bnreg.sims.nn.norm import Norm  # noqa: E402

F64 = np.dtype(np.float64)
RTOL = 1e-10  # float64: both sides accumulate rounding ~ 1e-14 per term


def _nchw(a: np.ndarray) -> torch.Tensor:
    return torch.tensor(np.ascontiguousarray(a.transpose(0, 3, 1, 2)), requires_grad=True)


def _close(a, b, scale=None):
    b = b.detach().numpy() if hasattr(b, "detach") else b
    scale = np.max(np.abs(b)) if scale is None else scale
    assert np.max(np.abs(a - b)) <= RTOL * max(scale, 1e-30), np.max(np.abs(a - b)) / scale


def _conv_weight_to_torch(w: np.ndarray, kh: int, kw: int, c_in: int) -> torch.Tensor:
    return torch.tensor(w.reshape(kh, kw, c_in, -1).transpose(3, 2, 0, 1).copy(), requires_grad=True)


@pytest.mark.parametrize("kernel,shape", [((3, 3), (3, 6, 5, 4)), ((1, 3), (2, 1, 9, 3))])
def test_conv_matches_torch(kernel, shape):
    rng = np.random.default_rng(0)
    conv = Conv2D("c", shape[-1], 5, kernel, rng, F64, bias=True)
    conv.b.value[...] = rng.standard_normal(5)
    x = rng.standard_normal(shape)
    r = rng.standard_normal((*shape[:3], 5))
    y = conv.forward(x, True)
    dx = conv.backward(r)
    tx = _nchw(x)
    tw = _conv_weight_to_torch(conv.W.value, *kernel, shape[-1])
    tb = torch.tensor(conv.b.value, requires_grad=True)
    ty = torch.nn.functional.conv2d(tx, tw, tb, padding=((kernel[0] - 1) // 2, (kernel[1] - 1) // 2))
    (ty * torch.tensor(r.transpose(0, 3, 1, 2))).sum().backward()
    _close(y, ty.permute(0, 2, 3, 1))
    _close(dx, tx.grad.permute(0, 2, 3, 1))
    _close(conv.W.grad, tw.grad.permute(2, 3, 1, 0).reshape(conv.W.value.shape))
    _close(conv.b.grad, tb.grad)


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_matches_torch(training):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3, 5, 6)) * 2 + 1
    r = rng.standard_normal(x.shape)
    n = Norm("n", "bn", 6, F64, momentum=0.1)
    n.gamma.value[...] = rng.uniform(0.5, 1.5, 6)
    n.beta.value[...] = rng.standard_normal(6)
    bn = torch.nn.BatchNorm2d(6, eps=n.eps, momentum=0.1).double()
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(n.gamma.value))
        bn.bias.copy_(torch.tensor(n.beta.value))
    for k in range(3):  # running statistics after a few training batches
        xb = rng.standard_normal(x.shape) * 2 + k
        n.forward(xb, True)
        bn.train()
        bn(_nchw(xb))
    _close(n.running_mean, bn.running_mean)
    _close(n.running_var, bn.running_var)
    bn.train(training)
    y = n.forward(x, training)
    dx = n.backward(r)
    tx = _nchw(x)
    ty = bn(tx)
    (ty * torch.tensor(r.transpose(0, 3, 1, 2))).sum().backward()
    _close(y, ty.permute(0, 2, 3, 1))
    _close(dx, tx.grad.permute(0, 2, 3, 1))
    _close(n.gamma.grad, bn.weight.grad)
    _close(n.beta.grad, bn.bias.grad)


def test_linear_and_maxpool_match_torch():
    rng = np.random.default_rng(2)
    d = Dense("d", 7, 4, rng, F64)
    d.b.value[...] = rng.standard_normal(4)
    x, r = rng.standard_normal((5, 7)), rng.standard_normal((5, 4))
    y = d.forward(x, True)
    dx = d.backward(r)
    tx = torch.tensor(x, requires_grad=True)
    lin = torch.nn.Linear(7, 4).double()
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(d.W.value.T))
        lin.bias.copy_(torch.tensor(d.b.value))
    ty = lin(tx)
    (ty * torch.tensor(r)).sum().backward()
    _close(y, ty)
    _close(dx, tx.grad)
    _close(d.W.grad, lin.weight.grad.T)
    _close(d.b.grad, lin.bias.grad)
    p = MaxPool((2, 2))
    x = rng.standard_normal((2, 5, 6, 3))
    r = rng.standard_normal((2, 2, 3, 3))
    y = p.forward(x, True)
    dx = p.backward(r)
    tx = _nchw(x)
    ty = torch.nn.functional.max_pool2d(tx, 2)
    (ty * torch.tensor(r.transpose(0, 3, 1, 2))).sum().backward()
    _close(y, ty.permute(0, 2, 3, 1))
    _close(dx, tx.grad.permute(0, 2, 3, 1))


def test_whole_bn_cnn_matches_torch():
    """The CNN of Luo et al. 2019 (BN, ReLU, pool, fc) with the same weights: loss and every gradient."""
    cfg = CNNConfig(in_shape=(6, 6, 2), n_classes=3, widths=(3, 4, 4, 5), fc=7, norm="bn", dtype="float64")
    m = build_cnn(cfg)
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((5, 6, 6, 2)), rng.integers(0, 3, 5)
    loss, d = softmax_cross_entropy(m.forward(x, True), y)
    m.backward(d)
    mods, c_in = [], 2
    for i, w in enumerate(cfg.widths):
        conv = torch.nn.Conv2d(c_in, w, 3, padding=1, bias=False).double()
        with torch.no_grad():
            conv.weight.copy_(_conv_weight_to_torch(m.affines[i].W.value, 3, 3, c_in))
        mods += [conv, torch.nn.BatchNorm2d(w).double(), torch.nn.ReLU()]
        c_in = w
    fc = torch.nn.Linear(3 * 3 * 5, 7, bias=False).double()
    out = torch.nn.Linear(7, 3).double()
    with torch.no_grad():  # sims flattens (H, W, C); torch flattens (C, H, W)
        fc.weight.copy_(torch.tensor(m.affines[4].W.value.reshape(3, 3, 5, 7).transpose(3, 2, 0, 1).reshape(7, -1)))
        out.weight.copy_(torch.tensor(m.affines[5].W.value.T))
        out.bias.copy_(torch.tensor(m.affines[5].b.value))
    net = torch.nn.Sequential(*mods, torch.nn.MaxPool2d(2), torch.nn.Flatten(), fc, torch.nn.BatchNorm1d(7).double(),
                              torch.nn.ReLU(), out)
    tl = torch.nn.functional.cross_entropy(net(_nchw(x)), torch.tensor(y))
    tl.backward()
    assert abs(loss - tl.item()) < 1e-12
    _close(m.affines[0].W.grad, net[0].weight.grad.permute(2, 3, 1, 0).reshape(-1, 3))
    _close(m.affines[4].W.grad.reshape(3, 3, 5, 7).transpose(3, 2, 0, 1).reshape(7, -1), fc.weight.grad)
    _close(m.norms[2].gamma.grad, net[7].weight.grad)
    _close(m.norms[4].beta.grad, net[15].bias.grad)

"""The CNN of the paper's experiments with a switchable normalization and dropout
(docs/cnn_library.md; Luo, Wang, Shao, Peng, "Towards Understanding Regularization in Batch
Normalization", ICLR 2019, arXiv:1809.00846, §5).  Configured by `sims.nn.config.CNNConfig`.

Architecture (channels-last input (B, H, W, C); 1-D signals have H = 1 and kernels (1, k)):

    [conv(k, widths[l]) -> block] x 4 -> maxpool(2, 2) (1-D: (1, 2)) -> flatten -> fc(fc) -> block -> fc(K)
    block = [dropout if place=before] -> norm (if normalized) -> ReLU -> [dropout if place=after]

  ``widths=()`` drops the convs and the pool (an MLP: flatten -> [fc -> block] x n -> fc(K)); a tuple
  ``fc`` gives several hidden fc layers fc1, fc2, ...; ``dropout_place="last"`` puts one dropout
  after the ReLU of the last hidden layer only (no normalization follows it).

* A normalized layer has no bias (beta of the norm plays it); an unnormalized one (norm="none" or
  norm_layers[l] False) has a bias.  For norm in {wn, wn_mean_bn, wn_var_bn} the weights of the
  normalized layers are weight-normalized, w = v/||v|| per output unit, with the WN gain g being
  the norm's gamma.  gamma = 1 and beta = 0 at initialization.
* Dropout (sims.nn.dropout) sits in every hidden block (convs + fc layers) when dropout != "none",
  directly before the normalization ("before", the variance-shift setting of Li, Chen, Hu, Yang,
  CVPR 2019, arXiv:1801.05134) or after the ReLU that follows it ("after"), or only after the
  last hidden block's ReLU ("last", the paper's "dropout after all BN layers"); never on the
  output layer.
* PN: population statistics mu_P, var_P (ddof = 0, over all training examples and positions, with
  dropout off) are set by `refresh_population`, layer by layer (layer l's statistics are computed
  with layers < l already refreshed).  The explicit gamma decay of layer l is zeta_l sum_c gamma_c^2
  (added to the loss by `regularizer`, its gradient by `backward`).  With gamma_decay=None,
  zeta_l is estimated from Luo et al. 2019, eq. 8 with ReLU (A'' = Heaviside), generalized to conv
  channels with S positions per image:

      zeta_c = (S / 2) [ F_c Var(sigma_B)/sigma_P^2 + a_c Var(mu_B)/sigma_P^2 ],
      F_c = mean H(hbar) u^2  (Fisher information of gamma per position, u = (h - mu_P)/sigma_P),
      a_c = mean H(hbar)      (activation probability of the ReLU),
      Var(mu_B) = Var_i(m_i)/M,  Var(sigma_B) = Var_i(v_i)/(4 M sigma_P^2),

  with m_i, v_i the per-image means of h and (h - mu_P)^2 (images are independent; positions
  within an image are not, so this counts the effective number of samples), M the training batch
  size (taken from the latest training-mode forward), and zeta_l = mean_c zeta_c.  For a fc layer
  (S = 1) this is exactly zeta = (rho+2)/(8M) F_gamma + a/(2M) with rho the excess kurtosis of h
  (docs/gamma_decay.md).  The per-position curvature is the diagonal (GLM) approximation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np

from bnreg.errors import ParameterError
from bnreg.params import check_int
from bnreg.runtime import one_blas_thread

from .config import CNNConfig
from .dropout import Dropout
from .layers import Conv2D, Dense, Flatten, Layer, MaxPool, Parameter, ReLU
from .norm import Norm

__all__ = ["Model", "build_cnn", "hidden_layer_names", "softmax_cross_entropy"]


def build_cnn(cfg: CNNConfig) -> Model:
    """The network for `cfg` (module docstring).

    `cfg` (valid by construction) needs ``in_shape`` and ``n_classes`` (`CNNConfig.with_data` fills
    them from a dataset).  Returns a `Model`.  Raises ParameterError when they are missing."""
    if not isinstance(cfg, CNNConfig):
        raise ParameterError(f"cfg must be a CNNConfig (got {type(cfg).__name__})")
    if cfg.in_shape is None or cfg.n_classes is None:
        raise ParameterError("in_shape and n_classes must be set to build a model "
                             "(a training run takes them from the dataset)")
    return Model(cfg)


def hidden_layer_names(n_conv: int, n_fc: int = 1) -> tuple[str, ...]:
    """Names of the hidden (normalizable) layers of a network with `n_conv` conv layers and `n_fc`
    hidden fc layers: ("conv1", ..., "conv{n_conv}", "fc1", ..., "fc{n_fc}"); the keys of
    `Model.gamma2` and the per-layer metrics."""
    return (*(f"conv{i + 1}" for i in range(n_conv)), *(f"fc{i + 1}" for i in range(n_fc)))


class Model:
    """Sequential CNN with explicit backward; see the module docstring for the conventions.
    Built by `build_cnn` from a config with ``in_shape`` and ``n_classes`` set."""

    def __init__(self, cfg: CNNConfig) -> None:
        self.cfg = cfg
        dtype = np.dtype(cfg.dtype)
        self.dtype = dtype
        ss = np.random.SeedSequence(cfg.seed)
        init_ss, drop_ss = ss.spawn(2)
        rng = np.random.default_rng(init_ss)
        h, w, c = (int(s) for s in cfg.in_shape)
        one_d = h == 1
        kernel = (1, cfg.kernel) if one_d else (cfg.kernel, cfg.kernel)
        pool = (1, 2) if one_d else (2, 2)
        names = hidden_layer_names(len(cfg.widths), len(cfg.fc_widths))
        flags = cfg.norm_layers if cfg.norm_layers is not None else (True,) * len(names)
        use_drop = cfg.dropout != "none"
        drop_seeds = drop_ss.spawn(len(names))
        self.layers: list[Layer] = []
        self.norms: list[Norm] = []
        self.dropouts: list[Dropout] = []
        self.affines: list[Conv2D | Dense] = []
        self.batch_size: int | None = None   # M of the gamma-decay estimate (latest training batch)
        self.eval_batch = 256                 # chunk size of inference-mode forward
        self.gamma_decay_stats: dict[str, dict[str, float]] = {}
        self._zeta_times_m: dict[str, float] = {}
        self._disp: dict[str, dict] = {}   # per-layer dispersion of per-image statistics (PN)

        def block(name: str, lin: Layer, width: int, normed: bool, i: int) -> None:
            self.layers.append(lin)
            self.affines.append(lin)  # type: ignore[arg-type]
            here = use_drop and (cfg.dropout_place != "last" or i == len(names) - 1)
            drop = (Dropout(cfg.dropout, cfg.p_drop, np.random.default_rng(drop_seeds[i]),
                            cfg.dropout_schedule, cfg.dropout_switch, cfg.dropout_cutoff) if here else None)
            if drop is not None:
                self.dropouts.append(drop)
            if drop is not None and cfg.dropout_place == "before":
                self.layers.append(drop)
            if normed:
                nrm = Norm(name, cfg.norm, width, dtype, cfg.bn_momentum)
                nrm.relu = True  # the ReLU below is fused into the norm's kernels (same numbers)
                self.norms.append(nrm)
                self.layers.append(nrm)
            self.layers.append(ReLU(inplace=True, fused=normed))
            if drop is not None and cfg.dropout_place in ("after", "last"):
                self.layers.append(drop)

        wn = cfg.norm.startswith("wn")
        c_in = c
        for i, width in enumerate(cfg.widths):
            normed = cfg.norm != "none" and bool(flags[i])
            conv = Conv2D(names[i], c_in, width, kernel, rng, dtype, bias=not normed, weight_norm=normed and wn)
            block(names[i], conv, width, normed, i)
            c_in = width
        if cfg.widths:
            self.layers.append(MaxPool(pool))
            h, w = h // pool[0], w // pool[1]
        self.layers.append(Flatten())
        d = h * w * c_in
        for j, width in enumerate(cfg.fc_widths):
            i = len(cfg.widths) + j
            normed = cfg.norm != "none" and bool(flags[i])
            fc = Dense(names[i], d, width, rng, dtype, bias=not normed, weight_norm=normed and wn)
            block(names[i], fc, width, normed, i)
            d = width
        out = Dense("out", d, cfg.n_classes, rng, dtype, bias=True, gain=1.0)
        self.layers.append(out)
        self.affines.append(out)
        self.affines[0].need_dx = False
        if cfg.norm == "pn" and cfg.gamma_decay is not None:
            for nrm in self.norms:
                nrm.zeta = float(cfg.gamma_decay)

    # ------------------------------------------------------------------------------------------
    def _check_input(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        want = tuple(int(s) for s in self.cfg.in_shape)
        if x.ndim != 4 or tuple(x.shape[1:]) != want or x.shape[0] < 1:
            raise ParameterError(f"x must have shape (B, {', '.join(map(str, want))}) with B >= 1 "
                                 f"(got {x.shape})")
        x = np.ascontiguousarray(x, dtype=self.dtype)
        if not np.isfinite(x).all():
            raise ParameterError("x must be finite (found NaN or inf)")
        return x

    def forward(self, x: np.ndarray, training: bool,
                hook: Callable[[Layer, np.ndarray], None] | None = None) -> np.ndarray:
        """(B, H, W, C) -> logits (B, K).  training=True: batch statistics (BN family), dropout on.
        Inference (training=False) runs in chunks of `eval_batch` (default 256) examples to bound
        memory; `backward` after a chunked inference pass is not supported.  `hook(layer, x)`, if
        given, is called with the input of every layer (in `self.layers`) just before the layer
        runs, chunk by chunk; it must read x at once and not modify it (later layers may work in
        place).  The hook changes no number of the forward pass."""
        x = self._check_input(x)
        if training:
            self.batch_size = x.shape[0]
            self._set_zeta()
        elif x.shape[0] > self.eval_batch:  # bound memory: inference is per example, chunk it
            return np.concatenate([self.forward(x[s:s + self.eval_batch], False, hook)
                                   for s in range(0, x.shape[0], self.eval_batch)])
        with one_blas_thread():
            for layer in self.layers:
                if hook is not None:
                    hook(layer, x)
                x = layer.forward(x, training)
        return x

    @contextlib.contextmanager
    def dropout_off(self) -> Iterator[None]:
        """Context manager: every dropout layer is the identity, in training mode too (e.g. to
        re-estimate BN statistics with batch statistics but no dropout); restored on exit."""
        old = [d.enabled for d in self.dropouts]
        for d in self.dropouts:
            d.enabled = False
        try:
            yield
        finally:
            for d, e in zip(self.dropouts, old, strict=True):
                d.enabled = e

    def backward(self, dlogits: np.ndarray) -> None:
        """Backpropagate dL/dlogits of the latest forward; fills every Parameter.grad
        (including the gradient 2 zeta gamma of the PN gamma decay)."""
        d = np.asarray(dlogits, dtype=self.dtype)
        with one_blas_thread():
            for layer in reversed(self.layers):
                d = layer.backward(d)
                if d is None:
                    break

    def parameters(self) -> list[Parameter]:
        """All trainable parameters in layer order (names 'conv1.w', 'conv1.gamma', 'out.b', ...)."""
        return [p for layer in self.layers for p in layer.params]

    def regularizer(self) -> float:
        """Explicit penalty added to the loss: sum over PN layers of zeta_l sum_c gamma_c^2 (else 0)."""
        return float(sum(n.penalty() for n in self.norms))

    def gamma2(self) -> dict[str, float]:
        """Mean gamma^2 per normalized layer (for WN kinds gamma is the WN gain g)."""
        return {n.name: float(np.mean(n.gamma.value.astype(float) ** 2)) for n in self.norms}

    def gamma_decay(self) -> dict[str, float]:
        """Current gamma-decay coefficient zeta_l per PN layer (estimated ones use M = batch_size)."""
        return {n.name: float(n.zeta) for n in self.norms if n.kind == "pn"}

    def set_step(self, step: int, total: int) -> None:
        """The SGD iteration `step` (0-based) of `total` for the dropout rate schedules
        (sims.nn.dropout.scheduled_rate; the cutoff is the config's dropout_cutoff or dropout_switch x total).
        Called by the training loop on every SGD step with its own counters: not checked."""
        for d in self.dropouts:
            d.step, d.total = step, total

    # ------------------------------------------------------------------------------------------
    def _set_zeta(self) -> None:
        if self.cfg.norm != "pn" or self.cfg.gamma_decay is not None:
            return
        for n in self.norms:
            zm = self._zeta_times_m.get(n.name)
            n.zeta = 0.0 if zm is None else zm / self.batch_size

    def refresh_population(self, x_train: np.ndarray, batch: int = 256, running: bool = False) -> None:
        """PN: set every PN layer's population statistics from the training set x_train (inference
        mode, dropout off; layer by layer, so layer l sees the refreshed layers < l) and re-estimate
        the gamma-decay coefficients (module docstring).  Cost: about (#PN layers + 1)/2 forward
        passes over x_train.  With running=True, the BN-family running mean/var are also replaced by
        the training-set statistics (the "recompute BN statistics" fix of Li et al. 2019).  No-op for
        other norms unless running=True."""
        batch = check_int("batch", batch, 1)
        targets = [n for n in self.norms if n.kind == "pn" or (running and n.kind != "wn")]
        if not targets:
            return
        x_train = np.asarray(x_train)
        if x_train.ndim != 4 or x_train.shape[0] < 2:
            raise ParameterError(f"x_train must have shape (P, H, W, C) with P >= 2 (got {x_train.shape})")
        index = {id(layer): i for i, layer in enumerate(self.layers)}
        estimate = self.cfg.norm == "pn" and self.cfg.gamma_decay is None
        for k in range(len(targets) + (1 if estimate else 0)):
            tgt = targets[k] if k < len(targets) else None
            prev = targets[k - 1] if (estimate and k >= 1) else None
            stop = index[id(tgt)] if tgt is not None else index[id(prev)] + 1
            m_list, q_list = [], []
            act = np.zeros(prev.channels) if prev is not None else None
            fis = np.zeros(prev.channels) if prev is not None else None
            u4 = np.zeros(prev.channels) if prev is not None else None
            count = 0
            for s in range(0, x_train.shape[0], batch):
                h = self._check_input(x_train[s:s + batch])
                for layer in self.layers[:stop]:
                    h = layer.forward(h, False)
                    if layer is prev:
                        y = h.reshape(-1, prev.channels)
                        u2 = prev._xhat.reshape(-1, prev.channels).astype(float) ** 2
                        on = y > 0
                        act += on.sum(axis=0)
                        fis += np.where(on, u2, 0.0).sum(axis=0)
                        u4 += (u2 * u2).sum(axis=0)
                        count += y.shape[0]
                if tgt is not None:
                    hb = h.reshape(h.shape[0], -1, tgt.channels).astype(float)
                    m_list.append(hb.mean(axis=1))
                    q_list.append((hb * hb).mean(axis=1))
            if prev is not None:
                a, f = act / count, fis / count
                r = self._disp[prev.name]
                zc = 0.5 * r["S"] * (f * r["var_v"] / (4 * r["var2"]) + a * r["var_m"] / r["var"])
                self._zeta_times_m[prev.name] = float(np.mean(zc))
                self.gamma_decay_stats[prev.name] = {
                    "act_prob": float(np.mean(a)), "F_gamma": float(np.mean(f)),
                    "excess_kurtosis": float(np.mean(u4 / count - 3.0)), "zeta_times_M": float(np.mean(zc))}
            if tgt is not None:
                m_i, q_i = np.concatenate(m_list), np.concatenate(q_list)
                mu = m_i.mean(axis=0)
                var = np.maximum(q_i.mean(axis=0) - mu * mu, 0.0)
                if tgt.kind == "pn":
                    tgt.set_population(mu, var)
                else:
                    tgt.running_mean[...] = mu
                    tgt.running_var[...] = var
                v_i = q_i - 2 * mu * m_i + mu * mu
                ve = var + tgt.eps
                s_pos = int(np.prod(self._norm_positions(tgt)))
                self._disp[tgt.name] = {"S": s_pos, "var": ve, "var2": ve * ve,
                                        "var_m": m_i.var(axis=0), "var_v": v_i.var(axis=0)}
        if self.batch_size:
            self._set_zeta()

    def _norm_positions(self, nrm: Norm) -> tuple[int, int]:
        """Spatial positions (H, W) of a norm layer's input (1, 1 for the fc layer)."""
        h, w, _ = (int(s) for s in self.cfg.in_shape)
        return (1, 1) if nrm.name.startswith("fc") else (h, w)


def softmax_cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy  L = -(1/B) sum_b log softmax(logits_b)[y_b]  and dL/dlogits = (softmax - onehot)/B."""
    logits = np.asarray(logits)
    y = np.asarray(y)
    if logits.ndim != 2 or y.shape != (logits.shape[0],):
        raise ParameterError(f"logits must be (B, K) and y (B,) (got {logits.shape} and {y.shape})")
    k = logits.shape[1]
    if not np.issubdtype(y.dtype, np.integer) or y.size and (y.min() < 0 or y.max() >= k):
        raise ParameterError(f"y must hold integer class labels 0 <= y < {k}")
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    b = logits.shape[0]
    loss = -float(logp[np.arange(b), y].mean())
    d = np.exp(logp)
    d[np.arange(b), y] -= 1.0
    return loss, (d / b).astype(logits.dtype)

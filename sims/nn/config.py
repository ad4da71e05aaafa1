"""The one configuration of a CNN run: the network, the data, the optimizer and the schedule.

`CNNConfig` is a frozen dataclass; `CNNConfig.validated()` is the single validator (every field,
its allowed range or choices, one-line `ParameterError` naming the field).  The choice lists come
from the modules that implement them (`NORMS` from norm.py, `DROPOUTS`/`PLACES`/`SCHEDULES` from
dropout.py, `DATASETS` from data.py, `LR_SCHEDULES` from optim.py, `DTYPES` from layers.py).
`config_from_strings` parses the `key=value` items of `bnreg cnn`.  See docs/cnn.md (the training
protocol) and docs/cnn_library.md (the network).

Validation happens once per run: `sims.nn.train.train` calls `validated()`; `build_cnn` calls it
too, but `validated()` returns a config it produced itself unchanged, so a validated config is
never checked twice.  ``in_shape`` and ``n_classes`` may be left ``None`` for a training run: the
loop fills them from the dataset (`with_data`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from bnreg.params import ParameterError, check_bool, check_choice, check_float, check_int

from .data import DATASETS
from .dropout import DROPOUTS, PLACES, SCHEDULES
from .layers import DTYPES
from .norm import NORMS
from .optim import LR_SCHEDULES

__all__ = ["CNNConfig", "config_from_strings"]

_VALID_MARK = "_validated"  # set (outside the dataclass fields) on the configs validated() returns
_NONE_TEXT = ("none", "")   # strings meaning None for the optional fields (CLI)
_OPTIONAL = ("in_shape", "n_classes", "norm_layers", "gamma_decay", "data_dir", "n_train", "n_val", "steps",
             "dropout_cutoff")


@dataclass(frozen=True)
class CNNConfig:
    """One CNN run (see the module docstring, docs/cnn.md and docs/cnn_library.md).

    Model: ``in_shape`` (H, W, C), channels-last, 1-D signals H = 1 (None: from the dataset);
    ``n_classes`` (None: from the dataset); ``widths`` conv channels (max-pool after the last conv;
    ``()``: no conv layer and no pool, an MLP on the flattened input); ``fc`` the width of the hidden
    fc layer, or a tuple of widths for several hidden fc layers (normalized: an int for one layer, a
    tuple of >= 2 ints otherwise; `fc_widths` is always the tuple); ``kernel`` odd, 'same' padding;
    ``norm`` one of `NORMS`; ``norm_layers`` one bool per hidden layer (convs + fc layers; None: all
    normalized); ``dropout`` one of
    `DROPOUTS` with drop rate ``p_drop`` in [0, 1), placed ``dropout_place`` (one of `PLACES`:
    before/after the norm of every hidden layer, or "last": once, after the last hidden layer) on
    schedule ``dropout_schedule`` (sims.nn.dropout.scheduled_rate) with cutoff ``dropout_cutoff`` SGD
    iterations (None: the first iteration at progress ``dropout_switch`` of the run);
    ``bn_momentum`` in (0, 1]: running = (1 - m) running + m batch (the PyTorch convention of
    `sims.kernels.batchnorm.update_running`; m = 0 would freeze the running statistics at their
    initial 0 and 1, m = 1 keeps only the latest batch); ``gamma_decay`` the PN gamma-decay
    coefficient (None: estimated per layer); ``dtype`` float32 | float64; ``seed`` model
    initialization, dropout noise and batch order.

    Data: ``dataset`` one of `DATASETS`, ``data_dir`` (cifar10), ``n_train``/``n_val`` (None: the
    dataset's default split), ``split_seed``.  Optimizer and schedule: ``batch`` (>= 2, <= n_train),
    ``lr`` > 0, ``momentum`` in [0, 1), ``epochs``, ``steps`` (total SGD steps, overrides epochs),
    ``lr_schedule`` one of `LR_SCHEDULES`, ``pn_refresh`` steps between PN population refreshes and
    ``eval_every`` steps between evaluations (0: every epoch).  Gradient diagnostics
    (sims.nn.diagnostics.gradient_diagnostics, recorded by the training loop at fixed parameters):
    every ``grad_diag_every`` steps (0: never) from ``grad_diag_batches`` minibatches.
    """

    # --- model (the first four are positional: CNNConfig(in_shape, n_classes, widths, fc, ...)) ---
    in_shape: tuple[int, int, int] | None = None
    n_classes: int | None = None
    widths: tuple[int, ...] = (32, 32, 64, 64)
    fc: int | tuple[int, ...] = 512
    kernel: int = 3
    norm: str = "none"
    norm_layers: tuple[bool, ...] | None = None
    dropout: str = "none"
    p_drop: float = 0.0
    dropout_place: str = "after"
    dropout_schedule: str = "constant"
    dropout_switch: float = 0.25
    dropout_cutoff: int | None = None
    bn_momentum: float = 0.1
    gamma_decay: float | None = None
    dtype: str = "float32"
    seed: int = 0
    # --- data ---
    dataset: str = "mnist1d"
    data_dir: str | None = None
    n_train: int | None = None
    n_val: int | None = None
    split_seed: int = 0
    # --- optimizer and schedule ---
    batch: int = 64
    lr: float = 0.02
    momentum: float = 0.9
    epochs: int = 10
    steps: int | None = None
    lr_schedule: str = "constant"
    pn_refresh: int = 0
    eval_every: int = 0
    grad_diag_every: int = 0
    grad_diag_batches: int = 16

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CNNConfig:
        """A config from a dict of field values (e.g. `to_dict` output or a sweep record; lists are
        accepted for tuples).  Not validated.  Raises ParameterError on an unknown key."""
        known = {f.name for f in fields(cls)}
        unknown = [k for k in d if k not in known]
        if unknown:
            raise ParameterError(f"unknown config key {unknown[0]!r}; known: {', '.join(sorted(known))}")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-able dict (tuples as lists); `from_dict` inverts it."""
        d = dataclasses.asdict(self)
        for k in ("in_shape", "widths", "norm_layers"):
            d[k] = None if d[k] is None else list(d[k])
        if isinstance(d["fc"], tuple):
            d["fc"] = list(d["fc"])
        return d

    @property
    def fc_widths(self) -> tuple[int, ...]:
        """The widths of the hidden fc layers as a tuple (``fc`` may hold a single int)."""
        return tuple(self.fc) if isinstance(self.fc, (tuple, list)) else (self.fc,)

    def key(self) -> str:
        """A stable 16-hex-digit hash of the fields (checkpoint names)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def validated(self) -> CNNConfig:
        """Check every field; return a normalized copy (ints, floats, tuples, None for "none").

        Raises ParameterError with one line naming the first bad field and its allowed range or
        choices.  Idempotent, and free on its own result: a config returned by `validated` (or
        `with_data`) is returned unchanged."""
        if self.__dict__.get(_VALID_MARK):
            return self
        c: dict[str, Any] = {}
        c["in_shape"] = None if self.in_shape is None else _check_in_shape(self.in_shape)
        c["n_classes"] = None if self.n_classes is None else check_int("n_classes", self.n_classes, 2)
        widths = self.widths
        if isinstance(widths, (int, np.integer)):
            widths = (widths,)
        if not isinstance(widths, (tuple, list)):
            raise ParameterError(f"widths must be a tuple of positive integers, one per conv layer (empty: "
                                 f"an MLP; got {widths!r})")
        c["widths"] = tuple(check_int(f"widths[{i}]", w, 1) for i, w in enumerate(widths))
        fc = self.fc
        if isinstance(fc, (tuple, list)):
            if len(fc) < 1:
                raise ParameterError(f"fc must be a positive integer or a non-empty tuple of them, one per "
                                     f"hidden fc layer (got {fc!r})")
            fcs = tuple(check_int(f"fc[{i}]", w, 1) for i, w in enumerate(fc))
            c["fc"] = fcs[0] if len(fcs) == 1 else fcs   # one layer: an int (the same run as fc=width)
        else:
            c["fc"] = check_int("fc", fc, 1)
        c["kernel"] = check_int("kernel", self.kernel, 1)
        if c["kernel"] % 2 == 0:
            raise ParameterError(f"kernel must be an odd integer >= 1 for 'same' padding (got {c['kernel']})")
        c["norm"] = check_choice("norm", self.norm, NORMS)
        if self.norm_layers is None:
            c["norm_layers"] = None
        else:
            n_fc = len(c["fc"]) if isinstance(c["fc"], tuple) else 1
            n = len(c["widths"]) + n_fc
            nl = self.norm_layers
            if not isinstance(nl, (tuple, list)) or len(nl) != n:
                raise ParameterError(f"norm_layers must be None or a tuple of len(widths) + {n_fc} = {n} booleans "
                                     f"(one per conv layer and hidden fc layer; got {nl!r})")
            c["norm_layers"] = tuple(check_bool(f"norm_layers[{i}]", v) for i, v in enumerate(nl))
        c["dropout"] = check_choice("dropout", self.dropout, DROPOUTS)
        c["p_drop"] = check_float("p_drop", self.p_drop, 0.0, 1.0, hi_open=True)
        c["dropout_place"] = check_choice("dropout_place", self.dropout_place, PLACES)
        c["dropout_schedule"] = check_choice("dropout_schedule", self.dropout_schedule, SCHEDULES)
        c["dropout_switch"] = check_float("dropout_switch", self.dropout_switch, 0.0, 1.0)
        c["dropout_cutoff"] = None if self.dropout_cutoff is None else check_int("dropout_cutoff",
                                                                                   self.dropout_cutoff, 0)
        c["bn_momentum"] = check_float("bn_momentum", self.bn_momentum, 0.0, 1.0, lo_open=True)
        c["gamma_decay"] = None if self.gamma_decay is None else check_float("gamma_decay", self.gamma_decay, 0.0)
        c["dtype"] = check_choice("dtype", self.dtype, DTYPES)
        c["seed"] = check_int("seed", self.seed, 0)
        c["dataset"] = check_choice("dataset", self.dataset, DATASETS)
        c["data_dir"] = None if self.data_dir is None or str(self.data_dir).lower() in _NONE_TEXT \
            else str(self.data_dir)
        c["n_train"] = None if self.n_train is None else check_int("n_train", self.n_train, 1)
        c["n_val"] = None if self.n_val is None else check_int("n_val", self.n_val, 1)
        c["split_seed"] = check_int("split_seed", self.split_seed, 0)
        c["batch"] = check_int("batch", self.batch, 2)
        c["lr"] = check_float("lr", self.lr, 0.0, lo_open=True)
        c["momentum"] = check_float("momentum", self.momentum, 0.0, 1.0, hi_open=True)
        c["epochs"] = check_int("epochs", self.epochs, 1)
        c["steps"] = None if self.steps is None else check_int("steps", self.steps, 1)
        c["lr_schedule"] = check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        c["pn_refresh"] = check_int("pn_refresh", self.pn_refresh, 0)
        c["eval_every"] = check_int("eval_every", self.eval_every, 0)
        c["grad_diag_every"] = check_int("grad_diag_every", self.grad_diag_every, 0)
        c["grad_diag_batches"] = check_int("grad_diag_batches", self.grad_diag_batches, 2)
        if c["dataset"] == "cifar10" and c["data_dir"] is None:
            raise ParameterError("dataset=cifar10 needs data_dir (--data-dir) with the binary CIFAR-10 files")
        if c["n_train"] is not None and c["batch"] > c["n_train"]:
            raise ParameterError(f"batch must satisfy batch <= n_train = {c['n_train']} (got {c['batch']})")
        return _marked(CNNConfig(**c))

    def with_data(self, in_shape: tuple[int, ...], n_classes: int) -> CNNConfig:
        """This config (validated) for data of `in_shape` (H, W, C) and `n_classes` classes: fills
        ``in_shape``/``n_classes`` where they are None.  Returns a validated config; raises
        ParameterError when they were set to other values or the shape cannot be pooled."""
        cfg = self.validated()
        shape = _check_in_shape(in_shape)
        k = check_int("n_classes", n_classes, 2)
        if cfg.in_shape is not None and cfg.in_shape != shape:
            raise ParameterError(f"in_shape must match the data's {shape} (got {cfg.in_shape})")
        if cfg.n_classes is not None and cfg.n_classes != k:
            raise ParameterError(f"n_classes must match the data's {k} (got {cfg.n_classes})")
        return _marked(dataclasses.replace(cfg, in_shape=shape, n_classes=k))


def _marked(cfg: CNNConfig) -> CNNConfig:
    object.__setattr__(cfg, _VALID_MARK, True)  # not a field: no effect on ==, hash, repr, to_dict
    return cfg


def _check_in_shape(shape: Any) -> tuple[int, int, int]:
    if not (isinstance(shape, (tuple, list)) and len(shape) == 3):
        raise ParameterError(f"in_shape must be (H, W, C) with three positive integers (got {shape!r})")
    h, w, c = (check_int(nm, v, 1) for nm, v in zip(("in_shape[0] (H)", "in_shape[1] (W)", "in_shape[2] (C)"),
                                                    shape, strict=True))
    if h != 1 and h < 2 or w < 2:
        raise ParameterError(f"in_shape must allow the 2x2 max-pool (H = 1 or H >= 2, and W >= 2; got {shape!r})")
    return h, w, c


def config_from_strings(kv: Mapping[str, str]) -> CNNConfig:
    """Parse `key=value` strings (the items of `bnreg cnn`) into a validated CNNConfig.

    Tuples are comma-separated (``widths=8,8,16,16``, ``fc=128,128``, ``norm_layers=1,0,0,0,0``,
    ``in_shape=1,40,1``); ``none`` (or empty) sets an optional field to None (``norm_layers=all``
    too) and ``widths`` to () (an MLP).  Raises
    ParameterError on an unknown key or a bad value (naming the field)."""
    out: dict[str, Any] = {}
    for k, v in kv.items():
        if k in _OPTIONAL and v.strip().lower() in _NONE_TEXT + (("all",) if k == "norm_layers" else ()):
            out[k] = None
        elif k == "widths" and v.strip().lower() in _NONE_TEXT:
            out[k] = ()
        elif k in ("widths", "fc", "in_shape", "norm_layers"):
            out[k] = tuple(p.strip() for p in v.split(","))  # validated() converts and range-checks
        else:
            out[k] = v
    return CNNConfig.from_dict(out).validated()

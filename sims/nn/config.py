"""The one configuration of a CNN run (network, data, optimizer, schedule), declared field by field.

Every field of the frozen dataclass `CNNConfig` is declared by a `bnreg.params.Param` (the same
declaration the formula registry uses: kind, default, range or choices, a one-line doc), kept in the
field's metadata; `CNN_FIELDS` is the table of them in field order.  From that one table come
validation (`CNNConfig.__post_init__`: each field parsed and range-checked, then the short list of
cross-field rules `_check_rules`), the `key=value` parser of `bnreg cnn` (`config_from_strings`) and
the field list of `bnreg cnn --help`.  A config is validated once, when it is constructed (also by
`dataclasses.replace` and `from_dict`; `with_data` checks only the two fields it fills and the
rules), so every `CNNConfig` that exists is valid and normalized (ints, floats, tuples, None);
nothing downstream checks it again.

The choice lists come from the modules that implement them (`NORMS` from norm.py, `DROPOUTS`/
`PLACES`/`SCHEDULES` from dropout.py, `DATASETS` from data.py, `LR_SCHEDULES` from optim.py,
`DTYPES` from layers.py).  ``in_shape`` and ``n_classes`` may be left None for a training run: the
loop fills them from the dataset (`with_data`).  See docs/cnn.md (the training protocol) and
docs/cnn_library.md (the network).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from bnreg.errors import ParameterError
from bnreg.params import Param

from .data import DATASETS
from .dropout import DROPOUTS, PLACES, SCHEDULES
from .layers import DTYPES
from .norm import NORMS
from .optim import LR_SCHEDULES

__all__ = ["CNNConfig", "CNN_FIELDS", "FIELDS", "config_from_strings"]

_ANY = (0, None)  # a list of any length


def _field(p: Param) -> Any:
    """The dataclass field declared by `p`: its default, with `p` in the field's metadata."""
    return dataclasses.field(default=p.default, metadata={"param": p})


@dataclass(frozen=True)
class CNNConfig:
    """One CNN run; every field is declared by its `Param` (range, default, doc; `CNN_FIELDS`,
    `bnreg cnn --help`) and checked at construction (module docstring).  Raises ParameterError with
    one line naming the first bad field and its allowed range or choices.

    Conventions the one-line docs cannot hold: ``fc`` is normalized to an int for one hidden fc layer
    and a tuple of >= 2 ints otherwise (`fc_widths` is always the tuple); ``dropout_place`` "last"
    puts one dropout after the last hidden layer only; the dropout schedules are those of
    sims.nn.dropout.scheduled_rate, their cutoff ``dropout_cutoff`` SGD iterations or, when None, the
    first iteration at progress ``dropout_switch``; ``bn_momentum`` m follows running = (1 - m) running
    + m batch (`sims.kernels.batchnorm.update_running`: m = 0 would freeze the running statistics at
    their initial 0 and 1, m = 1 keeps the latest batch); gradient diagnostics are
    sims.nn.diagnostics.gradient_diagnostics, recorded by the training loop at fixed parameters.
    """

    # --- model (the first four are positional: CNNConfig(in_shape, n_classes, widths, fc, ...)) ---
    in_shape: tuple[int, int, int] | None = _field(Param(
        "in_shape", "int", None, lo=1, length=(3, 3), optional=True,
        doc="input (H, W, C), channels-last, 1-D signals H = 1 (none: from the dataset)"))
    n_classes: int | None = _field(Param("n_classes", "int", None, lo=2, optional=True,
                                         doc="number of classes (none: from the dataset)"))
    widths: tuple[int, ...] = _field(Param(
        "widths", "int", (32, 32, 64, 64), lo=1, hi=10**12, length=_ANY,
        doc="conv channels, one per conv layer, max-pool after the last (none: no conv, an MLP)"))
    fc: int | tuple[int, ...] = _field(Param("fc", "int", 512, lo=1, hi=10**12, length=(1, None),
                                             doc="width of each hidden fc layer (several: fc1, fc2, ...)"))
    kernel: int = _field(Param("kernel", "int", 3, lo=1, doc="conv kernel size, odd ('same' padding)"))
    norm: str = _field(Param("norm", "choice", "none", choices=NORMS, doc="the normalization of the hidden layers"))
    norm_layers: tuple[bool, ...] | None = _field(Param(
        "norm_layers", "bool", None, length=_ANY, optional=True,
        doc="one flag per hidden layer, convs then fc layers (none or all: every one normalized)"))
    dropout: str = _field(Param("dropout", "choice", "none", choices=DROPOUTS, doc="the dropout noise kind"))
    p_drop: float = _field(Param("p_drop", "float", 0.0, lo=0.0, hi=1.0, hi_open=True, doc="the drop rate"))
    dropout_place: str = _field(Param("dropout_place", "choice", "after", choices=PLACES,
                                      doc="dropout before/after the norm of every hidden layer, or once last"))
    dropout_schedule: str = _field(Param("dropout_schedule", "choice", "constant", choices=SCHEDULES,
                                         doc="the drop-rate schedule over SGD iterations"))
    dropout_switch: float = _field(Param("dropout_switch", "float", 0.25, lo=0.0, hi=1.0,
                                         doc="progress fraction of the schedule's cutoff (if dropout_cutoff is none)"))
    dropout_cutoff: int | None = _field(Param(
        "dropout_cutoff", "int", None, lo=0, optional=True,
        doc="the schedule's cutoff in SGD iterations (none: from dropout_switch)"))
    bn_momentum: float = _field(Param("bn_momentum", "float", 0.1, lo=0.0, hi=1.0, lo_open=True,
                                      doc="running statistics: running = (1 - m) running + m batch"))
    gamma_decay: float | None = _field(Param("gamma_decay", "float", None, lo=0.0, optional=True,
                                             doc="PN gamma-decay coefficient (none: estimated per layer)"))
    dtype: str = _field(Param("dtype", "choice", "float32", choices=DTYPES, doc="precision of every layer"))
    seed: int = _field(Param("seed", "int", 0, lo=0, doc="model initialization, dropout noise and batch order"))
    # --- data ---
    dataset: str = _field(Param("dataset", "choice", "mnist1d", choices=DATASETS, doc="the dataset"))
    data_dir: str | None = _field(Param("data_dir", "str", None, optional=True,
                                        doc="directory of the binary CIFAR-10 files (dataset=cifar10)"))
    n_train: int | None = _field(Param("n_train", "int", None, lo=1, optional=True,
                                       doc="training examples (none: the dataset's default split)"))
    n_val: int | None = _field(Param("n_val", "int", None, lo=1, optional=True,
                                     doc="validation examples (none: the dataset's default split)"))
    split_seed: int = _field(Param("split_seed", "int", 0, lo=0, doc="seed of the train/validation split"))
    # --- optimizer and schedule ---
    batch: int = _field(Param("batch", "int", 64, lo=2, doc="minibatch size M (<= n_train)"))
    lr: float = _field(Param("lr", "float", 0.02, lo=0.0, lo_open=True, doc="base learning rate"))
    momentum: float = _field(Param("momentum", "float", 0.9, lo=0.0, hi=1.0, hi_open=True, doc="SGD momentum"))
    epochs: int = _field(Param("epochs", "int", 10, lo=1, doc="training epochs (unless steps is set)"))
    steps: int | None = _field(Param("steps", "int", None, lo=1, optional=True,
                                     doc="total SGD steps, overrides epochs (none: epochs x steps per epoch)"))
    lr_schedule: str = _field(Param("lr_schedule", "choice", "constant", choices=LR_SCHEDULES,
                                    doc="the learning-rate schedule"))
    pn_refresh: int = _field(Param("pn_refresh", "int", 0, lo=0,
                                   doc="steps between PN population refreshes (0: every epoch)"))
    eval_every: int = _field(Param("eval_every", "int", 0, lo=0, doc="steps between evaluations (0: every epoch)"))
    grad_diag_every: int = _field(Param("grad_diag_every", "int", 0, lo=0,
                                        doc="steps between gradient diagnostics (0: never)"))
    grad_diag_batches: int = _field(Param("grad_diag_batches", "int", 16, lo=2, hi=2**20,
                                          doc="minibatches per gradient diagnostic"))
    grad_diag_conventions: bool = _field(Param(
        "grad_diag_conventions", "bool", False,
        doc="gradient diagnostics also against the training-mode full gradient, and with dropout off"))

    def __post_init__(self) -> None:
        """Validate and normalize every field (its `Param`), then the cross-field rules."""
        for p in CNN_FIELDS:
            object.__setattr__(self, p.name, p.parse(getattr(self, p.name)))
        if len(self.fc) == 1:  # one hidden fc layer: an int (the same run, and key, as fc=width)
            object.__setattr__(self, "fc", self.fc[0])
        _check_rules(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CNNConfig:
        """A (validated) config from a dict of field values, e.g. `to_dict` output or a sweep record
        (lists are accepted for tuples, strings are parsed).  Raises ParameterError on an unknown key
        or a bad value."""
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
        return self.fc if isinstance(self.fc, tuple) else (self.fc,)

    def key(self) -> str:
        """A stable 16-hex-digit hash of the fields (checkpoint names)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def with_data(self, in_shape: tuple[int, ...], n_classes: int) -> CNNConfig:
        """This config for data of `in_shape` (H, W, C) and `n_classes` classes: a new config with
        ``in_shape``/``n_classes`` filled where they are None.  Raises ParameterError when they were
        set to other values or the shape cannot be pooled.  The other fields come from this (valid)
        config, so only the two new values and the cross-field rules are checked."""
        shape, k = FIELDS["in_shape"].parse(in_shape), FIELDS["n_classes"].parse(n_classes)
        if self.in_shape is not None and self.in_shape != shape:
            raise ParameterError(f"in_shape must match the data's {shape} (got {self.in_shape})")
        if self.n_classes is not None and self.n_classes != k:
            raise ParameterError(f"n_classes must match the data's {k} (got {self.n_classes})")
        out = copy.copy(self)  # no __init__: the fields are this config's, already valid
        object.__setattr__(out, "in_shape", shape)
        object.__setattr__(out, "n_classes", k)
        _check_rules(out)
        return out


CNN_FIELDS: tuple[Param, ...] = tuple(f.metadata["param"] for f in fields(CNNConfig))
FIELDS: dict[str, Param] = {p.name: p for p in CNN_FIELDS}


def _check_rules(c: CNNConfig) -> None:
    """The rules no single field's range states (after every field passed its own)."""
    if c.kernel % 2 == 0:
        raise ParameterError(f"kernel must be an odd integer >= 1 for 'same' padding (got {c.kernel})")
    if c.in_shape is not None and (c.in_shape[0] != 1 and c.in_shape[0] < 2 or c.in_shape[1] < 2):
        raise ParameterError(f"in_shape must allow the 2x2 max-pool (H = 1 or H >= 2, and W >= 2; got {c.in_shape})")
    if c.in_shape is not None and c.kernel > 2 * max(c.in_shape[0], c.in_shape[1]) - 1:
        # a wider kernel's extra taps only ever see the zero padding: refused before its huge im2col
        lim = 2 * max(c.in_shape[0], c.in_shape[1]) - 1
        raise ParameterError(f"kernel must satisfy kernel <= {lim} (2 x the input's largest side - 1) for input "
                             f"{c.in_shape[0]}x{c.in_shape[1]} (got {c.kernel})")
    n = len(c.widths) + len(c.fc_widths)
    if c.norm_layers is not None and len(c.norm_layers) != n:
        raise ParameterError(f"norm_layers must be None or a tuple of len(widths) + {len(c.fc_widths)} = {n} "
                             f"booleans (one per conv layer and hidden fc layer; got {c.norm_layers!r})")
    if c.dataset == "cifar10" and c.data_dir is None:
        raise ParameterError("dataset=cifar10 needs data_dir (--data-dir) with the binary CIFAR-10 files")
    if c.n_train is not None and c.batch > c.n_train:
        raise ParameterError(f"batch must satisfy batch <= n_train = {c.n_train} (got {c.batch})")


def config_from_strings(kv: Mapping[str, str]) -> CNNConfig:
    """Parse `key=value` strings (the items of `bnreg cnn`) into a CNNConfig, by the declarations.

    Tuples are comma-separated (``widths=8,8,16,16``, ``fc=128,128``, ``norm_layers=1,0,0,0,0``,
    ``in_shape=1,40,1``); ``none`` (or empty) sets an optional field to None (``norm_layers=all``
    too) and a list to () (``widths=none``: an MLP).  Raises ParameterError on an unknown key or a
    bad value (naming the field)."""
    return CNNConfig.from_dict({k: "none" if k == "norm_layers" and v.strip().lower() == "all" else v
                                for k, v in kv.items()})

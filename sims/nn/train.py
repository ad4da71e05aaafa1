"""Train one CNN configuration and measure its generalization (THEORY.md §7; seed 001 §2.4).

Protocol (every choice, stated once here and in docs/cnn.md):

* Mini-batch SGD with momentum on softmax cross-entropy (+ ``model.regularizer()``, the explicit
  gamma decay of PN).  Each epoch visits a fresh permutation of the training set drawn from
  ``derive_seed(seed, "order", epoch)``; the last incomplete batch is dropped, so every step has
  exactly ``batch`` examples (BN statistics always see M = batch).
* Learning rate: ``constant``; ``cosine``: lr * (1 + cos(pi t / T)) / 2; ``step``: x0.1 at 50 %
  and again at 75 % of the T steps.
* PN population statistics are recomputed (``model.refresh_population`` on the whole training
  set) before step 0 and then every ``pn_refresh`` steps (0: every epoch) for training.  Every
  evaluation uses statistics recomputed for the current weights (standard PN inference) on a deep
  copy of the model, so the training trajectory does not depend on the evaluation cadence.
* Evaluation every ``eval_every`` steps (0: every epoch) and at the end, in inference mode
  (``training=False``: BN running statistics, PN population statistics, no dropout), on the *whole*
  training set and the whole validation set.  The generalization gap is
  ``val_loss - train_loss``, both measured this way at the end of training.
* A non-finite training loss (or evaluation loss) stops the run; it is returned with
  ``diverged=True`` and the step, and never enters a plot.
* Checkpoints (npz, ``allow_pickle=False``) are written at every evaluation when
  ``checkpoint_dir`` is given; a run with the same config resumes from its last checkpoint and
  gives the same result as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from bnreg.theory.params import ParameterError, check_bool, check_choice, check_float, check_int

from ..rng import derive_seed
from .data import DATASETS, Dataset, load_dataset

__all__ = ["TrainConfig", "train", "validate_config", "config_from_strings", "NORMS", "DROPOUTS",
           "LR_SCHEDULES", "evaluate", "limit_threads"]

NORMS = ("none", "bn", "pn", "wn", "wn_mean_bn", "wn_var_bn")
DROPOUTS = ("none", "bernoulli", "gaussian", "uout")
DROPOUT_PLACES = ("before", "after")
DROPOUT_SCHEDULES = ("constant", "early", "late")
LR_SCHEDULES = ("constant", "cosine", "step")
DTYPES = ("float32", "float64")
_EVAL_CHUNK = 256


@dataclass(frozen=True)
class TrainConfig:
    """One training run: data, optimizer, schedule, and the CNNConfig fields of sims.nn.model."""

    dataset: str = "mnist1d"
    data_dir: str | None = None
    n_train: int | None = None        # None: the dataset's default split (sims.nn.data.load_dataset)
    n_val: int | None = None
    split_seed: int = 0
    batch: int = 64
    lr: float = 0.02
    momentum: float = 0.9
    epochs: int = 10
    steps: int | None = None          # total SGD steps; overrides epochs when given
    lr_schedule: str = "constant"
    pn_refresh: int = 0               # PN: steps between population refreshes (0: every epoch)
    eval_every: int = 0               # steps between evaluations (0: every epoch)
    seed: int = 0                     # model init, dropout noise and batch order
    # --- CNNConfig fields (sims.nn.model) ---
    widths: tuple[int, ...] = (32, 32, 64, 64)
    fc: int = 512
    kernel: int = 3
    norm: str = "none"
    norm_layers: tuple[bool, ...] | None = None
    dropout: str = "none"
    p_drop: float = 0.0
    dropout_place: str = "after"
    dropout_schedule: str = "constant"
    bn_momentum: float = 0.1
    gamma_decay: float | None = None
    dtype: str = "float32"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["widths"] = list(self.widths)
        d["norm_layers"] = None if self.norm_layers is None else list(self.norm_layers)
        return d

    def key(self) -> str:
        """A stable hash of the configuration (checkpoint names, caches)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


_CNN_FIELDS = ("widths", "fc", "kernel", "norm", "norm_layers", "dropout", "p_drop", "dropout_place",
               "dropout_schedule", "bn_momentum", "gamma_decay", "dtype", "seed")


def validate_config(cfg: TrainConfig) -> TrainConfig:
    """Check every field; return a normalized copy.  Errors are one line naming field and range."""
    if not isinstance(cfg, TrainConfig):
        raise ParameterError(f"config must be a TrainConfig (got {type(cfg).__name__})")
    c: dict[str, Any] = {}
    c["dataset"] = check_choice("dataset", cfg.dataset, DATASETS)
    c["data_dir"] = None if cfg.data_dir in (None, "", "none") else str(cfg.data_dir)
    c["n_train"] = None if cfg.n_train is None else check_int("n_train", cfg.n_train, 1)
    c["n_val"] = None if cfg.n_val is None else check_int("n_val", cfg.n_val, 1)
    c["split_seed"] = check_int("split_seed", cfg.split_seed, 0)
    c["batch"] = check_int("batch", cfg.batch, 2)
    c["lr"] = check_float("lr", cfg.lr, 0.0, lo_open=True)
    c["momentum"] = check_float("momentum", cfg.momentum, 0.0, 1.0, hi_open=True)
    c["epochs"] = check_int("epochs", cfg.epochs, 1)
    c["steps"] = None if cfg.steps is None else check_int("steps", cfg.steps, 1)
    c["lr_schedule"] = check_choice("lr_schedule", cfg.lr_schedule, LR_SCHEDULES)
    c["pn_refresh"] = check_int("pn_refresh", cfg.pn_refresh, 0)
    c["eval_every"] = check_int("eval_every", cfg.eval_every, 0)
    c["seed"] = check_int("seed", cfg.seed, 0)
    widths = cfg.widths
    if isinstance(widths, (int, np.integer)):
        widths = (widths,)
    if not isinstance(widths, (tuple, list)) or len(widths) < 1:
        raise ParameterError(f"widths must be positive integers, one per conv layer (got {widths!r})")
    c["widths"] = tuple(check_int("widths", w, 1) for w in widths)
    c["fc"] = check_int("fc", cfg.fc, 1)
    c["kernel"] = check_int("kernel", cfg.kernel, 1)
    c["norm"] = check_choice("norm", cfg.norm, NORMS)
    if cfg.norm_layers is None:
        c["norm_layers"] = None
    else:
        nl = tuple(cfg.norm_layers)
        if len(nl) != len(c["widths"]) + 1:
            raise ParameterError(f"norm_layers must have len(widths) + 1 = {len(c['widths']) + 1} entries "
                                 f"(convs + fc), got {len(nl)}")
        c["norm_layers"] = tuple(check_bool("norm_layers", v) for v in nl)
    c["dropout"] = check_choice("dropout", cfg.dropout, DROPOUTS)
    c["p_drop"] = check_float("p_drop", cfg.p_drop, 0.0, 1.0, hi_open=True)
    c["dropout_place"] = check_choice("dropout_place", cfg.dropout_place, DROPOUT_PLACES)
    c["dropout_schedule"] = check_choice("dropout_schedule", cfg.dropout_schedule, DROPOUT_SCHEDULES)
    c["bn_momentum"] = check_float("bn_momentum", cfg.bn_momentum, 0.0, 1.0, lo_open=True)
    c["gamma_decay"] = None if cfg.gamma_decay is None else check_float("gamma_decay", cfg.gamma_decay, 0.0)
    c["dtype"] = check_choice("dtype", cfg.dtype, DTYPES)
    if c["dataset"] == "cifar10" and c["data_dir"] is None:
        raise ParameterError("dataset=cifar10 needs data_dir (--data-dir) with the binary CIFAR-10 files")
    if c["n_train"] is not None and c["batch"] > c["n_train"]:
        raise ParameterError(f"batch must satisfy batch <= n_train = {c['n_train']} (got {c['batch']})")
    return TrainConfig(**c)


def _parse_bool_tuple(name: str, s: str) -> tuple[bool, ...] | None:
    if s.lower() in ("none", "all", ""):
        return None
    return tuple(check_bool(name, v.strip()) for v in s.split(","))


def config_from_strings(kv: dict[str, str]) -> TrainConfig:
    """Build a TrainConfig from `key=value` strings (the CLI): widths=8,8,16,16 norm_layers=1,0,0,0,0."""
    known = {f.name for f in fields(TrainConfig)}
    out: dict[str, Any] = {}
    for k, v in kv.items():
        if k not in known:
            raise ParameterError(f"unknown config key {k!r}; known: {', '.join(sorted(known))}")
        if k in ("n_train", "n_val", "steps", "gamma_decay", "data_dir") and v.lower() in ("none", ""):
            out[k] = None
        elif k == "widths":
            out[k] = tuple(p.strip() for p in v.split(","))
        elif k == "norm_layers":
            out[k] = _parse_bool_tuple(k, v)
        else:
            out[k] = v  # validate_config converts and range-checks every field
    return validate_config(TrainConfig(**out))


# ---------------------------------------------------------------------------------------------
# model construction (late import so the data/training code stands alone) and state capture


def _build_model(cfg: TrainConfig, in_shape: tuple[int, int, int], n_classes: int):
    from .model import CNNConfig, build_cnn

    kw = {f: getattr(cfg, f) for f in _CNN_FIELDS}
    return build_cnn(CNNConfig(in_shape=tuple(in_shape), n_classes=n_classes, **kw))


def _make_optimizer(params: list, lr: float, momentum: float):
    from .optim import SGD

    return SGD(params, lr, momentum=momentum)


def _loss_fn():
    from .model import softmax_cross_entropy

    return softmax_cross_entropy


_STATE_TYPES = (np.ndarray, np.random.Generator, np.random.RandomState)


def _walk_state(obj: Any, prefix: str, out: dict[str, Any], seen: set[int]) -> None:
    """Collect every numpy array / generator reachable from obj's attributes, lists, tuples and
    dicts, under deterministic dotted paths (the model's and optimizer's full state, without
    requiring a state_dict API from them)."""
    if id(obj) in seen:
        return
    if isinstance(obj, _STATE_TYPES):
        seen.add(id(obj))
        out[prefix] = obj
        return
    if isinstance(obj, (str, bytes, int, float, bool, type(None), np.generic)) or callable(obj) and not hasattr(
            obj, "__dict__"):
        return
    seen.add(id(obj))
    if isinstance(obj, dict):
        items = [(str(k), v) for k, v in obj.items()]
    elif isinstance(obj, (list, tuple)):
        items = [(str(i), v) for i, v in enumerate(obj)]
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        items = list(vars(obj).items())
    else:
        return
    for k, v in items:
        _walk_state(v, f"{prefix}.{k}" if prefix else k, out, seen)


def _scalar_state(obj: Any, prefix: str, out: dict[str, Any], seen: set[int]) -> None:
    """Python int/float attributes (step counters, running scalars) reachable from obj."""
    if id(obj) in seen or isinstance(obj, (*_STATE_TYPES, type)):
        return
    seen.add(id(obj))
    if isinstance(obj, dict):
        items = [(str(k), v) for k, v in obj.items()]
    elif isinstance(obj, list):  # lists are walked for the objects they hold, not for bare numbers
        items = [(str(i), v) for i, v in enumerate(obj) if not isinstance(v, (bool, int, float, np.generic))]
    elif hasattr(obj, "__dict__"):
        items = list(vars(obj).items())
    else:
        return
    for k, v in items:
        path = f"{prefix}.{k}" if prefix else k
        if isinstance(v, (bool, int, float, np.generic)):
            out[path] = (obj, k, v)
        elif isinstance(v, (dict, list)) or hasattr(v, "__dict__"):
            _scalar_state(v, path, out, seen)


def _capture(objs: dict[str, Any]) -> dict[str, np.ndarray]:
    arrays: dict[str, Any] = {}
    scalars: dict[str, Any] = {}
    seen: set[int] = set()
    for name, o in objs.items():
        _walk_state(o, name, arrays, seen)
    seen = set()
    for name, o in objs.items():
        _scalar_state(o, name, scalars, seen)
    out: dict[str, np.ndarray] = {}
    for k, v in arrays.items():
        if isinstance(v, np.ndarray):
            out["a:" + k] = v
        elif isinstance(v, np.random.Generator):
            out["g:" + k] = np.array(json.dumps(v.bit_generator.state))
        else:
            out["r:" + k] = np.array(json.dumps(v.get_state(legacy=False), default=_json_np))
    for k, (_, _, v) in scalars.items():
        out["s:" + k] = np.array(v)
    return out


def _json_np(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(type(x))


def _resolve(objs: dict[str, Any], path: str) -> tuple[Any, str]:
    """(owner, last key) of a dotted state path; raises KeyError/AttributeError if absent."""
    parts = path.split(".")
    obj = objs[parts[0]]
    for p in parts[1:-1]:
        if isinstance(obj, dict):
            obj = obj.setdefault(p, {})  # per-layer dicts filled lazily (e.g. PN statistics)
        elif isinstance(obj, (list, tuple)):
            obj = obj[int(p)]
        else:
            obj = getattr(obj, p)
    return obj, parts[-1]


def _get(owner: Any, key: str) -> Any:
    if isinstance(owner, (list, tuple)):
        return owner[int(key)]
    return owner.get(key) if isinstance(owner, dict) else getattr(owner, key, None)


def _set(owner: Any, key: str, value: Any) -> None:
    if isinstance(owner, list):
        owner[int(key)] = value
    elif isinstance(owner, dict):
        owner[key] = value
    elif dataclasses.is_dataclass(owner) and owner.__dataclass_params__.frozen:  # type: ignore[union-attr]
        object.__setattr__(owner, key, value)
    else:
        setattr(owner, key, value)


def _restore(objs: dict[str, Any], saved: dict[str, np.ndarray]) -> None:
    """Put a _capture()d state back: arrays in place when the shapes agree (keeps aliasing between
    model and optimizer), else by assignment (lazily created buffers, caches)."""
    try:
        for k, v in saved.items():
            kind, path = k.split(":", 1)
            owner, key = _resolve(objs, path)
            cur = _get(owner, key)
            if kind == "a":
                # in place only into arrays the model owns (a cache may be a view of the caller's data)
                if isinstance(cur, np.ndarray) and cur.shape == v.shape and cur.dtype == v.dtype \
                        and cur.flags.writeable and cur.base is None:
                    cur[...] = v
                else:
                    _set(owner, key, np.array(v))
            elif kind == "g":
                cur.bit_generator.state = json.loads(str(v))
            elif kind == "r":
                st = json.loads(str(v))
                st["state"]["key"] = np.array(st["state"]["key"], dtype=np.uint32)
                cur.set_state(st)
            else:
                val = v.item()
                if cur is not None and type(cur) in (bool, int, float):
                    val = type(cur)(val)
                if cur != val:
                    _set(owner, key, val)
    except (KeyError, AttributeError, IndexError, TypeError, ValueError) as e:
        raise ParameterError(f"checkpoint does not match this model ({e}); delete it to start over") from None


# ---------------------------------------------------------------------------------------------
# the loop


def lr_at(cfg: TrainConfig, step: int, total: int) -> float:
    """Learning rate at `step` of `total` under cfg.lr_schedule."""
    if cfg.lr_schedule == "cosine":
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * step / total))
    if cfg.lr_schedule == "step":
        return cfg.lr * (0.1 if step >= total // 2 else 1.0) * (0.1 if step >= (3 * total) // 4 else 1.0)
    return cfg.lr


def evaluate(model, x: np.ndarray, y: np.ndarray, loss_fn=None) -> tuple[float, float]:
    """Inference-mode mean loss and accuracy over the whole set, in chunks."""
    loss_fn = loss_fn or _loss_fn()
    tot, correct = 0.0, 0
    for i in range(0, len(y), _EVAL_CHUNK):
        with np.errstate(over="ignore", invalid="ignore"):  # a non-finite loss is reported by the caller
            logits = model.forward(x[i:i + _EVAL_CHUNK], training=False)
            loss, _ = loss_fn(logits, y[i:i + _EVAL_CHUNK])
        tot += float(loss) * len(logits)
        correct += int(np.sum(np.argmax(logits, axis=1) == y[i:i + _EVAL_CHUNK]))
    return tot / len(y), correct / len(y)


def _checkpoint_path(checkpoint_dir: str | os.PathLike, cfg: TrainConfig) -> Path:
    return Path(checkpoint_dir) / f"cnn_{cfg.key()}.npz"


def _save_checkpoint(path: Path, cfg: TrainConfig, step: int, state: dict[str, np.ndarray],
                     hist: dict[str, Any], done: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
    os.close(fd)
    np.savez(tmp, __config__=np.array(json.dumps(cfg.to_dict(), sort_keys=True)), __step__=np.array(step),
             __done__=np.array(done), __hist__=np.array(json.dumps(hist)), **state)
    os.replace(tmp, path)  # never a half-written checkpoint


def _load_checkpoint(path: Path, cfg: TrainConfig) -> tuple[int, dict[str, np.ndarray], dict, bool] | None:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if json.loads(str(z["__config__"])) != json.loads(json.dumps(cfg.to_dict(), sort_keys=True)):
                return None
            state = {k: z[k] for k in z.files if not k.startswith("__")}
            return int(z["__step__"]), state, json.loads(str(z["__hist__"])), bool(z["__done__"])
    except Exception:  # noqa: BLE001 - an unreadable checkpoint is a fresh start, never a crash
        return None


def _config_text(cfg: TrainConfig) -> str:
    d = TrainConfig()
    diff = {k: v for k, v in cfg.to_dict().items() if v != d.to_dict()[k]}
    return " ".join(f"{k}={v}" for k, v in diff.items()) or "defaults"


@contextlib.contextmanager
def limit_threads(n: int | None) -> Iterator[None]:
    """Run with at most n numba and BLAS threads (None: unchanged).  On a shared 2-core machine one
    thread per run and runs in parallel processes is 5-20x faster than oversubscribed threads."""
    if n is None:
        yield
        return
    import numba

    old = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        threadpool_limits = None
    try:
        if threadpool_limits is None:
            yield
        else:
            with threadpool_limits(limits=int(n)):
                yield
    finally:
        numba.set_num_threads(old)


def train(cfg: TrainConfig, progress: bool = True, checkpoint_dir: str | os.PathLike | None = None,
          data: Dataset | None = None, threads: int | None = None) -> dict[str, Any]:
    """Train cfg; return JSON-able metrics: config, curves (step, epoch, train/val loss and accuracy
    in inference mode, mean training-mode batch loss, lr), gamma2 curves per normalized layer,
    final metrics incl. gap = val_loss - train_loss, wall time, diverged flag/step/message.
    `data`: a preloaded Dataset (else loaded from cfg); `threads`: numba/BLAS thread cap."""
    cfg = validate_config(cfg)
    with limit_threads(threads):
        return _train(cfg, progress, checkpoint_dir, data)


def _train(cfg: TrainConfig, progress: bool, checkpoint_dir: str | os.PathLike | None,
           data: Dataset | None) -> dict[str, Any]:
    t_start = time.perf_counter()
    if data is None:
        data = load_dataset(cfg.dataset, cfg.n_train, cfg.n_val, cfg.split_seed, cfg.data_dir)
    n = len(data.y_train)
    if cfg.batch > n:
        raise ParameterError(f"batch must satisfy batch <= n_train = {n} (got {cfg.batch})")
    spe = n // cfg.batch
    total = cfg.steps if cfg.steps is not None else cfg.epochs * spe
    eval_every = cfg.eval_every or spe
    pn_every = cfg.pn_refresh or spe
    model = _build_model(cfg, data.in_shape, data.n_classes)
    opt = _make_optimizer(model.parameters(), cfg.lr, cfg.momentum)
    loss_fn = _loss_fn()
    is_pn = cfg.norm == "pn"

    hist: dict[str, Any] = {k: [] for k in ("step", "epoch", "lr", "train_loss_batch", "train_loss", "train_acc",
                                           "val_loss", "val_acc", "regularizer")}
    hist["gamma2"] = {}
    start, ckpt = 0, None
    ckpt_path = _checkpoint_path(checkpoint_dir, cfg) if checkpoint_dir is not None else None
    if ckpt_path is not None:
        ckpt = _load_checkpoint(ckpt_path, cfg)
        if ckpt is not None:
            start, state, hist, done = ckpt
            _restore({"model": model, "opt": opt}, state)
    diverged, div_step, message = False, None, ""
    batch_losses: list[float] = []
    bar = tqdm(total=total, initial=start, desc=f"cnn {cfg.norm}", disable=not progress, leave=False,
               file=sys.stderr)

    def record(step: int) -> bool:
        ev = model
        if is_pn:  # evaluate PN with the current weights' statistics, on a copy: training is untouched
            ev = copy.deepcopy(model)
            ev.refresh_population(data.x_train)
        tr_loss, tr_acc = evaluate(ev, data.x_train, data.y_train, loss_fn)
        va_loss, va_acc = evaluate(ev, data.x_val, data.y_val, loss_fn)
        hist["step"].append(step)
        hist["epoch"].append(step / spe)
        hist["lr"].append(lr_at(cfg, min(step, total - 1), total))
        hist["train_loss_batch"].append(float(np.mean(batch_losses)) if batch_losses else None)
        hist["train_loss"].append(tr_loss)
        hist["train_acc"].append(tr_acc)
        hist["val_loss"].append(va_loss)
        hist["val_acc"].append(va_acc)
        hist["regularizer"].append(float(ev.regularizer()))
        for layer, g in ev.gamma2().items():
            hist["gamma2"].setdefault(str(layer), []).append(float(g))
        batch_losses.clear()
        return math.isfinite(tr_loss) and math.isfinite(va_loss)

    done_already = ckpt is not None and ckpt[3]
    try:
        if not done_already:
            if start == 0:
                if is_pn:
                    model.refresh_population(data.x_train)
                record(0)
            perm, perm_epoch = None, -1
            for step in range(start, total):
                epoch = step // spe
                if epoch != perm_epoch:
                    perm = np.random.default_rng(derive_seed(cfg.seed, "order", epoch)).permutation(n)
                    perm_epoch = epoch
                if is_pn and step > 0 and step % pn_every == 0:
                    model.refresh_population(data.x_train)
                j = (step % spe) * cfg.batch
                idx = perm[j:j + cfg.batch]
                model.set_progress(step / total)
                with np.errstate(over="ignore", invalid="ignore"):  # divergence is caught just below
                    logits = model.forward(data.x_train[idx], training=True)
                    loss, dlogits = loss_fn(logits, data.y_train[idx])
                    reg = float(model.regularizer())
                full = float(loss) + reg
                if not math.isfinite(full):
                    diverged, div_step = True, step
                    break
                batch_losses.append(float(loss))
                with np.errstate(over="ignore", invalid="ignore"):
                    model.backward(dlogits)
                    opt.lr = lr_at(cfg, step, total)
                    opt.step()
                bar.update(1)
                if progress and step % 20 == 0:
                    bar.set_postfix(loss=f"{loss:.3f}")
                last = step + 1 == total
                if (step + 1) % eval_every == 0 or last:
                    if not record(step + 1):
                        diverged, div_step = True, step + 1
                        break
                    if ckpt_path is not None:
                        _save_checkpoint(ckpt_path, cfg, step + 1, _capture({"model": model, "opt": opt}), hist, last)
    finally:
        bar.close()
    if diverged:
        message = (f"diverged: non-finite loss at step {div_step} of {total} for config {_config_text(cfg)}; "
                   "recorded as diverged, not plotted")
        print(f"bnreg cnn: {message}", file=sys.stderr)
    final: dict[str, Any] = {}
    if not diverged:
        final = {"train_loss": hist["train_loss"][-1], "val_loss": hist["val_loss"][-1],
                 "train_acc": hist["train_acc"][-1], "val_acc": hist["val_acc"][-1],
                 "gap": hist["val_loss"][-1] - hist["train_loss"][-1],
                 "gamma2": {k: v[-1] for k, v in hist["gamma2"].items()}}
    return {
        "config": cfg.to_dict(), "config_key": cfg.key(), "n_train": n, "n_val": len(data.y_val),
        "in_shape": list(data.in_shape), "steps": total, "steps_per_epoch": spe,
        "data_mean": data.mean.tolist(), "data_std": data.std.tolist(),
        "curves": {k: v for k, v in hist.items() if k != "gamma2"}, "gamma2": hist["gamma2"],
        "final": final, "diverged": diverged, "diverged_step": div_step, "message": message,
        "wall_time_s": time.perf_counter() - t_start, "resumed_from": start,
    }


# ---------------------------------------------------------------------------------------------
# sweeps of many configs x seeds (the figures), cached per finished run


CACHE_VERSION = 3  # 3: PN evaluated with refreshed statistics on a copy of the model


def _run_point(cfg_dict: dict[str, Any]) -> dict[str, Any]:
    """One cached sweep point: train with 1 thread (runs go to processes) and flatten the metrics
    into arrays (PointCache stores arrays; no pickle)."""
    d = dict(cfg_dict)
    d["widths"] = tuple(d["widths"])
    d["norm_layers"] = None if d["norm_layers"] is None else tuple(d["norm_layers"])
    r = train(TrainConfig(**d), progress=False, threads=1)
    c = r["curves"]
    out: dict[str, Any] = {
        "diverged": r["diverged"], "diverged_step": -1 if r["diverged_step"] is None else r["diverged_step"],
        "wall_time_s": r["wall_time_s"], "epoch": np.array(c["epoch"], float),
        "train_loss": np.array(c["train_loss"], float), "val_loss": np.array(c["val_loss"], float),
        "train_acc": np.array(c["train_acc"], float), "val_acc": np.array(c["val_acc"], float),
        "gamma2_layers": np.array(list(r["gamma2"]), dtype=str),
    }
    for layer, v in r["gamma2"].items():
        out[f"gamma2:{layer}"] = np.array(v, float)
    return out


def run_configs(configs: list[TrainConfig], cache: Any, desc: str = "cnn", **sweep_kw: Any) -> list[dict]:
    """Train every config (validated first, all of them, before any work) through
    sims.executor.sweep: cached per finished run (an interrupted sweep resumes), serially, on
    processes or on Dask.  Returns per-config dicts of arrays (see `_run_point`)."""
    from ..executor import sweep

    items = [validate_config(c).to_dict() for c in configs]
    keys = [json.dumps(d, sort_keys=True) for d in items]
    unique = list(dict.fromkeys(keys))  # a config listed twice (shared reference runs) trains once
    first = {k: items[keys.index(k)] for k in unique}
    res = sweep(_run_point, [first[k] for k in unique], lambda d: {"kind": "cnn-run", "v": CACHE_VERSION, **d},
                cache, desc=desc, **sweep_kw)
    by_key = dict(zip(unique, res, strict=True))
    return [by_key[k] for k in keys]


def mean_se(values: Any) -> tuple[float, float, int]:
    """Mean, standard error (sample sd / sqrt(n), ddof = 1) and n of the finite values; se is NaN
    for n < 2 and both are NaN for n = 0."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), 0
    se = float(np.std(v, ddof=1) / np.sqrt(v.size)) if v.size > 1 else float("nan")
    return float(np.mean(v)), se, int(v.size)

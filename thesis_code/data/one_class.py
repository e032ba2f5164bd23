"""One-class splits of MNIST and Fashion-MNIST: the anomaly-detection protocol of Ruff et al. (2018).

For a normal class c the detector is trained only on the training images of class c and scores the
whole test set (10,000 images); the test images of the other nine classes are the anomalies. The
protocol is the one of "Deep one-class classification" (ICML 2018, section 4.1), without its
preprocessing: we keep the raw [0, 1] pixels (Ruff et al. apply global contrast normalization and a
per-class min-max scaling).

    split = one_class_split("mnist", 3)
    split.x_train        # only 3s, (N_3, 1, 28, 28)
    split.x_test         # all 10,000 test images
    split.is_anomaly     # bool, True where the test label is not 3
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from .images import SPECS, load


class OneClassSplit(NamedTuple):
    name: str
    normal_class: int
    x_train: torch.Tensor     # (N_c, 1, 28, 28) training images of the normal class only
    x_test: torch.Tensor      # (N_test, 1, 28, 28) every test image
    is_anomaly: torch.Tensor  # (N_test,) bool: test label != normal_class
    y_test: torch.Tensor      # (N_test,) int64 original labels


def one_class_split(name: str, normal_class: int, *, limit: int | None = None,
                    test_limit: int | None = None) -> OneClassSplit:
    """The one-class split of data set ``name`` ("mnist" or "fashion_mnist") for ``normal_class``.

    ``limit`` keeps the first ``limit`` training images *of the normal class* (for quick runs);
    ``test_limit`` keeps the first ``test_limit`` test images (the protocol uses all of them).
    """
    if name not in SPECS:
        raise ValueError(f"unknown data set {name!r}; one-class splits exist for {sorted(SPECS)}")
    n_classes = len(SPECS[name].classes)
    if isinstance(normal_class, bool) or not isinstance(normal_class, int) \
            or not 0 <= normal_class < n_classes:
        raise ValueError(f"normal_class must be an int in 0..{n_classes - 1} for {name}, got {normal_class!r}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of training images, got {limit}")
    x_tr, y_tr = load(name, "train")
    x_te, y_te = load(name, "test", limit=test_limit)
    x_train = x_tr[y_tr == normal_class]
    if limit is not None:
        x_train = x_train[:limit]
    is_anomaly = y_te != normal_class
    if is_anomaly.all() or not is_anomaly.any():
        raise ValueError(f"the test set of this split must hold both normal and anomalous images "
                         f"(test_limit={test_limit} is too small)")
    return OneClassSplit(name, normal_class, x_train.contiguous(), x_te, is_anomaly, y_te)

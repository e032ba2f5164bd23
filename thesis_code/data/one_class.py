"""One-class splits of MNIST and Fashion-MNIST: the anomaly-detection protocol of Ruff et al. (2018).

For a normal class c the detector is trained only on the training images of class c and scores the
whole test set (10,000 images); the test images of the other nine classes are the anomalies. The
protocol is the one of "Deep one-class classification" (ICML 2018, section 4.1), without its
preprocessing: we keep the raw [0, 1] pixels (Ruff et al. apply global contrast normalization and a
per-class min-max scaling).

Choices made *about* the detector (which of its scores to report, say) must not look at the test
images. For them a split can hold out a validation set: ``val_per_class`` training images of *every*
class, drawn once per data set with a seeded generator, the same for every normal class. No detector of
that data set is fitted on them; for normal class c they form a small one-class problem of their own
(the held-out images of c normal, the others anomalous). The test set is left as it is.

    split = one_class_split("mnist", 3, val_per_class=200)
    split.x_train          # only 3s, minus the held-out 3s: (N_3 - 200, 1, 28, 28)
    split.x_test           # all 10,000 test images
    split.is_anomaly       # bool, True where the test label is not 3
    split.x_val, split.y_val, split.val_is_anomaly   # 2,000 held-out training images of all classes
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from .images import SPECS, load


class OneClassSplit(NamedTuple):
    name: str
    normal_class: int
    x_train: torch.Tensor     # (N_c, 1, 28, 28) training images of the normal class, none held out
    x_test: torch.Tensor      # (N_test, 1, 28, 28) every test image
    is_anomaly: torch.Tensor  # (N_test,) bool: test label != normal_class
    y_test: torch.Tensor      # (N_test,) int64 original labels
    x_val: torch.Tensor       # (N_val, 1, 28, 28) held-out training images of every class (N_val may be 0)
    y_val: torch.Tensor       # (N_val,) int64 their labels

    @property
    def val_is_anomaly(self) -> torch.Tensor:
        """(N_val,) bool: True where the held-out image is not of the normal class."""
        return self.y_val != self.normal_class


def validation_indices(labels: torch.Tensor, per_class: int, seed: int = 0) -> torch.Tensor:
    """Indices (sorted, int64) of ``per_class`` examples of every class in ``labels``, drawn without
    replacement by a generator seeded with ``seed``: the same labels, count and seed give the same set.

    Every class keeps at least one example outside the set, so each one-class training set is non-empty."""
    if labels.dim() != 1:
        raise ValueError(f"expected a 1-D tensor of labels, got shape {tuple(labels.shape)}")
    if isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 0:
        raise ValueError(f"per_class must be a non-negative int, got {per_class!r}")
    g = torch.Generator().manual_seed(seed)
    chosen = []
    for k in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == k).flatten()
        if per_class >= len(idx):
            raise ValueError(f"class {k} has {len(idx)} training images: cannot hold out {per_class} of them "
                             f"and still train on it")
        # one permutation per class, drawn in class order from the one generator (reproducible)
        chosen.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
    return torch.sort(torch.cat(chosen)).values if chosen else torch.zeros(0, dtype=torch.int64)


def one_class_split(name: str, normal_class: int, *, limit: int | None = None,
                    test_limit: int | None = None, val_per_class: int = 0, val_seed: int = 0
                    ) -> OneClassSplit:
    """The one-class split of data set ``name`` ("mnist" or "fashion_mnist") for ``normal_class``.

    ``val_per_class`` training images of every class (chosen by :func:`validation_indices` with
    ``val_seed``, independent of ``normal_class``) are held out as the validation set and removed from
    the training images. ``limit`` then keeps the first ``limit`` remaining training images *of the
    normal class* (for quick runs); ``test_limit`` keeps the first ``test_limit`` test images (the
    protocol uses all of them).
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
    held_out = torch.zeros(len(y_tr), dtype=torch.bool)
    held_out[validation_indices(y_tr, val_per_class, val_seed)] = True
    x_train = x_tr[(y_tr == normal_class) & ~held_out]
    if limit is not None:
        x_train = x_train[:limit]
    is_anomaly = y_te != normal_class
    if is_anomaly.all() or not is_anomaly.any():
        raise ValueError(f"the test set of this split must hold both normal and anomalous images "
                         f"(test_limit={test_limit} is too small)")
    return OneClassSplit(name, normal_class, x_train.contiguous(), x_te, is_anomaly, y_te,
                         x_tr[held_out].contiguous(), y_tr[held_out])

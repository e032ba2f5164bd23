"""Anomaly scores: AUROC, average precision, ROC and precision-recall curves (scikit-learn)."""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import distributions as D

from ..latent import _eval_mode, encode_dataset
from ..objectives import kl_normal_per_dim

LOG2 = math.log(2.0)

# ----------------------------------------------------------------------------- anomaly scores
def _scores_labels(scores, labels):
    s = np.asarray(scores.detach().cpu() if torch.is_tensor(scores) else scores, dtype=float).ravel()
    y = np.asarray(labels.detach().cpu() if torch.is_tensor(labels) else labels).ravel()
    if s.shape != y.shape:
        raise ValueError(f"scores and labels must have the same length, got {s.shape} and {y.shape}")
    if not set(np.unique(y).tolist()) <= {0, 1, False, True}:
        raise ValueError("labels must be binary (1 = positive, e.g. anomaly)")
    if len(np.unique(y)) < 2:
        raise ValueError("labels must contain both classes")
    return s, y.astype(int)


def auroc(scores, labels) -> float:
    """Area under the ROC curve; higher scores should mean label 1 (e.g. anomaly)."""
    from sklearn.metrics import roc_auc_score
    return float(roc_auc_score(*reversed(_scores_labels(scores, labels))))


def average_precision(scores, labels) -> float:
    """Average precision (area under the precision-recall curve, step interpolation)."""
    from sklearn.metrics import average_precision_score
    return float(average_precision_score(*reversed(_scores_labels(scores, labels))))


def roc_curve(scores, labels):
    """(false positive rate, true positive rate, thresholds)."""
    from sklearn.metrics import roc_curve as _roc
    s, y = _scores_labels(scores, labels)
    return _roc(y, s)


def pr_curve(scores, labels):
    """(precision, recall, thresholds)."""
    from sklearn.metrics import precision_recall_curve
    s, y = _scores_labels(scores, labels)
    return precision_recall_curve(y, s)

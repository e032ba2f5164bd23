"""Sample quality: the Frechet distance (Heusel et al. 2017) between classifier features of samples and of
test images, computed with the small CNN of :mod:`thesis_code.evaluate.classifier` instead of Inception
(the "Frechet classifier distance"), together with that classifier's test accuracy."""
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

# ----------------------------------------------------------------------------- sample quality
def _device_of(module) -> torch.device:
    """The device of a module's parameters (CPU for a parameter-free callable)."""
    try:
        return next(module.parameters()).device
    except (AttributeError, StopIteration):
        return torch.device("cpu")


@torch.no_grad()
def classifier_accuracy(clf, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Fraction of ``x`` that ``clf`` labels as ``y``."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must have the same length, got {x.shape[0]} and {y.shape[0]}")
    correct = 0
    device = _device_of(clf)
    with _eval_mode(clf):
        for xb, yb in zip(x.split(batch_size), y.split(batch_size)):
            correct += int((clf(xb.to(device)).argmax(1).cpu() == yb.cpu()).sum())
    return correct / max(1, x.shape[0])


@torch.no_grad()
def fid_features(clf, x: torch.Tensor, batch_size: int = 1000) -> np.ndarray:
    """Penultimate-layer features ``clf.features(x)`` of every image, as float64 (N, F).

    Each batch is moved to the classifier's device first: samples of a model may live elsewhere (a model
    on the GPU and a CPU classifier, or the reverse)."""
    device = _device_of(clf)
    with _eval_mode(clf):
        feats = [clf.features(xb.to(device)).detach().cpu() for xb in x.split(batch_size)]
    return torch.cat(feats).double().numpy()


def frechet_distance_gaussians(mu1, sigma1, mu2, sigma2, eps: float = 1e-6, rtol: float = 1e-5) -> float:
    """Frechet (2-Wasserstein) distance^2 between N(mu1, sigma1) and N(mu2, sigma2):

        d^2 = ||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))     (Dowson & Landau 1982)

    Numerics as in the reference FID code (Heusel et al. 2017; pytorch-fid): if the matrix square root is
    not finite (singular product), retry with eps added to both diagonals; an imaginary part that is only
    round-off is dropped, a large one is an error.

    d^2 >= 0 always, so a negative result can only come from the numerics. A value within
    ``rtol * (||mu1 - mu2||^2 + Tr sigma1 + Tr sigma2)`` below zero is the round-off of two (nearly) equal
    distributions and is reported as 0; anything more negative means the matrix square root failed, and
    is an error rather than a distance of 0 (a silent clamp would report a perfect score for a failure).
    """
    from scipy import linalg
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, float)), np.atleast_1d(np.asarray(mu2, float))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, float)), np.atleast_2d(np.asarray(sigma2, float))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(f"mismatched statistics: means {mu1.shape}, {mu2.shape}; "
                         f"covariances {sigma1.shape}, {sigma2.shape}")
    diff = mu1 - mu2
    with warnings.catch_warnings():
        # A singular product (dead ReLU features, fewer samples than features) is handled just below.
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma1 @ sigma2)
        if not np.isfinite(covmean).all():
            offset = np.eye(sigma1.shape[0]) * eps
            covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if not np.isfinite(covmean).all():
        raise ValueError("the matrix square root of sigma1 @ sigma2 is not finite, even with "
                         f"{eps:g} added to the diagonals: the covariances are degenerate")
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"imaginary component {np.max(np.abs(covmean.imag)):.3g} in the matrix square root")
        covmean = covmean.real
    scale = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2))
    value = float(scale - 2.0 * np.trace(covmean))
    if value < -rtol * scale:
        raise ValueError(f"negative Frechet distance {value:.4g} (scale {scale:.4g}): the matrix square root "
                         "of sigma1 @ sigma2 is inaccurate; check the features for NaNs or degenerate "
                         "covariances")
    # Within the tolerance: round-off of (nearly) identical distributions, not a failure.
    return max(value, 0.0)


def frechet_distance(feats_a, feats_b) -> float:
    """Frechet distance between Gaussians fitted (mean, covariance) to two feature sets (N, F)."""
    a, b = np.asarray(feats_a, float), np.asarray(feats_b, float)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"expected two feature arrays (N, F) with the same F, got {a.shape} and {b.shape}")
    if min(a.shape[0], b.shape[0]) < 2:
        raise ValueError("need at least 2 feature vectors in each set")
    return frechet_distance_gaussians(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


@dataclass
class SampleQuality:
    """Frechet classifier distance (FCD) of a model's samples to test images, and the classifier's test
    accuracy (how much its features can be trusted)."""

    fcd: float
    classifier_accuracy: float
    n_samples: int

    def __str__(self) -> str:
        return (f"FCD = {self.fcd:.3f} over {self.n_samples} samples "
                f"(classifier test accuracy {100 * self.classifier_accuracy:.1f}%)")


def is_conditional(model) -> bool:
    """A model whose ``sample`` takes labels ``y`` (the conditional VAE: p(x|z, y))."""
    import inspect
    try:
        return "y" in inspect.signature(model.sample).parameters
    except (TypeError, ValueError):
        return False


def labels_like(y: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` labels with the class frequencies of ``y`` (largest-remainder rounding), in a random order
    drawn from ``generator``: the labels to generate with when a conditional model is compared with the
    test set whose labels are ``y``. With ``n == len(y)`` the counts are exactly those of ``y``."""
    y = torch.as_tensor(y).reshape(-1).long().cpu()
    if y.numel() == 0 or n < 0:
        raise ValueError(f"need labels and n >= 0, got {y.numel()} labels and n = {n}")
    classes, counts = torch.unique(y, return_counts=True)
    quota = counts.double() * n / y.numel()
    alloc = quota.floor().long()
    rest = n - int(alloc.sum())
    if rest > 0:   # the classes with the largest remainders get one more each (ties: smaller class first)
        order = torch.argsort(quota - alloc.double(), descending=True, stable=True)
        alloc[order[:rest]] += 1
    labels = torch.repeat_interleave(classes, alloc)
    return labels[torch.randperm(n, generator=generator)]


@torch.no_grad()
def sample_batches(model, n: int, batch_size: int = 500, seed: int = 0, labels: torch.Tensor | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` samples of ``model.sample`` drawn in batches from an explicit generator (``generator``, or a
    new one seeded with ``seed``), so the result never depends on the global RNG state.

    ``labels`` (n,): the class of each sample, for a conditional model (``model.sample(n, y, generator)``).
    A conditional model needs them: its ``sample`` would otherwise generate one default class only.
    """
    if generator is None:
        generator = torch.Generator().manual_seed(seed)
    conditional = is_conditional(model)
    if conditional and labels is None:
        raise ValueError(f"{type(model).__name__} is conditional: pass the labels of the samples "
                         "(e.g. labels_like(y_test, n)), or every sample would be of one class")
    if labels is not None:
        if not conditional:
            raise ValueError(f"{type(model).__name__}.sample takes no labels")
        labels = torch.as_tensor(labels).reshape(-1)
        if labels.shape[0] != n:
            raise ValueError(f"expected {n} labels, got {labels.shape[0]}")
    out = []
    with _eval_mode(model):
        for start in range(0, n, batch_size):
            m = min(batch_size, n - start)
            if labels is None:
                out.append(model.sample(m, generator=generator))
            else:
                yb = labels[start:start + m].to(_device_of(model))
                out.append(model.sample(m, y=yb, generator=generator))
    return torch.cat([o.detach() for o in out])


def frechet_classifier_distance(model, clf, x_test: torch.Tensor, y_test: torch.Tensor,
                                n_samples: int | None = None, seed: int = 0,
                                generator: torch.Generator | None = None) -> SampleQuality:
    """FCD between ``n_samples`` (default: as many as test images) samples of ``model`` and the test
    images, in the penultimate-layer features of the classifier ``clf``.

    A conditional model generates every class, with the class frequencies of ``y_test``
    (:func:`labels_like`), so its samples are compared with a test set of the same class mixture. All
    randomness (labels and samples) comes from ``generator`` (default: seeded with ``seed``). The samples
    and test images are moved to the classifier's device, wherever the model put them.
    """
    n = x_test.shape[0] if n_samples is None else n_samples
    if generator is None:
        generator = torch.Generator().manual_seed(seed)
    labels = labels_like(y_test, n, generator) if is_conditional(model) else None
    samples = sample_batches(model, n, labels=labels, generator=generator)
    fcd = frechet_distance(fid_features(clf, samples), fid_features(clf, x_test))
    return SampleQuality(fcd=fcd, classifier_accuracy=classifier_accuracy(clf, x_test, y_test), n_samples=n)


def sample_quality(model, dataset: str = "mnist", run=None, n_samples: int | None = None,
                   test_limit: int | None = None, seed: int = 0) -> SampleQuality:
    """FCD of ``model``'s samples against the test set of ``dataset``, with the project's classifier of
    that data set (trained or loaded through :func:`classifier.train_classifier` with the run's budget)."""
    from .classifier import train_classifier
    from ..data import load
    clf, _ = train_classifier(dataset, run=run)
    x_test, y_test = load(dataset, "test", limit=test_limit)
    device = _device_of(clf)
    return frechet_classifier_distance(model, clf, x_test.to(device), y_test.to(device), n_samples, seed)


# ----------------------------------------------------------------------------- precision and recall
@dataclass
class PrecisionRecall:
    """Improved precision and recall of samples (Kynkaanniemi et al. 2019): quality and coverage apart."""

    precision: float   # share of generated samples inside the estimated manifold of the real data
    recall: float      # share of real samples inside the estimated manifold of the generated data
    k: int

    def __str__(self) -> str:
        return f"precision {self.precision:.3f}, recall {self.recall:.3f} (k = {self.k})"


def _knn_radii(feats: torch.Tensor, k: int, batch: int) -> torch.Tensor:
    """Distance of every row to its k-th nearest other row (the point itself excluded)."""
    out = []
    for fb in feats.split(batch):
        d = torch.cdist(fb, feats)
        out.append(d.kthvalue(k + 1, dim=1).values)     # the smallest distance is the point itself (0)
    return torch.cat(out)


def _inside_manifold(query: torch.Tensor, support: torch.Tensor, radii: torch.Tensor, batch: int) -> torch.Tensor:
    """For each query row: is it within the k-NN ball of at least one support row?"""
    out = []
    for qb in query.split(batch):
        out.append((torch.cdist(qb, support) <= radii.unsqueeze(0)).any(dim=1))
    return torch.cat(out)


def precision_recall(real_feats, fake_feats, k: int = 3, batch: int = 1000) -> PrecisionRecall:
    """Improved precision and recall (Kynkaanniemi et al. 2019, eq. 1-3) in a feature space.

    The manifold of a set of feature vectors is the union of balls centred on each vector with radius
    the distance to its k-th nearest neighbour in the same set. Precision is the fraction of generated
    vectors inside the real manifold (are the samples realistic?); recall the fraction of real vectors
    inside the generated manifold (is the data covered?). The paper uses k = 3 and equal set sizes."""
    real = torch.as_tensor(np.asarray(real_feats), dtype=torch.float64)
    fake = torch.as_tensor(np.asarray(fake_feats), dtype=torch.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"expected two (N, F) feature arrays with the same F, got {tuple(real.shape)} "
                         f"and {tuple(fake.shape)}")
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"need more than k = {k} vectors in each set")
    precision = _inside_manifold(fake, real, _knn_radii(real, k, batch), batch).double().mean()
    recall = _inside_manifold(real, fake, _knn_radii(fake, k, batch), batch).double().mean()
    return PrecisionRecall(precision=float(precision), recall=float(recall), k=k)

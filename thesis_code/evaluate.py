"""Evaluation of the models of the thesis.

* Likelihood: the importance-sampled estimate of log p(x) (Rezende et al. 2014; Burda et al. 2015)
  with K samples of the encoder q(z|x), batched over examples and over the K samples, so memory does not
  grow with K; nats and bits per dimension.
* The latent code: reconstruction error, KL per latent dimension, active units (Burda et al. 2015) and a
  posterior-collapse report.
* Sample quality: the Frechet distance (Heusel et al. 2017) between classifier features of samples and of
  test images, computed with the small CNN of :mod:`thesis_code.classifier` instead of Inception (the
  "Frechet classifier distance"), together with that classifier's test accuracy.
* Anomaly scores: AUROC, average precision, ROC and precision-recall curves (scikit-learn).

Every function takes any model that follows the VAE protocol of ARCHITECTURE.md (``encode`` ->
``(mu, logvar)``, ``log_px_given_z``, ``log_prior``, ``reconstruct``, ``sample``); the functions that need
only a code also accept deterministic autoencoders (``encode`` -> ``h``).

Binarized data. Bernoulli-decoder VAEs are trained on dynamically binarized images, so their likelihood
is a likelihood of binary images. To make test numbers reproducible the test set is binarized ONCE with
a fixed seed (:func:`fixed_binarization`, seed 0 by default) and every model is evaluated on that same
binary test set.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import distributions as D

from .latent import _eval_mode, encode_dataset
from .objectives import kl_normal_per_dim

LOG2 = math.log(2.0)


# ----------------------------------------------------------------------------- importance sampling
def fixed_binarization(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """A reproducible binarization of a test set: pixel ~ Bernoulli(intensity) with a seeded generator.

    Evaluate every Bernoulli model on the output of this function (same seed), never on a fresh dynamic
    binarization, so that likelihoods of different models and runs are comparable.
    """
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise ValueError("expected a float tensor of intensities in [0, 1], shape (N, 1, 28, 28)")
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError("expected intensities in [0, 1]")
    generator = torch.Generator(device=x.device).manual_seed(seed)
    return torch.bernoulli(x, generator=generator)


def diagonal_gaussian_proposal(model) -> Callable[[torch.Tensor], D.Distribution]:
    """The encoder as proposal: q(z|x) = N(mu(x), diag(exp(logvar(x))))."""
    def q(x: torch.Tensor, *cond) -> D.Distribution:
        mu, logvar = model.encode(x, *cond)
        return D.Independent(D.Normal(mu, torch.exp(0.5 * logvar)), 1)
    return q


def _draw(q: D.Distribution, k: int, generator: torch.Generator | None) -> torch.Tensor:
    """k samples (k, B, D) of a Gaussian proposal, from ``generator`` so results are reproducible."""
    base = q.base_dist if isinstance(q, D.Independent) else q
    if isinstance(base, D.Normal):
        eps = torch.randn((k, *base.loc.shape), generator=generator, device=base.loc.device,
                          dtype=base.loc.dtype)
        return base.loc + base.scale * eps
    if isinstance(q, D.MultivariateNormal):
        eps = torch.randn((k, *q.loc.shape), generator=generator, device=q.loc.device, dtype=q.loc.dtype)
        return q.loc + (q.scale_tril @ eps.unsqueeze(-1)).squeeze(-1)
    # Any other proposal: sample it under a forked RNG seeded from the generator.
    seed = int(torch.randint(0, 2**62, (1,), generator=generator)) if generator is not None else None
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        return q.sample((k,))


def _check_batch(x: torch.Tensor, model) -> None:
    shape = getattr(model, "input_shape", None)
    if shape is not None:
        from .models.networks import check_input
        check_input(x, shape)
    elif not torch.is_tensor(x) or x.dim() < 2:
        raise ValueError(f"expected a batch of inputs (N, ...), got {getattr(x, 'shape', type(x))}")


@torch.no_grad()
def log_likelihood(model, x: torch.Tensor, k: int = 1000, batch_size: int = 100, chunk: int = 100,
                   proposal: Callable[[torch.Tensor], D.Distribution] | None = None,
                   seed: int = 0, y: torch.Tensor | None = None) -> torch.Tensor:
    """Importance-sampled estimate of log p(x) for each example, in nats; shape (N,).

        log p(x) ~= log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x),   z_k ~ q(z|x)      (Burda et al. 2015)

    The estimate is a stochastic lower bound in expectation (Jensen) that tightens as K grows and is exact
    for any K when q is the true posterior. Examples go through in batches of ``batch_size`` and the K
    samples in chunks of ``chunk``; the log-sum-exp over k is accumulated chunk by chunk (logaddexp), so
    the large tensors are O(batch_size * chunk * pixels) whatever K. The noise of one example batch is
    drawn at once, (K, batch_size, latent_dim), which is small, so the result does not depend on ``chunk``.

    ``proposal(x)`` returns a torch Distribution over z with batch shape (B,) (default: the model's
    encoder, a diagonal Gaussian); ``seed`` fixes the samples. ``y``: labels for a conditional VAE, which
    then gives log p(x|y).
    """
    if k < 1 or batch_size < 1 or chunk < 1:
        raise ValueError(f"k, batch_size and chunk must be >= 1, got {k}, {batch_size}, {chunk}")
    _check_batch(x, model)
    if y is not None and y.shape[0] != x.shape[0]:
        raise ValueError(f"x and y must have the same length, got {x.shape[0]} and {y.shape[0]}")
    q_of = proposal or diagonal_gaussian_proposal(model)
    generator = torch.Generator(device=x.device).manual_seed(seed)
    ys = y.split(batch_size) if y is not None else [None] * math.ceil(x.shape[0] / batch_size)
    out = []
    with _eval_mode(model):
        for xb, yb in zip(x.split(batch_size), ys):
            b = xb.shape[0]
            q = q_of(xb) if yb is None else q_of(xb, yb)
            z_all = _draw(q, k, generator)                           # (K, B, D)
            acc = torch.full((b,), -math.inf, device=xb.device, dtype=z_all.dtype)
            for z in z_all.split(chunk):                             # z: (c, B, D)
                c = z.shape[0]
                x_rep = xb.unsqueeze(0).expand(c, *xb.shape).reshape(c * b, *xb.shape[1:])
                z_flat = z.reshape(c * b, *z.shape[2:])
                cond = () if yb is None else (yb.repeat(c),)
                log_w = (model.log_px_given_z(x_rep, z_flat, *cond).view(c, b)
                         + model.log_prior(z_flat).view(c, b)
                         - q.log_prob(z))                            # (c, B)
                acc = torch.logaddexp(acc, torch.logsumexp(log_w, dim=0))
            out.append(acc - math.log(k))
    return torch.cat(out)


def bits_per_dim(nll_nats: torch.Tensor | float, dims: int = 784):
    """Negative log-likelihood in nats -> bits per dimension: nll / (dims * ln 2)."""
    return nll_nats / (dims * LOG2)


@dataclass
class LikelihoodResult:
    """Test-set log-likelihood: mean log p(x) in nats, its standard error over examples, bits/dim."""

    log_px: float          # mean over the test set of log p(x) (nats; higher is better)
    stderr: float          # standard error of that mean over examples
    nll: float             # -log_px
    bits_per_dim: float    # nll / (dims ln 2)
    k: int
    n: int

    def __str__(self) -> str:
        return (f"log p(x) = {self.log_px:.2f} ± {self.stderr:.2f} nats "
                f"({self.bits_per_dim:.4f} bits/dim; K={self.k}, n={self.n})")


def test_log_likelihood(model, x: torch.Tensor, k: int = 1000, **kw) -> LikelihoodResult:
    """:func:`log_likelihood` summarized over a test set (pass it the :func:`fixed_binarization` of the test
    images for Bernoulli models)."""
    values = log_likelihood(model, x, k=k, **kw).double()
    n = values.numel()
    mean = float(values.mean())
    stderr = float(values.std(unbiased=True) / math.sqrt(n)) if n > 1 else float("nan")
    dims = int(np.prod(x.shape[1:]))
    return LikelihoodResult(log_px=mean, stderr=stderr, nll=-mean, bits_per_dim=float(bits_per_dim(-mean, dims)),
                            k=k, n=n)


test_log_likelihood.__test__ = False  # not a pytest test despite its name


# ----------------------------------------------------------------------------- the latent code
@dataclass
class ReconstructionError:
    """Per-example reconstruction errors: MSE (mean over pixels) and BCE (sum over pixels, nats)."""

    mse: torch.Tensor
    bce: torch.Tensor


def _reconstruct(model, x: torch.Tensor) -> torch.Tensor:
    if hasattr(model, "reconstruct"):   # VAEs: decoder mean at z = mu
        return model.reconstruct(x)
    return model(x)                     # deterministic autoencoders: decode(encode(x))


@torch.no_grad()
def reconstruction_error(model, x: torch.Tensor, batch_size: int = 500) -> ReconstructionError:
    """Reconstruction error of every example; BCE treats x as Bernoulli means (x in [0, 1])."""
    _check_batch(x, model)
    mse, bce = [], []
    with _eval_mode(model):
        for xb in x.split(batch_size):
            x_hat = _reconstruct(model, xb).reshape(xb.shape).clamp(1e-6, 1 - 1e-6)
            mse.append((x_hat - xb).pow(2).flatten(1).mean(1))
            bce.append(torch.nn.functional.binary_cross_entropy(x_hat, xb, reduction="none").flatten(1).sum(1))
    return ReconstructionError(mse=torch.cat(mse), bce=torch.cat(bce))


def _gaussian_codes(model, x: torch.Tensor, batch_size: int):
    codes = encode_dataset(model, x, batch_size=batch_size)
    if codes.logvar is None:
        raise TypeError(f"{type(model).__name__}.encode returns a deterministic code; a VAE "
                        "(encode -> (mu, logvar)) is needed here")
    return codes


def kl_per_dimension(model, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Mean over the data of KL(q(z_d|x) || N(0, 1)) for each latent dimension d; shape (latent_dim,).

    Per dimension KL = (mu^2 + s^2 - 1 - log s^2) / 2 (Kingma & Welling 2013, appendix B); the sum over d
    is the KL term of the ELBO, so a dimension with KL ~ 0 has collapsed onto the prior."""
    codes = _gaussian_codes(model, x, batch_size)
    return kl_normal_per_dim(codes.mean, codes.logvar).mean(0)


@dataclass
class ActiveUnits:
    """Activity A_d = Cov_x(E_q[z_d]) of each latent dimension, and which exceed the threshold."""

    activity: torch.Tensor  # (latent_dim,)
    active: torch.Tensor    # bool (latent_dim,)
    threshold: float

    @property
    def count(self) -> int:
        return int(self.active.sum())


def active_units(model, x: torch.Tensor, threshold: float = 0.01, batch_size: int = 500) -> ActiveUnits:
    """Active units (Burda et al. 2015): dimension d is active if Var_x(E_q[z_d | x]) > threshold.

    A dimension whose posterior mean does not move with x carries no information about x.
    Deterministic autoencoders are accepted too (the code takes the place of the mean).
    """
    means = encode_dataset(model, x, batch_size=batch_size).mean
    if means.shape[0] < 2:
        raise ValueError("active units need at least 2 examples")
    activity = means.var(dim=0, unbiased=True)
    return ActiveUnits(activity=activity, active=activity > threshold, threshold=threshold)


@dataclass
class CollapseReport:
    """Posterior collapse at a glance: KL and activity of every latent dimension."""

    kl_per_dim: torch.Tensor
    activity: torch.Tensor
    active: torch.Tensor
    threshold: float
    n_active: int = field(init=False)
    fraction_collapsed: float = field(init=False)

    def __post_init__(self):
        self.n_active = int(self.active.sum())
        self.fraction_collapsed = 1.0 - self.n_active / self.active.numel()

    def table(self) -> list[dict]:
        """One row per dimension (for a pandas DataFrame or a printed table)."""
        return [{"dim": d, "kl": float(k), "activity": float(a), "active": bool(on)}
                for d, (k, a, on) in enumerate(zip(self.kl_per_dim, self.activity, self.active))]

    def __str__(self) -> str:
        return (f"{self.n_active}/{self.active.numel()} active units (threshold {self.threshold}); "
                f"{100 * self.fraction_collapsed:.0f}% collapsed; total KL {float(self.kl_per_dim.sum()):.2f} nats")


def posterior_collapse_report(model, x: torch.Tensor, threshold: float = 0.01,
                              batch_size: int = 500) -> CollapseReport:
    """KL per dimension, active units and the fraction of collapsed dimensions."""
    codes = _gaussian_codes(model, x, batch_size)
    activity = codes.mean.var(dim=0, unbiased=True)
    return CollapseReport(kl_per_dim=kl_normal_per_dim(codes.mean, codes.logvar).mean(0),
                          activity=activity, active=activity > threshold, threshold=threshold)


# ----------------------------------------------------------------------------- sample quality
@torch.no_grad()
def classifier_accuracy(clf, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Fraction of ``x`` that ``clf`` labels as ``y``."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must have the same length, got {x.shape[0]} and {y.shape[0]}")
    correct = 0
    with _eval_mode(clf):
        for xb, yb in zip(x.split(batch_size), y.split(batch_size)):
            correct += int((clf(xb).argmax(1) == yb).sum())
    return correct / max(1, x.shape[0])


@torch.no_grad()
def fid_features(clf, x: torch.Tensor, batch_size: int = 1000) -> np.ndarray:
    """Penultimate-layer features ``clf.features(x)`` of every image, as float64 (N, F)."""
    with _eval_mode(clf):
        feats = [clf.features(xb) for xb in x.split(batch_size)]
    return torch.cat(feats).double().cpu().numpy()


def frechet_distance_gaussians(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Frechet (2-Wasserstein) distance^2 between N(mu1, sigma1) and N(mu2, sigma2):

        d^2 = ||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))     (Dowson & Landau 1982)

    Numerics as in the reference FID code (Heusel et al. 2017; pytorch-fid): if the matrix square root is
    not finite (singular product), retry with eps added to both diagonals; an imaginary part that is only
    round-off is dropped, a large one is an error.
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
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"imaginary component {np.max(np.abs(covmean.imag)):.3g} in the matrix square root")
        covmean = covmean.real
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))
    # A distance cannot be negative: a tiny negative value is the round-off of two (nearly) equal sets.
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


@torch.no_grad()
def sample_batches(model, n: int, batch_size: int = 500, seed: int = 0) -> torch.Tensor:
    """``n`` samples of ``model.sample`` drawn in batches from a seeded generator."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    with _eval_mode(model):
        for start in range(0, n, batch_size):
            out.append(model.sample(min(batch_size, n - start), generator=generator))
    return torch.cat(out)


def frechet_classifier_distance(model, clf, x_test: torch.Tensor, y_test: torch.Tensor,
                                n_samples: int | None = None, seed: int = 0) -> SampleQuality:
    """FCD between ``n_samples`` (default: as many as test images) samples of ``model`` and the test
    images, in the penultimate-layer features of the classifier ``clf``."""
    n = x_test.shape[0] if n_samples is None else n_samples
    samples = sample_batches(model, n, seed=seed)
    fcd = frechet_distance(fid_features(clf, samples), fid_features(clf, x_test))
    return SampleQuality(fcd=fcd, classifier_accuracy=classifier_accuracy(clf, x_test, y_test), n_samples=n)


def sample_quality(model, dataset: str = "mnist", run=None, n_samples: int | None = None,
                   test_limit: int | None = None, seed: int = 0) -> SampleQuality:
    """FCD of ``model``'s samples against the test set of ``dataset``, with the project's classifier of
    that data set (trained or loaded through :func:`classifier.train_classifier` with the run's budget)."""
    from .classifier import train_classifier
    from .data import load
    clf, _ = train_classifier(dataset, run=run)
    x_test, y_test = load(dataset, "test", limit=test_limit)
    device = next(clf.parameters()).device
    return frechet_classifier_distance(model, clf, x_test.to(device), y_test.to(device), n_samples, seed)


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

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


# ----------------------------------------------------------------------------- scores from a VAE
# Convention: every score is "higher = more anomalous", so it goes straight into :func:`auroc`.

def _check_images(x: torch.Tensor, model=None) -> None:
    shape = getattr(model, "input_shape", None) if model is not None else None
    if shape is not None:
        from ..models.networks import check_input
        check_input(x, shape)
    elif not torch.is_tensor(x) or x.dim() < 2 or not x.is_floating_point():
        raise ValueError(f"expected a float batch of images (N, 1, 28, 28), got {getattr(x, 'shape', type(x))}")


@torch.no_grad()
def vae_scores(model, x: torch.Tensor, k: int = 8, batch_size: int = 500, seed: int = 0,
               variance: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """All per-example anomaly scores of a Gaussian-encoder VAE from one pass over ``x``, each ``(N,)``.

    With z_1..z_K ~ q(z|x) (drawn from a generator seeded with ``seed``) and
    log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x):

    ``neg_elbo``         -(1/K sum_k log p(x|z_k) - KL(q(z|x) || p(z)))  (analytic KL, Kingma & Welling
                         2013, estimator B with K samples)
    ``nll``              -log (1/K sum_k w_k): the importance-sampled estimate of -log p(x) (Burda et
                         al. 2015); with the same draws it is never above ``neg_elbo``'s MC version
    ``reconstruction``   squared error ||x - E[x|z=mu(x)]||^2 of the decoder mean at the posterior mean
    ``kl``               KL(q(z|x) || p(z)), the "latent novelty" of x alone
    ``mu``               the posterior means (N, latent_dim), kept for latent-space scores and pictures
    ``weighted_reconstruction``  only with a per-pixel ``variance`` (:func:`residual_variance`): the same
                         residual as ``reconstruction``, every pixel divided by its variance
                         (:func:`squared_error`), from the same decoder pass
    """
    if k < 1 or batch_size < 1:
        raise ValueError(f"k and batch_size must be >= 1, got {k} and {batch_size}")
    _check_images(x, model)
    gen = torch.Generator(device=x.device).manual_seed(seed)
    names = ("neg_elbo", "nll", "reconstruction", "kl", "mu", "logvar") + (
        () if variance is None else ("weighted_reconstruction",))
    out: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    with _eval_mode(model):
        for xb in x.split(batch_size):
            b = xb.shape[0]
            mu, logvar = model.encode(xb)
            std = torch.exp(0.5 * logvar)
            z = mu + std * torch.randn((k, *mu.shape), generator=gen, device=mu.device, dtype=mu.dtype)
            log_px = model.log_px_given_z(xb, z)                                  # (K, B)
            log_q = D.Independent(D.Normal(mu, std), 1).log_prob(z)               # (K, B)
            log_w = log_px + model.log_prior(z) - log_q
            kl = kl_normal_per_dim(mu, logvar).sum(-1)
            out["neg_elbo"].append(-(log_px.mean(0) - kl))
            out["nll"].append(-(torch.logsumexp(log_w, 0) - math.log(k)))
            residual = xb - model.decode_mean(mu)
            out["reconstruction"].append(squared_error(residual))
            if variance is not None:
                out["weighted_reconstruction"].append(squared_error(residual, variance))
            out["kl"].append(kl)
            out["mu"].append(mu)
            out["logvar"].append(logvar)
    return {n: torch.cat(v) for n, v in out.items()}


def squared_error(residuals: torch.Tensor, variance: torch.Tensor | None = None) -> torch.Tensor:
    """sum_p r_p^2 per example of reconstruction residuals r = x - E[x|z=mu] ``(N, ...)``, ``(N,)``; with a
    per-pixel ``variance`` (the shape of one image, :func:`residual_variance`) sum_p r_p^2 / v_p, which is,
    up to a constant, -2 log N(x; E[x|z=mu], diag v): the Gaussian decoder with its fixed sigma^2 replaced
    by the variance the residuals of normal images actually have, pixel by pixel."""
    sq = residuals.pow(2)
    if variance is not None:
        if variance.shape != residuals.shape[1:]:
            raise ValueError(f"variance must have the shape of one image, {tuple(residuals.shape[1:])}, got "
                             f"{tuple(variance.shape)}")
        sq = sq / variance
    return sq.reshape(len(residuals), -1).sum(1)


def residual_variance(residuals: torch.Tensor, floor: float) -> torch.Tensor:
    """Per-pixel variance of reconstruction residuals r = x - E[x|z=mu] of normal reference images
    ``(M, ...)``: v = mean_m r_m^2 + floor, shape ``residuals.shape[1:]``. The residual's mean is not
    subtracted (a pixel the decoder gets wrong the same way every time is still uncertain), and the floor
    (the decoder's own sigma^2) keeps pixels that every normal image reconstructs exactly from
    dominating the weighted error."""
    if residuals.dim() < 2 or len(residuals) < 2:
        raise ValueError(f"expected residuals of at least 2 reference images, shape (M, ...), got "
                         f"{tuple(residuals.shape)}")
    if not floor > 0:
        raise ValueError(f"the variance floor must be positive, got {floor}")
    return residuals.pow(2).mean(0) + floor


def kl_score(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) per example, ``(N,)``: how far the code of x sits from the
    prior. A latent-space novelty score that ignores the decoder."""
    if mu.shape != logvar.shape or mu.dim() != 2:
        raise ValueError(f"expected mu and logvar of the same shape (N, latent_dim), got {tuple(mu.shape)} "
                         f"and {tuple(logvar.shape)}")
    return kl_normal_per_dim(mu, logvar).sum(-1)


@torch.no_grad()
def aggregate_posterior_nll(z: torch.Tensor, mu_train: torch.Tensor, logvar_train: torch.Tensor,
                            batch_size: int = 256, bandwidth: float = 0.0) -> torch.Tensor:
    """-log q_agg(z) for codes z (N, D), where q_agg(z) = 1/M sum_m N(z; mu_m, diag exp(logvar_m)) is the
    aggregate posterior of the M training examples (Makhzani et al. 2015; Hoffman & Johnson 2016): the
    density of the code under the distribution the encoder actually uses, not under the prior.

    With ``bandwidth`` h > 0 every component is widened to N(z; mu_m, diag(exp(logvar_m) + h^2)): the
    aggregate posterior convolved with N(0, h^2 I), a Parzen-window smoothing of the mixture. The posterior
    variances of a trained encoder are small, so the exact mixture is a spiky density that punishes any
    code falling between training codes; h trades that variance for bias like a KDE's bandwidth."""
    if z.dim() != 2 or mu_train.dim() != 2 or z.shape[1] != mu_train.shape[1] \
            or mu_train.shape != logvar_train.shape:
        raise ValueError(f"expected z (N, D) and training mu, logvar (M, D), got {tuple(z.shape)}, "
                         f"{tuple(mu_train.shape)}, {tuple(logvar_train.shape)}")
    if not bandwidth >= 0:
        raise ValueError(f"bandwidth must be >= 0, got {bandwidth}")
    if bandwidth > 0:
        logvar_train = torch.log(logvar_train.exp() + bandwidth ** 2)
    m = mu_train.shape[0]
    inv_var = torch.exp(-logvar_train)                                   # (M, D)
    # log N(z; mu_m, var_m) = -1/2 [sum_d (z_d - mu_md)^2 / var_md + sum_d logvar_md + D log 2 pi]
    const = -0.5 * (logvar_train.sum(-1) + z.shape[1] * math.log(2 * math.pi))   # (M,)
    out = []
    for zb in z.split(batch_size):
        # (z - mu)^2 / var expanded as z^2/var - 2 z mu/var + mu^2/var: matrix products, no (B, M, D) tensor
        quad = (zb.pow(2) @ inv_var.T - 2 * zb @ (mu_train * inv_var).T
                + (mu_train.pow(2) * inv_var).sum(-1))
        out.append(-(torch.logsumexp(const - 0.5 * quad, dim=1) - math.log(m)))
    return torch.cat(out)


def complexity_bits(x: torch.Tensor) -> torch.Tensor:
    """L(x): the length in bits of each image losslessly compressed as an 8-bit PNG, ``(N,)``.

    Serra et al. (2020) use a generic lossless compressor as the complexity estimate; PNG is one of
    theirs. A simple (mostly empty) image compresses to few bits, a cluttered one to many."""
    import io

    from PIL import Image
    if not torch.is_tensor(x) or x.dim() != 4 or x.shape[1] != 1:
        raise ValueError(f"expected grey-scale images (N, 1, H, W) in [0, 1], got {getattr(x, 'shape', type(x))}")
    pixels = (x[:, 0].detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    bits = []
    for image in pixels:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG", optimize=True)
        bits.append(8 * len(buffer.getvalue()))
    return torch.tensor(bits, dtype=torch.float64)


def discretized_nll_bits(nll_nats: torch.Tensor, dims: int, levels: int = 256) -> torch.Tensor:
    """-log2 P(x) of the 8-bit image from a density -log p(x) in nats on [0, 1]^dims: each pixel's bin has
    width 1/levels, so P(x) ~= p(x) / levels^dims and -log2 P = -log p / ln 2 + dims log2(levels)."""
    return nll_nats.double() / LOG2 + dims * math.log2(levels)


def likelihood_ratio_score(log_p_model: torch.Tensor, log_p_background: torch.Tensor) -> torch.Tensor:
    """Anomaly score -(log p_model(x) - log p_background(x)) (Ren et al. 2019).

    The background model explains what every image has in common (here: generic image statistics,
    e.g. how compressible an image is), so the ratio keeps only what is specific to the normal class.
    High when the background explains x better than the class model does."""
    if log_p_model.shape != log_p_background.shape:
        raise ValueError(f"expected two log-likelihoods of the same shape, got {tuple(log_p_model.shape)} "
                         f"and {tuple(log_p_background.shape)}")
    return -(log_p_model.double() - log_p_background.double())


def complexity_corrected_score(nll_bits: torch.Tensor, complexity: torch.Tensor) -> torch.Tensor:
    """S(x) = -log2 P(x) - L(x) (Serra et al. 2020, eq. 2): the model's code length minus the generic
    compressor's. It is the likelihood ratio of :func:`likelihood_ratio_score` with the compressor as the
    background model, log2 p_0(x) = -L(x)."""
    return likelihood_ratio_score(-nll_bits, -complexity)


def standardized_sum(scores, reference) -> np.ndarray:
    """Sum of J anomaly scores, each standardized by its mean and standard deviation on reference images:

        s(x) = sum_j (s_j(x) - m_j) / sd_j,   m_j, sd_j = mean and standard deviation (ddof=0) of s_j over
                                               the reference images (normal training images: no labels).

    ``scores`` and ``reference`` are sequences of J arrays, ``scores[j]`` (N,) of the images to score and
    ``reference[j]`` (M_j,) of the reference images. Standardizing puts scores measured in different units
    (nats of a latent density, squared pixel errors) on one scale, so that each counts by how unusual it
    is for a normal image, not by its units. With one score the sum is an increasing affine map of it (same
    ranking, same AUROC)."""
    scores, reference = list(scores), list(reference)
    if not scores or len(scores) != len(reference):
        raise ValueError(f"expected as many reference arrays as scores (at least one), got {len(scores)} and "
                         f"{len(reference)}")
    arrays = [np.asarray(s.detach().cpu() if torch.is_tensor(s) else s, dtype=np.float64).ravel() for s in scores]
    if len({a.shape for a in arrays}) != 1:
        raise ValueError(f"the scores must have the same length, got {[a.shape[0] for a in arrays]}")
    total = np.zeros_like(arrays[0])
    for j, (a, ref) in enumerate(zip(arrays, reference)):
        ref = np.asarray(ref.detach().cpu() if torch.is_tensor(ref) else ref, dtype=np.float64).ravel()
        if ref.size < 2:
            raise ValueError(f"reference {j} needs at least two values to standardize, got {ref.size}")
        sd = ref.std()
        if not sd > 0:
            raise ValueError(f"reference {j} has zero spread: cannot standardize by it")
        total += (a - ref.mean()) / sd
    return total

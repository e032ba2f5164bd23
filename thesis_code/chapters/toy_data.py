"""Small synthetic data sets of chapter 1, and the exact quantities that go with them.

    separable_blobs     two linearly separable Gaussian clouds with a guaranteed margin (perceptron)
    noisy_circle        points near the unit circle: a 1-D manifold in 2-D (denoising autoencoder)
    spiral              an Archimedean spiral, a curved 1-D manifold in 2-D
    gaussian_mixture_2d samples, labels and exact responsibilities of a 2-D Gaussian mixture
    optimal_denoiser    E[x | x_tilde] under Gaussian corruption of an empirical data set, and
    smoothed_score      the score of the corrupted density: Tweedie's identity links the two
"""
from __future__ import annotations

import math

import numpy as np
import torch


def separable_blobs(n: int, margin: float = 0.5, dim: int = 2, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n points with labels -1/+1, separated by the hyperplane w_true . x = 0 with a gap of at least
    ``margin`` on each side (points that fall inside the gap are pushed out). Returns (x, y, w_true)."""
    rng = np.random.default_rng(seed)
    w_true = rng.normal(size=dim)
    w_true /= np.linalg.norm(w_true)
    y = np.where(rng.random(n) < 0.5, -1, 1)
    x = rng.normal(size=(n, dim)) + 1.5 * y[:, None] * w_true
    proj = x @ w_true
    # move every point so that y * (w_true . x) >= margin
    shift = np.maximum(margin - y * proj, 0.0)
    x = x + (y * shift)[:, None] * w_true
    return x, y, w_true


def noisy_circle(n: int, noise: float = 0.05, radius: float = 1.0, seed: int = 0) -> np.ndarray:
    """n points at uniform angles on a circle of ``radius``, radially perturbed by N(0, noise^2)."""
    rng = np.random.default_rng(seed)
    theta = rng.uniform(0, 2 * math.pi, n)
    r = radius + noise * rng.normal(size=n)
    return np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1).astype(np.float32)


def spiral(n: int, noise: float = 0.02, turns: float = 1.5, seed: int = 0) -> np.ndarray:
    """n points along r = theta / (2 pi turns), theta in [0.5, 2 pi turns], with isotropic noise."""
    rng = np.random.default_rng(seed)
    theta = rng.uniform(0.5, 2 * math.pi * turns, n)
    r = theta / (2 * math.pi * turns)
    x = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)
    return (x + noise * rng.normal(size=x.shape)).astype(np.float32)


def distance_to_circle(x: np.ndarray, radius: float = 1.0) -> np.ndarray:
    """Euclidean distance of each 2-D point to the circle of ``radius`` centred at the origin."""
    return np.abs(np.linalg.norm(np.asarray(x, float), axis=1) - radius)


# ----------------------------------------------------------------------------- Gaussian mixture

def gaussian_mixture_2d(n: int, weights, means, stds, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Sample n points from sum_k pi_k N(mu_k, s_k^2 I); returns (x (n, 2), component labels (n,))."""
    rng = np.random.default_rng(seed)
    weights, means, stds = np.asarray(weights, float), np.asarray(means, float), np.asarray(stds, float)
    k = rng.choice(len(weights), size=n, p=weights / weights.sum())
    return means[k] + stds[k][:, None] * rng.normal(size=(n, means.shape[1])), k


def mixture_responsibilities(x: np.ndarray, weights, means, stds) -> np.ndarray:
    """The exact posterior p(k | x) = pi_k N(x; mu_k, s_k^2 I) / sum_j pi_j N(x; mu_j, s_j^2 I), (n, K).
    Tractable because the latent variable is discrete with few values: the sum has K terms."""
    x = np.asarray(x, float)
    weights, means, stds = np.asarray(weights, float), np.asarray(means, float), np.asarray(stds, float)
    d = x.shape[1]
    sq = np.sum((x[:, None, :] - means[None]) ** 2, axis=2)
    log_joint = np.log(weights) - d * np.log(stds) - 0.5 * d * math.log(2 * math.pi) - 0.5 * sq / stds ** 2
    log_joint -= log_joint.max(axis=1, keepdims=True)
    p = np.exp(log_joint)
    return p / p.sum(axis=1, keepdims=True)


# ----------------------------------------------------------------------------- denoising and the score

def optimal_denoiser(x_tilde: torch.Tensor, data: torch.Tensor, sigma: float) -> torch.Tensor:
    """The best possible denoiser in squared error for x_tilde = x + N(0, sigma^2 I), x drawn uniformly
    from ``data``: r*(x_tilde) = E[x | x_tilde] = sum_i w_i x_i, w = softmax(-|x_tilde - x_i|^2 / 2 sigma^2)."""
    logits = -torch.cdist(x_tilde, data).pow(2) / (2 * sigma ** 2)
    return torch.softmax(logits, dim=1) @ data


def smoothed_log_density(x: torch.Tensor, data: torch.Tensor, sigma: float) -> torch.Tensor:
    """log p_sigma(x) of the data convolved with N(0, sigma^2 I) (a Gaussian kernel density), (B,)."""
    d = data.shape[1]
    log_k = -torch.cdist(x, data).pow(2) / (2 * sigma ** 2) - 0.5 * d * math.log(2 * math.pi * sigma ** 2)
    return torch.logsumexp(log_k, dim=1) - math.log(len(data))


def smoothed_score(x: torch.Tensor, data: torch.Tensor, sigma: float) -> torch.Tensor:
    """grad_x log p_sigma(x) by automatic differentiation. By Tweedie's formula (Efron 2011),
    r*(x) - x = sigma^2 * grad log p_sigma(x): the optimal denoiser's displacement is the scaled score,
    which is what a denoising autoencoder estimates (Vincent 2011; Alain & Bengio 2014)."""
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(smoothed_log_density(x, data, sigma).sum(), x)
    return grad

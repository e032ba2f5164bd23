"""Section 1.5 of the thesis: the Kullback-Leibler divergence, computed three ways.

    kl_gaussian             closed form between two multivariate Gaussians (full covariances)
    kl_monte_carlo          the estimator 1/S sum log p(x_s) / q(x_s), x_s ~ p
    kl_quadrature           numerical integration on a 1-D grid
    Mixture1D               a 1-D Gaussian mixture (the bimodal target of the fitting experiment)
    fit_gaussian            the Gaussian q minimizing KL(q || p) (mode seeking) or KL(p || q) (mass covering)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from scipy import optimize, stats

from ..objectives import kl_normal_full


def kl_discrete(p, q) -> float:
    """KL(p || q) = sum_i p_i log(p_i / q_i) for probability vectors (0 log 0 = 0; inf if q_i = 0 < p_i)."""
    p, q = np.asarray(p, float), np.asarray(q, float)
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same shape, got {p.shape} and {q.shape}")
    mask = p > 0
    if np.any(q[mask] == 0):
        return math.inf
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])))


def kl_gaussian(mu_p, cov_p, mu_q, cov_q) -> float:
    """KL(N(mu_p, S_p) || N(mu_q, S_q))
        = 1/2 [ tr(S_q^{-1} S_p) + (mu_q - mu_p)^T S_q^{-1} (mu_q - mu_p) - k + log det S_q - log det S_p ],
    for NumPy inputs (scalars count as 1-D Gaussians); computed by :func:`objectives.kl_normal_full`."""
    mu_p, mu_q = (torch.as_tensor(np.atleast_1d(np.asarray(m, float))) for m in (mu_p, mu_q))
    cov_p, cov_q = (torch.as_tensor(np.atleast_2d(np.asarray(c, float))) for c in (cov_p, cov_q))
    return float(kl_normal_full(mu_p, cov_p, mu_q, cov_q))


def kl_monte_carlo(samples_p: np.ndarray, log_p: Callable, log_q: Callable) -> tuple[float, float]:
    """Monte Carlo estimate of KL(p || q) = E_p[log p(x) - log q(x)] from samples of p, and its
    standard error."""
    terms = np.asarray(log_p(samples_p), float) - np.asarray(log_q(samples_p), float)
    return float(terms.mean()), float(terms.std(ddof=1) / math.sqrt(len(terms)))


def kl_quadrature(log_p: Callable, log_q: Callable, grid: np.ndarray) -> float:
    """KL(p || q) = int p (log p - log q) dx by the trapezoidal rule on a fine 1-D grid."""
    lp, lq = log_p(grid), log_q(grid)
    return float(np.trapezoid(np.exp(lp) * (lp - lq), grid))


@dataclass
class Mixture1D:
    """p(x) = sum_k w_k N(x; m_k, s_k^2)."""
    weights: tuple[float, ...]
    means: tuple[float, ...]
    stds: tuple[float, ...]

    def log_prob(self, x) -> np.ndarray:
        x = np.asarray(x, float)[..., None]
        comp = np.log(np.asarray(self.weights)) + stats.norm.logpdf(x, self.means, self.stds)
        return np.logaddexp.reduce(comp, axis=-1)

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        w = np.asarray(self.weights) / np.sum(self.weights)
        k = rng.choice(len(w), size=n, p=w)
        return np.asarray(self.means)[k] + np.asarray(self.stds)[k] * rng.normal(size=n)

    @property
    def mean(self) -> float:
        w = np.asarray(self.weights) / np.sum(self.weights)
        return float(w @ np.asarray(self.means))

    @property
    def variance(self) -> float:
        """Law of total variance: E[s_k^2] + Var[m_k]."""
        w = np.asarray(self.weights) / np.sum(self.weights)
        m, s = np.asarray(self.means), np.asarray(self.stds)
        return float(w @ (s ** 2 + m ** 2) - (w @ m) ** 2)


@dataclass
class GaussianFit:
    mu: float
    sigma: float
    kl: float        # the minimized divergence
    direction: str   # "reverse" = KL(q || p), "forward" = KL(p || q)


def fit_gaussian(target: Mixture1D, direction: str, grid: np.ndarray | None = None,
                 inits: tuple[float, ...] | None = None) -> GaussianFit:
    """The Gaussian q = N(mu, sigma^2) closest to ``target`` in KL, found numerically (Nelder-Mead on
    (mu, log sigma), divergence by quadrature), best of several starting means.

    reverse: minimize KL(q || p), the direction of variational inference; q avoids regions where p is
             small, so it locks onto one mode (mode seeking).
    forward: minimize KL(p || q), the direction of maximum likelihood; q must cover every region where p
             has mass (mass covering). For a Gaussian q the optimum matches p's mean and variance.
    """
    if direction not in ("reverse", "forward"):
        raise ValueError(f"direction must be 'reverse' or 'forward', got {direction!r}")
    if grid is None:
        lo = min(target.means) - 8 * max(target.stds)
        hi = max(target.means) + 8 * max(target.stds)
        grid = np.linspace(lo, hi, 4001)
    inits = tuple(target.means) + (target.mean,) if inits is None else inits

    def objective(theta):
        mu, log_sigma = theta
        log_q = lambda x: stats.norm.logpdf(x, mu, math.exp(log_sigma))
        if direction == "reverse":
            return kl_quadrature(log_q, target.log_prob, grid)
        return kl_quadrature(target.log_prob, log_q, grid)

    best = None
    for m0 in inits:
        res = optimize.minimize(objective, x0=[m0, math.log(np.mean(target.stds))], method="Nelder-Mead",
                                options={"xatol": 1e-7, "fatol": 1e-10, "maxiter": 4000})
        if best is None or res.fun < best.fun:
            best = res
    return GaussianFit(float(best.x[0]), float(math.exp(best.x[1])), float(best.fun), direction)

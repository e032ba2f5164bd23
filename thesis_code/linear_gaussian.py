"""A linear-Gaussian latent variable model, where every quantity of variational inference is exact.

    p(z) = N(0, I_d),   p(x | z) = N(W z + b, sigma^2 I_D),   W of shape (D, d)

(probabilistic PCA, Tipping & Bishop 1999). Its marginal and posterior are Gaussian in closed form:

    p(x)     = N(b, W W^T + sigma^2 I)
    p(z | x) = N(S W^T (x - b) / sigma^2, S),   S = (I + W^T W / sigma^2)^{-1}.

So the identity  log p(x) = ELBO(q) + KL(q(z|x) || p(z|x))  and the IWAE bounds L_1 <= L_K <= log p(x)
can be checked numerically against exact values, for any Gaussian q. The book uses this model to show
the gap a diagonal q leaves when the true posterior is correlated.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import MultivariateNormal

from . import objectives as obj


class LinearGaussianModel(nn.Module):
    def __init__(self, W: torch.Tensor, b: torch.Tensor | None = None, sigma: float = 1.0):
        super().__init__()
        if W.dim() != 2:
            raise ValueError(f"expected W of shape (data_dim, latent_dim), got {tuple(W.shape)}")
        self.W = nn.Parameter(W.clone())
        self.b = nn.Parameter(torch.zeros(W.shape[0], dtype=W.dtype) if b is None else b.clone())
        self.sigma = float(sigma)
        self.data_dim, self.latent_dim = W.shape

    @classmethod
    def random(cls, data_dim: int, latent_dim: int, sigma: float = 0.5, seed: int = 0,
               dtype: torch.dtype = torch.float64) -> "LinearGaussianModel":
        g = torch.Generator().manual_seed(seed)
        W = torch.randn(data_dim, latent_dim, generator=g, dtype=dtype)
        b = torch.randn(data_dim, generator=g, dtype=dtype)
        return cls(W, b, sigma)

    def _check_x(self, x: torch.Tensor) -> None:
        if x.dim() != 2 or x.shape[1] != self.data_dim:
            raise ValueError(f"expected x of shape (B, {self.data_dim}), got {tuple(x.shape)}")

    # ------------------------------------------------------------------ the model
    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """log N(z; 0, I), ``(..., B)``."""
        return obj.log_normal(z, 0.0, 0.0, event_dims=1)

    def log_px_given_z(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log N(x; W z + b, sigma^2 I); z may have leading sample dims ``(..., B, d)`` -> ``(..., B)``."""
        self._check_x(x)
        mean = z @ self.W.T + self.b
        return obj.log_normal(x, mean, 2.0 * math.log(self.sigma), event_dims=1)

    def marginal(self) -> MultivariateNormal:
        cov = self.W @ self.W.T + self.sigma ** 2 * torch.eye(self.data_dim, dtype=self.W.dtype)
        return MultivariateNormal(self.b, covariance_matrix=cov)

    def log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x), ``(B,)``."""
        self._check_x(x)
        return self.marginal().log_prob(x)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact p(z | x) = N(mean, cov): mean ``(B, d)``, cov ``(d, d)`` (the same for every x)."""
        self._check_x(x)
        precision = torch.eye(self.latent_dim, dtype=self.W.dtype) + self.W.T @ self.W / self.sigma ** 2
        cov = torch.linalg.inv(precision)
        mean = (x - self.b) @ self.W @ cov / self.sigma ** 2   # cov is symmetric
        return mean, cov

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` draws (x, z) from the joint."""
        z = torch.randn(n, self.latent_dim, generator=generator, dtype=self.W.dtype)
        eps = torch.randn(n, self.data_dim, generator=generator, dtype=self.W.dtype)
        return z @ self.W.T + self.b + self.sigma * eps, z

    # ------------------------------------------------------------------ variational quantities
    def best_diagonal_q(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The diagonal Gaussian q minimizing KL(q || p(z|x)): the posterior mean and variances
        1 / Lambda_ii, where Lambda is the posterior precision (mean-field underestimates variance)."""
        mean, cov = self.posterior(x)
        precision = torch.linalg.inv(cov)
        logvar = -torch.log(torch.diagonal(precision)).expand_as(mean)
        return mean, logvar

    def kl_to_posterior(self, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """Exact KL(q(z|x) || p(z|x)) for a diagonal q = N(mu, diag(exp(logvar))), ``(B,)``."""
        mean, cov = self.posterior(x)
        q = MultivariateNormal(mu, covariance_matrix=torch.diag_embed(logvar.exp()))
        p = MultivariateNormal(mean, covariance_matrix=cov.expand(len(x), -1, -1))
        return torch.distributions.kl_divergence(q, p)

    def elbo_exact(self, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """The ELBO of a diagonal q in closed form, ``(B,)``:

        E_q log p(x|z) = log N(x; W mu + b, sigma^2 I) - tr(W diag(v) W^T) / (2 sigma^2),
        ELBO = E_q log p(x|z) - KL(q || N(0, I)).
        """
        expected_rec = (self.log_px_given_z(x, mu)
                        - (self.W.pow(2) @ logvar.exp().T).sum(0) / (2 * self.sigma ** 2))
        return expected_rec - obj.kl_normal(mu, logvar)

    def log_weights(self, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, k: int,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """log p(x, z_k) - log q(z_k|x) for k samples z_k ~ q: ``(k, B)``."""
        eps = torch.randn(k, *mu.shape, generator=generator, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * eps
        return (self.log_px_given_z(x, z) + self.log_prior(z)
                - obj.log_normal(z, mu, logvar, event_dims=1))

    def iwae_bound(self, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, k: int,
                   generator: torch.Generator | None = None) -> torch.Tensor:
        """A one-draw estimate of L_K (Burda et al. 2015) per example, ``(B,)``."""
        return obj.iwae_bound(self.log_weights(x, mu, logvar, k, generator))


class DiagonalGaussianEncoder(nn.Module):
    """q(z | x) = N(A x + c, diag(exp(logvar))): a linear "encoder" with a learned, x-independent
    diagonal variance, the natural amortized family for the linear-Gaussian model."""

    def __init__(self, data_dim: int, latent_dim: int, dtype: torch.dtype = torch.float64):
        super().__init__()
        self.mean = nn.Linear(data_dim, latent_dim, dtype=dtype)
        self.logvar = nn.Parameter(torch.zeros(latent_dim, dtype=dtype))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu = self.mean(x)
        return mu, self.logvar.expand_as(mu)

    forward = encode

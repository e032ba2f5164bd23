"""The variational autoencoder family: VAE, beta-VAE, IWAE and the conditional VAE.

Generative model p(z) = N(0, I), p(x|z) one of :mod:`thesis_code.likelihoods` (Bernoulli, Gaussian with
fixed or learned variance, discretized logistic over 8-bit pixels) with parameters decoder(z); inference
model q(z|x) = N(mu(x), diag(exp(logvar(x)))) (Kingma & Welling 2013). Training maximizes the ELBO

    log p(x) >= E_q[log p(x|z)] - KL(q(z|x) || p(z)),

estimated with the reparameterization z = mu + sigma * eps, eps ~ N(0, I). The KL term is computed in
closed form (estimator B, eq. 7) or by sampling (estimator A, eq. 6), chosen by ``VAEConfig.estimator``.

Latent tensors may carry leading sample dimensions: ``decode``, ``log_px_given_z`` and ``log_prior``
accept z of shape ``(..., B, latent_dim)``, which the IWAE bound and importance-sampled likelihoods use.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from .. import likelihoods
from .. import objectives as obj
from .networks import IMAGE_SHAPE, ConvDecoder, ConvEncoder, check_input, flat_dim, mlp


@dataclass(frozen=True)
class VAEConfig:
    """Everything that defines a VAE's architecture and objective (it is part of the cache key)."""

    latent_dim: int = 20
    hidden: tuple[int, ...] = (512, 256)       # MLP widths (the decoder mirrors them)
    arch: Literal["mlp", "conv"] = "mlp"
    channels: int = 32                         # conv width (conv arch only)
    input_shape: tuple[int, ...] = IMAGE_SHAPE
    likelihood: Literal["bernoulli", "gaussian", "logistic"] = "bernoulli"
    learn_variance: bool = False               # gaussian: decoder also outputs a per-pixel log-variance
    sigma: float = 0.1                         # gaussian with fixed variance: the observation noise std
    min_sigma: float = 1e-2                    # gaussian with learned variance: soft floor of the std
    gaussian_mean: Literal["sigmoid", "identity"] = "sigmoid"  # sigmoid keeps image means in [0, 1]
    beta: float = 1.0                          # weight of the KL term in the loss (beta-VAE, Higgins 2017)
    estimator: Literal["analytic", "mc"] = "analytic"  # AEVB estimator B (analytic KL) or A (MC KL)
    n_samples: int = 1                         # L: samples of z per example in the ELBO estimate
    k: int = 5                                 # IWAE: importance samples per example
    n_classes: int = 10                        # conditional VAE: number of labels
    prior: Literal["standard", "vamp"] = "standard"  # N(0, I), or the VampPrior (Tomczak & Welling 2018)
    n_pseudo: int = 500                        # VampPrior: number of pseudo-inputs (mixture components)

    def __post_init__(self):
        if self.arch not in ("mlp", "conv"):
            raise ValueError(f"arch must be 'mlp' or 'conv', got {self.arch!r}")
        if self.arch == "conv" and tuple(self.input_shape)[1:] != (28, 28):
            raise ValueError(f"the conv arch needs (C, 28, 28) inputs, got {self.input_shape}")
        if self.likelihood not in ("bernoulli", "gaussian", "logistic"):
            raise ValueError(f"likelihood must be 'bernoulli', 'gaussian' or 'logistic', got {self.likelihood!r}")
        if self.estimator not in ("analytic", "mc"):
            raise ValueError(f"estimator must be 'analytic' or 'mc', got {self.estimator!r}")
        if self.latent_dim < 1 or self.n_samples < 1 or self.k < 1:
            raise ValueError("latent_dim, n_samples and k must be positive")
        if self.prior not in ("standard", "vamp"):
            raise ValueError(f"prior must be 'standard' or 'vamp', got {self.prior!r}")
        if self.prior == "vamp" and self.estimator == "analytic":
            raise ValueError("the VampPrior has no closed-form KL term: use estimator='mc'")
        if self.n_pseudo < 1:
            raise ValueError(f"n_pseudo must be positive, got {self.n_pseudo}")


def make_likelihood(config: VAEConfig) -> likelihoods.Likelihood:
    """The decoder likelihood a VAEConfig names."""
    if config.likelihood == "gaussian":
        return likelihoods.Gaussian(learn_variance=config.learn_variance, sigma=config.sigma,
                                    min_sigma=config.min_sigma, mean_activation=config.gaussian_mean)
    return likelihoods.make(config.likelihood)


class VAE(nn.Module):
    """Gaussian-encoder VAE with a pluggable decoder likelihood (MLP or convolutional networks)."""

    def __init__(self, config: VAEConfig = VAEConfig()):
        super().__init__()
        self.config = config
        self.input_shape = tuple(config.input_shape)
        self.latent_dim = config.latent_dim
        d_x = flat_dim(self.input_shape)
        self.likelihood = make_likelihood(config)
        # Decoder outputs per pixel: a logit, a mean, or a mean and a (log-)scale.
        self._out_per_pixel = self.likelihood.params_per_channel
        enc_extra, dec_extra = self._condition_dims()
        if config.prior == "vamp" and enc_extra:
            raise ValueError("the VampPrior is implemented for unconditional VAEs only")
        if config.arch == "mlp":
            self.encoder = mlp([d_x + enc_extra, *config.hidden, 2 * config.latent_dim])
            self.decoder = mlp([config.latent_dim + dec_extra, *reversed(config.hidden),
                                self._out_per_pixel * d_x])
        else:
            c = self.input_shape[0]
            self.encoder = ConvEncoder(2 * config.latent_dim, config.channels, in_channels=c + enc_extra)
            self.decoder = ConvDecoder(config.latent_dim + dec_extra, config.channels,
                                       out_channels=self._out_per_pixel * c)
        if config.prior == "vamp":
            # Pseudo-inputs u_k live in pixel space; Tomczak & Welling (2018, sec. 3.2) initialize them
            # near 0.05 and keep them in [0, 1] with a hard tanh.
            self.pseudo_inputs = nn.Parameter(0.05 + 0.01 * torch.randn(config.n_pseudo, *self.input_shape))

    # extra input widths of encoder / decoder; the conditional VAE overrides this
    def _condition_dims(self) -> tuple[int, int]:
        return 0, 0

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # ------------------------------------------------------------------ inference model q(z|x)
    def _encoder_input(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return x.flatten(1) if self.config.arch == "mlp" else x

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x) = N(mu, diag(exp(logvar))): returns ``(mu, logvar)``, each ``(B, latent_dim)``."""
        check_input(x, self.input_shape)
        mu, logvar = self.encoder(self._encoder_input(x, y)).chunk(2, dim=-1)
        return mu, logvar

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor, n: int | None = None
                       ) -> torch.Tensor:
        """z = mu + exp(logvar / 2) * eps, eps ~ N(0, I) (Kingma & Welling 2013, eq. 4 and sec. 2.4).

        With ``n`` the result has a leading sample dimension: ``(n, B, latent_dim)``.
        """
        shape = mu.shape if n is None else (n, *mu.shape)
        eps = torch.randn(shape, dtype=mu.dtype, device=mu.device)
        return mu + torch.exp(0.5 * logvar) * eps

    # ------------------------------------------------------------------ generative model p(x|z) p(z)
    def _decoder_input(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return z

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None):
        """Decoder parameters for z of shape ``(..., B, latent_dim)``.

        Bernoulli: logits ``(..., B, *input_shape)``. Gaussian: ``(mean, logvar)`` of that shape.
        Discretized logistic: ``(mean in [-1, 1], log_scale)``.
        """
        if z.shape[-1] != self.latent_dim:
            raise ValueError(f"expected z of shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        lead = z.shape[:-1]
        h = self._decoder_input(z, y).reshape(-1, self.decoder_in_dim)
        out = self.decoder(h).reshape(*lead, self._out_per_pixel * self.input_shape[0],
                                      *self.input_shape[1:])
        return self.likelihood.params(out, channel_dim=len(lead))

    @property
    def decoder_in_dim(self) -> int:
        return self.latent_dim + self._condition_dims()[1]

    def decode_mean(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """E[x | z]: pixel probabilities (Bernoulli) or means (Gaussian), ``(..., B, *input_shape)``."""
        return self.likelihood.mean(self.decode(z, y))

    def log_px_given_z(self, x: torch.Tensor, z: torch.Tensor, y: torch.Tensor | None = None
                       ) -> torch.Tensor:
        """log p(x|z) summed over pixels: ``(B,)``, or ``(..., B)`` when z has leading sample dims."""
        return self.likelihood.log_prob(x, self.decode(z, y), event_dims=len(self.input_shape))

    def prior_components(self) -> tuple[torch.Tensor, torch.Tensor]:
        """VampPrior components (mu_k, logvar_k) = q(z | u_k) of the K pseudo-inputs, each ``(K, D)``."""
        if self.config.prior != "vamp":
            raise ValueError("prior_components: this model's prior is the standard normal")
        return self.encode(F.hardtanh(self.pseudo_inputs, 0.0, 1.0))

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z), summed over the latent dimension; z of shape ``(..., D)``.

        Standard prior: log N(z; 0, I). VampPrior (Tomczak & Welling 2018, eq. 9):
        p(z) = (1/K) sum_k q(z | u_k), evaluated with the Gaussian quadratic form expanded into two matrix
        products, so the cost is O(N K D) without an (N, K, D) intermediate."""
        if self.config.prior == "standard":
            return obj.log_normal(z, 0.0, 0.0, event_dims=1)
        mu, logvar = self.prior_components()                          # (K, D)
        inv_var = torch.exp(-logvar)
        flat = z.reshape(-1, z.shape[-1])                             # (N, D)
        quad = (flat.pow(2) @ inv_var.T - 2 * flat @ (mu * inv_var).T
                + (mu.pow(2) * inv_var).sum(-1))                      # (N, K): sum_d (z_d - mu_kd)^2 / var_kd
        log_comp = -0.5 * (quad + logvar.sum(-1) + z.shape[-1] * math.log(2 * math.pi))
        out = torch.logsumexp(log_comp, dim=-1) - math.log(mu.shape[0])
        return out.reshape(z.shape[:-1])

    # ------------------------------------------------------------------ the objective
    def elbo_terms(self, x: torch.Tensor, y: torch.Tensor | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-example (E_q log p(x|z), KL(q||p)) estimates, each ``(B,)``; ELBO = first - second."""
        check_input(x, self.input_shape)
        mu, logvar = self.encode(x, y)
        L = self.config.n_samples
        z = self.reparameterize(mu, logvar, n=L)                      # (L, B, D)
        rec = self.log_px_given_z(x, z, y).mean(dim=0)                 # (B,)
        if self.config.estimator == "analytic":                       # estimator B, eq. 7
            kl = obj.kl_normal(mu, logvar)
        else:                                                          # estimator A, eq. 6
            kl = (obj.log_normal(z, mu, logvar, event_dims=1) - self.log_prior(z)).mean(dim=0)
        return rec, kl

    def elbo(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """A stochastic estimate of the ELBO per example, ``(B,)`` (beta is *not* applied here)."""
        rec, kl = self.elbo_terms(x, y)
        return rec - kl

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        """Mean over the batch of -(E_q log p(x|z) - beta KL); metrics: loss, rec (= -E_q log p(x|z)),
        kl, all in nats per example."""
        rec, kl = self.elbo_terms(x, y)
        rec, kl = -rec.mean(), kl.mean()
        loss = rec + self.config.beta * kl
        values = torch.stack([loss, rec, kl]).detach().tolist()   # one device sync for all metrics
        return loss, dict(zip(("loss", "rec", "kl"), values))

    # ------------------------------------------------------------------ using a trained model
    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Decoder mean at z = mu(x), ``(B, *input_shape)``."""
        mu, _ = self.encode(x, y)
        return self.decode_mean(mu, y)

    def _prior_sample(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        on = generator.device if generator is not None else self.device
        z = torch.randn(n, self.latent_dim, generator=generator, device=on)
        if self.config.prior == "vamp":        # pick a pseudo-input uniformly, then z ~ q(z | u_k)
            k = torch.randint(self.config.n_pseudo, (n,), generator=generator, device=on)
            mu, logvar = self.prior_components()
            z = mu[k.to(mu.device)].to(on) + torch.exp(0.5 * logvar[k.to(mu.device)]).to(on) * z
        return z.to(self.device)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decoder means of ``n`` prior samples z ~ N(0, I): ``(n, *input_shape)``."""
        return self.decode_mean(self._prior_sample(n, generator))


class BetaVAE(VAE):
    """beta-VAE (Higgins et al. 2017): the VAE loss with the KL term weighted by ``config.beta`` (> 1
    trades reconstruction for a more factorized code). Same model as VAE; only the default differs."""

    def __init__(self, config: VAEConfig = VAEConfig(beta=4.0)):
        super().__init__(config)


class IWAE(VAE):
    """Importance-weighted autoencoder (Burda et al. 2015): trained on the K-sample bound L_K."""

    def log_weights(self, x: torch.Tensor, k: int, y: torch.Tensor | None = None) -> torch.Tensor:
        """log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x), z_k ~ q(z|x): ``(k, B)``."""
        mu, logvar = self.encode(x, y)
        z = self.reparameterize(mu, logvar, n=k)
        return (self.log_px_given_z(x, z, y) + self.log_prior(z)
                - obj.log_normal(z, mu, logvar, event_dims=1))

    def iwae_bound(self, x: torch.Tensor, k: int | None = None) -> torch.Tensor:
        """L_K per example, ``(B,)``; K defaults to ``config.k``."""
        return obj.iwae_bound(self.log_weights(x, k or self.config.k))

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        """Mean of -L_K; ``rec`` and ``kl`` are the ELBO's two terms averaged over the same K samples."""
        check_input(x, self.input_shape)
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, n=self.config.k)
        log_px = self.log_px_given_z(x, z)
        kl = obj.log_normal(z, mu, logvar, event_dims=1) - self.log_prior(z)  # MC KL per sample
        loss = -obj.iwae_bound(log_px - kl).mean()
        values = torch.stack([loss, -log_px.mean(), kl.mean()]).detach().tolist()
        return loss, dict(zip(("loss", "rec", "kl"), values))


class ConditionalVAE(VAE):
    """Conditional VAE (Sohn et al. 2015): the one-hot label y is an extra input of the encoder and of
    the decoder, so q(z|x,y) and p(x|z,y); sampling with a chosen y generates that class."""

    def _condition_dims(self) -> tuple[int, int]:
        return self.config.n_classes, self.config.n_classes

    def _one_hot(self, y: torch.Tensor | int, batch: int, device: torch.device) -> torch.Tensor:
        if y is None:
            raise ValueError("ConditionalVAE needs the labels y (int64 tensor of shape (B,))")
        y = torch.as_tensor(y, device=device)
        if y.dim() == 0:
            y = y.expand(batch)
        if y.shape != (batch,) or y.is_floating_point():
            raise ValueError(f"expected integer labels of shape ({batch},), got {tuple(y.shape)} {y.dtype}")
        if bool(((y < 0) | (y >= self.config.n_classes)).any()):
            raise ValueError(f"labels must lie in [0, {self.config.n_classes}), got {y.tolist()[:10]}...")
        return F.one_hot(y.long(), self.config.n_classes).float()

    def _encoder_input(self, x, y):
        onehot = self._one_hot(y, x.shape[0], x.device).to(x.dtype)
        if self.config.arch == "mlp":
            return torch.cat([x.flatten(1), onehot], dim=1)
        # conv: the label enters as constant extra channels of the image
        maps = onehot[:, :, None, None].expand(-1, -1, *x.shape[2:])
        return torch.cat([x, maps], dim=1)

    def _decoder_input(self, z, y):
        onehot = self._one_hot(y, z.shape[-2], z.device).to(z.dtype)
        return torch.cat([z, onehot.expand(*z.shape[:-1], -1)], dim=-1)

    @torch.no_grad()
    def sample(self, n: int, y: torch.Tensor | int = 0, generator: torch.Generator | None = None
               ) -> torch.Tensor:
        """Decoder means of ``n`` prior samples decoded with label(s) ``y`` (an int or ``(n,)``)."""
        y = torch.as_tensor(y, device=self.device)
        return self.decode_mean(self._prior_sample(n, generator), y.expand(n) if y.dim() == 0 else y)

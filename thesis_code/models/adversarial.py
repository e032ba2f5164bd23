"""Adversarial models: the generative adversarial network (Goodfellow et al. 2014) and the adversarial
autoencoder (Makhzani et al. 2015).

Both are two-player games, trained by ``train.fit`` through ``phases()``: a list of ``models.protocol.Phase(name,
parameters, loss_fn)`` that the trainer runs in order on every batch, each phase with its own optimizer
over its own parameters. A phase that must not move the other player (the generator step must not train
the discriminator) also builds its graph with the other player frozen, so no gradient reaches it at all.

All discriminators return logits and use ``binary_cross_entropy_with_logits``: log D = -softplus(-l) and
log(1 - D) = -softplus(l) never overflow, where log(sigmoid(l)) would for a confident discriminator.
"""
from __future__ import annotations

import functools
import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from .protocol import Phase
from .networks import IMAGE_SHAPE, ConvDecoder, ConvEncoder, check_input, flat_dim, mlp

LeakyReLU = functools.partial(nn.LeakyReLU, 0.2)


@contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Build graphs in which ``module``'s parameters are constants (no gradient flows into them)."""
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


def _bce_logits(logits: torch.Tensor, target: float) -> torch.Tensor:
    """Mean of -[t log D + (1 - t) log(1 - D)] with D = sigmoid(logits), for a constant target t."""
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def _phase(name, parameters, loss_fn):
    return Phase(name, list(parameters), loss_fn)


# ------------------------------------------------------------------ priors on the code

class StandardNormalPrior:
    """p(z) = N(0, I) in ``dim`` dimensions."""

    def __init__(self, dim: int):
        self.dim = dim

    def sample(self, n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        return torch.randn(n, self.dim, generator=generator).to(device or "cpu")

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(-1)


class MixtureOfGaussiansPrior:
    """An equal-weight mixture of ``n_components`` 2-D Gaussians N(m_k, std^2 I) whose means lie on a
    circle, m_k = radius * (cos 2 pi k / K, sin 2 pi k / K) (the prior of Makhzani et al. 2015, fig. 2)."""

    dim = 2

    def __init__(self, n_components: int = 10, radius: float = 4.0, std: float = 0.5):
        self.n_components, self.radius, self.std = n_components, radius, std
        angles = 2 * math.pi * torch.arange(n_components, dtype=torch.float32) / n_components
        self.means = radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)  # (K, 2)

    def sample_with_components(self, n: int, generator: torch.Generator | None = None, device=None
                               ) -> tuple[torch.Tensor, torch.Tensor]:
        """z (n, 2) and the component k (n,) each sample was drawn from."""
        k = torch.randint(self.n_components, (n,), generator=generator)
        z = self.means[k] + self.std * torch.randn(n, 2, generator=generator)
        return z.to(device or "cpu"), k.to(device or "cpu")

    def sample(self, n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        return self.sample_with_components(n, generator, device)[0]

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        d2 = (z.unsqueeze(-2) - self.means.to(z.device)).pow(2).sum(-1)  # (..., K)
        log_comp = -0.5 * d2 / self.std ** 2 - math.log(2 * math.pi * self.std ** 2)
        return torch.logsumexp(log_comp, -1) - math.log(self.n_components)


def make_prior(name: str, dim: int, n_components: int = 10, radius: float = 4.0, std: float = 0.5):
    if name == "normal":
        return StandardNormalPrior(dim)
    if name == "mog":
        if dim != 2:
            raise ValueError(f"the mixture-of-Gaussians prior is 2-D; got latent_dim={dim}")
        return MixtureOfGaussiansPrior(n_components, radius, std)
    raise ValueError(f"prior must be 'normal' or 'mog', got {name!r}")


# ------------------------------------------------------------------ adversarial autoencoder

@dataclass(frozen=True)
class AAEConfig:
    """The three encoder choices of Makhzani et al. 2015, section 2: ``encoder="deterministic"``:
    z = f(x); ``"gaussian"``: z ~ N(mu(x), sigma^2(x)), reparameterized; ``"universal"`` (universal
    approximator posterior): z = f(x, eta) with eta ~ N(0, I_{noise_dim}) concatenated to the encoder's
    input, so q(z|x) = int delta(z - f(x, eta)) p(eta) d eta can take any shape (MLP encoder only).
    ``prior``: ``"normal"`` or ``"mog"`` (2-D mixture of ``n_components`` Gaussians on a circle of radius
    ``radius``)."""
    latent_dim: int = 2
    hidden: tuple[int, ...] = (512, 256)
    disc_hidden: tuple[int, ...] = (256, 256)
    encoder: str = "deterministic"
    prior: str = "normal"
    n_components: int = 10
    radius: float = 4.0
    component_std: float = 0.5
    loss: str = "bce"
    arch: str = "mlp"
    channels: int = 32
    input_shape: tuple[int, ...] = IMAGE_SHAPE
    noise_dim: int = 8        # universal encoder: dimension of the noise eta fed to f(x, eta)

    def __post_init__(self):
        if self.encoder not in ("deterministic", "gaussian", "universal"):
            raise ValueError(f"encoder must be 'deterministic', 'gaussian' or 'universal', got {self.encoder!r}")
        if self.encoder == "universal" and self.arch != "mlp":
            raise ValueError("the universal-approximator encoder is implemented for arch='mlp' only")
        if self.noise_dim < 1:
            raise ValueError(f"noise_dim must be positive, got {self.noise_dim}")
        if self.loss not in ("bce", "mse"):
            raise ValueError(f"loss must be 'bce' or 'mse', got {self.loss!r}")
        if self.arch not in ("mlp", "conv"):
            raise ValueError(f"arch must be 'mlp' or 'conv', got {self.arch!r}")
        make_prior(self.prior, self.latent_dim)  # validates prior / latent_dim


class AdversarialAE(nn.Module):
    """An autoencoder whose aggregated posterior q(z) = E_x q(z | x) is matched to a prior p(z) by a
    discriminator on codes instead of the VAE's KL term. One batch = three phases:

    1. reconstruction: encoder and decoder minimize the reconstruction error;
    2. discriminator: D learns to tell prior samples (label 1) from codes of data (label 0);
    3. generator: the encoder learns to fool D, -log D(q(x)) (the non-saturating GAN loss).

    After training, decoding prior samples generates data (``sample``).
    """

    def __init__(self, config: AAEConfig = AAEConfig()):
        super().__init__()
        c = self.config = config
        self.input_shape = tuple(c.input_shape)
        self.input_dim = flat_dim(self.input_shape)
        self.latent_dim = self.code_dim = c.latent_dim
        self.prior = make_prior(c.prior, c.latent_dim, c.n_components, c.radius, c.component_std)
        enc_out = c.latent_dim * (2 if c.encoder == "gaussian" else 1)
        if c.arch == "conv":
            self.encoder = ConvEncoder(enc_out, c.channels, self.input_shape[0])
            self.decoder = ConvDecoder(c.latent_dim, c.channels, self.input_shape[0])
        else:
            noise_in = c.noise_dim if c.encoder == "universal" else 0   # eta enters beside the pixels
            self.encoder = nn.Sequential(nn.Flatten(), mlp([self.input_dim + noise_in, *c.hidden, enc_out],
                                                           nn.ReLU))
            self.decoder = mlp([c.latent_dim, *c.hidden[::-1], self.input_dim], nn.ReLU)
        self.discriminator = mlp([c.latent_dim, *c.disc_hidden, 1], LeakyReLU)

    # --- encoder q(z | x)
    def _encoder_input(self, x: torch.Tensor, eta: torch.Tensor | None) -> torch.Tensor:
        if self.config.encoder != "universal":
            return x
        if eta is None:   # the code at the noise's mean, eta = 0: a deterministic summary of q(z | x)
            eta = torch.zeros(len(x), self.config.noise_dim, device=x.device, dtype=x.dtype)
        if eta.shape != (len(x), self.config.noise_dim):
            raise ValueError(f"expected noise eta of shape (B, {self.config.noise_dim}) = "
                             f"({len(x)}, {self.config.noise_dim}), got {tuple(eta.shape)}")
        return torch.cat([x.flatten(1), eta], dim=1)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(mu, logvar) of q(z | x); logvar is None for the deterministic encoder. The universal encoder
        has no closed-form posterior: it returns (f(x, 0), None), the code at the noise's mean."""
        check_input(x, self.input_shape)
        out = self.encoder(self._encoder_input(x, None))
        if self.config.encoder == "gaussian":
            mu, logvar = out.chunk(2, dim=1)
            return mu, logvar
        return out, None

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code of x, (B, latent_dim): f(x), the posterior mean for the Gaussian encoder, f(x, 0) for
        the universal one."""
        return self.posterior(x)[0]

    def encode_sample(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ q(z | x): z = mu + sigma * eps for the Gaussian encoder, z = f(x, eta) with eta ~ N(0, I)
        for the universal one; equal to ``encode`` when deterministic."""
        if self.config.encoder == "universal":
            check_input(x, self.input_shape)
            eta = torch.randn(len(x), self.config.noise_dim, generator=generator).to(x.device)
            return self.encoder(self._encoder_input(x, eta))
        mu, logvar = self.posterior(x)
        if logvar is None:
            return mu
        eps = torch.randn(mu.shape, generator=generator).to(mu.device)
        return mu + torch.exp(0.5 * logvar) * eps

    # --- decoder
    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        check_input(z, (self.latent_dim,), "code")
        return self.decoder(z).reshape(-1, *self.input_shape)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        out = self.decode_logits(z)
        return torch.sigmoid(out) if self.config.loss == "bce" else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def discriminate(self, z: torch.Tensor) -> torch.Tensor:
        """Logit of D(z) = P(z came from the prior), shape (B,)."""
        return self.discriminator(z).squeeze(-1)

    def reconstruction_error(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        logits = self.decode_logits(z)
        if self.config.loss == "bce":
            per_pixel = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
        else:
            per_pixel = (logits - x) ** 2
        return per_pixel.flatten(1).sum(1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decoder outputs of ``n`` prior samples, (n, *input_shape)."""
        device = next(self.parameters()).device
        with torch.no_grad():
            return self.decode(self.prior.sample(n, generator, device))

    # --- the three phases
    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """The reconstruction loss (phase 1), also what evaluation reports."""
        rec = self.reconstruction_error(x, self.encode_sample(x)).mean()
        return rec, {"loss": rec.item(), "rec": rec.item()}

    def discriminator_loss(self, x: torch.Tensor, y: torch.Tensor | None = None):
        """-[log D(z_prior) + log(1 - D(z_data))], the codes of data held fixed."""
        with torch.no_grad():
            z_data = self.encode_sample(x)
        z_prior = self.prior.sample(len(x), device=x.device)
        real, fake = self.discriminate(z_prior), self.discriminate(z_data)
        loss = _bce_logits(real, 1.0) + _bce_logits(fake, 0.0)
        return loss, {"d_loss": loss.item(), "d_prior": torch.sigmoid(real).mean().item(),
                      "d_codes": torch.sigmoid(fake).mean().item()}

    def generator_loss(self, x: torch.Tensor, y: torch.Tensor | None = None):
        """-log D(q(x)): the encoder makes its codes look like prior samples; D is a constant here."""
        with frozen(self.discriminator):
            logits = self.discriminate(self.encode_sample(x))
            loss = _bce_logits(logits, 1.0)
        return loss, {"g_loss": loss.item()}

    def phases(self) -> list:
        return [
            _phase("reconstruction", [*self.encoder.parameters(), *self.decoder.parameters()], self.loss),
            _phase("discriminator", self.discriminator.parameters(), self.discriminator_loss),
            _phase("generator", self.encoder.parameters(), self.generator_loss),
        ]


# ------------------------------------------------------------------ generative adversarial network

@dataclass(frozen=True)
class GANConfig:
    """``generator_loss="non_saturating"``: G minimizes -log D(G(z)) (Goodfellow et al. 2014, sec. 3, the
    choice used in practice); ``"minimax"``: G minimizes log(1 - D(G(z))), the original game, whose
    gradient vanishes while D confidently rejects G's samples. ``output``: ``"sigmoid"`` for images in
    [0, 1], ``"linear"`` for real-valued toy data."""
    noise_dim: int = 32
    g_hidden: tuple[int, ...] = (256, 256)
    d_hidden: tuple[int, ...] = (256, 256)
    generator_loss: str = "non_saturating"
    output: str = "sigmoid"
    input_shape: tuple[int, ...] = IMAGE_SHAPE

    def __post_init__(self):
        if self.generator_loss not in ("non_saturating", "minimax"):
            raise ValueError(f"generator_loss must be 'non_saturating' or 'minimax', "
                             f"got {self.generator_loss!r}")
        if self.output not in ("sigmoid", "linear"):
            raise ValueError(f"output must be 'sigmoid' or 'linear', got {self.output!r}")


class GAN(nn.Module):
    """Generator G: z ~ N(0, I) -> x and discriminator D: x -> logit of P(x is real), playing
    min_G max_D  E_x log D(x) + E_z log(1 - D(G(z)))  (Goodfellow et al. 2014, eq. 1)."""

    def __init__(self, config: GANConfig = GANConfig()):
        super().__init__()
        c = self.config = config
        self.input_shape = tuple(c.input_shape)
        self.input_dim = flat_dim(self.input_shape)
        self.noise_dim = c.noise_dim
        self.generator = mlp([c.noise_dim, *c.g_hidden, self.input_dim], LeakyReLU)
        self.discriminator = nn.Sequential(nn.Flatten(), mlp([self.input_dim, *c.d_hidden, 1], LeakyReLU))

    def sample_noise(self, n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        return torch.randn(n, self.noise_dim, generator=generator).to(device or "cpu")

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """G(z), shape (B, *input_shape)."""
        check_input(z, (self.noise_dim,), "noise")
        out = self.generator(z).reshape(-1, *self.input_shape)
        return torch.sigmoid(out) if self.config.output == "sigmoid" else out

    def discriminate(self, x: torch.Tensor) -> torch.Tensor:
        """Logit of D(x), shape (B,)."""
        check_input(x, self.input_shape)
        return self.discriminator(x).squeeze(-1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generate(z)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = next(self.parameters()).device
        with torch.no_grad():
            return self.generate(self.sample_noise(n, generator, device))

    def discriminator_loss(self, x: torch.Tensor, y: torch.Tensor | None = None):
        """-[mean log D(x) + mean log(1 - D(G(z)))]: minimizing it maximizes the value V(D, G)."""
        with torch.no_grad():
            fake = self.generate(self.sample_noise(len(x), device=x.device))
        real_logits, fake_logits = self.discriminate(x), self.discriminate(fake)
        loss = _bce_logits(real_logits, 1.0) + _bce_logits(fake_logits, 0.0)
        return loss, {"d_loss": loss.item(), "d_real": torch.sigmoid(real_logits).mean().item(),
                      "d_fake": torch.sigmoid(fake_logits).mean().item()}

    def generator_loss(self, x: torch.Tensor, y: torch.Tensor | None = None):
        """Non-saturating: -log D(G(z)) = softplus(-l); minimax: log(1 - D(G(z))) = -softplus(l)."""
        with frozen(self.discriminator):
            logits = self.discriminate(self.generate(self.sample_noise(len(x), device=x.device)))
            if self.config.generator_loss == "non_saturating":
                loss = F.softplus(-logits).mean()
            else:
                loss = -F.softplus(logits).mean()
        return loss, {"g_loss": loss.item()}

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """For evaluation: the discriminator's loss, i.e. -V(D, G) on this batch (at the game's optimum
        D = 1/2 everywhere and the loss is 2 log 2)."""
        with torch.no_grad():
            return self.discriminator_loss(x, y)

    def phases(self) -> list:
        return [
            _phase("discriminator", self.discriminator.parameters(), self.discriminator_loss),
            _phase("generator", self.generator.parameters(), self.generator_loss),
        ]

"""The latent code: reconstruction error, KL per latent dimension, active units (Burda et al. 2015) and a
posterior-collapse report. The functions that need only a code also accept deterministic autoencoders
(``encode`` -> ``h``)."""
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
from .likelihood import _check_batch

LOG2 = math.log(2.0)

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
    _check_standard_prior(model, "kl_per_dimension")
    codes = _gaussian_codes(model, x, batch_size)
    return kl_normal_per_dim(codes.mean, codes.logvar).mean(0)


def _check_standard_prior(model, what: str) -> None:
    prior = getattr(getattr(model, "config", None), "prior", "standard")
    if prior != "standard":
        raise ValueError(f"{what} splits KL(q || N(0, I)) by dimension; this model's prior is {prior!r} "
                         "(use rate() for its total KL)")


@torch.no_grad()
def rate(model, x: torch.Tensor, n_samples: int = 64, seed: int = 0, batch_size: int = 500) -> torch.Tensor:
    """KL(q(z|x) || p(z)) of every example, nats, shape (N,): the rate of the code (Alemi et al. 2018).

    In closed form for the standard normal prior; for any other prior (the VampPrior) the Monte Carlo
    average of log q(z|x) - log p(z) over ``n_samples`` draws z ~ q(z|x), from a generator seeded with
    ``seed`` (never the global RNG)."""
    _check_batch(x, model)
    prior = getattr(getattr(model, "config", None), "prior", "standard")
    gen = torch.Generator(device=x.device).manual_seed(seed)
    out = []
    with _eval_mode(model):
        for xb in x.split(batch_size):
            mu, logvar = model.encode(xb)
            if prior == "standard":
                out.append(kl_normal_per_dim(mu, logvar).sum(-1))
                continue
            eps = torch.randn((n_samples, *mu.shape), generator=gen, device=mu.device, dtype=mu.dtype)
            z = mu + torch.exp(0.5 * logvar) * eps
            log_q = D.Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1)
            out.append((log_q - model.log_prior(z)).mean(0))
    return torch.cat(out)


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
    _check_standard_prior(model, "posterior_collapse_report")
    codes = _gaussian_codes(model, x, batch_size)
    activity = codes.mean.var(dim=0, unbiased=True)
    return CollapseReport(kl_per_dim=kl_normal_per_dim(codes.mean, codes.logvar).mean(0),
                          activity=activity, active=activity > threshold, threshold=threshold)



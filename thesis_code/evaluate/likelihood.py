"""Likelihood: the importance-sampled estimate of log p(x) (Rezende et al. 2014; Burda et al. 2015)
with K samples of the encoder q(z|x), batched over examples and over the K samples, so memory does not
grow with K; nats, and bits per dimension where the likelihood is discrete.

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

from ..latent import _eval_mode, encode_dataset
from ..objectives import kl_normal_per_dim

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


def _draw(q: D.Distribution, k: int, generator: torch.Generator) -> torch.Tensor:
    """k samples (k, B, D) of a proposal, all from ``generator`` (never the global RNG), so results are
    reproducible and do not depend on what ran before."""
    base = q.base_dist if isinstance(q, D.Independent) else q
    if isinstance(base, D.Normal):
        eps = torch.randn((k, *base.loc.shape), generator=generator, device=base.loc.device,
                          dtype=base.loc.dtype)
        return base.loc + base.scale * eps
    if isinstance(q, D.MultivariateNormal):
        eps = torch.randn((k, *q.loc.shape), generator=generator, device=q.loc.device, dtype=q.loc.dtype)
        return q.loc + (q.scale_tril @ eps.unsqueeze(-1)).squeeze(-1)
    # Any other proposal: sample it under a forked RNG seeded from the generator; fork_rng restores the
    # global state afterwards (of the CPU, and of the generator's GPU when the data live there).
    device = generator.device
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=device))
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        return q.sample((k,))


def _check_batch(x: torch.Tensor, model) -> None:
    shape = getattr(model, "input_shape", None)
    if shape is not None:
        from ..models.networks import check_input
        check_input(x, shape)
    elif not torch.is_tensor(x) or x.dim() < 2:
        raise ValueError(f"expected a batch of inputs (N, ...), got {getattr(x, 'shape', type(x))}")


@torch.no_grad()
def log_likelihood(model, x: torch.Tensor, k: int = 1000, batch_size: int = 100, chunk: int = 100,
                   proposal: Callable[[torch.Tensor], D.Distribution] | None = None,
                   seed: int = 0, y: torch.Tensor | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Importance-sampled estimate of log p(x) for each example, in nats; shape (N,).

        log p(x) ~= log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x),   z_k ~ q(z|x)      (Burda et al. 2015)

    The estimate is a stochastic lower bound in expectation (Jensen) that tightens as K grows and is exact
    for any K when q is the true posterior. Examples go through in batches of ``batch_size`` and the K
    samples in chunks of ``chunk``; the log-sum-exp over k is accumulated chunk by chunk (logaddexp), so
    the large tensors are O(batch_size * chunk * pixels) whatever K. The noise of one example batch is
    drawn at once, (K, batch_size, latent_dim), which is small, so the result does not depend on ``chunk``.

    ``proposal(x)`` returns a torch Distribution over z with batch shape (B,) (default: the model's
    encoder, a diagonal Gaussian). The importance samples come from ``generator`` (on x's device) or,
    by default, from a new generator seeded with ``seed``: never from the global RNG, so the estimate does
    not depend on what ran before it. ``y``: labels for a conditional VAE, which then gives log p(x|y).
    """
    if k < 1 or batch_size < 1 or chunk < 1:
        raise ValueError(f"k, batch_size and chunk must be >= 1, got {k}, {batch_size}, {chunk}")
    _check_batch(x, model)
    if y is not None and y.shape[0] != x.shape[0]:
        raise ValueError(f"x and y must have the same length, got {x.shape[0]} and {y.shape[0]}")
    q_of = proposal or diagonal_gaussian_proposal(model)
    if generator is None:
        generator = torch.Generator(device=x.device).manual_seed(seed)
    elif generator.device.type != x.device.type:
        raise ValueError(f"the generator is on {generator.device}, the data on {x.device}: use one on x's device")
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
    """Test-set log-likelihood: mean log p(x) in nats, its standard error over examples, and bits/dim
    where the likelihood is discrete (a probability mass). For a density (a Gaussian decoder on [0, 1]
    pixels) ``bits_per_dim`` is None: a density is not a code length."""

    log_px: float          # mean over the test set of log p(x) (nats; higher is better)
    stderr: float          # standard error of that mean over examples
    nll: float             # -log_px
    bits_per_dim: float | None    # nll / (dims ln 2), discrete likelihoods only
    k: int
    n: int
    discrete: bool = True

    def __str__(self) -> str:
        unit = "nats" if self.discrete else "nats (a density, not a code length)"
        bits = f"{self.bits_per_dim:.4f} bits/dim; " if self.bits_per_dim is not None else ""
        return f"log p(x) = {self.log_px:.2f} ± {self.stderr:.2f} {unit} ({bits}K={self.k}, n={self.n})"


def test_log_likelihood(model, x: torch.Tensor, k: int = 1000, **kw) -> LikelihoodResult:
    """:func:`log_likelihood` summarized over a test set (pass it the :func:`fixed_binarization` of the test
    images for Bernoulli models)."""
    values = log_likelihood(model, x, k=k, **kw).double()
    n = values.numel()
    mean = float(values.mean())
    stderr = float(values.std(unbiased=True) / math.sqrt(n)) if n > 1 else float("nan")
    dims = int(np.prod(x.shape[1:]))
    lik = getattr(model, "likelihood", None)
    discrete = bool(getattr(lik, "discrete", True))
    bits = float(bits_per_dim(-mean, dims)) if discrete else None
    return LikelihoodResult(log_px=mean, stderr=stderr, nll=-mean, bits_per_dim=bits, k=k, n=n,
                            discrete=discrete)


test_log_likelihood.__test__ = False  # not a pytest test despite its name



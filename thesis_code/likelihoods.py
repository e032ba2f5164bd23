"""Decoder likelihoods p(x | z), pluggable into every latent-variable model of the thesis.

A likelihood turns the decoder's raw output into distribution parameters and scores data under them:

    lik = likelihoods.make("bernoulli")          # or "gaussian", "logistic", ...
    out = decoder(z)                             # (..., B, lik.params_per_channel * C, H, W)
    params = lik.params(out, channel_dim=-3)     # logits, or (mean, logvar), or (mean, log_scale)
    lik.log_prob(x, params, event_dims=3)        # (..., B): log p(x|z) summed over the event dims
    lik.mean(params), lik.sample(params, generator)

``discrete`` says whether ``log_prob`` is a log-probability *mass*. Only then is ``-log p(x) / (n_dims
log 2)`` a number of bits per dimension that a lossless code can reach; a Gaussian density on [0, 1]
pixels is a density, and the evaluation refuses to report it in bits.

* :class:`Bernoulli`: binary pixels (dynamically binarized MNIST); parameters are logits.
* :class:`Gaussian`: fixed observation noise ``sigma`` or a learned per-pixel variance whose log is kept
  above ``2 log(min_sigma)`` by a soft floor, so a constant border pixel cannot drive the log-density to
  infinity.
* :class:`DiscretizedLogistic`: 8-bit pixels ``k / 255`` (Salimans et al. 2017, PixelCNN++, eq. 2): the
  mass of the bin of width 2/255 around x (in [-1, 1]) under a logistic, with the edge bins extended to
  infinity. A discrete likelihood of grey-level images, for lossless compression.
* :class:`Categorical`: tokens over a vocabulary; logits ``(..., B, T, V)``, data ``(B, T)`` ids, padding
  masked out.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import objectives as obj


class Likelihood:
    name: str = "likelihood"
    discrete: bool = False
    params_per_channel: int = 1

    def params(self, out: torch.Tensor, channel_dim: int = -3):
        raise NotImplementedError

    def log_prob(self, x: torch.Tensor, params, event_dims: int) -> torch.Tensor:
        raise NotImplementedError

    def mean(self, params) -> torch.Tensor:
        raise NotImplementedError

    def sample(self, params, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError


class Bernoulli(Likelihood):
    name, discrete, params_per_channel = "bernoulli", True, 1

    def params(self, out, channel_dim=-3):
        return out                                                   # logits

    def log_prob(self, x, logits, event_dims):
        return obj.log_bernoulli_logits(x, logits, event_dims=event_dims)

    def mean(self, logits):
        return torch.sigmoid(logits)

    def sample(self, logits, generator=None):
        return torch.bernoulli(torch.sigmoid(logits), generator=generator)


@dataclass(frozen=True)
class Gaussian(Likelihood):
    """N(x; mean, exp(logvar)) per pixel. ``learn_variance=False`` uses ``sigma`` everywhere."""

    learn_variance: bool = False
    sigma: float = 0.1
    min_sigma: float = 1e-2
    mean_activation: str = "sigmoid"      # sigmoid keeps image means in [0, 1]; or "identity"
    name = "gaussian"
    discrete = False

    def __post_init__(self):
        if self.mean_activation not in ("sigmoid", "identity"):
            raise ValueError(f"mean_activation must be 'sigmoid' or 'identity', got {self.mean_activation!r}")
        if self.sigma <= 0 or self.min_sigma <= 0:
            raise ValueError("sigma and min_sigma must be positive")

    @property
    def params_per_channel(self) -> int:
        return 2 if self.learn_variance else 1

    def params(self, out, channel_dim=-3):
        if self.learn_variance:
            mean, raw = out.chunk(2, dim=channel_dim)
            floor = 2.0 * math.log(self.min_sigma)
            logvar = floor + F.softplus(raw - floor)                 # soft floor: logvar > floor
        else:
            mean = out
            logvar = torch.full_like(mean, 2.0 * math.log(self.sigma))
        if self.mean_activation == "sigmoid":
            mean = torch.sigmoid(mean)
        return mean, logvar

    def log_prob(self, x, params, event_dims):
        mean, logvar = params
        return obj.log_normal(x, mean, logvar, event_dims=event_dims)

    def mean(self, params):
        return params[0]

    def sample(self, params, generator=None):
        mean, logvar = params
        eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + torch.exp(0.5 * logvar) * eps


@dataclass(frozen=True)
class DiscretizedLogistic(Likelihood):
    """8-bit pixels x = k/255, k in {0..255}: P(k) = sigmoid((x'+1/255-m)/s) - sigmoid((x'-1/255-m)/s)
    with x' = 2x - 1 in [-1, 1]; k = 0 and k = 255 take the tails (Salimans et al. 2017, eq. 2)."""

    levels: int = 256
    min_log_scale: float = -7.0
    name = "logistic"
    discrete = True
    params_per_channel = 2

    def params(self, out, channel_dim=-3):
        mean, log_scale = out.chunk(2, dim=channel_dim)
        return torch.tanh(mean), log_scale.clamp(min=self.min_log_scale)

    def log_prob_per_dim(self, x, params):
        mean, log_scale = params
        xc = 2.0 * x - 1.0
        half = 1.0 / (self.levels - 1)
        inv_s = torch.exp(-log_scale)
        plus, minus = inv_s * (xc - mean + half), inv_s * (xc - mean - half)
        log_cdf_plus = F.logsigmoid(plus)                       # log P(X <= x + half)
        log_one_minus_cdf_min = -F.softplus(minus)              # log P(X > x - half)
        # log(sigmoid(plus) - sigmoid(minus)), computed stably as
        # log sigmoid(plus) + log(1 - exp(minus - plus) * ...) via the identity
        # sigmoid(a) - sigmoid(b) = sigmoid(a) * (1 - exp(b - a)) * sigmoid(-b) / sigmoid(-a) ... ;
        # the direct form with a floor is accurate enough for scales above exp(-7).
        cdf_delta = torch.sigmoid(plus) - torch.sigmoid(minus)
        mid = inv_s * (xc - mean)
        # Where the bin mass underflows, use the density at the centre times the bin width.
        log_pdf_mid = mid - log_scale - 2.0 * F.softplus(mid) + math.log(2 * half)
        log_mid = torch.where(cdf_delta > 1e-5, torch.log(cdf_delta.clamp(min=1e-12)), log_pdf_mid)
        lo, hi = xc < -1.0 + half / 2, xc > 1.0 - half / 2
        return torch.where(lo, log_cdf_plus, torch.where(hi, log_one_minus_cdf_min, log_mid))

    def log_prob(self, x, params, event_dims):
        lp = self.log_prob_per_dim(x, params)
        return lp.sum(dim=tuple(range(-event_dims, 0)))

    def mean(self, params):
        # the mode of the bins is close to the logistic's location; report it in [0, 1]
        return (params[0] + 1.0) / 2.0

    def sample(self, params, generator=None):
        mean, log_scale = params
        u = torch.rand(mean.shape, generator=generator, device=mean.device).clamp(1e-5, 1 - 1e-5)
        xc = mean + torch.exp(log_scale) * (torch.log(u) - torch.log1p(-u))
        k = torch.round((xc.clamp(-1, 1) + 1) / 2 * (self.levels - 1))
        return k / (self.levels - 1)


@dataclass(frozen=True)
class Categorical(Likelihood):
    """Tokens: logits ``(..., B, T, V)``, data ``(B, T)`` integer ids; positions equal to ``pad`` carry
    no probability (their terms are masked out of the sum)."""

    pad: int = 0
    name = "categorical"
    discrete = True
    params_per_channel = 1

    def params(self, out, channel_dim=-1):
        return out

    def log_prob(self, x, logits, event_dims=1):
        logp = torch.log_softmax(logits, dim=-1)
        ids = x.expand(*logits.shape[:-1]) if x.dim() < logits.dim() - 1 else x
        token_lp = logp.gather(-1, ids.unsqueeze(-1)).squeeze(-1)       # (..., B, T)
        token_lp = token_lp.masked_fill(ids == self.pad, 0.0)
        return token_lp.sum(dim=-1)

    def mean(self, logits):
        return torch.softmax(logits, dim=-1)

    def sample(self, logits, generator=None):
        probs = torch.softmax(logits, dim=-1)
        flat = probs.reshape(-1, probs.shape[-1])
        return torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])


def make(name: str, **kw) -> Likelihood:
    """A likelihood by name: bernoulli | gaussian | logistic | categorical (keyword arguments go to it)."""
    table = {"bernoulli": Bernoulli, "gaussian": Gaussian, "logistic": DiscretizedLogistic,
             "categorical": Categorical}
    if name not in table:
        raise ValueError(f"unknown likelihood {name!r}; choose one of {', '.join(table)}")
    return table[name](**kw)

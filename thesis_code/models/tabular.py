"""A variational autoencoder for mixed-type tables, in the spirit of TVAE (Xu et al. 2019).

Rows are encoded by :class:`thesis_code.data.tables.TableTransformer`: for each continuous column a
scalar ``alpha`` (the value normalized within its mixture mode) and a one-hot mode indicator, for each
categorical column a one-hot vector. The decoder's output is read by :class:`MixedLikelihood`, a product
of independent factors given z:

    log p(x | z) = sum_c log N(alpha_c; tanh(m_c(z)), sigma_c^2)            continuous scalars
                 + sum_b log Cat(onehot_b; softmax(l_b(z)))                  mode indicators, categories

with one standard deviation sigma_c per continuous column, learned (as TVAE does; kept in [0.01, 1] by a
sigmoid, TVAE clamps to the same range after each step) or fixed. The encoder is a Gaussian
q(z|x) = N(mu(x), diag exp(logvar(x))) and the loss is the negative ELBO with a weight ``beta`` on the KL
term. TVAE multiplies its reconstruction term by ``loss_factor = 2``; up to a constant factor of the whole
objective that is ``beta = 0.5``, our default.

Sampling (:meth:`TabularVAE.sample_rows`) draws z ~ N(0, I), decodes, and maps back to a DataFrame
through the transformer. ``categorical="argmax"`` reads each one-hot block by its most probable entry (what
TVAE does); ``"sample"`` draws it from the softmax. Continuous scalars are drawn from N(tanh(m), sigma^2)
and clipped to [-1, 1] (TVAE).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from .. import objectives as obj
from ..likelihoods import Likelihood
from .networks import check_input, mlp


class MixedParams(NamedTuple):
    mean: torch.Tensor                 # (..., B, n_continuous): tanh of the decoder output
    logvar: torch.Tensor               # (..., B or 1, n_continuous)
    logits: tuple[torch.Tensor, ...]   # one (..., B, width) tensor per one-hot block


class MixedLikelihood(Likelihood):
    """Independent Gaussian and categorical factors over an encoded row (see the module docstring).

    ``output_info`` is the transformer's list of ``(width, kind)`` blocks, kind in {"continuous", "mode",
    "categorical"}; a "continuous" block has width 1. The decoder output has ``out_dim`` columns: one per
    continuous scalar, then the logits of every one-hot block, in row order."""

    name = "mixed"
    discrete = False                  # a density in the continuous scalars, so no bits per dimension

    def __init__(self, output_info: Sequence[tuple[int, str]], min_sigma: float = 0.01,
                 max_sigma: float = 1.0):
        self.output_info = [(int(w), str(k)) for w, k in output_info]
        for w, k in self.output_info:
            if k not in ("continuous", "mode", "categorical"):
                raise ValueError(f"unknown block kind {k!r}")
            if k == "continuous" and w != 1:
                raise ValueError("a continuous block must have width 1")
        self.min_sigma, self.max_sigma = min_sigma, max_sigma
        pos, self.cont_idx, self.blocks = 0, [], []
        for w, k in self.output_info:
            if k == "continuous":
                self.cont_idx.append(pos)
            else:
                self.blocks.append((pos, w))
            pos += w
        self.width = pos
        self.n_continuous = len(self.cont_idx)
        self.out_dim = self.width                  # one output per scalar and per one-hot entry

    def sigma_from_raw(self, raw: torch.Tensor) -> torch.Tensor:
        return self.min_sigma + (self.max_sigma - self.min_sigma) * torch.sigmoid(raw)

    def params(self, out: torch.Tensor, channel_dim: int = -1, sigma: torch.Tensor | float = 0.1
               ) -> MixedParams:
        """Split the decoder output ``(..., B, out_dim)``; ``sigma`` (n_continuous,) or a float."""
        if out.shape[-1] != self.out_dim:
            raise ValueError(f"expected decoder output (..., B, {self.out_dim}), got {tuple(out.shape)}")
        ci = torch.as_tensor(self.cont_idx, dtype=torch.long, device=out.device)
        mean = torch.tanh(out.index_select(-1, ci))
        sigma = torch.as_tensor(sigma, dtype=out.dtype, device=out.device)
        logvar = (2.0 * torch.log(sigma)).expand(*mean.shape[:-1], self.n_continuous)
        logits = tuple(out[..., s:s + w] for s, w in self.blocks)
        return MixedParams(mean, logvar, logits)

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """An encoded row ``(B, width)`` as its continuous scalars and its one-hot class indices."""
        if x.shape[-1] != self.width:
            raise ValueError(f"expected encoded rows (B, {self.width}), got {tuple(x.shape)}")
        ci = torch.as_tensor(self.cont_idx, dtype=torch.long, device=x.device)
        return x.index_select(-1, ci), [x[..., s:s + w].argmax(-1) for s, w in self.blocks]

    def log_prob_terms(self, x: torch.Tensor, params: MixedParams) -> tuple[torch.Tensor, torch.Tensor]:
        """(continuous part, categorical part) of log p(x|z), each ``(..., B)``."""
        alpha, classes = self.split(x)
        cont = obj.log_normal(alpha, params.mean, params.logvar, event_dims=1)
        cat = torch.zeros_like(cont)
        for logits, k in zip(params.logits, classes):
            lp = torch.log_softmax(logits, dim=-1)
            cat = cat + lp.gather(-1, k.expand(*lp.shape[:-1]).unsqueeze(-1)).squeeze(-1)
        return cont, cat

    def log_prob(self, x: torch.Tensor, params: MixedParams, event_dims: int = 1) -> torch.Tensor:
        if event_dims != 1:
            raise ValueError("an encoded row is one event: event_dims must be 1")
        cont, cat = self.log_prob_terms(x, params)
        return cont + cat

    def _assemble(self, cont: torch.Tensor, blocks: list[torch.Tensor]) -> torch.Tensor:
        out = cont.new_zeros(*cont.shape[:-1], self.width)
        out[..., self.cont_idx] = cont
        for (s, w), b in zip(self.blocks, blocks):
            out[..., s:s + w] = b
        return out

    def mean(self, params: MixedParams) -> torch.Tensor:
        """The mean of the encoded row: continuous means and the softmax probabilities of each block."""
        return self._assemble(params.mean, [torch.softmax(lg, -1) for lg in params.logits])

    def sample(self, params: MixedParams, generator: torch.Generator | None = None,
               categorical: str = "sample") -> torch.Tensor:
        """An encoded row: alpha ~ N(mean, sigma^2) clipped to [-1, 1]; each one-hot block drawn from its
        softmax (``categorical="sample"``) or set to its most probable entry (``"argmax"``)."""
        if categorical not in ("sample", "argmax"):
            raise ValueError(f"categorical must be 'sample' or 'argmax', got {categorical!r}")
        eps = torch.randn(params.mean.shape, generator=generator, device=params.mean.device)
        cont = (params.mean + torch.exp(0.5 * params.logvar) * eps).clamp(-1.0, 1.0)
        blocks = []
        for lg in params.logits:
            if categorical == "argmax":
                k = lg.argmax(-1)
            else:
                probs = torch.softmax(lg, -1)
                k = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator
                                      ).reshape(probs.shape[:-1])
            blocks.append(F.one_hot(k, lg.shape[-1]).to(params.mean.dtype))
        return self._assemble(cont, blocks)


@dataclass(frozen=True)
class TabularVAEConfig:
    """Architecture and objective of :class:`TabularVAE` (part of the cache key)."""

    output_info: tuple[tuple[int, str], ...]   # the transformer's blocks
    latent_dim: int = 128                      # TVAE: embedding_dim 128
    hidden: tuple[int, ...] = (128, 128)       # TVAE: compress_dims = decompress_dims = (128, 128)
    sigma: float | None = None                 # None: one learned sigma per continuous column (TVAE)
    init_sigma: float = 0.1                    # TVAE's initial sigma
    beta: float = 0.5                          # KL weight; TVAE's loss_factor 2 corresponds to 0.5
    transformer_fingerprint: str = ""          # ties the model to the transformer it was trained with

    def __post_init__(self):
        if self.latent_dim < 1 or not self.hidden:
            raise ValueError("latent_dim must be positive and hidden non-empty")
        if self.sigma is not None and not 0 < self.sigma:
            raise ValueError("sigma must be positive (or None to learn it)")
        if self.beta < 0:
            raise ValueError("beta must be non-negative")


class TabularVAE(nn.Module):
    """TVAE-style VAE over encoded table rows. ``transformer`` (a fitted TableTransformer) is needed
    only to turn rows into codes and samples into DataFrames; when ``config.transformer_fingerprint`` is
    set, a transformer with another fingerprint is refused."""

    def __init__(self, config: TabularVAEConfig, transformer=None):
        super().__init__()
        self.config = config
        self.likelihood = MixedLikelihood(config.output_info)
        d, h = self.likelihood.width, list(config.hidden)
        self.input_shape = (d,)
        self.latent_dim = config.latent_dim
        self.encoder = mlp([d, *h], final_activation=nn.ReLU())
        self.fc_mu = nn.Linear(h[-1], config.latent_dim)
        self.fc_logvar = nn.Linear(h[-1], config.latent_dim)
        self.decoder = mlp([config.latent_dim, *h[::-1], self.likelihood.out_dim])
        n = self.likelihood.n_continuous
        if config.sigma is None:
            lo, hi = self.likelihood.min_sigma, self.likelihood.max_sigma
            p = (config.init_sigma - lo) / (hi - lo)
            self.raw_sigma = nn.Parameter(torch.full((n,), math.log(p / (1 - p))))
        else:
            self.register_buffer("raw_sigma", torch.empty(0), persistent=False)
        self.transformer = None
        if transformer is not None:
            self.set_transformer(transformer)

    # ---- the transformer is stored beside the weights (its state() dict); the config's fingerprint
    #      makes sure a model is only ever paired with the transformer it was trained with
    def set_transformer(self, transformer) -> None:
        if self.config.transformer_fingerprint and transformer.fingerprint() != self.config.transformer_fingerprint:
            raise ValueError("the transformer does not match the one this model was configured with "
                             f"(fingerprint {transformer.fingerprint()[:12]} != "
                             f"{self.config.transformer_fingerprint[:12]})")
        if list(transformer.output_info) != [tuple(b) for b in self.config.output_info]:
            raise ValueError("the transformer's output_info differs from the model's config")
        self.transformer = transformer

    # ---- the model
    @property
    def device(self) -> torch.device:
        return self.fc_mu.weight.device

    def sigma(self) -> torch.Tensor | float:
        if self.config.sigma is None:
            return self.likelihood.sigma_from_raw(self.raw_sigma)
        return self.config.sigma

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_input(x, self.input_shape)
        h = self.encoder(x)
        return self.fc_mu(h), self.fc_logvar(h)

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def decode(self, z: torch.Tensor) -> MixedParams:
        return self.likelihood.params(self.decoder(z), sigma=self.sigma())

    def log_px_given_z(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.likelihood.log_prob(x, self.decode(z))

    def elbo_terms(self, x: torch.Tensor):
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar)
        cont, cat = self.likelihood.log_prob_terms(x, self.decode(z))
        kl = obj.kl_normal(mu, logvar)                     # closed form (Kingma & Welling 2013, eq. 7)
        return cont, cat, kl

    def elbo(self, x: torch.Tensor) -> torch.Tensor:
        cont, cat, kl = self.elbo_terms(x)
        return cont + cat - kl

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        cont, cat, kl = self.elbo_terms(x)
        rec = -(cont + cat).mean()
        loss = rec + self.config.beta * kl.mean()
        return loss, {"loss": loss.item(), "rec": rec.item(), "rec_continuous": -cont.mean().item(),
                      "rec_categorical": -cat.mean().item(), "kl": kl.mean().item()}

    # ---- sampling and rows
    def _require_transformer(self):
        if self.transformer is None:
            raise RuntimeError("this TabularVAE has no TableTransformer: pass one to the constructor or "
                               "set_transformer(...)")
        return self.transformer

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, categorical: str = "sample",
               shift: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` encoded rows decoded from prior samples z ~ N(0, I) (plus ``shift``, a latent offset)."""
        z = torch.randn(n, self.latent_dim, generator=generator, device=self.device)
        if shift is not None:
            z = z + shift.to(self.device)
        return self.likelihood.sample(self.decode(z), generator, categorical=categorical)

    @torch.no_grad()
    def sample_rows(self, n: int, generator: torch.Generator | None = None, categorical: str = "sample",
                    batch_size: int = 4096, shift: torch.Tensor | None = None) -> pd.DataFrame:
        """``n`` synthetic rows as a DataFrame with the training table's columns, dtypes, categories.
        ``shift`` moves every prior sample by a latent vector (conditional generation along a direction)."""
        tt = self._require_transformer()
        was = self.training
        self.eval()
        parts = [self.sample(min(batch_size, n - i), generator, categorical, shift).cpu().numpy()
                 for i in range(0, n, batch_size)]
        self.train(was)
        return tt.inverse(np.concatenate(parts) if parts else np.zeros((0, tt.width), np.float32))

    @torch.no_grad()
    def encode_rows(self, df: pd.DataFrame) -> torch.Tensor:
        """Posterior means mu(x) of the rows of ``df`` (the latent codes used for plots)."""
        tt = self._require_transformer()
        x = torch.from_numpy(tt.transform(df)).to(self.device)
        return self.encode(x)[0]

    @torch.no_grad()
    def decode_rows(self, z: torch.Tensor) -> pd.DataFrame:
        """The most probable row for each code: continuous means, argmax of every one-hot block."""
        tt = self._require_transformer()
        return tt.inverse(self.likelihood.mean(self.decode(z.to(self.device))).cpu().numpy())

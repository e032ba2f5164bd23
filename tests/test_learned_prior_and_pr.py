"""The VampPrior, the rate of a code under any prior, and improved precision/recall of samples, each
checked against an independent computation (torch.distributions, a closed-form KL, a brute-force loop)."""
import math

import numpy as np
import pytest
import torch
from torch import distributions as D

from thesis_code.evaluate import log_likelihood, precision_recall, rate
from thesis_code.models.vae import VAE, VAEConfig, ConditionalVAE


def _vamp(n_pseudo=7, latent=3, seed=0):
    torch.manual_seed(seed)
    m = VAE(VAEConfig(latent_dim=latent, hidden=(16,), prior="vamp", n_pseudo=n_pseudo, estimator="mc"))
    with torch.no_grad():   # pseudo-inputs spread over [0, 1] so the components differ
        m.pseudo_inputs.uniform_(0, 1)
    return m.eval()


def test_vamp_log_prior_is_the_mixture_of_encoded_pseudo_inputs():
    m = _vamp()
    with torch.no_grad():
        mu, logvar = m.encode(m.pseudo_inputs.clamp(0, 1))
        mix = D.MixtureSameFamily(D.Categorical(torch.ones(len(mu))),
                                  D.Independent(D.Normal(mu, torch.exp(0.5 * logvar)), 1))
        z = torch.randn(4, 5, 3) * 2
        assert torch.allclose(m.log_prior(z), mix.log_prob(z), atol=1e-4)


def test_vamp_prior_samples_follow_the_mixture():
    m = _vamp(n_pseudo=3)
    with torch.no_grad():
        mu, logvar = m.encode(m.pseudo_inputs.clamp(0, 1))
        z = m._prior_sample(200_000, torch.Generator().manual_seed(1))
    mean = mu.mean(0)
    second = (torch.exp(logvar) + mu ** 2).mean(0)      # E z^2 of an equal-weight mixture
    assert torch.allclose(z.mean(0), mean, atol=0.02)
    assert torch.allclose(z.pow(2).mean(0), second, atol=0.03)


def test_rate_under_a_one_component_vamp_prior_is_the_gaussian_kl():
    # With one pseudo-input p(z) = q(z | u), so KL(q(z|x) || p(z)) has a closed form; rate() uses
    # Monte Carlo for any non-standard prior.
    m = _vamp(n_pseudo=1)
    x = torch.rand(6, 1, 28, 28).round()
    with torch.no_grad():
        mu, logvar = m.encode(x)
        mu0, logvar0 = m.encode(m.pseudo_inputs.clamp(0, 1))
        exact = D.kl_divergence(D.Normal(mu, torch.exp(0.5 * logvar)),
                                D.Normal(mu0, torch.exp(0.5 * logvar0))).sum(-1)
    mc = rate(m, x, n_samples=20_000)
    assert torch.allclose(mc, exact, rtol=0.05, atol=0.02)


def test_rate_standard_prior_matches_torch_kl():
    torch.manual_seed(0)
    m = VAE(VAEConfig(latent_dim=4, hidden=(16,))).eval()
    x = torch.rand(5, 1, 28, 28).round()
    with torch.no_grad():
        mu, logvar = m.encode(x)
        exact = D.kl_divergence(D.Normal(mu, torch.exp(0.5 * logvar)), D.Normal(0.0, 1.0)).sum(-1)
    assert torch.allclose(rate(m, x), exact, atol=1e-5)


def test_vamp_importance_sampled_likelihood_matches_brute_force_on_tiny_model():
    # log p(x) = log E_{p(z)} p(x|z): a huge plain Monte Carlo average from the prior agrees with the
    # importance-sampled estimate (which uses q and log_prior) for a 1-d latent.
    m = _vamp(n_pseudo=4, latent=1)
    x = torch.rand(2, 1, 28, 28).round()
    with torch.no_grad():
        est = log_likelihood(m, x, k=4000)
        z = m._prior_sample(200_000, torch.Generator().manual_seed(3))
        lp = torch.stack([m.log_px_given_z(xi.expand(len(z), -1, -1, -1), z) for xi in x])
        brute = torch.logsumexp(lp, dim=1) - math.log(len(z))
    assert torch.allclose(est, brute, atol=0.05)


def test_vamp_config_errors():
    with pytest.raises(ValueError, match="closed-form KL"):
        VAEConfig(prior="vamp")
    with pytest.raises(ValueError, match="prior must be"):
        VAEConfig(prior="flow")
    with pytest.raises(ValueError, match="unconditional"):
        ConditionalVAE(VAEConfig(prior="vamp", estimator="mc"))


def test_vamp_vae_trains_one_step_and_pseudo_inputs_move():
    m = _vamp().train()
    before = m.pseudo_inputs.detach().clone()
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    loss, metrics = m.loss(torch.rand(8, 1, 28, 28).round())
    loss.backward()
    opt.step()
    assert math.isfinite(metrics["kl"]) and not torch.equal(before, m.pseudo_inputs)


def _brute_pr(real, fake, k):
    def radii(a):
        d = np.sqrt(((a[:, None] - a[None]) ** 2).sum(-1))
        return np.sort(d, axis=1)[:, k]          # column 0 is the point itself
    def inside(q, s, r):
        d = np.sqrt(((q[:, None] - s[None]) ** 2).sum(-1))
        return (d <= r[None]).any(1).mean()
    return inside(fake, real, radii(real)), inside(real, fake, radii(fake))


def test_precision_recall_against_brute_force():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(150, 4))
    fake = rng.normal(loc=0.7, scale=0.6, size=(120, 4))
    pr = precision_recall(real, fake, k=3, batch=37)
    p, r = _brute_pr(real, fake, 3)
    assert pr.precision == pytest.approx(p) and pr.recall == pytest.approx(r)
    assert 0 < pr.precision < 1 and 0 < pr.recall < 1


def test_precision_recall_extremes():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(100, 3))
    same = precision_recall(real, real.copy())
    assert same.precision == 1.0 and same.recall == 1.0
    far = precision_recall(real, real + 100.0)
    assert far.precision == 0.0 and far.recall == 0.0
    # a generator that covers only part of the data: high precision, low recall
    part = real[real[:, 0] > 1.0]
    pr = precision_recall(real, part)
    assert pr.precision > 0.9 and pr.recall < 0.5
    with pytest.raises(ValueError, match="same F"):
        precision_recall(real, real[:, :2])

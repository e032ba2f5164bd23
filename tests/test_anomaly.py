"""Section 3.4: one-class splits and the anomaly scores, each against an independent computation."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import distributions as D

from thesis_code import evaluate
from thesis_code.models.vae import VAE, VAEConfig


# ------------------------------------------------------------------ one-class splits
def _fake_load(name, split="train", *, limit=None, flatten=False):
    g = torch.Generator().manual_seed(0 if split == "train" else 1)
    n = 200 if split == "train" else 100
    y = torch.arange(n) % 10
    x = y.float().view(n, 1, 1, 1).expand(n, 1, 28, 28) / 10 + 0.01 * torch.rand(n, 1, 28, 28, generator=g)
    if limit is not None:
        x, y = x[:limit], y[:limit]
    return x.contiguous(), y


def test_one_class_split_keeps_only_the_normal_class(monkeypatch):
    from thesis_code.data import one_class
    monkeypatch.setattr(one_class, "load", _fake_load)
    s = one_class.one_class_split("mnist", 3)
    x_tr, y_tr = _fake_load("mnist", "train")
    x_te, y_te = _fake_load("mnist", "test")
    assert torch.equal(s.x_train, x_tr[y_tr == 3]) and len(s.x_train) == 20
    assert torch.equal(s.x_test, x_te) and torch.equal(s.y_test, y_te)
    assert s.is_anomaly.dtype == torch.bool
    assert torch.equal(s.is_anomaly, torch.tensor([int(v) != 3 for v in y_te]))
    assert int((~s.is_anomaly).sum()) == 10
    assert len(one_class.one_class_split("mnist", 3, limit=5).x_train) == 5


@pytest.mark.parametrize("bad", [-1, 10, 2.0, True, "3"])
def test_one_class_split_rejects_unknown_classes(monkeypatch, bad):
    from thesis_code.data import one_class
    monkeypatch.setattr(one_class, "load", _fake_load)
    with pytest.raises(ValueError, match="normal_class must be an int in 0..9"):
        one_class.one_class_split("mnist", bad)


def test_one_class_split_rejects_unknown_data_set():
    from thesis_code.data.one_class import one_class_split
    with pytest.raises(ValueError, match="unknown data set 'cifar10'"):
        one_class_split("cifar10", 0)


# ------------------------------------------------------------------ AUROC of a known ranking
def test_auroc_of_a_known_ranking():
    # labels 0 0 1 0 1 1 by increasing score: of the 9 (anomaly, normal) pairs, 8 are ordered correctly
    scores = np.arange(6.0)
    labels = np.array([0, 0, 1, 0, 1, 1])
    pairs = [(a, n) for a in scores[labels == 1] for n in scores[labels == 0]]
    brute = sum(a > n for a, n in pairs) / len(pairs)
    assert brute == pytest.approx(8 / 9)
    assert evaluate.auroc(scores, labels) == pytest.approx(brute)
    assert evaluate.auroc(-scores, labels) == pytest.approx(1 - brute)


# ------------------------------------------------------------------ scores of a VAE
@pytest.fixture(scope="module")
def tiny_vae():
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=3, hidden=(16,), likelihood="gaussian", sigma=0.3)).eval()
    x = torch.rand(7, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    return model, x


def test_kl_term_matches_torch_distributions(tiny_vae):
    model, x = tiny_vae
    s = evaluate.vae_scores(model, x, k=3)
    mu, logvar = model.encode(x)
    q = D.Normal(mu, torch.exp(0.5 * logvar))
    p = D.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    expected = D.kl_divergence(q, p).sum(-1)
    torch.testing.assert_close(s["kl"], expected.detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(evaluate.kl_score(mu, logvar), expected, rtol=1e-5, atol=1e-5)


def test_nll_score_matches_the_importance_sampled_likelihood(tiny_vae):
    # the independent implementation (evaluate.likelihood.log_likelihood, chunked logaddexp over K and
    # torch.distributions for q) draws the same noise for the same seed and batch size: equal estimates
    model, x = tiny_vae
    s = evaluate.vae_scores(model, x, k=64, batch_size=4, seed=5)
    ref = -evaluate.log_likelihood(model, x, k=64, batch_size=4, chunk=7, seed=5)
    torch.testing.assert_close(s["nll"], ref, rtol=1e-5, atol=1e-3)
    # and the reconstruction score is the squared error of the decoder mean at mu
    mu, _ = model.encode(x)
    torch.testing.assert_close(s["reconstruction"], ((model.decode_mean(mu) - x) ** 2).flatten(1).sum(1).detach())
    # Jensen: with the same K draws, log mean w >= mean log w, and mean log w is the ELBO with a Monte
    # Carlo KL; the analytic-KL ELBO differs from it only by Monte Carlo noise, small at K=64 here
    assert (s["neg_elbo"] >= s["nll"] - 1.0).all()


def test_aggregate_posterior_matches_a_brute_force_mixture():
    g = torch.Generator().manual_seed(3)
    mu_tr, logvar_tr = torch.randn(50, 4, generator=g), 0.5 * torch.randn(50, 4, generator=g)
    z = torch.randn(9, 4, generator=g)
    mixture = D.MixtureSameFamily(D.Categorical(logits=torch.zeros(50)),
                                  D.Independent(D.Normal(mu_tr, torch.exp(0.5 * logvar_tr)), 1))
    torch.testing.assert_close(evaluate.aggregate_posterior_nll(z, mu_tr, logvar_tr, batch_size=4),
                               -mixture.log_prob(z), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="expected z"):
        evaluate.aggregate_posterior_nll(z[:, :3], mu_tr, logvar_tr)


def test_likelihood_ratio_sign_on_a_toy_case():
    # normal data ~ N(0, 1), background ~ N(0, 3^2): a point near 0 is better explained by the class
    # model (low score), a point at 5 by the background (high score), whatever the absolute densities.
    model, background = D.Normal(0.0, 1.0), D.Normal(0.0, 3.0)
    x = torch.tensor([0.1, 5.0])
    s = evaluate.likelihood_ratio_score(model.log_prob(x), background.log_prob(x))
    assert s[0] < 0 < s[1]
    torch.testing.assert_close(s, (background.log_prob(x) - model.log_prob(x)).double())


def test_complexity_bits_orders_simple_below_cluttered_and_the_correction():
    blank = torch.zeros(1, 1, 28, 28)
    noise = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    bits = evaluate.complexity_bits(torch.cat([blank, noise]))
    assert 0 < bits[0] < bits[1]
    assert bits[1] > 8 * 28 * 28 * 0.8   # uniform noise is nearly incompressible (~8 bits a pixel)
    # S = -log2 P(x) - L(x), and the density -> 8-bit probability conversion adds D log2(256) bits
    nll_nats = torch.tensor([100.0, 50.0])
    nll_bits = evaluate.discretized_nll_bits(nll_nats, dims=784)
    torch.testing.assert_close(nll_bits, nll_nats.double() / math.log(2) + 784 * 8)
    torch.testing.assert_close(evaluate.complexity_corrected_score(nll_bits, bits), nll_bits - bits)
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        evaluate.complexity_bits(torch.zeros(2, 784))


# ------------------------------------------------------------------ section 3.4's detectors (chapter module)
def test_kde_baseline_matches_scikit_learn_and_a_direct_sum():
    from sklearn.neighbors import KernelDensity

    from thesis_code.chapters.anomaly import gaussian_kde_nll
    rng = np.random.default_rng(0)
    x_fit, x = rng.random((60, 40)), rng.random((25, 40))
    h = 0.7
    ours = gaussian_kde_nll(x_fit, x, h, batch_size=7)
    ref = -KernelDensity(kernel="gaussian", bandwidth=h).fit(x_fit).score_samples(x)
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-8)
    # the mixture of n isotropic Gaussians, summed term by term with scipy
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal
    terms = np.stack([multivariate_normal(m, h ** 2 * np.eye(40)).logpdf(x) for m in x_fit])
    np.testing.assert_allclose(ours, -(logsumexp(terms, axis=0) - np.log(60)), rtol=1e-10)
    with pytest.raises(ValueError, match="same D"):
        gaussian_kde_nll(x_fit, x[:, :3], h)
    with pytest.raises(ValueError, match="bandwidth must be positive"):
        gaussian_kde_nll(x_fit, x, 0.0)


def test_encoder_pass_for_the_aggregate_posterior_matches_vae_scores(tiny_vae):
    from thesis_code.chapters.anomaly import _encode
    model, x = tiny_vae
    model.train()
    enc = _encode(model, x, batch_size=3)
    ref = evaluate.vae_scores(model, x, k=1)
    assert model.training   # the mode is restored
    torch.testing.assert_close(enc["mu"], ref["mu"])
    torch.testing.assert_close(enc["logvar"], ref["logvar"])
    model.eval()

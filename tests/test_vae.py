"""The VAE family: the model protocol of ARCHITECTURE.md (shapes, errors), the likelihoods against
torch.distributions, the loss against the ELBO, and the two estimators against each other."""
import math

import pytest
import torch
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence

from thesis_code.models import IWAE, VAE, BetaVAE, ConditionalVAE, VAEConfig

torch.set_num_threads(1)
SMALL = dict(latent_dim=3, hidden=(16,), channels=4)
CONFIGS = [
    VAEConfig(**SMALL),
    VAEConfig(**SMALL, arch="conv"),
    VAEConfig(**SMALL, likelihood="gaussian"),
    VAEConfig(**SMALL, arch="conv", likelihood="gaussian", learn_variance=True),
    VAEConfig(**SMALL, estimator="mc", n_samples=3),
]


def images(n=6, seed=0):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("cls", [VAE, BetaVAE, IWAE])
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.arch}-{c.likelihood}-{c.estimator}")
def test_protocol_shapes(cls, cfg):
    torch.manual_seed(0)
    model, x = cls(cfg), images()
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (6, 3) and model.latent_dim == 3
    assert model.input_shape == (1, 28, 28)
    z = model.reparameterize(mu, logvar)
    assert z.shape == (6, 3)
    params = model.decode(z)
    if cfg.likelihood == "bernoulli":
        assert params.shape == (6, 1, 28, 28)
    else:
        assert params[0].shape == params[1].shape == (6, 1, 28, 28)
    assert model.log_px_given_z(x, z).shape == (6,)
    assert model.log_px_given_z(x, model.reparameterize(mu, logvar, n=4)).shape == (4, 6)
    assert model.log_prior(z).shape == (6,)
    assert model.elbo(x).shape == (6,)
    assert model.reconstruct(x).shape == (6, 1, 28, 28)
    assert model.decode_mean(z).shape == (6, 1, 28, 28)
    s = model.sample(5, generator=torch.Generator().manual_seed(1))
    assert s.shape == (5, 1, 28, 28) and 0 <= s.min() and s.max() <= 1
    torch.testing.assert_close(s, model.sample(5, generator=torch.Generator().manual_seed(1)))
    loss, metrics = model.loss(x)
    assert loss.dim() == 0 and set(metrics) == {"loss", "rec", "kl"}
    assert all(isinstance(v, float) for v in metrics.values())
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_wrong_shapes_name_the_expected_shape():
    model = VAE(VAEConfig(**SMALL))
    with pytest.raises(ValueError, match=r"expected input of shape \(B, 1, 28, 28\), got \(6, 784\)"):
        model.loss(images().flatten(1))
    with pytest.raises(ValueError, match=r"\(B, 3\)"):
        model.decode(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="floating-point"):
        model.encode((images() * 255).to(torch.uint8))


def test_likelihoods_match_torch_distributions():
    torch.manual_seed(1)
    x, z = images(), torch.randn(6, 3)
    bern = VAE(VAEConfig(**SMALL))
    xb = torch.bernoulli(x)
    torch.testing.assert_close(bern.log_px_given_z(xb, z),
                               Bernoulli(logits=bern.decode(z)).log_prob(xb).sum((1, 2, 3)))
    gauss = VAE(VAEConfig(**SMALL, likelihood="gaussian", sigma=0.2))
    mean, logvar = gauss.decode(z)
    torch.testing.assert_close(logvar, torch.full_like(mean, 2 * math.log(0.2)))
    torch.testing.assert_close(gauss.log_px_given_z(x, z), Normal(mean, 0.2).log_prob(x).sum((1, 2, 3)))
    torch.testing.assert_close(gauss.log_prior(z), Normal(0.0, 1.0).log_prob(z).sum(1))


def record_z(model):
    """Wrap model.reparameterize so that the z its loss draws can be read back: the reference computations
    below use the same z, but compute every density themselves with torch.distributions."""
    drawn, original = [], model.reparameterize

    def reparameterize(*args, **kwargs):
        drawn.append(original(*args, **kwargs))
        return drawn[-1]
    model.reparameterize = reparameterize
    return drawn


def binary_images(n=6, seed=0):
    return torch.bernoulli(images(n, seed), generator=torch.Generator().manual_seed(seed + 100))


@pytest.mark.parametrize("estimator", ["analytic", "mc"])
@pytest.mark.parametrize("beta", [1.0, 4.0])
def test_loss_is_negative_elbo_with_beta_weighted_kl(beta, estimator):
    """loss = mean_b [ -(1/L) sum_l log p(x_b|z_bl) + beta KL(q(z|x_b) || N(0, I)) ] (Kingma & Welling
    2013, eq. 7; Higgins et al. 2017), recomputed from torch.distributions on the z the loss drew."""
    torch.manual_seed(2)
    model, x = VAE(VAEConfig(**SMALL, beta=beta, estimator=estimator, n_samples=3)), binary_images()
    drawn = record_z(model)
    loss, m = model.loss(x)
    assert len(drawn) == 1
    z = drawn[0].reshape(-1, *drawn[0].shape[-2:])                 # (L, B, D)
    with torch.no_grad():
        mu, logvar = model.encode(x)
        q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
        prior = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
        rec = torch.stack([Independent(Bernoulli(logits=model.decode(zl)), 3).log_prob(x) for zl in z]).mean(0)
        if estimator == "analytic":
            kl = kl_divergence(q, prior)                                   # closed form
        else:
            kl = (q.log_prob(z) - prior.log_prob(z)).mean(0)               # the same samples, estimator A
        expected = -rec.mean() + beta * kl.mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert m["rec"] == pytest.approx(-rec.mean().item(), rel=1e-5)
    assert m["kl"] == pytest.approx(kl.mean().item(), rel=1e-5)


def test_iwae_loss_is_the_k_sample_bound_from_torch_distributions():
    """-loss = mean_b log (1/K) sum_k p(x_b|z_k) p(z_k) / q(z_k|x_b) (Burda et al. 2015, eq. 8)."""
    torch.manual_seed(6)
    k = 7
    model, x = IWAE(VAEConfig(**SMALL, k=k)), binary_images(4)
    drawn = record_z(model)
    loss, _ = model.loss(x)
    z = drawn[0]                                                   # (K, B, D)
    assert z.shape == (k, 4, 3)
    with torch.no_grad():
        mu, logvar = model.encode(x)
        log_w = (Independent(Bernoulli(logits=model.decode(z)), 3).log_prob(x)
                 + Normal(0.0, 1.0).log_prob(z).sum(-1)
                 - Independent(Normal(mu, torch.exp(0.5 * logvar)), 1).log_prob(z))
        bound = torch.logsumexp(log_w, dim=0) - math.log(k)
    assert loss.item() == pytest.approx(-bound.mean().item(), rel=1e-5)


def test_analytic_and_mc_estimators_agree_in_expectation():
    torch.manual_seed(3)
    a = VAE(VAEConfig(**SMALL, estimator="analytic"))
    b = VAE(VAEConfig(**SMALL, estimator="mc"))
    b.load_state_dict(a.state_dict())
    x = images(2)
    with torch.no_grad():
        ea = torch.stack([a.elbo(x) for _ in range(2000)])
        eb = torch.stack([b.elbo(x) for _ in range(2000)])
    se = torch.sqrt(ea.var(0) / 2000 + eb.var(0) / 2000)
    assert (abs(ea.mean(0) - eb.mean(0)) < 4 * se).all(), (ea.mean(0), eb.mean(0), se)


def test_iwae_loss_is_the_k_sample_bound_and_tighter_than_the_elbo():
    torch.manual_seed(4)
    model, x = IWAE(VAEConfig(**SMALL, k=20)), images(3)
    with torch.no_grad():
        elbo = torch.stack([model.elbo(x) for _ in range(300)])
        iwae = torch.stack([model.iwae_bound(x) for _ in range(300)])
        torch.manual_seed(5)
        loss, _ = model.loss(x)
        torch.manual_seed(5)
        assert loss.item() == pytest.approx(-model.iwae_bound(x).mean().item(), rel=1e-6)
    se = torch.sqrt(elbo.var(0) / 300 + iwae.var(0) / 300)
    assert (iwae.mean(0) - elbo.mean(0) > 4 * se).all()


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_conditional_vae(arch):
    torch.manual_seed(5)
    model, x, y = ConditionalVAE(VAEConfig(**SMALL, arch=arch)), images(), torch.arange(6)
    mu, _ = model.encode(x, y)
    assert mu.shape == (6, 3)
    assert model.elbo(x, y).shape == (6,) and model.reconstruct(x, y).shape == (6, 1, 28, 28)
    loss, metrics = model.loss(x, y)
    loss.backward()
    assert model.sample(4, 7).shape == (4, 1, 28, 28)
    assert model.sample(2, torch.tensor([1, 2])).shape == (2, 1, 28, 28)
    # the label changes the decoding of the same z
    z = torch.randn(1, 3)
    assert not torch.allclose(model.decode_mean(z, torch.tensor([0])), model.decode_mean(z, torch.tensor([1])))
    with pytest.raises(ValueError, match="labels"):
        model.loss(x)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):
        model.loss(x, torch.full((6,), 10))


def test_config_validation():
    with pytest.raises(ValueError, match="arch"):
        VAEConfig(arch="rnn")
    with pytest.raises(ValueError, match="28, 28"):
        VAEConfig(arch="conv", input_shape=(10,))
    flat = VAE(VAEConfig(**SMALL, input_shape=(7,), likelihood="gaussian", gaussian_mean="identity"))
    assert flat.elbo(torch.randn(4, 7)).shape == (4,)

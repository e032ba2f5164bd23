"""Adversarial autoencoder and GAN: phases, losses against direct formulas, priors, a toy fit."""
import math

import pytest
import torch
from torch import distributions as D

from thesis_code.models import (GAN, AAEConfig, AdversarialAE, GANConfig, MixtureOfGaussiansPrior,
                                StandardNormalPrior)
from thesis_code.train import TrainConfig, fit

torch.set_num_threads(1)


def small_images(n=16, seed=0):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def small_aae(**kw):
    return AdversarialAE(AAEConfig(hidden=(32,), disc_hidden=(16,), **kw))


def small_gan(**kw):
    return GAN(GANConfig(noise_dim=4, g_hidden=(16,), d_hidden=(16,), **kw))


def has_metric(history, phase, key):
    """The trainer names a metric ``key``, or ``phase/key`` when several phases report the same name."""
    return key in history or f"{phase}/{key}" in history


def run_phase_step(model, phase, x):
    """One optimizer step of a phase, as the trainer does it; returns {name: changed?} for all params."""
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = None
    loss, _ = phase.loss_fn(x, None)
    loss.backward()
    torch.optim.Adam(list(phase.parameters), lr=1e-2).step()
    return {n: not torch.equal(before[n], p) for n, p in model.named_parameters()}


@pytest.mark.parametrize("encoder", ["deterministic", "gaussian", "universal"])
def test_aae_phases_update_only_their_own_parameters(encoder):
    torch.manual_seed(0)
    model = small_aae(encoder=encoder)
    x = small_images(8)
    names = [p.name for p in model.phases()]
    assert names == ["reconstruction", "discriminator", "generator"]
    owners = {"reconstruction": ("encoder.", "decoder."), "discriminator": ("discriminator.",),
              "generator": ("encoder.",)}
    for phase in model.phases():
        changed = run_phase_step(model, phase, x)
        for name, moved in changed.items():
            assert moved == name.startswith(owners[phase.name]), (phase.name, name)
        if phase.name == "generator":  # D is frozen while the encoder's graph is built
            assert all(p.grad is None for p in model.discriminator.parameters())
            assert all(p.requires_grad for p in model.discriminator.parameters())  # and unfrozen after


def test_gan_phases_update_only_their_own_parameters():
    torch.manual_seed(0)
    model = small_gan()
    x = small_images(8)
    phases = model.phases()
    assert [p.name for p in phases] == ["discriminator", "generator"]
    for phase, owner in zip(phases, ("discriminator.", "generator.")):
        changed = run_phase_step(model, phase, x)
        for name, moved in changed.items():
            assert moved == name.startswith(owner), (phase.name, name)
    assert all(p.grad is None for p in model.discriminator.parameters())  # after the generator phase


def test_gan_losses_match_the_value_function():
    torch.manual_seed(0)
    for kind in ("non_saturating", "minimax"):
        model = small_gan(generator_loss=kind)
        x = small_images(32)
        torch.manual_seed(1)
        d_loss, metrics = model.discriminator_loss(x)
        torch.manual_seed(1)
        fake = model.generate(torch.randn(32, 4))
        d_real, d_fake = torch.sigmoid(model.discriminate(x)), torch.sigmoid(model.discriminate(fake))
        value = torch.log(d_real).mean() + torch.log(1 - d_fake).mean()  # V(D, G), eq. 1
        assert d_loss.item() == pytest.approx(-value.item(), rel=1e-5)
        assert metrics["d_real"] == pytest.approx(d_real.mean().item(), rel=1e-5)

        torch.manual_seed(2)
        g_loss, _ = model.generator_loss(x)
        torch.manual_seed(2)
        d_gz = torch.sigmoid(model.discriminate(model.generate(torch.randn(32, 4))))
        expected = -torch.log(d_gz).mean() if kind == "non_saturating" else torch.log(1 - d_gz).mean()
        assert g_loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_gan_fit_moves_generated_mean_toward_data_mean():
    torch.manual_seed(0)
    data = 4.0 + 0.5 * torch.randn(2048, 1)
    model = GAN(GANConfig(noise_dim=2, g_hidden=(32, 32), d_hidden=(32, 32), output="linear",
                          input_shape=(1,)))
    gap_before = abs(model.sample(2000, torch.Generator().manual_seed(0)).mean().item() - 4.0)
    history = fit(model, data, config=TrainConfig(epochs=20, batch_size=128, lr=2e-3, betas=(0.5, 0.999),
                                                  progress=False))
    gap_after = abs(model.sample(2000, torch.Generator().manual_seed(0)).mean().item() - 4.0)
    assert gap_before > 3.0
    assert gap_after < 0.2  # measured 0.008 after 20 epochs (the data's own sample mean is 4 +- 0.01)
    assert has_metric(history, "discriminator", "d_loss") and has_metric(history, "generator", "g_loss")


def test_mog_prior_components_have_the_right_means():
    K, radius, std = 10, 4.0, 0.5
    prior = MixtureOfGaussiansPrior(K, radius, std)
    z, k = prior.sample_with_components(40_000, torch.Generator().manual_seed(0))
    assert z.shape == (40_000, 2)
    for j in range(K):
        zj = z[k == j]
        expected = torch.tensor([radius * math.cos(2 * math.pi * j / K), radius * math.sin(2 * math.pi * j / K)])
        se = std / math.sqrt(len(zj))
        assert (zj.mean(0) - expected).abs().max() < 5 * se
        assert (zj.std(0) - std).abs().max() < 5 * std / math.sqrt(2 * len(zj))
        assert abs(len(zj) / len(z) - 1 / K) < 5 * math.sqrt((1 / K) * (1 - 1 / K) / len(z))


def test_prior_log_probs_match_torch_distributions():
    prior = MixtureOfGaussiansPrior(6, 3.0, 0.7)
    mix = D.MixtureSameFamily(D.Categorical(torch.ones(6)),
                              D.Independent(D.Normal(prior.means, 0.7 * torch.ones(6, 2)), 1))
    z = torch.randn(50, 2) * 3
    torch.testing.assert_close(prior.log_prob(z), mix.log_prob(z), rtol=1e-5, atol=1e-5)
    normal = StandardNormalPrior(3)
    z = torch.randn(50, 3)
    torch.testing.assert_close(normal.log_prob(z), D.Normal(0.0, 1.0).log_prob(z).sum(-1))


def test_aae_shapes_sampling_and_reparameterization():
    torch.manual_seed(0)
    model = small_aae(encoder="gaussian", prior="mog")
    x = small_images(4)
    assert model.encode(x).shape == (4, 2) and model(x).shape == (4, 1, 28, 28)
    s = model.sample(5, torch.Generator().manual_seed(0))
    assert s.shape == (5, 1, 28, 28) and s.min() >= 0 and s.max() <= 1
    # z = mu + sigma * eps: many draws for one x have mean mu and std exp(logvar / 2)
    x1 = x[:1].expand(20_000, 1, 28, 28)
    with torch.no_grad():
        mu, logvar = model.posterior(x[:1])
        z = model.encode_sample(x1)
    sigma = torch.exp(0.5 * logvar[0])
    assert ((z.mean(0) - mu[0]).abs() < 5 * sigma / math.sqrt(len(z))).all()
    assert ((z.std(0) - sigma).abs() < 5 * sigma / math.sqrt(2 * len(z))).all()


def test_aae_fit_runs_three_phases_and_reconstruction_improves():
    torch.manual_seed(0)
    x = small_images(256)
    x = (x > 0.7).float() * x  # some structure: sparse bright pixels
    model = small_aae(prior="mog")
    with torch.no_grad():
        before = model.loss(x)[0].item()
    history = fit(model, x, config=TrainConfig(epochs=4, batch_size=64, lr=2e-3, progress=False))
    with torch.no_grad():
        after = model.loss(x)[0].item()
    assert after < before
    assert has_metric(history, "reconstruction", "rec") and has_metric(history, "discriminator", "d_loss")
    assert has_metric(history, "generator", "g_loss")


def test_wrong_shapes_and_bad_configs():
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        small_aae().loss(torch.rand(3, 784))
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        small_gan().discriminator_loss(torch.rand(3, 28, 28))
    with pytest.raises(ValueError, match=r"\(B, 4\)"):
        small_gan().generate(torch.rand(3, 5))
    with pytest.raises(ValueError, match="2-D"):
        AAEConfig(prior="mog", latent_dim=3)
    with pytest.raises(ValueError):
        GANConfig(generator_loss="wasserstein")


def test_universal_encoder_is_a_noisy_function_of_x():
    """z = f(x, eta), eta ~ N(0, I) concatenated to the input (Makhzani et al. 2015, sec. 2)."""
    torch.manual_seed(0)
    model = small_aae(encoder="universal", latent_dim=3, noise_dim=5)
    assert model.encoder[1][0].in_features == 784 + 5
    x = small_images(1).expand(64, 1, 28, 28)          # one image, 64 draws of the noise
    with torch.no_grad():
        z = model.encode_sample(x, generator=torch.Generator().manual_seed(1))
        z_again = model.encode_sample(x, generator=torch.Generator().manual_seed(1))
        # the same computation by hand: the first Linear layer sees [pixels, eta]
        eta = torch.randn(64, 5, generator=torch.Generator().manual_seed(1))
        by_hand = model.encoder[1](torch.cat([x.flatten(1), eta], 1))
        code = model.encode(x[:1])
        code_by_hand = model.encoder[1](torch.cat([x[:1].flatten(1), torch.zeros(1, 5)], 1))
    assert z.shape == (64, 3)
    assert z.std(0).min() > 1e-3                        # different z for the same x
    torch.testing.assert_close(z, z_again)              # seeded
    torch.testing.assert_close(z, by_hand)
    torch.testing.assert_close(code, code_by_hand)      # encode(x) = f(x, 0)
    # one training step through the trainer: every phase runs and the reconstruction improves
    # over a few epochs on structured data
    data = small_images(128)
    data = (data > 0.7).float() * data
    with torch.no_grad():
        before = model.reconstruction_error(data, model.encode(data)).mean().item()
    history = fit(model, data, config=TrainConfig(epochs=3, batch_size=32, lr=2e-3, progress=False))
    with torch.no_grad():
        after = model.reconstruction_error(data, model.encode(data)).mean().item()
    assert after < before and has_metric(history, "generator", "g_loss")
    with pytest.raises(ValueError, match="noise"):
        model.encoder(model._encoder_input(x[:2], torch.zeros(2, 4)))
    with pytest.raises(ValueError, match="mlp"):
        AAEConfig(encoder="universal", arch="conv")
    with pytest.raises(ValueError, match="universal"):
        AAEConfig(encoder="flow")


def test_mmd_matches_the_closed_form_for_two_gaussians():
    """For P = N(m1, s^2 I_d), Q = N(m2, s^2 I_d) and k(x, y) = exp(-|x - y|^2 / (2 h^2)):
    E k(x, x') over independent x ~ N(a, s^2 I), x' ~ N(b, s^2 I) is
    (h^2 / (h^2 + 2 s^2))^{d/2} exp(-|a - b|^2 / (2 (h^2 + 2 s^2))), so MMD^2 = 2 c(0) - 2 c(m1 - m2)."""
    from thesis_code.chapters.vae_studies import mmd_rbf
    d, s, hs = 3, 0.8, (0.7, 1.5)
    m1, m2 = torch.zeros(d), torch.tensor([1.0, -0.5, 0.25])

    def c(delta):
        return sum((h ** 2 / (h ** 2 + 2 * s ** 2)) ** (d / 2)
                   * math.exp(-float(delta.pow(2).sum()) / (2 * (h ** 2 + 2 * s ** 2))) for h in hs)

    exact = 2 * c(torch.zeros(d)) - 2 * c(m1 - m2)
    g = torch.Generator().manual_seed(0)
    est = [mmd_rbf(m1 + s * torch.randn(1500, d, generator=g), m2 + s * torch.randn(1500, d, generator=g), hs)
           for _ in range(4)]
    assert abs(sum(est) / 4 - exact) < 0.05 * exact
    same = [mmd_rbf(s * torch.randn(1500, d, generator=g), s * torch.randn(1500, d, generator=g), hs)
            for _ in range(4)]
    assert abs(sum(same) / 4) < 0.05 * exact           # unbiased: about 0 for equal distributions
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        mmd_rbf(torch.zeros(5, 2), torch.zeros(5, 3))

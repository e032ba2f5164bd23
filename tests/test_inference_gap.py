"""The inference gap split (Cremer et al. 2018) against the exact linear-Gaussian model, where log p(x),
the posterior and the ELBO of any diagonal Gaussian q are closed form (thesis_code.linear_gaussian)."""
import math

import pytest
import torch
from torch import nn

from thesis_code import evaluate
from thesis_code.evaluate.inference_gap import inference_gaps, optimal_local_posterior
from thesis_code.linear_gaussian import DiagonalGaussianEncoder, LinearGaussianModel
from thesis_code.models.vae import VAE, VAEConfig

torch.set_num_threads(1)


class LinearVAE(nn.Module):
    """A VAE-like object: the exact linear-Gaussian decoder with a (deliberately poor) linear encoder."""

    def __init__(self, lg: LinearGaussianModel, seed: int = 0):
        super().__init__()
        self.lg = lg
        torch.manual_seed(seed)
        self.enc = DiagonalGaussianEncoder(lg.data_dim, lg.latent_dim)

    def encode(self, x):
        return self.enc.encode(x)

    def log_px_given_z(self, x, z):
        return self.lg.log_px_given_z(x, z)

    def log_prior(self, z):
        return self.lg.log_prior(z)


def orthogonal_model(D=6, d=3, sigma=0.5, seed=0):
    """W with orthogonal columns: the posterior covariance (I + W^T W / s^2)^-1 is diagonal, so the
    diagonal family contains the exact posterior."""
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(D, d, generator=g, dtype=torch.float64))
    W = Q * torch.tensor([2.0, 1.0, 0.5], dtype=torch.float64)[:d]
    return LinearGaussianModel(W, torch.randn(D, generator=g, dtype=torch.float64), sigma)


def test_q_star_reaches_the_exact_posterior_and_log_px():
    lg = orthogonal_model()
    model = LinearVAE(lg)
    x = lg.sample(20, torch.Generator().manual_seed(1))[0].detach()
    mean, cov = lg.posterior(x)
    assert torch.allclose(cov, torch.diag(torch.diagonal(cov)))           # the premise of this test
    mu_s, logvar_s = optimal_local_posterior(model, x, steps=3000, lr=0.05, n_samples=32, seed=0)
    torch.testing.assert_close(mu_s, mean, atol=0.05, rtol=0)   # posterior std >= 0.24
    torch.testing.assert_close(logvar_s.exp(), torch.diagonal(cov).expand_as(mu_s), atol=0, rtol=0.1)
    exact = lg.log_marginal(x)
    # closed-form ELBO of q* (no MC): equal to log p(x) when q* is the posterior
    assert (exact - lg.elbo_exact(x, mu_s, logvar_s)).abs().max() < 0.02
    gaps = inference_gaps(model, x, k=2000, steps=3000, lr=0.05, n_samples=32, seed=0)
    assert gaps.approximation_gap.abs().max() < 0.02
    torch.testing.assert_close(gaps.log_px, exact, atol=0.01, rtol=0)
    # the amortized ELBO estimate against its closed form, and the encoder is poor: a real amortization gap
    mu, logvar = model.encode(x)
    torch.testing.assert_close(gaps.elbo_amortized, lg.elbo_exact(x, mu, logvar).detach(),
                               atol=0.5, rtol=0.02)
    assert gaps.amortization_gap.mean() > 1.0


def test_gaps_are_nonnegative_sum_up_and_match_closed_forms_for_a_correlated_posterior():
    lg = LinearGaussianModel.random(8, 3, sigma=0.7, seed=3)   # correlated posterior: a true approximation gap
    model = LinearVAE(lg, seed=1)
    x = lg.sample(16, torch.Generator().manual_seed(2))[0].detach()
    gaps = inference_gaps(model, x, k=20000, steps=1500, lr=0.02, n_samples=32, seed=0)
    mu, logvar = model.encode(x)
    with torch.no_grad():
        total = lg.log_marginal(x) - lg.elbo_exact(x, mu, logvar)
        mu_b, logvar_b = lg.best_diagonal_q(x)
        approx_exact = lg.kl_to_posterior(x, mu_b, logvar_b)           # KL of the best diagonal q
    assert approx_exact.min() > 0.05                                   # the premise: the family is too small
    # the two parts sum to the total, which matches the closed form
    torch.testing.assert_close(gaps.approximation_gap + gaps.amortization_gap, gaps.inference_gap)
    torch.testing.assert_close(gaps.inference_gap, total, atol=0.3, rtol=0.03)
    # each part is >= 0 up to Monte Carlo noise and equals its closed form
    assert (gaps.approximation_gap >= -1e-9).all() and (gaps.amortization_gap > -0.05).all()
    torch.testing.assert_close(gaps.approximation_gap, approx_exact, atol=0.05, rtol=0.1)
    torch.testing.assert_close(gaps.amortization_gap, total - approx_exact, atol=0.3, rtol=0.03)
    # q* is the best diagonal q (Cremer et al.'s q*): posterior mean, variances 1 / Lambda_jj
    torch.testing.assert_close(gaps.mu_optimal, mu_b, atol=0.03, rtol=0)
    torch.testing.assert_close(gaps.logvar_optimal, logvar_b, atol=0.1, rtol=0)


def test_on_a_vae_model_parameters_untouched_and_seeded():
    torch.manual_seed(0)
    vae = VAE(VAEConfig(latent_dim=2, hidden=(16,)))
    x = (torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    before = [p.detach().clone() for p in vae.parameters()]
    a = evaluate.inference_gaps(vae, x, k=50, steps=20, n_samples=4, seed=3, batch_size=4)
    b = evaluate.inference_gaps(vae, x, k=50, steps=20, n_samples=4, seed=3, batch_size=4)
    assert all(torch.equal(p, q) for p, q in zip(before, vae.parameters()))
    assert all(p.requires_grad for p in vae.parameters())
    torch.testing.assert_close(a.log_px, b.log_px)
    assert a.log_px.shape == (6,) and set(a.summary()) >= {"approximation_gap", "amortization_gap"}
    # the amortized ELBO estimate agrees with the model's own ELBO (analytic KL) up to MC noise
    torch.manual_seed(0)
    with torch.no_grad():
        elbo_model = torch.stack([vae.elbo(x) for _ in range(400)]).mean(0)   # 400 one-sample estimates
    torch.testing.assert_close(a.elbo_amortized, elbo_model, atol=3.0, rtol=0.01)
    # optimizing on this x cannot lower the ELBO much: steps=0 gives q* = q_phi and a zero amortization gap
    c = evaluate.inference_gaps(vae, x, k=50, steps=0, seed=3)
    torch.testing.assert_close(c.amortization_gap, torch.zeros(6), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="steps"):
        optimal_local_posterior(vae, x, steps=-1)

"""The linear-Gaussian model: its exact posterior and marginal against independent computations, and the
variational identities (ELBO + KL = log p(x), IWAE bounds increasing in K towards log p(x))."""
import math

import pytest
import torch
from torch.distributions import MultivariateNormal

from thesis_code import objectives as obj
from thesis_code.linear_gaussian import DiagonalGaussianEncoder, LinearGaussianModel

torch.set_num_threads(1)


@pytest.fixture
def model_and_data():
    model = LinearGaussianModel.random(data_dim=5, latent_dim=3, sigma=0.6, seed=0)
    x, _ = model.sample(4, torch.Generator().manual_seed(1))
    return model, x.detach()


def test_posterior_matches_gaussian_conditioning(model_and_data):
    """Condition the joint Gaussian of (z, x) with the Schur complement: an independent route."""
    model, x = model_and_data
    W, b, s = model.W.detach(), model.b.detach(), model.sigma
    Sxx = W @ W.T + s ** 2 * torch.eye(5, dtype=W.dtype)
    Szx = W.T                                                    # Cov(z, x)
    gain = Szx @ torch.linalg.inv(Sxx)
    mean, cov = model.posterior(x)
    torch.testing.assert_close(mean.detach(), (x - b) @ gain.T)
    torch.testing.assert_close(cov.detach(), torch.eye(3, dtype=W.dtype) - gain @ Szx.T)


def test_log_marginal_by_bayes_rule(model_and_data):
    """log p(x) = log p(x|z) + log p(z) - log p(z|x) for any z."""
    model, x = model_and_data
    mean, cov = model.posterior(x)
    z = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    bayes = (model.log_px_given_z(x, z) + model.log_prior(z)
             - MultivariateNormal(mean, covariance_matrix=cov).log_prob(z))
    torch.testing.assert_close(model.log_marginal(x), bayes)


def test_elbo_plus_kl_to_posterior_is_log_marginal(model_and_data):
    model, x = model_and_data
    g = torch.Generator().manual_seed(3)
    mu = torch.randn(4, 3, generator=g, dtype=torch.float64)
    logvar = torch.randn(4, 3, generator=g, dtype=torch.float64) * 0.5
    identity = model.elbo_exact(x, mu, logvar) + model.kl_to_posterior(x, mu, logvar)
    torch.testing.assert_close(identity, model.log_marginal(x))
    assert (model.kl_to_posterior(x, mu, logvar) > 0).all()


def test_exact_elbo_matches_estimators_a_and_b(model_and_data):
    model, x = model_and_data
    enc = DiagonalGaussianEncoder(5, 3)
    with torch.no_grad():
        mu, logvar = enc.encode(x)
        L = 50_000
        z = mu + torch.exp(0.5 * logvar) * torch.randn(L, *mu.shape, dtype=torch.float64,
                                                       generator=torch.Generator().manual_seed(4))
        log_px, log_pz = model.log_px_given_z(x, z), model.log_prior(z)
        log_qz = obj.log_normal(z, mu, logvar, event_dims=1)
        exact = model.elbo_exact(x, mu, logvar)
        for est, per_sample in ((obj.elbo_estimator_a(log_px, log_pz, log_qz), log_px + log_pz - log_qz),
                                (obj.elbo_estimator_b(log_px, mu, logvar), log_px)):
            se = per_sample.std(dim=0) / math.sqrt(L)
            assert (abs(est - exact) < 4 * se).all(), (est, exact, se)


def test_iwae_bound_increases_with_k_towards_log_marginal(model_and_data):
    model, x = model_and_data
    with torch.no_grad():
        mu, logvar = model.best_diagonal_q(x)
        mu = mu + 0.5           # a deliberately imperfect q, so the gaps are large compared with noise
        g = torch.Generator().manual_seed(5)
        reps = 2000
        means, ses = [], []
        for k in (1, 10, 100):
            draws = torch.stack([model.iwae_bound(x, mu, logvar, k, g) for _ in range(reps // k + 200)])
            means.append(draws.mean(0))
            ses.append(draws.std(0) / math.sqrt(len(draws)))
        log_px = model.log_marginal(x)
        elbo = model.elbo_exact(x, mu, logvar)
        assert (abs(means[0] - elbo) < 4 * ses[0]).all()             # L_1 is the ELBO
        for (m1, s1), (m2, s2) in zip(zip(means, ses), zip(means[1:], ses[1:])):
            assert (m2 - m1 > 4 * torch.sqrt(s1 ** 2 + s2 ** 2)).all()   # strictly increasing in K
        assert (means[-1] < log_px + 4 * ses[-1]).all()               # still a lower bound
        assert ((log_px - means[-1]) < 0.5 * (log_px - elbo)).all()  # and much closer than the ELBO


def test_best_diagonal_q_is_a_stationary_point_of_the_kl(model_and_data):
    model, x = model_and_data
    mu, logvar = (t.detach().requires_grad_(True) for t in model.best_diagonal_q(x))
    kl = model.kl_to_posterior(x, mu, logvar).sum()
    g_mu, g_lv = torch.autograd.grad(kl, (mu, logvar))
    assert g_mu.abs().max() < 1e-8 and g_lv.abs().max() < 1e-8
    # while the posterior is correlated, so even the best diagonal q leaves a positive gap
    assert (model.kl_to_posterior(x, mu, logvar) > 1e-4).all()


def test_bad_shapes_are_reported(model_and_data):
    model, x = model_and_data
    with pytest.raises(ValueError, match=r"\(B, 5\)"):
        model.log_marginal(x[:, :4])

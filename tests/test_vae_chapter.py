"""Tests of chapter 2's own modules: gradient estimators and the VAE studies."""
import math

import pytest
import torch

from thesis_code.chapters import gradient_estimators as ge
from thesis_code import objectives as obj
from thesis_code.chapters import vae_studies as vs
from thesis_code.linear_gaussian import LinearGaussianModel

torch.set_num_threads(1)


# ----------------------------------------------------------------------------- gradient estimators

@pytest.mark.parametrize("estimator", ge.ESTIMATORS)
def test_estimators_unbiased_on_quadratic(estimator):
    """Both estimators average to the exact gradient of E[(z - a)^2] = (mu - a)^2 + sigma^2."""
    g = torch.Generator().manual_seed(0)
    mu = torch.tensor([0.5, -1.0], dtype=torch.float64)
    log_sigma = torch.tensor([0.0, math.log(0.5)], dtype=torch.float64)
    n = 400_000
    g_mu, g_ls = ge.gradients(estimator, ge.quadratic(0.3), mu, log_sigma, n, g)
    exact_mu, exact_ls = ge.quadratic_exact_gradient(mu, log_sigma, 0.3)
    # tolerance: 5 standard errors of the mean of n single-sample estimates
    for est, exact in ((g_mu, exact_mu), (g_ls, exact_ls)):
        se = est.std(dim=0) / math.sqrt(n)
        assert torch.all((est.mean(dim=0) - exact).abs() < 5 * se + 1e-12), (est.mean(0), exact)


def test_pathwise_has_lower_variance_on_quadratic():
    g = torch.Generator().manual_seed(1)
    mu, log_sigma = torch.tensor([1.0], dtype=torch.float64), torch.tensor([0.0], dtype=torch.float64)
    v_path = ge.estimator_variance("pathwise", ge.quadratic(), mu, log_sigma, 1, 20_000, g)
    v_score = ge.estimator_variance("score", ge.quadratic(), mu, log_sigma, 1, 20_000, g)
    assert v_path[0] < v_score[0] / 3 and v_path[1] < v_score[1] / 3
    # closed form for the pathwise dF/dmu: 2(z - a) with z ~ N(mu, 1) has variance 4 sigma^2 = 4
    assert abs(float(v_path[0]) - 4.0) < 0.2


def test_variance_falls_as_one_over_n():
    g = torch.Generator().manual_seed(2)
    mu, ls = torch.zeros(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    v1 = ge.estimator_variance("score", ge.quadratic(1.0), mu, ls, 1, 20_000, g)[0]
    v10 = ge.estimator_variance("score", ge.quadratic(1.0), mu, ls, 10, 4_000, g)[0]
    assert 6 < float(v1 / v10) < 14


def test_score_baseline_keeps_mean_and_bad_input_raises():
    g = torch.Generator().manual_seed(3)
    mu, ls = torch.tensor([0.2], dtype=torch.float64), torch.tensor([0.1], dtype=torch.float64)
    g_mu, _ = ge.score_function_gradients(ge.quadratic(), mu, ls, 200_000, g, baseline=1.2)
    exact_mu, _ = ge.quadratic_exact_gradient(mu, ls)
    assert abs(float(g_mu.mean() - exact_mu)) < 5 * float(g_mu.std()) / math.sqrt(200_000)
    with pytest.raises(ValueError, match="shape"):
        ge.pathwise_gradients(ge.quadratic(), torch.zeros(2, 2), torch.zeros(2, 2), 3)
    with pytest.raises(ValueError, match="estimator"):
        ge.gradients("reinforce", ge.quadratic(), mu, ls, 3)


def test_vae_estimators_a_and_b_same_mean_b_lower_variance():
    """On a small VAE, A and B give the same expected encoder gradient; B (exact KL) varies less."""
    from thesis_code.models.vae import VAE, VAEConfig
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=4, hidden=(32,), input_shape=(1, 4, 4)))
    x = torch.rand(16, 1, 4, 4).round()
    ga = ge.vae_elbo_gradients(model, x, "A", repeats=400)
    gb = ge.vae_elbo_gradients(model, x, "B", repeats=400)
    assert ga.shape == gb.shape and ga.shape[0] == 400
    assert ge.total_variance(gb) < ge.total_variance(ga)
    diff = (ga.mean(0) - gb.mean(0)).norm()
    se = math.sqrt((ge.total_variance(ga) + ge.total_variance(gb)) / 400)
    assert float(diff) < 4 * se
    with pytest.raises(ValueError):
        ge.vae_elbo_gradients(model, x, "C")


# ----------------------------------------------------------------------------- ELBO on a linear-Gaussian model

@pytest.fixture
def lg():
    return LinearGaussianModel.random(data_dim=5, latent_dim=2, sigma=0.7, seed=0)


def _one_x(lg, seed):
    return lg.sample(1, torch.Generator().manual_seed(seed))[0][0].detach()


def test_elbo_full_covariance_matches_monte_carlo(lg):
    """Closed form against the mean of log p(x, z) - log q(z) over z ~ q, with log q from torch."""
    x = _one_x(lg, 2)
    m = torch.tensor([0.3, -0.2], dtype=torch.float64)
    S = torch.tensor([[0.5, 0.1], [0.1, 0.3]], dtype=torch.float64)
    q = torch.distributions.MultivariateNormal(m, S)
    z = q.sample((200_000,))
    with torch.no_grad():
        mc = (lg.log_px_given_z(x.expand(len(z), -1), z) + lg.log_prior(z) - q.log_prob(z)).mean()
        closed = vs.elbo_full_covariance(lg, x, m, S)
    assert abs(float(mc - closed)) < 0.05


def test_elbo_full_covariance_agrees_with_core_diagonal_elbo(lg):
    """For a diagonal S the chapter's full-covariance ELBO equals linear_gaussian.elbo_exact."""
    x = _one_x(lg, 4)
    mu, logvar = torch.tensor([[0.2, 0.7]], dtype=torch.float64), torch.tensor([[-0.5, 0.3]], dtype=torch.float64)
    with torch.no_grad():
        full = vs.elbo_full_covariance(lg, x, mu[0], torch.diag(logvar[0].exp()))
        diag = lg.elbo_exact(x[None], mu, logvar)[0]
    assert torch.allclose(full, diag)


def test_full_covariance_kl_matches_torch():
    m0, m1 = torch.tensor([0.1, 0.4], dtype=torch.float64), torch.tensor([-0.3, 0.2], dtype=torch.float64)
    S0 = torch.tensor([[0.5, 0.1], [0.1, 0.3]], dtype=torch.float64)
    S1 = torch.tensor([[1.2, -0.2], [-0.2, 0.8]], dtype=torch.float64)
    ref = torch.distributions.kl_divergence(torch.distributions.MultivariateNormal(m0, S0),
                                            torch.distributions.MultivariateNormal(m1, S1))
    assert torch.allclose(obj.kl_normal_full(m0, S0, m1, S1), ref)
    with pytest.raises(ValueError, match="shape"):
        obj.kl_normal_full(m0, S0, m1, torch.eye(3, dtype=torch.float64))


def test_elbo_gap_equals_kl_to_posterior_and_closes(lg):
    x = _one_x(lg, 3)
    path = vs.elbo_gap_path(lg, x, steps=11)
    assert torch.allclose(path.gap, path.kl_to_posterior, atol=1e-9)   # log p(x) = ELBO + KL(q||p(z|x))
    assert float(path.gap[0]) > 0.1 and abs(float(path.gap[-1])) < 1e-9
    assert torch.all(path.gap >= -1e-9)


def test_elbo_gap_path_rejects_a_batch(lg):
    with pytest.raises(ValueError, match=r"\(5,\)"):
        vs.elbo_gap_path(lg, torch.zeros(3, 5, dtype=torch.float64))


# ----------------------------------------------------------------------------- aggregate posterior, tables

def test_aggregate_posterior_matches_mixture():
    torch.manual_seed(0)
    mu, logvar = torch.randn(7, 2), torch.randn(7, 2) * 0.3
    z = torch.randn(50, 2)
    mix = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(torch.ones(7)),
        torch.distributions.Independent(torch.distributions.Normal(mu, (0.5 * logvar).exp()), 1))
    assert torch.allclose(vs.aggregate_posterior_log_density(mu, logvar, z, chunk=16), mix.log_prob(z),
                          atol=1e-5)
    pts, ax, _ = vs.grid_2d(6.0, 121)
    mass = vs.aggregate_posterior_log_density(mu, logvar, pts).exp().sum() * (ax[1] - ax[0]) ** 2
    assert abs(float(mass) - 1.0) < 0.02
    with pytest.raises(ValueError, match="shape"):
        vs.aggregate_posterior_log_density(mu, logvar, torch.zeros(3, 3))


def test_low_density_samples_have_lowest_ratio():
    torch.manual_seed(0)
    mu = torch.tensor([[1.5, 0.0], [-1.5, 0.0]]).repeat(50, 1)
    logvar = torch.full_like(mu, math.log(0.1))
    z, ratio = vs.low_density_prior_samples(mu, logvar, 5, generator=torch.Generator().manual_seed(0))
    assert z.shape == (5, 2) and torch.all(ratio[:-1] <= ratio[1:])
    assert torch.all(ratio < 0)   # far less encoder mass than prior mass there


def test_rate_distortion_sums_to_negative_elbo():
    from thesis_code.models.vae import VAE, VAEConfig
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=3, hidden=(16,), input_shape=(1, 4, 4)))
    x = torch.rand(2000, 1, 4, 4).round()
    rate, dist = vs.rate_distortion(model, x)
    torch.manual_seed(1)
    with torch.no_grad():
        neg_elbo = -float(model.elbo(x).mean())
    assert rate > 0 and abs(rate + dist - neg_elbo) < 0.05 * abs(neg_elbo)


def test_likelihood_table_marks_sources():
    table = vs.likelihood_table([{"model": "VAE (ours)", "nll": 95.123, "budget": "10 epochs"}])
    lines = table.splitlines()
    assert len(lines) == 2 + 1 + len(vs.PUBLISHED_MNIST)
    assert "95.12" in lines[2] and "this run" in lines[2]
    assert "Burda et al. (2015)" in lines[3] and "86.76" in lines[3]
    with pytest.raises(ValueError):
        vs.markdown_table(("a", "b"), [(1,)])


def test_table_with_caption_is_a_numbered_myst_table():
    table = vs.markdown_table(("a", "b"), [(1, 2.345)], caption="A caption.", name="tbl-x")
    lines = table.splitlines()
    assert lines[0] == ":::{table} A caption." and lines[1] == ":name: tbl-x" and lines[-1] == ":::"
    assert "| 1 | 2.35 |" in lines


# ----------------------------------------------------------------------------- general reparameterization (2.2)

def test_full_covariance_reparameterization():
    """Eq. (eq-reparam-full): z = mu + T eps has covariance T T^T and log q(z) = log N(eps) - sum log T_jj,
    checked against a sample covariance and torch.distributions.MultivariateNormal."""
    g = torch.Generator().manual_seed(0)
    d = 4
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    cov = a @ a.T + 0.5 * torch.eye(d, dtype=torch.float64)
    t = torch.linalg.cholesky(cov)
    mu = torch.randn(d, generator=g, dtype=torch.float64)
    eps = torch.randn(200_000, d, generator=g, dtype=torch.float64)
    z = mu + eps @ t.T
    sample_cov = torch.cov(z.T)
    assert torch.allclose(sample_cov, cov, atol=0.05 * float(cov.abs().max()))
    log_q = torch.distributions.Normal(0.0, 1.0).log_prob(eps).sum(1) - torch.log(torch.diagonal(t)).sum()
    ref = torch.distributions.MultivariateNormal(mu, scale_tril=t).log_prob(z[:1000])
    assert torch.allclose(log_q[:1000], ref, atol=1e-10)


def test_any_distribution_is_a_transformation_of_gaussian_noise():
    """2.2: z = F^{-1}(Phi(eps)) with eps ~ N(0, 1) has CDF F (here exponential and beta), by a KS test."""
    from scipy import stats
    rng = torch.Generator().manual_seed(1)
    eps = torch.randn(20_000, generator=rng, dtype=torch.float64).numpy()
    for dist in (stats.expon(scale=2.0), stats.beta(2.0, 5.0)):
        z = dist.ppf(stats.norm.cdf(eps))
        assert stats.kstest(z, dist.cdf).pvalue > 1e-3
        # a wrong target is rejected, so the check can fail
        assert stats.kstest(z, stats.norm(z.mean(), z.std()).cdf).pvalue < 1e-3

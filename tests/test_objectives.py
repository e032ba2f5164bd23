"""Every closed form in objectives.py against an independent computation (torch.distributions, Monte
Carlo with a tolerance derived from its standard error, or autograd)."""
import math

import pytest
import torch
from torch import nn
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence

from thesis_code import objectives as obj

torch.set_num_threads(1)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def diag_normal(mu, logvar):
    return Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)


def test_kl_normal_matches_torch_distributions():
    g = gen()
    mu_q, lv_q, mu_p, lv_p = (torch.randn(6, 4, generator=g, dtype=torch.float64) for _ in range(4))
    expected = kl_divergence(diag_normal(mu_q, lv_q), diag_normal(mu_p, lv_p))
    torch.testing.assert_close(obj.kl_normal(mu_q, lv_q, mu_p, lv_p), expected)
    # standard-normal prior default, and the per-dimension form sums to the total
    expected0 = kl_divergence(diag_normal(mu_q, lv_q), diag_normal(torch.zeros_like(mu_q),
                                                                   torch.zeros_like(lv_q)))
    torch.testing.assert_close(obj.kl_normal(mu_q, lv_q), expected0)
    torch.testing.assert_close(obj.kl_normal_per_dim(mu_q, lv_q).sum(-1), expected0)
    # Kingma & Welling (2013), appendix B: -1/2 sum(1 + logvar - mu^2 - var)
    torch.testing.assert_close(obj.kl_normal(mu_q, lv_q),
                               -0.5 * (1 + lv_q - mu_q ** 2 - lv_q.exp()).sum(-1))


def test_kl_normal_matches_monte_carlo():
    g = gen(1)
    mu_q, lv_q = torch.tensor([[0.5, -1.0, 2.0]]), torch.tensor([[0.3, -0.5, 0.0]])
    mu_p, lv_p = torch.tensor([[0.0, 0.5, 1.0]]), torch.tensor([[0.5, 0.2, -0.3]])
    n = 200_000
    z = mu_q + torch.exp(0.5 * lv_q) * torch.randn(n, 3, generator=g)
    terms = (obj.log_normal(z, mu_q, lv_q, event_dims=1) - obj.log_normal(z, mu_p, lv_p, event_dims=1))
    se = terms.std() / math.sqrt(n)
    exact = obj.kl_normal(mu_q, lv_q, mu_p, lv_p)[0]
    assert abs(terms.mean() - exact) < 4 * se, (terms.mean(), exact, se)


def test_kl_bernoulli_matches_torch_distributions():
    g = gen(2)
    p = torch.rand(50, generator=g, dtype=torch.float64) * 0.98 + 0.01
    q = torch.rand(50, generator=g, dtype=torch.float64) * 0.98 + 0.01
    torch.testing.assert_close(obj.kl_bernoulli(p, q), kl_divergence(Bernoulli(p), Bernoulli(q)))
    # p at the boundary: 0 log 0 = 0, so KL(0 || q) = -log(1 - q)
    torch.testing.assert_close(obj.kl_bernoulli(torch.zeros_like(q), q), -torch.log1p(-q))


def test_log_densities_match_torch_distributions():
    g = gen(3)
    x, mu, lv = (torch.randn(5, 1, 4, 4, generator=g, dtype=torch.float64) for _ in range(3))
    expected = Normal(mu, torch.exp(0.5 * lv)).log_prob(x).sum((1, 2, 3))
    torch.testing.assert_close(obj.log_normal(x, mu, lv), expected)
    xb = torch.bernoulli(torch.full((5, 1, 4, 4), 0.3, dtype=torch.float64), generator=g)
    logits = torch.randn(5, 1, 4, 4, generator=g, dtype=torch.float64)
    torch.testing.assert_close(obj.log_bernoulli_logits(xb, logits),
                               Bernoulli(logits=logits).log_prob(xb).sum((1, 2, 3)))
    # event_dims: leading sample dimensions are kept
    z = torch.randn(7, 5, 3, generator=g, dtype=torch.float64)
    assert obj.log_normal(z, event_dims=1).shape == (7, 5)


def test_iwae_bound_is_log_mean_exp():
    g = gen(4)
    lw = torch.randn(10, 3, generator=g, dtype=torch.float64) * 5 - 100  # exp underflows float32 here
    expected = torch.log(torch.exp(lw + 100).mean(0)) - 100
    torch.testing.assert_close(obj.iwae_bound(lw), expected)
    torch.testing.assert_close(obj.iwae_bound(lw[:1]), lw[0])   # K = 1 is the ELBO sample
    with pytest.raises(ValueError, match=r"\(K, B\)"):
        obj.iwae_bound(lw[0])


def test_estimators_a_and_b_agree_in_expectation():
    """A Gaussian 'decoder' log p(x|z) = log N(x; z, 1): both estimators must average to the same ELBO,
    which here is known exactly: E_q log N(x; z, 1) = log N(x; mu, 1) - sum(var)/2."""
    g = gen(5)
    x = torch.tensor([[1.0, -0.5]], dtype=torch.float64)
    mu, lv = torch.tensor([[0.3, 0.2]], dtype=torch.float64), torch.tensor([[-0.4, 0.6]],
                                                                         dtype=torch.float64)
    L = 100_000
    z = mu + torch.exp(0.5 * lv) * torch.randn(L, 1, 2, generator=g, dtype=torch.float64)
    log_px = obj.log_normal(x, z, 0.0, event_dims=1)                   # (L, 1)
    log_pz = obj.log_normal(z, event_dims=1)
    log_qz = obj.log_normal(z, mu, lv, event_dims=1)
    exact = obj.log_normal(x, mu, 0.0, event_dims=1) - lv.exp().sum(-1) / 2 - obj.kl_normal(mu, lv)
    for per_sample in (log_px + log_pz - log_qz, log_px - obj.kl_normal(mu, lv)):
        se = per_sample.std() / math.sqrt(L)
        assert abs(per_sample.mean() - exact[0]) < 4 * se
    est_a = obj.elbo_estimator_a(log_px, log_pz, log_qz)
    est_b = obj.elbo_estimator_b(log_px, mu, lv)
    se_a = (log_px + log_pz - log_qz).std() / math.sqrt(L)
    assert est_a.shape == est_b.shape == (1,)
    assert abs(est_a - exact)[0] < 4 * se_a and abs(est_b - exact)[0] < 4 * se_a
    # B has the smaller variance: its KL part carries no sampling noise
    assert (log_px - obj.kl_normal(mu, lv)).std() < (log_px + log_pz - log_qz).std()


def test_reparameterization_and_score_function_gradients_agree():
    """d/dmu E_{N(mu, s^2)}[z^2] = 2 mu, d/ds ... = 2 s; pathwise and REINFORCE estimates agree."""
    g = gen(6)
    mu = torch.tensor(0.7, requires_grad=True)
    s = torch.tensor(1.3, requires_grad=True)
    n = 200_000
    eps = torch.randn(n, generator=g, dtype=torch.float64).float()
    # pathwise (reparameterization): z = mu + s eps
    z = mu + s * eps
    f = z ** 2
    grad_mu_samples = 2 * z.detach()                                   # df/dmu per sample
    grad_mu = torch.autograd.grad(f.mean(), mu)[0]
    # score function: E[f(z) d/dmu log N(z; mu, s^2)] = E[f(z) (z - mu) / s^2]
    zd = z.detach()
    score_samples = zd ** 2 * (zd - mu.detach()) / s.detach() ** 2
    for est, samples in ((grad_mu, grad_mu_samples), (score_samples.mean(), score_samples)):
        se = samples.std() / math.sqrt(n)
        assert abs(est - 2 * mu.detach()) < 4 * se, (est, se)
    # and the gradient in s (pathwise) against its closed form 2 s
    grad_s = torch.autograd.grad((mu + s * eps).pow(2).mean(), s)[0]
    se_s = (2 * (mu.detach() + s.detach() * eps) * eps).std() / math.sqrt(n)
    assert abs(grad_s - 2 * s.detach()) < 4 * se_s


def test_sparse_penalties_match_direct_computation():
    g = gen(7)
    h = torch.rand(16, 5, generator=g, dtype=torch.float64)
    rho = 0.05
    direct = 0.0
    for j in range(5):
        r = h[:, j].mean().item()
        direct += rho * math.log(rho / r) + (1 - rho) * math.log((1 - rho) / (1 - r))
    assert obj.sparse_kl_penalty(h, rho).item() == pytest.approx(direct, rel=1e-10)
    assert obj.sparse_kl_penalty(torch.full((4, 3), rho), rho).item() == pytest.approx(0.0, abs=1e-7)
    hs = torch.randn(4, 3, generator=g)
    assert obj.sparse_l1_penalty(hs).item() == pytest.approx(
        sum(abs(v) for row in hs.tolist() for v in row) / 4, rel=1e-6)
    with pytest.raises(ValueError):
        obj.sparse_kl_penalty(h, 1.5)


def test_contractive_sigmoid_closed_form_equals_autograd():
    torch.manual_seed(8)
    layer = nn.Linear(6, 4).double()
    encoder = nn.Sequential(layer, nn.Sigmoid())
    x = torch.randn(5, 6, dtype=torch.float64)
    closed = obj.contractive_penalty_sigmoid(encoder(x), layer.weight)
    auto = obj.contractive_penalty_autograd(encoder, x)
    torch.testing.assert_close(closed, auto)
    # trained through: the gradients in W of both forms agree (needs create_graph)
    g_closed = torch.autograd.grad(closed.sum(), layer.weight)[0]
    g_auto = torch.autograd.grad(obj.contractive_penalty_autograd(encoder, x).sum(), layer.weight)[0]
    torch.testing.assert_close(g_closed, g_auto)


def test_contractive_autograd_equals_full_jacobian():
    torch.manual_seed(9)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(8, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    x = torch.randn(4, 2, 4, dtype=torch.float64)
    auto = obj.contractive_penalty_autograd(encoder, x, create_graph=False)
    for b in range(4):
        J = torch.autograd.functional.jacobian(lambda v: encoder(v[None])[0], x[b])
        assert auto[b].item() == pytest.approx(J.pow(2).sum().item(), rel=1e-10)

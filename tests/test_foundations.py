"""Tests of chapter 1's modules: neural_networks, dimensionality, toy_data, divergences.

Every closed form is checked against an independent computation (autograd, scipy, Monte Carlo,
torch.distributions, grid integration)."""
import math

import numpy as np
import pytest
import scipy.linalg
import torch

from thesis_code.chapters import dimensionality as dr
from thesis_code.chapters import divergences as dv
from thesis_code.chapters import neural_networks as nn_
from thesis_code.chapters import toy_data

torch.set_num_threads(1)


# ----------------------------------------------------------------------------- perceptron

def test_perceptron_converges_within_novikoff_bound():
    x, y, w_true = toy_data.separable_blobs(300, margin=0.3, seed=1)
    assert np.all(y * (x @ w_true) >= 0.3 - 1e-12)  # the generator keeps its promise
    res = nn_.perceptron(x, y, max_epochs=1000)
    assert res.converged
    assert np.all(res.predict(x) == y)
    bound = nn_.novikoff_bound(x, y, w_true, 0.0)
    assert 0 < res.n_updates <= bound


def test_perceptron_does_not_converge_on_xor():
    x = np.array([[0, 0], [1, 1], [0, 1], [1, 0]], float)
    y = np.array([-1, -1, 1, 1])
    res = nn_.perceptron(x, y, max_epochs=50)
    assert not res.converged and all(m > 0 for m in res.mistakes_per_epoch)


def test_perceptron_rejects_bad_labels_and_shapes():
    with pytest.raises(ValueError, match="-1 or \\+1"):
        nn_.perceptron(np.zeros((3, 2)), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        nn_.perceptron(np.zeros(3), np.array([1, 1, 1]))
    with pytest.raises(ValueError, match="does not separate"):
        nn_.novikoff_bound(np.array([[1.0], [2.0]]), np.array([1, -1]), np.array([1.0]), 0.0)


# ----------------------------------------------------------------------------- Hebbian learning

def test_hebbian_update_matches_the_rule():
    rng = np.random.default_rng(0)
    w, x = rng.normal(size=5), rng.normal(size=5)
    y = sum(wi * xi for wi, xi in zip(w, x))
    np.testing.assert_allclose(nn_.hebbian_update(w, x, 0.1, "hebb"), [wi + 0.1 * y * xi for wi, xi in zip(w, x)])
    np.testing.assert_allclose(nn_.hebbian_update(w, x, 0.1, "oja"),
                               [wi + 0.1 * y * (xi - y * wi) for wi, xi in zip(w, x)])
    with pytest.raises(ValueError, match="unknown rule"):
        nn_.hebbian_update(w, x, 0.1, "anti")


def test_oja_rule_finds_first_principal_component():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 3)) * np.array([3.0, 1.0, 0.5])
    rot = scipy.linalg.qr(rng.normal(size=(3, 3)))[0]
    x = x @ rot.T
    w, _ = nn_.hebbian_learning(x, lr=0.002, epochs=3, rule="oja")
    top = np.linalg.eigh(np.cov(x.T))[1][:, -1]
    assert abs(np.linalg.norm(w) - 1) < 0.05
    assert abs(w @ top) / np.linalg.norm(w) > 0.99


# ----------------------------------------------------------------------------- gradient descent

def test_gradient_descent_converges_below_two_over_l_and_diverges_above():
    a = np.diag([1.0, 10.0])  # f = x^T A x / 2, L = 10
    grad = lambda v: a @ v
    assert np.linalg.norm(nn_.gradient_descent(grad, [1.0, 1.0], lr=0.19, steps=200)[-1]) < 1e-6
    assert np.linalg.norm(nn_.gradient_descent(grad, [1.0, 1.0], lr=0.21, steps=200)[-1]) > 1e3


# ----------------------------------------------------------------------------- universal approximation

def test_wider_network_approximates_better():
    res = nn_.approximation_sweep(lambda t: torch.sin(2 * t), widths=[1, 16], n_train=100, steps=600, lr=0.1)
    assert res.test_mse[1] < 0.1 * res.test_mse[0]
    assert res.test_mse[1] < 0.01


# ----------------------------------------------------------------------------- backpropagation

def test_backprop_matches_autograd_and_finite_differences():
    rng = np.random.default_rng(0)
    params = nn_.init_mlp([3, 5, 4, 2], seed=1)
    x, y = rng.normal(size=(7, 3)), rng.normal(size=(7, 2))
    grads = nn_.mlp_backward(params, x, y)
    # autograd on the same network, built independently with torch
    tp = [(torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)) for w, b in params]
    a = torch.tensor(x)
    for l, (w, b) in enumerate(tp):
        a = a @ w.T + b
        if l < len(tp) - 1:
            a = torch.tanh(a)
    loss = 0.5 * ((a - torch.tensor(y)) ** 2).sum(dim=1).mean()
    loss.backward()
    for (gw, gb), (w, b) in zip(grads, tp):
        np.testing.assert_allclose(gw, w.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(gb, b.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert abs(nn_.mse_loss(params, x, y) - loss.item()) < 1e-12
    num = nn_.numerical_gradient(lambda p: nn_.mse_loss(p, x, y), params)
    assert nn_.relative_error(grads, num) < 1e-7
    # a wrong gradient is caught
    wrong = [(gw * 1.01, gb) for gw, gb in grads]
    assert nn_.relative_error(wrong, num) > 1e-4


# ----------------------------------------------------------------------------- dimensionality

def test_distance_concentration_decreases_with_dimension():
    ratios = dr.distance_concentration([2, 10, 100, 1000], n_points=50, n_repeats=3)
    assert np.all(np.diff(ratios) < 0)
    assert ratios[-1] < 0.5 < ratios[0]


def test_pairwise_distances_match_scipy():
    from scipy.spatial.distance import pdist
    x = np.random.default_rng(0).normal(size=(20, 4))
    np.testing.assert_allclose(dr.pairwise_distances(x), pdist(x), atol=1e-10)


def test_pca_matches_sklearn_and_reconstructs_exactly_with_all_components():
    from sklearn.decomposition import PCA as SkPCA
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6)) @ rng.normal(size=(6, 6))
    pca = dr.fit_pca(x)
    sk = SkPCA().fit(x)
    np.testing.assert_allclose(pca.explained_variance, sk.explained_variance_, rtol=1e-8)
    np.testing.assert_allclose(np.abs(np.sum(pca.components * sk.components_, axis=1)), 1, atol=1e-8)
    np.testing.assert_allclose(pca.reconstruct(x, 6), x, atol=1e-8)
    err = [np.mean((pca.reconstruct(x, k) - x) ** 2) for k in range(1, 7)]
    assert np.all(np.diff(err) < 0)
    # the squared error of a k-component reconstruction is the sum of the discarded variances
    k = 2
    np.testing.assert_allclose(np.sum((pca.reconstruct(x, k) - x) ** 2) / (len(x) - 1),
                               pca.explained_variance[k:].sum(), rtol=1e-8)


def test_principal_angles_match_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(10, 3)), rng.normal(size=(10, 4))
    np.testing.assert_allclose(dr.principal_angles(a, b), np.sort(scipy.linalg.subspace_angles(a, b)),
                               atol=1e-8)
    # same span under a change of basis: all angles zero
    assert np.max(dr.principal_angles(a, a @ rng.normal(size=(3, 3)))) < 1e-6
    with pytest.raises(ValueError, match="same number of rows"):
        dr.principal_angles(a, b[:5])


def test_ppca_marginal_matches_monte_carlo_and_torch():
    rng = np.random.default_rng(0)
    model = dr.PPCA(mu=np.array([0.5, -1.0, 0.2]), W=rng.normal(size=(3, 1)), sigma2=0.3)
    x = model.sample(4, seed=1)
    exact = model.log_marginal(x)
    mvn = torch.distributions.MultivariateNormal(torch.tensor(model.mu), torch.tensor(model.covariance))
    np.testing.assert_allclose(exact, mvn.log_prob(torch.tensor(x)).numpy(), rtol=1e-10)
    # p(x) = E_{z ~ N(0,1)} N(x; W z + mu, sigma2 I), by Monte Carlo over z
    z = rng.normal(size=(200_000, 1))
    means = z @ model.W.T + model.mu
    for i in range(len(x)):
        log_lik = -0.5 * (np.sum((x[i] - means) ** 2, axis=1) / model.sigma2
                          + 3 * math.log(2 * math.pi * model.sigma2))
        mc = np.log(np.mean(np.exp(log_lik)))
        assert abs(mc - exact[i]) < 0.02


def test_ppca_posterior_matches_grid_bayes():
    rng = np.random.default_rng(1)
    model = dr.PPCA(mu=np.zeros(2), W=rng.normal(size=(2, 1)), sigma2=0.5)
    x = np.array([[1.0, -0.5]])
    mean, cov = model.posterior(x)
    z = np.linspace(-8, 8, 20001)
    log_post = -0.5 * z ** 2 - 0.5 * np.sum((x[0][None] - z[:, None] * model.W.T) ** 2, axis=1) / model.sigma2
    w = np.exp(log_post - log_post.max())
    w /= w.sum()
    assert abs(np.sum(w * z) - mean[0, 0]) < 1e-6
    assert abs(np.sum(w * (z - mean[0, 0]) ** 2) - cov[0, 0]) < 1e-6


def test_fit_ppca_recovers_a_known_model():
    rng = np.random.default_rng(0)
    true = dr.PPCA(mu=np.array([1.0, 2.0, 3.0, 4.0]), W=rng.normal(size=(4, 2)), sigma2=0.1)
    x = true.sample(50_000, seed=2)
    fit = dr.fit_ppca(x, 2)
    np.testing.assert_allclose(fit.covariance, true.covariance, atol=0.05)
    assert abs(fit.sigma2 - 0.1) < 0.01
    # ML fit has higher likelihood than a perturbed model
    worse = dr.PPCA(fit.mu, fit.W * 1.2, fit.sigma2)
    assert fit.log_marginal(x).mean() > worse.log_marginal(x).mean()
    with pytest.raises(ValueError, match="0 < q < D"):
        dr.fit_ppca(x, 4)


# ----------------------------------------------------------------------------- toy data and the score

def test_noisy_circle_lies_near_the_circle():
    x = toy_data.noisy_circle(1000, noise=0.05)
    assert x.shape == (1000, 2)
    assert 0.03 < np.mean(toy_data.distance_to_circle(x)) < 0.06


def test_tweedie_optimal_denoiser_equals_scaled_score():
    data = torch.tensor(toy_data.spiral(300, seed=0), dtype=torch.float64)
    x = torch.randn(50, 2, dtype=torch.float64)
    sigma = 0.2
    lhs = toy_data.optimal_denoiser(x, data, sigma) - x
    rhs = sigma ** 2 * toy_data.smoothed_score(x, data, sigma)
    torch.testing.assert_close(lhs, rhs, rtol=1e-8, atol=1e-10)


def test_mixture_responsibilities_sum_to_one_and_match_bayes():
    w, m, s = [0.3, 0.7], [[0, 0], [3, 0]], [1.0, 0.5]
    x, _ = toy_data.gaussian_mixture_2d(5, w, m, s)
    r = toy_data.mixture_responsibilities(x, w, m, s)
    from scipy.stats import multivariate_normal as mvn
    joint = np.stack([w[k] * mvn(m[k], s[k] ** 2 * np.eye(2)).pdf(x) for k in range(2)], axis=1)
    np.testing.assert_allclose(r, joint / joint.sum(axis=1, keepdims=True), rtol=1e-10)


# ----------------------------------------------------------------------------- divergences

def test_kl_gaussian_matches_torch_and_monte_carlo():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    cov_p, cov_q = a @ a.T + np.eye(3), b @ b.T + np.eye(3)
    mu_p, mu_q = rng.normal(size=3), rng.normal(size=3)
    closed = dv.kl_gaussian(mu_p, cov_p, mu_q, cov_q)
    P = torch.distributions.MultivariateNormal(torch.tensor(mu_p), torch.tensor(cov_p))
    Q = torch.distributions.MultivariateNormal(torch.tensor(mu_q), torch.tensor(cov_q))
    assert abs(closed - torch.distributions.kl_divergence(P, Q).item()) < 1e-10
    samples = torch.tensor(rng.multivariate_normal(mu_p, cov_p, size=200_000))
    est, se = dv.kl_monte_carlo(samples, lambda s: P.log_prob(s).numpy(), lambda s: Q.log_prob(s).numpy())
    assert abs(est - closed) < 4 * se
    assert dv.kl_gaussian(mu_p, cov_p, mu_p, cov_p) == pytest.approx(0, abs=1e-12)


def test_kl_discrete_is_nonnegative_and_asymmetric():
    rng = np.random.default_rng(0)
    for _ in range(100):
        p, q = rng.dirichlet(np.ones(5)), rng.dirichlet(np.ones(5))
        assert dv.kl_discrete(p, q) >= 0
    p, q = np.array([0.9, 0.1]), np.array([0.5, 0.5])
    assert dv.kl_discrete(p, q) != pytest.approx(dv.kl_discrete(q, p))
    assert dv.kl_discrete([0.5, 0.5], [1.0, 0.0]) == math.inf


def test_gaussian_fit_forward_is_moment_matching_and_reverse_is_mode_seeking():
    target = dv.Mixture1D(weights=(0.5, 0.5), means=(-2.0, 2.0), stds=(0.5, 0.5))
    fwd = dv.fit_gaussian(target, "forward")
    rev = dv.fit_gaussian(target, "reverse")
    # forward KL optimum = the mixture's mean and standard deviation (moment matching)
    assert abs(fwd.mu - target.mean) < 1e-3
    assert abs(fwd.sigma - math.sqrt(target.variance)) < 1e-3
    # reverse KL locks onto one component
    assert min(abs(rev.mu - 2.0), abs(rev.mu + 2.0)) < 0.05
    assert abs(rev.sigma - 0.5) < 0.05
    # each fit is best in its own direction
    grid = np.linspace(-10, 10, 4001)
    from scipy.stats import norm
    log_q = lambda f: (lambda x: norm.logpdf(x, f.mu, f.sigma))
    assert dv.kl_quadrature(log_q(rev), target.log_prob, grid) < dv.kl_quadrature(log_q(fwd), target.log_prob, grid)
    assert dv.kl_quadrature(target.log_prob, log_q(fwd), grid) < dv.kl_quadrature(target.log_prob, log_q(rev), grid)


def test_mixture_moments_match_samples():
    target = dv.Mixture1D((0.3, 0.7), (-1.0, 2.0), (0.5, 1.0))
    s = target.sample(400_000)
    assert abs(s.mean() - target.mean) < 0.01
    assert abs(s.var() - target.variance) < 0.02


# ----------------------------------------------------------------------------- encoder Jacobians

def test_autoencoder_jacobian_matches_sigmoid_closed_form_and_finite_differences():
    from thesis_code.models import Autoencoder
    from thesis_code.models.autoencoders import AEConfig
    torch.manual_seed(0)
    model = Autoencoder(AEConfig(code_dim=3, hidden=(), code_activation="sigmoid", input_shape=(5,))).double()
    x = torch.rand(4, 5, dtype=torch.float64)
    jac = model.jacobian(x)
    assert jac.shape == (4, 3, 5)
    lin = model.encoder[1][0]
    h = model.encode(x)
    closed = (h * (1 - h))[:, :, None] * lin.weight[None]  # diag(h(1-h)) W
    torch.testing.assert_close(jac, closed.detach())
    eps = 1e-6
    fd = torch.stack([(model.encode(x + eps * e) - model.encode(x - eps * e)) / (2 * eps)
                      for e in torch.eye(5, dtype=torch.float64)], dim=2)
    torch.testing.assert_close(jac, fd.detach(), atol=1e-8, rtol=1e-6)
    sv = nn_.jacobian_spectrum(model, x)
    assert sv.shape == (4, 3) and torch.all(sv[:, :-1] >= sv[:, 1:])


# ----------------------------------------------------------------------------- helpers used by the notebooks

def test_squared_error_matches_pca_eckart_young():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5)) @ rng.normal(size=(5, 5))
    pca = dr.fit_pca(x)
    err = dr.squared_error(lambda b: pca.reconstruct(b, 2), x, batch_size=64)
    assert err.shape == (300,)
    np.testing.assert_allclose(err.sum() / (len(x) - 1), pca.explained_variance[2:].sum(), rtol=1e-8)


def test_greedy_pretrained_stack_is_cached_and_reconstructs(tmp_path, monkeypatch):
    monkeypatch.setenv("THESIS_CACHE_DIR", str(tmp_path))
    from thesis_code.models.autoencoders import AEConfig
    from thesis_code.train import TrainConfig
    cfg = AEConfig(code_dim=2, hidden=(6,), activation="tanh", loss="mse", input_shape=(8,))
    x = torch.randn(64, 8)
    tc = TrainConfig(epochs=2, batch_size=32, progress=False)
    a = nn_.greedy_pretrained_stack(cfg, x, tc, "smoke")
    b = nn_.greedy_pretrained_stack(cfg, x, tc, "smoke")  # loaded from the cache
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    assert len(list(tmp_path.rglob("result.pt"))) == 1
    assert a(x).shape == x.shape


def test_diagrams_draw_and_reject_bad_input():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    nn_.draw_autoencoder(ax, [4, 2, 4])
    nn_.draw_taxonomy(ax)
    with pytest.raises(ValueError, match="at least 3 layers"):
        nn_.draw_autoencoder(ax, [4, 4])
    plt.close(fig)


def test_fit_ppca_path_matches_tipping_bishop_from_an_eigendecomposition():
    """Tipping & Bishop (1999), eq. 7-8, computed independently: the eigendecomposition (numpy eigh) of the
    ML covariance S = (1/N) sum (x - mean)(x - mean)^T, sigma2 = mean of the D - q smallest eigenvalues,
    C = U_q (Lambda_q - sigma2 I) U_q^T + sigma2 I; and the fit is a maximum: its log-likelihood beats
    small perturbations of W and sigma2."""
    x = np.random.default_rng(3).normal(size=(100, 6)) @ np.random.default_rng(4).normal(size=(6, 6))
    n, d = x.shape
    s = np.cov(x, rowvar=False, bias=True)
    lam, u = np.linalg.eigh(s)
    lam, u = lam[::-1], u[:, ::-1]
    path = dr.fit_ppca_path(x, [1, 3])
    for q in (1, 3):
        sigma2 = lam[q:].mean()
        expected = u[:, :q] @ np.diag(lam[:q] - sigma2) @ u[:, :q].T + sigma2 * np.eye(d)
        fit = path[q]
        np.testing.assert_allclose(fit.mu, x.mean(0), atol=1e-12)
        assert fit.sigma2 == pytest.approx(sigma2, rel=1e-10)
        np.testing.assert_allclose(fit.covariance, expected, atol=1e-10)
        single = dr.fit_ppca(x, q)
        np.testing.assert_allclose(single.covariance, expected, atol=1e-10)
        best = fit.log_marginal(x).mean()
        for scale_w, scale_s in ((1.05, 1.0), (0.95, 1.0), (1.0, 1.1), (1.0, 0.9)):
            other = dr.PPCA(fit.mu, fit.W * scale_w, fit.sigma2 * scale_s)
            assert other.log_marginal(x).mean() < best
    with pytest.raises(ValueError, match="0 < q < D"):
        dr.fit_ppca_path(x, [0])


def test_ppca_importance_sampling_is_exact_and_prior_sampling_converges():
    rng = np.random.default_rng(5)
    model = dr.PPCA(mu=np.zeros(4), W=rng.normal(size=(4, 1)), sigma2=0.4)
    x = model.sample(6, seed=2)
    exact = model.log_marginal(x)
    np.testing.assert_allclose(model.log_marginal_importance(x, seed=1), exact, atol=1e-10)
    est = model.log_marginal_prior_sampling(x, [10, 200_000], seed=0)
    assert est.shape == (2, 6)
    assert np.max(np.abs(est[1] - exact)) < 0.02
    # log p(x, z) - log p(z | x) does not depend on z: check the joint against the posterior directly
    mean, cov = model.posterior(x)
    from scipy.stats import multivariate_normal as mvn
    z = mean + 0.3
    log_post = np.array([mvn(mean[i], cov).logpdf(z[i]) for i in range(len(x))])
    np.testing.assert_allclose(model.log_joint(x, z) - log_post, exact, atol=1e-10)


# ----------------------------------------------------------------------------- denoising and score matching

def test_dae_loss_is_score_matching_times_two_sigma4():
    """Eq. (eq-dae-score-matching): E||r(x~) - x||^2 = 2 sigma^4 J_SM(psi) + const, psi = (r(x~) - x~)/sigma^2.

    Gaussian data x ~ N(0, tau^2 I) give p_sigma = N(0, (tau^2 + sigma^2) I), whose score is known. For several
    denoisers r the per-sample difference between the DAE loss and 2 sigma^4 J_SM must have the same mean
    (Monte Carlo with common random numbers); with the factor 1 instead of 2 sigma^4 it must not."""
    g = torch.Generator().manual_seed(0)
    n, dim, tau, sigma = 400_000, 2, 1.3, 0.4
    x = tau * torch.randn(n, dim, generator=g, dtype=torch.float64)
    xt = x + sigma * torch.randn(n, dim, generator=g, dtype=torch.float64)
    score = -xt / (tau ** 2 + sigma ** 2)

    def per_sample(r, factor):
        psi = (r - xt) / sigma ** 2
        return ((r - x) ** 2).sum(1) - factor * 0.5 * ((psi - score) ** 2).sum(1)

    denoisers = [0.5 * xt, 0.9 * xt + 0.2, torch.tanh(xt), xt ** 3 / 10]
    for factor, should_hold in ((2 * sigma ** 4, True), (1.0, False)):
        base = per_sample(denoisers[0], factor)
        for r in denoisers[1:]:
            diff = per_sample(r, factor) - base
            mean, se = float(diff.mean()), float(diff.std() / math.sqrt(n))
            if should_hold:
                assert abs(mean) < 5 * se + 1e-12, (mean, se)
            else:
                assert abs(mean) > 20 * se, (mean, se)
    # the optimal linear denoiser is Tweedie's E[x | x~] = tau^2/(tau^2 + sigma^2) x~
    a = torch.linspace(0.5, 1.0, 51, dtype=torch.float64)
    losses = torch.stack([((ai * xt - x) ** 2).sum(1).mean() for ai in a])
    assert abs(float(a[losses.argmin()]) - tau ** 2 / (tau ** 2 + sigma ** 2)) <= 0.01 + 1e-9


# ----------------------------------------------------------------------------- convolutional layers (1.1.9)

def test_convolution_is_shift_equivariant_and_dense_layer_is_not():
    """A stride-2 convolution maps a 2-pixel shift of the input to a 1-position shift of its output (checked
    against an explicit shifted convolution); a dense layer has no such relation."""
    torch.manual_seed(0)
    x = torch.zeros(4, 1, 28, 28)
    x[:, :, 6:22, 6:22] = torch.rand(4, 1, 16, 16)          # zero borders, like MNIST
    conv = torch.nn.Conv2d(1, 8, 4, stride=2, padding=1)
    r = nn_.shift_response(conv, x, shift=2)
    assert r.equivariance_error < 1e-5 and r.change > 0.1
    # independent check: shifting the input by 2 equals computing the convolution at offset columns
    y = conv(x)
    ys = conv(torch.nn.functional.pad(x, (2, 0))[..., :28])
    assert torch.allclose(ys[..., 2:12], y[..., 1:11], atol=1e-6)
    dense = torch.nn.Linear(784, 64)
    rd = nn_.shift_response(dense, x, shift=2)
    assert math.isnan(rd.equivariance_error) and rd.change > 0.1
    with pytest.raises(ValueError, match="multiple of the stride"):
        nn_.shift_response(conv, x, shift=1)
    assert nn_.parameter_count(conv) == 8 * (1 * 4 * 4) + 8


# ----------------------------------------------------------------------------- tangents (1.3.8)

def test_local_pca_recovers_a_tangent_line():
    """Points on a line in R^5 (plus tiny noise): the local principal direction is the line's direction."""
    rng = np.random.default_rng(0)
    direction = rng.normal(size=5)
    direction /= np.linalg.norm(direction)
    data = rng.uniform(-1, 1, size=(500, 1)) * direction + 1e-3 * rng.normal(size=(500, 5))
    v = dr.local_pca(data[0], data, n_neighbors=50, n_components=1)
    assert abs(float(v[:, 0] @ direction)) > 0.999
    with pytest.raises(ValueError, match="n_components"):
        dr.local_pca(data[0], data, n_neighbors=2, n_components=3)


def test_encoder_tangents_of_a_linear_encoder_are_its_right_singular_vectors():
    from thesis_code.models import Autoencoder
    from thesis_code.models.autoencoders import AEConfig
    torch.manual_seed(0)
    model = Autoencoder(AEConfig(code_dim=3, hidden=(), activation="linear", input_shape=(6,)))
    w = next(m for m in model.encoder.modules() if isinstance(m, torch.nn.Linear)).weight.detach().double()
    t = nn_.encoder_tangents(model, torch.randn(2, 6), n=3)
    _, _, vh = np.linalg.svd(w.numpy())
    angles = dr.principal_angles(t[0].double().numpy(), vh[:3].T)
    assert np.all(angles < 1e-4)

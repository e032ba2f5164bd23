"""Latent-space image tasks (thesis_code.reconstruction) against independent computations: inpainting
on a linear-Gaussian model whose p(x_missing | x_observed) is exact, PSNR by hand, SSIM by a separate
scipy implementation of Wang et al. (2004), mixture sampling against its moments, probabilistic PCA
against scikit-learn's own likelihood, attribute vectors on codes with a planted shift."""
import math

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from thesis_code import reconstruction as rec
from thesis_code.linear_gaussian import LinearGaussianModel
from thesis_code.models.autoencoders import AEConfig, Autoencoder
from thesis_code.models.vae import VAE, VAEConfig

torch.set_num_threads(1)
D, d = 8, 3
MISSING = torch.tensor([False, False, True, False, True, True, False, False])


@pytest.fixture
def lg():
    model = LinearGaussianModel.random(data_dim=D, latent_dim=d, sigma=0.5, seed=3)
    x, _ = model.sample(5, torch.Generator().manual_seed(4))
    return model, x.detach()


def exact_conditional_via_latent(model, x):
    """E[x_m | x_o] and Cov[x_m | x_o] through the latent variable: p(z | x_o) is the posterior of the
    linear-Gaussian model restricted to the observed rows, then x_m = W_m z + b_m + noise. A route that
    does not use the Schur complement of the marginal covariance."""
    W, b, s = model.W.detach(), model.b.detach(), model.sigma
    obs = LinearGaussianModel(W[~MISSING], b[~MISSING], s)
    mean_z, cov_z = obs.posterior(x[:, ~MISSING])
    Wm = W[MISSING]
    return mean_z @ Wm.T + b[MISSING], Wm @ cov_z @ Wm.T + s ** 2 * torch.eye(int(MISSING.sum()), dtype=W.dtype), mean_z, cov_z


def test_conditional_gaussian_fill_matches_latent_route(lg):
    model, x = lg
    mean, cov = rec.conditional_gaussian_fill(model, x, MISSING)
    m2, c2, _, _ = exact_conditional_via_latent(model, x)
    torch.testing.assert_close(mean, m2)
    torch.testing.assert_close(cov, c2)


def test_inpaint_by_optimization_is_the_exact_conditional_mean(lg):
    model, x = lg
    out = rec.inpaint_by_optimization(model, x, MISSING, steps=1500, lr=0.05)
    expected, _, mean_z, _ = exact_conditional_via_latent(model, x)
    torch.testing.assert_close(out.x[:, MISSING], expected, atol=2e-3, rtol=0)
    torch.testing.assert_close(out.z, mean_z, atol=2e-3, rtol=0)
    torch.testing.assert_close(out.x[:, ~MISSING], x[:, ~MISSING])      # observed pixels untouched


def test_inpaint_by_iteration_converges_to_the_exact_conditional_mean(lg):
    model, x = lg
    out = rec.inpaint_by_iteration(model, x, MISSING, steps=400)
    expected, _, _, _ = exact_conditional_via_latent(model, x)
    torch.testing.assert_close(out.x[:, MISSING], expected, atol=1e-4, rtol=0)


def test_sampling_chain_is_a_gibbs_sampler_of_the_exact_posterior(lg):
    """With the exact posterior, sample=True alternates z ~ p(z | x) and x_m ~ p(x_m | z): its stationary
    law of z is p(z | x_o). Compare mean and covariance over many parallel chains (Monte Carlo error)."""
    model, x = lg
    n = 4000
    xs = x[:1].expand(n, -1).clone()
    out = rec.inpaint_by_iteration(model, xs, MISSING, steps=60, sample=True,
                                   generator=torch.Generator().manual_seed(0))
    _, _, mean_z, cov_z = exact_conditional_via_latent(model, x[:1])
    se = torch.sqrt(torch.diagonal(cov_z) / n)
    assert torch.all((out.z.mean(0) - mean_z[0]).abs() < 5 * se)
    torch.testing.assert_close(torch.cov(out.z.T).detach(), cov_z.detach(), atol=0.1 * float(torch.diagonal(cov_z).max().detach()), rtol=0)


def test_inpainting_rejects_bad_input(lg):
    model, x = lg
    with pytest.raises(ValueError, match="does not broadcast"):
        rec.inpaint_by_iteration(model, x, torch.zeros(5, dtype=torch.bool))
    with pytest.raises(ValueError, match="Generator"):
        rec.inpaint_by_iteration(model, x, MISSING, sample=True)
    ae = Autoencoder(AEConfig(code_dim=4, hidden=(16,)))
    with pytest.raises(TypeError, match="deterministic"):
        rec.inpaint_by_iteration(ae, torch.rand(2, 1, 28, 28), rec.half_mask(), sample=True,
                                 generator=torch.Generator())
    with pytest.raises(TypeError, match="no likelihood"):
        rec.inpaint_by_optimization(ae, torch.rand(2, 1, 28, 28), rec.half_mask(), steps=1)


def test_inpainting_a_vae_raises_the_objective_and_keeps_observed_pixels():
    torch.manual_seed(0)
    vae = VAE(VAEConfig(latent_dim=4, hidden=(32,))).eval()
    x = torch.bernoulli(torch.rand(6, 1, 28, 28), generator=torch.Generator().manual_seed(1))
    m = rec.half_mask((1, 28, 28), "bottom")
    zero = rec.inpaint_by_optimization(vae, x, m, steps=0)
    out = rec.inpaint_by_optimization(vae, x, m, steps=100, lr=0.05)
    assert torch.all(out.objective >= zero.objective - 1e-4)
    assert torch.equal(out.x[:, :, :14], x[:, :, :14])
    assert all(p.requires_grad for p in vae.parameters())              # model left trainable
    ae = Autoencoder(AEConfig(code_dim=4, hidden=(16,))).eval()
    it = rec.inpaint_by_iteration(ae, x, m, steps=3)
    assert torch.equal(it.x[:, :, :14], x[:, :, :14]) and it.x.shape == x.shape


def test_pixel_log_likelihood_sums_to_the_models_likelihood():
    torch.manual_seed(0)
    x = torch.bernoulli(torch.rand(3, 1, 28, 28))
    configs = [VAEConfig(latent_dim=3, hidden=(16,)),
               VAEConfig(latent_dim=3, hidden=(16,), likelihood="gaussian", sigma=0.3),
               VAEConfig(latent_dim=3, hidden=(16,), likelihood="gaussian", learn_variance=True)]
    if "logistic" in VAEConfig.__annotations__["likelihood"]:
        configs.append(VAEConfig(latent_dim=3, hidden=(16,), likelihood="logistic"))
    for cfg in configs:
        vae = VAE(cfg)
        z = torch.randn(3, 3)
        torch.testing.assert_close(rec.pixel_log_likelihood(vae, x, z).flatten(1).sum(1),
                                   vae.log_px_given_z(x, z))


def test_half_mask():
    m = rec.half_mask((1, 28, 28), "bottom")
    assert m.sum() == 14 * 28 and m[0, 14:].all() and not m[0, :14].any()
    assert (rec.half_mask((1, 28, 28), "left") == rec.half_mask((1, 28, 28), "right").logical_not()).all()
    with pytest.raises(ValueError, match="half"):
        rec.half_mask((1, 28, 28), "middle")


# ---------------------------------------------------------------------------- image quality

def test_psnr_by_hand():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 28, 28, generator=g)
    x_hat = (x + 0.1 * torch.randn(4, 1, 28, 28, generator=g)).clamp(0, 1)
    mse = ((x_hat - x) ** 2).flatten(1).mean(1)
    torch.testing.assert_close(rec.psnr(x_hat, x), 10 * torch.log10(1.0 / mse))
    m = rec.half_mask()
    mse_m = ((x_hat - x) ** 2)[:, m].mean(1)
    torch.testing.assert_close(rec.psnr(x_hat, x, missing=m), 10 * torch.log10(1.0 / mse_m))


def ssim_reference(a: np.ndarray, b: np.ndarray, sigma=1.5, radius=5, L=1.0) -> float:
    """SSIM of two 2-D images (Wang et al. 2004, eq. 13) with Gaussian-weighted local statistics, averaged
    over all pixels, the image mirrored at its borders (torchmetrics' convention: reflect padding)."""
    f = lambda im: gaussian_filter(im, sigma, truncate=radius / sigma, mode="mirror")  # noqa: E731
    c1, c2 = (0.01 * L) ** 2, (0.03 * L) ** 2
    mu_a, mu_b = f(a), f(b)
    saa, sbb, sab = f(a * a) - mu_a ** 2, f(b * b) - mu_b ** 2, f(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (saa + sbb + c2))
    return float(s.mean())


def test_ssim_against_a_scipy_implementation():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 1, 28, 28, generator=g, dtype=torch.float64)
    x_hat = (x + 0.2 * torch.randn(3, 1, 28, 28, generator=g, dtype=torch.float64)).clamp(0, 1)
    got = rec.ssim(x_hat, x)
    ref = [ssim_reference(x_hat[i, 0].numpy(), x[i, 0].numpy()) for i in range(3)]
    np.testing.assert_allclose(got.numpy(), ref, atol=1e-4)
    torch.testing.assert_close(rec.ssim(x, x), torch.ones(3), atol=1e-5, rtol=0)


# ---------------------------------------------------------------------------- sampling codes

def test_tempered_prior_has_standard_deviation_tau():
    z = rec.sample_prior(20000, 4, torch.Generator().manual_seed(0), temperature=0.5)
    assert abs(float(z.std()) - 0.5) < 0.01
    assert torch.equal(z, rec.sample_prior(20000, 4, torch.Generator().manual_seed(0), temperature=0.5))


def test_aggregate_posterior_samples_have_the_mixture_moments():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(50, 2, generator=g) * 2
    logvar = torch.randn(50, 2, generator=g) * 0.5 - 1
    z = rec.sample_aggregate_posterior(mu, logvar, 200000, torch.Generator().manual_seed(1))
    # law of total variance: Var = E[var_i] + Var[mu_i] (population variance over the N components)
    mean = mu.mean(0)
    var = logvar.exp().mean(0) + mu.var(0, unbiased=False)
    assert torch.all((z.mean(0) - mean).abs() < 5 * torch.sqrt(var / 200000))
    torch.testing.assert_close(z.var(0), var, rtol=0.02, atol=0)
    z0 = rec.sample_aggregate_posterior(mu, logvar, 10, torch.Generator().manual_seed(2), temperature=0)
    assert all(any(torch.equal(r, m) for m in mu) for r in z0)       # tau = 0: the training codes


def test_latent_mixture_recovers_planted_components_and_samples_them():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(3000, 2, generator=g) * 0.3 + torch.tensor([3.0, 0.0])
    b = torch.randn(1000, 2, generator=g) * 0.6 + torch.tensor([-3.0, 1.0])
    mix = rec.fit_latent_mixture(torch.cat([a, b]), n_components=2, seed=0)
    order = mix.means[:, 0].argsort(descending=True)
    torch.testing.assert_close(mix.weights[order], torch.tensor([0.75, 0.25], dtype=torch.float64), atol=0.01, rtol=0)
    torch.testing.assert_close(mix.means[order], torch.tensor([[3.0, 0.0], [-3.0, 1.0]], dtype=torch.float64), atol=0.05, rtol=0)
    z = rec.sample_latent_mixture(mix, 100000, torch.Generator().manual_seed(1))
    frac_a = float((z[:, 0] > 0).double().mean())
    assert abs(frac_a - float(mix.weights[order[0]])) < 0.01
    # log_prob against a direct mixture density
    pts = torch.tensor([[3.0, 0.0], [0.0, 0.0], [-3.0, 1.0]])
    dens = sum(float(w) * torch.distributions.MultivariateNormal(m, c).log_prob(pts.double()).exp()
               for w, m, c in zip(mix.weights, mix.means, mix.covariances))
    torch.testing.assert_close(mix.log_prob(pts).double(), torch.log(dens), atol=1e-5, rtol=1e-5)


def test_ppca_from_pca_matches_sklearn_likelihood():
    from sklearn.decomposition import PCA
    g = np.random.default_rng(0)
    X = g.normal(size=(500, 3)) @ g.normal(size=(3, 8)) + 0.3 * g.normal(size=(500, 8))
    pca = PCA(3).fit(X)
    model = rec.ppca_from_pca(pca)
    ll = model.log_marginal(torch.as_tensor(X[:20]))
    np.testing.assert_allclose(ll.detach().numpy(), pca.score_samples(X[:20]), rtol=1e-8)


# ---------------------------------------------------------------------------- attribute vectors

def test_attribute_vector_recovers_a_planted_shift():
    g = torch.Generator().manual_seed(0)
    base = torch.randn(4000, 5, generator=g)
    shift = torch.tensor([1.0, -2.0, 0.0, 0.5, 0.0])
    has = torch.arange(4000) % 2 == 0
    codes = base + has[:, None] * shift
    v = rec.attribute_vector(codes, has)
    assert torch.all((v - shift).abs() < 5 * math.sqrt(2 / 2000))
    moved = rec.shift_codes(codes[:3], v, [0.0, 1.0, -1.0])
    assert moved.shape == (3, 3, 5)
    torch.testing.assert_close(moved[1] - moved[0], v.expand(3, -1))
    with pytest.raises(ValueError, match="both groups"):
        rec.attribute_vector(codes, torch.ones(4000, dtype=torch.bool))


def test_ink_and_slant_of_a_drawn_line():
    img = torch.zeros(1, 1, 28, 28)
    for r in range(4, 25, 2):            # a line leaning right: column grows by 0.5 per row upwards
        img[0, 0, r, 14 - (r - 14) // 2] = 1.0
    assert abs(float(rec.slant(img)[0]) - 0.5) < 1e-5
    assert abs(float(rec.slant(img.flip(-1))[0]) + 0.5) < 1e-5
    torch.testing.assert_close(rec.ink(img), torch.tensor([11 / 784]))


# ---------------------------------------------------------------------------- chapter helpers (3.1, 3.2)

def test_within_class_split_balances_classes():
    from thesis_code.chapters.image_tasks import within_class_split
    labels = torch.tensor([0] * 4 + [1] * 4)
    values = torch.tensor([1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0])
    above = within_class_split(values, labels)
    # class 1's values are all larger than class 0's, yet each class contributes 2 to each group
    assert above.tolist() == [False, False, True, True, False, False, True, True]


def test_separation_rule_and_table():
    from thesis_code.chapters.image_tasks import best_row, reconstruction_table, separated
    assert separated(np.array([1.0, 1.1, 0.9]), np.array([2.0, 2.1, 1.9]))
    assert not separated(np.array([1.0, 1.5, 0.5]), np.array([1.2, 1.3, 1.1]))
    scores = {(r, t, m): np.array([v, v + 0.2, v - 0.2]) for r, v in (("A", 10.0), ("B", 12.0))
              for t in ("reconstruction", "denoising", "inpainting") for m in ("PSNR", "SSIM")}
    assert best_row(scores, "denoising") == "B"
    table = reconstruction_table(scores, caption="c", name="tbl-x")
    assert "| B | 12.00 ± 0.20 |" in table and ":name: tbl-x" in table

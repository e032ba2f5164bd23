"""Tests of thesis_code.latent: encoding, interpolation, traversals, the manifold grid, neighbours."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from thesis_code import latent
from thesis_code.models import VAE, VAEConfig


def small_vae(latent_dim=2, seed=0):
    torch.manual_seed(seed)
    return VAE(VAEConfig(latent_dim=latent_dim, hidden=(32,))).eval()


class TinyAE(nn.Module):
    """A deterministic autoencoder of the protocol: encode -> h, decode -> x_hat."""

    input_shape, code_dim = (1, 28, 28), 3

    def __init__(self):
        super().__init__()
        self.enc, self.dec = nn.Linear(784, 3), nn.Linear(3, 784)

    def encode(self, x):
        return self.enc(x.flatten(1))

    def decode(self, h):
        return torch.sigmoid(self.dec(h)).view(-1, 1, 28, 28)


def test_encode_dataset_batches_like_one_pass():
    model = small_vae(latent_dim=3)
    x = torch.rand(23, 1, 28, 28)
    codes = latent.encode_dataset(model, x, batch_size=5)
    mu, logvar = model.encode(x)
    torch.testing.assert_close(codes.mean, mu)
    torch.testing.assert_close(codes.logvar, logvar)
    ae_codes = latent.encode_dataset(TinyAE(), x, batch_size=4)
    assert ae_codes.logvar is None and ae_codes.codes.shape == (23, 3)
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        latent.encode_dataset(model, torch.rand(4, 784))


@pytest.mark.parametrize("fn", [latent.lerp, latent.slerp])
def test_interpolation_endpoints(fn):
    z0, z1 = torch.randn(5), torch.randn(5)
    path = fn(z0, z1, 7)
    assert path.shape == (7, 5)
    torch.testing.assert_close(path[0], z0)
    torch.testing.assert_close(path[-1], z1)
    batch = fn(torch.randn(3, 5), torch.randn(3, 5), 4)
    assert batch.shape == (4, 3, 5)


def test_lerp_midpoint_and_slerp_keeps_the_norm_of_equal_norm_endpoints():
    z0, z1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    torch.testing.assert_close(latent.lerp(z0, z1, 3)[1], torch.tensor([0.5, 0.5]))
    mid = latent.slerp(z0, z1, 3)[1]
    torch.testing.assert_close(mid, torch.tensor([1.0, 1.0]) / math.sqrt(2))   # on the unit circle
    norms = latent.slerp(3 * z0, 3 * z1, 11).norm(dim=1)
    torch.testing.assert_close(norms, torch.full((11,), 3.0))
    # parallel endpoints: falls back to the straight line
    torch.testing.assert_close(latent.slerp(z0, 2 * z0, 3), latent.lerp(z0, 2 * z0, 3))


def test_decoding_interpolation_endpoints_equals_decoding_the_codes():
    model = small_vae(latent_dim=4)
    x = torch.rand(2, 1, 28, 28)
    codes = latent.encode_dataset(model, x).mean
    for method in ("lerp", "slerp"):
        images = latent.interpolate_images(model, x[0], x[1], steps=6, method=method)
        assert images.shape == (6, 1, 28, 28)
        direct = model.decode_mean(codes)
        torch.testing.assert_close(images[0], direct[0])
        torch.testing.assert_close(images[-1], direct[1])


def test_traverse_sets_one_coordinate():
    model = small_vae(latent_dim=3)
    z = torch.tensor([0.3, -0.2, 1.0])
    values = [-2.0, 0.0, 2.0]
    images = latent.traverse(model, z, dim=1, values=values)
    assert images.shape == (3, 1, 28, 28)
    expected = model.decode_mean(torch.tensor([[0.3, v, 1.0] for v in values]))
    torch.testing.assert_close(images, expected)
    with pytest.raises(ValueError, match="dim"):
        latent.traverse(model, z, dim=3, values=values)


def test_manifold_grid_shape_and_corner_codes():
    model = small_vae(latent_dim=2)
    bounds = (0.05, 0.95)
    grid = latent.manifold_grid(model, n=5, bounds=bounds)
    assert grid.images.shape == (25, 1, 28, 28) and grid.codes.shape == (25, 2)
    lo, hi = (float(torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(b))) for b in bounds)
    from scipy.stats import norm   # an independent inverse CDF
    assert lo == pytest.approx(norm.ppf(0.05), abs=1e-5) and hi == pytest.approx(norm.ppf(0.95), abs=1e-5)
    # top-left: smallest z1, largest z2; bottom-right: largest z1, smallest z2 (a plot's orientation)
    torch.testing.assert_close(grid.codes[0], torch.tensor([lo, hi]))
    torch.testing.assert_close(grid.codes[4], torch.tensor([hi, hi]))
    torch.testing.assert_close(grid.codes[20], torch.tensor([lo, lo]))
    torch.testing.assert_close(grid.codes[24], torch.tensor([hi, lo]))
    torch.testing.assert_close(grid.images, model.decode_mean(grid.codes))
    assert grid.image.shape == (5 * 28, 5 * 28)
    with pytest.raises(ValueError, match="2-D latent"):
        latent.manifold_grid(small_vae(latent_dim=3))
    with pytest.raises(ValueError, match="bounds"):
        latent.manifold_grid(model, bounds=(0.0, 1.0))


def test_embed_2d_and_scatter():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rng = np.random.default_rng(0)
    two = rng.normal(size=(50, 2))
    assert np.array_equal(latent.embed_2d(two), two)
    five = rng.normal(size=(50, 5))
    pca = latent.embed_2d(five, "pca")
    assert pca.shape == (50, 2)
    # PCA's first axis carries the most variance
    assert pca[:, 0].var() >= pca[:, 1].var()
    assert latent.embed_2d(five[:40], "tsne").shape == (40, 2)
    ax = latent.scatter_by_label(torch.tensor(five), torch.arange(50) % 3)
    assert len(ax.collections) == 3 and ax.get_xlabel() == "PCA 1"
    ax = latent.scatter_by_label(two, np.arange(50) % 2)
    assert ax.get_xlabel() == "$z_1$"
    plt.close("all")
    with pytest.raises(ValueError, match="labels"):
        latent.scatter_by_label(two, np.arange(10))


def test_nearest_neighbours_against_brute_force():
    g = torch.Generator().manual_seed(0)
    train = torch.rand(130, 1, 28, 28, generator=g)
    samples = torch.rand(9, 1, 28, 28, generator=g)
    samples[3] = train[77]                       # an exact copy is found at distance 0
    d, i = latent.nearest_neighbours(samples, train, k=3, batch_size=17)
    full = ((samples.flatten(1)[:, None] - train.flatten(1)[None]) ** 2).sum(-1).sqrt()
    ref_d, ref_i = full.topk(3, dim=1, largest=False)
    assert torch.equal(i, ref_i)
    torch.testing.assert_close(d, ref_d, atol=1e-3, rtol=1e-4)
    assert int(i[3, 0]) == 77 and float(d[3, 0]) < 1e-2

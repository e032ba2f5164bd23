"""Bits-back ANS coding, the lossy latent codec and the classical codecs (section 3.6).

The message-length check compares the real ANS stream with the negative ELBO computed by the model
(`VAE.log_px_given_z` and the closed-form KL), not with the coder's own bookkeeping.
"""
import math

import numpy as np
import pytest
import torch
from torch import distributions as D

from thesis_code.evaluate import compression as C
from thesis_code.models.vae import VAE, VAEConfig
from thesis_code.objectives import kl_normal
from thesis_code.train import TrainConfig, fit

LOG2 = math.log(2.0)


def bar_images(n: int, seed: int) -> torch.Tensor:
    """Binary 28x28 images: two of eight thick bars, with 2% of the pixels flipped."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 1, 28, 28)
    for i in range(n):
        for b in torch.randperm(8, generator=g)[:2].tolist():
            if b < 4:
                x[i, 0, 7 * b:7 * b + 4, :] = 1
            else:
                x[i, 0, :, 7 * (b - 4):7 * (b - 4) + 4] = 1
    flip = torch.rand(x.shape, generator=g) < 0.02
    return torch.where(flip, 1 - x, x)


def latent_model_images(n: int, seed: int) -> torch.Tensor:
    """Binary 28x28 images from a known latent variable model: z ~ N(0, I_3), x ~ Bernoulli(sigmoid(A z
    + b)) with fixed random A, b. A VAE fitted to it can have an aggregate posterior close to its prior,
    the regime in which bits-back coding is efficient (Townsend et al. 2019, sec. 2.5)."""
    g = torch.Generator().manual_seed(1234)
    a, b = 2.5 * torch.randn(784, 3, generator=g), torch.randn(784, generator=g)
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 3, generator=g)
    return torch.bernoulli(torch.sigmoid(z @ a.T + b), generator=g).reshape(n, 1, 28, 28)


@pytest.fixture(scope="module")
def trained_vae():
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=3, hidden=(64,)))
    fit(model, latent_model_images(2048, seed=1), config=TrainConfig(epochs=12, batch_size=64,
                                                                     lr=3e-3, progress=False))
    return model.eval()


def test_equal_mass_buckets_against_torch_normal():
    edges, centres = C.equal_mass_buckets(6)
    normal = D.Normal(0.0, 1.0)
    cdf = normal.cdf(torch.as_tensor(edges[1:-1], dtype=torch.float64)).numpy()
    assert np.isneginf(edges[0]) and np.isposinf(edges[-1])
    np.testing.assert_allclose(np.diff(np.r_[0.0, cdf, 1.0]), np.full(64, 1 / 64), atol=1e-12)
    np.testing.assert_allclose(normal.cdf(torch.as_tensor(centres)).numpy(),
                               (np.arange(64) + 0.5) / 64, atol=1e-12)


def test_bbans_round_trip_is_bit_exact_and_length_matches_elbo(trained_vae):
    x = latent_model_images(60, seed=7)
    config = C.BBANSConfig(precision=10, initial_words=16, seed=3)
    res = C.bbans_compress(trained_vae, x, config)
    assert res["images_equal"] and res["initial_bits_recovered"]
    decoded, _ = C.bbans_decode(trained_vae, res["message"], len(x), config)
    assert torch.equal(torch.from_numpy(decoded).float(), x)

    # Independent estimate, with torch.distributions, of what the message should add per image: the
    # negative ELBO of the *discretized* latent, E_{i ~ Q(.|x)}[-log2 p(x|c_i) - log2 P(i) + log2 Q(i|x)],
    # where Q(i|x) is the posterior mass of equal-prior-mass bucket i, P(i) = 2**-precision and c_i the
    # bucket's centre; sampled as z ~ q(z|x) continuous, then i = the bucket z falls into.
    edges, centres = C.equal_mass_buckets(config.precision)
    edges_t, centres_t = torch.as_tensor(edges[1:-1]), torch.as_tensor(centres, dtype=torch.float32)
    with torch.no_grad():
        mu, logvar = trained_vae.encode(x)
        q = D.Normal(mu.double(), torch.exp(0.5 * logvar).double())
        z = q.sample((300,))                                              # (S, B, D)
        i = torch.bucketize(z, edges_t)                                   # bucket index of each z
        lo = torch.cat([torch.tensor([-math.inf], dtype=torch.float64), edges_t])[i]
        hi = torch.cat([edges_t, torch.tensor([math.inf], dtype=torch.float64)])[i]
        log_q = torch.log(q.cdf(hi) - q.cdf(lo)).sum(-1)                  # (S, B)
        log_px = trained_vae.log_px_given_z(x, centres_t[i])
        per_sample = (-log_px.double() + log_q) / LOG2 + config.precision * trained_vae.latent_dim
        # and the continuous negative ELBO (closed-form KL), which the discretization only approximates
        zc = trained_vae.reparameterize(mu, logvar, n=300)
        neg_elbo = (-trained_vae.log_px_given_z(x, zc).mean(0) + kl_normal(mu, logvar)) / LOG2
    net = res["total_bits"] - res["initial_bits"]
    expected = float(per_sample.mean(0).sum())
    # The message adds one single-sample estimate per image, so its spread is the square root of the sum
    # of the per-image variances; the coder itself may lose up to one 32-bit word at each end, and its
    # 24-bit fixed-point probabilities cost a small fraction of a bit per coded symbol (0.002 allowed).
    spread = float(per_sample.var(0).sum().sqrt())
    symbols = len(x) * (784 + 2 * trained_vae.latent_dim)
    slack = 4 * spread + 64 + 0.002 * symbols
    assert float(neg_elbo.sum()) < 784 * len(x) * 0.5   # the model has learned: the check has teeth
    assert abs(net - expected) < slack, (net, expected, slack)
    # with 2**10 buckets per dimension the discretized bound is within 2% of the continuous one here
    assert abs(expected - float(neg_elbo.sum())) < 0.02 * float(neg_elbo.sum())
    assert abs(net - float(neg_elbo.sum())) < 0.02 * float(neg_elbo.sum())


def test_bbans_rejects_non_binary_images(trained_vae):
    with pytest.raises(ValueError, match="binar"):
        C.bbans_encode(trained_vae, torch.rand(2, 1, 28, 28) * 0.5 + 0.25)


def test_lossy_latent_codec_round_trip_and_length():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(3000, 5)) * np.array([1.0, 0.5, 2.0, 0.1, 1.0])
    q = C.LatentQuantizer.fit(codes, step=0.25)
    idx = q.quantize(codes)
    message = C.code_latents(q, idx)
    assert np.array_equal(C.decode_latents(q, message, len(idx)), idx)
    assert np.abs(q.dequantize(idx) - codes).max() <= 0.125 + 1e-12
    # the empirical entropy (scipy) of the indices is what an ideal code fitted to them spends
    from scipy.stats import entropy
    h_bits = sum(entropy(np.unique(idx[:, d], return_counts=True)[1], base=2) for d in range(5))
    real = 32 * len(message)
    assert len(codes) * h_bits <= real + 5 * len(codes) * 0.01 + 64
    assert real <= len(codes) * h_bits * 1.01 + 64


def test_classical_codecs_on_trivial_and_random_bits():
    zeros = torch.zeros(100, 1, 28, 28)
    rand = torch.bernoulli(torch.full((100, 1, 28, 28), 0.5), generator=torch.Generator().manual_seed(0))
    easy = {**C.packed_bits_codecs(zeros), **C.png_webp_lossless(zeros)}
    hard = {**C.packed_bits_codecs(rand), **C.png_webp_lossless(rand)}
    assert max(easy.values()) < 0.02
    assert min(hard.values()) > 0.98     # fair coin flips cannot be compressed (source coding theorem)


def test_mosaic_inverse_and_jpeg_quality_monotone():
    images = np.random.default_rng(0).integers(0, 256, size=(37, 28, 28), dtype=np.uint8)
    assert np.array_equal(C.unmosaic(C.mosaic(images, columns=10), 37), images)
    x = bar_images(50, seed=2) * 0.8 + 0.1
    rows = C.jpeg_webp_lossy(x, {"JPEG": [10, 90]}, columns=10)
    low, high = rows
    assert low["bpp"] < high["bpp"]
    assert C.psnr(low["x_hat"], x) < C.psnr(high["x_hat"], x)


class _LinearDecoder(torch.nn.Module):
    """decode_mean(h) = h W^T + b reshaped to images: a decoder whose refinement has a closed form."""

    def __init__(self, d: int, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.lin = torch.nn.Linear(d, 16)
        with torch.no_grad():
            self.lin.weight.copy_(torch.randn(16, d, generator=g) / 2)
            self.lin.bias.copy_(torch.randn(16, generator=g) / 4)

    def decode_mean(self, h):
        return self.lin(h).reshape(len(h), 1, 4, 4)


def test_refine_codes_reaches_the_ridge_solution_of_a_linear_decoder():
    """With x_hat = W h + b the objective ||x - W h - b||^2 + lam sum (h - m)^2 / (2 s^2) is quadratic;
    its minimizer solves (2 W^T W + lam diag(1/s^2)) h = 2 W^T (x - b) + lam m / s^2 (numpy.linalg)."""
    d, n, lam = 5, 7, 0.7
    model = _LinearDecoder(d, seed=3)
    g = torch.Generator().manual_seed(4)
    x = torch.rand(n, 1, 4, 4, generator=g)
    codes = torch.randn(n, d, generator=g).double().numpy()
    m, s = np.linspace(-0.5, 0.5, d), np.linspace(0.5, 2.0, d)
    refined = C.refine_codes(model, codes, x, steps=3000, lr=0.05, rate_weight=lam, centre=m, spread=s)
    w = model.lin.weight.detach().double().numpy()
    b = model.lin.bias.detach().double().numpy()
    a = 2 * w.T @ w + lam * np.diag(1 / s ** 2)
    rhs = 2 * (x.reshape(n, -1).double().numpy() - b) @ w + lam * m / s ** 2
    exact = np.linalg.solve(a, rhs.T).T
    assert np.abs(refined - exact).max() < 2e-3
    # the decoder's parameters are untouched and trainable again afterwards
    assert all(p.requires_grad for p in model.parameters())
    assert torch.equal(model.lin.weight.detach().double(), torch.as_tensor(w))


def test_refine_codes_treats_images_independently_and_rejects_bad_input():
    model = _LinearDecoder(3, seed=5)
    g = torch.Generator().manual_seed(6)
    x = torch.rand(4, 1, 4, 4, generator=g)
    codes = torch.randn(4, 3, generator=g).double().numpy()
    kw = dict(steps=25, lr=0.1, rate_weight=0.2, centre=np.zeros(3), spread=np.ones(3))
    together = C.refine_codes(model, codes, x, **kw)
    alone = np.concatenate([C.refine_codes(model, codes[i:i + 1], x[i:i + 1], **kw) for i in range(4)])
    assert np.allclose(together, alone, atol=1e-5)
    assert np.array_equal(C.refine_codes(model, codes, x, **{**kw, "steps": 0}), codes)
    with pytest.raises(ValueError, match="codes must be"):
        C.refine_codes(model, codes[:3], x, **kw)
    with pytest.raises(ValueError, match="spread"):
        C.refine_codes(model, codes, x, **{**kw, "spread": np.array([1.0, 0.0, 1.0])})
    with pytest.raises(ValueError, match="rate_weight"):
        C.refine_codes(model, codes, x, **{**kw, "rate_weight": -1.0})

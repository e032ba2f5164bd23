"""Observation tasks on images in a VAE's latent space: generating, reconstructing, denoising and
inpainting (chapter 3, sections 3.1 and 3.2).

Generation (3.1)
    sample_prior / temperature         z = tau * eps, eps ~ N(0, I): the prior, optionally tempered
    sample_aggregate_posterior         z ~ q(z) = 1/N sum_i q(z|x_i): pick i, then z ~ q(z|x_i)
    fit_latent_mixture / sample_latent_mixture
                                       a Gaussian mixture fitted to the training codes, an explicit
                                       density standing in for q(z) (cf. the "ex-post density estimation"
                                       of Ghosh et al. 2020), sampled with a torch.Generator
    attribute_vector / shift_codes     the mean code difference between two groups of images, added to
                                       codes (White 2016; Larsen et al. 2016)
    ink / slant                        pixel-space measurements used to check what an attribute vector does

Reconstruction (3.2)
    half_mask                          which pixels are missing (True = missing)
    inpaint_by_optimization            z* = argmax_z log p(x_obs | z) + log p(z), then decode the missing
                                       pixels: MAP inference of the code from the observed pixels only
    inpaint_by_iteration               encode, decode, clamp the observed pixels, repeat (Rezende et al.
                                       2014, appendix F); with ``sample=True`` a Gibbs-like chain
    psnr / ssim                        per-image PSNR and SSIM through torchmetrics

Every function that draws random numbers takes an explicit ``torch.Generator``. The inpainting functions
accept three kinds of model: a VAE (``encode -> (mu, logvar)``, ``decode -> logits`` or ``(mean,
logvar)``), a deterministic autoencoder (``encode -> h``, ``decode -> x_hat``; iteration only) and the
exact :class:`~thesis_code.linear_gaussian.LinearGaussianModel`, on which both methods can be checked
against the closed-form conditional p(x_missing | x_observed).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .linear_gaussian import LinearGaussianModel

LOG_2PI = math.log(2 * math.pi)


# ============================================================================ sampling codes (3.1)

def _check_codes(z: torch.Tensor, name: str = "codes") -> None:
    if not torch.is_tensor(z) or z.dim() != 2:
        raise ValueError(f"expected {name} of shape (N, latent_dim), got {tuple(getattr(z, 'shape', ()))}")


def sample_prior(n: int, latent_dim: int, generator: torch.Generator, temperature: float = 1.0,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """``n`` codes from the tempered prior N(0, tau^2 I), ``(n, latent_dim)``.

    A temperature tau < 1 keeps the codes near the prior's mode, where the decoder has seen most
    training codes: samples get cleaner and less varied (the trade-off Kingma & Dhariwal 2018 show for
    Glow). tau = 1 is the model as defined."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    z = torch.randn(n, latent_dim, generator=generator, device=generator.device)
    return (temperature * z).to(device)


def sample_aggregate_posterior(mu: torch.Tensor, logvar: torch.Tensor, n: int,
                               generator: torch.Generator, temperature: float = 1.0) -> torch.Tensor:
    """``n`` draws from the aggregate posterior q(z) = 1/N sum_i N(mu_i, diag exp(logvar_i)).

    A mixture is sampled by picking a component uniformly and drawing from it. ``temperature`` scales
    the components' standard deviations (tau = 0 returns training codes mu_i themselves)."""
    _check_codes(mu, "mu")
    if logvar.shape != mu.shape:
        raise ValueError(f"mu and logvar must have the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    gdev = generator.device
    idx = torch.randint(0, mu.shape[0], (n,), generator=generator, device=gdev).to(mu.device)
    eps = torch.randn(n, mu.shape[1], generator=generator, device=gdev, dtype=mu.dtype).to(mu.device)
    return mu[idx] + temperature * torch.exp(0.5 * logvar[idx]) * eps


@dataclass(frozen=True)
class LatentMixture:
    """A Gaussian mixture with full covariances in latent space: weights (K,), means (K, d), covs (K, d, d)."""

    weights: torch.Tensor
    means: torch.Tensor
    covariances: torch.Tensor

    @property
    def n_components(self) -> int:
        return int(self.weights.shape[0])

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log density at z ``(P, d)`` -> ``(P,)``."""
        comp = torch.distributions.MultivariateNormal(self.means.double(), covariance_matrix=self.covariances.double())
        log_pk = comp.log_prob(z.double()[:, None, :]) + torch.log(self.weights.double())[None]
        return torch.logsumexp(log_pk, dim=1).to(z.dtype)


def fit_latent_mixture(codes: torch.Tensor, n_components: int = 10, seed: int = 0,
                       max_iter: int = 200) -> LatentMixture:
    """Fit a full-covariance Gaussian mixture to codes ``(N, d)`` by EM (scikit-learn's
    ``GaussianMixture``, k-means initialisation seeded by ``seed``).

    Sampling it instead of N(0, I) draws codes where the encoder actually put the training images,
    avoiding the holes of section 2.5 (a two-stage idea: Dai & Wipf 2019; Ghosh et al. 2020)."""
    from sklearn.mixture import GaussianMixture
    _check_codes(codes)
    if codes.shape[0] < n_components:
        raise ValueError(f"need at least n_components = {n_components} codes, got {codes.shape[0]}")
    gmm = GaussianMixture(n_components, covariance_type="full", random_state=seed, max_iter=max_iter,
                          reg_covar=1e-5).fit(codes.detach().cpu().double().numpy())
    as_t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float64)  # noqa: E731
    return LatentMixture(as_t(gmm.weights_), as_t(gmm.means_), as_t(gmm.covariances_))


def sample_latent_mixture(mixture: LatentMixture, n: int, generator: torch.Generator,
                          temperature: float = 1.0) -> torch.Tensor:
    """``n`` codes from ``mixture`` (component k with probability w_k, then z = m_k + tau L_k eps with
    L_k L_k^T = C_k); float32 ``(n, d)`` on the CPU."""
    k = torch.multinomial(mixture.weights.float(), n, replacement=True, generator=generator)
    eps = torch.randn(n, mixture.means.shape[1], generator=generator, dtype=torch.float64)
    chol = torch.linalg.cholesky(mixture.covariances)
    z = mixture.means[k] + temperature * torch.einsum("nij,nj->ni", chol[k], eps)
    return z.float()


# ============================================================================ attribute vectors (3.1)

def attribute_vector(codes: torch.Tensor, has_attribute: torch.Tensor) -> torch.Tensor:
    """v = mean of the codes with the attribute - mean of the codes without it, ``(d,)``.

    Adding ``alpha * v`` to a code moves it, on average, from the second group towards the first; what
    else v changes depends on what else differs between the groups, so the groups should differ in the
    attribute only (e.g. thick and thin strokes *within* each digit class)."""
    _check_codes(codes)
    has_attribute = torch.as_tensor(has_attribute, dtype=torch.bool, device=codes.device)
    if has_attribute.shape != (codes.shape[0],):
        raise ValueError(f"expected a boolean mask of shape ({codes.shape[0]},), got {tuple(has_attribute.shape)}")
    n_in = int(has_attribute.sum())
    if n_in == 0 or n_in == codes.shape[0]:
        raise ValueError("both groups need at least one code (the mask is all False or all True)")
    return codes[has_attribute].mean(0) - codes[~has_attribute].mean(0)


def shift_codes(z: torch.Tensor, vector: torch.Tensor, alphas) -> torch.Tensor:
    """z + alpha v for every alpha: ``(len(alphas), N, d)``."""
    _check_codes(z)
    a = torch.as_tensor(alphas, dtype=z.dtype, device=z.device)
    return z[None] + a[:, None, None] * vector.to(z)[None, None]


def ink(x: torch.Tensor) -> torch.Tensor:
    """Mean intensity of each image ``(B, ...) -> (B,)``: a stroke-thickness (MNIST) or brightness
    (Fashion-MNIST) measurement in pixel space."""
    return x.flatten(1).mean(1)


def slant(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """The horizontal shear of each image from its intensity moments, -mu_11 / mu_02: how many columns
    the stroke moves right per row upwards (> 0 leans right), ``(B, C, H, W) -> (B,)``. The moment
    measurement used to deslant handwritten digits."""
    if x.dim() != 4:
        raise ValueError(f"expected images of shape (B, C, H, W), got {tuple(x.shape)}")
    img = x.sum(1)                                                       # (B, H, W)
    H, W = img.shape[-2:]
    rows = torch.arange(H, dtype=img.dtype, device=img.device)[:, None]
    cols = torch.arange(W, dtype=img.dtype, device=img.device)[None, :]
    mass = img.sum((1, 2)) + eps
    r0 = (img * rows).sum((1, 2)) / mass
    c0 = (img * cols).sum((1, 2)) / mass
    dr, dc = rows[None] - r0[:, None, None], cols[None] - c0[:, None, None]
    mu11 = (img * dr * dc).sum((1, 2)) / mass
    mu02 = (img * dr ** 2).sum((1, 2)) / mass
    # rows grow downwards: a right-leaning stroke has its top (small r) to the right (large c),
    # i.e. a negative r-c covariance; flip the sign so that right-leaning is positive.
    return -mu11 / (mu02 + eps)


# ============================================================================ models as used here

def _is_linear_gaussian(model) -> bool:
    return isinstance(model, LinearGaussianModel)


def _is_probabilistic(model) -> bool:
    return _is_linear_gaussian(model) or hasattr(model, "log_px_given_z")


def encode_mean(model, x: torch.Tensor) -> torch.Tensor:
    """The code of x: the posterior mean (VAE, linear-Gaussian model) or the deterministic code (AE)."""
    if _is_linear_gaussian(model):
        return model.posterior(x)[0]
    out = model.encode(x)
    return out[0] if isinstance(out, (tuple, list)) else out


def encode_sample(model, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One draw z ~ q(z|x) (the exact posterior for the linear-Gaussian model)."""
    if _is_linear_gaussian(model):
        mean, cov = model.posterior(x)
        eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=generator.device)
        return mean + eps.to(mean.device) @ torch.linalg.cholesky(cov).T
    out = model.encode(x)
    if not isinstance(out, (tuple, list)):
        raise TypeError(f"{type(model).__name__} has a deterministic encoder: it cannot sample z ~ q(z|x)")
    mu, logvar = out
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=generator.device).to(mu.device)
    return mu + torch.exp(0.5 * logvar) * eps


def decode_mean(model, z: torch.Tensor) -> torch.Tensor:
    """E[x | z] (VAE, linear-Gaussian model) or g(z) (AE)."""
    if _is_linear_gaussian(model):
        return z @ model.W.T + model.b
    if hasattr(model, "decode_mean"):
        return model.decode_mean(z)
    return model.decode(z)


def pixel_log_likelihood(model, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """log p(x_j | z) of every pixel (not summed), the shape of x: the building block of a likelihood
    restricted to observed pixels. Bernoulli decoders (logits) and Gaussian ones ((mean, logvar))."""
    if _is_linear_gaussian(model):
        mean = z @ model.W.T + model.b
        return -0.5 * (LOG_2PI + 2 * math.log(model.sigma) + (x - mean) ** 2 / model.sigma ** 2)
    if not hasattr(model, "log_px_given_z"):
        raise TypeError(f"{type(model).__name__} defines no likelihood p(x|z); use inpaint_by_iteration")
    params = model.decode(z)
    lik = getattr(model, "likelihood", None)
    if hasattr(lik, "log_prob_per_dim"):            # e.g. the discretized logistic
        return lik.log_prob_per_dim(x, params)
    if isinstance(params, (tuple, list)):           # Gaussian: (mean, logvar)
        mean, logvar = params
        return -0.5 * (LOG_2PI + logvar + (x - mean) ** 2 * torch.exp(-logvar))
    return -F.binary_cross_entropy_with_logits(params, x, reduction="none")   # Bernoulli logits


def sample_pixels(model, z: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One draw x ~ p(x | z) (Bernoulli or Gaussian decoder, or the linear-Gaussian model)."""
    if _is_linear_gaussian(model):
        mean = z @ model.W.T + model.b
        eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=generator.device)
        return mean + model.sigma * eps.to(mean.device)
    params = model.decode(z)
    lik = getattr(model, "likelihood", None)
    if hasattr(lik, "sample") and generator.device == _device_of(params):
        return lik.sample(params, generator)
    if isinstance(params, (tuple, list)):
        mean, logvar = params
        eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=generator.device)
        return mean + torch.exp(0.5 * logvar) * eps.to(mean.device)
    u = torch.rand(params.shape, generator=generator, dtype=params.dtype, device=generator.device)
    return (u.to(params.device) < torch.sigmoid(params)).to(params.dtype)


def _device_of(params) -> torch.device:
    return (params[0] if isinstance(params, (tuple, list)) else params).device


def _log_prior(model, z: torch.Tensor) -> torch.Tensor:
    if hasattr(model, "log_prior"):
        return model.log_prior(z)
    return -0.5 * (z ** 2).sum(-1) - 0.5 * z.shape[-1] * LOG_2PI


# ============================================================================ masks and inpainting (3.2)

def half_mask(shape: tuple[int, ...] = (1, 28, 28), half: str = "bottom") -> torch.Tensor:
    """A boolean mask of one image's shape ``(C, H, W)``, True on the missing half."""
    if len(shape) != 3:
        raise ValueError(f"expected an image shape (C, H, W), got {shape}")
    m = torch.zeros(shape, dtype=torch.bool)
    C, H, W = shape
    sl = {"bottom": (slice(None), slice(H // 2, None), slice(None)),
          "top": (slice(None), slice(None, H // 2), slice(None)),
          "right": (slice(None), slice(None), slice(W // 2, None)),
          "left": (slice(None), slice(None), slice(None, W // 2))}
    if half not in sl:
        raise ValueError(f"half must be one of {sorted(sl)}, got {half!r}")
    m[sl[half]] = True
    return m


def _check_mask(x: torch.Tensor, missing: torch.Tensor) -> torch.Tensor:
    missing = torch.as_tensor(missing, dtype=torch.bool, device=x.device)
    try:
        return missing.expand_as(x)
    except RuntimeError:
        raise ValueError(f"the mask {tuple(missing.shape)} does not broadcast to the images "
                         f"{tuple(x.shape)}") from None


@dataclass
class Inpainting:
    """The completed images (observed pixels kept, missing ones filled) and the final codes."""

    x: torch.Tensor
    z: torch.Tensor
    objective: torch.Tensor | None = None   # per image log p(x_obs | z*) + log p(z*) (optimization only)


def inpaint_by_optimization(model, x: torch.Tensor, missing: torch.Tensor, steps: int = 300,
                            lr: float = 0.05, fill: float = 0.0) -> Inpainting:
    """MAP inpainting in latent space: maximize J(z) = sum_{j observed} log p(x_j | z) + log p(z) over z
    for each image, starting from the encoder's code of the image with the missing pixels set to
    ``fill``, then fill the missing pixels with the decoder mean E[x_missing | z*].

    Only the observed pixels enter J, so the decoder's knowledge of whole images does the completing.
    For the linear-Gaussian model J is concave and z* is the posterior mean of z given x_obs, so the
    fill equals the exact conditional mean E[x_missing | x_obs] (the check in the tests). Adam with a
    learning rate decayed linearly to zero; no randomness.
    """
    missing = _check_mask(x, missing)
    observed = (~missing).to(x.dtype)
    x_in = torch.where(missing, torch.full_like(x, fill), x)
    with torch.no_grad():
        z0 = encode_mean(model, x_in)
    z = z0.detach().clone().requires_grad_(True)
    params = [p for p in (model.parameters() if hasattr(model, "parameters") else [])]
    saved = [p.requires_grad for p in params]
    for p in params:                      # only z is optimized; freeze the model for speed
        p.requires_grad_(False)
    try:
        opt = torch.optim.Adam([z], lr=lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0 - t / max(steps, 1))
        for _ in range(steps):
            opt.zero_grad()
            J = ((pixel_log_likelihood(model, x_in, z) * observed).flatten(1).sum(1) + _log_prior(model, z))
            (-J.sum()).backward()
            opt.step()
            sched.step()
    finally:
        for p, r in zip(params, saved):
            p.requires_grad_(r)
    with torch.no_grad():
        z = z.detach()
        J = (pixel_log_likelihood(model, x_in, z) * observed).flatten(1).sum(1) + _log_prior(model, z)
        filled = torch.where(missing, decode_mean(model, z).reshape(x.shape), x)
    return Inpainting(filled, z, J)


@torch.no_grad()
def inpaint_by_iteration(model, x: torch.Tensor, missing: torch.Tensor, steps: int = 50,
                         fill: float = 0.0, sample: bool = False,
                         generator: torch.Generator | None = None) -> Inpainting:
    """Iterated encode/decode with the observed pixels clamped (Rezende et al. 2014, appendix F):

        x^(0) = x with the missing pixels set to ``fill``
        z^(t) = E_q[z | x^(t)]          (or, with ``sample=True``, z^(t) ~ q(z | x^(t)))
        x^(t+1)_missing = E[x_missing | z^(t)]   (or a draw from p(x_missing | z^(t)))

    Deterministic, it is a fixed-point iteration that works for any autoencoder; for the linear-Gaussian
    model with its exact posterior it is the EM-style iteration whose fixed point is E[x_missing | x_obs].
    With ``sample=True`` and an exact posterior it is a Gibbs sampler of p(z, x_missing | x_obs); with an
    amortized q it is the approximate chain of Rezende et al. The returned images carry the decoder mean
    of the last code in the missing pixels (a smooth completion even when the chain samples).
    """
    missing = _check_mask(x, missing)
    if sample and generator is None:
        raise ValueError("sample=True needs an explicit torch.Generator")
    if sample and not _is_probabilistic(model):
        raise TypeError(f"{type(model).__name__} is deterministic: only sample=False is possible")
    cur = torch.where(missing, torch.full_like(x, fill), x)
    z = None
    for _ in range(steps):
        z = encode_sample(model, cur, generator) if sample else encode_mean(model, cur)
        new = (sample_pixels(model, z, generator) if sample else decode_mean(model, z)).reshape(x.shape)
        cur = torch.where(missing, new, x)
    if z is None:
        z = encode_mean(model, cur)
    filled = torch.where(missing, decode_mean(model, z).reshape(x.shape), x)
    return Inpainting(filled, z)


def conditional_gaussian_fill(model: LinearGaussianModel, x: torch.Tensor, missing: torch.Tensor
                              ) -> tuple[torch.Tensor, torch.Tensor]:
    """The exact p(x_m | x_o) of a linear-Gaussian model (probabilistic PCA), with one mask shared by
    the batch: returns (mean ``(B, |m|)``, covariance ``(|m|, |m|)``) by conditioning the Gaussian
    marginal N(b, W W^T + sigma^2 I) (the Schur complement). This is PCA's inpainting."""
    missing = torch.as_tensor(missing, dtype=torch.bool).reshape(-1)
    if x.dim() != 2 or missing.shape != (x.shape[1],):
        raise ValueError(f"expected x of shape (B, D) and a mask of shape (D,), got {tuple(x.shape)}, "
                         f"{tuple(missing.shape)}")
    W, b = model.W.detach(), model.b.detach()
    cov = W @ W.T + model.sigma ** 2 * torch.eye(W.shape[0], dtype=W.dtype)
    m, o = missing, ~missing
    gain = cov[m][:, o] @ torch.linalg.inv(cov[o][:, o])
    mean = b[m] + (x[:, o] - b[o]) @ gain.T
    return mean, cov[m][:, m] - gain @ cov[o][:, m]


def ppca_from_pca(pca) -> LinearGaussianModel:
    """The maximum-likelihood probabilistic PCA (Tipping & Bishop 1999, eq. 7-8) of a fitted scikit-learn
    ``PCA``: W = U (Lambda - sigma^2 I)^{1/2}, b = the data mean, sigma^2 = the mean discarded eigenvalue
    (scikit-learn's ``noise_variance_``). Lets PCA inpaint by exact Gaussian conditioning."""
    U = torch.as_tensor(pca.components_.T, dtype=torch.float64)
    lam = torch.as_tensor(pca.explained_variance_, dtype=torch.float64)
    s2 = float(pca.noise_variance_)
    if s2 <= 0:
        raise ValueError("PCA kept every direction (noise variance 0): use fewer components")
    W = U * torch.sqrt(torch.clamp(lam - s2, min=0.0))[None]
    return LinearGaussianModel(W, torch.as_tensor(pca.mean_, dtype=torch.float64), math.sqrt(s2))


# ============================================================================ image quality

def psnr(x_hat: torch.Tensor, x: torch.Tensor, missing: torch.Tensor | None = None,
         data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per image, 10 log10(range^2 / MSE) in dB, ``(B,)`` (torchmetrics).

    With ``missing`` (one mask for the batch) only those pixels count: the quality of an inpainting
    itself rather than of the pixels that were given."""
    from torchmetrics.functional.image import peak_signal_noise_ratio
    if x_hat.shape != x.shape:
        raise ValueError(f"x_hat {tuple(x_hat.shape)} and x {tuple(x.shape)} must have the same shape")
    a, b = x_hat.flatten(1).float(), x.flatten(1).float()
    if missing is not None:
        m = torch.as_tensor(missing, dtype=torch.bool, device=x.device).reshape(-1)
        if m.shape != (a.shape[1],):
            raise ValueError(f"the mask must have one image's {a.shape[1]} pixels, got {tuple(missing.shape)}")
        a, b = a[:, m], b[:, m]
    return peak_signal_noise_ratio(a, b, data_range=data_range, reduction="none", dim=1)


def ssim(x_hat: torch.Tensor, x: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Structural similarity per image (Wang et al. 2004; 11x11 Gaussian window, sigma 1.5), ``(B,)``,
    from torchmetrics. Images ``(B, C, H, W)``."""
    from torchmetrics.functional.image import structural_similarity_index_measure
    if x_hat.shape != x.shape or x.dim() != 4:
        raise ValueError(f"expected two image batches (B, C, H, W) of one shape, got {tuple(x_hat.shape)}, "
                         f"{tuple(x.shape)}")
    return structural_similarity_index_measure(x_hat.float(), x.float(), data_range=data_range,
                                               reduction="none")

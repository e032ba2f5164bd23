"""Tools for looking at a latent space: encode a data set, interpolate, traverse one dimension, decode a
2-D grid (the "learned manifold" of Kingma & Welling 2013, fig. 4), scatter codes by label, and find the
nearest training images of generated samples.

Works with any VAE of the protocol in ARCHITECTURE.md (``encode -> (mu, logvar)``, ``decode_mean``) and
with deterministic autoencoders (``encode -> h``, ``decode -> x_hat``).
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import numpy as np
import torch


@contextlib.contextmanager
def _eval_mode(model):
    """Evaluate with dropout/batch-norm in inference mode, then restore the previous mode."""
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        yield model
    finally:
        if was_training:
            model.train()


@dataclass
class Codes:
    """The codes of a data set: posterior means and log-variances (VAE) or deterministic codes (AE,
    ``logvar is None``)."""

    mean: torch.Tensor
    logvar: torch.Tensor | None = None

    @property
    def codes(self) -> torch.Tensor:
        return self.mean

    def __len__(self) -> int:
        return self.mean.shape[0]


@torch.no_grad()
def encode_dataset(model, x: torch.Tensor, batch_size: int = 500, y: torch.Tensor | None = None) -> Codes:
    """Encode ``x`` in batches. VAEs give ``Codes(mu, logvar)``; deterministic autoencoders ``Codes(h)``.

    ``y`` (labels) is passed on to conditional models.
    """
    if not torch.is_tensor(x) or x.dim() < 2:
        raise ValueError(f"expected a batch of images (N, 1, 28, 28), got {getattr(x, 'shape', type(x))}")
    means, logvars = [], []
    ys = y.split(batch_size) if y is not None else [None] * math.ceil(x.shape[0] / batch_size)
    with _eval_mode(model):
        for xb, yb in zip(x.split(batch_size), ys):
            out = model.encode(xb) if yb is None else model.encode(xb, yb)
            if isinstance(out, (tuple, list)):
                means.append(out[0])
                logvars.append(out[1])
            else:
                means.append(out)
    return Codes(mean=torch.cat(means), logvar=torch.cat(logvars) if logvars else None)


@torch.no_grad()
def decode_images(model, z: torch.Tensor) -> torch.Tensor:
    """Images (decoder means) of codes z (B, latent_dim), for VAEs and deterministic autoencoders."""
    with _eval_mode(model):
        if hasattr(model, "decode_mean"):
            return model.decode_mean(z)
        return model.decode(z)


def _latent_dim(model) -> int:
    for name in ("latent_dim", "code_dim"):
        if hasattr(model, name):
            return int(getattr(model, name))
    raise AttributeError(f"{type(model).__name__} has neither latent_dim nor code_dim")


# ----------------------------------------------------------------------------- interpolation
def _interp_weights(steps: int, like: torch.Tensor) -> torch.Tensor:
    if steps < 2:
        raise ValueError(f"steps must be >= 2 (the two endpoints), got {steps}")
    t = torch.linspace(0.0, 1.0, steps, dtype=like.dtype, device=like.device)
    return t.view(steps, *([1] * like.dim()))


def _check_pair(z0: torch.Tensor, z1: torch.Tensor) -> None:
    if z0.shape != z1.shape:
        raise ValueError(f"endpoints must have the same shape, got {tuple(z0.shape)} and {tuple(z1.shape)}")


def lerp(z0: torch.Tensor, z1: torch.Tensor, steps: int = 10) -> torch.Tensor:
    """Linear interpolation z(t) = (1 - t) z0 + t z1 at ``steps`` equally spaced t in [0, 1];
    shape ``(steps, *z0.shape)``."""
    _check_pair(z0, z1)
    t = _interp_weights(steps, z0)
    return (1 - t) * z0 + t * z1


def slerp(z0: torch.Tensor, z1: torch.Tensor, steps: int = 10, eps: float = 1e-7) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985; White 2016 for generative models):

        z(t) = sin((1 - t) w) / sin(w) z0 + sin(t w) / sin(w) z1,   cos w = <z0, z1> / (|z0| |z1|)

    Under a Gaussian prior most mass lies near a sphere; slerp stays near it where lerp cuts through the
    low-norm middle. Works on vectors (D,) or batches (B, D) (per row). Falls back to lerp when z0 and
    z1 are (nearly) parallel.
    """
    _check_pair(z0, z1)
    t = _interp_weights(steps, z0)
    cos = (z0 * z1).sum(-1, keepdim=True) / (z0.norm(dim=-1, keepdim=True) * z1.norm(dim=-1, keepdim=True)
                                             ).clamp_min(eps)
    omega = torch.acos(cos.clamp(-1.0, 1.0))
    sin = torch.sin(omega)
    parallel = sin.abs() < 1e-4
    safe_sin = torch.where(parallel, torch.ones_like(sin), sin)
    out = torch.sin((1 - t) * omega) / safe_sin * z0 + torch.sin(t * omega) / safe_sin * z1
    linear = (1 - t) * z0 + t * z1
    return torch.where(parallel, linear, out)


@torch.no_grad()
def interpolate_images(model, x_a: torch.Tensor, x_b: torch.Tensor, steps: int = 10,
                       method: str = "lerp") -> torch.Tensor:
    """Decode an interpolation between the codes (posterior means) of two images: (steps, 1, 28, 28)."""
    codes = encode_dataset(model, torch.stack([x_a.reshape(model.input_shape), x_b.reshape(model.input_shape)]))
    z0, z1 = codes.mean
    path = {"lerp": lerp, "slerp": slerp}[method](z0, z1, steps)
    return decode_images(model, path)


@torch.no_grad()
def traverse(model, z: torch.Tensor, dim: int, values) -> torch.Tensor:
    """Decode ``z`` with coordinate ``dim`` set to each of ``values`` (others fixed): (len(values), 1, 28, 28).

    Traversals show what one latent dimension encodes (as in Higgins et al. 2017).
    """
    z = z.reshape(-1)
    if not 0 <= dim < z.numel():
        raise ValueError(f"dim must lie in [0, {z.numel()}), got {dim}")
    values = torch.as_tensor(values, dtype=z.dtype, device=z.device).reshape(-1)
    zs = z.unsqueeze(0).repeat(values.numel(), 1)
    zs[:, dim] = values
    return decode_images(model, zs)


# ----------------------------------------------------------------------------- the 2-D manifold
@dataclass
class ManifoldGrid:
    """Decoded 2-D grid: ``images[i * n + j]`` is the decode of ``codes[i * n + j]``, with z1 growing along
    a row (left to right) and z2 growing upwards (row 0 is the top), as in a plot."""

    images: torch.Tensor   # (n*n, 1, 28, 28)
    codes: torch.Tensor    # (n*n, 2)
    n: int

    @property
    def image(self) -> np.ndarray:
        """The whole grid as one 2-D array (for imshow)."""
        from .plots import tile
        return tile(self.images, self.n, pad=0)

    def plot(self, ax=None, title: str | None = None):
        from .plots import image_grid
        return image_grid(self.images, nrow=self.n, ax=ax, title=title)


@torch.no_grad()
def manifold_grid(model, n: int = 20, bounds: tuple[float, float] = (0.05, 0.95)) -> ManifoldGrid:
    """Decode an n x n grid of a 2-D latent space (Kingma & Welling 2013, fig. 4).

    Linearly spaced probabilities in ``bounds`` are mapped through the inverse CDF of N(0, 1), so the grid
    covers the prior evenly in probability mass rather than in distance.
    """
    if _latent_dim(model) != 2:
        raise ValueError(f"manifold_grid needs a 2-D latent space, the model has {_latent_dim(model)}")
    lo, hi = bounds
    if not 0 < lo < hi < 1:
        raise ValueError(f"bounds must satisfy 0 < lo < hi < 1, got {bounds}")
    p = torch.linspace(lo, hi, n, dtype=torch.float64)
    u = torch.distributions.Normal(0.0, 1.0).icdf(p).float()
    z1 = u.repeat(n)                    # column j -> u[j]
    z2 = u.flip(0).repeat_interleave(n)  # row i -> u[n-1-i] (top row = largest z2)
    codes = torch.stack([z1, z2], dim=1)
    device = next(model.parameters()).device if hasattr(model, "parameters") else None
    images = decode_images(model, codes.to(device) if device is not None else codes).cpu()
    return ManifoldGrid(images=images, codes=codes, n=n)


# ----------------------------------------------------------------------------- scatter and neighbours
def embed_2d(codes, method: str = "auto", seed: int = 0) -> np.ndarray:
    """Codes (N, D) -> (N, 2): as they are if D = 2, else PCA ("auto", "pca") or t-SNE ("tsne")."""
    arr = np.asarray(codes.detach().cpu() if torch.is_tensor(codes) else codes, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"expected codes of shape (N, D), got {arr.shape}")
    if method not in ("auto", "pca", "tsne"):
        raise ValueError(f"method must be 'auto', 'pca' or 'tsne', got {method!r}")
    if arr.shape[1] == 2 and method == "auto":
        return arr
    if arr.shape[1] < 2:
        raise ValueError(f"need at least 2 code dimensions, got {arr.shape[1]}")
    if method in ("auto", "pca"):
        from sklearn.decomposition import PCA
        return PCA(n_components=2, random_state=seed).fit_transform(arr)
    from sklearn.manifold import TSNE
    perplexity = min(30.0, max(2.0, (arr.shape[0] - 1) / 3))
    return TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(arr)


def scatter_by_label(codes, labels, method: str = "auto", ax=None, class_names=None, seed: int = 0,
                     s: float = 3.0, title: str | None = None):
    """Scatter plot of codes coloured by label (2-D codes directly, else a PCA or t-SNE embedding)."""
    import matplotlib.pyplot as plt
    xy = embed_2d(codes, method, seed)
    labels = np.asarray(labels.cpu() if torch.is_tensor(labels) else labels).ravel()
    if labels.shape[0] != xy.shape[0]:
        raise ValueError(f"got {xy.shape[0]} codes but {labels.shape[0]} labels")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.5))
    cmap = plt.get_cmap("tab10")
    for i, c in enumerate(np.unique(labels)):
        m = labels == c
        name = class_names[int(c)] if class_names is not None else str(c)
        ax.scatter(xy[m, 0], xy[m, 1], s=s, color=cmap(i % 10), label=name, alpha=0.7, linewidths=0)
    direct = method == "auto" and xy.shape[1] == 2 and np.asarray(
        codes.detach().cpu() if torch.is_tensor(codes) else codes).shape[1] == 2
    kind = {"auto": "PCA", "pca": "PCA", "tsne": "t-SNE"}[method]
    ax.set_xlabel("$z_1$" if direct else f"{kind} 1")
    ax.set_ylabel("$z_2$" if direct else f"{kind} 2")
    ax.legend(markerscale=4, frameon=False, fontsize=8, loc="center left", bbox_to_anchor=(1, 0.5))
    if title:
        ax.set_title(title)
    return ax


@torch.no_grad()
def nearest_neighbours(samples: torch.Tensor, train_x: torch.Tensor, k: int = 1, batch_size: int = 2000
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """The k training images closest to each sample (Euclidean distance in pixel space).

    Returns ``(distances (S, k), indices (S, k))``, nearest first. Generated samples that are not copies of
    training images sit at a clear distance from their nearest neighbour. The training set goes through in
    chunks of ``batch_size``, keeping a running top-k, so memory is O(S * batch_size).
    """
    a = samples.reshape(samples.shape[0], -1).float()
    b_all = train_x.reshape(train_x.shape[0], -1).float()
    if a.shape[1] != b_all.shape[1]:
        raise ValueError(f"samples have {a.shape[1]} pixels, training images {b_all.shape[1]}")
    if not 1 <= k <= b_all.shape[0]:
        raise ValueError(f"k must lie in [1, {b_all.shape[0]}], got {k}")
    best_d = torch.full((a.shape[0], 0), math.inf)
    best_i = torch.zeros((a.shape[0], 0), dtype=torch.long)
    for start in range(0, b_all.shape[0], batch_size):
        b = b_all[start:start + batch_size]
        d = torch.cdist(a, b)
        d_all = torch.cat([best_d, d], dim=1)
        i_all = torch.cat([best_i, torch.arange(start, start + b.shape[0]).expand(a.shape[0], -1)], dim=1)
        best_d, pos = d_all.topk(min(k, d_all.shape[1]), dim=1, largest=False)
        best_i = i_all.gather(1, pos)
    return best_d, best_i

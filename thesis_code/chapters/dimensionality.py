"""Section 1.2 and 1.6 of the thesis: high-dimensional geometry and linear latent models.

    distance_concentration  (max - min) / min of pairwise distances of random points, by dimension
    PCA, fit_pca            principal component analysis by the SVD of the centred data
    principal_angles        angles between two subspaces (Bjorck & Golub 1973)
    PPCA, fit_ppca          probabilistic PCA (Tipping & Bishop 1999): closed-form maximum likelihood,
                            exact marginal likelihood and exact posterior
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np


def _as_matrix(x, name: str = "x") -> np.ndarray:
    x = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected {name} of shape (N, D), got {x.shape}")
    return x


# ----------------------------------------------------------------------------- curse of dimensionality

def pairwise_distances(x: np.ndarray) -> np.ndarray:
    """Euclidean distances between all distinct pairs of rows, as a flat array of N(N-1)/2 values."""
    x = _as_matrix(x)
    sq = np.sum(x ** 2, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    iu = np.triu_indices(len(x), k=1)
    return np.sqrt(d2[iu])


def relative_contrast(x: np.ndarray) -> float:
    """(max d - min d) / min d over all pairwise distances d (Beyer et al. 1999; Aggarwal et al. 2001)."""
    d = pairwise_distances(x)
    return float((d.max() - d.min()) / d.min())


def distance_concentration(dims: Sequence[int], n_points: int = 100, n_repeats: int = 10, seed: int = 0
                           ) -> np.ndarray:
    """Mean relative contrast of ``n_points`` uniform points in [0, 1]^d for each d in ``dims``
    (averaged over ``n_repeats`` draws). It falls towards 0 as d grows: all points become nearly
    equidistant, which is what makes nearest-neighbour reasoning and density estimation hard."""
    rng = np.random.default_rng(seed)
    return np.array([np.mean([relative_contrast(rng.random((n_points, d))) for _ in range(n_repeats)])
                     for d in dims])


# ----------------------------------------------------------------------------- PCA

@dataclass
class PCA:
    """x ~ mean + h @ components[:k] with h = (x - mean) @ components[:k].T (components are rows)."""
    mean: np.ndarray                # (D,)
    components: np.ndarray          # (K, D), orthonormal rows, by decreasing variance
    explained_variance: np.ndarray  # (K,) variance of the data along each component
    total_variance: float

    @property
    def explained_variance_ratio(self) -> np.ndarray:
        return self.explained_variance / self.total_variance

    def encode(self, x, k: int) -> np.ndarray:
        return (_as_matrix(x) - self.mean) @ self.components[:k].T

    def decode(self, h: np.ndarray) -> np.ndarray:
        h = _as_matrix(h, "h")
        return self.mean + h @ self.components[:h.shape[1]]

    def reconstruct(self, x, k: int) -> np.ndarray:
        return self.decode(self.encode(x, k))


def fit_pca(x, n_components: int | None = None) -> PCA:
    """PCA by the thin SVD of the centred data X - mean = U S V^T: the components are the rows of V^T
    and the variances S^2 / (N - 1) (Pearson 1901; Hotelling 1933)."""
    x = _as_matrix(x)
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    var = s ** 2 / (len(x) - 1)
    k = len(s) if n_components is None else n_components
    return PCA(mean, vt[:k], var[:k], float(var.sum()))


def principal_angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Principal angles (radians, increasing) between the column spaces of a (D, p) and b (D, q).

    With orthonormal bases Q_a, Q_b the cosines of the angles are the singular values of Q_a^T Q_b
    (Bjorck & Golub 1973). All zero means the two subspaces coincide.
    """
    a, b = _as_matrix(a, "a"), _as_matrix(b, "b")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"the bases must have the same number of rows, got {a.shape} and {b.shape}")
    qa, _ = np.linalg.qr(a)
    qb, _ = np.linalg.qr(b)
    cos = np.linalg.svd(qa.T @ qb, compute_uv=False)
    return np.sort(np.arccos(np.clip(cos, -1.0, 1.0)))


def local_pca(x: np.ndarray, data: np.ndarray, n_neighbors: int, n_components: int) -> np.ndarray:
    """The leading principal directions (D, n_components) of the ``n_neighbors`` points of ``data`` (N, D)
    nearest to ``x`` (D,) in Euclidean distance: an estimate of the tangent space of the data manifold at
    ``x`` (the comparison of Rifai et al. 2011 for the contractive autoencoder's tangents)."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    data = np.asarray(data, dtype=np.float64).reshape(len(data), -1)
    if data.shape[1] != x.shape[0]:
        raise ValueError(f"x has {x.shape[0]} entries but the data have {data.shape[1]} columns")
    if not 0 < n_components <= n_neighbors <= len(data):
        raise ValueError(f"need 0 < n_components <= n_neighbors <= N, got {n_components}, {n_neighbors}, {len(data)}")
    idx = np.argsort(((data - x) ** 2).sum(1))[:n_neighbors]
    centred = data[idx] - data[idx].mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return vt[:n_components].T


# ----------------------------------------------------------------------------- probabilistic PCA

@dataclass
class PPCA:
    """x = W z + mu + eps, z ~ N(0, I_q), eps ~ N(0, sigma2 I_D): the linear-Gaussian latent model."""
    mu: np.ndarray      # (D,)
    W: np.ndarray       # (D, q)
    sigma2: float

    @property
    def covariance(self) -> np.ndarray:
        """Marginal covariance C = W W^T + sigma2 I: x ~ N(mu, C) after integrating z out."""
        return self.W @ self.W.T + self.sigma2 * np.eye(len(self.mu))

    def as_torch(self):
        """The same model as :class:`thesis_code.linear_gaussian.LinearGaussianModel` (float64), which
        holds the exact formulas; PPCA adds the NumPy interface and the maximum-likelihood fit."""
        import torch
        from ..linear_gaussian import LinearGaussianModel
        return LinearGaussianModel(torch.as_tensor(self.W, dtype=torch.float64),
                                   torch.as_tensor(self.mu, dtype=torch.float64), math.sqrt(self.sigma2))

    def log_marginal(self, x) -> np.ndarray:
        """log p(x) = log N(x; mu, W W^T + sigma2 I), per row of x (exact: the integral is Gaussian)."""
        import torch
        with torch.no_grad():
            return self.as_torch().log_marginal(torch.as_tensor(_as_matrix(x), dtype=torch.float64)).numpy()

    def posterior(self, x) -> tuple[np.ndarray, np.ndarray]:
        """p(z | x) = N(M^{-1} W^T (x - mu), sigma2 M^{-1}) with M = W^T W + sigma2 I (Tipping & Bishop
        1999, eq. 6). Returns the means (N, q) and the shared covariance (q, q)."""
        import torch
        with torch.no_grad():
            mean, cov = self.as_torch().posterior(torch.as_tensor(_as_matrix(x), dtype=torch.float64))
        return mean.numpy(), cov.numpy()

    def log_joint(self, x, z) -> np.ndarray:
        """log p(x, z) = log N(z; 0, I) + log N(x; W z + mu, sigma2 I), per row."""
        import torch
        x, z = (torch.as_tensor(_as_matrix(a, n), dtype=torch.float64) for a, n in ((x, "x"), (z, "z")))
        with torch.no_grad():
            model = self.as_torch()
            return (model.log_prior(z) + model.log_px_given_z(x, z)).numpy()

    def log_marginal_prior_sampling(self, x, sample_sizes: Sequence[int], seed: int = 0) -> np.ndarray:
        """The naive estimate log (1/S sum_s p(x | z_s)), z_s ~ p(z), for each S in ``sample_sizes`` (nested
        prefixes of one sample), shape (len(sample_sizes), N). Its expectation lies below log p(x)."""
        x = _as_matrix(x)
        rng = np.random.default_rng(seed)
        z = rng.normal(size=(max(sample_sizes), self.W.shape[1]))
        means = z @ self.W.T + self.mu
        # ||x - m||^2 = ||m||^2 - 2 m.x + ||x||^2 for all pairs at once, (S, N)
        d2 = np.sum(means ** 2, axis=1)[:, None] - 2 * means @ x.T + np.sum(x ** 2, axis=1)[None]
        log_lik = -0.5 * (d2 / self.sigma2 + x.shape[1] * math.log(2 * math.pi * self.sigma2))
        from scipy.special import logsumexp
        return np.stack([logsumexp(log_lik[:s], axis=0) - math.log(s) for s in sample_sizes])

    def log_marginal_importance(self, x, seed: int = 0) -> np.ndarray:
        """One-sample importance sampling with the exact posterior as proposal: log p(x, z) - log p(z | x)
        with z ~ p(z | x). Every such ratio equals p(x), so the estimate is exact up to rounding."""
        x = _as_matrix(x)
        rng = np.random.default_rng(seed)
        mean, cov = self.posterior(x)
        chol = np.linalg.cholesky(cov)
        eps = rng.normal(size=mean.shape)
        z = mean + eps @ chol.T
        q = z.shape[1]
        # log N(z; mean, cov) with z - mean = chol eps: the quadratic form is ||eps||^2
        log_q = -0.5 * (np.sum(eps ** 2, axis=1) + q * math.log(2 * math.pi)) - np.sum(np.log(np.diag(chol)))
        return self.log_joint(x, z) - log_q

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        z = rng.normal(size=(n, self.W.shape[1]))
        return z @ self.W.T + self.mu + math.sqrt(self.sigma2) * rng.normal(size=(n, len(self.mu)))


def fit_ppca(x, q: int, min_sigma2: float = 1e-6) -> PPCA:
    """Closed-form maximum likelihood PPCA (Tipping & Bishop 1999, eq. 7-8):
    sigma2 = mean of the D - q smallest covariance eigenvalues, W = U_q (Lambda_q - sigma2 I)^{1/2}."""
    return fit_ppca_path(x, [q], min_sigma2)[q]


def fit_ppca_path(x, qs: Sequence[int], min_sigma2: float = 1e-6) -> dict[int, PPCA]:
    """``fit_ppca`` for several latent dimensions from one SVD of the centred data."""
    x = _as_matrix(x)
    n, d = x.shape
    for q in qs:
        if not 0 < q < d:
            raise ValueError(f"need 0 < q < D = {d}, got q = {q}")
    mu = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mu, full_matrices=False)
    lam = np.zeros(d)
    lam[:len(s)] = s ** 2 / n  # the ML covariance divides by N
    models = {}
    for q in qs:
        sigma2 = max(float(lam[q:].mean()), min_sigma2)
        w = vt[:q].T * np.sqrt(np.maximum(lam[:q] - sigma2, 0.0))
        models[q] = PPCA(mu, w, sigma2)
    return models


# ----------------------------------------------------------------------------- comparing codes

def squared_error(reconstruct, x, batch_size: int = 1000) -> np.ndarray:
    """Per-example squared reconstruction error sum_j (x_j - x_hat_j)^2 of any ``reconstruct`` function
    (a PCA's ``lambda x: pca.reconstruct(x, k)`` or an autoencoder's forward pass), shape (N,)."""
    import torch
    # a model may live on another device (run.device): feed it there, compare on the CPU
    params = list(reconstruct.parameters()) if isinstance(reconstruct, torch.nn.Module) else []
    device = params[0].device if params else None
    errors = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            xb = x[start:start + batch_size]
            x_hat = reconstruct(xb.to(device) if device is not None else xb)
            x_hat = x_hat.detach().cpu().numpy() if hasattr(x_hat, "detach") else np.asarray(x_hat)
            xb = xb.detach().cpu().numpy() if hasattr(xb, "detach") else np.asarray(xb)
            errors.append(np.sum((x_hat.reshape(len(xb), -1) - xb.reshape(len(xb), -1)) ** 2, axis=1))
    return np.concatenate(errors)

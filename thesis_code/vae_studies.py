"""Chapter 2's experiments that are more than a call to a model: the ELBO gap on a model with an exact
posterior, the aggregate posterior of a 2-D VAE, the rate-distortion view of beta, and the table that
puts our likelihoods beside published ones.

The linear-Gaussian model (factor analysis with isotropic noise, cf. Bishop 2006, sec. 12.2)

    p(z) = N(0, I_d),   p(x | z) = N(W z + b, s^2 I_D)

has everything in closed form, so the identity log p(x) = ELBO(q) + KL(q || p(z|x)) can be checked
exactly for any Gaussian q = N(m, S):

    p(x)       = N(b, W W^T + s^2 I)
    p(z | x)   = N(S_post W^T (x - b) / s^2,  S_post),   S_post = (I + W^T W / s^2)^{-1}
    ELBO(q)    = log N(x; W m + b, s^2 I) - tr(W S W^T) / (2 s^2) - KL(N(m, S) || N(0, I)).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import torch

LOG_2PI = math.log(2 * math.pi)


# ============================================================================ linear-Gaussian model

@dataclass
class LinearGaussian:
    """p(z) = N(0, I_d), p(x|z) = N(W z + b, s^2 I_D); ``W`` is ``(D, d)``, ``b`` is ``(D,)``."""

    W: torch.Tensor
    b: torch.Tensor
    s: float

    def __post_init__(self):
        if self.W.dim() != 2 or self.b.shape != (self.W.shape[0],):
            raise ValueError(f"expected W of shape (D, d) and b of shape (D,), got {tuple(self.W.shape)} "
                             f"and {tuple(self.b.shape)}")
        if self.s <= 0:
            raise ValueError(f"the noise scale s must be positive, got {self.s}")

    @staticmethod
    def random(D: int = 5, d: int = 2, s: float = 0.5, seed: int = 0) -> "LinearGaussian":
        g = torch.Generator().manual_seed(seed)
        return LinearGaussian(torch.randn(D, d, generator=g, dtype=torch.float64),
                              torch.randn(D, generator=g, dtype=torch.float64), s)

    @property
    def D(self) -> int:
        return self.W.shape[0]

    @property
    def d(self) -> int:
        return self.W.shape[1]

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        z = torch.randn(n, self.d, generator=generator, dtype=self.W.dtype)
        return z @ self.W.T + self.b + self.s * torch.randn(n, self.D, generator=generator, dtype=self.W.dtype)

    def log_evidence(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) = log N(x; b, W W^T + s^2 I) for one x ``(D,)``."""
        C = self.W @ self.W.T + self.s ** 2 * torch.eye(self.D, dtype=self.W.dtype)
        return _log_mvn(x, self.b, C)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact p(z|x) = N(m_post, S_post): returns ``(m_post (d,), S_post (d, d))``."""
        _check_x(x, self.D)
        S = torch.linalg.inv(torch.eye(self.d, dtype=self.W.dtype) + self.W.T @ self.W / self.s ** 2)
        return S @ self.W.T @ (x - self.b) / self.s ** 2, S

    def elbo(self, x: torch.Tensor, m: torch.Tensor, S: torch.Tensor) -> torch.Tensor:
        """ELBO of q = N(m, S) in closed form (expected log-likelihood minus KL to the prior)."""
        _check_x(x, self.D)
        resid = x - self.W @ m - self.b
        expected_loglik = (-0.5 * self.D * (LOG_2PI + 2 * math.log(self.s))
                           - 0.5 * (resid @ resid + torch.trace(self.W @ S @ self.W.T)) / self.s ** 2)
        zeros, eye = torch.zeros_like(m), torch.eye(self.d, dtype=m.dtype)
        return expected_loglik - kl_mvn(m, S, zeros, eye)

    def elbo_monte_carlo(self, x: torch.Tensor, m: torch.Tensor, S: torch.Tensor, n: int = 100_000,
                         generator: torch.Generator | None = None) -> torch.Tensor:
        """The same ELBO by sampling: mean of log p(x, z) - log q(z), z ~ q (estimator A)."""
        L = torch.linalg.cholesky(S)
        z = m + torch.randn(n, self.d, generator=generator, dtype=m.dtype) @ L.T
        log_px_z = (-0.5 * self.D * (LOG_2PI + 2 * math.log(self.s))
                    - 0.5 * ((x - z @ self.W.T - self.b) ** 2).sum(-1) / self.s ** 2)
        log_pz = -0.5 * (self.d * LOG_2PI + (z ** 2).sum(-1))
        diff = torch.linalg.solve_triangular(L, (z - m).T, upper=False).T
        log_qz = -0.5 * (self.d * LOG_2PI + (diff ** 2).sum(-1)) - torch.log(torch.diagonal(L)).sum()
        return (log_px_z + log_pz - log_qz).mean()


def _check_x(x: torch.Tensor, D: int) -> None:
    if x.shape != (D,):
        raise ValueError(f"expected one observation x of shape ({D},), got {tuple(x.shape)}")


def _log_mvn(x: torch.Tensor, mean: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    L = torch.linalg.cholesky(C)
    diff = torch.linalg.solve_triangular(L, (x - mean)[:, None], upper=False)[:, 0]
    return -0.5 * (x.shape[0] * LOG_2PI + diff @ diff) - torch.log(torch.diagonal(L)).sum()


def kl_mvn(m0: torch.Tensor, S0: torch.Tensor, m1: torch.Tensor, S1: torch.Tensor) -> torch.Tensor:
    """KL(N(m0, S0) || N(m1, S1)) = 1/2 [tr(S1^-1 S0) + (m1-m0)^T S1^-1 (m1-m0) - k + log det S1/det S0]."""
    k = m0.shape[0]
    S1_inv = torch.linalg.inv(S1)
    dm = m1 - m0
    return 0.5 * (torch.trace(S1_inv @ S0) + dm @ S1_inv @ dm - k
                  + torch.logdet(S1) - torch.logdet(S0))


@dataclass
class GapPath:
    """The ELBO along a path of Gaussians q_t from a poor q_0 to the exact posterior (t = 1)."""

    t: torch.Tensor
    log_evidence: float
    elbo: torch.Tensor
    kl_to_posterior: torch.Tensor

    @property
    def gap(self) -> torch.Tensor:
        return self.log_evidence - self.elbo


def elbo_gap_path(model: LinearGaussian, x: torch.Tensor, steps: int = 41,
                  m0: torch.Tensor | None = None, S0: torch.Tensor | None = None) -> GapPath:
    """Interpolate q_t = N((1-t) m0 + t m_post, (1-t) S0 + t S_post) for t in [0, 1] (a convex
    combination of covariances stays positive definite) and record ELBO(q_t) and KL(q_t || p(z|x)).

    q_0 defaults to the prior N(0, I), the distribution an untrained encoder would be pushed toward.
    """
    m_post, S_post = model.posterior(x)
    m0 = torch.zeros_like(m_post) if m0 is None else m0
    S0 = torch.eye(model.d, dtype=m_post.dtype) if S0 is None else S0
    ts = torch.linspace(0, 1, steps, dtype=m_post.dtype)
    elbos, kls = [], []
    for t in ts:
        m, S = (1 - t) * m0 + t * m_post, (1 - t) * S0 + t * S_post
        elbos.append(model.elbo(x, m, S))
        kls.append(kl_mvn(m, S, m_post, S_post))
    return GapPath(ts, float(model.log_evidence(x)), torch.stack(elbos), torch.stack(kls))


# ============================================================================ aggregate posterior

def aggregate_posterior_log_density(mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor,
                                    chunk: int = 4096) -> torch.Tensor:
    """log q(z) of the aggregate posterior q(z) = 1/N sum_n N(z; mu_n, diag exp(logvar_n)) at the
    points ``z`` ``(P, d)``, from the encodings ``mu``, ``logvar`` ``(N, d)`` of N data points.

    Where q(z) is small but the prior p(z) is not, decoded prior samples come from regions no training
    image was mapped to: the "holes" of section 2.5 (cf. Makhzani et al. 2015; Hoffman & Johnson 2016).
    """
    if mu.dim() != 2 or logvar.shape != mu.shape or z.dim() != 2 or z.shape[1] != mu.shape[1]:
        raise ValueError(f"expected mu, logvar of shape (N, d) and z of shape (P, d), got "
                         f"{tuple(mu.shape)}, {tuple(logvar.shape)}, {tuple(z.shape)}")
    inv_var = torch.exp(-logvar)
    const = -0.5 * (mu.shape[1] * LOG_2PI + logvar.sum(dim=1))           # (N,)
    out = []
    for start in range(0, z.shape[0], chunk):
        zc = z[start:start + chunk]
        sq = ((zc[:, None, :] - mu[None]) ** 2 * inv_var[None]).sum(-1)   # (P, N)
        out.append(torch.logsumexp(const[None] - 0.5 * sq, dim=1) - math.log(mu.shape[0]))
    return torch.cat(out)


def grid_2d(limit: float = 3.0, steps: int = 101) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A square grid on [-limit, limit]^2: returns (points (steps^2, 2), axis values, axis values)."""
    axis = torch.linspace(-limit, limit, steps)
    zz1, zz2 = torch.meshgrid(axis, axis, indexing="xy")
    return torch.stack([zz1.reshape(-1), zz2.reshape(-1)], dim=1), axis, axis


def low_density_prior_samples(mu: torch.Tensor, logvar: torch.Tensor, n: int, quantile: float = 0.1,
                              pool: int = 4000, generator: torch.Generator | None = None
                              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``pool`` prior samples z ~ N(0, I), rank them by the ratio log q(z) - log p(z) and return
    the ``n`` lowest-ratio ones with their ratios. These are likely under the prior yet rarely used by
    the encoder (the 'holes'); the notebook decodes them next to ordinary prior samples."""
    d = mu.shape[1]
    z = torch.randn(pool, d, generator=generator)
    ratio = (aggregate_posterior_log_density(mu, logvar, z)
             - (-0.5 * (d * LOG_2PI + (z ** 2).sum(1))))
    # Only among prior samples that are not in the prior's tails (|z| below its median radius),
    # so the comparison is about holes, not about the tails.
    radius = z.norm(dim=1)
    inner = radius <= radius.quantile(0.5)
    idx = torch.nonzero(inner)[:, 0]
    order = idx[ratio[idx].argsort()][:n]
    return z[order], ratio[order]


# ============================================================================ rate and distortion

@torch.no_grad()
def rate_distortion(model, x: torch.Tensor, batch: int = 500) -> tuple[float, float]:
    """(rate, distortion) in nats per example on ``x``: rate = E_x KL(q(z|x) || p(z)) (closed form),
    distortion = -E_x E_q log p(x|z) (one sample of z). Their sum is the negative ELBO; beta-VAEs trade
    one against the other (Alemi et al. 2018)."""
    from . import objectives as obj
    rates, dists = [], []
    for start in range(0, x.shape[0], batch):
        xb = x[start:start + batch].to(model.device)
        mu, logvar = model.encode(xb)
        z = model.reparameterize(mu, logvar)
        rates.append(obj.kl_normal(mu, logvar))
        dists.append(-model.log_px_given_z(xb, z))
    return float(torch.cat(rates).mean()), float(torch.cat(dists).mean())


# ============================================================================ tables

@dataclass(frozen=True)
class PublishedResult:
    """A number from the literature, typed with its source (a citation, not a measurement)."""

    model: str
    nll: float          # test negative log-likelihood, nats
    source: str         # bibtex key
    budget: str         # how it was obtained


# Burda, Grosse & Salakhutdinov (2015), Table 1, MNIST, one stochastic layer (50 units), two
# deterministic layers of 200 units; trained 3280 epochs (3^i passes for i = 0..7); log p(x) estimated
# with k = 5000 importance samples.
PUBLISHED_MNIST = (
    PublishedResult("VAE (k = 1), Burda et al.", 86.76, "burda2015importance",
                    "3280 epochs, 60k images, K = 5000"),
    PublishedResult("IWAE (k = 50), Burda et al.", 84.78, "burda2015importance",
                    "3280 epochs, 60k images, K = 5000"),
)


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]], digits: int = 2) -> str:
    """A pipe table (renders in HTML and LaTeX through MyST); floats are rounded to ``digits``."""
    def cell(v):
        return f"{v:.{digits}f}" if isinstance(v, float) else str(v)
    rows = [list(map(cell, r)) for r in rows]
    if any(len(r) != len(headers) for r in rows):
        raise ValueError(f"every row needs {len(headers)} cells")
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def likelihood_table(ours: Iterable[dict], published: Iterable[PublishedResult] = PUBLISHED_MNIST) -> str:
    """Our measured rows (dicts with keys model, nll, budget) beside the published ones.

    The 'source' column says which numbers were measured in this run and which are cited."""
    rows = [(r["model"], float(r["nll"]), r["budget"], "this run") for r in ours]
    rows += [(p.model, p.nll, p.budget, f"{{cite}}`{p.source}`") for p in published]
    return markdown_table(("model", "test NLL (nats)", "budget", "source"), rows)

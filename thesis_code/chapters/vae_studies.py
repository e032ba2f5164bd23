"""Chapter 2's experiments that are more than a call to a model: the ELBO gap on a model with an exact
posterior, the aggregate posterior of a 2-D VAE, the rate-distortion view of beta, and the table that
puts our likelihoods beside published ones.

The ELBO-gap study uses the linear-Gaussian model of :mod:`thesis_code.linear_gaussian`
(p(z) = N(0, I_d), p(x | z) = N(W z + b, sigma^2 I_D)), whose evidence and posterior are exact. That
module covers diagonal encoders; the path below also needs the ELBO of a *full-covariance* Gaussian
q = N(m, S), which is closed-form too:

    ELBO(q) = log N(x; W m + b, sigma^2 I) - tr(W S W^T) / (2 sigma^2) - KL(N(m, S) || N(0, I)).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import torch

from .. import objectives as obj
from ..linear_gaussian import LinearGaussianModel

LOG_2PI = math.log(2 * math.pi)


# ============================================================================ ELBO gap, linear-Gaussian model

def _check_one_x(model: LinearGaussianModel, x: torch.Tensor) -> None:
    if x.shape != (model.data_dim,):
        raise ValueError(f"expected one observation x of shape ({model.data_dim},), got {tuple(x.shape)}")


def elbo_full_covariance(model: LinearGaussianModel, x: torch.Tensor, m: torch.Tensor,
                         S: torch.Tensor) -> torch.Tensor:
    """The ELBO of q = N(m, S) with a full covariance ``S`` ``(d, d)`` for one x ``(D,)``, in closed form:
    E_q log p(x|z) is the log-likelihood at the mean minus tr(W S W^T) / (2 sigma^2), because the
    decoder is linear; the KL to the prior is eq-kl-gauss with m1 = 0, S1 = I."""
    _check_one_x(model, x)
    expected_loglik = (model.log_px_given_z(x[None], m[None])[0]
                       - torch.trace(model.W @ S @ model.W.T) / (2 * model.sigma ** 2))
    return expected_loglik - obj.kl_normal_full(m, S, torch.zeros_like(m), torch.eye(len(m), dtype=m.dtype))


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


@torch.no_grad()
def elbo_gap_path(model: LinearGaussianModel, x: torch.Tensor, steps: int = 41,
                  m0: torch.Tensor | None = None, S0: torch.Tensor | None = None) -> GapPath:
    """Interpolate q_t = N((1-t) m0 + t m_post, (1-t) S0 + t S_post) for t in [0, 1] (a convex
    combination of covariances stays positive definite) and record ELBO(q_t) and KL(q_t || p(z|x)),
    for one observation x ``(D,)``.

    q_0 defaults to the prior N(0, I), the distribution an untrained encoder would be pushed toward.
    """
    _check_one_x(model, x)
    m_post, S_post = model.posterior(x[None])
    m_post = m_post[0]
    m0 = torch.zeros_like(m_post) if m0 is None else m0
    S0 = torch.eye(model.latent_dim, dtype=m_post.dtype) if S0 is None else S0
    ts = torch.linspace(0, 1, steps, dtype=m_post.dtype)
    elbos, kls = [], []
    for t in ts:
        m, S = (1 - t) * m0 + t * m_post, (1 - t) * S0 + t * S_post
        elbos.append(elbo_full_covariance(model, x, m, S))
        kls.append(obj.kl_normal_full(m, S, m_post, S_post))
    return GapPath(ts, float(model.log_marginal(x[None])[0]), torch.stack(elbos), torch.stack(kls))


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
    z = z.to(mu.device)
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


def low_density_prior_samples(mu: torch.Tensor, logvar: torch.Tensor, n: int, pool: int = 4000,
                               generator: torch.Generator | None = None
                              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``pool`` prior samples z ~ N(0, I), rank them by the ratio log q(z) - log p(z) and return
    the ``n`` lowest-ratio ones with their ratios. These are likely under the prior yet rarely used by
    the encoder (the 'holes'); the notebook decodes them next to ordinary prior samples."""
    d = mu.shape[1]
    z = torch.randn(pool, d, generator=generator).to(mu.device)
    ratio = aggregate_posterior_log_density(mu, logvar, z) - obj.log_normal(z, event_dims=1)
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
    reference: str = "Burda et al. (2015), Table 1"   # the citation as printed in a table


# Burda, Grosse & Salakhutdinov (2015), Table 1, MNIST, one stochastic layer (50 units), two
# deterministic layers of 200 units; trained 3280 epochs (3^i passes for i = 0..7); log p(x) estimated
# with k = 5000 importance samples.
PUBLISHED_MNIST = (
    PublishedResult("VAE (k = 1), Burda et al.", 86.76, "burda2015importance",
                    "3280 epochs, 60k images, K = 5000"),
    PublishedResult("IWAE (k = 50), Burda et al.", 84.78, "burda2015importance",
                    "3280 epochs, 60k images, K = 5000"),
)


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]], digits: int = 2,
                   caption: str | None = None, name: str | None = None) -> str:
    """A pipe table (renders in HTML and LaTeX through MyST); floats are rounded to ``digits``.

    With a ``caption`` the table is wrapped in MyST's ``table`` directive, so the book numbers it, lists it
    in the list of tables and ``{numref}`` can point at ``name``."""
    def cell(v):
        return f"{v:.{digits}f}" if isinstance(v, float) else str(v)
    rows = [list(map(cell, r)) for r in rows]
    if any(len(r) != len(headers) for r in rows):
        raise ValueError(f"every row needs {len(headers)} cells")
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    if caption is not None:
        lines = [f":::{{table}} {caption}"] + ([f":name: {name}"] if name else []) + [""] + lines + [":::"]
    return "\n".join(lines)


def likelihood_table(ours: Iterable[dict], published: Iterable[PublishedResult] = PUBLISHED_MNIST,
                     caption: str | None = None, name: str | None = None) -> str:
    """Our measured rows (dicts with keys model, nll, budget) beside the published ones.

    The 'source' column says which numbers were measured in this run and which are cited (the prose
    cites the bibliography entry ``PublishedResult.source``)."""
    rows = [(r["model"], float(r["nll"]), r["budget"], "this run") for r in ours]
    rows += [(p.model, p.nll, p.budget, p.reference) for p in published]
    return markdown_table(("model", "test NLL (nats)", "budget", "source"), rows, caption=caption, name=name)


# ============================================================================ the chapter's shared models

@dataclass(frozen=True)
class Budget:
    """How much data and training a profile gives one model (reported next to every result)."""

    n_train: int
    epochs: int
    n_test: int
    k_eval: int          # importance samples for the test log-likelihood

    def describe(self) -> str:
        return f"{self.epochs} epochs on {self.n_train:,} images; log p(x) with K = {self.k_eval} on {self.n_test:,} test images"


# "main": the models of section 2.4, reused by 2.3, 2.5 and 2.7; "sweep": the many small models of the
# beta and extension studies. Book budgets fit a 2-core CPU in a few minutes; full is for a GPU.
BUDGETS = {
    "main": {"smoke": Budget(1000, 1, 200, 20), "book": Budget(60000, 10, 2000, 500),
             "full": Budget(60000, 100, 10000, 5000)},
    "sweep": {"smoke": Budget(1000, 1, 200, 20), "book": Budget(20000, 10, 1000, 100),
              "full": Budget(60000, 100, 10000, 1000)},
}


def budget(run, kind: str = "main") -> Budget:
    if kind not in BUDGETS:
        raise ValueError(f"kind must be one of {sorted(BUDGETS)}, got {kind!r}")
    return run.pick(**BUDGETS[kind])


def train_vae(run, model_config, kind: str = "main", dataset: str = "mnist", model_class=None,
              conditional: bool = False, name: str | None = None):
    """Train (or load from the cache) a VAE-family model on ``dataset`` with the profile's budget.

    Every notebook of chapter 2 goes through here, so the same (class, config, budget, data) is one
    cache entry however many notebooks use it. Bernoulli decoders see dynamically binarized data.
    Returns ``(model, history, budget)``.
    """
    from ..data import load
    from ..experiments import train_cached
    from ..models.vae import VAE
    from ..train import TrainConfig
    model_class = model_class or VAE
    b = budget(run, kind)
    x, y = load(dataset, "train", limit=b.n_train)
    tc = TrainConfig(epochs=b.epochs, batch_size=128, lr=1e-3, seed=run.seed,
                     binarize=model_config.likelihood == "bernoulli", progress=False)
    name = name or f"ch2-{model_class.__name__.lower()}-{dataset}"
    model, history = train_cached(name, lambda: model_class(model_config), tc, x,
                                  y if conditional else None, run=run, model_config=model_config)
    return model, history, b


def test_images(run, kind: str = "main", dataset: str = "mnist", binarized: bool = True):
    """The first ``n_test`` test images (and labels) on the run's device; binarized once with a fixed
    seed for Bernoulli models, so every likelihood in the chapter is computed on the same binary set."""
    from ..data import load
    from ..evaluate import fixed_binarization
    b = budget(run, kind)
    x, y = load(dataset, "test", limit=b.n_test)
    if binarized:
        x = fixed_binarization(x)
    return x.to(run.device), y

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


# ============================================================================ AAE encoders vs a VAE, one prior

def mmd_rbf(a: torch.Tensor, b: torch.Tensor, bandwidths: Sequence[float] = (1.0,)) -> float:
    """Unbiased estimate of the squared maximum mean discrepancy (Gretton et al. 2012, eq. 3) between the
    samples ``a`` ``(n, d)`` and ``b`` ``(m, d)``, with the kernel sum_h exp(-|x - y|^2 / (2 h^2)).

    Zero in expectation exactly when the two distributions agree (the Gaussian kernel is characteristic);
    here it measures how far the aggregate posterior q(z) is from the prior p(z)."""
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1] or len(a) < 2 or len(b) < 2:
        raise ValueError(f"expected samples of shape (n, d) and (m, d) with n, m >= 2, got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    a, b = a.double(), b.double()

    def k(x, y):
        d2 = torch.cdist(x, y).pow(2)
        return sum(torch.exp(-d2 / (2 * h ** 2)) for h in bandwidths)

    n, m = len(a), len(b)
    kaa, kbb = k(a, a), k(b, b)
    # the unbiased U-statistic leaves out the diagonal terms k(x_i, x_i)
    term_a = (kaa.sum() - kaa.diagonal().sum()) / (n * (n - 1))
    term_b = (kbb.sum() - kbb.diagonal().sum()) / (m * (m - 1))
    return float(term_a + term_b - 2 * k(a, b).mean())


AAE_ENCODERS = ("deterministic", "gaussian", "universal")


@dataclass(frozen=True)
class AAEComparisonBudget:
    """One budget for every model of the AAE-vs-VAE comparison (same data, epochs, batch, learning rate)."""

    n_train: int
    epochs: int
    n_test: int       # test images for reconstruction, codes and the FCD (as many samples)
    n_seeds: int

    def describe(self) -> str:
        return (f"{self.epochs} epochs on {self.n_train:,} dynamically binarized images, "
                f"{self.n_seeds} seeds; metrics on {self.n_test:,} test images")


AAE_COMPARISON_BUDGETS = {"smoke": AAEComparisonBudget(500, 1, 200, 2),
                          "book": AAEComparisonBudget(4000, 2, 1000, 3),
                          "full": AAEComparisonBudget(60000, 50, 10000, 5)}


AAE_COMPARISON_HIDDEN = (256, 128)   # narrower than the chapter's main VAE: 12 models must fit the book build


def aae_vs_vae_models(latent_dim: int = 8, hidden: tuple[int, ...] = AAE_COMPARISON_HIDDEN,
                      noise_dim: int = 8) -> dict:
    """The four model configurations of the comparison: AAEs with the three encoders of Makhzani et al.
    (2015, sec. 2) and a VAE, all with the same MLP widths, latent size and prior N(0, I)."""
    from ..models.adversarial import AAEConfig
    from ..models.vae import VAEConfig
    out = {f"AAE, {e}": AAEConfig(latent_dim=latent_dim, hidden=hidden, encoder=e, prior="normal",
                                  noise_dim=noise_dim) for e in AAE_ENCODERS}
    out["VAE"] = VAEConfig(latent_dim=latent_dim, hidden=hidden)
    return out


@torch.no_grad()
def sample_codes(model, x: torch.Tensor, seed: int = 0, batch: int = 500) -> torch.Tensor:
    """One draw z ~ q(z | x) per image: the aggregate posterior's samples. AAE: ``encode_sample`` (the
    code itself for the deterministic encoder); VAE: mu + sigma * eps. Seeded."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for xb in x.split(batch):
        if hasattr(model, "encode_sample"):
            out.append(model.encode_sample(xb, generator=g))
        else:
            mu, logvar = model.encode(xb)
            out.append(mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=g).to(mu.device))
    return torch.cat(out).cpu()


def compare_aae_vae(run, latent_dim: int = 8, noise_dim: int = 8) -> dict:
    """Train (or load) the four models of :func:`aae_vs_vae_models` with one budget for ``n_seeds`` seeds
    and measure, per model and seed, on the same fixed-binarized test images:

    * ``fcd``: Frechet classifier distance of prior samples decoded by the model (decoder means);
    * ``rec``: reconstruction cross-entropy (nats per image) of the decoded code (AAE: f(x), f(x, 0) or the
      posterior mean; VAE: the posterior mean);
    * ``mmd``: squared MMD between one draw z ~ q(z|x) per test image and as many prior samples, the
      match of the aggregate posterior to the prior that the AAE's discriminator is trained for;
    * ``noise_share``: E_x Var(z | x) / Var(z), how much of the codes' spread the encoder's noise makes
      (0 for a deterministic encoder).

    Returns ``{"budget": AAEComparisonBudget, "results": {model name: {metric: [value per seed]}}}``.
    """
    from .. import evaluate
    from ..data import load
    from ..evaluate.classifier import train_classifier
    from ..experiments import evaluate_cached, train_cached
    from ..models.adversarial import AdversarialAE
    from ..models.vae import VAE
    from ..train import TrainConfig
    b: AAEComparisonBudget = run.pick(**AAE_COMPARISON_BUDGETS)
    x_train, _ = load("mnist", "train", limit=b.n_train)
    x_test, y_test = load("mnist", "test", limit=b.n_test)
    x_test = evaluate.fixed_binarization(x_test).to(run.device)
    y_test = y_test.to(run.device)
    clf, _ = train_classifier("mnist", run=run)
    bandwidths = tuple(math.sqrt(latent_dim) * s for s in (0.5, 1.0, 2.0))
    results: dict[str, dict[str, list[float]]] = {}
    for name, cfg in aae_vs_vae_models(latent_dim, noise_dim=noise_dim).items():
        model_class = VAE if name == "VAE" else AdversarialAE
        results[name] = {"fcd": [], "rec": [], "mmd": [], "noise_share": []}
        for s in range(b.n_seeds):
            seed = run.seed + s
            tc = TrainConfig(epochs=b.epochs, batch_size=128, lr=1e-3, seed=seed, binarize=True,
                             progress=False)
            model, _ = train_cached(f"ch2-aae-vs-vae-{name.split(', ')[-1].lower()}",
                                    lambda: model_class(cfg), tc, x_train, run=run, model_config=cfg)
            model.eval()

            def compute():
                fcd = evaluate.frechet_classifier_distance(model, clf, x_test, y_test, seed=seed).fcd
                rec = float(evaluate.reconstruction_error(model, x_test).bce.mean())
                codes = sample_codes(model, x_test, seed=seed)
                prior = torch.randn(codes.shape, generator=torch.Generator().manual_seed(10_000 + seed))
                # share of the codes' variance due to the encoder's own noise, E_x Var(z|x) / Var(z), from
                # two independent draws per image: Var(z|x) = E (z1 - z2)^2 / 2
                second = sample_codes(model, x_test, seed=seed + 20_000)
                noise_share = float(0.5 * (codes - second).pow(2).sum(1).mean() / codes.var(0).sum())
                return {"fcd": float(fcd), "rec": rec, "mmd": mmd_rbf(codes, prior, bandwidths),
                        "noise_share": noise_share}

            r = evaluate_cached("ch2-aae-vs-vae", {"n_test": b.n_test, "seed": seed, "bandwidths": bandwidths},
                                compute, run=run, model=model)
            for key, value in r.items():
                results[name][key].append(value)
    return {"budget": b, "results": results}


def mean_and_spread(values: Sequence[float]) -> tuple[float, float]:
    """(mean, sample standard deviation over seeds; 0 for a single value)."""
    t = torch.tensor(list(values), dtype=torch.float64)
    return float(t.mean()), float(t.std()) if len(t) > 1 else 0.0


# ============================================================================ inference gap of a trained VAE

def inference_gap_study(run, model, x: torch.Tensor) -> dict:
    """Cremer et al.'s (2018) split of the main VAE's inference gap on the test images ``x``, cached under
    the model's key: per-example tensors and their means (see :mod:`thesis_code.evaluate.inference_gap`)."""
    from .. import evaluate
    from ..experiments import evaluate_cached
    settings = run.pick(smoke=dict(k=50, steps=30, n_samples=4),
                        book=dict(k=500, steps=200, n_samples=8),
                        full=dict(k=5000, steps=1000, n_samples=32))

    def compute():
        g = evaluate.inference_gaps(model, x, k=settings["k"], steps=settings["steps"],
                                    n_samples=settings["n_samples"], lr=0.05, seed=run.seed)
        return {"approximation_gap": g.approximation_gap.cpu(), "amortization_gap": g.amortization_gap.cpu(),
                "log_px": g.log_px.cpu(), "elbo_amortized": g.elbo_amortized.cpu(),
                "elbo_optimal": g.elbo_optimal.cpu(), "summary": g.summary(), "settings": settings,
                "n": len(x)}

    return evaluate_cached("ch2-inference-gap", {**settings, "n": len(x), "seed": run.seed, "lr": 0.05,
                                                 "data": "first n MNIST test images, fixed binarization"},
                           compute, run=run, model=model)

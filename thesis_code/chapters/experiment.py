"""Chapter 4, section 4.1: the thesis's main experiment. Every model of chapter 2 trained on the same
data with the same budget and seeds, and measured by the same evaluation on both data sets.

Protocol (section 4.1.2): MNIST and Fashion-MNIST, dynamically binarized during training (a fresh
Bernoulli draw of every pixel at every visit, Bernoulli decoders); the test images binarized once with a
fixed seed, so every likelihood is computed on one binary test set. The GAN is the exception: it is
trained on grey-level images (a discriminator separates binary from grey pixels trivially), and sample
quality is measured against the grey-level test images for every model.

Models (section 4.1.4), all with the architecture of Burda et al. (2015)'s one-layer models where it
applies: two deterministic layers of 200 units on each side and a 50-dimensional latent code.

    vae        VAE, MLP (Kingma & Welling 2014)
    conv_vae   VAE, the convolutional encoder/decoder of thesis_code.models.networks
    beta_vae   beta-VAE, beta = 4 (Higgins et al. 2017)
    iwae       IWAE, k = 5 (Burda et al. 2016)
    vamp_vae   VAE with the VampPrior (Tomczak & Welling 2018): 100 pseudo-inputs at book, 500 at full
    aae        adversarial autoencoder, Gaussian prior, deterministic encoder (Makhzani et al. 2015)
    gan        GAN, non-saturating loss (Goodfellow et al. 2014)
    ae         deterministic autoencoder (reconstruction only)
    pca        PCA with 50 components (reconstruction only)

Evaluation (section 4.1.5), one row per (data set, model, seed): the importance-sampled test
log-likelihood (nats, bits/dim, its standard error over images), -ELBO, the rate KL(q || p) and active
units; the Frechet classifier distance and improved precision/recall (Kynkaanniemi et al. 2019) of
samples in the features of the project's classifier; reconstruction BCE against the binary input and
MSE/PSNR/SSIM against the grey-level image. Trainings and evaluations go through the experiment cache,
so a rebuild reads them, and a `full` run on a GPU leaves its results for the same tables.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import torch

from ..evaluate.intervals import t_half_width

DATASETS = ("mnist", "fashion_mnist")
TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}
MODELS = ("vae", "conv_vae", "beta_vae", "iwae", "vamp_vae", "aae", "gan", "ae", "pca")
LABELS = {"vae": "VAE (MLP)", "conv_vae": "VAE (conv)", "beta_vae": "beta-VAE (beta = 4)",
          "iwae": "IWAE (k = 5)", "vamp_vae": "VAE + VampPrior", "aae": "AAE", "gan": "GAN",
          "ae": "autoencoder", "pca": "PCA"}
LIKELIHOOD_MODELS = ("vae", "conv_vae", "beta_vae", "iwae", "vamp_vae")   # define p(x)
SAMPLING_MODELS = LIKELIHOOD_MODELS + ("aae", "gan")                        # can generate
RECONSTRUCTING_MODELS = LIKELIHOOD_MODELS + ("aae", "ae", "pca")             # encode and decode


@dataclass(frozen=True)
class Setup:
    """What a profile gives every model (the budget is part of every cache key through the configs)."""

    datasets: tuple[str, ...] = DATASETS
    models: tuple[str, ...] = MODELS
    seeds: tuple[int, ...] = (0, 1, 2)
    n_train: int | None = 20_000        # training images (None: all 60,000)
    epochs: int = 5
    batch_size: int = 128
    lr: float = 3e-3                    # Adam; at the book budget 3e-3 gave the MLP VAE a ~9 nats lower
                                        # -log p(x) than 1e-3 (124.1 vs 133.5, K = 200) on 500 validation
                                        # images (training images 50,000-50,499, never trained on at book)
    gan_lr: float = 1e-3                # the GAN's two Adam optimizers, betas (0.5, 0.999) (Radford et al. 2016);
                                        # FCD on 2,000 validation images: 478 at 1e-3, 563 at 5e-4, 738 at 2e-4
    latent_dim: int = 50
    hidden: tuple[int, ...] = (200, 200)
    channels: int = 8                   # conv VAE width (the K = 1000 estimate costs ~10x an MLP's)
    beta: float = 4.0
    iwae_k: int = 5
    n_pseudo: int = 100                 # VampPrior pseudo-inputs (Tomczak & Welling: 500); each training step
                                        # encodes all of them, so at the book budget 100 keep it affordable
    n_test: int = 500                   # test images for log p(x), the rate, active units, reconstruction
    k_eval: int = 1000                  # importance samples per test image
    n_samples: int = 2000               # samples (and test images) for FCD and precision/recall
    pr_k: int = 3                       # the k-NN radius of precision/recall (Kynkaanniemi et al. 2019)

    def __post_init__(self):
        unknown = set(self.models) - set(MODELS)
        if unknown:
            raise ValueError(f"unknown models {sorted(unknown)}; choose from {MODELS}")
        bad = set(self.datasets) - set(DATASETS)
        if bad:
            raise ValueError(f"unknown data sets {sorted(bad)}; choose from {DATASETS}")

    def describe(self) -> str:
        n = "60,000" if self.n_train is None else f"{self.n_train:,}"
        def plural(k: int, word: str) -> str:
            return f"{k} {word}" + ("" if k == 1 else "s")
        return (f"{plural(self.epochs, 'epoch')} on {n} training images (batch {self.batch_size}), "
                f"{plural(len(self.seeds), 'seed')}; log p(x) with K = {self.k_eval} on {self.n_test:,} test images; "
                f"FCD and precision/recall on {self.n_samples:,} samples")


def setup(run, **overrides) -> Setup:
    """The setup of the run's profile. ``book`` is sized for a 2-core CPU (the whole section in about
    8 minutes cold); ``full`` is the experiment of the literature's scale, for a GPU through papermill."""
    base = run.pick(
        smoke=Setup(seeds=(0,), n_train=1000, epochs=1, n_pseudo=20, n_test=50, k_eval=20, n_samples=200),
        book=Setup(),
        full=Setup(n_train=None, epochs=300, lr=1e-3, gan_lr=2e-4, channels=32, n_pseudo=500, n_test=10_000,
                   k_eval=5000, n_samples=10_000),
    )
    return dataclasses.replace(base, **overrides)


# ----------------------------------------------------------------------------- models
def model_config(name: str, s: Setup):
    """The config of model ``name`` under setup ``s``."""
    from ..models.adversarial import AAEConfig, GANConfig
    from ..models.autoencoders import AEConfig
    from ..models.vae import VAEConfig
    base = dict(latent_dim=s.latent_dim, hidden=s.hidden)
    if name == "vae":
        return VAEConfig(**base)
    if name == "conv_vae":
        return VAEConfig(latent_dim=s.latent_dim, arch="conv", channels=s.channels)
    if name == "beta_vae":
        return VAEConfig(**base, beta=s.beta)
    if name == "iwae":
        return VAEConfig(**base, k=s.iwae_k)
    if name == "vamp_vae":
        # no closed-form KL under a mixture prior: the ELBO's KL term is a one-sample estimate
        return VAEConfig(**base, prior="vamp", n_pseudo=s.n_pseudo, estimator="mc")
    if name == "aae":
        return AAEConfig(latent_dim=s.latent_dim, hidden=s.hidden, disc_hidden=s.hidden, prior="normal")
    if name == "gan":
        return GANConfig(noise_dim=s.latent_dim, g_hidden=s.hidden, d_hidden=s.hidden)
    if name == "ae":
        return AEConfig(code_dim=s.latent_dim, hidden=s.hidden, loss="bce")
    raise ValueError(f"model {name!r} is not trained by gradient descent (or unknown); choose from {MODELS}")


def _model_class(name: str):
    from ..models.adversarial import GAN, AdversarialAE
    from ..models.autoencoders import Autoencoder
    from ..models.vae import IWAE, VAE, BetaVAE
    return {"vae": VAE, "conv_vae": VAE, "beta_vae": BetaVAE, "iwae": IWAE, "vamp_vae": VAE,
            "aae": AdversarialAE, "gan": GAN, "ae": Autoencoder}[name]


def train_model(run, name: str, dataset: str, seed: int, s: Setup):
    """Train (or read from the cache) one model; every model but the GAN on dynamically binarized data."""
    from ..data import load
    from ..experiments import train_cached
    from ..train import TrainConfig
    cfg = model_config(name, s)
    x, _ = load(dataset, "train", limit=s.n_train)
    gan = name == "gan"
    tc = TrainConfig(epochs=s.epochs, batch_size=s.batch_size, lr=s.gan_lr if gan else s.lr,
                     betas=(0.5, 0.999) if gan else (0.9, 0.999), seed=seed, binarize=not gan,
                     progress=False)
    cls = _model_class(name)
    model, history = train_cached(f"ch4-{name}-{dataset}", lambda: cls(cfg), tc, x, run=run, model_config=cfg)
    return model.eval(), history


def fit_pca(dataset: str, s: Setup):
    """PCA with ``latent_dim`` components on one fixed binarization of the training images (the input
    every other model reconstructs from)."""
    from sklearn.decomposition import PCA
    from ..data import load
    from ..evaluate import fixed_binarization
    x, _ = load(dataset, "train", limit=s.n_train)
    return PCA(s.latent_dim, random_state=0).fit(fixed_binarization(x).flatten(1).double().numpy())


# ----------------------------------------------------------------------------- evaluation
@dataclass
class TestData:
    """The test images of one data set, as every model sees them."""

    binary: torch.Tensor      # first n_test images, binarized once (seed 0): log p(x), BCE, codes
    grey: torch.Tensor        # the same images, grey-level: MSE / PSNR / SSIM targets
    fcd_grey: torch.Tensor    # first n_samples grey-level test images: reference of FCD and P/R


def test_data(run, dataset: str, s: Setup) -> TestData:
    from ..data import load
    from ..evaluate import fixed_binarization
    x, _ = load(dataset, "test", limit=max(s.n_test, s.n_samples))
    return TestData(binary=fixed_binarization(x[:s.n_test]).to(run.device), grey=x[:s.n_test].to(run.device),
                    fcd_grey=x[:s.n_samples].to(run.device))


@torch.no_grad()
def _reconstruct(model, x: torch.Tensor) -> torch.Tensor:
    from ..reconstruction import decode_mean, encode_mean
    if hasattr(model, "components_"):                # scikit-learn PCA: project, clip to the pixel range
        flat = x.flatten(1).double().cpu().numpy()
        out = model.inverse_transform(model.transform(flat)).clip(0, 1)
        return torch.as_tensor(out, dtype=x.dtype, device=x.device).reshape(x.shape)
    out = []
    for xb in x.split(500):
        out.append(decode_mean(model, encode_mean(model, xb)).reshape(xb.shape))
    return torch.cat(out)


def reconstruction_metrics(model, t: TestData) -> dict:
    """BCE (nats per image) of the reconstruction against the binary input it was computed from (models
    with outputs in (0, 1) that are Bernoulli means; not PCA), and MSE / PSNR / SSIM against the grey-level
    image, the pixel probabilities the binary input was drawn from (torchmetrics)."""
    from ..reconstruction import psnr, ssim
    x_hat = _reconstruct(model, t.binary)
    out = {"mse": float((x_hat - t.grey).pow(2).flatten(1).mean(1).mean()),
           "psnr": float(psnr(x_hat, t.grey).mean()), "ssim": float(ssim(x_hat, t.grey).mean())}
    if not hasattr(model, "components_"):
        p = x_hat.clamp(1e-6, 1 - 1e-6)
        bce = torch.nn.functional.binary_cross_entropy(p, t.binary, reduction="none").flatten(1).sum(1)
        out["bce"] = float(bce.mean())
    return out


@torch.no_grad()
def _samples(model, n: int, seed: int) -> torch.Tensor:
    """n samples: decoder means of prior draws (VAEs, AAE), G(z) (GAN), from a seeded generator."""
    from ..evaluate import sample_batches
    return sample_batches(model, n, generator=torch.Generator().manual_seed(seed))


def sample_metrics(model, clf, t: TestData, s: Setup, seed: int) -> dict:
    """FCD and improved precision/recall of ``n_samples`` samples against as many test images."""
    from ..evaluate import fid_features, frechet_distance, precision_recall
    fake = fid_features(clf, _samples(model, s.n_samples, seed).to(t.fcd_grey.device))
    real = fid_features(clf, t.fcd_grey)
    pr = precision_recall(real, fake, k=s.pr_k)
    return {"fcd": frechet_distance(fake, real), "precision": pr.precision, "recall": pr.recall}


@torch.no_grad()
def negative_elbo(model, x: torch.Tensor, seed: int = 0, batch_size: int = 500) -> torch.Tensor:
    """-ELBO of every example, nats, ``(N,)``: one draw z ~ q(z|x) per example, from the global RNG seeded
    with ``seed`` inside a forked RNG scope (the caller's random state is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return -torch.cat([model.elbo(xb) for xb in x.split(batch_size)])


def likelihood_metrics(model, t: TestData, s: Setup) -> dict:
    """Importance-sampled log p(x) (mean, standard error over images, bits/dim), -ELBO (one draw per
    image, seeded), the rate KL(q(z|x) || p(z)) and the active units (threshold 0.01) on the binary test
    images."""
    from ..evaluate import active_units, bits_per_dim, log_likelihood, rate
    nll = -log_likelihood(model, t.binary, k=s.k_eval, seed=0)
    return {"nll": float(nll.mean()), "nll_se": float(nll.std(unbiased=True) / np.sqrt(len(nll))),
            "bpd": float(bits_per_dim(float(nll.mean()))), "neg_elbo": float(negative_elbo(model, t.binary).mean()),
            "rate": float(rate(model, t.binary).mean()), "active_units": active_units(model, t.binary).count}


def evaluate_model(run, name: str, model, clf, t: TestData, s: Setup, dataset: str, seed: int) -> dict:
    """Every metric that applies to ``name``, cached per (model, evaluation settings)."""
    from ..experiments import evaluate_cached

    def compute() -> dict:
        out = {}
        if name in LIKELIHOOD_MODELS:
            out.update(likelihood_metrics(model, t, s))
        if name in SAMPLING_MODELS:
            out.update(sample_metrics(model, clf, t, s, seed))
        if name in RECONSTRUCTING_MODELS:
            out.update(reconstruction_metrics(model, t))
        return out

    config = {"n_test": s.n_test, "k_eval": s.k_eval, "n_samples": s.n_samples, "pr_k": s.pr_k,
              "dataset": dataset, "seed": seed, "classifier": getattr(clf, "cache_key", None)}
    if name == "pca":       # deterministic, not trained through the cache: the setup is its key
        config["pca"] = {"n_train": s.n_train, "latent_dim": s.latent_dim}
        return evaluate_cached(f"ch4-pca-{dataset}", config, compute, run=run)
    return evaluate_cached(f"ch4-{name}-{dataset}", config, compute, run=run, model=model)


def run_experiment(run, s: Setup, log: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Train and evaluate every (data set, model, seed) of the setup: one row each, one column per
    metric (NaN where a metric does not apply). Also returns nothing else: the models themselves are
    read back from the cache by :func:`trained_models` for figures."""
    from ..evaluate.classifier import train_classifier
    rows = []
    for dataset in s.datasets:
        clf, _ = train_classifier(dataset, run=run)
        t = test_data(run, dataset, s)
        for name in s.models:
            seeds = (0,) if name == "pca" else s.seeds           # PCA has no randomness to vary
            for seed in seeds:
                if name == "pca":
                    model, epoch_time = fit_pca(dataset, s), float("nan")
                else:
                    model, history = train_model(run, name, dataset, seed, s)
                    epoch_time = float(np.sum(history["time"])) if "time" in history else float("nan")
                metrics = evaluate_model(run, name, model, clf, t, s, dataset, seed)
                rows.append({"dataset": dataset, "model": name, "seed": seed, "train_seconds": epoch_time,
                             **metrics})
                if log:
                    log(f"{dataset} {name} seed {seed}: " + ", ".join(
                        f"{k} {v:.3g}" for k, v in metrics.items()))
    return pd.DataFrame(rows)


def trained_models(run, dataset: str, s: Setup, seed: int = 0) -> dict:
    """The models of one data set and seed (from the cache after :func:`run_experiment`)."""
    out = {}
    for name in s.models:
        out[name] = fit_pca(dataset, s) if name == "pca" else train_model(run, name, dataset, seed, s)[0]
    return out


# ----------------------------------------------------------------------------- tables
METRICS = {   # column -> (header, digits)
    "nll": ("-log p(x) (nats)", 2), "bpd": ("bits/dim", 4), "neg_elbo": ("-ELBO (nats)", 2),
    "rate": ("KL (nats)", 2), "active_units": ("active units", 1), "fcd": ("FCD", 2),
    "precision": ("precision", 3), "recall": ("recall", 3), "bce": ("BCE (nats)", 2),
    "mse": ("MSE", 4), "psnr": ("PSNR (dB)", 2), "ssim": ("SSIM", 3),
}


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample standard deviation over seeds of every metric, per (data set, model)."""
    cols = [c for c in METRICS if c in df.columns]
    g = df.groupby(["dataset", "model"], sort=False)[cols]
    mean, std, n = g.mean(), g.std(ddof=1), g.size()
    out = mean.join(std, rsuffix="_std")
    out["n_seeds"] = n
    return out.reset_index()


def mean_pm(row, col: str, digits: int) -> str:
    """'m ± s' over seeds, 'm' for a single seed, an en dash where the metric does not apply."""
    m, s = row.get(col), row.get(f"{col}_std")
    if m is None or pd.isna(m):
        return "–"
    if s is None or pd.isna(s):
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def results_table(summary: pd.DataFrame, dataset: str, columns: tuple[str, ...], caption: str,
                  name: str | None = None) -> str:
    """A MyST table of ``columns`` for one data set, one row per model (mean ± std over seeds)."""
    from .vae_studies import markdown_table
    rows = []
    for _, r in summary[summary["dataset"] == dataset].iterrows():
        rows.append([LABELS[r["model"]], *[mean_pm(r, c, METRICS[c][1]) for c in columns], str(int(r["n_seeds"]))])
    headers = ("model", *[METRICS[c][0] for c in columns], "seeds")
    return markdown_table(headers, rows, caption=caption, name=name)


def paired_difference(df: pd.DataFrame, dataset: str, a: str, b: str, col: str = "nll") -> tuple[float, float, int]:
    """Mean and sample std over seeds of (a - b) in ``col``, pairing the runs by seed (same data, same
    test images): the interval that a comparison between two models in the prose carries."""
    sub = df[df["dataset"] == dataset].pivot(index="seed", columns="model", values=col)
    d = (sub[a] - sub[b]).dropna()
    return float(d.mean()), float(d.std(ddof=1)) if len(d) > 1 else float("nan"), int(len(d))


@dataclass(frozen=True)
class Published:
    """A test NLL from the literature on dynamically binarized MNIST, with its protocol."""

    model: str
    nll: float
    reference: str      # as printed in the table
    key: str            # bibtex key
    protocol: str


PUBLISHED = (
    Published("VAE, MLP 200-200, 50-d", 86.76, "Burda et al. (2016), Table 1", "burda2015importance",
              "3280 epochs on 60,000 images, K = 5000, 10,000 test images"),
    Published("IWAE (k = 50), same net", 84.78, "Burda et al. (2016), Table 1", "burda2015importance",
              "3280 epochs on 60,000 images, K = 5000, 10,000 test images"),
    Published("VAE (pythae benchmark)", 89.78, "Chadebec et al. (2022)", "chadebec2022pythae",
              "100+ GPU epochs, IS estimate on the test set"),
)


# ---- figures (4.1 notebook)
@dataclass(frozen=True)
class Comparison:
    """A paired comparison of two models over seeds, as the prose of section 4.1.6 states it."""

    a: str
    b: str
    col: str
    mean: float          # mean over seeds of (a - b)
    sd: float            # sample standard deviation of (a - b) over seeds (NaN for one seed)
    n: int               # number of paired seeds
    half_width: float    # half-width of the t interval of the mean difference (NaN for one seed)
    level: float

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    @property
    def excludes_zero(self) -> bool | None:
        """Whether the interval excludes 0; None when it is undefined (fewer than two seeds)."""
        if not np.isfinite(self.half_width):
            return None
        return bool(self.low > 0 or self.high < 0)

    @property
    def direction(self) -> str:
        """'lower' or 'higher' (a against b), 'equal' for an exact tie."""
        return "lower" if self.mean < 0 else "higher" if self.mean > 0 else "equal"

    @property
    def verdict(self) -> str:
        """What the interval allows the prose to say, chosen from the numbers."""
        if self.excludes_zero is None:
            return "cannot be judged from a single seed"
        pct = f"{100 * self.level:.0f} %"
        return (f"the {pct} interval excludes zero" if self.excludes_zero
                else f"the {pct} interval includes zero, so the sign is not established")

    def size(self, unit: str = "nats", digits: int = 2) -> str:
        """'2.79 nats lower': the size and direction of the mean difference (a against b)."""
        return f"{abs(self.mean):.{digits}f} {unit} {self.direction}".replace(" equal", " different")

    def interval(self, unit: str = "nats", digits: int = 2) -> str:
        """The interval of (a - b) over the paired seeds and what it allows, for a parenthesis."""
        what = f"{LABELS.get(self.a, self.a)} minus {LABELS.get(self.b, self.b)}"
        if self.excludes_zero is None:
            return f"{what} over {self.n} seed; {self.verdict}"
        short = "it excludes zero" if self.excludes_zero else "it includes zero, so the sign is not established"
        return (f"{100 * self.level:.0f} % interval of {what} over {self.n} paired seeds: "
                f"[{self.low:.{digits}f}, {self.high:.{digits}f}] {unit}; {short}")


def compare(df: pd.DataFrame, dataset: str, a: str, b: str, col: str = "nll", level: float = 0.95) -> Comparison:
    """Paired comparison of models ``a`` and ``b`` in ``col``: the mean difference over seeds with a
    Student-t interval, mean +- t_{(1+level)/2, n-1} sd / sqrt(n) (the runs are paired by seed)."""
    mean, sd, n = paired_difference(df, dataset, a, b, col)
    if n == 0:
        raise ValueError(f"no seed has both {a!r} and {b!r} with a value of {col!r} on {dataset!r}")
    half = t_half_width(sd, n, level)
    return Comparison(a, b, col, mean, sd, n, half, level)


def best_model(summary: pd.DataFrame, dataset: str, col: str, lowest: bool = True,
               models: tuple[str, ...] | None = None) -> str:
    """The model with the lowest (or highest) mean of ``col`` over seeds on ``dataset``."""
    sub = summary[(summary["dataset"] == dataset) & summary[col].notna()]
    if models is not None:
        sub = sub[sub["model"].isin(models)]
    if sub.empty:
        raise ValueError(f"no model has a value of {col!r} on {dataset!r}")
    row = sub.loc[sub[col].idxmin() if lowest else sub[col].idxmax()]
    return str(row["model"])


def published_table(summary: pd.DataFrame, s: Setup, caption: str, name: str | None = None,
                    models: tuple[str, ...] = ("vae", "iwae", "vamp_vae")) -> str:
    """Our MNIST test NLLs (mean +- std over seeds, with our budget) beside :data:`PUBLISHED`."""
    from .vae_studies import markdown_table
    budget = (f"{s.epochs} epochs on {'60,000' if s.n_train is None else f'{s.n_train:,}'} images, "
              f"K = {s.k_eval}, {s.n_test:,} test images")
    rows = []
    for _, r in summary[(summary["dataset"] == "mnist") & summary["model"].isin(models)].iterrows():
        rows.append([LABELS[r["model"]], mean_pm(r, "nll", 2), budget, "this build"])
    rows += [[p.model, f"{p.nll:.2f}", p.protocol, p.reference] for p in PUBLISHED]
    return markdown_table(("model", "-log p(x) (nats)", "budget and protocol", "source"), rows,
                          caption=caption, name=name)


def sample_grids(models: dict, n: int = 16, seed: int = 0) -> dict[str, torch.Tensor]:
    """``n`` samples of every generating model in ``models`` (decoder means / G(z)), on the CPU, from one
    seeded generator per model so each grid is reproducible on its own."""
    return {name: _samples(m, n, seed).cpu() for name, m in models.items() if name in SAMPLING_MODELS}


def reconstruction_rows(models: dict, t: TestData, n: int = 8) -> dict[str, torch.Tensor]:
    """The first ``n`` grey test images, their binarized inputs and every reconstructing model's
    reconstruction of the binary input, as rows of one figure."""
    rows = {"grey image": t.grey[:n].cpu(), "binary input": t.binary[:n].cpu()}
    for name, m in models.items():
        if name in RECONSTRUCTING_MODELS:
            rows[LABELS[name]] = _reconstruct(m, t.binary[:n]).cpu()
    return rows


def scatter_by_seed(df: pd.DataFrame, dataset: str, x: str, y: str, ax, models: tuple[str, ...] | None = None):
    """One point per (model, seed) of ``y`` against ``x`` on ``dataset``, one colour per model."""
    sub = df[(df["dataset"] == dataset) & df[x].notna() & df[y].notna()]
    names = [m for m in (models or MODELS) if m in set(sub["model"])]
    markers = "osD^vP*Xh"
    for i, name in enumerate(names):
        pts = sub[sub["model"] == name]
        ax.scatter(pts[x], pts[y], s=28, marker=markers[i % len(markers)], label=LABELS[name], alpha=0.85)
    ax.set_xlabel(METRICS.get(x, (x,))[0])
    ax.set_ylabel(METRICS.get(y, (y,))[0])
    ax.set_title(TITLES[dataset])
    return ax

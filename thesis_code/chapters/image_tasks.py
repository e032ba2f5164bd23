"""Chapter 3, sections 3.1 (generative modelling of images) and 3.2 (reconstruction of images): the
budgets, the models each section trains or reuses, and the loops over data sets, seeds and methods that
produce the sections' figures and tables. The methods themselves live in
:mod:`thesis_code.reconstruction`.

Models are shared through the experiment cache: the unconditional VAEs and the MNIST conditional VAE
are chapter 2's (``vae_studies.train_vae`` with the configs of sections 2.4 and 2.6), so a book build
trains them once. Section 3.2 compares a VAE, a deterministic autoencoder, a denoising autoencoder (all
of one architecture: 784-512-256-20 and mirrored) and PCA with 20 components, over several training
seeds at a smaller budget (``RECON``), so every comparison carries its spread over seeds.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from .. import reconstruction as rec
from ..models.autoencoders import AEConfig, Autoencoder, DenoisingAE, DenoisingAEConfig, GaussianNoise, SaltAndPepper
from ..models.vae import VAE, ConditionalVAE, VAEConfig
from .vae_studies import Budget, markdown_table, train_vae

DATASETS = ("mnist", "fashion_mnist")
TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}
LATENT_DIM = 20
HIDDEN = (512, 256)

# Small models of one chapter's tasks, beyond chapter 2's: the Fashion-MNIST conditional VAE (GEN) and
# the seed replicates of the reconstruction comparison (RECON). Book budgets are sized so that the two
# sections together add a few CPU minutes to a cold build; `full` is for a GPU.
GEN = {"smoke": Budget(1000, 1, 200, 0), "book": Budget(20000, 5, 2000, 0), "full": Budget(60000, 100, 10000, 0)}
RECON = {"smoke": Budget(1000, 1, 100, 0), "book": Budget(10000, 5, 1000, 0), "full": Budget(60000, 100, 10000, 0)}


def vae_config(dataset: str) -> VAEConfig:
    """The configs of section 2.4: a Bernoulli VAE for binarized MNIST, a Gaussian one (s = 0.1) for
    grey-level Fashion-MNIST. The same config gives the same cache entry as chapter 2."""
    _check_dataset(dataset)
    if dataset == "mnist":
        return VAEConfig(latent_dim=LATENT_DIM)
    return VAEConfig(latent_dim=LATENT_DIM, likelihood="gaussian", sigma=0.1)


def _check_dataset(dataset: str) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")


def _bernoulli(dataset: str) -> bool:
    return vae_config(dataset).likelihood == "bernoulli"


def _train(run, name: str, build, model_config, budget: Budget, dataset: str, seed: int,
           conditional: bool = False):
    """Cached training on the first ``budget.n_train`` training images (binarized dynamically for the
    Bernoulli models), through ``experiments.train_cached``."""
    from ..data import load
    from ..experiments import train_cached
    from ..train import TrainConfig
    x, y = load(dataset, "train", limit=budget.n_train)
    tc = TrainConfig(epochs=budget.epochs, batch_size=128, lr=1e-3, seed=seed, binarize=_bernoulli(dataset),
                     progress=False)
    model, _ = train_cached(name, build, tc, x, y if conditional else None, run=run, model_config=model_config)
    return model


def test_images(run, dataset: str, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x_in, x_target, y)``: the first ``n`` test images. For MNIST the models see one fixed
    binarization (what their Bernoulli decoders were trained on) and are scored against the grey-level
    image, the pixel probabilities the binarization drew from; for Fashion-MNIST both are the grey-level
    image."""
    from ..data import load
    from ..evaluate import fixed_binarization
    x, y = load(dataset, "test", limit=n)
    x_in = fixed_binarization(x) if _bernoulli(dataset) else x
    return x_in.to(run.device), x.to(run.device), y


# ============================================================================ 3.1 generation

def generation_models(run, dataset: str) -> tuple[VAE, ConditionalVAE]:
    """The VAE of section 2.4 and a conditional VAE (section 2.6) for ``dataset``. The MNIST CVAE is
    chapter 2's; the Fashion-MNIST one is trained here with the GEN budget."""
    _check_dataset(dataset)
    cfg = vae_config(dataset)
    vae, _, _ = train_vae(run, cfg, dataset=dataset)
    if dataset == "mnist":
        cvae, _, _ = train_vae(run, cfg, model_class=ConditionalVAE, conditional=True)
    else:
        cvae = _train(run, f"ch3-cvae-{dataset}", lambda: ConditionalVAE(cfg), cfg, run.pick(**GEN), dataset,
                      run.seed, conditional=True)
    return vae, cvae


@torch.no_grad()
def training_codes(run, model, dataset: str, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mu, logvar, labels) of the first ``n`` training images (binarized once for Bernoulli models)."""
    from ..data import load
    from ..evaluate import fixed_binarization
    from ..latent import encode_dataset
    x, y = load(dataset, "train", limit=n)
    if _bernoulli(dataset):
        x = fixed_binarization(x)
    codes = encode_dataset(model, x.to(run.device))
    return codes.mean.cpu(), codes.logvar.cpu(), y


def classifier(run, dataset: str):
    """The project's classifier of ``dataset`` (shared with chapter 4 through the cache) and its test
    accuracy."""
    from ..data import load
    from ..evaluate import classifier_accuracy
    from ..evaluate.classifier import train_classifier
    clf, _ = train_classifier(dataset, run=run)
    x, y = load(dataset, "test")
    return clf, classifier_accuracy(clf, x.to(run.device), y)


@dataclass
class SamplerScores:
    """Frechet classifier distance of one way of drawing codes, over several sampling seeds."""

    name: str
    fcd: np.ndarray            # one value per seed

    @property
    def mean(self) -> float:
        return float(self.fcd.mean())

    @property
    def std(self) -> float:
        return float(self.fcd.std(ddof=1)) if len(self.fcd) > 1 else 0.0


def code_samplers(mu: torch.Tensor, logvar: torch.Tensor, mixture: rec.LatentMixture,
                  temperatures=(1.0,)) -> dict:
    """name -> function(n, generator) -> codes: the prior at each temperature, the aggregate posterior
    (mixture of the training posteriors) and a Gaussian mixture fitted to the training codes."""
    d = mu.shape[1]
    out = {f"prior, tau = {t:g}": (lambda n, g, t=t: rec.sample_prior(n, d, g, temperature=t)) for t in temperatures}
    out["aggregate posterior q(z)"] = lambda n, g: rec.sample_aggregate_posterior(mu, logvar, n, g)
    name = f"Gaussian mixture ({mixture.n_components} comp.) on codes"
    out[name] = lambda n, g: rec.sample_latent_mixture(mixture, n, g)
    return out


@torch.no_grad()
def fcd_of_samplers(run, model, samplers: dict, clf, x_test: torch.Tensor, n: int, seeds) -> list[SamplerScores]:
    """FCD between decoded codes of every sampler and ``x_test``, for every seed of ``seeds``."""
    from ..evaluate import fid_features, frechet_distance
    from ..latent import decode_images
    ref = fid_features(clf, x_test)
    out = []
    for name, draw in samplers.items():
        vals = []
        for s in seeds:
            z = draw(n, torch.Generator().manual_seed(int(s)))
            vals.append(frechet_distance(fid_features(clf, decode_images(model, z.to(run.device))), ref))
        out.append(SamplerScores(name, np.array(vals)))
    return out


@torch.no_grad()
def conditional_label_accuracy(run, cvae, clf, n_per_class: int, seed: int) -> float:
    """Fraction of class-conditional samples that the classifier assigns to the class they were drawn
    for: whether p(x | z, y) obeys y."""
    from ..evaluate import classifier_accuracy
    g = torch.Generator().manual_seed(seed)
    xs, ys = [], []
    for c in range(cvae.config.n_classes):
        z = rec.sample_prior(n_per_class, cvae.latent_dim, g).to(run.device)
        xs.append(cvae.decode_mean(z, torch.full((n_per_class,), c, device=run.device)))
        ys.append(torch.full((n_per_class,), c))
    return classifier_accuracy(clf, torch.cat(xs), torch.cat(ys))


@dataclass
class AttributeEffect:
    """What adding alpha * v to test codes does, measured in pixel space and by the classifier."""

    name: str
    alphas: np.ndarray
    measure: np.ndarray        # mean pixel-space measurement of the decoded images at each alpha
    same_class: np.ndarray     # fraction still classified as at alpha = 0
    images: torch.Tensor       # (len(alphas), n_show, 1, 28, 28)


def within_class_split(values: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """True where ``values`` exceeds the median of its class: two groups that differ in the measured
    attribute but have the same class mix, so their mean code difference is not a class direction."""
    above = torch.zeros_like(values, dtype=torch.bool)
    for c in labels.unique():
        idx = labels == c
        above[idx] = values[idx] > values[idx].median()
    return above


@torch.no_grad()
def attribute_effect(run, model, clf, dataset: str, attribute: str, alphas, n_train: int, x_test: torch.Tensor,
                     n_show: int = 8) -> AttributeEffect:
    """Attribute vector for ``attribute`` ("ink" or "slant"): the mean code difference between training
    images above and below their class median of that measurement; then shift the codes of ``x_test``
    by alpha * v, decode, and measure the attribute and the class of the results."""
    from ..data import load
    from ..latent import decode_images, encode_dataset
    measure = {"ink": rec.ink, "slant": rec.slant}[attribute]
    mu, _, y = training_codes(run, model, dataset, n_train)
    x_train, _ = load(dataset, "train", limit=n_train)
    v = rec.attribute_vector(mu, within_class_split(measure(x_train), y))
    z = encode_dataset(model, x_test).mean.cpu()
    base_class = clf(decode_images(model, z.to(run.device)).to(next(clf.parameters()).device)).argmax(1).cpu()
    ms, same, shown = [], [], []
    for zz in rec.shift_codes(z, v, list(alphas)):
        imgs = decode_images(model, zz.to(run.device)).cpu()
        ms.append(float(measure(imgs).mean()))
        same.append(float((clf(imgs.to(next(clf.parameters()).device)).argmax(1).cpu() == base_class).float().mean()))
        shown.append(imgs[:n_show])
    return AttributeEffect(attribute, np.asarray(alphas, float), np.array(ms), np.array(same), torch.stack(shown))


# ============================================================================ 3.2 reconstruction

def corruption(dataset: str):
    """The test-time noise of the denoising task, also the denoising autoencoder's training corruption:
    salt-and-pepper on binary MNIST, additive Gaussian noise on grey-level Fashion-MNIST."""
    _check_dataset(dataset)
    return SaltAndPepper(0.2) if dataset == "mnist" else GaussianNoise(0.2)


def ae_config(dataset: str, denoising: bool = False) -> AEConfig:
    """An autoencoder of the VAE's architecture: cross-entropy on binarized MNIST (as the Bernoulli VAE),
    squared error with sigmoid outputs on Fashion-MNIST (as the Gaussian VAE, up to the scale s^2)."""
    kw = dict(code_dim=LATENT_DIM, hidden=HIDDEN)
    kw.update(loss="bce") if dataset == "mnist" else kw.update(loss="mse", output="sigmoid")
    return DenoisingAEConfig(corruption=corruption(dataset), **kw) if denoising else AEConfig(**kw)


def recon_models(run, dataset: str, seed: int) -> dict:
    """VAE, AE, denoising AE (one training seed each, RECON budget) and PCA (deterministic; fitted on the
    same images, binarized once for MNIST) for ``dataset``."""
    from sklearn.decomposition import PCA
    from ..data import load
    from ..evaluate import fixed_binarization
    _check_dataset(dataset)
    b = run.pick(**RECON)
    vcfg, acfg, dcfg = vae_config(dataset), ae_config(dataset), ae_config(dataset, denoising=True)
    models = {
        "VAE": _train(run, f"ch3-vae-{dataset}", lambda: VAE(vcfg), vcfg, b, dataset, seed),
        "AE": _train(run, f"ch3-ae-{dataset}", lambda: Autoencoder(acfg), acfg, b, dataset, seed),
        "denoising AE": _train(run, f"ch3-dae-{dataset}", lambda: DenoisingAE(dcfg), dcfg, b, dataset, seed),
    }
    x, _ = load(dataset, "train", limit=b.n_train)
    if _bernoulli(dataset):
        x = fixed_binarization(x)
    models["PCA"] = PCA(LATENT_DIM, random_state=0).fit(x.flatten(1).double().numpy())
    return models


@torch.no_grad()
def autoencode(model, x: torch.Tensor) -> torch.Tensor:
    """decode(encode(x)): the decoder mean at the posterior mean (VAE), g(f(x)) (AE), or the PCA projection."""
    if hasattr(model, "components_"):           # scikit-learn PCA: project, clip to the pixel range
        flat = x.flatten(1).cpu().double().numpy()
        out = model.inverse_transform(model.transform(flat))
        return torch.as_tensor(np.clip(out, 0, 1), dtype=x.dtype).reshape(x.shape).to(x.device)
    return rec.decode_mean(model, rec.encode_mean(model, x)).reshape(x.shape)


def inpaint(model, x: torch.Tensor, missing: torch.Tensor, method: str, steps: int) -> torch.Tensor:
    """Fill the ``missing`` pixels of ``x``: PCA by its exact Gaussian conditional mean, the others by
    ``method`` ("optimize": MAP code, eq-inpaint-map; "iterate": clamped encode/decode)."""
    if hasattr(model, "components_"):            # PCA: the exact conditional mean of its PPCA
        ppca = rec.ppca_from_pca(model)
        flat = x.flatten(1).cpu().double()
        m = missing.reshape(-1).cpu()
        mean, _ = rec.conditional_gaussian_fill(ppca, flat, m)
        flat = flat.clone()
        flat[:, m] = mean.clamp(0, 1)
        return flat.to(x.dtype).reshape(x.shape).to(x.device)
    if method == "optimize":
        return rec.inpaint_by_optimization(model, x, missing, steps=steps).x
    return rec.inpaint_by_iteration(model, x, missing, steps=steps).x


def reconstruction_methods(models: dict) -> list[tuple[str, str, object]]:
    """(row name, inpainting method, model): the VAE inpaints both by latent optimization and by
    iteration; the autoencoders only by iteration (they have no likelihood); PCA by Gaussian conditioning."""
    rows = []
    for name, m in models.items():
        if name == "VAE":
            rows += [("VAE (MAP z)", "optimize", m), ("VAE (iterate)", "iterate", m)]
        elif name == "PCA":
            rows.append(("PCA (Gaussian conditioning)", "exact", m))
        else:
            rows.append((f"{name} (iterate)", "iterate", m))
    return rows


@torch.no_grad()
def reconstruction_scores(run, models: dict, dataset: str, x_in: torch.Tensor, x_target: torch.Tensor,
                          seed: int, inpaint_steps: int, n_inpaint: int) -> dict:
    """For each (model, method) row: mean PSNR and SSIM over the test images of
    reconstruction (x_in -> model), denoising (corrupted x_in -> model) and inpainting of the bottom half
    (PSNR over the missing pixels, SSIM over the completed image). Keys (row, task, metric)."""
    noisy = corruption(dataset)(x_in, torch.Generator(device=x_in.device).manual_seed(seed))
    missing = rec.half_mask(tuple(x_in.shape[1:]), "bottom").to(x_in.device)
    xi, xt = x_in[:n_inpaint], x_target[:n_inpaint]
    out = {}
    for row, method, model in reconstruction_methods(models):
        for task, inp, tgt in (("reconstruction", x_in, x_target), ("denoising", noisy, x_target)):
            # one latent code per image: the MAP and iterate rows of the VAE coincide here
            x_hat = autoencode(model, inp).clamp(0, 1)
            out[(row, task, "PSNR")] = float(rec.psnr(x_hat, tgt).mean())
            out[(row, task, "SSIM")] = float(rec.ssim(x_hat, tgt).mean())
        with torch.enable_grad():
            filled = inpaint(model, xi, missing, method, inpaint_steps).clamp(0, 1)
        out[(row, "inpainting", "PSNR")] = float(rec.psnr(filled, xt, missing=missing).mean())
        out[(row, "inpainting", "SSIM")] = float(rec.ssim(filled, xt).mean())
    return out


def reconstruction_study(run, dataset: str, seeds, inpaint_steps: int, n_inpaint: int) -> dict:
    """``reconstruction_scores`` for every training seed (cached per seed): keys (row, task, metric) ->
    array over seeds."""
    from ..experiments import evaluate_cached
    b = run.pick(**RECON)
    x_in, x_target, _ = test_images(run, dataset, b.n_test)
    per_seed = []
    for s in seeds:
        models = recon_models(run, dataset, s)
        key = {"dataset": dataset, "seed": int(s), "budget": dataclasses.asdict(b), "steps": inpaint_steps,
               "n_inpaint": n_inpaint, "models": [getattr(m, "cache_key", "pca") for m in models.values()]}
        per_seed.append(evaluate_cached(f"ch3-recon-{dataset}", key, lambda: reconstruction_scores(
            run, models, dataset, x_in, x_target, s, inpaint_steps, n_inpaint), run=run))
    return {k: np.array([r[k] for r in per_seed]) for k in per_seed[0]}


def reconstruction_table(scores: dict, caption: str, name: str) -> str:
    """Rows = model and method, columns = PSNR / SSIM of the three tasks, as mean ± standard deviation
    over the training seeds."""
    rows_order = list(dict.fromkeys(k[0] for k in scores))
    tasks = ("reconstruction", "denoising", "inpainting")
    n = len(next(iter(scores.values())))

    def cell(v):
        return f"{v.mean():.2f} ± {v.std(ddof=1):.2f}" if n > 1 else f"{v.mean():.2f}"
    headers = ["model (inpainting method)"] + [f"{t} {m}" for t in tasks for m in ("PSNR", "SSIM")]
    rows = [[r] + [cell(scores[(r, t, m)]) for t in tasks for m in ("PSNR", "SSIM")] for r in rows_order]
    return markdown_table(headers, rows, caption=caption, name=name)


def best_row(scores: dict, task: str, metric: str = "PSNR") -> str:
    """The row with the highest mean of ``metric`` on ``task``."""
    rows = list(dict.fromkeys(k[0] for k in scores))
    return max(rows, key=lambda r: scores[(r, task, metric)].mean())


def separated(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two sets of per-seed results do not overlap within one standard deviation (mean +- std
    intervals disjoint): the condition under which the prose may call one of them better."""
    sa = a.std(ddof=1) if len(a) > 1 else 0.0
    sb = b.std(ddof=1) if len(b) > 1 else 0.0
    return bool(abs(a.mean() - b.mean()) > sa + sb)

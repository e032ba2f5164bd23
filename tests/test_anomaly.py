"""Section 3.4: one-class splits and the anomaly scores, each against an independent computation."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import distributions as D

from thesis_code import evaluate
from thesis_code.models.vae import VAE, VAEConfig


# ------------------------------------------------------------------ one-class splits
def _fake_load(name, split="train", *, limit=None, flatten=False):
    g = torch.Generator().manual_seed(0 if split == "train" else 1)
    n = 200 if split == "train" else 100
    y = torch.arange(n) % 10
    x = y.float().view(n, 1, 1, 1).expand(n, 1, 28, 28) / 10 + 0.01 * torch.rand(n, 1, 28, 28, generator=g)
    if limit is not None:
        x, y = x[:limit], y[:limit]
    return x.contiguous(), y


def test_one_class_split_keeps_only_the_normal_class(monkeypatch):
    from thesis_code.data import one_class
    monkeypatch.setattr(one_class, "load", _fake_load)
    s = one_class.one_class_split("mnist", 3)
    x_tr, y_tr = _fake_load("mnist", "train")
    x_te, y_te = _fake_load("mnist", "test")
    assert torch.equal(s.x_train, x_tr[y_tr == 3]) and len(s.x_train) == 20
    assert torch.equal(s.x_test, x_te) and torch.equal(s.y_test, y_te)
    assert s.is_anomaly.dtype == torch.bool
    assert torch.equal(s.is_anomaly, torch.tensor([int(v) != 3 for v in y_te]))
    assert int((~s.is_anomaly).sum()) == 10
    assert len(one_class.one_class_split("mnist", 3, limit=5).x_train) == 5


@pytest.mark.parametrize("bad", [-1, 10, 2.0, True, "3"])
def test_one_class_split_rejects_unknown_classes(monkeypatch, bad):
    from thesis_code.data import one_class
    monkeypatch.setattr(one_class, "load", _fake_load)
    with pytest.raises(ValueError, match="normal_class must be an int in 0..9"):
        one_class.one_class_split("mnist", bad)


def _in(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(len(a),) bool: which images of ``a`` are, pixel for pixel, an image of ``b``."""
    return (a.flatten(1)[:, None, :] == b.flatten(1)[None, :, :]).all(-1).any(1)


def _held_out_rows(s):
    """Training images of the split ``s`` that are also held-out images."""
    return _in(s.x_train, s.x_val)


def test_validation_split_is_disjoint_seeded_and_leaves_the_test_set_alone(monkeypatch):
    from thesis_code.data import one_class
    monkeypatch.setattr(one_class, "load", _fake_load)
    x_tr, y_tr = _fake_load("mnist", "train")
    x_te, y_te = _fake_load("mnist", "test")
    plain = one_class.one_class_split("mnist", 3)
    assert plain.x_val.shape == (0, 1, 28, 28) and len(plain.y_val) == 0
    s = one_class.one_class_split("mnist", 3, val_per_class=4, val_seed=7)
    # 4 held-out images of every class (the fake images are all distinct, so rows identify images)
    assert torch.equal(torch.bincount(s.y_val, minlength=10), torch.full((10,), 4))
    assert s.x_val.shape == (40, 1, 28, 28)
    held = _in(x_tr, s.x_val)
    assert int(held.sum()) == 40 and torch.equal(y_tr[held], s.y_val)
    # validation and training images are disjoint, and together they are all the training 3s
    assert not _held_out_rows(s).any()
    assert len(s.x_train) + int((s.y_val == 3).sum()) == int((y_tr == 3).sum())
    assert torch.equal(s.x_train, x_tr[(y_tr == 3) & ~held])
    # the test part is exactly the one of the split without validation
    assert torch.equal(s.x_test, x_te) and torch.equal(s.y_test, y_te)
    assert torch.equal(s.is_anomaly, plain.is_anomaly)
    assert torch.equal(s.val_is_anomaly, s.y_val != 3)
    # reproducible; the same held-out set for every normal class; another seed draws another set
    again = one_class.one_class_split("mnist", 3, val_per_class=4, val_seed=7)
    assert torch.equal(again.x_val, s.x_val) and torch.equal(again.x_train, s.x_train)
    other_class = one_class.one_class_split("mnist", 8, val_per_class=4, val_seed=7)
    assert torch.equal(other_class.x_val, s.x_val) and not _held_out_rows(other_class).any()
    assert not torch.equal(one_class.one_class_split("mnist", 3, val_per_class=4, val_seed=8).x_val, s.x_val)
    # limit counts the remaining training images of the class
    assert torch.equal(one_class.one_class_split("mnist", 3, limit=5, val_per_class=4, val_seed=7).x_train,
                       s.x_train[:5])


def test_validation_indices_reject_holding_out_a_whole_class():
    from thesis_code.data.one_class import validation_indices
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2])
    idx = validation_indices(labels, 1, seed=3)
    assert torch.equal(labels[idx], torch.tensor([0, 1, 2])) and torch.equal(idx, idx.sort().values)
    assert len(validation_indices(labels, 0)) == 0
    with pytest.raises(ValueError, match="class 1 has 2 training images"):
        validation_indices(labels, 2)
    with pytest.raises(ValueError, match="non-negative int"):
        validation_indices(labels, -1)


def test_one_class_split_rejects_unknown_data_set():
    from thesis_code.data.one_class import one_class_split
    with pytest.raises(ValueError, match="unknown data set 'cifar10'"):
        one_class_split("cifar10", 0)


# ------------------------------------------------------------------ AUROC of a known ranking
def test_auroc_of_a_known_ranking():
    # labels 0 0 1 0 1 1 by increasing score: of the 9 (anomaly, normal) pairs, 8 are ordered correctly
    scores = np.arange(6.0)
    labels = np.array([0, 0, 1, 0, 1, 1])
    pairs = [(a, n) for a in scores[labels == 1] for n in scores[labels == 0]]
    brute = sum(a > n for a, n in pairs) / len(pairs)
    assert brute == pytest.approx(8 / 9)
    assert evaluate.auroc(scores, labels) == pytest.approx(brute)
    assert evaluate.auroc(-scores, labels) == pytest.approx(1 - brute)


# ------------------------------------------------------------------ scores of a VAE
@pytest.fixture(scope="module")
def tiny_vae():
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=3, hidden=(16,), likelihood="gaussian", sigma=0.3)).eval()
    x = torch.rand(7, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    return model, x


def test_kl_term_matches_torch_distributions(tiny_vae):
    model, x = tiny_vae
    s = evaluate.vae_scores(model, x, k=3)
    mu, logvar = model.encode(x)
    q = D.Normal(mu, torch.exp(0.5 * logvar))
    p = D.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    expected = D.kl_divergence(q, p).sum(-1)
    torch.testing.assert_close(s["kl"], expected.detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(evaluate.kl_score(mu, logvar), expected, rtol=1e-5, atol=1e-5)


def test_nll_score_matches_the_importance_sampled_likelihood(tiny_vae):
    # the independent implementation (evaluate.likelihood.log_likelihood, chunked logaddexp over K and
    # torch.distributions for q) draws the same noise for the same seed and batch size: equal estimates
    model, x = tiny_vae
    s = evaluate.vae_scores(model, x, k=64, batch_size=4, seed=5)
    ref = -evaluate.log_likelihood(model, x, k=64, batch_size=4, chunk=7, seed=5)
    torch.testing.assert_close(s["nll"], ref, rtol=1e-5, atol=1e-3)
    # and the reconstruction score is the squared error of the decoder mean at mu
    mu, _ = model.encode(x)
    torch.testing.assert_close(s["reconstruction"], ((model.decode_mean(mu) - x) ** 2).flatten(1).sum(1).detach())
    # Jensen: with the same K draws, log mean w >= mean log w, and mean log w is the ELBO with a Monte
    # Carlo KL; the analytic-KL ELBO differs from it only by Monte Carlo noise, small at K=64 here
    assert (s["neg_elbo"] >= s["nll"] - 1.0).all()


def test_aggregate_posterior_matches_a_brute_force_mixture():
    g = torch.Generator().manual_seed(3)
    mu_tr, logvar_tr = torch.randn(50, 4, generator=g), 0.5 * torch.randn(50, 4, generator=g)
    z = torch.randn(9, 4, generator=g)
    mixture = D.MixtureSameFamily(D.Categorical(logits=torch.zeros(50)),
                                  D.Independent(D.Normal(mu_tr, torch.exp(0.5 * logvar_tr)), 1))
    torch.testing.assert_close(evaluate.aggregate_posterior_nll(z, mu_tr, logvar_tr, batch_size=4),
                               -mixture.log_prob(z), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="expected z"):
        evaluate.aggregate_posterior_nll(z[:, :3], mu_tr, logvar_tr)
    # the smoothed version is the mixture convolved with N(0, h^2 I): p_h(z) = E_e[q_agg(z - e)],
    # e ~ N(0, h^2 I), estimated by Monte Carlo
    h = 0.7
    e = h * torch.randn(40_000, 1, 4, generator=g)
    mc = torch.logsumexp(mixture.log_prob(z - e), 0) - math.log(len(e))
    smoothed = evaluate.aggregate_posterior_nll(z, mu_tr, logvar_tr, batch_size=4, bandwidth=h)
    torch.testing.assert_close(smoothed, -mc, rtol=0, atol=0.03)
    assert (smoothed - evaluate.aggregate_posterior_nll(z, mu_tr, logvar_tr)).abs().max() > 0.1
    with pytest.raises(ValueError, match="bandwidth must be >= 0"):
        evaluate.aggregate_posterior_nll(z, mu_tr, logvar_tr, bandwidth=-1.0)


def test_likelihood_ratio_sign_on_a_toy_case():
    # normal data ~ N(0, 1), background ~ N(0, 3^2): a point near 0 is better explained by the class
    # model (low score), a point at 5 by the background (high score), whatever the absolute densities.
    model, background = D.Normal(0.0, 1.0), D.Normal(0.0, 3.0)
    x = torch.tensor([0.1, 5.0])
    s = evaluate.likelihood_ratio_score(model.log_prob(x), background.log_prob(x))
    assert s[0] < 0 < s[1]
    torch.testing.assert_close(s, (background.log_prob(x) - model.log_prob(x)).double())


def test_complexity_bits_orders_simple_below_cluttered_and_the_correction():
    blank = torch.zeros(1, 1, 28, 28)
    noise = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    bits = evaluate.complexity_bits(torch.cat([blank, noise]))
    assert 0 < bits[0] < bits[1]
    assert bits[1] > 8 * 28 * 28 * 0.8   # uniform noise is nearly incompressible (~8 bits a pixel)
    # S = -log2 P(x) - L(x), and the density -> 8-bit probability conversion adds D log2(256) bits
    nll_nats = torch.tensor([100.0, 50.0])
    nll_bits = evaluate.discretized_nll_bits(nll_nats, dims=784)
    torch.testing.assert_close(nll_bits, nll_nats.double() / math.log(2) + 784 * 8)
    torch.testing.assert_close(evaluate.complexity_corrected_score(nll_bits, bits), nll_bits - bits)
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        evaluate.complexity_bits(torch.zeros(2, 784))


# ------------------------------------------------------------------ section 3.4's detectors (chapter module)
def test_kde_baseline_matches_scikit_learn_and_a_direct_sum():
    from sklearn.neighbors import KernelDensity

    from thesis_code.chapters.anomaly import gaussian_kde_nll
    rng = np.random.default_rng(0)
    x_fit, x = rng.random((60, 40)), rng.random((25, 40))
    h = 0.7
    ours = gaussian_kde_nll(x_fit, x, h, batch_size=7)
    ref = -KernelDensity(kernel="gaussian", bandwidth=h).fit(x_fit).score_samples(x)
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-8)
    # the mixture of n isotropic Gaussians, summed term by term with scipy
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal
    terms = np.stack([multivariate_normal(m, h ** 2 * np.eye(40)).logpdf(x) for m in x_fit])
    np.testing.assert_allclose(ours, -(logsumexp(terms, axis=0) - np.log(60)), rtol=1e-10)
    with pytest.raises(ValueError, match="same D"):
        gaussian_kde_nll(x_fit, x[:, :3], h)
    with pytest.raises(ValueError, match="bandwidth must be positive"):
        gaussian_kde_nll(x_fit, x, 0.0)


def test_encoder_pass_for_the_aggregate_posterior_matches_vae_scores(tiny_vae):
    from thesis_code.chapters.anomaly import _encode
    model, x = tiny_vae
    model.train()
    enc = _encode(model, x, batch_size=3)
    ref = evaluate.vae_scores(model, x, k=1)
    assert model.training   # the mode is restored
    torch.testing.assert_close(enc["mu"], ref["mu"])
    torch.testing.assert_close(enc["logvar"], ref["logvar"])
    model.eval()



def test_standardized_sum_matches_scikit_learn_scaling_and_keeps_a_single_ranking():
    from sklearn.preprocessing import StandardScaler
    rng = np.random.default_rng(0)
    ref = [rng.normal(5.0, 2.0, 300), rng.normal(-100.0, 30.0, 200)]
    x = [rng.normal(6.0, 2.0, 50), rng.normal(-80.0, 30.0, 50)]
    expected = sum(StandardScaler().fit(r[:, None]).transform(v[:, None])[:, 0] for r, v in zip(ref, x))
    np.testing.assert_allclose(evaluate.standardized_sum(x, ref), expected, rtol=1e-12, atol=1e-12)
    # the units do not matter: rescaling and shifting one score (and its reference) changes nothing
    np.testing.assert_allclose(evaluate.standardized_sum([x[0], 1e3 * x[1] + 7], [ref[0], 1e3 * ref[1] + 7]),
                               expected, rtol=1e-9, atol=1e-9)
    # one score alone: an increasing map of it, so the same AUROC
    y = rng.random(50) < 0.5
    assert evaluate.auroc(evaluate.standardized_sum([x[1]], [ref[1]]), y) == pytest.approx(evaluate.auroc(x[1], y))
    with pytest.raises(ValueError, match="as many reference"):
        evaluate.standardized_sum(x, ref[:1])
    with pytest.raises(ValueError, match="zero spread"):
        evaluate.standardized_sum(x, [ref[0], np.ones(10)])
    with pytest.raises(ValueError, match="same length"):
        evaluate.standardized_sum([x[0], x[1][:10]], ref)


def test_calibration_scores_leave_the_calibration_codes_out_of_the_mixture(tiny_vae):
    import dataclasses

    from thesis_code.chapters import anomaly as A
    model, x = tiny_vae
    b = dataclasses.replace(A.Budget(), calibration=4, latent_bandwidth=0.5)
    train = A._encode(model, x)
    cal = A._calibration_scores(model, x, train, b)
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:4]
    rest = [i for i in range(len(x)) if i not in set(idx.tolist())]
    # brute force: the smoothed mixture of the codes of the other images, with torch.distributions
    var = train["logvar"][rest].exp() + 0.5 ** 2
    mixture = D.MixtureSameFamily(D.Categorical(logits=torch.zeros(len(rest))),
                                  D.Independent(D.Normal(train["mu"][rest], var.sqrt()), 1))
    np.testing.assert_allclose(cal["aggregate_posterior"], -mixture.log_prob(train["mu"][idx]).double().numpy(),
                               rtol=1e-4, atol=1e-4)
    model.eval()
    with torch.no_grad():
        rec = ((model.decode_mean(train["mu"][idx]) - x[idx]) ** 2).sum((1, 2, 3)).double().numpy()
    np.testing.assert_allclose(cal["reconstruction"], rec, rtol=1e-5)
    # the weighted error: -2 log N(x; x_hat, diag v) minus its normalizer, v from the calibration residuals
    with torch.no_grad():
        x_hat = model.decode_mean(train["mu"][idx])
    v = ((x_hat - x[idx]).double() ** 2).mean(0) + b.sigma ** 2
    gauss = D.Normal(x_hat.double(), v.sqrt().expand_as(x_hat)).log_prob(x[idx].double()).sum((1, 2, 3))
    want = (-2 * gauss - torch.log(2 * math.pi * v).sum()).numpy()
    np.testing.assert_allclose(cal["weighted_reconstruction"], want, rtol=1e-4)


def test_weighted_reconstruction_error_against_a_gaussian_log_density(tiny_vae):
    from thesis_code import evaluate
    model, x = tiny_vae
    mu = model.encode(x)[0].detach()
    g = torch.Generator().manual_seed(3)
    v = 0.01 + torch.rand(1, 28, 28, generator=g)
    got = evaluate.vae_scores(model, x, k=2, batch_size=3, variance=v)["weighted_reconstruction"]
    with torch.no_grad():
        x_hat = model.decode_mean(mu)
    gauss = D.Independent(D.Normal(x_hat.double(), v.double().sqrt().expand_as(x_hat)), 3).log_prob(x.double())
    torch.testing.assert_close(got.double(), -2 * gauss - torch.log(2 * math.pi * v.double()).sum(),
                               rtol=1e-5, atol=1e-4)
    # a constant variance is the plain squared error divided by it
    residual = x - x_hat
    flat = evaluate.squared_error(residual, torch.full((1, 28, 28), 0.25))
    torch.testing.assert_close(flat, evaluate.squared_error(residual) / 0.25)
    assert "weighted_reconstruction" not in evaluate.vae_scores(model, x, k=2)
    with pytest.raises(ValueError, match="shape of one image"):
        evaluate.squared_error(residual, torch.ones(28, 28))
    # the residual variance: numpy's mean of squares plus the floor; bad input rejected
    r = torch.randn(5, 1, 28, 28, generator=g)
    np.testing.assert_allclose(evaluate.residual_variance(r, 0.1).numpy(),
                               (r.numpy() ** 2).mean(0) + 0.1, rtol=1e-6)
    with pytest.raises(ValueError, match="floor"):
        evaluate.residual_variance(r, 0.0)
    with pytest.raises(ValueError, match="at least 2"):
        evaluate.residual_variance(r[:1], 0.1)


# ------------------------------------------------------------------ choosing the VAE score on validation
def _auroc_table(scores: dict, labels: dict) -> "pd.DataFrame":
    import pandas as pd
    from sklearn.metrics import roc_auc_score
    return pd.DataFrame([{"dataset": k[0], "cls": k[1], "seed": k[2], "detector": det,
                          "auroc": 100 * roc_auc_score(labels[k[:2]], v)}
                         for k, sc in scores.items() for det, v in sc.items()])


def _synthetic_scores(best: str, rng: np.random.Generator, labels: dict) -> dict:
    """Scores of the six VAE detectors for every (dataset, class, seed): ``best`` separates the anomalies
    well (signal 3), the others weakly (signal 0.3 ... 0.8)."""
    from thesis_code.chapters.anomaly import VAE_SCORES
    out = {}
    for (name, c), y in labels.items():
        for seed in (0, 1, 2):
            out[(name, c, seed)] = {det: (3.0 if det == best else 0.3 + 0.1 * i) * y + rng.normal(size=len(y))
                                    for i, det in enumerate(VAE_SCORES)}
    return out


def test_the_choice_is_the_validation_best_and_ignores_the_test_scores():
    from thesis_code.chapters import anomaly as A
    rng = np.random.default_rng(0)
    val_labels = {(n, c): (rng.random(300) < 0.9).astype(int) for n in A.DATASETS for c in (0, 1)}
    test_labels = {(n, c): (rng.random(500) < 0.9).astype(int) for n in A.DATASETS for c in (0, 1)}
    val = {"mnist": "kl", "fashion_mnist": "aggregate_posterior"}
    val_scores = {**{k: v for k, v in _synthetic_scores("kl", rng, val_labels).items() if k[0] == "mnist"},
                  **{k: v for k, v in _synthetic_scores("aggregate_posterior", rng, val_labels).items()
                     if k[0] == "fashion_mnist"}}
    # on the test images another score is by far the best: choosing on test would pick it
    test_scores = _synthetic_scores("neg_elbo", rng, test_labels)
    val_auroc, test_auroc = _auroc_table(val_scores, val_labels), _auroc_table(test_scores, test_labels)
    result = A.BenchmarkResult(A.Budget(classes=(0, 1)), test_auroc, test_scores, test_labels, val_auroc,
                               val_scores, val_labels)
    # the validation-best, by brute force: mean over classes and seeds of scikit-learn's AUROC
    for name in A.DATASETS:
        means = {det: np.mean([100 * evaluate.auroc(val_scores[(name, c, s)][det], val_labels[(name, c)])
                               for c in (0, 1) for s in (0, 1, 2)]) for det in A.VAE_SCORES}
        assert max(means, key=means.get) == val[name]
        assert A.choose_vae_score(val_auroc, name) == val[name]
    assert A.chosen_scores(result) == val
    # perturbing the test scores (shuffled, or made perfect for another score) changes nothing
    for det in ("nll", "reconstruction"):
        perturbed = {k: dict(sc, **{det: np.where(test_labels[k[:2]] == 1, 10.0, -10.0),
                                    "neg_elbo": rng.permutation(sc["neg_elbo"])})
                     for k, sc in test_scores.items()}
        result.scores = perturbed
        result.auroc = A.recompute_auroc(result)
        assert A.summary(result.auroc).set_index(["dataset", "detector"]).loc[("mnist", det), "mean"] == 100
        assert A.chosen_scores(result) == val
    # while the validation scores do decide: make "nll" perfect on the held-out images of MNIST
    result.val_scores = {k: dict(sc, nll=np.where(val_labels[k[:2]] == 1, 1.0, 0.0)) if k[0] == "mnist" else sc
                         for k, sc in val_scores.items()}
    result.val_auroc = A.recompute_auroc(result, "val")
    assert A.chosen_scores(result) == {"mnist": "nll", "fashion_mnist": "aggregate_posterior"}


def test_choice_breaks_ties_in_a_fixed_order_and_rejects_a_missing_table():
    import pandas as pd

    from thesis_code.chapters import anomaly as A
    tie = pd.DataFrame([{"dataset": "mnist", "cls": 0, "seed": 0, "detector": d, "auroc": 90.0}
                        for d in reversed(A.VAE_SCORES)])
    assert A.choose_vae_score(tie, "mnist") == A.VAE_SCORES[0]
    with pytest.raises(ValueError, match="no validation AUROC"):
        A.choose_vae_score(tie, "fashion_mnist")
    with pytest.raises(ValueError, match="columns dataset, cls, seed, detector, auroc"):
        A.choose_vae_score(tie.drop(columns="seed"), "mnist")


def test_target_phrase_uses_the_seed_interval():
    from scipy import stats
    from thesis_code.chapters.anomaly import target_phrase
    v = [97.6, 97.7, 97.65]
    lo, hi = stats.t.interval(0.95, df=2, loc=np.mean(v), scale=stats.sem(v))  # independent interval
    assert target_phrase(v, lo - 0.01) == "reaches"
    assert target_phrase(v, hi + 0.01) == "stays below"
    assert target_phrase(v, (lo + hi) / 2) == "is within its seed interval of"
    assert target_phrase([97.5], 97.5) == "(one seed) reaches"
    assert target_phrase([97.49], 97.5) == "(one seed) stays below"


def test_benchmark_trains_no_detector_on_the_held_out_images(monkeypatch, tmp_path):
    """The whole pipeline on tiny fake data: every training set handed to a VAE, the autoencoder or a
    baseline is disjoint from the held-out images, and the validation AUROCs are those of the saved
    validation scores."""
    import thesis_code.data
    from thesis_code.chapters import anomaly as A
    from thesis_code.data import one_class
    from thesis_code.profiles import Run
    monkeypatch.setenv("THESIS_CACHE_DIR", str(tmp_path))
    def noisy_load(name, split="train", *, limit=None, flatten=False):
        # the images of a class differ by more than rounding, so that every score has a spread over the
        # normal images (the combined score standardizes by it)
        x, y = _fake_load(name, split, limit=limit)
        g = torch.Generator().manual_seed(5 if split == "train" else 6)
        return (x + 0.2 * torch.rand(x.shape, generator=g)).clamp(0, 1), y

    monkeypatch.setattr(one_class, "load", noisy_load)
    monkeypatch.setattr(thesis_code.data, "load", noisy_load)
    fitted, train, baselines = [], A._train, A._baseline_scores
    monkeypatch.setattr(A, "_train", lambda name, build, config, tc, x, run: fitted.append(x) or
                        train(name, build, config, tc, x, run))
    monkeypatch.setattr(A, "_baseline_scores",
                        lambda s, seed, b: fitted.append(s.x_train) or baselines(s, seed, b))
    b = A.Budget(datasets=("mnist",), classes=(3,), seeds=(0,), epochs=1, batch_size=8, latent_dim=2,
                 channels=4, k=2, val_per_class=5, ocsvm_train=10, pyod_classes=(), calibration=5)
    result = A.run_benchmark(Run(profile="smoke", device=torch.device("cpu")), b)
    x_val = A.split("mnist", 3, b).x_val
    assert len(fitted) == 3 and len(x_val) == 50   # VAE, autoencoder, scikit-learn baselines
    for x in fitted:
        assert len(x) == 15 and not _in(x, x_val).any()
    assert set(result.val_auroc.detector) == set(A.VAE_SCORES)
    assert len(result.val_scores[("mnist", 3, 0)]["nll"]) == 50
    pd_check = A.recompute_auroc(result, "val").sort_values("detector").auroc.to_numpy()
    np.testing.assert_allclose(pd_check, result.val_auroc.sort_values("detector").auroc.to_numpy())

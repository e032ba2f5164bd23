"""Tests of thesis_code.evaluate: the likelihood estimator against an exact model, the latent-code
diagnostics on hand-made encoders, the Frechet distance against closed forms, and the score metrics."""
import math

import numpy as np
import pytest
import torch
from torch import distributions as D
from torch import nn

from thesis_code import evaluate as ev
from thesis_code.evaluate.classifier import Classifier, ClassifierConfig, train_classifier
from thesis_code.linear_gaussian import LinearGaussianModel
from thesis_code.models import VAE, VAEConfig


# ----------------------------------------------------------------------------- the likelihood estimator
@pytest.fixture(scope="module")
def linear_gaussian():
    torch.manual_seed(0)
    model = LinearGaussianModel.random(data_dim=6, latent_dim=3, sigma=0.7, seed=1)
    x, _ = model.sample(200, generator=torch.Generator().manual_seed(2))
    return model, x.detach()


def exact_posterior(model):
    def q(x):
        mean, cov = model.posterior(x)
        return D.MultivariateNormal(mean, covariance_matrix=cov)
    return q


def diagonal_posterior(model):
    """Posterior means with the posterior's marginal variances: a diagonal q that ignores correlations."""
    def q(x):
        mean, cov = model.posterior(x)
        return D.Independent(D.Normal(mean, torch.diagonal(cov).sqrt().expand_as(mean)), 1)
    return q


@torch.no_grad()
@pytest.mark.parametrize("k", [1, 7, 100])
def test_exact_posterior_proposal_gives_exact_log_marginal(linear_gaussian, k):
    model, x = linear_gaussian
    est = ev.log_likelihood(model, x[:50], k=k, chunk=3, batch_size=16, proposal=exact_posterior(model))
    # With q = p(z|x) every weight p(x,z)/q(z|x) equals p(x): no variance, for any K.
    torch.testing.assert_close(est, model.log_marginal(x[:50]), rtol=0, atol=1e-8)


@torch.no_grad()
def test_diagonal_proposal_converges_to_log_marginal(linear_gaussian):
    model, x = linear_gaussian
    exact = model.log_marginal(x)
    q = diagonal_posterior(model)
    gaps = [float((exact - ev.log_likelihood(model, x, k=k, proposal=q, chunk=64)).mean())
            for k in (1, 10, 100, 1000)]
    assert gaps[0] > 0.05, "a diagonal q of a correlated posterior must leave a visible gap at K=1"
    assert all(a > b for a, b in zip(gaps, gaps[1:])), gaps
    assert abs(gaps[-1]) < 0.05 * gaps[0], gaps
    # At K = 1 the estimator is a one-sample ELBO: its mean gap is KL(q || p(z|x)) (exact, independent).
    mean, cov = model.posterior(x)
    q_dist = D.MultivariateNormal(mean, covariance_matrix=torch.diag(torch.diagonal(cov)))
    kl = D.kl_divergence(q_dist, D.MultivariateNormal(mean, covariance_matrix=cov)).mean()
    ests = torch.stack([ev.log_likelihood(model, x, k=1, proposal=q, seed=s) for s in range(20)])
    gap1 = exact - ests                         # (20, N)
    assert abs(float(gap1.mean()) - float(kl)) < 4 * float(gap1.std()) / math.sqrt(gap1.numel())


@torch.no_grad()
def test_chunked_equals_unchunked(linear_gaussian):
    model, x = linear_gaussian
    q = diagonal_posterior(model)
    one = ev.log_likelihood(model, x, k=300, chunk=300, proposal=q, seed=5)
    many = ev.log_likelihood(model, x, k=300, chunk=7, proposal=q, seed=5)
    torch.testing.assert_close(one, many, rtol=0, atol=1e-10)
    other_seed = ev.log_likelihood(model, x, k=300, chunk=7, proposal=q, seed=6)
    assert not torch.allclose(one, other_seed)


def small_vae(latent_dim=2, seed=0):
    torch.manual_seed(seed)
    return VAE(VAEConfig(latent_dim=latent_dim, hidden=(32,))).eval()


@torch.no_grad()
def test_log_likelihood_of_a_vae_is_above_its_elbo_and_chunk_invariant():
    model = small_vae()
    x = ev.fixed_binarization(torch.rand(40, 1, 28, 28), seed=0)
    a = ev.log_likelihood(model, x, k=64, chunk=64, batch_size=40)
    b = ev.log_likelihood(model, x, k=64, chunk=10, batch_size=40)
    assert a.shape == (40,) and torch.isfinite(a).all()
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-3)
    elbo = torch.stack([model.elbo(x) for _ in range(20)]).mean(0)
    # L_64 >= ELBO in expectation (Burda et al. 2015, theorem 1); the mean over 40 examples is robust.
    assert float(a.mean()) > float(elbo.mean())
    # K=1 is a one-sample ELBO estimate (with a Monte Carlo KL): same mean as the analytic ELBO.
    k1 = torch.stack([ev.log_likelihood(model, x, k=1, seed=s) for s in range(30)])
    assert abs(float(k1.mean() - elbo.mean())) < 4 * float(k1.std()) / math.sqrt(k1.numel()) + 0.05


def test_test_log_likelihood_summary_and_bits_per_dim():
    model = small_vae()
    x = ev.fixed_binarization(torch.rand(30, 1, 28, 28), seed=1)
    res = ev.test_log_likelihood(model, x, k=8)
    values = ev.log_likelihood(model, x, k=8)
    assert res.n == 30 and res.k == 8
    assert res.log_px == pytest.approx(float(values.double().mean()))
    assert res.stderr == pytest.approx(float(values.double().std() / math.sqrt(30)), rel=1e-6)
    # 784 ln 2 nats are 784 bits: one bit per dimension.
    assert ev.bits_per_dim(784 * math.log(2)) == pytest.approx(1.0)
    assert res.bits_per_dim == pytest.approx(res.nll / (784 * math.log(2)))
    assert "nats" in str(res)


def test_log_likelihood_rejects_bad_input():
    model = small_vae()
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        ev.log_likelihood(model, torch.rand(4, 784), k=2)
    with pytest.raises(ValueError, match="k, batch_size and chunk"):
        ev.log_likelihood(model, torch.rand(4, 1, 28, 28), k=0)


def test_fixed_binarization_is_reproducible_and_binary():
    x = torch.rand(10, 1, 28, 28)
    a, b = ev.fixed_binarization(x, seed=3), ev.fixed_binarization(x, seed=3)
    assert torch.equal(a, b)
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    assert not torch.equal(a, ev.fixed_binarization(x, seed=4))
    # Pixel means follow the intensities: Bernoulli(p) has mean p.
    big = torch.full((2000, 1, 28, 28), 0.3)
    assert float(ev.fixed_binarization(big).mean()) == pytest.approx(0.3, abs=0.005)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ev.fixed_binarization(x * 2)


# ----------------------------------------------------------------------------- the latent code
class HandMadeEncoder(nn.Module):
    """A 'VAE' with a hand-made encoder: dims 0 and 3 follow the input (active), dim 1 moves by a tiny
    amount (inactive: variance 1e-4/12 << 0.01), dim 2 is the prior N(0, 1) for every x (collapsed)."""

    input_shape = (1, 28, 28)
    latent_dim = 4

    def encode(self, x):
        f = x.flatten(1)
        mu = torch.stack([2 * f[:, 0], 0.01 * f[:, 1], torch.zeros_like(f[:, 0]), 3 * f[:, 2] - 1], 1)
        logvar = torch.stack([torch.full_like(f[:, 0], -4.0), torch.zeros_like(f[:, 0]),
                              torch.zeros_like(f[:, 0]), torch.full_like(f[:, 0], -2.0)], 1)
        return mu, logvar

    def reconstruct(self, x):
        return torch.full_like(x, 0.5)


def test_active_units_on_a_hand_made_encoder():
    x = torch.rand(500, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    au = ev.active_units(HandMadeEncoder(), x, batch_size=64)
    assert au.active.tolist() == [True, False, False, True]
    assert au.count == 2
    f = x.flatten(1)
    torch.testing.assert_close(au.activity[0], (2 * f[:, 0]).var())   # independent: Var of 2U
    assert float(au.activity[0]) == pytest.approx(4 / 12, rel=0.15)    # Var(2U) = 4/12


def test_kl_per_dimension_matches_torch_distributions_and_collapse_report():
    model = HandMadeEncoder()
    x = torch.rand(300, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    kl = ev.kl_per_dimension(model, x, batch_size=70)
    mu, logvar = model.encode(x)
    ref = D.kl_divergence(D.Normal(mu, (0.5 * logvar).exp()), D.Normal(0.0, 1.0)).mean(0)
    torch.testing.assert_close(kl, ref)
    assert float(kl[2]) == pytest.approx(0.0, abs=1e-7)   # q = prior: no information, no KL
    report = ev.posterior_collapse_report(model, x)
    assert report.n_active == 2 and report.fraction_collapsed == pytest.approx(0.5)
    torch.testing.assert_close(report.kl_per_dim, kl)
    assert len(report.table()) == 4 and "2/4 active" in str(report)


def test_kl_per_dimension_needs_a_gaussian_encoder():
    class AE(nn.Module):
        input_shape, code_dim = (1, 28, 28), 3

        def encode(self, x):
            return x.flatten(1)[:, :3]
    with pytest.raises(TypeError, match="deterministic"):
        ev.kl_per_dimension(AE(), torch.rand(5, 1, 28, 28))


def test_reconstruction_error_against_hand_computation():
    x = torch.rand(20, 1, 28, 28)
    rec = ev.reconstruction_error(HandMadeEncoder(), x, batch_size=6)
    torch.testing.assert_close(rec.mse, (x - 0.5).pow(2).flatten(1).mean(1))
    # -[x log 0.5 + (1-x) log 0.5] = log 2 per pixel, whatever x.
    torch.testing.assert_close(rec.bce, torch.full((20,), 784 * math.log(2)))


# ----------------------------------------------------------------------------- Frechet distance
def symmetric_sqrt(a):
    w, v = np.linalg.eigh(a)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def test_frechet_distance_of_a_set_with_itself_is_zero_and_grows_with_noise():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(2000, 8)) @ rng.normal(size=(8, 8))
    assert ev.frechet_distance(feats, feats) == pytest.approx(0.0, abs=1e-6)
    noisy = [ev.frechet_distance(feats, feats + s * rng.normal(size=feats.shape)) for s in (0.1, 0.5, 1, 2, 4)]
    assert all(a < b for a, b in zip(noisy, noisy[1:])), noisy


def test_frechet_distance_matches_the_closed_form():
    rng = np.random.default_rng(1)
    d = 4
    a, b = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    s1, s2 = a @ a.T + 0.5 * np.eye(d), b @ b.T + 0.5 * np.eye(d)
    m1, m2 = rng.normal(size=d), rng.normal(size=d)
    # Independent form: Tr(S1 + S2 - 2 (S2^1/2 S1 S2^1/2)^1/2) via symmetric eigen-decompositions.
    r2 = symmetric_sqrt(s2)
    exact = np.sum((m1 - m2) ** 2) + np.trace(s1 + s2 - 2 * symmetric_sqrt(r2 @ s1 @ r2))
    assert ev.frechet_distance_gaussians(m1, s1, m2, s2) == pytest.approx(exact, rel=1e-8)
    # One dimension: (m1 - m2)^2 + (s1 - s2)^2 with standard deviations s.
    assert ev.frechet_distance_gaussians([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4 + 1)
    # From samples of the two Gaussians the estimate approaches the closed form.
    fa = rng.multivariate_normal(m1, s1, size=40_000)
    fb = rng.multivariate_normal(m2, s2, size=40_000)
    assert ev.frechet_distance(fa, fb) == pytest.approx(exact, rel=0.05)


def test_frechet_distance_handles_singular_covariances():
    rng = np.random.default_rng(2)
    few = rng.normal(size=(5, 20))          # covariance of rank 4 in 20 dimensions
    value = ev.frechet_distance(few, rng.normal(size=(6, 20)))
    assert math.isfinite(value) and value > 0
    with pytest.raises(ValueError, match="same F"):
        ev.frechet_distance(few, rng.normal(size=(6, 3)))


# ----------------------------------------------------------------------------- classifier and FCD
def test_classifier_shapes_and_feature_layer():
    clf = Classifier(ClassifierConfig(feature_dim=16)).eval()
    x = torch.rand(7, 1, 28, 28)
    assert clf(x).shape == (7, 10)
    assert ev.fid_features(clf, x, batch_size=3).shape == (7, 16)
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        clf(torch.rand(7, 784))
    loss, metrics = clf.loss(x, torch.randint(0, 10, (7,)))
    assert loss.requires_grad and set(metrics) == {"loss", "acc"}


def test_smoke_classifier_trains_beats_chance_and_is_cached():
    from thesis_code.data import load
    clf, history = train_classifier("mnist", profile="smoke")
    x, y = load("mnist", "test", limit=500)
    acc = ev.classifier_accuracy(clf, x, y)
    assert acc > 0.3, f"20 batches should already beat chance (0.1) clearly, got {acc}"
    again, _ = train_classifier("mnist", profile="smoke")     # from the cache: same weights
    assert all(torch.equal(a, b) for a, b in zip(clf.state_dict().values(), again.state_dict().values()))
    # FCD: the other half of the test set is closer to the test set than samples of an untrained VAE.
    quality = ev.frechet_classifier_distance(small_vae(latent_dim=4), clf, x[:250], y[:250], n_samples=250)
    real = ev.frechet_distance(ev.fid_features(clf, x[250:]), ev.fid_features(clf, x[:250]))
    assert quality.fcd > real
    assert quality.classifier_accuracy == pytest.approx(ev.classifier_accuracy(clf, x[:250], y[:250]))
    # The one-call version loads the same cached classifier and gives the same numbers.
    from thesis_code.profiles import Run
    one_call = ev.sample_quality(small_vae(latent_dim=4), "mnist", run=Run("smoke", torch.device("cpu")),
                                 n_samples=250, test_limit=250)
    assert one_call.fcd == pytest.approx(quality.fcd) and one_call.n_samples == 250


# ----------------------------------------------------------------------------- scores
def test_auroc_matches_the_mann_whitney_statistic():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, size=200)
    scores = rng.normal(size=200) + labels
    pos, neg = scores[labels == 1], scores[labels == 0]
    u = np.mean(pos[:, None] > neg[None, :])   # P(score of a positive > score of a negative)
    assert ev.auroc(scores, labels) == pytest.approx(u)
    assert ev.auroc(torch.tensor([0.1, 0.2, 0.8, 0.9]), torch.tensor([0, 0, 1, 1])) == 1.0
    assert ev.auroc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == 0.0


def test_average_precision_and_curves():
    scores, labels = [0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0]
    # Ranked: hit (P=1), miss, hit (P=2/3), miss -> AP = (1 + 2/3) / 2.
    assert ev.average_precision(scores, labels) == pytest.approx((1 + 2 / 3) / 2)
    fpr, tpr, _ = ev.roc_curve(scores, labels)
    assert fpr[0] == 0 and tpr[-1] == 1
    precision, recall, _ = ev.pr_curve(scores, labels)
    assert recall[0] == 1 and precision[-1] == 1
    with pytest.raises(ValueError, match="both classes"):
        ev.auroc([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="binary"):
        ev.auroc([0.1, 0.2, 0.3], [0, 1, 2])


# ----------------------------------------------------------------------------- defects of issue #10
class TemplateSampler:
    """A conditional 'model' of the protocol: a sample of class c is a noisy copy of the template of class
    c, drawn from the generator it is given. It records the labels it was asked for."""

    def __init__(self, templates):
        self.templates, self.seen = templates, []

    def sample(self, n, y=0, generator=None):
        y = torch.as_tensor(y)
        y = y.expand(n) if y.dim() == 0 else y
        self.seen.append(y.clone())
        noise = torch.rand(n, 1, 28, 28, generator=generator)
        return (0.8 * self.templates[y] + 0.2 * noise)


def template_data(n=400, seed=0):
    """Ten class templates and a test set with unequal class frequencies (class c ~ c + 1)."""
    g = torch.Generator().manual_seed(seed)
    templates = (torch.rand(10, 1, 28, 28, generator=g) > 0.7).float()
    weights = torch.arange(1, 11, dtype=torch.float)
    y = torch.multinomial(weights, n, replacement=True, generator=g)
    x = 0.8 * templates[y] + 0.2 * torch.rand(n, 1, 28, 28, generator=g)
    return templates, x, y


def test_fcd_of_a_conditional_model_samples_every_class_with_the_test_frequencies():
    torch.manual_seed(0)
    clf = Classifier(ClassifierConfig(feature_dim=16)).eval()
    templates, x, y = template_data()
    model = TemplateSampler(templates)
    quality = ev.frechet_classifier_distance(model, clf, x, y, seed=1)
    seen = torch.cat(model.seen)
    # Same class counts as the test labels (independent: bincount of the labels).
    assert torch.equal(torch.bincount(seen, minlength=10), torch.bincount(y, minlength=10))
    # Samples of the right class mixture are as close to the test set as a second test set is; samples
    # of class 0 only (the old behaviour) are far.
    x2 = 0.8 * templates[y] + 0.2 * torch.rand(len(y), 1, 28, 28, generator=torch.Generator().manual_seed(9))
    real = ev.frechet_distance(ev.fid_features(clf, x2), ev.fid_features(clf, x))
    only_zero = ev.frechet_distance(ev.fid_features(clf, model.sample(len(y), 0, torch.Generator().manual_seed(1))),
                                    ev.fid_features(clf, x))
    assert quality.fcd < 3 * real and quality.fcd < 0.1 * only_zero, (quality.fcd, real, only_zero)


def test_labels_like_keeps_the_class_frequencies():
    y = torch.tensor([0] * 50 + [3] * 30 + [7] * 20)
    for n in (100, 37, 1, 0, 250):
        labels = ev.labels_like(y, n, torch.Generator().manual_seed(0))
        assert labels.shape == (n,)
        counts = torch.bincount(labels, minlength=8).double()
        expected = torch.bincount(y, minlength=8).double() * n / len(y)
        assert counts.sum() == n and (counts - expected).abs().max() < 1, (n, counts, expected)
    # The order is random (from the generator) but the multiset is fixed.
    a, b = ev.labels_like(y, 100, torch.Generator().manual_seed(0)), ev.labels_like(y, 100, torch.Generator().manual_seed(1))
    assert not torch.equal(a, b) and torch.equal(a.sort().values, y.sort().values)


def test_sample_batches_of_a_conditional_vae_decode_the_given_labels():
    from thesis_code.models import ConditionalVAE
    torch.manual_seed(0)
    model = ConditionalVAE(VAEConfig(latent_dim=3, hidden=(16,))).eval()
    labels = torch.tensor([3, 1, 4, 1, 5, 9, 2])
    samples = ev.sample_batches(model, 7, batch_size=3, labels=labels, seed=4)
    # Independent: the same prior draws z (a generator seeded alike, batches of 3), decoded with the labels.
    g = torch.Generator().manual_seed(4)
    z = torch.cat([torch.randn(m, 3, generator=g) for m in (3, 3, 1)])
    with torch.no_grad():
        torch.testing.assert_close(samples, model.decode_mean(z, labels))
    with pytest.raises(ValueError, match="conditional"):
        ev.sample_batches(model, 7)
    with pytest.raises(ValueError, match="takes no labels"):
        ev.sample_batches(small_vae(), 7, labels=labels)


class MetaClassifier(nn.Module):
    """A stand-in classifier whose weights live on another device ('meta'). It records the device of its
    inputs and refuses inputs that are not on its own device, as a CUDA module given CPU tensors does;
    its outputs come back on the CPU (a meta tensor holds no values), fixed features of the batch size."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(4, device="meta"))
        self.devices = []

    def _check(self, x):
        self.devices.append(x.device.type)
        if x.device != self.weight.device:
            raise RuntimeError(f"input on {x.device}, weights on {self.weight.device}")
        g = torch.Generator().manual_seed(x.shape[0])
        return torch.randn(x.shape[0], 4, generator=g, dtype=torch.float64)

    def features(self, x):
        return self._check(x)

    def forward(self, x):
        return self._check(x)


def test_samples_and_test_images_are_moved_to_the_classifier_device():
    clf = MetaClassifier()
    model = small_vae()                                    # samples on the CPU
    x, y = torch.rand(12, 1, 28, 28), torch.randint(0, 4, (12,))
    quality = ev.frechet_classifier_distance(model, clf, x, y, n_samples=10)
    assert clf.devices and set(clf.devices) == {"meta"}, clf.devices
    assert math.isfinite(quality.fcd) and quality.n_samples == 10


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_fcd_with_the_model_on_the_gpu_and_the_classifier_on_the_cpu():
    torch.manual_seed(0)
    clf = Classifier(ClassifierConfig(feature_dim=16)).eval()
    x, y = torch.rand(50, 1, 28, 28), torch.randint(0, 10, (50,))
    cpu = ev.frechet_classifier_distance(small_vae(), clf, x, y, seed=2)
    gpu = ev.frechet_classifier_distance(small_vae().cuda(), clf, x, y, seed=2)
    assert gpu.fcd == pytest.approx(cpu.fcd, rel=1e-2, abs=1e-6)   # TF32 convolutions on the GPU
    clf_gpu = ev.frechet_classifier_distance(small_vae(), clf.cuda(), x, y, seed=2)
    assert clf_gpu.fcd == pytest.approx(cpu.fcd, rel=1e-2, abs=1e-6)


def test_frechet_distance_raises_when_the_matrix_square_root_fails(monkeypatch):
    from scipy import linalg
    s = np.diag([1.0, 2.0, 3.0])
    # A square root whose trace is far too large gives a clearly negative "distance": an error, not 0.
    monkeypatch.setattr(linalg, "sqrtm", lambda a, *args, **kw: 5.0 * np.eye(len(a)))
    with pytest.raises(ValueError, match="negative Frechet distance"):
        ev.frechet_distance_gaussians(np.zeros(3), s, np.zeros(3), s)
    # A square root that is not finite, even after the diagonal offset: an error, not NaN or 0.
    monkeypatch.setattr(linalg, "sqrtm", lambda a, *args, **kw: np.full_like(a, np.nan))
    with pytest.raises(ValueError, match="not finite"):
        ev.frechet_distance_gaussians(np.zeros(3), s, np.zeros(3), s)


def test_frechet_distance_of_identical_sets_is_zero_at_any_scale():
    rng = np.random.default_rng(4)
    for scale in (1e-3, 1.0, 1e4):
        feats = scale * (rng.normal(size=(500, 16)) @ rng.normal(size=(16, 16)))
        value = ev.frechet_distance(feats, feats)
        # 0 up to round-off relative to the size of the statistics (Tr S1 + Tr S2), never negative.
        assert 0 <= value <= 1e-8 * 2 * np.trace(np.cov(feats, rowvar=False)), (scale, value)
    # A tiny genuine distance survives (it is not rounded off): 1-D, (m1 - m2)^2 = 1e-6.
    assert ev.frechet_distance_gaussians([0.0], [[1.0]], [1e-3], [[1.0]]) == pytest.approx(1e-6, rel=1e-6)


def perturb_global_rng():
    torch.manual_seed(12345)
    torch.rand(1000)
    np.random.seed(12345)


def test_evaluation_randomness_comes_from_explicit_generators():
    """The same evaluation twice, with the global RNG moved in between, gives identical numbers."""
    from thesis_code.models import ConditionalVAE
    model = small_vae(latent_dim=3)
    x = ev.fixed_binarization(torch.rand(20, 1, 28, 28, generator=torch.Generator().manual_seed(0)))
    results = []
    for _ in range(2):
        perturb_global_rng()
        results.append((ev.log_likelihood(model, x, k=16), ev.sample_batches(model, 9, batch_size=4),
                        ev.fixed_binarization(torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(1)))))
    for a, b in zip(*results):
        assert torch.equal(a, b)
    # An explicit generator is used as given: seed=s and generator seeded with s agree, s != s' differ.
    g = torch.Generator().manual_seed(7)
    torch.testing.assert_close(ev.log_likelihood(model, x, k=16, generator=g), ev.log_likelihood(model, x, k=16, seed=7))
    assert not torch.equal(ev.log_likelihood(model, x, k=16, seed=7), ev.log_likelihood(model, x, k=16, seed=8))
    # A proposal that is neither Normal nor MultivariateNormal: sampled from the generator too, and the
    # global RNG state is left as it was.
    def laplace(xb):
        mu, logvar = model.encode(xb)
        return D.Independent(D.Laplace(mu, torch.exp(0.5 * logvar)), 1)
    perturb_global_rng()
    state = torch.get_rng_state()
    a = ev.log_likelihood(model, x, k=8, proposal=laplace, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    perturb_global_rng()
    torch.rand(7)
    torch.testing.assert_close(a, ev.log_likelihood(model, x, k=8, proposal=laplace, seed=3), rtol=0, atol=0)
    # FCD of a conditional VAE: labels and samples from the generator.
    torch.manual_seed(0)
    cvae = ConditionalVAE(VAEConfig(latent_dim=3, hidden=(16,))).eval()
    clf = Classifier(ClassifierConfig(feature_dim=8)).eval()
    xs, ys = torch.rand(30, 1, 28, 28), torch.randint(0, 10, (30,))
    fcds = []
    for _ in range(2):
        perturb_global_rng()
        fcds.append(ev.frechet_classifier_distance(cvae, clf, xs, ys, seed=2).fcd)
    assert fcds[0] == fcds[1]

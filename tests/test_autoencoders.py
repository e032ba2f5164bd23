"""The autoencoder taxonomy: maths against independent computations, and behaviour."""
import math

import pytest
import torch
from scipy.linalg import subspace_angles
from sklearn.decomposition import PCA

from thesis_code import objectives
from thesis_code.data import load
from thesis_code.models import (AEConfig, Autoencoder, ContractiveAE, ContractiveAEConfig, DenoisingAE,
                                DenoisingAEConfig, GaussianNoise, MaskingNoise, SaltAndPepper, SparseAE,
                                SparseAEConfig, StackedAutoencoder, StochasticAE, StochasticAEConfig)
from thesis_code.train import TrainConfig, fit, pretrain_greedy

torch.set_num_threads(1)


def small_images(n=16, seed=0):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------ linear autoencoder = PCA

def test_linear_autoencoder_spans_the_pca_subspace():
    """Baldi & Hornik (1989): the global minima of a linear autoencoder with squared error have the decoder
    spanning the top-k principal subspace. Trained by the thesis' trainer (full-batch Adam) on 1200 real
    MNIST digits, centred (PCA centres too; the biases could learn the mean, but centring removes a
    slow saddle where a code unit models the mean)."""
    k = 6
    x, _ = load("mnist", limit=1200)
    x = x - x.mean(0)
    torch.manual_seed(0)
    model = Autoencoder(AEConfig(code_dim=k, hidden=(), activation="linear", loss="mse"))
    pcs = PCA(k).fit(x.flatten(1).double().numpy()).components_.T  # (784, k)

    def angles():
        return subspace_angles(model.decoder[0].weight.detach().double().numpy(), pcs)

    assert angles().max() > math.radians(30)  # at initialization the test is far from passing
    fit(model, x, config=TrainConfig(epochs=450, batch_size=len(x), lr=0.02, progress=False))
    # Tolerance 1 degree. On these 1200 digits lambda_6 - lambda_7 = 0.60 (pixel variance), so an angle
    # theta to the PCA subspace costs only about 0.6 theta^2 in loss: the flat direction that the
    # optimizer must resolve (reached: 0.01 degree after 450 steps). A random 6-D subspace of R^784
    # sits at ~90 degrees, so 1 degree is tight.
    assert angles().max() < math.radians(1.0)
    # ... and the reconstruction error is PCA's (the optimum), within 0.1 %
    pca = PCA(k).fit(x.flatten(1).double().numpy())
    xf = x.flatten(1).double().numpy()
    pca_err = ((xf - pca.inverse_transform(pca.transform(xf))) ** 2).sum(1).mean()
    with torch.no_grad():
        ae_err = model.loss(x)[0].item()
    assert ae_err == pytest.approx(pca_err, rel=1e-3)


# ------------------------------------------------------------------ architecture options

@pytest.mark.parametrize("config", [
    AEConfig(code_dim=8, hidden=()),                                  # shallow, undercomplete
    AEConfig(code_dim=1000, hidden=(), activation="sigmoid"),         # overcomplete
    AEConfig(code_dim=16, hidden=(128, 64, 32), activation="relu"),   # deep
    AEConfig(code_dim=10, arch="conv", loss="mse", output="sigmoid", channels=8),
])
def test_autoencoder_shapes_and_ranges(config):
    model = Autoencoder(config)
    x = small_images(5)
    h = model.encode(x)
    assert h.shape == (5, config.code_dim) and model.code_dim == config.code_dim
    x_hat = model(x)
    assert x_hat.shape == (5, 1, 28, 28)
    if config.output_activation == "sigmoid":
        assert x_hat.min() >= 0 and x_hat.max() <= 1
    loss, metrics = model.loss(x)
    assert loss.dim() == 0 and metrics["loss"] == pytest.approx(loss.item())


def test_bce_loss_is_bernoulli_cross_entropy_summed_over_pixels():
    model = Autoencoder(AEConfig(code_dim=4, hidden=(32,)))
    x = small_images(6)
    x_hat = model(x).detach()
    direct = -(x * torch.log(x_hat) + (1 - x) * torch.log(1 - x_hat)).flatten(1).sum(1).mean()
    assert model.loss(x)[0].item() == pytest.approx(direct.item(), rel=1e-5)


@pytest.mark.parametrize("model", [
    Autoencoder(), SparseAE(), DenoisingAE(), ContractiveAE(), StochasticAE(),
    StackedAutoencoder(AEConfig(hidden=(32,), code_dim=4)), Autoencoder(AEConfig(arch="conv", channels=4)),
])
def test_wrong_shape_names_the_expected_shape(model):
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        model.loss(torch.rand(3, 784))
    with pytest.raises(ValueError, match=r"\(B, %d\)" % model.code_dim):
        model.decode(torch.rand(3, model.code_dim + 1))


def test_bad_configs_are_rejected():
    with pytest.raises(ValueError):
        AEConfig(loss="bce", output="linear")
    with pytest.raises(ValueError):
        AEConfig(activation="swishy")
    with pytest.raises(ValueError):
        SparseAEConfig(penalty="kl", code_activation="relu")
    with pytest.raises(ValueError):
        ContractiveAEConfig(penalty="closed_form", hidden=(32,))


# ------------------------------------------------------------------ sparse

def test_sparse_l1_penalty_matches_direct_computation():
    model = SparseAE(SparseAEConfig(code_dim=20, penalty="l1", weight=0.3, code_activation="relu"))
    x = small_images(8)
    h = model.encode(x)
    penalty, metrics = model.regularizer(x, h)
    direct = 0.3 * sum(abs(v) for row in h.tolist() for v in row) / 8
    assert penalty.item() == pytest.approx(direct, rel=1e-5)
    assert metrics["mean_activation"] == pytest.approx(h.mean().item(), rel=1e-5)
    loss, m = model.loss(x)
    # Independent reconstruction term: the Bernoulli cross-entropy of the decoder output, summed over pixels.
    x_hat = model(x).detach()
    bce = -(x * torch.log(x_hat) + (1 - x) * torch.log(1 - x_hat)).flatten(1).sum(1).mean()
    assert loss.item() == pytest.approx(bce.item() + direct, rel=1e-4)


def test_sparse_kl_penalty_matches_direct_computation():
    rho, weight = 0.05, 2.0
    model = SparseAE(SparseAEConfig(code_dim=12, penalty="kl", rho=rho, weight=weight))
    x = small_images(10)
    h = model.encode(x).double()
    assert ((h > 0) & (h < 1)).all()  # sigmoid code
    rho_hat = h.mean(0)
    direct = sum(rho * math.log(rho / r) + (1 - rho) * math.log((1 - rho) / (1 - r)) for r in rho_hat.tolist())
    penalty, _ = model.regularizer(x, h.float())
    assert penalty.item() == pytest.approx(weight * direct, rel=1e-4)


def test_sparse_kl_training_drives_mean_activation_to_rho():
    torch.manual_seed(0)
    x, _ = load("mnist", limit=512)
    model = SparseAE(SparseAEConfig(code_dim=64, hidden=(), penalty="kl", rho=0.05, weight=50.0))
    before = model.loss(x)[1]["mean_activation"]  # about 0.5 for a fresh sigmoid code
    fit(model, x, config=TrainConfig(epochs=15, batch_size=128, lr=3e-3, progress=False))
    after = model.loss(x)[1]["mean_activation"]  # measured 0.064
    assert abs(after - 0.05) < 0.1 * abs(before - 0.05)


# ------------------------------------------------------------------ denoising

N_STAT = 200_000


def _stat_input():
    return torch.full((N_STAT // 784 + 1, 1, 28, 28), 0.5)


def test_masking_noise_fraction():
    p = 0.3
    x = _stat_input()
    xt = MaskingNoise(p)(x, torch.Generator().manual_seed(0))
    frac = (xt == 0).float().mean().item()
    se = math.sqrt(p * (1 - p) / x.numel())
    assert abs(frac - p) < 5 * se
    assert torch.equal(xt[xt != 0], x[xt != 0])  # survivors are untouched


def test_gaussian_noise_statistics():
    sigma = 0.2
    x = _stat_input()
    noise = GaussianNoise(sigma)(x, torch.Generator().manual_seed(0)) - x
    n = noise.numel()
    assert abs(noise.mean().item()) < 5 * sigma / math.sqrt(n)
    # the sample std of n Gaussians has standard error sigma / sqrt(2n)
    assert abs(noise.std().item() - sigma) < 5 * sigma / math.sqrt(2 * n)


def test_salt_and_pepper_statistics():
    p = 0.2
    x = _stat_input()
    xt = SaltAndPepper(p)(x, torch.Generator().manual_seed(0))
    n = x.numel()
    salt, pepper = (xt == 1).float().mean().item(), (xt == 0).float().mean().item()
    se = math.sqrt(p / 2 * (1 - p / 2) / n)
    assert abs(salt - p / 2) < 5 * se and abs(pepper - p / 2) < 5 * se
    untouched = (xt == 0.5)
    assert abs(untouched.float().mean().item() - (1 - p)) < 5 * math.sqrt(p * (1 - p) / n)


def test_denoising_loss_reconstructs_the_clean_input():
    torch.manual_seed(0)
    model = DenoisingAE(DenoisingAEConfig(code_dim=8, hidden=(32,), corruption=MaskingNoise(0.5)))
    # At initialisation the decoder's logits are near 0 with random signs, so the clean and the masked
    # targets can give nearly equal losses by chance (-sum (x - x_tilde) * logit(x_hat) cancels). Shifting
    # the output bias makes every masked pixel cost about 4 nats more under the clean target.
    with torch.no_grad():
        [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1].bias -= 4.0
    x = small_images(6)
    torch.manual_seed(3)
    loss, _ = model.loss(x)
    torch.manual_seed(3)
    x_tilde = model.corrupt(x)
    x_hat = torch.sigmoid(model.decode_logits(model.encode(x_tilde))).detach()

    def bce(target):   # Bernoulli cross-entropy summed over pixels, written out (not the model's method)
        return -(target * torch.log(x_hat) + (1 - target) * torch.log(1 - x_hat)).flatten(1).sum(1).mean()
    clean_target, noisy_target = bce(x), bce(x_tilde)
    assert loss.item() == pytest.approx(clean_target.item(), rel=1e-5)
    assert loss.item() - noisy_target.item() > 100  # masked pixels (about 2350 of them, mean 0.5) cost more
    assert model.corrupt(x).shape == x.shape


# ------------------------------------------------------------------ contractive

def _reference_jacobian(model, x):
    """Per-example Jacobian by torch.autograd.functional, one example at a time."""
    rows = []
    for xi in x:
        f = lambda v: model.encode(v.reshape(1, 1, 28, 28))[0]  # noqa: E731
        rows.append(torch.autograd.functional.jacobian(f, xi.flatten()))
    return torch.stack(rows)


def test_contractive_closed_form_equals_autograd_jacobian_norm():
    torch.manual_seed(0)
    model = ContractiveAE(ContractiveAEConfig(code_dim=10, weight=0.5))
    assert model.uses_closed_form
    x = small_images(4)
    closed = model.jacobian_penalty(x)
    auto = objectives.contractive_penalty_autograd(model.encode, x)
    ref = _reference_jacobian(model, x).pow(2).sum((1, 2))
    torch.testing.assert_close(closed, ref, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(auto, ref, rtol=1e-5, atol=1e-7)
    _, metrics = model.regularizer(x, model.encode(x))
    assert metrics["jacobian_frob2"] == pytest.approx(ref.mean().item(), rel=1e-5)


def test_contractive_general_encoder_uses_autograd_and_jacobian_matches():
    torch.manual_seed(0)
    model = ContractiveAE(ContractiveAEConfig(code_dim=5, hidden=(16,), activation="tanh"))
    assert not model.uses_closed_form
    x = small_images(3)
    J = model.jacobian(x)
    assert J.shape == (3, 5, 784)
    ref = _reference_jacobian(model, x)
    torch.testing.assert_close(J, ref, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(model.jacobian_penalty(x), ref.pow(2).sum((1, 2)), rtol=1e-5, atol=1e-7)
    # the penalty is differentiable: training through it moves the encoder
    loss, _ = model.loss(x)
    loss.backward()
    assert model.encoder[1][0].weight.grad.abs().sum() > 0


def test_contractive_training_shrinks_the_jacobian():
    """A large penalty weight makes the encoder contract: the mean ||J||_F^2 falls."""
    torch.manual_seed(0)
    x, _ = load("mnist", limit=256)
    model = ContractiveAE(ContractiveAEConfig(code_dim=16, weight=10.0))
    before = model.jacobian_penalty(x).mean().item()
    fit(model, x, config=TrainConfig(epochs=10, batch_size=64, lr=3e-3, progress=False))
    after = model.jacobian_penalty(x).mean().item()
    assert after < 0.5 * before


# ------------------------------------------------------------------ stacked

def test_greedy_pretraining_then_fine_tuning():
    torch.manual_seed(0)
    x, _ = load("mnist", limit=512)
    model = StackedAutoencoder(AEConfig(code_dim=8, hidden=(64, 32), activation="sigmoid"))
    layer0_before = model.encoder_layers[0][0].weight.detach().clone()
    config = TrainConfig(epochs=6, batch_size=64, lr=3e-3, progress=False)

    histories = pretrain_greedy(model, x, config)
    assert len(histories) == 3 and model.pretrain_histories is histories
    for h in histories:  # every layer's own reconstruction loss decreases
        assert h["loss"][-1] < 0.9 * h["loss"][0]
    # the shallow autoencoders share parameters with the stack
    assert not torch.equal(layer0_before, model.encoder_layers[0][0].weight)
    assert model.codes_below(x, 2).shape == (512, 32)

    with torch.no_grad():
        pretrained = model.loss(x)[0].item()
    history = fit(model, x, config=TrainConfig(epochs=6, batch_size=64, lr=1e-3, progress=False))
    with torch.no_grad():
        tuned = model.loss(x)[0].item()
    assert tuned < pretrained and history["loss"][-1] < history["loss"][0]


def test_greedy_pretraining_trains_layers_one_at_a_time():
    """While layer 1 is pretrained, layer 0 is fixed (it only provides the inputs)."""
    torch.manual_seed(0)
    x = small_images(64)
    model = StackedAutoencoder(AEConfig(code_dim=4, hidden=(16,), activation="sigmoid"))
    config = TrainConfig(epochs=2, batch_size=32, progress=False)
    fit(model.layer_autoencoder(0), model.codes_below(x, 0), config=config)
    w0 = model.encoder_layers[0][0].weight.detach().clone()
    w1 = model.encoder_layers[1][0].weight.detach().clone()
    fit(model.layer_autoencoder(1), model.codes_below(x, 1), config=config)
    assert torch.equal(w0, model.encoder_layers[0][0].weight)
    assert not torch.equal(w1, model.encoder_layers[1][0].weight)


# ------------------------------------------------------------------ stochastic

def test_stochastic_encoder_noise_has_the_configured_std():
    model = StochasticAE(StochasticAEConfig(code_dim=50, noise_std=0.3))
    x = small_images(200)
    with torch.no_grad():
        noise = model.encode_sample(x, torch.Generator().manual_seed(0)) - model.encode(x)
    n = noise.numel()
    assert abs(noise.std().item() - 0.3) < 5 * 0.3 / math.sqrt(2 * n)
    # encode is the mean f(x) of p(h|x): the noise around it averages to zero (a biased or noisy encode
    # would not), and it draws nothing from the global RNG (the same code under two different seeds).
    assert abs(noise.mean().item()) < 5 * 0.3 / math.sqrt(n)
    with torch.no_grad():
        torch.manual_seed(0)
        h0 = model.encode(x)
        torch.manual_seed(1)
        torch.testing.assert_close(model.encode(x), h0, rtol=0, atol=0)
        # ... and it is the code f(x) of a plain deterministic autoencoder with the same weights.
        from dataclasses import fields
        plain = Autoencoder(AEConfig(**{f.name: getattr(model.config, f.name) for f in fields(AEConfig)}))
        plain.load_state_dict(model.state_dict())
        torch.testing.assert_close(h0, plain.encode(x), rtol=0, atol=0)

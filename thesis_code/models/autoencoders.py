"""The deterministic autoencoder taxonomy of chapter 1.

An autoencoder is an encoder ``h = f(x)`` and a decoder ``x_hat = g(h)`` trained to reconstruct their input,
``min E ||x - g(f(x))||`` (or the cross-entropy for pixels in [0, 1]). What makes the code ``h`` useful is a
*constraint* or a *regularizer*, and each class below is one of them:

    Autoencoder          the bottleneck: undercomplete (code < input), overcomplete, deep, linear (= PCA)
    StackedAutoencoder   deep autoencoder pretrained greedily layer by layer (Hinton & Salakhutdinov 2006,
                         Bengio et al. 2007), then fine-tuned end to end
    SparseAE             penalty on the activations: L1 (a Laplace prior on h) or Bernoulli KL to rho
    DenoisingAE          reconstruct the clean x from a corrupted copy (Vincent et al. 2008)
    ContractiveAE        penalty ||J_f(x)||_F^2 on the encoder Jacobian (Rifai et al. 2011)
    StochasticAE         Gaussian noise injected in the code: a stochastic encoder p(h | x)

Every model follows the "Deterministic autoencoders" protocol of ARCHITECTURE.md: ``encode(x) -> (B,
code_dim)``, ``decode(h) -> (B, *input_shape)`` in data space, ``forward(x)``, ``loss(x, y=None) -> (loss,
metrics)``, ``input_shape`` and ``code_dim``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .. import objectives
from .networks import IMAGE_SHAPE, ConvDecoder, ConvEncoder, check_input, flat_dim, mlp

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "elu": nn.ELU, "linear": nn.Identity,
}
LOSSES = ("mse", "bce")


def activation_module(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


# ------------------------------------------------------------------ the plain autoencoder

@dataclass(frozen=True)
class AEConfig:
    """One autoencoder. ``hidden`` are the encoder's hidden widths (the decoder mirrors them), so
    ``hidden=()`` is a shallow autoencoder and ``hidden=(512, 256)`` a deep one.

    ``activation`` is used between layers; ``"linear"`` removes every nonlinearity (with ``loss="mse"`` it
    is the linear autoencoder that spans the PCA subspace, Baldi & Hornik 1989). ``code_activation`` is
    applied to the code itself (``"sigmoid"`` for the sparse-KL and contractive closed forms).
    ``output`` is the decoder's output nonlinearity: ``"auto"`` means sigmoid for ``loss="bce"`` (the
    decoder outputs Bernoulli means) and none for ``loss="mse"``.
    """
    code_dim: int = 32
    hidden: tuple[int, ...] = (256,)
    activation: str = "relu"
    code_activation: str = "linear"
    loss: str = "bce"
    output: str = "auto"
    arch: str = "mlp"
    channels: int = 32  # width of the convolutional stacks when arch="conv"
    input_shape: tuple[int, ...] = IMAGE_SHAPE

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.arch not in ("mlp", "conv"):
            raise ValueError(f"arch must be 'mlp' or 'conv', got {self.arch!r}")
        for name in (self.activation, self.code_activation):
            activation_module(name)
        if self.output not in ("auto", "sigmoid", "linear"):
            raise ValueError(f"output must be 'auto', 'sigmoid' or 'linear', got {self.output!r}")
        if self.loss == "bce" and self.output == "linear":
            raise ValueError("loss='bce' needs decoder outputs in (0, 1): use output='auto' or 'sigmoid'")
        if self.arch == "conv" and tuple(self.input_shape)[-2:] != (28, 28):
            raise ValueError(f"arch='conv' expects 28x28 images, got input_shape {self.input_shape}")
        if self.code_dim < 1:
            raise ValueError(f"code_dim must be positive, got {self.code_dim}")

    @property
    def output_activation(self) -> str:
        if self.output != "auto":
            return self.output
        return "sigmoid" if self.loss == "bce" else "linear"


class Autoencoder(nn.Module):
    """x -> h = f(x) -> x_hat = g(h), trained on the reconstruction error summed over the pixels.

    Undercomplete when ``code_dim < prod(input_shape)``, overcomplete when larger (then only a
    regularizer, see the subclasses, stops it from learning the identity).
    """

    def __init__(self, config: AEConfig = AEConfig()):
        super().__init__()
        self.config = config
        self.input_shape = tuple(config.input_shape)
        self.input_dim = flat_dim(self.input_shape)
        self.code_dim = config.code_dim
        self.encoder, self.decoder = self.build_networks(config)

    def build_networks(self, c: AEConfig) -> tuple[nn.Module, nn.Module]:
        """The encoder ends with the code activation; the decoder returns pre-activations (flattened for
        the MLP), so the BCE can be computed from logits."""
        if c.arch == "conv":
            in_channels = self.input_shape[0]
            encoder = nn.Sequential(ConvEncoder(c.code_dim, c.channels, in_channels),
                                    activation_module(c.code_activation))
            decoder = ConvDecoder(c.code_dim, c.channels, in_channels)
            return encoder, decoder
        act = ACTIVATIONS[c.activation]
        sizes = [self.input_dim, *c.hidden, c.code_dim]
        encoder = nn.Sequential(nn.Flatten(), mlp(sizes, act), activation_module(c.code_activation))
        decoder = mlp(sizes[::-1], act)
        return encoder, decoder

    # --- the maths
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """h = f(x), shape (B, code_dim)."""
        check_input(x, self.input_shape)
        return self.encoder(x)

    def jacobian(self, x: torch.Tensor) -> torch.Tensor:
        """The per-example encoder Jacobian dh/dx, shape (B, code_dim, input_dim) (inputs flattened)."""
        check_input(x, self.input_shape)

        def f(x_flat: torch.Tensor) -> torch.Tensor:  # one flattened example -> its code
            return self.encoder(x_flat.reshape(1, *self.input_shape))[0]

        return torch.func.vmap(torch.func.jacrev(f))(x.flatten(1))

    def decode_logits(self, h: torch.Tensor) -> torch.Tensor:
        """Decoder pre-activations, shape (B, *input_shape)."""
        check_input(h, (self.code_dim,), "code")
        return self.decoder(h).reshape(-1, *self.input_shape)

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        """x_hat = g(h) in data space, shape (B, *input_shape)."""
        out = self.decode_logits(h)
        return torch.sigmoid(out) if self.config.output_activation == "sigmoid" else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def reconstruction_error(self, x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """Per-example reconstruction loss (B,), summed over the pixels: squared error, or the Bernoulli
        cross-entropy -sum[x log x_hat + (1-x) log(1-x_hat)] computed stably from the logits."""
        if self.config.loss == "bce":
            per_pixel = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
        else:
            x_hat = torch.sigmoid(logits) if self.config.output_activation == "sigmoid" else logits
            per_pixel = (x_hat - x) ** 2
        return per_pixel.flatten(1).sum(1)

    def regularizer(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Omega(h): zero for the plain autoencoder; the regularized subclasses override it."""
        return h.new_zeros(()), {}

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        h = self.encode(x)
        rec = self.reconstruction_error(x, self.decode_logits(h)).mean()
        penalty, metrics = self.regularizer(x, h)
        total = rec + penalty
        return total, {"loss": total.item(), "rec": rec.item(), **metrics}


# ------------------------------------------------------------------ stacked, greedy pretraining

class _LayerAutoencoder(nn.Module):
    """One shallow autoencoder of the stack, sharing its layers with the stack (so training it trains
    the stack). Its inputs are the codes of the layer below, flat vectors of size ``n_in``."""

    def __init__(self, encoder_layer: nn.Module, decoder_layer: nn.Module, n_in: int, loss: str,
                 decoder_output: str):
        super().__init__()
        self.encoder_layer, self.decoder_layer = encoder_layer, decoder_layer
        self.input_shape = (n_in,)
        self.loss_kind, self.decoder_output = loss, decoder_output

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        check_input(x, self.input_shape)
        out = self.decoder_layer(self.encoder_layer(x))
        if self.loss_kind == "bce":
            rec = F.binary_cross_entropy_with_logits(out, x, reduction="none").sum(1).mean()
        else:
            x_hat = torch.sigmoid(out) if self.decoder_output == "sigmoid" else out
            rec = ((x_hat - x) ** 2).sum(1).mean()
        return rec, {"loss": rec.item(), "rec": rec.item()}


class StackedAutoencoder(Autoencoder):
    """A deep MLP autoencoder with layer widths ``(*hidden, code_dim)``, built from one shallow
    autoencoder per layer: ``encoder_layers[i]`` maps the code of layer i to that of layer i+1 and
    ``decoder_layers[i]`` maps it back.

    ``train.pretrain_greedy`` trains the shallow autoencoders one after the other, each on the (fixed)
    codes of the layers below (Hinton & Salakhutdinov 2006; Bengio et al. 2007); afterwards the whole stack is an
    ordinary ``Autoencoder`` and is fine-tuned end to end with ``train.fit``. The first layer uses the
    model's pixel loss; deeper layers reconstruct real-valued codes with the squared error.
    """

    def build_networks(self, c: AEConfig) -> tuple[nn.Module, nn.Module]:
        if c.arch != "mlp":
            raise ValueError("StackedAutoencoder is an MLP: use arch='mlp'")
        widths = [self.input_dim, *c.hidden, c.code_dim]
        n = len(widths) - 1
        enc, dec = [], []
        for i in range(n):
            code_act = c.code_activation if i == n - 1 else c.activation
            enc.append(nn.Sequential(nn.Linear(widths[i], widths[i + 1]), activation_module(code_act)))
            # decoder layer i reconstructs the code of layer i, with that code's own activation; the
            # bottom one returns pixel pre-activations (the output nonlinearity sits in decode / the loss)
            below_act = "linear" if i == 0 else c.activation
            dec.append(nn.Sequential(nn.Linear(widths[i + 1], widths[i]), activation_module(below_act)))
        self.widths = widths
        self.encoder_layers = nn.ModuleList(enc)
        self.decoder_layers = nn.ModuleList(dec)
        self.pretrain_histories: list = []
        encoder = nn.Sequential(nn.Flatten(), *enc)
        decoder = nn.Sequential(*dec[::-1])
        return encoder, decoder

    def layer_autoencoder(self, i: int) -> _LayerAutoencoder:
        """The shallow autoencoder of layer ``i`` (shares its parameters with the stack)."""
        if i == 0:
            loss, output = self.config.loss, self.config.output_activation
        else:
            loss, output = "mse", "linear"
        return _LayerAutoencoder(self.encoder_layers[i], self.decoder_layers[i], self.widths[i], loss, output)

    @torch.no_grad()
    def codes_below(self, x: torch.Tensor, i: int, batch_size: int = 1024) -> torch.Tensor:
        """The input of layer ``i``: x pushed through encoder layers 0..i-1 (fixed, no gradient)."""
        check_input(x, self.input_shape)
        outs = []
        for start in range(0, len(x), batch_size):
            h = x[start:start + batch_size].flatten(1)
            for layer in self.encoder_layers[:i]:
                h = layer(h)
            outs.append(h)
        return torch.cat(outs)


# ------------------------------------------------------------------ sparse

@dataclass(frozen=True)
class SparseAEConfig(AEConfig):
    """``penalty="l1"``: lambda * sum_j |h_j| averaged over the batch (MAP with a Laplace prior on the code);
    ``penalty="kl"``: lambda * sum_j KL(rho || rho_hat_j), rho_hat_j the mean activation of unit j over the
    batch (needs a sigmoid code, set automatically)."""
    penalty: str = "l1"
    weight: float = 1e-3
    rho: float = 0.05
    code_activation: str = "sigmoid"

    def __post_init__(self):
        super().__post_init__()
        if self.penalty not in ("l1", "kl"):
            raise ValueError(f"penalty must be 'l1' or 'kl', got {self.penalty!r}")
        if self.penalty == "kl" and self.code_activation != "sigmoid":
            raise ValueError("the Bernoulli-KL sparsity penalty needs code_activation='sigmoid'")
        if not 0.0 < self.rho < 1.0:
            raise ValueError(f"rho must be in (0, 1), got {self.rho}")


class SparseAE(Autoencoder):
    def __init__(self, config: SparseAEConfig = SparseAEConfig()):
        super().__init__(config)

    def sparsity_penalty(self, h: torch.Tensor) -> torch.Tensor:
        c = self.config
        if c.penalty == "l1":
            return objectives.sparse_l1_penalty(h)
        return objectives.sparse_kl_penalty(h, c.rho)

    def regularizer(self, x, h):
        penalty = self.sparsity_penalty(h)
        return self.config.weight * penalty, {
            "penalty": penalty.item(),
            "mean_activation": h.detach().mean().item(),
            # fraction of (nearly) silent units, the point of a sparse code
            "frac_inactive": (h.detach().abs() < 0.05).float().mean().item(),
        }


# ------------------------------------------------------------------ denoising

@dataclass(frozen=True)
class GaussianNoise:
    """Additive isotropic Gaussian noise: x_tilde = x + sigma * eps, eps ~ N(0, I)."""
    sigma: float = 0.3

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        eps = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return x + self.sigma * eps


@dataclass(frozen=True)
class MaskingNoise:
    """Each input component is set to 0 independently with probability p (Vincent et al. 2008)."""
    p: float = 0.25

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        keep = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device) >= self.p
        return x * keep


@dataclass(frozen=True)
class SaltAndPepper:
    """A fraction p of the components is set to its minimum (0) or maximum (1), each with probability 1/2."""
    p: float = 0.1

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        hit = u < self.p
        # given a hit, u / p is uniform on (0, 1): its half decides salt (1) or pepper (0)
        salt = u < self.p / 2
        return torch.where(hit, salt.to(x.dtype), x)


Corruption = GaussianNoise | MaskingNoise | SaltAndPepper


@dataclass(frozen=True)
class DenoisingAEConfig(AEConfig):
    corruption: Corruption = MaskingNoise(0.25)


class DenoisingAE(Autoencoder):
    """Trained to reconstruct the clean x from x_tilde ~ C(x_tilde | x): the loss is L(x, g(f(x_tilde))).
    At test time the encoder sees clean inputs."""

    def __init__(self, config: DenoisingAEConfig = DenoisingAEConfig()):
        super().__init__(config)

    def corrupt(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        check_input(x, self.input_shape)
        return self.config.corruption(x, generator)

    def loss(self, x, y=None):
        x_tilde = self.corrupt(x)
        h = self.encode(x_tilde)
        rec = self.reconstruction_error(x, self.decode_logits(h)).mean()  # the target is the clean x
        return rec, {"loss": rec.item(), "rec": rec.item()}


# ------------------------------------------------------------------ contractive

@dataclass(frozen=True)
class ContractiveAEConfig(AEConfig):
    """``penalty="closed_form"`` needs a single sigmoid encoder layer (``hidden=()``,
    ``code_activation="sigmoid"``); ``"autograd"`` works for any encoder; ``"auto"`` picks the closed
    form where it applies."""
    weight: float = 0.1
    penalty: str = "auto"
    hidden: tuple[int, ...] = ()
    code_activation: str = "sigmoid"

    def __post_init__(self):
        super().__post_init__()
        if self.penalty not in ("auto", "closed_form", "autograd"):
            raise ValueError(f"penalty must be 'auto', 'closed_form' or 'autograd', got {self.penalty!r}")
        if self.penalty == "closed_form" and not self.has_closed_form:
            raise ValueError("the closed-form contractive penalty needs arch='mlp', hidden=() and "
                             "code_activation='sigmoid'")

    @property
    def has_closed_form(self) -> bool:
        return self.arch == "mlp" and tuple(self.hidden) == () and self.code_activation == "sigmoid"


class ContractiveAE(Autoencoder):
    """Penalizes the squared Frobenius norm of the encoder Jacobian, lambda * ||J_f(x)||_F^2 (Rifai et al.
    2011), which makes the code insensitive to directions off the data manifold."""

    def __init__(self, config: ContractiveAEConfig = ContractiveAEConfig()):
        super().__init__(config)

    @property
    def uses_closed_form(self) -> bool:
        return self.config.penalty == "closed_form" or (self.config.penalty == "auto"
                                                        and self.config.has_closed_form)

    def encoder_weight(self) -> torch.Tensor:
        """W of h = sigmoid(W x + b), shape (code_dim, input_dim)."""
        return self.encoder[1][0].weight

    def jacobian_penalty(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """||J_f(x)||_F^2 per example, (B,)."""
        if self.uses_closed_form:
            h = self.encode(x) if h is None else h
            return objectives.contractive_penalty_sigmoid(h, self.encoder_weight())
        return objectives.contractive_penalty_autograd(self.encode, x)

    def regularizer(self, x, h):
        penalty = self.jacobian_penalty(x, h).mean()
        return self.config.weight * penalty, {"jacobian_frob2": penalty.item()}


# ------------------------------------------------------------------ stochastic encoder

@dataclass(frozen=True)
class StochasticAEConfig(AEConfig):
    """``noise_std``: standard deviation of the Gaussian noise added to the code during training."""
    noise_std: float = 0.5


class StochasticAE(Autoencoder):
    """A stochastic encoder p(h | x) = N(f(x), sigma^2 I): noise is injected in the code while training,
    so the decoder must be robust to a neighbourhood of each code. ``encode`` returns the mean f(x);
    ``encode_sample`` draws from p(h | x). Unlike the VAE, sigma is fixed and there is no prior term."""

    def __init__(self, config: StochasticAEConfig = StochasticAEConfig()):
        super().__init__(config)

    def encode_sample(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        h = self.encode(x)
        eps = torch.randn(h.shape, generator=generator, dtype=h.dtype, device=h.device)
        return h + self.config.noise_std * eps

    def loss(self, x, y=None):
        h = self.encode_sample(x)
        rec = self.reconstruction_error(x, self.decode_logits(h)).mean()
        return rec, {"loss": rec.item(), "rec": rec.item()}

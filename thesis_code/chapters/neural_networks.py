"""Section 1.1 of the thesis: the learning rules and small experiments of classical neural networks.

    perceptron           Rosenblatt's rule and Novikoff's bound on its number of updates
    hebbian_update       Hebb's rule, and Oja's normalized variant that finds the first principal component
    gradient_descent     plain gradient descent on a differentiable function
    approximation_sweep  a one-hidden-layer network fitted to a 1-D function at growing widths
    MLP backprop         forward pass, hand-written backpropagation and a finite-difference check

Everything here is small enough to read in the appendix; the notebooks call these functions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn


def _check_xy(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=float), np.asarray(y)
    if x.ndim != 2:
        raise ValueError(f"expected inputs of shape (N, D), got {x.shape}")
    if y.shape != (x.shape[0],):
        raise ValueError(f"expected labels of shape ({x.shape[0]},), got {y.shape}")
    if not np.all(np.isin(y, (-1, 1))):
        raise ValueError("perceptron labels must be -1 or +1")
    return x, y.astype(float)


# ----------------------------------------------------------------------------- perceptron

@dataclass
class PerceptronResult:
    w: np.ndarray                  # weights (D,)
    b: float                       # bias
    mistakes_per_epoch: list[int]  # misclassified examples met in each pass over the data
    n_updates: int                 # total number of weight updates
    converged: bool                # a full pass without a mistake happened

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.where(np.asarray(x, float) @ self.w + self.b > 0, 1, -1)


def perceptron(x: np.ndarray, y: np.ndarray, max_epochs: int = 100, lr: float = 1.0,
               shuffle_seed: int | None = 0) -> PerceptronResult:
    """Rosenblatt's perceptron learning rule (Rosenblatt 1958).

    For each example with y_i (w.x_i + b) <= 0 (a mistake): w <- w + lr y_i x_i, b <- b + lr y_i.
    Labels are -1/+1. Stops after the first pass without mistakes, or after ``max_epochs`` passes.
    """
    x, y = _check_xy(x, y)
    rng = np.random.default_rng(shuffle_seed)
    w, b = np.zeros(x.shape[1]), 0.0
    mistakes, n_updates = [], 0
    for _ in range(max_epochs):
        order = rng.permutation(len(x)) if shuffle_seed is not None else np.arange(len(x))
        errors = 0
        for i in order:
            if y[i] * (x[i] @ w + b) <= 0:
                w = w + lr * y[i] * x[i]
                b = b + lr * y[i]
                errors += 1
        mistakes.append(errors)
        n_updates += errors
        if errors == 0:
            return PerceptronResult(w, float(b), mistakes, n_updates, True)
    return PerceptronResult(w, float(b), mistakes, n_updates, False)


def novikoff_bound(x: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> float:
    """Novikoff's (1962) bound (R / gamma)^2 on the number of perceptron updates.

    Bias is folded into the weights by appending a constant 1 to every input, so
    R = max_i ||(x_i, 1)|| and gamma = min_i y_i (w.x_i + b) / ||(w, b)|| is the margin of any separating
    hyperplane (w, b). Raises ValueError when (w, b) does not separate the data.
    """
    x, y = _check_xy(x, y)
    x1 = np.hstack([x, np.ones((len(x), 1))])
    wb = np.append(np.asarray(w, float), b)
    gamma = np.min(y * (x1 @ wb)) / np.linalg.norm(wb)
    if gamma <= 0:
        raise ValueError("(w, b) does not separate the data: the bound needs a positive margin")
    r = np.max(np.linalg.norm(x1, axis=1))
    return float((r / gamma) ** 2)


# ----------------------------------------------------------------------------- Hebbian learning

def hebbian_update(w: np.ndarray, x: np.ndarray, lr: float, rule: str = "hebb") -> np.ndarray:
    """One step of Hebbian learning for a linear neuron y = w.x (Hebb 1949; Oja 1982).

    hebb:  dw = lr * y * x               (grows without bound along the dominant direction)
    oja:   dw = lr * y * (x - y * w)     (the decay term keeps ||w|| near 1; w -> first eigenvector
                                          of E[x x^T], i.e. the first principal component of centred data)
    """
    w, x = np.asarray(w, float), np.asarray(x, float)
    if w.shape != x.shape or w.ndim != 1:
        raise ValueError(f"expected w and x of the same shape (D,), got {w.shape} and {x.shape}")
    y = w @ x
    if rule == "hebb":
        return w + lr * y * x
    if rule == "oja":
        return w + lr * y * (x - y * w)
    raise ValueError(f"unknown rule {rule!r}; choose 'hebb' or 'oja'")


def hebbian_learning(x: np.ndarray, lr: float, epochs: int, rule: str = "oja", seed: int = 0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Run ``hebbian_update`` over the rows of x for ``epochs`` passes; returns (w, trace of w per step)."""
    x = np.asarray(x, float)
    if x.ndim != 2:
        raise ValueError(f"expected inputs of shape (N, D), got {x.shape}")
    rng = np.random.default_rng(seed)
    w = rng.normal(size=x.shape[1])
    w /= np.linalg.norm(w)
    trace = [w]
    for _ in range(epochs):
        for i in rng.permutation(len(x)):
            w = hebbian_update(w, x[i], lr, rule)
            trace.append(w)
    return w, np.array(trace)


# ----------------------------------------------------------------------------- gradient descent

def gradient_descent(grad: Callable[[np.ndarray], np.ndarray], x0: np.ndarray, lr: float, steps: int
                     ) -> np.ndarray:
    """x_{t+1} = x_t - lr * grad(x_t); returns the whole path, shape (steps + 1, D)."""
    path = [np.asarray(x0, float)]
    for _ in range(steps):
        path.append(path[-1] - lr * np.asarray(grad(path[-1]), float))
    return np.array(path)


# ----------------------------------------------------------------------------- universal approximation

@dataclass
class ApproximationResult:
    widths: list[int]
    train_mse: list[float]
    test_mse: list[float]
    predictions: dict[int, np.ndarray] = field(default_factory=dict)  # width -> f_hat on the test grid


def fit_shallow_network(x: torch.Tensor, y: torch.Tensor, width: int, steps: int = 2000,
                        lr: float = 0.01, seed: int = 0) -> nn.Module:
    """Fit y ~ sum_j a_j tanh(w_j x + b_j) + c (one hidden layer of ``width`` units) by full-batch Adam
    on the squared error. x and y are (N, 1)."""
    if x.dim() != 2 or x.shape[1] != 1 or y.shape != x.shape:
        raise ValueError(f"expected x and y of shape (N, 1), got {tuple(x.shape)} and {tuple(y.shape)}")
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(1, width), nn.Tanh(), nn.Linear(width, 1))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        opt.zero_grad()
        loss = (net(x) - y).pow(2).mean()
        loss.backward()
        opt.step()
        sched.step()
    return net


def approximation_sweep(f: Callable[[torch.Tensor], torch.Tensor], widths: Sequence[int],
                        n_train: int = 200, steps: int = 2000, lr: float = 0.01,
                        interval=(-3.0, 3.0), seed: int = 0) -> ApproximationResult:
    """Universal approximation in practice: fit f on ``n_train`` points of ``interval`` with one hidden
    layer of each width and measure the squared error on a dense grid (Cybenko 1989; Hornik 1991)."""
    lo, hi = interval
    gen = torch.Generator().manual_seed(seed)
    x_train = lo + (hi - lo) * torch.rand(n_train, 1, generator=gen)
    x_test = torch.linspace(lo, hi, 1000).unsqueeze(1)
    y_train, y_test = f(x_train), f(x_test)
    result = ApproximationResult(list(widths), [], [])
    for width in widths:
        net = fit_shallow_network(x_train, y_train, width, steps=steps, lr=lr, seed=seed)
        with torch.no_grad():
            result.train_mse.append(float((net(x_train) - y_train).pow(2).mean()))
            pred = net(x_test)
            result.test_mse.append(float((pred - y_test).pow(2).mean()))
            result.predictions[width] = pred.squeeze(1).numpy()
    return result


# ----------------------------------------------------------------------------- backpropagation

def init_mlp(sizes: Sequence[int], seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Weights W_l (n_out, n_in) ~ N(0, 1/n_in) and zero biases for an MLP with the given widths."""
    rng = np.random.default_rng(seed)
    return [(rng.normal(0, 1 / np.sqrt(n_in), (n_out, n_in)), np.zeros(n_out))
            for n_in, n_out in zip(sizes[:-1], sizes[1:])]


def mlp_forward(params, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """a_0 = x; z_l = a_{l-1} W_l^T + b_l; a_l = tanh(z_l) for hidden layers, a_L = z_L (linear output).
    Returns the output and the activations a_0 .. a_L (what backpropagation needs)."""
    activations = [np.asarray(x, float)]
    for l, (w, b) in enumerate(params):
        z = activations[-1] @ w.T + b
        activations.append(z if l == len(params) - 1 else np.tanh(z))
    return activations[-1], activations


def mse_loss(params, x: np.ndarray, y: np.ndarray) -> float:
    out, _ = mlp_forward(params, x)
    return float(0.5 * np.mean(np.sum((out - y) ** 2, axis=1)))


def mlp_backward(params, x: np.ndarray, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Gradients of ``mse_loss`` by backpropagation (Rumelhart, Hinton & Williams 1986).

    delta_L = (a_L - y) / N;  dW_l = delta_l^T a_{l-1};  db_l = sum_n delta_l;
    delta_{l-1} = (delta_l W_l) * (1 - a_{l-1}^2)   (tanh' = 1 - tanh^2).
    """
    out, acts = mlp_forward(params, x)
    delta = (out - y) / len(x)
    grads = []
    for l in range(len(params) - 1, -1, -1):
        w, _ = params[l]
        grads.append((delta.T @ acts[l], delta.sum(axis=0)))
        if l > 0:
            delta = (delta @ w) * (1.0 - acts[l] ** 2)
    return grads[::-1]


def numerical_gradient(loss: Callable[[list], float], params, eps: float = 1e-6):
    """Central finite differences (L(theta + eps e_i) - L(theta - eps e_i)) / (2 eps), entry by entry."""
    grads = []
    for l, (w, b) in enumerate(params):
        pair = []
        for k, arr in enumerate((w, b)):
            g = np.zeros_like(arr)
            for idx in np.ndindex(arr.shape):
                old = arr[idx]
                arr[idx] = old + eps
                up = loss(params)
                arr[idx] = old - eps
                down = loss(params)
                arr[idx] = old
                g[idx] = (up - down) / (2 * eps)
            pair.append(g)
        grads.append(tuple(pair))
    return grads


def relative_error(a, b) -> float:
    """max |a - b| / max(|a| + |b|) over all gradient arrays: the usual gradient-check statistic."""
    flat_a = np.concatenate([g.ravel() for pair in a for g in pair])
    flat_b = np.concatenate([g.ravel() for pair in b for g in pair])
    return float(np.max(np.abs(flat_a - flat_b)) / max(np.max(np.abs(flat_a) + np.abs(flat_b)), 1e-300))


# ----------------------------------------------------------------------------- convolutional layers

def parameter_count(module: nn.Module) -> int:
    """Number of trainable parameters of a module."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@dataclass(frozen=True)
class ShiftResponse:
    """How a layer responds to a horizontal shift of its input (section 1.1.9)."""
    equivariance_error: float   # ||layer(shift x) - shift' layer(x)|| / ||layer(x)|| on interior columns
    change: float               # ||layer(shift x) - layer(x)|| / ||layer(x)||: how much the output moved


def shift_response(layer: nn.Module, x: torch.Tensor, shift: int = 2) -> ShiftResponse:
    """Shift the images ``x`` (B, C, H, W) right by ``shift`` pixels and compare the layer's outputs.

    For a convolution with stride s (s divides ``shift``) the output of the shifted image is the output of
    the original shifted by ``shift / s`` positions: translation equivariance (LeCun et al. 1998). It holds
    exactly away from the borders, which the comparison leaves out (zero padding and the wrap-around of
    ``torch.roll``). For a dense layer (outputs not arranged on a grid) only ``change`` is defined; the
    equivariance error is reported as NaN."""
    if x.dim() != 4:
        raise ValueError(f"expected images of shape (B, C, H, W), got {tuple(x.shape)}")
    device = next(layer.parameters()).device
    x = x.to(device)
    with torch.no_grad():
        y = layer(x if isinstance(layer, nn.Conv2d) else x.flatten(1))
        xs = torch.roll(x, shifts=shift, dims=-1)
        ys = layer(xs if isinstance(layer, nn.Conv2d) else xs.flatten(1))
    change = float((ys - y).norm() / y.norm())
    if not isinstance(layer, nn.Conv2d):
        return ShiftResponse(float("nan"), change)
    stride = layer.stride[-1]
    if shift % stride:
        raise ValueError(f"shift {shift} must be a multiple of the stride {stride}")
    expected = torch.roll(y, shifts=shift // stride, dims=-1)
    margin = shift // stride + layer.kernel_size[-1]      # columns touched by padding or wrap-around
    inner = (slice(None), slice(None), slice(None), slice(margin, y.shape[-1] - margin))
    err = float((ys[inner] - expected[inner]).norm() / y[inner].norm())
    return ShiftResponse(err, change)


# ----------------------------------------------------------------------------- stacked autoencoders

def greedy_pretrained_stack(config, x: torch.Tensor, train_config, profile: str):
    """A ``models.StackedAutoencoder`` whose layers were pretrained greedily, one shallow autoencoder at a
    time (Hinton & Salakhutdinov 2006; Bengio et al. 2007). The pretrained weights are cached by
    ``storage.cached`` under the config, so the function can serve as ``build_model`` of
    ``experiments.train_cached``, which then fine-tunes the whole stack end to end."""
    from ..experiments import data_fingerprint, training_code_hash
    from ..models import StackedAutoencoder
    from ..storage import cached
    from ..train import pretrain_greedy

    model = StackedAutoencoder(config)

    def pretrain(folder):
        pretrain_greedy(model, x, train_config, folder=folder / "layers")
        return {k: v.detach().cpu() for k, v in model.state_dict().items()}

    key = {"model": config, "train": train_config, "data": data_fingerprint(x),
           "code": training_code_hash(model)}
    model.load_state_dict(cached("ch1-stack-pretrain", key, profile, pretrain))
    return model


# ----------------------------------------------------------------------------- diagrams

def draw_autoencoder(ax, layer_sizes: Sequence[int], labels: Sequence[str] | None = None,
                     spacing: float = 2.5) -> None:
    """Draw a fully connected autoencoder as columns of circles joined by lines; the narrowest layer is the
    code. ``labels`` name the layers (default: input x, code h, reconstruction r)."""
    import matplotlib.patches as patches
    n = len(layer_sizes)
    if n < 3:
        raise ValueError(f"an autoencoder diagram needs at least 3 layers, got {n}")
    code = int(np.argmin(layer_sizes))
    if labels is None:
        labels = ["" for _ in layer_sizes]
        labels[0], labels[code], labels[-1] = "input $x$", "code $h$", "reconstruction $r$"
    top = max(layer_sizes)
    positions = [[(spacing * i, (size - 1) / 2 - j) for j in range(size)] for i, size in enumerate(layer_sizes)]
    for a, b in zip(positions[:-1], positions[1:]):
        for pa in a:
            for pb in b:
                ax.plot([pa[0], pb[0]], [pa[1], pb[1]], color="0.8", lw=0.5, zorder=1)
    for i, layer in enumerate(positions):
        colour = "#009E73" if i == code else ("#0072B2" if i < code else "#D55E00")
        for x, y in layer:
            ax.add_patch(patches.Circle((x, y), 0.25, color=colour, zorder=2))
        ax.text(spacing * i, -top / 2 - 0.3, labels[i], ha="center", va="top", fontsize=9)
    ax.text(spacing * code / 2, top / 2 + 0.2, "encoder $f$", ha="center", fontsize=9)
    ax.text(spacing * (code + (n - 1 - code) / 2), top / 2 + 0.2, "decoder $g$", ha="center", fontsize=9)
    ax.set_xlim(-1.5, spacing * (n - 1) + 1.5)
    ax.set_ylim(-top / 2 - 1.2, top / 2 + 0.9)
    ax.set_aspect("equal")
    ax.set_axis_off()


# The autoencoder taxonomy of section 1.3.11: (name, parent, how the identity is prevented).
TAXONOMY = (
    ("autoencoder", None, ""),
    ("by architecture", "autoencoder", ""),
    ("by regularizer", "autoencoder", ""),
    ("by code distribution", "autoencoder", ""),
    ("undercomplete", "by architecture", "bottleneck\ndim h < dim x"),
    ("overcomplete", "by architecture", "needs a\nregularizer"),
    ("deep /\nstacked", "by architecture", "layer-wise\npretraining"),
    ("convolutional", "by architecture", "shared local\nfilters"),
    ("sparse", "by regularizer", "L1 or KL\npenalty on h"),
    ("denoising", "by regularizer", "reconstruct x\nfrom corrupted x"),
    ("contractive", "by regularizer", "penalty on\nJacobian of f"),
    ("stochastic", "by code distribution", "noise in h:\np(h | x)"),
    ("variational", "by code distribution", "q(z | x), prior\np(z), ELBO"),
    ("adversarial", "by code distribution", "discriminator\nq(z) vs p(z)"),
)


def draw_taxonomy(ax, taxonomy=TAXONOMY) -> None:
    """Draw the taxonomy as a three-level tree: root, families, kinds (with their constraint below)."""
    children: dict = {}
    for name, parent, _ in taxonomy:
        children.setdefault(parent, []).append(name)
    notes = {name: note for name, _, note in taxonomy}
    root = children[None][0]
    families = children[root]
    leaves = [(f, leaf) for f in families for leaf in children.get(f, [])]
    xs = {leaf: 1.25 * i for i, (_, leaf) in enumerate(leaves)}
    for f in families:
        xs[f] = float(np.mean([xs[leaf] for leaf in children[f]]))
    xs[root] = float(np.mean([xs[f] for f in families]))
    levels = {root: 2.0, **{f: 1.0 for f in families}, **{leaf: 0.0 for _, leaf in leaves}}
    colours = dict(zip(families, ("#0072B2", "#D55E00", "#009E73")))
    for name, parent, _ in taxonomy:
        if parent is not None:
            ax.plot([xs[parent], xs[name]], [levels[parent] - 0.12, levels[name] + 0.12], color="0.6", lw=0.8)
    for name in xs:
        family = name if name in colours else next((f for f, leaf in leaves if leaf == name), None)
        colour = colours.get(family, "0.2")
        ax.text(xs[name], levels[name], name, ha="center", va="center", fontsize=8 if levels[name] else 7,
                bbox=dict(boxstyle="round,pad=0.3", fc="white", ec=colour, lw=1.2))
        if levels[name] == 0.0 and notes[name]:
            ax.text(xs[name], -0.3, notes[name], ha="center", va="top", fontsize=6.5, color="0.3")
    ax.set_xlim(-0.8, 1.25 * (len(leaves) - 1) + 0.8)
    ax.set_ylim(-0.8, 2.3)
    ax.set_axis_off()


# ----------------------------------------------------------------------------- encoder Jacobians

def encoder_tangents(model, x: torch.Tensor, n: int) -> torch.Tensor:
    """The ``n`` input-space directions (B, D, n) to which the encoder is most sensitive at each example: the
    leading right singular vectors of its Jacobian J_f(x). For a contractive autoencoder they estimate the
    tangent directions of the data manifold (Rifai et al. 2011)."""
    device = next(model.parameters()).device
    with torch.no_grad():
        _, _, vh = torch.linalg.svd(model.jacobian(x.to(device)), full_matrices=False)
    return vh[:, :n, :].transpose(1, 2).cpu()


def jacobian_spectrum(model, x: torch.Tensor) -> torch.Tensor:
    """Singular values of the encoder Jacobian at each example, sorted decreasing, (B, min(code, input)).
    A contractive encoder has a few large ones (directions along the data manifold) and many small ones."""
    device = next(model.parameters()).device
    with torch.no_grad():
        return torch.linalg.svdvals(model.jacobian(x.to(device))).cpu()

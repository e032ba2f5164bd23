"""One trainer for every model of the thesis.

    history = fit(model, x_train, config=TrainConfig(epochs=10, batch_size=128, binarize=True),
                  folder="checkpoints/")

A model is trained through *phases*. A model with a ``phases()`` method (the adversarial autoencoder and
the GAN) returns a list of ``Phase(name, parameters, loss_fn)``; on every mini-batch the phases run in
order, each a gradient step of its own Adam optimizer on its own parameters. Any other model is one
phase: all its parameters and ``model.loss``.

Reproducibility: shuffling and dynamic binarization draw from the trainer's own ``torch.Generator``s
seeded by ``config.seed``, and the global torch RNG (used by the models' noise, e.g. the
reparameterization) is seeded at the start. Checkpoints store the model, the optimizers, all three RNG
states and the history, so resuming from the last checkpoint in ``folder`` ends with exactly the weights
an uninterrupted run would have produced (on CPU, bit for bit).
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, NamedTuple

import torch
from torch import nn
from tqdm.auto import tqdm

from .profiles import resolve_device
from .storage import atomic_torch_save

CHECKPOINT_NAME = "checkpoint.pt"
# TrainConfig fields that may differ between an interrupted run and its resumption.
RESUMABLE_CHANGES = ("epochs", "progress", "checkpoint_every", "device")


class Phase(NamedTuple):
    """One optimization step per batch: minimize ``loss_fn(x, y) -> (loss, metrics)`` over ``parameters``."""

    name: str
    parameters: Iterable[nn.Parameter]
    loss_fn: Callable[[torch.Tensor, torch.Tensor | None], tuple[torch.Tensor, dict[str, float]]]


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    device: str = "auto"                  # auto | cpu | cuda | mps
    binarize: bool = False                # dynamic binarization of each batch (Bernoulli decoders)
    checkpoint_every: int = 1             # epochs between checkpoints (when a folder is given)
    progress: bool = True                 # tqdm bars
    max_batches_per_epoch: int | None = None  # cap for quick (smoke) runs
    grad_clip: float | None = None        # max gradient norm per phase, None = no clipping
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)  # Adam's betas (GANs often use (0.5, 0.999))
    shuffle: bool = True
    drop_last: bool = False


class History(dict):
    """Per-epoch means of every metric: ``history["loss"][e]``; ``history["epoch"]`` numbers the epochs.

    Metrics keep the names the model reports; only a name reported by more than one phase is prefixed
    by the phase, e.g. ``"discriminator/loss"``. ``history["time"]`` is the epoch's wall-clock seconds.
    """

    def last(self, key: str) -> float:
        return self[key][-1]


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or infinite; the last good checkpoint (if any) is kept untouched."""


def model_phases(model: nn.Module) -> list[Phase]:
    if hasattr(model, "phases"):
        phases = list(model.phases())
        if not phases:
            raise ValueError(f"{type(model).__name__}.phases() returned no phases")
        return phases
    return [Phase("loss", model.parameters(), model.loss)]


def _epoch_means(phases: list[Phase], sums: list[dict[str, float]], seen: int) -> dict[str, float]:
    """Batch-size-weighted means; a metric name that several phases report gets a ``phase/`` prefix."""
    counts: dict[str, int] = {}
    for phase_sums in sums:
        for key in phase_sums:
            counts[key] = counts.get(key, 0) + 1
    return {(f"{phase.name}/{key}" if counts[key] > 1 else key): total / seen
            for phase, phase_sums in zip(phases, sums) for key, total in phase_sums.items()}


def _checkpoint_state(model, optimizers, gens, history, epoch, config) -> dict:
    state = {
        "model": model.state_dict(),
        "optimizers": [opt.state_dict() for opt in optimizers],
        "rng": {"shuffle": gens["shuffle"].get_state(), "binarize": gens["binarize"].get_state(),
                "torch": torch.get_rng_state()},
        "history": dict(history),
        "epoch": epoch,
        "config": dataclasses.asdict(config),
    }
    if torch.cuda.is_available():
        state["rng"]["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _check_resumable(saved: dict, config: TrainConfig, path: Path) -> None:
    now = dataclasses.asdict(config)
    diff = sorted(k for k in now if k not in RESUMABLE_CHANGES and saved.get(k) != now[k]
                  and not (isinstance(now[k], tuple) and list(now[k]) == list(saved.get(k) or [])))
    if diff:
        raise ValueError(f"checkpoint {path} was written with a different TrainConfig ({', '.join(diff)});"
                         f" delete it or use another folder")


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None,
        config: TrainConfig = TrainConfig(), folder: str | Path | None = None) -> History:
    """Train ``model`` on ``x`` (and labels ``y``) and return the per-epoch history.

    With ``folder`` the trainer writes ``folder/checkpoint.pt`` atomically every ``checkpoint_every``
    epochs and after the last one, and a later call with the same folder resumes from it. On a NaN or
    infinite loss it raises :class:`NonFiniteLossError` before the bad gradient step, without writing a
    checkpoint. The model is left in eval mode on ``config.device``.
    """
    if y is not None and len(y) != len(x):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    if len(x) == 0:
        raise ValueError("cannot train on an empty data set")
    if hasattr(model, "input_shape"):  # fail before training on a wrongly shaped data set
        from .models.networks import check_input
        check_input(x, model.input_shape, name="training data")
    device = resolve_device(config.device)
    model.to(device)
    # Keep the whole data set on the device when it fits comfortably (MNIST is 190 MB in float32).
    x = x.to(device)
    y = y.to(device) if y is not None else None

    phases = model_phases(model)
    optimizers = [torch.optim.Adam(list(p.parameters), lr=config.lr, betas=config.betas,
                                   weight_decay=config.weight_decay) for p in phases]
    params = [[q for g in opt.param_groups for q in g["params"]] for opt in optimizers]
    gens = {"shuffle": torch.Generator().manual_seed(config.seed),
            "binarize": torch.Generator(device=device).manual_seed(config.seed + 1)}
    torch.manual_seed(config.seed)
    history = History()
    start_epoch = 0

    path = Path(folder) / CHECKPOINT_NAME if folder is not None else None
    if path is not None and path.exists():
        saved = torch.load(path, map_location=device, weights_only=False)
        _check_resumable(saved["config"], config, path)
        model.load_state_dict(saved["model"])
        for opt, s in zip(optimizers, saved["optimizers"]):
            opt.load_state_dict(s)
        gens["shuffle"].set_state(saved["rng"]["shuffle"].cpu())
        gens["binarize"].set_state(saved["rng"]["binarize"].cpu())
        torch.set_rng_state(saved["rng"]["torch"].cpu())
        if "cuda" in saved["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in saved["rng"]["cuda"]])
        history = History(saved["history"])
        start_epoch = saved["epoch"]

    n = len(x)
    n_batches = n // config.batch_size if config.drop_last else math.ceil(n / config.batch_size)
    if config.max_batches_per_epoch is not None:
        n_batches = min(n_batches, config.max_batches_per_epoch)
    if n_batches == 0:
        raise ValueError(f"batch_size {config.batch_size} with drop_last leaves no batch of {n} examples")

    model.train()
    epochs = tqdm(range(start_epoch, config.epochs), desc="epochs", disable=not config.progress,
                  initial=start_epoch, total=config.epochs)
    for epoch in epochs:
        t0 = time.perf_counter()
        order = (torch.randperm(n, generator=gens["shuffle"]) if config.shuffle
                 else torch.arange(n)).to(device)
        sums: list[dict[str, float]] = [{} for _ in phases]   # per phase: metric -> weighted sum
        seen = 0
        for b in tqdm(range(n_batches), desc=f"epoch {epoch + 1}", leave=False,
                      disable=not config.progress):
            idx = order[b * config.batch_size:(b + 1) * config.batch_size]
            xb = x[idx]
            if config.binarize:
                xb = torch.bernoulli(xb, generator=gens["binarize"])
            yb = y[idx] if y is not None else None
            bs = len(idx)
            for phase, opt, ps, phase_sums in zip(phases, optimizers, params, sums):
                opt.zero_grad(set_to_none=True)
                loss, metrics = phase.loss_fn(xb, yb)
                if not math.isfinite(loss.item()):
                    raise NonFiniteLossError(
                        f"non-finite loss {loss.item()} in epoch {epoch + 1}, batch {b + 1}/{n_batches}, "
                        f"phase {phase.name!r}; the last good checkpoint "
                        f"{'in ' + str(path) if path is not None else '(none: no folder)'} was kept")
                loss.backward()
                if config.grad_clip is not None:
                    nn.utils.clip_grad_norm_(ps, config.grad_clip)
                opt.step()
                for key, value in metrics.items():
                    phase_sums[key] = phase_sums.get(key, 0.0) + float(value) * bs
            seen += bs
        # the epoch's record: batch-size-weighted means of every metric
        history.setdefault("epoch", []).append(epoch + 1)
        for key, mean in _epoch_means(phases, sums, seen).items():
            history.setdefault(key, []).append(mean)
        history.setdefault("time", []).append(time.perf_counter() - t0)
        if config.progress:
            epochs.set_postfix({k: f"{v[-1]:.4g}" for k, v in history.items()
                                if k not in ("epoch", "time")})
        last = epoch + 1 == config.epochs
        if path is not None and ((epoch + 1) % config.checkpoint_every == 0 or last):
            atomic_torch_save(_checkpoint_state(model, optimizers, gens, history, epoch + 1, config),
                              path)
    epochs.close()
    model.eval()
    return history

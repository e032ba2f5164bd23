"""One trainer for every model of the thesis.

    history = fit(model, x_train, config=TrainConfig(epochs=10, batch_size=128, binarize=True),
                  folder="checkpoints/")
    history = fit(sentence_vae, TextData(...), config=TrainConfig(...), validation=TextData(...))

What is trained on. ``data`` is a tensor of examples (images, encoded table rows; ``y`` optional labels)
or any data set of :mod:`thesis_code.data.batches` (``len``, ``batch(idx, generator)``, ``to``,
``fingerprint``), e.g. padded sentences. ``TrainConfig.binarize`` is dynamic binarization as a batch
transform of image tensors.

Phases. A model with ``phases()`` (the adversarial autoencoder, the GAN) is trained phase by phase on
every mini-batch, each phase a gradient step of its own Adam optimizer (see
:mod:`thesis_code.models.protocol`). Any other model is one phase: all parameters and ``model.loss``.

The step. The trainer counts optimizer steps over the whole run (the global step, one per mini-batch)
and stores it in its checkpoints. A model with ``set_step(step)`` is told the step before every
mini-batch, so schedules held in its config (KL annealing, word dropout; :mod:`thesis_code.schedules`)
resume exactly where an interrupted run stopped.

Reproducibility. Training runs in its own RNG scope: the global torch RNG (used by the models' noise,
e.g. the reparameterization) is seeded from ``config.seed`` inside :func:`torch.random.fork_rng` and
restored afterwards, so whatever a notebook draws after ``fit`` is the same whether the model was trained
or loaded from the cache. Shuffling and batch transforms draw from the trainer's own generators.
Checkpoints hold the model, the optimizers, every RNG state, the step, the history and the early-stopping
state, so resuming from the last checkpoint in ``folder`` ends with exactly the weights an uninterrupted
run would have produced (on CPU, bit for bit).

Validation and early stopping. With ``validation`` the history gets ``val_<metric>`` after every epoch
(model in eval mode, no gradients, a fixed seed, so the numbers do not depend on the training RNG). With
``TrainConfig.patience`` training stops once ``val_loss`` has not improved for that many epochs, and the
model is left with the weights of its best epoch.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from .data.batches import Dataset, TensorData
from .models.protocol import Phase, model_phases  # noqa: F401  (Phase re-exported for old imports)
from .profiles import resolve_device
from .schedules import Schedule
from .storage import atomic_torch_save

CHECKPOINT_NAME = "checkpoint.pt"
# TrainConfig fields that may differ between an interrupted run and its resumption.
RESUMABLE_CHANGES = ("epochs", "progress", "checkpoint_every", "device")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    device: str = "auto"                  # auto | cpu | cuda | mps
    binarize: bool = False                # dynamic binarization of each image batch (Bernoulli decoders)
    checkpoint_every: int = 1             # epochs between checkpoints (when a folder is given)
    progress: bool = True                 # tqdm bars
    max_batches_per_epoch: int | None = None  # cap for quick (smoke) runs
    grad_clip: float | None = None        # max gradient norm per phase, None = no clipping
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)  # Adam's betas (GANs often use (0.5, 0.999))
    shuffle: bool = True
    drop_last: bool = False
    patience: int | None = None           # early stopping on val_loss (needs validation data)
    lr_schedule: Schedule | None = None   # multiplies lr at every global step (e.g. a late decay)

    def __post_init__(self):
        if self.epochs < 0 or self.batch_size < 1 or self.checkpoint_every < 1:
            raise ValueError("epochs must be >= 0, batch_size and checkpoint_every >= 1")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be a positive number of epochs or None, got {self.patience}")


class History(dict):
    """Per-epoch means of every metric: ``history["loss"][e]``; ``history["epoch"]`` numbers the epochs.

    Metrics keep the names the model reports; only a name reported by more than one phase is prefixed
    by the phase, e.g. ``"discriminator/loss"``. Validation metrics are prefixed ``val_``.
    ``history["time"]`` is the epoch's wall-clock seconds.
    """

    def last(self, key: str) -> float:
        return self[key][-1]


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or infinite; the last good checkpoint (if any) is kept untouched."""


def as_dataset(data, y: torch.Tensor | None = None, binarize: bool = False) -> Dataset:
    """Wrap tensors in :class:`TensorData`; pass a data set through (binarization applies to tensors)."""
    if isinstance(data, torch.Tensor):
        if y is not None and len(y) != len(data):
            raise ValueError(f"x and y must have the same length, got {len(data)} and {len(y)}")
        return TensorData(data, y, "binarize" if binarize else None)
    if y is not None:
        raise ValueError("labels y go with a tensor x; a data set returns its own labels from batch()")
    if not isinstance(data, Dataset):
        raise TypeError(f"expected a tensor or a data set with len/batch/to/fingerprint, got {type(data).__name__}")
    if binarize:
        if isinstance(data, TensorData):
            return TensorData(data.x, data.y, "binarize")
        raise ValueError("TrainConfig.binarize applies to image tensors; this data set defines its own batches")
    return data


def _epoch_means(phases: list[Phase], sums: list[dict[str, float]], seen: int) -> dict[str, float]:
    """Batch-size-weighted means; a metric name that several phases report gets a ``phase/`` prefix."""
    counts: dict[str, int] = {}
    for phase_sums in sums:
        for key in phase_sums:
            counts[key] = counts.get(key, 0) + 1
    return {(f"{phase.name}/{key}" if counts[key] > 1 else key): total / seen
            for phase, phase_sums in zip(phases, sums) for key, total in phase_sums.items()}


@torch.no_grad()
def validate(model: nn.Module, data: Dataset, batch_size: int, seed: int = 0) -> dict[str, float]:
    """Means of ``model``'s metrics over ``data`` (eval mode, no gradients, its own RNG seeded by ``seed``;
    the global RNG is left as it was). Multi-phase models report the metrics of every phase."""
    was_training = model.training
    model.eval()
    phases = model_phases(model)
    device = next(model.parameters()).device
    sums: list[dict[str, float]] = [{} for _ in phases]
    seen = 0
    gen = torch.Generator(device=device).manual_seed(seed)     # data sets live on the model's device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        n = len(data)
        for start in range(0, n, batch_size):
            idx = torch.arange(start, min(start + batch_size, n), device=device)
            xb, yb = data.batch(idx, gen)
            for phase, phase_sums in zip(phases, sums):
                _, metrics = phase.loss_fn(xb, yb)
                for key, value in metrics.items():
                    phase_sums[key] = phase_sums.get(key, 0.0) + float(value) * len(idx)
            seen += len(idx)
    model.train(was_training)
    return _epoch_means(phases, sums, seen)


def _rng_scope(device: torch.device):
    devices = [device] if device.type == "cuda" else []
    return torch.random.fork_rng(devices=devices)


def _check_resumable(saved: dict, config: TrainConfig, path: Path, device: torch.device) -> None:
    now = dataclasses.asdict(config)
    diff = sorted(k for k in now if k not in RESUMABLE_CHANGES and saved["config"].get(k) != now[k]
                  and not (isinstance(now[k], tuple) and list(now[k]) == list(saved["config"].get(k) or [])))
    if diff:
        raise ValueError(f"checkpoint {path} was written with a different TrainConfig ({', '.join(diff)});"
                         f" delete it or use another folder")
    saved_device = saved.get("device", "cpu")
    if saved_device != device.type:
        raise ValueError(f"checkpoint {path} was written on {saved_device!r} and cannot resume bit-exactly on "
                         f"{device.type!r} (random streams differ between devices): resume with "
                         f"device={saved_device!r}, or delete the checkpoint to start over")


def fit(model: nn.Module, data, y: torch.Tensor | None = None, config: TrainConfig = TrainConfig(),
        folder: str | Path | None = None, validation=None) -> History:
    """Train ``model`` on ``data`` (a tensor with optional labels ``y``, or a data set) and return the
    per-epoch history.

    With ``folder`` the trainer writes ``folder/checkpoint.pt`` atomically every ``checkpoint_every``
    epochs and after the last one, and a later call with the same folder resumes from it. On a NaN or
    infinite loss it raises :class:`NonFiniteLossError` before the bad gradient step, without writing a
    checkpoint. The model is left in eval mode on ``config.device``.
    """
    if len(data) == 0:
        raise ValueError("cannot train on an empty data set")
    x_check = data if isinstance(data, torch.Tensor) else getattr(data, "x", None)
    if isinstance(x_check, torch.Tensor) and hasattr(model, "input_shape"):
        from .models.networks import check_input   # fail before training on a wrongly shaped data set
        check_input(x_check, model.input_shape, name="training data")
    if config.patience is not None and validation is None:
        raise ValueError("TrainConfig.patience (early stopping) needs validation data")
    device = resolve_device(config.device)
    model.to(device)
    # Keep the whole data set on the device when it fits comfortably (MNIST is 190 MB in float32).
    train = as_dataset(data, y, config.binarize).to(device)
    val = as_dataset(validation, None, False).to(device) if validation is not None else None
    path = Path(folder) / CHECKPOINT_NAME if folder is not None else None
    with _rng_scope(device):
        return _fit(model, train, val, config, device, path)


def _fit(model, train, val, config, device, path) -> History:
    phases = model_phases(model)
    optimizers = [torch.optim.Adam(list(p.parameters), lr=config.lr, betas=config.betas,
                                   weight_decay=config.weight_decay) for p in phases]
    params = [[q for g in opt.param_groups for q in g["params"]] for opt in optimizers]
    gens = {"shuffle": torch.Generator().manual_seed(config.seed),
            "batch": torch.Generator(device=device).manual_seed(config.seed + 1)}
    torch.manual_seed(config.seed)
    history = History()
    start_epoch, step = 0, 0
    early = {"best": math.inf, "best_epoch": 0, "bad_epochs": 0, "best_state": None, "stopped": False}

    if path is not None and path.exists():
        saved = torch.load(path, map_location=device, weights_only=False)
        _check_resumable(saved, config, path, device)
        model.load_state_dict(saved["model"])
        for opt, s in zip(optimizers, saved["optimizers"]):
            opt.load_state_dict(s)
        gens["shuffle"].set_state(saved["rng"]["shuffle"].cpu())
        gens["batch"].set_state(saved["rng"]["batch"].cpu())
        torch.set_rng_state(saved["rng"]["torch"].cpu())
        if "cuda" in saved["rng"] and device.type == "cuda":
            torch.cuda.set_rng_state_all([s.cpu() for s in saved["rng"]["cuda"]])
        history = History(saved["history"])
        start_epoch, step = saved["epoch"], saved["step"]
        early = saved["early_stopping"]

    def save(epoch: int) -> None:
        state = {
            "model": model.state_dict(),
            "optimizers": [opt.state_dict() for opt in optimizers],
            "rng": {"shuffle": gens["shuffle"].get_state(), "batch": gens["batch"].get_state(),
                    "torch": torch.get_rng_state()},
            "history": dict(history), "epoch": epoch, "step": step, "early_stopping": early,
            "config": dataclasses.asdict(config), "device": device.type,
        }
        if device.type == "cuda":
            state["rng"]["cuda"] = torch.cuda.get_rng_state_all()
        atomic_torch_save(state, path)

    n = len(train)
    n_batches = n // config.batch_size if config.drop_last else math.ceil(n / config.batch_size)
    if config.max_batches_per_epoch is not None:
        n_batches = min(n_batches, config.max_batches_per_epoch)
    if n_batches == 0:
        raise ValueError(f"batch_size {config.batch_size} with drop_last leaves no batch of {n} examples")
    set_step = getattr(model, "set_step", None)

    model.train()
    epochs = tqdm(range(start_epoch, config.epochs), desc="epochs", disable=not config.progress,
                  initial=start_epoch, total=config.epochs)
    for epoch in epochs:
        if early["stopped"]:
            break
        t0 = time.perf_counter()
        order = (torch.randperm(n, generator=gens["shuffle"]) if config.shuffle
                 else torch.arange(n)).to(device)
        sums: list[dict[str, float]] = [{} for _ in phases]   # per phase: metric -> weighted sum
        seen = 0
        for b in tqdm(range(n_batches), desc=f"epoch {epoch + 1}", leave=False,
                      disable=not config.progress):
            idx = order[b * config.batch_size:(b + 1) * config.batch_size]
            xb, yb = train.batch(idx, gens["batch"])
            if set_step is not None:
                set_step(step)
            if config.lr_schedule is not None:
                # from the global step, so a resumed run uses the same rates as an uninterrupted one
                for opt in optimizers:
                    for group in opt.param_groups:
                        group["lr"] = config.lr * config.lr_schedule(step)
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
            step += 1
        # the epoch's record: batch-size-weighted means of every metric
        history.setdefault("epoch", []).append(epoch + 1)
        for key, mean in _epoch_means(phases, sums, seen).items():
            history.setdefault(key, []).append(mean)
        if val is not None:
            for key, mean in validate(model, val, config.batch_size, seed=config.seed).items():
                history.setdefault(f"val_{key}", []).append(mean)
            model.train()
            if config.patience is not None:
                current = history["val_loss"][-1]
                if current < early["best"]:
                    early.update(best=current, best_epoch=epoch + 1, bad_epochs=0,
                                 best_state=copy.deepcopy({k: v.detach().cpu() for k, v in
                                                           model.state_dict().items()}))
                else:
                    early["bad_epochs"] += 1
                    early["stopped"] = early["bad_epochs"] >= config.patience
        history.setdefault("time", []).append(time.perf_counter() - t0)
        if config.progress:
            epochs.set_postfix({k: f"{v[-1]:.4g}" for k, v in history.items()
                                if k not in ("epoch", "time")})
        last = epoch + 1 == config.epochs or early["stopped"]
        if path is not None and ((epoch + 1) % config.checkpoint_every == 0 or last):
            save(epoch + 1)
    epochs.close()
    if config.patience is not None and early["best_state"] is not None:
        model.load_state_dict(early["best_state"])     # the weights of the best validation epoch
    model.eval()
    return history


def pretrain_greedy(stack, x: torch.Tensor, config: TrainConfig = TrainConfig(), folder: str | Path | None = None
                    ) -> list[History]:
    """Greedy layer-wise pretraining of a :class:`~thesis_code.models.autoencoders.StackedAutoencoder`
    (Hinton & Salakhutdinov 2006; Bengio et al. 2007): for each layer, :func:`fit` its shallow autoencoder
    on the codes of the already-trained layers below. Returns (and keeps in ``stack.pretrain_histories``)
    one history per layer. ``folder``, if given, gets one checkpoint subfolder per layer, so an interrupted
    pretraining resumes. It lives here, not on the model, so that no model imports the trainer."""
    was_training = stack.training
    stack.pretrain_histories = []
    for i in range(len(stack.encoder_layers)):
        inputs = stack.codes_below(x, i)
        layer_folder = None if folder is None else Path(folder) / f"layer{i}"
        stack.pretrain_histories.append(fit(stack.layer_autoencoder(i), inputs, config=config, folder=layer_folder))
    stack.train(was_training)
    return stack.pretrain_histories

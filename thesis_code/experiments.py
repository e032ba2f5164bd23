"""Cached training: what every experiment notebook calls instead of writing a training loop.

    cfg = VAEConfig(latent_dim=2)
    model, history = train_cached(
        "vae-mnist", lambda: VAE(cfg), TrainConfig(epochs=run.pick(smoke=1, book=10, full=50),
                                                 binarize=True),
        x_train, run=run, model_config=cfg, data_key="mnist/train/60000")

The first call trains (with checkpoints in the experiment folder, so an interrupted build resumes) and
stores the weights and the history under ``_cache/<profile>/<name>-<key>/``; every later call with the
same settings rebuilds the model with ``build_model()`` and loads the weights, without training. The key
hashes the model class, ``model_config``, the ``TrainConfig`` (minus settings that do not change the
result: device, progress bars, checkpoint interval) and the data's identity (``data_key``, or a hash of
the tensors when it is not given), so any change of setting trains a new model.
"""
from __future__ import annotations

import dataclasses
import hashlib
import shutil
from typing import Any, Callable

import torch
from torch import nn

from .profiles import Run, resolve_device, resolve_profile
from .storage import cached, experiment_dir
from .train import History, TrainConfig, fit

# Settings that change how training runs but not what it computes.
NOT_IN_KEY = ("device", "progress", "checkpoint_every")


def data_fingerprint(x: torch.Tensor, y: torch.Tensor | None = None) -> str:
    """A content hash of the training tensors (used when no ``data_key`` is given)."""
    h = hashlib.sha256()
    for t in (x, y):
        if t is not None:
            t = t.detach().cpu().contiguous()
            h.update(f"{tuple(t.shape)}{t.dtype}".encode())
            h.update(t.view(torch.uint8).reshape(-1).numpy().tobytes()
                     if t.dtype != torch.bool else t.numpy().tobytes())
    return h.hexdigest()[:16]


def experiment_key(model: nn.Module, model_config: Any, train_config: TrainConfig, data_key: str
                   ) -> dict:
    """The dict whose hash names the experiment folder."""
    train = {k: v for k, v in dataclasses.asdict(train_config).items() if k not in NOT_IN_KEY}
    return {"model_class": type(model).__qualname__, "model": model_config, "train": train,
            "data": data_key}


def train_cached(name: str, build_model: Callable[[], nn.Module], train_config: TrainConfig,
                 x: torch.Tensor, y: torch.Tensor | None = None, *, run: Run | None = None,
                 model_config: Any = None, data_key: str | None = None
                 ) -> tuple[nn.Module, History]:
    """Train ``build_model()`` on ``(x, y)`` with :func:`train.fit`, or load it from the cache.

    name          experiment name, the first part of the cache folder's name
    build_model   a function returning a fresh, untrained model (called once, trained or loaded)
    train_config  the :class:`TrainConfig`; its ``device`` is replaced by ``run.device`` when given
    run           the notebook's :class:`profiles.Run` (profile and device); without it the profile is
                  ``$THESIS_PROFILE`` (default ``book``) and the device ``train_config.device``
    model_config  the model's config dataclass; it is part of the key, so pass it whenever the model has
                  settings (otherwise two different models built by ``build_model`` could share a key)
    data_key      a short name of the training data, e.g. ``"mnist/train/60000"``; None hashes x and y

    Returns the model in eval mode on the run's device, and its training history.
    """
    profile = run.profile if run is not None else resolve_profile("auto")
    device = run.device if run is not None else resolve_device(train_config.device)
    if run is not None:
        train_config = dataclasses.replace(train_config, device=str(device.type))
    if data_key is None:
        data_key = data_fingerprint(x, y)
    model = build_model()
    key = experiment_key(model, model_config, train_config, data_key)

    def compute(folder):
        history = fit(model, x, y, config=train_config, folder=folder / "checkpoints")
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        return {"state_dict": state, "history": dict(history)}

    result = cached(name, key, profile, compute)
    # The result is stored now; the training checkpoints are no longer needed.
    shutil.rmtree(experiment_dir(name, key, profile) / "checkpoints", ignore_errors=True)
    model.load_state_dict(result["state_dict"])
    model.to(device).eval()
    return model, History(result["history"])

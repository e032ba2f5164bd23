"""Cached training and cached evaluation: what every experiment notebook calls.

    model, history = train_cached("vae-mnist", lambda: VAE(VAEConfig(latent_dim=2)),
                                  TrainConfig(epochs=run.pick(smoke=1, book=10, full=50), binarize=True),
                                  x_train, run=run)
    nll = evaluate_cached("nll", {"k": 1000}, lambda: evaluate.test_log_likelihood(model, x, k=1000),
                          run=run, model=model)

The first call trains (with checkpoints in the experiment folder, so an interrupted build resumes) and
stores the weights and the history under ``_cache/<profile>/<name>-<key>/``; every later call with the
same settings rebuilds the model with ``build_model()`` and loads the weights, without training.

The key of a trained model hashes
* the model class and its config (``model_config``, by default ``build_model().config``);
* the :class:`TrainConfig` (minus what does not change the result: device, progress bars, checkpoint
  interval);
* the data's identity: a SHA-256 of its content (``data.fingerprint()``), never a hand-typed name;
* the source code that determines training: the trainer, objectives, likelihoods, schedules, the batch
  protocol, and the files that define the model's class and its base classes. A fixed bug in a loss
  retrains; a change in plots, prose or notebooks does not.
The returned model carries its key as ``model.cache_key``, so evaluations of it can be cached too.
"""
from __future__ import annotations

import dataclasses
import inspect
import shutil
from pathlib import Path
from typing import Any, Callable, TypeVar

import torch
from torch import nn

from .profiles import Run, resolve_device, resolve_profile
from .storage import cached, config_key, source_hash
from .train import History, TrainConfig, as_dataset, fit

T = TypeVar("T")
PACKAGE = Path(__file__).resolve().parent
# Settings that change how training runs but not what it computes.
NOT_IN_KEY = ("device", "progress", "checkpoint_every")
# The code every training depends on, besides the model's own class files.
TRAINING_SOURCES = ("train.py", "schedules.py", "objectives.py", "likelihoods.py", "data/batches.py",
                    "models/protocol.py", "models/networks.py")
EVALUATION_SOURCES = ("evaluate", "latent.py", "objectives.py", "likelihoods.py")


def _package_files(*names: str) -> list[Path]:
    files: list[Path] = []
    for name in names:
        path = PACKAGE / name
        files += sorted(path.glob("*.py")) if path.is_dir() else [path]
    return files


def _class_files(obj: Any) -> list[Path]:
    """The source files of ``type(obj)`` and its base classes that belong to this package."""
    files = []
    for cls in type(obj).__mro__:
        try:
            f = Path(inspect.getfile(cls)).resolve()
        except (TypeError, OSError):
            continue
        if PACKAGE in f.parents:
            files.append(f)
    return files


def training_code_hash(model: nn.Module) -> str:
    return source_hash(*_package_files(*TRAINING_SOURCES), *_class_files(model))


def data_fingerprint(x, y: torch.Tensor | None = None, binarize: bool = False) -> str:
    """The content hash of the training data (tensors or a data set)."""
    return as_dataset(x, y, binarize).fingerprint()


def experiment_key(model: nn.Module, model_config: Any, train_config: TrainConfig, data_id: str,
                   validation_id: str | None = None) -> dict:
    """The dict whose hash names the experiment folder."""
    train = {k: v for k, v in dataclasses.asdict(train_config).items() if k not in NOT_IN_KEY}
    key = {"model_class": type(model).__qualname__, "model": model_config, "train": train,
           "data": data_id, "code": training_code_hash(model)}
    if validation_id is not None:
        key["validation"] = validation_id
    return key


def _profile_and_device(run: Run | None, fallback_device: str = "auto"):
    profile = run.profile if run is not None else resolve_profile("auto")
    device = run.device if run is not None else resolve_device(fallback_device)
    return profile, device


def train_cached(name: str, build_model: Callable[[], nn.Module], train_config: TrainConfig,
                 data, y: torch.Tensor | None = None, *, run: Run | None = None,
                 model_config: Any = None, validation=None) -> tuple[nn.Module, History]:
    """Train ``build_model()`` on ``data`` (a tensor with labels ``y``, or a data set) with
    :func:`train.fit`, or load it from the cache.

    name          experiment name, the first part of the cache folder's name
    build_model   a function returning a fresh, untrained model (called once, trained or loaded)
    train_config  the :class:`TrainConfig`; its ``device`` is replaced by ``run.device`` when given
    run           the notebook's :class:`profiles.Run` (profile and device); without it the profile is
                  ``$THESIS_PROFILE`` (default ``book``) and the device ``train_config.device``
    model_config  the model's settings, part of the key; default ``model.config`` (a model without a
                  ``config`` attribute must be given one explicitly)
    validation    optional validation data (per-epoch ``val_`` metrics; early stopping by ``patience``)

    Returns the model in eval mode on the run's device (with ``model.cache_key``), and its history.
    """
    profile, device = _profile_and_device(run, train_config.device)
    if run is not None:
        train_config = dataclasses.replace(train_config, device=str(device.type))
    model = build_model()
    if model_config is None:
        if not hasattr(model, "config"):
            raise ValueError(f"{type(model).__name__} has no .config: pass model_config= so that two different "
                             f"models cannot share a cache entry")
        model_config = model.config
    train_data = as_dataset(data, y, train_config.binarize)
    val_id = as_dataset(validation).fingerprint() if validation is not None else None
    key = experiment_key(model, model_config, train_config, train_data.fingerprint(), val_id)

    def compute(folder):
        history = fit(model, train_data, config=dataclasses.replace(train_config, binarize=False),
                      folder=folder / "checkpoints", validation=validation)
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        return {"state_dict": state, "history": dict(history)}

    # Once the result is stored, the training checkpoints are no longer needed.
    result = cached(name, key, profile, compute,
                    after_save=lambda folder: shutil.rmtree(folder / "checkpoints", ignore_errors=True))
    model.load_state_dict(result["state_dict"])
    model.to(device).eval()
    model.cache_key = config_key(key)
    return model, History(result["history"])


def evaluate_cached(name: str, config: dict, compute: Callable[[], T], *, run: Run | None = None,
                    model: nn.Module | None = None, models: dict[str, nn.Module] | None = None) -> T:
    """The cached result of ``compute()`` (any torch-serializable object: numbers, tensors, arrays).

    The key is ``name``, ``config`` (every setting of the evaluation: K, sample sizes, seeds, data
    subset...), the ``cache_key`` of the evaluated model(s) (from :func:`train_cached`), and a hash of the
    evaluation code plus the module that defines ``compute``. Stored under the run's profile, so a
    ``smoke`` evaluation is never shown in the ``book`` build.
    """
    profile, _ = _profile_and_device(run)
    named = dict(models or {})
    if model is not None:
        named[""] = model
    keys = {}
    for label, m in named.items():
        if not hasattr(m, "cache_key"):
            raise ValueError(f"model {label or type(m).__name__} has no cache_key: train or load it with "
                             f"train_cached before caching its evaluation")
        keys[label or "model"] = m.cache_key
    files = _package_files(*EVALUATION_SOURCES)
    module = inspect.getmodule(compute)
    if module is not None and getattr(module, "__file__", None) and PACKAGE in Path(module.__file__).resolve().parents:
        files.append(Path(module.__file__))
    key = {"evaluation": name, "config": config, "models": keys, "code": source_hash(*files)}
    return cached(f"eval-{name}", key, profile, lambda folder: compute())

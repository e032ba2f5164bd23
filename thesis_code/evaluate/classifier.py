"""A small CNN classifier of 28x28 images: the feature extractor of the "Frechet classifier distance".

The Frechet Inception Distance (Heusel et al. 2017) compares Inception-v3 features of generated and real
images. Inception is trained on ImageNet photographs and is not available offline here, so the thesis
uses the same recipe with a small CNN trained in this project on MNIST or Fashion-MNIST: its penultimate
layer gives the features (:meth:`Classifier.features`), and its test accuracy, reported next to every
distance, says how much those features can be trusted.

The classifier follows the model protocol (``loss(x, y) -> (loss, metrics)``), so the shared trainer
trains and caches it like every other model: :func:`train_classifier`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..models.networks import IMAGE_SHAPE, check_input


@dataclass(frozen=True)
class ClassifierConfig:
    channels: tuple[int, int] = (16, 32)
    feature_dim: int = 128          # width of the penultimate layer = dimension of the FCD features
    n_classes: int = 10
    dropout: float = 0.25
    input_shape: tuple[int, ...] = IMAGE_SHAPE


class Classifier(nn.Module):
    """conv 3x3 -> ReLU -> max-pool (28 -> 14) -> conv 3x3 -> ReLU -> max-pool (14 -> 7) -> linear ->
    ReLU (the features) -> dropout -> linear (the class logits)."""

    def __init__(self, config: ClassifierConfig = ClassifierConfig()):
        super().__init__()
        self.config = config
        self.input_shape = tuple(config.input_shape)
        c1, c2 = config.channels
        h, w = self.input_shape[1] // 4, self.input_shape[2] // 4
        self.body = nn.Sequential(
            nn.Conv2d(self.input_shape[0], c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(c2 * h * w, config.feature_dim), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(config.feature_dim, config.n_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer activations (B, feature_dim): what the Frechet distance compares."""
        check_input(x, self.input_shape)
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (B, n_classes)."""
        return self.head(self.features(x))

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        """Cross-entropy of the labels; metrics: loss and accuracy of the batch."""
        if y is None:
            raise ValueError("the classifier is trained on labelled data: loss(x, y) needs y")
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        acc = (logits.argmax(1) == y).float().mean()
        values = torch.stack([loss.detach(), acc]).tolist()
        return loss, {"loss": values[0], "acc": values[1]}


def classifier_budget(profile: str) -> tuple[int | None, "TrainConfig"]:
    """(number of training images or None for all, TrainConfig) for an execution profile.

    smoke: 20 batches of a 2,000-image slice (seconds; the accuracy is low and says so);
    book: two epochs on the whole training set; full: ten epochs.
    """
    from ..train import TrainConfig
    return {
        "smoke": (2000, TrainConfig(epochs=1, batch_size=100, max_batches_per_epoch=20, progress=False)),
        "book": (None, TrainConfig(epochs=2, batch_size=128, progress=False)),
        "full": (None, TrainConfig(epochs=10, batch_size=128, progress=False)),
    }[profile]


def train_classifier(dataset: str = "mnist", run=None, config: ClassifierConfig = ClassifierConfig(),
                     profile: str | None = None) -> tuple[Classifier, dict]:
    """Train (or load from the cache) the classifier of ``dataset`` ("mnist" or "fashion_mnist") with the
    budget of the run's profile; returns ``(classifier in eval mode, history)``."""
    from ..data import load
    from ..experiments import train_cached
    from ..profiles import resolve_profile
    profile = run.profile if run is not None else resolve_profile(profile or "auto")
    limit, train_config = classifier_budget(profile)
    x, y = load(dataset, "train", limit=limit)
    if run is None:
        # train_cached takes the profile from $THESIS_PROFILE when no run is given; pass ours explicitly.
        from ..profiles import Run, resolve_device
        run = Run(profile=profile, device=resolve_device(train_config.device))
    return train_cached(f"classifier-{dataset}", lambda: Classifier(config), train_config, x, y, run=run)

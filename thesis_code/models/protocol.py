"""The contract between models and the trainer (ARCHITECTURE.md, "Model protocol").

Every model is an ``nn.Module`` with ``loss(x, y=None) -> (loss, metrics)``. A model trained by several
optimizers (an adversarial autoencoder, a GAN) also has ``phases() -> list[Phase]``: on every mini-batch
the trainer runs the phases in order, each one gradient step of its own Adam optimizer on its own
parameters. A model whose objective depends on the training step (KL annealing, word dropout) has
``set_step(step)``; the trainer calls it before every batch.

This module sits below both the models and the trainer, so neither imports the other to share it.
"""
from __future__ import annotations

from typing import Callable, Iterable, NamedTuple

import torch
from torch import nn


class Phase(NamedTuple):
    """One optimization step per batch: minimize ``loss_fn(x, y) -> (loss, metrics)`` over ``parameters``."""

    name: str
    parameters: Iterable[nn.Parameter]
    loss_fn: Callable[[torch.Tensor, torch.Tensor | None], tuple[torch.Tensor, dict[str, float]]]


def model_phases(model: nn.Module) -> list[Phase]:
    """The model's phases, or one phase (all parameters, ``model.loss``) for a single-objective model."""
    if hasattr(model, "phases"):
        phases = list(model.phases())
        if not phases:
            raise ValueError(f"{type(model).__name__}.phases() returned no phases")
        return phases
    return [Phase("loss", model.parameters(), model.loss)]

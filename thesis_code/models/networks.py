"""Building blocks shared by every model: input checks, MLPs and the small convolutional stacks for
28x28 images."""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

IMAGE_SHAPE = (1, 28, 28)


def check_input(x: torch.Tensor, input_shape: Sequence[int], name: str = "input") -> None:
    """Raise a ValueError naming the expected shape when ``x`` is not a batch of ``input_shape``."""
    expected = tuple(input_shape)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (B, {', '.join(map(str, expected))}), "
                        f"got {type(x).__name__}")
    if x.dim() != len(expected) + 1 or tuple(x.shape[1:]) != expected:
        raise ValueError(f"expected {name} of shape (B, {', '.join(map(str, expected))}), "
                         f"got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"expected a floating-point {name}, got dtype {x.dtype}")


def mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.ReLU,
        final_activation: nn.Module | None = None) -> nn.Sequential:
    """Linear layers of the given widths with ``activation`` between them (not after the last one)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(activation())
    if final_activation is not None:
        layers.append(final_activation)
    return nn.Sequential(*layers)


def flat_dim(shape: Sequence[int]) -> int:
    return int(math.prod(shape))


class ConvEncoder(nn.Module):
    """28x28 image -> feature vector: two stride-2 convolutions (28 -> 14 -> 7) and a linear layer."""

    def __init__(self, out_dim: int, channels: int = 32, in_channels: int = 1):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, channels, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(2 * channels * 7 * 7, out_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConvDecoder(nn.Module):
    """Feature vector -> 28x28 map of pre-activations (logits or means), the mirror of ConvEncoder."""

    def __init__(self, in_dim: int, channels: int = 32, out_channels: int = 1):
        super().__init__()
        self.channels = channels
        self.fc = nn.Sequential(nn.Linear(in_dim, 2 * channels * 7 * 7), nn.ReLU())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(2 * channels, channels, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(channels, out_channels, 4, stride=2, padding=1),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(self.fc(h).view(-1, 2 * self.channels, 7, 7))

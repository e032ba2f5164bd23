"""What the trainer consumes: a data set that hands out mini-batches by index.

Any object with these four methods is a data set for :func:`thesis_code.train.fit`:

    len(data)                       number of examples
    data.batch(idx, generator)      the examples at ``idx`` (a LongTensor on data's device) as ``(x, y)``;
                                    ``x`` is what ``model.loss(x, y)`` takes (an image tensor, a
                                    ``text.TokenBatch``, a tabular row tensor...), ``y`` labels or None.
                                    ``generator`` (a torch.Generator on data's device) drives any random
                                    batch transform, so a resumed run draws the same randomness.
    data.to(device)                 the same data set on ``device``
    data.fingerprint()              a content hash (SHA-256 hex) of the examples and of the transform:
                                    the data's identity in the experiment cache key

:class:`TensorData` wraps tensors (images and labels, tabular rows) with an optional batch transform
such as dynamic binarization; ``fit(model, x_tensor, y_tensor)`` wraps its arguments in one.
"""
from __future__ import annotations

import hashlib
from typing import Callable, Protocol, runtime_checkable

import torch

Transform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


@runtime_checkable
class Dataset(Protocol):
    def __len__(self) -> int: ...
    def batch(self, idx: torch.Tensor, generator: torch.Generator | None = None): ...
    def to(self, device) -> "Dataset": ...
    def fingerprint(self) -> str: ...


def tensor_fingerprint(*tensors: torch.Tensor | None) -> str:
    """SHA-256 of the shapes, dtypes and bytes of the given tensors (None entries are marked)."""
    h = hashlib.sha256()
    for t in tensors:
        if t is None:
            h.update(b"<none>")
            continue
        t = t.detach().cpu().contiguous()
        h.update(f"{tuple(t.shape)}{t.dtype}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def dynamic_binarization(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each pixel ~ Bernoulli(intensity), drawn anew every time the image is seen, so that a Bernoulli
    likelihood is a proper model of the data (the "dynamically binarized" MNIST of Burda et al. 2015)."""
    return torch.bernoulli(x, generator=generator)


TRANSFORMS: dict[str, Transform] = {"binarize": dynamic_binarization}


class TensorData:
    """Examples stored as one tensor ``x`` (N, ...) with optional labels ``y`` (N,).

    ``transform`` names a batch transform of :data:`TRANSFORMS` (e.g. ``"binarize"``), applied to every
    batch with the trainer's generator."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor | None = None, transform: str | None = None):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if y is not None and len(y) != len(x):
            raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
        if transform is not None and transform not in TRANSFORMS:
            raise ValueError(f"unknown batch transform {transform!r}; known: {sorted(TRANSFORMS)}")
        self.x, self.y, self.transform = x, y, transform
        self._fingerprint: str | None = None

    def __len__(self) -> int:
        return len(self.x)

    def batch(self, idx: torch.Tensor, generator: torch.Generator | None = None):
        xb = self.x[idx]
        if self.transform is not None:
            xb = TRANSFORMS[self.transform](xb, generator)
        return xb, (self.y[idx] if self.y is not None else None)

    def to(self, device) -> "TensorData":
        out = TensorData(self.x.to(device), self.y.to(device) if self.y is not None else None, self.transform)
        out._fingerprint = self._fingerprint
        return out

    @property
    def device(self) -> torch.device:
        return self.x.device

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            h = hashlib.sha256(tensor_fingerprint(self.x, self.y).encode())
            h.update(f"transform={self.transform}".encode())
            self._fingerprint = h.hexdigest()
        return self._fingerprint

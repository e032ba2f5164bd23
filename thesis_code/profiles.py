"""Execution profiles and notebook parameters.

Every experiment notebook starts with a cell tagged ``parameters`` (papermill's convention)::

    profile = "auto"   # smoke | book | full; "auto": $THESIS_PROFILE, else "book"
    device = "auto"    # auto | cpu | cuda | mps; "auto" picks cuda when present
    seed = 0

and the next cell calls :func:`start`, which validates them. ``smoke`` runs in seconds (what nbval runs
in CI), ``book`` in minutes on a 2-core CPU (what ``make book`` shows), ``full`` is the real experiment,
meant for a GPU through papermill::

    papermill book/02_vae/mnist_vae.ipynb out.ipynb -p profile full -p device cuda
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch

PROFILES = ("smoke", "book", "full")
DEVICES = ("auto", "cpu", "cuda", "mps")
ALWAYS_KNOWN = ("profile", "device", "seed")
T = TypeVar("T")


class ParameterError(ValueError):
    """An unknown profile, device or notebook parameter."""


def resolve_profile(profile: str | None = "auto") -> str:
    """``"auto"``/None means ``$THESIS_PROFILE`` if set, else ``"book"``; anything else must be a profile."""
    if profile in (None, "auto"):
        profile = os.environ.get("THESIS_PROFILE", "book") or "book"
    if profile not in PROFILES:
        raise ParameterError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    return profile


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if isinstance(device, torch.device):
        return device
    if device not in DEVICES:
        raise ParameterError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ParameterError("device='cuda' was asked for but torch sees no CUDA device")
    return torch.device(device)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class Run:
    """What a notebook knows about how it is being executed."""

    profile: str
    device: torch.device
    seed: int = 0
    params: dict[str, Any] = field(default_factory=dict)

    def pick(self, smoke: T, book: T, full: T) -> T:
        """The value for the current profile, e.g. ``epochs = run.pick(smoke=1, book=10, full=100)``."""
        return {"smoke": smoke, "book": book, "full": full}[self.profile]

    @property
    def is_smoke(self) -> bool:
        return self.profile == "smoke"


_IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}
_STARTED = "_thesis_started_with"   # where start() records the names it accepted (private: starts with _)


def _user_variables(namespace: dict[str, Any]) -> dict[str, Any]:
    import types
    return {k: v for k, v in namespace.items()
            if not k.startswith("_") and k not in _IPYTHON_NAMES
            and not isinstance(v, (types.ModuleType, types.FunctionType, type))
            and not callable(v)}


def start(namespace: dict[str, Any], *extra: str) -> Run:
    """Validate a notebook's parameters and prepare the run (seed, threads, device).

    Call it right after the ``parameters`` cell as ``run = start(globals(), "latent_dim", ...)``, naming
    the notebook's own parameters besides ``profile``, ``device`` and ``seed``. On the first run in a
    kernel the only variables defined are the parameters and whatever papermill injected, so an injected
    name that is not declared is a typo or a stale option, and is rejected rather than silently ignored.

    A second "Run All" in the same kernel finds the notebook's own variables of the first run. They are
    recognized: ``start`` records in the namespace which names existed when it accepted the parameters,
    and on a later call it accepts every name that was created after that (the notebook's variables),
    while a name that was already there and undeclared would have been rejected the first time.
    """
    known = set(ALWAYS_KNOWN) | set(extra)
    given = _user_variables(namespace)
    previous = namespace.get(_STARTED)
    if previous is not None:        # a re-run in the same kernel: names made after the last start are ours
        known |= set(given) - set(previous)
    unknown = sorted(set(given) - known)
    if unknown:
        raise ParameterError(f"unknown notebook parameter(s) {unknown}; this notebook takes {sorted(known)}")
    missing = sorted(n for n in ("profile", "device") if n not in given)
    if missing:
        raise ParameterError(f"the parameters cell must define {missing}")
    profile = resolve_profile(given["profile"])
    device = resolve_device(given["device"])
    seed = int(given.get("seed", 0))
    seed_everything(seed)
    # numpy 2 writes a scalar as "np.float64(0.5)", which myst-nb's glue cannot format as a number: print
    # scalars the numpy-1 way, so a glued numpy value reads as a plain number in the book.
    np.set_printoptions(legacy="1.25")
    if device.type == "cpu" and os.environ.get("THESIS_THREADS"):
        torch.set_num_threads(int(os.environ["THESIS_THREADS"]))
    params = {k: given[k] for k in sorted(given) if k in extra}
    namespace[_STARTED] = frozenset(given)
    return Run(profile=profile, device=device, seed=seed, params=params)

"""What every data loader shares: where converted data is cached, how a missing source is reported, and
the checksum that a loader verifies before it hands data to a model."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
FETCH_HINT = "run `make data` in the repository root"


class DataNotFoundError(FileNotFoundError):
    """The raw files of a data set are missing; the message says how to get them."""


def data_dir() -> Path:
    """Where converted data sets are cached: ``$THESIS_DATA_DIR`` or ``<repo>/data``."""
    return Path(os.environ.get("THESIS_DATA_DIR", REPO_ROOT / "data"))


def checksum(*arrays) -> str:
    """SHA-256 of the bytes of numpy arrays (or ``bytes``/``str``), in order."""
    h = hashlib.sha256()
    for a in arrays:
        if isinstance(a, str):
            a = a.encode()
        h.update(a if isinstance(a, bytes) else np.ascontiguousarray(a).tobytes())
    return h.hexdigest()

"""Atomic writes and the experiment cache.

Every file the project writes for later reuse (data caches, checkpoints, trained models, metrics) goes
through :func:`atomic_write`: the bytes land in a temporary file in the same folder, which then replaces
the target with ``os.replace``. A crash mid-write leaves the old file (or no file), never half of one.

Trained models are cached under ``$THESIS_CACHE_DIR/<profile>/<name>-<key>`` where ``key`` hashes the
complete experiment config, so rebuilding the book does not retrain and changing any setting does.
Each profile has its own folder, so what a ``smoke`` run trains never shows up in the ``book`` build.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, TypeVar

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
# Bump when a change to the package makes old cached results wrong (e.g. a fixed bug in a model).
CACHE_VERSION = 1
T = TypeVar("T")


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None]) -> Path:
    """Call ``write(file_object)`` on a temporary file, then move it onto ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    return atomic_write(path, lambda f: torch.save(obj, f))


def atomic_json_dump(obj: Any, path: str | os.PathLike) -> Path:
    return atomic_write(path, lambda f: f.write(json.dumps(obj, indent=2, sort_keys=True).encode()))


def cache_root() -> Path:
    return Path(os.environ.get("THESIS_CACHE_DIR", REPO_ROOT / "_cache"))


def _plain(obj: Any) -> Any:
    """A JSON-able, canonical form of a config (dataclasses, tuples, paths, torch dtypes...)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {"__class__": type(obj).__qualname__,
                **{f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}}
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return repr(obj)


def config_key(config: Any) -> str:
    """A short hash of the whole config: two configs share a key only if every setting is equal."""
    blob = json.dumps({"version": CACHE_VERSION, "config": _plain(config)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def experiment_dir(name: str, config: Any, profile: str) -> Path:
    """The cache folder of one experiment: ``<cache root>/<profile>/<name>-<config key>``."""
    return cache_root() / profile / f"{name}-{config_key(config)}"


def cached(name: str, config: Any, profile: str, compute: Callable[[Path], T]) -> T:
    """Return the cached result of ``compute(folder)`` for this config, computing it once.

    ``compute`` receives the experiment folder (for checkpoints, so an interrupted run resumes) and returns
    any torch-serializable object (a state dict, a history, metrics). The result is saved atomically
    together with the config it came from.
    """
    folder = experiment_dir(name, config, profile)
    result_path = folder / "result.pt"
    if result_path.exists():
        try:
            return torch.load(result_path, weights_only=False)
        except Exception as err:  # a damaged cache entry is recomputed, not trusted
            print(f"[thesis_code.storage] ignoring unreadable {result_path}: {err}")
    folder.mkdir(parents=True, exist_ok=True)
    atomic_json_dump(_plain(config), folder / "config.json")
    result = compute(folder)
    atomic_torch_save(result, result_path)
    return result

"""Atomic writes and the experiment cache.

Every file the project writes for later reuse (data caches, checkpoints, trained models, metrics) goes
through :func:`atomic_write`: the bytes land in a temporary file in the same folder, which then replaces
the target with ``os.replace``. A crash mid-write leaves the old file (or no file), never half of one.

Trained models are cached under ``$THESIS_CACHE_DIR/<profile>/<name>-<key>`` where ``key`` hashes the
complete experiment config, so rebuilding the book does not retrain and changing any setting does.
Each profile has its own folder, so what a ``smoke`` run trains never shows up in the ``book`` build.
The callers (:mod:`thesis_code.experiments`) put a hash of the source code that computes the result into
the config (:func:`source_hash`), so a fixed bug retrains while an edit of prose or plots does not.

Concurrency. nbval executes notebooks in parallel processes that may ask for the same entry. Each entry
is computed under an exclusive lock on ``<folder>/.lock`` (``fcntl.flock``): the second process waits,
then loads what the first one wrote. Results are written atomically, so a reader never sees half a file.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
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


_SOURCE_HASHES: dict[tuple[str, ...], str] = {}


def source_hash(*paths: str | os.PathLike) -> str:
    """SHA-256 (16 hex digits) of the contents of the given source files, in sorted order of their paths
    relative to the package (memoized per process: the source does not change under a running kernel)."""
    files = sorted({Path(p).resolve() for p in paths})
    key = tuple(str(f) for f in files)
    if key not in _SOURCE_HASHES:
        h = hashlib.sha256()
        for f in files:
            try:
                rel = f.relative_to(REPO_ROOT)
            except ValueError:
                rel = Path(f.name)
            h.update(str(rel).encode() + b"\0" + f.read_bytes() + b"\0")
        _SOURCE_HASHES[key] = h.hexdigest()[:16]
    return _SOURCE_HASHES[key]


@contextlib.contextmanager
def file_lock(path: str | os.PathLike):
    """An exclusive advisory lock on ``path`` (created if needed), held for the ``with`` block; other
    processes asking for the same lock wait. Released by the OS if the process dies."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _load_result(result_path: Path) -> tuple[bool, Any]:
    if result_path.exists():
        try:
            return True, torch.load(result_path, weights_only=False)
        except Exception as err:  # a damaged cache entry is recomputed, not trusted
            print(f"[thesis_code.storage] ignoring unreadable {result_path}: {err}")
    return False, None


def cached(name: str, config: Any, profile: str, compute: Callable[[Path], T],
           after_save: Callable[[Path], None] | None = None) -> T:
    """Return the cached result of ``compute(folder)`` for this config, computing it once.

    ``compute`` receives the experiment folder (for checkpoints, so an interrupted run resumes) and returns
    any torch-serializable object (a state dict, a history, metrics). The result is saved atomically
    together with the config it came from; then ``after_save(folder)`` may tidy the folder (e.g. delete
    checkpoints), still under the entry's lock, so no other process is using them.
    """
    folder = experiment_dir(name, config, profile)
    result_path = folder / "result.pt"
    found, result = _load_result(result_path)      # the common case: no lock needed to read
    if found:
        return result
    with file_lock(folder / ".lock"):
        found, result = _load_result(result_path)  # another process may have computed it meanwhile
        if found:
            return result
        folder.mkdir(parents=True, exist_ok=True)
        atomic_json_dump(_plain(config), folder / "config.json")
        result = compute(folder)
        atomic_torch_save(result, result_path)
        if after_save is not None:
            after_save(folder)
    return result

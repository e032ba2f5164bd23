"""Book numbers must not depend on the state of the cache: a chapter-2 notebook executed with an empty
cache (it trains) and again with the warm cache (it loads) glues exactly the same values."""
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "book" / "02_vae" / "2_4_network_model.ipynb"


def glued_values(nb) -> dict:
    values = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if name is not None:
                values[name] = {k: v for k, v in out.get("data", {}).items() if not k.startswith("image/")}
    return values


def execute(cache: Path) -> dict:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    env = {"THESIS_PROFILE": "smoke", "THESIS_CACHE_DIR": str(cache), "THESIS_THREADS": "1"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return glued_values(nb)


def results(cache: Path) -> dict[str, float]:
    return {str(p.relative_to(cache)): p.stat().st_mtime for p in cache.rglob("result.pt")}


def test_cold_and_warm_cache_glue_identical_values(tmp_path):
    cache = tmp_path / "cache"
    cold = execute(cache)
    trained = results(cache)
    assert trained, "the cold run trained nothing: the test would not compare a cold and a warm run"
    warm = execute(cache)
    assert results(cache) == trained            # nothing retrained, nothing rewritten
    assert len(cold) >= 5
    assert warm == cold

import os

import pytest
import torch

# The machine has 2 cores and the suite runs on 2 xdist workers: one thread each.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _isolated_caches(tmp_path, monkeypatch):
    """Every test gets its own experiment cache; the real data cache is only read."""
    monkeypatch.setenv("THESIS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("THESIS_PROFILE", raising=False)
    yield


def pytest_configure(config):
    config.addinivalue_line("markers", "build: checks a built HTML book; run after `make book-smoke`")
    config.addinivalue_line("markers", "pdf: builds and checks the PDF (slow)")
    config.addinivalue_line("markers", "browser: real Chromium / JupyterLab tests (make test-browser)")

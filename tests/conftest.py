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


@pytest.fixture(autouse=True)
def _seeded_global_rng():
    """Tests that draw from torch's global generator must not depend on which xdist worker ran what before
    them. THESIS_TEST_SEED lets one rerun the suite under other seeds to find tests that pass by luck."""
    torch.manual_seed(int(os.environ.get("THESIS_TEST_SEED", "0")))
    yield


def pytest_configure(config):
    config.addinivalue_line("markers", "build: checks a built HTML book; run after `make book-smoke`")
    config.addinivalue_line("markers", "pdf: builds and checks the PDF (slow)")
    config.addinivalue_line("markers", "browser: real Chromium / JupyterLab tests (make test-browser)")

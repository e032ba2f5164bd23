"""Executing the book interactively, as `make lab` offers it.

* JupyterLab (the pinned one in .venv) on localhost, driven in headless Chromium: open the notebook of
  section 2.4, Run All with the smoke profile, drag a slider of the latent explorer and check that the
  decoded image changes; then Run All again in the same kernel. Bounded in time; the test stops the
  server itself.
* Every notebook of the book runs top to bottom twice in one kernel (what "Run All" twice does), with the
  smoke profile.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from chromium import headless_chromium

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "book/02_vae/2_4_network_model.ipynb"
RUN_ALL_TIMEOUT = 240   # smoke: the notebook runs in < 60 s on 2 cores; the rest is slack for a busy machine

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True, scope="module")
def _selected_explicitly(request):
    # These tests run minutes of notebooks: only in `make test-browser` (pytest -m "browser ..."), not in a
    # plain `pytest tests` / test-unit run that did not ask for them.
    if "browser" not in (request.config.option.markexpr or ""):
        pytest.skip("JupyterLab and run-twice tests run in `make test-browser` (pytest -m browser)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        pytest.fail("JupyterLab is not installed in this environment: run `make lab-setup` "
                    "(pip install -e '.[lab]')")
    tmp = tmp_path_factory.mktemp("lab")
    # JupyterLab saves what it runs into the notebook file: serve a copy, never the book's own notebook
    # (the book's notebooks are committed without outputs).
    root = tmp / "root"
    (root / NOTEBOOK).parent.mkdir(parents=True)
    shutil.copy(ROOT / NOTEBOOK, root / NOTEBOOK)
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, THESIS_PROFILE="smoke", THESIS_THREADS="2", THESIS_CACHE_DIR=str(tmp / "cache"),
               JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
               PYDEVD_DISABLE_FILE_VALIDATION="1")
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False",
           "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None", "--LabApp.extension_manager=readonly",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:   # CI runs as root; Jupyter refuses that unless told
        cmd.append("--allow-root")
    log = open(tmp / "server.log", "w")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("JupyterLab did not start:\n" + (tmp / "server.log").read_text()[-3000:])
            time.sleep(0.5)
        yield {"base": base, "token": token, "log": tmp / "server.log"}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)   # the server and the kernels it started
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    # only localhost (JupyterLab) is reachable
    with headless_chromium(tmp_path_factory.mktemp("chromium-lab"), "1400,1000",
                           ("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",),
                           page_load_timeout=90) as driver:
        yield driver


def _wait(driver, condition_js: str, timeout: float, what: str, *args):
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(condition_js, *args)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)


STATE_JS = r"""
const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
if (!nb) return null;
const prompts = Array.from(nb.querySelectorAll('.jp-CodeCell .jp-InputPrompt')).map(p => p.textContent.trim());
const errors = Array.from(nb.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"], .jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]'))
  .map(e => e.textContent.slice(0, 400));
return {prompts: prompts, errors: errors};
"""

IMAGE_JS = r"""
const img = document.querySelector('.jp-OutputArea img.widget-image');
if (!img || !img.complete || !img.naturalWidth) return null;
const c = document.createElement('canvas');
c.width = img.naturalWidth; c.height = img.naturalHeight;
const ctx = c.getContext('2d');
ctx.drawImage(img, 0, 0);
return Array.from(ctx.getImageData(0, 0, c.width, c.height).data.filter((_, i) => i % 4 === 0)).join(',');
"""


def _run_all(driver, previous_counts: int = 0) -> dict:
    driver.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    deadline = time.monotonic() + RUN_ALL_TIMEOUT
    while True:
        state = driver.execute_script(STATE_JS)
        if state["errors"]:
            raise AssertionError("a cell raised an error in JupyterLab:\n" + "\n---\n".join(state["errors"]))
        numbers = [p for p in state["prompts"] if p.strip("[]: ").isdigit()]
        counts = [int(p.strip("[]: ")) for p in numbers]
        if len(numbers) == len(state["prompts"]) and min(counts) > previous_counts and "*" not in "".join(state["prompts"]):
            return {"cells": len(counts), "max_count": max(counts)}
        if time.monotonic() > deadline:
            raise AssertionError(f"Run All did not finish in {RUN_ALL_TIMEOUT} s; prompts: {state['prompts']}")
        time.sleep(1)


def test_jupyterlab_runs_the_explorer_notebook(lab, chromium):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    driver = chromium
    driver.get(f"{lab['base']}/lab/tree/{NOTEBOOK}?reset&token={lab['token']}")
    _wait(driver, "return !!(window.jupyterapp && document.querySelector('.jp-NotebookPanel .jp-Notebook .jp-CodeCell'))",
          90, "JupyterLab to open the notebook")
    _wait(driver, r"""const w = window.jupyterapp.shell.currentWidget;
        const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
        return k && k.status === 'idle';""", 90, "the kernel to start")
    first = _run_all(driver)

    # the latent explorer: a slider and the decoded image (ipywidgets 8 renders FloatSlider with noUiSlider)
    before = _wait(driver, IMAGE_JS, 60, "the explorer's image")
    handle = _wait(driver, "return document.querySelector('.jp-OutputArea .widget-slider .noUi-handle')", 30,
                   "the explorer's slider")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", handle)
    changed_js = "const v = (function(){" + IMAGE_JS + "})(); return v && v !== arguments[0] ? v : null;"
    ActionChains(driver).click_and_hold(handle).move_by_offset(60, 0).release().perform()
    try:
        after = _wait(driver, changed_js, 30, "the decoded image to change after dragging the slider", before)
    except AssertionError:
        handle.send_keys(*[Keys.ARROW_RIGHT] * 10)   # keyboard, should the drag miss the handle
        after = _wait(driver, changed_js, 30, "the decoded image to change after moving the slider", before)
    changed = sum(a != b for a, b in zip(before.split(","), after.split(",")))
    assert changed > 0
    value = driver.execute_script(
        "return document.querySelector('.jp-OutputArea .widget-slider .widget-readout').textContent")
    print(f"Run All: {first['cells']} code cells; slider z1 moved to {value}; {changed} pixels of the decoded image changed")

    # "Run All" again in the same kernel
    second = _run_all(driver, previous_counts=first["max_count"])
    assert second["cells"] == first["cells"]


# ----------------------------------------------------------------------------- every notebook, twice
def _notebooks() -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / "book").rglob("*.ipynb")
                  if ".ipynb_checkpoints" not in p.parts)


@pytest.mark.parametrize("path", _notebooks())
def test_notebook_runs_twice_in_one_kernel(path, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient
    monkeypatch.setenv("THESIS_PROFILE", "smoke")
    monkeypatch.setenv("THESIS_THREADS", os.environ.get("THESIS_THREADS", "1"))
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    nb = nbformat.read(ROOT / path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str((ROOT / path).parent)}})
    with client.setup_kernel():
        for attempt in (1, 2):
            for index, cell in enumerate(nb.cells):
                if cell.cell_type == "code":
                    client.execute_cell(cell, index)   # raises CellExecutionError on an error

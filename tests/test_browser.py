"""The book as its readers see it: real Chromium (Debian's chromium + chromium-driver, driven by selenium),
headless and with the network off.

* the live latent explorer against PyTorch, on a standalone page and in the built book: pixels read from
  the canvas after moving a slider (tests/test_export.py checks the same forward pass in node);
* every page of the built HTML book: no console error, no request leaving the book, every image loaded,
  every formula typeset by MathJax (no raw TeX left), display equations that fit the text column or
  scroll, and the explorer working. Screenshots of a few pages go to ``<build>/screenshots/``.

Network off: Chromium resolves every host name to nothing and goes through a closed proxy, and each page's
requests (DevTools performance log) must all be ``file:``/``data:``/``blob:`` URLs.
The built book is ``BUILT_HTML`` (default ``_build_smoke/_build/html``, what `make test-build` makes).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from chromium import CHROMEDRIVER, CHROMIUM, MISSING, headless_chromium
from thesis_code import export
from test_export import _toy_explorer   # a 2-D VAE whose decodes vary strongly with z

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("BUILT_HTML", ROOT / "_build_smoke" / "_build" / "html"))
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
# The canvas stores round(255 * p); PyTorch (float32) and JavaScript (float64 sums of float32 weights)
# differ by ~1e-6 before rounding, which can move a value across a rounding boundary: at most 1 grey level.
PIXEL_TOLERANCE = 1

pytestmark = pytest.mark.browser
needs_chromium = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason=MISSING)


# ----------------------------------------------------------------------------- the browser
@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    # network off: no name resolves, and anything that still tries goes to a closed port
    with headless_chromium(tmp_path_factory.mktemp("chromium-profile"), "1280,900",
                           ("--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9"),
                           page_load_timeout=60,
                           capabilities={"goog:loggingPrefs": {"browser": "ALL", "performance": "ALL"}}) as driver:
        yield driver


def _open(driver, url: str) -> None:
    driver.get_log("performance")   # drop what earlier pages logged
    driver.get_log("browser")
    driver.get(url)
    deadline = time.monotonic() + 60
    while driver.execute_script("return document.readyState") != "complete":
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not finish loading in 60 s")
        time.sleep(0.1)


def _requests(driver) -> list[str]:
    """URLs requested by the book's page (Chromium's own chrome:// pages in other targets are not the book's)."""
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent" and \
                msg["params"].get("documentURL", "").startswith(LOCAL_SCHEMES):
            urls.append(msg["params"]["request"]["url"])
    return urls


def _canvas_grey(driver, container, role: str) -> np.ndarray:
    """The red channel (= grey level) of a 28x28 canvas of the explorer, as read back by the page."""
    data = driver.execute_script(
        "const c = arguments[0].querySelector('canvas[data-role=\"' + arguments[1] + '\"]');"
        "return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data);", container, role)
    rgba = np.asarray(data, dtype=np.int64).reshape(-1, 4)
    assert (rgba[:, 0] == rgba[:, 1]).all() and (rgba[:, 3] == 255).all()
    return rgba[:, 0]


def _expected_grey(decoder, z) -> np.ndarray:
    with torch.no_grad():
        p = decoder(torch.tensor([z], dtype=torch.float32))[0].numpy()
    return np.round(np.clip(p, 0, 1) * 255).astype(np.int64)


def _check_explorer(driver, container) -> dict:
    """Move the z1 slider and the interpolation slider as a user does (pointer clicks); each time the
    canvas must change and equal PyTorch's decode of the slider values within PIXEL_TOLERANCE."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    deadline = time.monotonic() + 30
    while container.get_attribute("data-ready") != "true":
        if time.monotonic() > deadline:
            raise AssertionError("the explorer did not mount (data-ready never set): "
                                 + str(driver.get_log("browser")))
        time.sleep(0.1)
    ident = container.get_attribute("id")
    payload = json.loads(driver.execute_script(f"return document.getElementById('{ident}-data').textContent"))
    decoder = export.load_decoder(payload)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", container)
    report = {}
    for role, canvas, z_of in (
            ("z1", "decoded", lambda v: [v["z1"], v["z2"]]),
            ("t", "interpolated", lambda v: list((1 - v["t"]) * np.array(payload["digits"][0]["z"])
                                                 + v["t"] * np.array(payload["digits"][1]["z"])))):
        before = _canvas_grey(driver, container, canvas)
        slider = container.find_element(By.CSS_SELECTOR, f'input[data-role="{role}"]')
        width = slider.size["width"]
        ActionChains(driver).move_to_element_with_offset(slider, int(width * 0.35), 0).click().perform()
        values = {r: float(container.find_element(By.CSS_SELECTOR, f'input[data-role="{r}"]').get_attribute("value"))
                  for r in ("z1", "z2", "t")}
        after = _canvas_grey(driver, container, canvas)
        expected = _expected_grey(decoder, z_of(values))
        changed = int((after != before).sum())
        err = int(np.abs(after - expected).max())
        report[role] = {"values": values, "pixels_changed": changed, "max_grey_error": err}
        assert changed > 0, f"moving slider {role} did not change the {canvas} image"
        assert err <= PIXEL_TOLERANCE, f"{canvas} canvas differs from PyTorch by {err} grey levels at {values}"
    return report


@needs_chromium
def test_explorer_page_matches_pytorch_offline(browser, tmp_path):
    model, explorer = _toy_explorer()
    page = explorer.standalone_page(tmp_path / "explorer.html")
    _open(browser, page.as_uri())
    from selenium.webdriver.common.by import By
    container = browser.find_element(By.CSS_SELECTOR, ".vae-explorer")
    report = _check_explorer(browser, container)
    # the page's decoder is the model's: the slider values decoded by the model itself give the same pixels
    z = [report["z1"]["values"]["z1"], report["z1"]["values"]["z2"]]
    direct = np.round(np.clip(export.decode_mean(model, [z])[0], 0, 1) * 255).astype(np.int64)
    assert np.abs(_canvas_grey(browser, container, "decoded") - direct).max() <= PIXEL_TOLERANCE
    outside = [u for u in _requests(browser) if not u.startswith(LOCAL_SCHEMES)]
    assert not outside, f"the explorer page made requests: {outside}"
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


# ----------------------------------------------------------------------------- the built book, page by page
PAGE_CHECKS = r"""
const done = arguments[arguments.length - 1];
const typeset = (window.MathJax && MathJax.startup && MathJax.startup.promise) || Promise.resolve();
typeset.then(() => {
  const out = {};
  out.brokenImages = Array.from(document.images)
    .filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.currentSrc || img.src);
  // formulas MathJax left alone (Sphinx wraps TeX in .math elements) and TeX errors
  out.untypeset = Array.from(document.querySelectorAll('span.math, div.math'))
    .filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 80));
  out.texErrors = Array.from(document.querySelectorAll('mjx-merror')).map(e => e.textContent.slice(0, 80));
  // raw TeX in the text outside code, scripts and typeset math
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const raw = [];
  const tex = /\\(begin|frac|mathbf|boldsymbol|left|right)\b|\\\(|\\\[|\$\$/;
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const p = node.parentElement;
    if (!p || p.closest('pre, code, script, style, textarea, mjx-container, .highlight, .cell_input')) continue;
    if (tex.test(node.textContent)) raw.push(node.textContent.trim().slice(0, 80));
  }
  out.rawTex = raw;
  // display equations must fit the text column or scroll sideways
  const column = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
  const right = column.getBoundingClientRect().right;
  out.cutEquations = [];
  document.querySelectorAll('mjx-container[display="true"]').forEach(e => {
    const r = e.getBoundingClientRect();
    const overflowing = e.scrollWidth > e.clientWidth + 1;
    let scrolls = false;
    for (let a = e; a && a !== column; a = a.parentElement) {
      const ox = getComputedStyle(a).overflowX;
      if ((ox === 'auto' || ox === 'scroll') && a.getBoundingClientRect().right <= right + 1) { scrolls = true; break; }
    }
    if ((r.right > right + 1 || overflowing) && !scrolls) out.cutEquations.push(e.textContent.slice(0, 60));
  });
  out.explorers = document.querySelectorAll('.vae-explorer').length;
  done(out);
}).catch(err => done({mathjaxFailed: String(err)}));
"""


def _built_pages() -> list[Path]:
    if not HTML.is_dir():
        pytest.fail(f"no built book at {HTML}: run `make book-smoke` (or set BUILT_HTML)")
    return sorted(p for p in HTML.rglob("*.html")
                  if not p.relative_to(HTML).parts[0].startswith(("_", ".")) and p.name not in ("genindex.html", "search.html"))


SCREENSHOT_PAGES = ("book/intro.html", "book/02_vae/2_1_evidence_lower_bound.html", "book/02_vae/2_4_network_model.html",
                    "book/how_to_use.html", "book/03_latent_tasks/3_6_compression.html")


@pytest.mark.build   # runs with the other checks of the built book (make test-build)
@needs_chromium
def test_every_built_page_in_chromium(browser):
    pages = _built_pages()
    shots = HTML.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    problems, explorers = [], 0
    for page in pages:
        rel = page.relative_to(HTML).as_posix()
        _open(browser, page.as_uri())
        result = browser.execute_async_script(PAGE_CHECKS)
        outside = [u for u in _requests(browser) if not u.startswith(LOCAL_SCHEMES)]
        errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        for key, found in (("console errors", errors), ("requests leaving the book", outside),
                           ("MathJax failed", [result.get("mathjaxFailed")] if "mathjaxFailed" in result else []),
                           ("images not loaded", result.get("brokenImages", [])),
                           ("formulas not typeset", result.get("untypeset", [])),
                           ("TeX errors", result.get("texErrors", [])),
                           ("raw TeX on the page", result.get("rawTex", [])),
                           ("equations cut off", result.get("cutEquations", []))):
            if found:
                problems.append(f"{rel}: {key}: {found[:3]}")
        if result.get("explorers"):
            from selenium.webdriver.common.by import By
            for container in browser.find_elements(By.CSS_SELECTOR, ".vae-explorer"):
                try:
                    _check_explorer(browser, container)
                    explorers += 1
                    container.screenshot(str(shots / f"explorer-{explorers}.png"))
                except AssertionError as e:
                    problems.append(f"{rel}: explorer: {e}")
        if rel in SCREENSHOT_PAGES:
            browser.save_screenshot(str(shots / (rel.replace("/", "__").replace(".html", ".png"))))
    assert not problems, f"{len(problems)} problems in {len(pages)} pages:\n" + "\n".join(problems)
    assert explorers >= 1, "no page of the built book has the live latent explorer (.vae-explorer)"

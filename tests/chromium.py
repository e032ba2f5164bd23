"""Headless Debian Chromium for the browser tests (tests/test_browser.py, tests/test_lab.py): one set of
start-up flags, so both drive the same browser the same way."""
from __future__ import annotations

import contextlib
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
MISSING = ("Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver; "
           ".ci/run installs them)")


@contextlib.contextmanager
def headless_chromium(user_data_dir, window: str, network: tuple[str, ...], page_load_timeout: int,
                      capabilities: dict | None = None):
    """A selenium driver of headless Chromium with a fresh profile in ``user_data_dir``; ``network`` holds
    the flags that decide what the page may reach. Skips the test when Chromium is not installed."""
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip(MISSING)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={window}", "--no-first-run", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                *network, f"--user-data-dir={user_data_dir}"):
        opts.add_argument(arg)
    for key, value in (capabilities or {}).items():
        opts.set_capability(key, value)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(page_load_timeout)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()

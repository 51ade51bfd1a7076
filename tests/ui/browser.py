"""Headless Chromium for the web view's tests, driven by selenium through Debian's chromedriver.

The browser may reach 127.0.0.1 only: every other host name resolves to nothing
(--host-resolver-rules), and the background traffic Chromium makes on its own (component
updates, safe browsing, metrics, translation, DNS prefetch, field trials) is switched off.
Selenium is given both binaries, so its driver manager never looks anything up (SE_OFFLINE).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT = 30.0
# How the tests wait for a page (tests.support.wait): every 0.1 s, and any error of a probe
# (a stale element between two renders, say) is a "look again", reported if time runs out.
PAGE_POLL, STALE = 0.1, (Exception,)
OFFLINE_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps",
    "--disable-extensions", "--disable-domain-reliability", "--no-pings",
    "--disable-client-side-phishing-detection", "--metrics-recording-only",
    "--disable-breakpad", "--disable-crash-reporter", "--dns-prefetch-disable",
    "--disable-field-trial-config", "--safebrowsing-disable-auto-update",
    "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication,"
    "CertificateTransparencyComponentUpdater,InterestFeedContentSuggestions,"
    "NetworkTimeServiceQuerying,DialMediaRouteProvider",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--proxy-server=direct://", "--proxy-bypass-list=*",
)


def available() -> bool:
    return bool(shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER))


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 800, dark: bool = False) -> Iterator[Any]:
    """A headless Chromium (selenium WebDriver) in a fresh profile, closed afterwards."""
    if not available():
        pytest.fail(f"{CHROMIUM} and {CHROMEDRIVER} are needed (make system-deps installs "
                    "Debian's chromium and chromium-driver)")
    os.environ["SE_OFFLINE"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="km-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in OFFLINE_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        options.add_argument(f"--window-size={width},{height}")
        if dark:
            options.add_argument("--force-dark-mode")
            options.add_argument("--blink-settings=preferredColorScheme=0")
        options.accept_insecure_certs = True  # the test cluster's own CA
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(executable_path=CHROMEDRIVER, log_output=os.devnull)
        driver = webdriver.Chrome(options=options, service=service)
        driver.set_page_load_timeout(WAIT)
        try:
            yield driver
        finally:
            driver.quit()


def console_errors(driver: Any) -> list[str]:
    """The page's console errors (uncaught exceptions, failed module imports)."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def screenshot(driver: Any, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    return path

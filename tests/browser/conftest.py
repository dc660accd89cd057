"""One headless Chromium per test session, driven by Selenium through Debian's chromedriver.

The browser is the machine's (`apt-get install chromium chromium-driver`), never a download:
without it the browser tests are skipped, saying why, unless ``HEDGEBOT_REQUIRE_BROWSER=1``
(CI sets it), which makes them fail instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARGUMENTS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,2400",
)


@pytest.fixture(scope="session")
def browser() -> Iterator[WebDriver]:
    """Return the session's headless Chromium (skipped, or failed when required, without it)."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        why = f"{' and '.join(missing)} not found: apt-get install chromium chromium-driver"
        if os.environ.get("HEDGEBOT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{why} (HEDGEBOT_REQUIRE_BROWSER=1)")
        pytest.skip(why)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ARGUMENTS:
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()

"""The status page in a real headless Chromium, served by `hedgebot run --http` on the emulator.

The bot runs the live path (ccxt → the Binance emulator, from a thread) in-process, bound to
0.0.0.0 with a token; beside it the test reads the API without and with the token, logs the
browser in through the form, and reads the page as a person would see it. After the bot stops,
`hedgebot status` on the same journal must print the very numbers the page showed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By

from tests.cli_inprocess import run_cli
from tests.emulator_process import emulator_thread, free_port

REPO = Path(__file__).resolve().parents[2]
KEYS = {"HEDGEBOT_API_KEY": "page-key", "HEDGEBOT_API_SECRET": "page-secret-do-not-print"}
TOKEN = "browser-token-of-the-test-0123456"
CONFIG = "config/emulator.toml"
LEG_FIELDS = ("hedge_ratio", "liquidation_price", "short_notional", "target_notional", "margin")
CHARTS = ("chart-portfolio", "chart-ratio", "chart-costs")


@pytest.fixture()
def emulator(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """The emulator from a thread, and `config/emulator.toml` on it (BTC, ETH; no streams)."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("HEDGEBOT_")}, **KEYS}
    with emulator_thread(["BTC", "ETH"], env) as port:
        shutil.copytree(REPO / "config", tmp_path / "config")
        config = tmp_path / CONFIG
        config.write_text(
            config.read_text()
            .replace("127.0.0.1:8765", f"127.0.0.1:{port}")
            .replace('perps = ["BTC", "ETH", "ADA", "XRP", "LTC"]', 'perps = ["BTC", "ETH"]')
            .replace("streams = true", "streams = false")  # cycles only on the interval
        )
        yield tmp_path, {**env, "HEDGEBOT_HTTP_TOKEN": TOKEN}


def get(url: str, token: str | None = None) -> tuple[int, str]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wait_for(what: str, check: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Return ``check()``'s first truthy answer (a refused connection, a page still loading or
    an element of the page before count as none)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            answer = check()
        except (OSError, WebDriverException):
            answer = None
        if answer:
            return answer
        time.sleep(0.05)
    raise TimeoutError(f"waited {timeout:.0f} s for {what}")


def read_page(browser: WebDriver) -> dict[str, Any]:
    """Return what the page shows: legs' cells, carry cost, charts' plotted points, events."""
    legs = {}
    for row in browser.find_elements(By.CSS_SELECTOR, "#legs tbody tr"):
        cells = {
            td.get_attribute("data-field"): td.text for td in row.find_elements(By.TAG_NAME, "td")
        }
        legs[cells["symbol"]] = cells
    carry = {
        span.get_attribute("data-field"): span.text
        for span in browser.find_elements(By.CSS_SELECTOR, "#carry [data-field]")
    }
    charts = {
        chart: [
            (
                path.get_attribute("data-name"),
                int(path.get_attribute("data-points") or 0),
                path.get_attribute("d"),
            )
            for path in browser.find_elements(By.CSS_SELECTOR, f"#{chart} path.series")
        ]
        for chart in CHARTS
    }
    return {
        "state": browser.find_element(By.ID, "state").text,
        "legs": legs,
        "carry": carry,
        "charts": charts,
        "events": len(browser.find_elements(By.CSS_SELECTOR, "#events li")),
    }


def text_of(browser: WebDriver, selector: str) -> str:
    return str(browser.find_element(By.CSS_SELECTOR, selector).text)


def log_in_and_read(browser: WebDriver, base: str) -> dict[str, Any]:
    """Open the page (sent to the login form), log in with the token, read the page."""
    browser.delete_all_cookies()
    browser.get(f"{base}/")
    assert browser.current_url == f"{base}/login"
    browser.find_element(By.ID, "token").send_keys("not-the-token")
    browser.find_element(By.CSS_SELECTOR, "form button").click()
    wait_for("the refusal", lambda: "wrong token" in text_of(browser, ".error"))
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.CSS_SELECTOR, "form button").click()
    wait_for("the page", lambda: browser.find_element(By.CSS_SELECTOR, "body[data-loaded]"))
    assert browser.current_url == f"{base}/"
    seen = read_page(browser)
    seen["cookies"] = browser.get_cookies()
    return seen


def status_figures(printed: str) -> tuple[dict[str, list[str]], list[str]]:
    """Return `hedgebot status`'s leg rows (by leg) and its carry line's four figures."""
    rows = {}
    for line in printed.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if cells[0] in ("BTC/USDT:USDT", "ETH/USDT:USDT"):
            rows[cells[0]] = cells
    carry = re.search(
        r"carry cost\s+(\S+) \((.+?)/yr of (\S+) protected\); hedge net (\S+)", printed
    )
    assert carry is not None, printed
    return rows, list(carry.groups())


def number(text: str) -> Decimal:
    return Decimal(text.replace(",", "").removesuffix("%"))


def test_the_running_bots_page_shows_what_hedgebot_status_prints(
    browser: WebDriver, emulator: tuple[Path, dict[str, str]], capfd: pytest.CaptureFixture[str]
) -> None:
    cwd, env = emulator
    placed = run_cli(["rebalance", "--yes", "--config", CONFIG], capfd, cwd=cwd, env=env)
    assert placed.returncode == 0, placed.stderr
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    seen: dict[str, Any] = {}

    def visit() -> None:  # beside the bot, as a person and a script would; then SIGINT stops it
        try:
            series = wait_for(  # the run's own cycle journaled: two cycles to draw
                "the bot's first cycle",
                lambda: len(json.loads(get(f"{base}/api/snapshots", TOKEN)[1])["portfolio"]) == 2,
            )
            assert series
            seen["anonymous"] = get(f"{base}/api/status")
            seen["wrong"] = get(f"{base}/api/status", "not-the-token")
            seen["bearer"] = get(f"{base}/api/status", TOKEN)
            seen["page"] = log_in_and_read(browser, base)
        except BaseException as error:
            seen["error"] = error
        finally:
            os.kill(os.getpid(), signal.SIGINT)

    visitor = threading.Thread(target=visit, name="test-server-browser", daemon=True)
    visitor.start()
    run = run_cli(["run", "--config", CONFIG, "--http", f"0.0.0.0:{port}"], capfd, cwd=cwd, env=env)
    visitor.join(30)
    assert "error" not in seen, seen.get("error")
    assert run.returncode == 0, run.stderr
    assert f"status page on http://0.0.0.0:{port}/" in run.stdout
    assert TOKEN not in run.stdout + run.stderr

    assert seen["anonymous"][0] == 401 and seen["wrong"][0] == 401
    assert seen["bearer"][0] == 200
    api = json.loads(seen["bearer"][1])
    assert api["state"]["running"] is True

    page = seen["page"]
    assert page["state"] == "running"
    cookie = next(c for c in page["cookies"] if c["name"] == "hedgebot_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert TOKEN not in cookie["value"]

    printed = run_cli(["status", "--config", CONFIG], capfd, cwd=cwd, env=env)
    assert printed.returncode == 0, printed.stderr
    rows, carry = status_figures(printed.stdout)
    assert sorted(page["legs"]) == sorted(rows) == ["BTC/USDT:USDT", "ETH/USDT:USDT"]
    for symbol, cells in page["legs"].items():
        row = rows[symbol]
        assert [cells[f] for f in ("hedge_ratio", "liquidation_price")] == [row[5], row[6]]
        assert number(cells["hedge_ratio"]) == number(row[5])  # to the tenth of a percent
        assert number(cells["liquidation_price"]) == number(row[6])  # to the cent and beyond
        assert number(cells["short_notional"]) == number(row[3]) > 0
    assert [page["carry"][f] for f in ("carry_cost", "per_year", "protected", "net")] == carry
    assert number(page["carry"]["carry_cost"]) == number(carry[0]) > 0  # the fees paid

    for chart, paths in page["charts"].items():
        assert paths, f"{chart} drew nothing"
        for name, points, d in paths:
            assert points == 2, (chart, name, points)
            assert len(re.findall(r"[ML][\d.]+ [\d.]+", d)) == points

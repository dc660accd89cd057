"""`hedgebot run --http`: a paper run serves /healthz and /metrics while it runs (in-process)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.cli_inprocess import run_cli
from tests.emulator_process import emulator_thread
from tests.tiny_config import TINY_JOURNAL, tiny_config

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str, token: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_a_paper_run_serves_health_and_metrics_until_stopped(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "tiny.toml").write_text(tiny_config(journal=TINY_JOURNAL), encoding="utf-8")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    token = "a-token-of-the-test-0123"
    seen: dict[str, tuple[int, str]] = {}

    def scrape() -> None:  # from beside the bot, as Prometheus would; then SIGINT stops it
        for _ in range(200):
            try:
                seen["healthz"] = get(f"{base}/healthz", token)
            except OSError:
                seen["healthz"] = (0, "")
            if seen["healthz"][0] == 200:
                break
            threading.Event().wait(0.02)
        seen["metrics"] = get(f"{base}/metrics", token)
        seen["anonymous"] = get(f"{base}/metrics", "")
        os.kill(os.getpid(), signal.SIGINT)

    scraper = threading.Thread(target=scrape, name="test-server-scraper", daemon=True)
    scraper.start()
    env = {**os.environ, "HEDGEBOT_HTTP_TOKEN": token}
    argv = ["run", "-c", "tiny.toml", "--http", f"0.0.0.0:{port}", "--speed", "14400"]
    result = run_cli([*argv, "--max-cycles", "5", "-q"], capfd, cwd=tmp_path, env=env)
    scraper.join(5)

    assert result.returncode == 0, result.stderr
    assert f"metrics on http://0.0.0.0:{port}/metrics" in result.stdout
    assert token not in result.stdout + result.stderr
    assert seen["healthz"] == (200, seen["healthz"][1])
    assert seen["healthz"][1].startswith("ok: last successful cycle")
    assert seen["anonymous"][0] == 401
    status, text = seen["metrics"]
    assert status == 200
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {
        "hedgebot_hedge_ratio",
        "hedgebot_hedge_target_ratio",
        "hedgebot_liquidation_distance_ratio",
        "hedgebot_equity_usdt",
        "hedgebot_free_collateral_usdt",
        "hedgebot_orders",
        "hedgebot_cycle_duration_seconds",
        "hedgebot_last_successful_cycle_timestamp_seconds",
        "hedgebot_fees_usdt",
        "hedgebot_funding_net_usdt",
    } <= names


@pytest.mark.slow
def test_healthz_turns_unhealthy_when_the_exchange_stops_answering_for_two_intervals(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The live path on the emulator at a 2 s interval: healthy while it answers; once it is
    stopped, every cycle fails, and /healthz says 503 after 2 intervals without a success."""
    keys = {"HEDGEBOT_API_KEY": "health-key", "HEDGEBOT_API_SECRET": "health-secret"}
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("HEDGEBOT_")}, **keys}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    seen: dict[str, tuple[int, str]] = {}
    with contextlib.ExitStack() as exchange:
        emulator_port = exchange.enter_context(emulator_thread(["BTC", "ETH"], env))
        config = (REPO / "config" / "emulator.toml").read_text()
        (tmp_path / "live.toml").write_text(
            config.replace('interval = "4h"', 'interval = "2s"')
            .replace("127.0.0.1:8765", f"127.0.0.1:{emulator_port}")
            .replace('perps = ["BTC", "ETH", "ADA", "XRP", "LTC"]', 'perps = ["BTC", "ETH"]')
            .replace("streams = true", "streams = false"),
            encoding="utf-8",
        )

        def watch() -> None:  # beside the bot, as a health check would; then SIGINT stops it
            try:
                seen["up"] = until(lambda: get(f"{base}/healthz", ""), 200)
                exchange.close()  # the exchange stops answering
                stopped = time.monotonic()
                seen["down"] = until(lambda: get(f"{base}/healthz", ""), 503)
                seen["after"] = (int(time.monotonic() - stopped), "")
            finally:
                os.kill(os.getpid(), signal.SIGINT)

        watcher = threading.Thread(target=watch, name="test-health-check", daemon=True)
        watcher.start()
        result = run_cli(
            ["run", "-c", "live.toml", "--http", f"127.0.0.1:{port}", "-q"],
            capfd,
            cwd=tmp_path,
            env=env,
        )
        watcher.join(10)
    assert result.returncode == 0, result.stderr
    assert seen["up"][1].startswith("ok: last successful cycle")
    status, reason = seen["down"]
    assert status == 503 and "(limit 4 s)" in reason, reason
    assert seen["after"][0] >= 2  # not before the limit could pass


def until(
    ask: Callable[[], tuple[int, str]], status: int, timeout: float = 30.0
) -> tuple[int, str]:
    """Ask until the answer has ``status``; return it (a refused connection counts as none)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            answer = ask()
        except OSError:
            answer = (0, "")
        if answer[0] == status:
            return answer
        time.sleep(0.1)
    raise TimeoutError(f"no {status} within {timeout:.0f} s")

"""`hedgebot run --http`: a paper run serves /healthz and /metrics while it runs (in-process)."""

from __future__ import annotations

import os
import signal
import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.cli_inprocess import run_cli
from tests.tiny_config import TINY_JOURNAL, tiny_config


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

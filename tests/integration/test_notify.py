"""Alerts through real apprise to a local aiohttp receiver (apprise's ``json://`` target).

The receiver runs on its own loop in a thread, so the bot's loop (or `main`'s ``asyncio.run``)
is the one under test. A "blocked" receiver holds each request until the test ends.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.cli.commands.run import alerting
from bot.cli.main import main
from bot.core.errors import AuthError
from bot.journal.records import PositionSnapshot
from bot.journal.store import Journal
from bot.notify.notifier import tell_new
from bot.notify.watch import JournalWatch
from bot.runtime.logs import MaskingFormatter
from bot.settings import secrets
from bot.settings.config import parse_config
from bot.settings.secrets import NOTIFY_ENV

TOKEN = "hookTOKEN9f8e7d6c5b4a"
VENUE = "binanceusdm:main"
NOON = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class Receiver:
    port: int
    got: list[dict[str, Any]] = field(default_factory=list)
    block: bool = False
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, level: str = "") -> str:
        return f"{level}json://127.0.0.1:{self.port}/alerts/{TOKEN}"

    def titles(self) -> list[str]:
        return [m["title"] for m in self.got]


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    monkeypatch.setattr(secrets, "_known", set())
    loop = asyncio.new_event_loop()
    box: list[Receiver] = []

    async def hook(request: web.Request) -> web.Response:
        if box[0].block:
            await loop.run_in_executor(None, box[0].release.wait, 5)
        box[0].got.append(await request.json())
        return web.json_response({})

    async def start() -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/alerts/{token}", hook)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        box.append(Receiver(runner.addresses[0][1]))
        return runner

    runner = loop.run_until_complete(start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield box[0]
    box[0].release.set()
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


class Lines(logging.Handler):
    """Every log line, masked as the bot's own handler masks it (apprise's lines too)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(MaskingFormatter("%(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def config(**notify: Any) -> Any:
    return parse_config({"paper": {"holdings": {"BTC": 1}}, "notify": notify})


def journal_with_a_leg(path: Path) -> Journal:
    journal = Journal.open(f"sqlite:///{path / 'j.sqlite'}")
    journal.record_snapshots(
        [
            PositionSnapshot(
                NOON,
                VENUE,
                "BTC/USDT:USDT",
                Decimal("-0.4"),
                Decimal(60000),
                Decimal(60000),
                Decimal(12000),
                2,
                Decimal(90000),
                Decimal(24000),
                Decimal(60000),
            )
        ]
    )
    return journal


async def test_liquidation_cut_auth_failure_and_digest_arrive_once_each(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(NOTIFY_ENV, receiver.url("info="))
    journal = journal_with_a_leg(tmp_path)
    with pytest.raises(AuthError):
        async with alerting(config(digest_hour=8)) as notifier:
            assert notifier is not None
            watch = JournalWatch(journal, VENUE, 3, 8, now=lambda: NOON)
            watch.prime()
            journal.record_event(
                "liquidation",
                NOON,
                "BTC/USDT:USDT: position -0.4 → 0 contracts, liquidated",
                {
                    "symbol": "BTC/USDT:USDT",
                    "before": "-0.4",
                    "after": "0",
                    "forced": "liquidation",
                },
                venue=VENUE,
            )
            journal.record_event(
                "margin_guard",
                NOON,
                "BTC/USDT:USDT: 7% from liquidation and no collateral to add",
                {
                    "symbol": "BTC/USDT:USDT",
                    "action": "cut",
                    "contracts": "0.1",
                    "distance": "0.07",
                    "mark": "84000",
                    "liquidation_price": "90000",
                    "outcome": "cut 0.1 contracts",
                    "rebalance_id": "r7",
                },
                venue=VENUE,
            )
            tell_new(notifier, watch)
            tell_new(notifier, watch)  # nothing new: nothing sent again
            raise AuthError("binanceusdm: Invalid API-key, IP, or permissions for action")
    journal.close()

    titles = sorted(receiver.titles())
    assert titles == sorted(
        [
            "LIQUIDATION on BTC/USDT:USDT",
            "margin guard cut the hedge on BTC/USDT:USDT",
            "hedgebot stopped on paper:main: the exchange refused the API keys",
            f"hedgebot daily digest 2026-03-01 — {VENUE}",
        ]
    )
    by_title = {m["title"]: m for m in receiver.got}
    liquidation = by_title["LIQUIDATION on BTC/USDT:USDT"]
    assert "position -0.4 → 0 contracts, liquidated" in liquidation["message"]
    cut = by_title["margin guard cut the hedge on BTC/USDT:USDT"]
    assert "7.0%" in cut["message"] and "90,000" in cut["message"] and cut["type"] == "failure"
    digest = by_title[f"hedgebot daily digest 2026-03-01 — {VENUE}"]["message"]
    assert "BTC/USDT:USDT: hedge 40.0% vs target 40.0%, liquidation 50.0% away" in digest
    assert "funding received 0.00, paid 0.00" in digest


async def test_a_blocked_receiver_never_holds_the_cycle(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    receiver.block = True
    monkeypatch.setenv(NOTIFY_ENV, receiver.url())
    handler = Lines()
    root = logging.getLogger()
    root.addHandler(handler)
    journal = journal_with_a_leg(tmp_path)
    try:
        async with alerting(config(timeout="1s")) as notifier:
            assert notifier is not None
            notifier.timeout = 0.3
            watch = JournalWatch(journal, VENUE, 3, None)
            watch.prime()
            journal.record_event("adl", NOON, "BTC: -0.4 → -0.1", {"symbol": "B"}, venue=VENUE)
            started = time.monotonic()
            tell_new(notifier, watch)  # what the run command does after each cycle
            assert time.monotonic() - started < 0.2  # the cycle goes on at once
            assert notifier.pending == 1 and not notifier.sent
            await notifier.drain(2)
            assert time.monotonic() - started < 1.5  # bounded by the send timeout
            assert notifier.pending == 1 and not notifier.sent  # waiting for its retry
    finally:
        root.removeHandler(handler)
        journal.close()
    said = "\n".join(handler.lines)
    assert "notify target #1 json did not take 'ADL on B' (no answer in 0.3 s)" in said
    assert TOKEN not in said


def test_notify_test_sends_one_message_to_each_target(
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(NOTIFY_ENV, f"{receiver.url()} error={receiver.url()}")
    monkeypatch.chdir(tmp_path)
    Path("tiny.toml").write_text('[paper.holdings]\nBTC = 1\n[notify]\ntimeout = "5s"\n')
    assert main(["notify", "--test", "-c", "tiny.toml"]) == 0
    out, err = capsys.readouterr()
    assert "notify target #1 json: sent" in out and "notify target #2 json: sent" in out
    assert receiver.titles() == ["hedgebot test message (paper:main)"] * 2
    assert TOKEN not in out + err

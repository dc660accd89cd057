"""Streams wake the bot between intervals: an ADL close is corrected within seconds, on Binance
and Bybit, with the real ccxt.pro clients against the emulator and an hour's interval."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path

import pytest

from bot.emulator.squeeze import squeeze
from tests.live.streams_rig import BTC, StreamRig, running

DEADLINE = 5.0


@pytest.mark.parametrize("exchange", ["binanceusdm", "bybit"])
async def test_an_adl_close_is_corrected_from_the_stream_within_seconds(
    tmp_path: Path, exchange: str
) -> None:
    async with running(tmp_path, exchange) as rig:
        assert rig.hedged() and len(rig.reports) == 1
        before = rig.contracts()
        price = rig.emulator.account.mark_price(BTC)

        start = time.monotonic()
        rig.emulator.account.auto_deleverage(BTC, fraction=Decimal("0.5"), price=price)
        assert not rig.hedged()
        await rig.until(rig.hedged, DEADLINE)
        elapsed = time.monotonic() - start
        await rig.until(lambda: len(rig.reports) == 2, DEADLINE)  # the corrective cycle ends

        assert elapsed < DEADLINE
        assert abs(rig.contracts() - before) <= Decimal("0.05") * abs(before)
        assert rig.reactor is not None and rig.reactor.wakes == 1
        await rig.stop()
        assert len(rig.reports) == 2  # the hour's interval never came
        rig.journal_matches_exchange()
        forced = [getattr(f, "forced", "n/a") for f in rig.journal.fills()]
        if "n/a" not in forced:  # the journal tells forced closes apart: this one was ADL
            assert [str(kind) for kind in forced if kind is not None] == ["adl"]


def distance(rig: StreamRig) -> Decimal:
    """Return BTC's distance from mark to liquidation on the exchange now."""
    account = rig.emulator.account
    liquidation = account.sim.liquidation_price(BTC)
    mark = account.mark_price(BTC)
    assert liquidation is not None
    return (liquidation - mark) / mark


@pytest.mark.slow
@pytest.mark.parametrize("streams", [True, False], ids=["streams", "rest-only"])
async def test_a_squeeze_is_met_by_a_top_up_only_with_streams(
    tmp_path: Path, streams: bool
) -> None:
    async with running(tmp_path, streams=streams) as rig:
        critical = rig.config.risk.liquidation_critical
        assert distance(rig) > rig.config.risk.liquidation_warning
        closest = distance(rig)

        async def watch() -> None:
            nonlocal closest
            while True:
                closest = min(closest, distance(rig))
                await asyncio.sleep(0.01)

        watcher = asyncio.ensure_future(watch())
        try:
            await squeeze(rig.emulator.account, BTC, steps=10, seconds=5.0, reach=Decimal("0.96"))
        finally:
            watcher.cancel()
        topped = rig.journal.events(kind="margin_guard")

        if streams:
            assert topped, "no top-up during the squeeze"
            assert closest >= critical
            assert distance(rig) >= critical
        else:
            assert topped == []  # the interval's cycle would come after the squeeze
            assert distance(rig) < critical
            assert len(rig.reports) == 1
        await rig.stop()
        rig.journal_matches_exchange()

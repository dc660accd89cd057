"""Stream faults lose nothing: a dropped socket, a stale stream and an expired listen key are
each noticed, polled over and resubscribed, and an ADL close during or after the fault is still
corrected with every fill journaled once (real ccxt.pro clients against the emulator)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.emulator.streams.binance import BinanceStreams
from bot.venue.streams import Streams
from tests.live.streams_rig import BTC, StreamRig, running

DEADLINE = 5.0


async def deleverage(rig: StreamRig) -> None:
    """Take half the BTC short away (ADL) and wait until the bot has put it back."""
    price = rig.emulator.account.mark_price(BTC)
    rig.emulator.account.auto_deleverage(BTC, fraction=Decimal("0.5"), price=price)
    assert not rig.hedged()
    await rig.until(rig.hedged, DEADLINE)


async def back_up(rig: StreamRig) -> None:
    """Wait until the streams are delivering again."""
    assert rig.reactor is not None and rig.streams is not None
    reactor = rig.reactor
    await rig.until(lambda: reactor.streams_up, 10.0)
    await rig.quiet()


@pytest.mark.slow
@pytest.mark.parametrize("exchange", ["binanceusdm", "bybit"])
async def test_a_dropped_socket_is_resubscribed_and_nothing_is_missed(
    tmp_path: Path, exchange: str
) -> None:
    async with running(tmp_path, exchange) as rig:
        assert rig.streams is not None
        assert await rig.emulator.hub.drop_sockets() > 0
        await rig.until(lambda: rig.streams is not None and rig.streams.failures == 1)
        await back_up(rig)
        await deleverage(rig)
        await rig.stop()
        rig.journal_matches_exchange()


def quick_silence(streams: Streams) -> None:
    streams.silence_seconds = 1.5


@pytest.mark.slow
async def test_a_stale_stream_is_noticed_and_rest_catches_what_it_hid(tmp_path: Path) -> None:
    async with running(tmp_path, tune=quick_silence) as rig:
        rig.emulator.hub.stale = True
        await deleverage(rig)  # hidden by the stream: its silence brings the poll that sees it
        assert rig.streams is not None and rig.streams.failures >= 1
        rig.emulator.hub.stale = False
        await back_up(rig)
        await rig.stop()
        rig.journal_matches_exchange()


def quick_keepalive(streams: Streams) -> None:
    streams.keepalive_seconds = 0.5


@pytest.mark.slow
async def test_an_expired_listen_key_is_replaced(tmp_path: Path) -> None:
    async with running(tmp_path, tune=quick_keepalive) as rig:
        faces = rig.emulator.streams
        assert isinstance(faces, BinanceStreams) and rig.streams is not None
        old = await faces.expire_listen_key()
        await rig.until(lambda: rig.streams is not None and rig.streams.failures >= 1)
        await back_up(rig)
        assert faces.listen_keys.valid(rig.streams.client.options["linear"]["listenKey"])
        assert rig.streams.client.options["linear"]["listenKey"] != old
        await deleverage(rig)
        await rig.stop()
        rig.journal_matches_exchange()

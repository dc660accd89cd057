"""Every fill and payment journaled once under the exchange's own identity, joinable and readable.

Real ccxt clients against the emulators: Binance numbers trades per symbol (two symbols' fills
share ids), marks liquidations only in its forced-orders list (its trade list carries no client
id), and gives funding without rate or position; Bybit marks liquidations ``BustTrade``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from bot.core.clock import to_ms
from bot.core.domain import Fill, ForcedClose, Side
from bot.market.series import Bar, BarSeries, MarketData
from bot.venue.capabilities import BYBIT
from bot.venue.ccxt_venue import CcxtVenue
from tests.emulator_clients import make_bybit_client
from tests.live.conftest import KEY, SECRET, LiveRig, close_rig, open_rig

LEGS = ("ADA/USDT:USDT", "BTC/USDT:USDT", "ETH/USDT:USDT")
ETH = "ETH/USDT:USDT"
FORCED = ("GET", "/fapi/v1/forceOrders")
HOURS_4 = 4 * 3600
CENT = Decimal("0.01")


@pytest.fixture
def live_journal_url(journal_url: str) -> str:
    """Every test here runs on each journal backend: SQLite and PostgreSQL."""
    return journal_url


@pytest.fixture
async def bybit_rig(tmp_path: Path, live_journal_url: str) -> AsyncIterator[LiveRig]:
    opened = await open_rig(tmp_path, live_journal_url, exchange="bybit")
    yield opened
    await close_rig(opened)


def spike(data: MarketData, asset: str, after_ms: int, factor: Decimal) -> None:
    """Multiply ``asset``'s perp and mark candles opening at or after ``after_ms`` by ``factor``."""
    for table in (data.perp, data.mark):
        series = table.get(asset)
        if series is None:
            continue
        bars = [
            Bar(
                b.open_ms,
                b.open * factor,
                b.high * factor,
                b.low * factor,
                b.close * factor,
                b.volume,
            )
            if b.open_ms >= after_ms
            else b
            for b in series.bars
        ]
        table[asset] = BarSeries(series.timeframe_ms, bars)


def fresh(rig: LiveRig) -> CcxtVenue:
    """Return a venue over the rig's clients that knows nothing yet (a restarted bot)."""
    venue = rig.venue
    return CcxtVenue(venue.futures, venue.spot, venue.caps, name=venue.name, gate=venue.gate)


async def liquidate(rig: LiveRig, symbol: str) -> Decimal:
    """Drive ``symbol``'s price through its short's liquidation price; return the short."""
    short = rig.sim.positions[symbol].contracts
    liquidation = rig.sim.liquidation_price(symbol)
    assert short < 0 and liquidation is not None
    price = rig.paper.mark_price(symbol)
    spike(rig.paper.data, symbol.split("/")[0], to_ms(rig.clock.now()), liquidation / price * 2)
    await rig.clock.sleep(HOURS_4)
    return short


async def cycle_until_liquidation_journaled(rig: LiveRig, symbol: str) -> Fill:
    for _ in range(3):
        await rig.engine.cycle()
        found = [
            f
            for f in rig.journal.fills(venue=rig.venue.name)
            if f.forced is ForcedClose.LIQUIDATION
        ]
        if found:
            (fill,) = found
            assert fill.symbol == symbol
            return fill
        await rig.clock.sleep(10)
    raise AssertionError("the liquidation was not journaled")


async def test_two_symbols_fills_with_the_same_trade_id_are_both_journaled(
    rig: LiveRig,
) -> None:
    report = await rig.engine.cycle()
    assert report.status == "done", (report.reason, report.notes)
    await rig.engine.sync_journal()
    fills = rig.journal.fills(venue=rig.venue.name)
    # Binance numbers trades per symbol: each leg's first trade is trade 1.
    assert sorted((f.symbol, f.trade_id) for f in fills) == [(s, "1") for s in LEGS]
    keys = {rig.emulator.trade_key(t) for t in rig.sim.trades}
    assert {(f.symbol, f.trade_id) for f in fills} == keys
    # Pulled again from the trade list (no client ids there): nothing new, nothing lost.
    again = await fresh(rig).fetch_fills(list(LEGS), {})
    assert len(again) == 3 and rig.journal.record_fills(again) == 0


async def test_live_fills_join_their_orders_by_client_id(rig: LiveRig) -> None:
    await rig.engine.cycle()
    rig.emulator.account.spot_balances["ETH"] = Decimal(20)  # grow one leg
    await rig.clock.sleep(HOURS_4)
    await rig.engine.cycle()
    orders = {
        (o.symbol, o.venue_order_id): o.client_order_id
        for o in rig.journal.orders(venue=rig.venue.name)
    }
    fills = rig.journal.fills(venue=rig.venue.name)
    assert len(fills) == 4
    for fill in fills:
        assert fill.client_order_id is not None
        assert orders[(fill.symbol, fill.venue_order_id)] == fill.client_order_id
    # A fill read back from the trade list, which names no client id, is joined when journaled.
    trade = rig.sim.trades[-1]
    (raw,) = [
        f
        for f in await fresh(rig).fetch_fills([trade.symbol], {})
        if (f.symbol, f.trade_id) == rig.emulator.trade_key(trade)
    ]
    assert raw.client_order_id is None
    moved = replace(raw, trade_id="copy")  # as a fill the journal has not seen
    assert rig.journal.record_fills([moved]) == 1
    (copy,) = [f for f in rig.journal.fills(venue=rig.venue.name) if f.trade_id == "copy"]
    assert copy.client_order_id == trade.client_order_id


async def check_funding_rows(rig: LiveRig) -> None:
    await rig.engine.cycle()
    for _ in range(3):  # three settlements on three legs
        await rig.clock.sleep(8 * 3600)
        await rig.engine.cycle()
    await rig.engine.sync_journal()
    journaled = {(p.symbol, p.timestamp): p for p in rig.journal.funding(venue=rig.venue.name)}
    assert len(journaled) == len(rig.sim.funding) >= 9
    for payment in rig.sim.funding:
        row = journaled[(payment.symbol, payment.time)]
        assert row.rate == payment.rate and row.rate != 0
        assert row.position_contracts == payment.position_contracts < 0


async def test_binance_funding_rows_carry_the_rate_and_position_charged(rig: LiveRig) -> None:
    await check_funding_rows(rig)
    # One rate-history call per sync that found payments, never one per leg.
    rates = rig.emulator.requests.count(("GET", "/fapi/v1/fundingRate"))
    assert 1 <= rates <= 5


async def test_bybit_funding_rows_carry_the_rate_and_position_charged(bybit_rig: LiveRig) -> None:
    await check_funding_rows(bybit_rig)


async def test_binance_liquidation_is_journaled_flagged_from_the_forced_orders(
    rig: LiveRig,
) -> None:
    await rig.engine.cycle()
    await rig.clock.sleep(HOURS_4)
    await rig.engine.cycle()
    assert FORCED not in rig.emulator.requests  # the steady path asks nothing
    short = await liquidate(rig, ETH)
    fill = await cycle_until_liquidation_journaled(rig, ETH)
    (trade,) = [t for t in rig.sim.trades if t.forced is ForcedClose.LIQUIDATION]
    assert (fill.symbol, fill.trade_id) == rig.emulator.trade_key(trade)
    assert fill.side is Side.BUY and fill.amount == -short
    assert abs(fill.price - trade.price) < CENT
    assert fill.client_order_id is not None and fill.client_order_id.startswith("autoclose-")
    forced = rig.emulator.account.forced[int(trade.order_id)]
    assert fill.venue_order_id == str(rig.emulator.account.number(forced))
    assert rig.emulator.requests.count(FORCED) == 1
    totals = rig.journal.totals(venue=rig.venue.name)
    assert totals.liquidation_count == 1


async def test_bybit_liquidation_is_journaled_flagged_from_its_bust_trade(
    bybit_rig: LiveRig,
) -> None:
    rig = bybit_rig
    await rig.engine.cycle()
    short = await liquidate(rig, ETH)
    fill = await cycle_until_liquidation_journaled(rig, ETH)
    (trade,) = [t for t in rig.sim.trades if t.forced is ForcedClose.LIQUIDATION]
    assert (fill.symbol, fill.trade_id) == rig.emulator.trade_key(trade)
    assert fill.side is Side.BUY and fill.amount == -short
    assert abs(fill.price - trade.price) < CENT
    assert rig.journal.totals(venue=rig.venue.name).liquidation_count == 1


async def test_someone_elses_trade_is_journaled_and_not_flagged(rig: LiveRig) -> None:
    await rig.engine.cycle()
    short = rig.sim.positions[ETH].contracts
    rig.emulator.account.external_trade(ETH, "buy", -short / 2, reduce_only=True)
    await rig.clock.sleep(HOURS_4)
    for _ in range(2):
        await rig.engine.cycle()
        await rig.clock.sleep(10)
    (external,) = [t for t in rig.sim.trades if (t.client_order_id or "").startswith("web_")]
    fills = {(f.symbol, f.trade_id): f for f in rig.journal.fills(venue=rig.venue.name)}
    fill = fills[rig.emulator.trade_key(external)]
    assert fill.forced is None and fill.client_order_id is None  # not an order of ours
    assert rig.emulator.requests.count(FORCED) == 1  # asked once, for that unknown order


async def test_a_restarted_bybit_venue_reads_the_execution_list_first_thing(
    bybit_rig: LiveRig,
) -> None:
    await bybit_rig.engine.cycle()
    client = make_bybit_client(
        bybit_rig.emulator.base_url, KEY, SECRET, enable_rate_limit=False, timeout_ms=2000
    )
    client.timeout_on_exit = 0
    try:  # a new process: its first read is the fills, before any market was loaded
        venue = CcxtVenue(client, None, BYBIT, name=bybit_rig.venue.name)
        fills = await venue.fetch_fills(list(LEGS), {})
    finally:
        await client.close()
    assert sorted((f.symbol, f.trade_id) for f in fills) == sorted(
        bybit_rig.emulator.trade_key(t) for t in bybit_rig.sim.trades
    )

"""Auto-deleveraging end to end: Engine → CcxtVenue → real ccxt → the Binance and Bybit emulators.

The exchange closes half of a hedged short by ADL. The next cycle journals the fill as an ADL
(not a liquidation, not an order of ours, not someone else's trade), to the cent, and sells the
short back within the deadband in that same cycle; the venue reports the leg's ADL rank, and
the cost-of-insurance report shows what the ADL took until the short was restored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from bot.cli.commands.report import show_report
from bot.cli.commands.status import ranks_of, show_status
from bot.core.domain import ForcedClose, Side
from bot.reporting.insurance import insurance_report
from tests.live.conftest import LiveRig, close_rig, open_rig

ETH = "ETH/USDT:USDT"
LEGS = ("ADA/USDT:USDT", "BTC/USDT:USDT", "ETH/USDT:USDT")
CENT = Decimal("0.01")
UNCOVERED = timedelta(minutes=30)
"""How long the ADL'd short waits for the next cycle."""


@pytest.fixture(params=["binanceusdm", "bybit"])
async def adl_rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LiveRig]:
    url = f"sqlite:///{tmp_path / 'journal.sqlite'}"
    opened = await open_rig(tmp_path, url, exchange=request.param)
    yield opened
    await close_rig(opened)


async def deleverage_half(rig: LiveRig, symbol: str) -> tuple[Decimal, Decimal, Decimal]:
    """ADL half of ``symbol``'s short at 3% under the mark; return (short, closed, price)."""
    short = rig.sim.positions[symbol].contracts
    assert short < 0
    price = (rig.paper.mark_price(symbol) * Decimal("0.97")).quantize(CENT)
    rig.emulator.account.auto_deleverage(symbol, fraction=Decimal("0.5"), price=price)
    closed = short - rig.sim.positions[symbol].contracts
    assert closed < 0  # bought back: the short shrank
    return short, -closed, price


async def test_an_adl_is_journaled_as_one_and_re_hedged_in_the_same_cycle(
    adl_rig: LiveRig,
) -> None:
    rig = adl_rig
    await rig.engine.cycle()
    await rig.clock.sleep(60)  # the exchange deleverages between two cycles
    short, closed, price = await deleverage_half(rig, ETH)
    adl_time = rig.clock.now()
    await rig.clock.sleep(UNCOVERED.total_seconds())

    await rig.engine.cycle()

    venue = rig.venue.name
    (fill,) = [f for f in rig.journal.fills(venue=venue) if f.forced is not None]
    assert fill.forced is ForcedClose.ADL and fill.symbol == ETH and fill.side is Side.BUY
    assert fill.amount == closed and abs(fill.price - price) < CENT
    assert fill.timestamp == adl_time and fill.fee == 0
    # The exchange's order: never ours, never someone else's trade.
    expected_client_id = "adl_autoclose" if rig.venue.caps.forced_orders else None
    assert fill.client_order_id == expected_client_id
    ours = rig.journal.orders(venue=venue)
    assert fill.venue_order_id not in {o.venue_order_id for o in ours}
    assert all(o.client_order_id.startswith("hb") for o in ours)
    totals = rig.journal.totals(venue=venue)
    assert (totals.liquidation_count, totals.adl_count) == (0, 1)
    assert rig.journal.events(kind="liquidation", venue=venue) == []
    (event,) = rig.journal.events(kind="adl", venue=venue)
    assert "auto-deleveraged" in event.message

    # Re-hedged in that same cycle: the short is back within the deadband.
    after = rig.sim.positions[ETH].contracts
    lot = rig.sim.markets[ETH].amount_step
    assert abs(after - short) <= rig.config.hedge.deadband * abs(short) + lot
    (rehedge,) = [f for f in rig.journal.fills(venue=venue, symbol=ETH) if f.timestamp > adl_time]
    assert rehedge.side is Side.SELL and rehedge.forced is None
    assert rehedge.timestamp == adl_time + UNCOVERED

    # What the ADL took: its notional, uncovered until the re-hedge.
    report = insurance_report(rig.journal, venue, now=rig.clock.now())
    (loss,) = report.forced
    assert (loss.kind, loss.symbol, loss.amount) == (ForcedClose.ADL, ETH, closed)
    assert loss.notional == fill.amount * fill.price
    assert loss.restored == rehedge.timestamp and loss.uncovered == UNCOVERED
    assert loss.protection_lost == loss.notional / 2  # half an hour
    text = show_report(rig.journal, venue, None, None, rig.clock.now())
    assert "what the exchange's forced closes took" in text
    assert f"adl          1 event(s), {loss.notional:,.2f} USDT closed" in text


async def test_the_venue_reports_each_legs_adl_rank_and_status_marks_the_high_ones(
    adl_rig: LiveRig,
) -> None:
    rig = adl_rig
    await rig.engine.cycle()
    rig.emulator.account.set_adl_rank(ETH, 4)
    rig.emulator.account.set_adl_rank("BTC/USDT:USDT", 0)
    ranks = await rig.venue.fetch_adl_ranks(LEGS)
    assert ranks["ETH/USDT:USDT"] == 4 and ranks["BTC/USDT:USDT"] == 0
    assert isinstance(ranks["ADA/USDT:USDT"], int)  # the exchange's default for an open leg
    shown = await ranks_of(rig.venue, LEGS, rig.config.risk.adl_warn_rank)
    status = show_status(rig.journal, rig.venue.name, shown)
    eth_line = next(line for line in status.splitlines() if line.startswith(ETH))
    assert eth_line.endswith("4 !")
    assert "ADL rank at or above risk.adl_warn_rank (3): ETH/USDT:USDT" in status

    path, code = REFUSAL[rig.venue.caps.futures_id]  # keys without the permission
    rig.emulator.faults.reject("GET", path, code)
    refused = await ranks_of(rig.venue, LEGS, 3)
    status = show_status(rig.journal, rig.venue.name, refused)
    assert next(line for line in status.splitlines() if line.startswith(ETH)).endswith("unknown")
    assert "ADL ranks unknown" in status


REFUSAL = {"binanceusdm": ("/fapi/v1/adlQuantile", -2015), "bybit": ("/v5/position/list", 10005)}

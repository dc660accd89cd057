"""Settling orders in flight over an in-memory venue: final only on the exchange's evidence.

Orders are put in flight the way the bot does it (`OrderManager` against a `FakeVenue` knob),
then `settle_orders` runs as the next cycle would, after the journal sync. Each test asserts the
journal's order rows, fills and events and what the exchange holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from bot.core.clock import ReplayClock
from bot.core.domain import ZERO, OrderIntent, OrderStatus, Side
from bot.journal.records import JournaledOrder
from bot.journal.store import Journal
from bot.runtime.orders import OrderManager
from bot.runtime.reconcile import Settlement, cancel_overshooting, settle_orders
from tests.unit.fake_venue import (
    BTC,
    ETH,
    NOW,
    PLANNED_RID,
    FakeVenue,
    open_planned_journal,
)

RID = PLANNED_RID
SETTLE = 60
CID = "hb-BTC-0001"


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with open_planned_journal(tmp_path) as opened:
        yield opened


def sell(symbol: str = BTC, amount: str = "0.4", cid: str = CID) -> OrderIntent:
    return OrderIntent(
        client_order_id=cid,
        symbol=symbol,
        side=Side.SELL,
        amount=Decimal(amount),
        reduce_only=False,
        reference_price=Decimal(40000),
        contract_size=Decimal(1),
        reason="grow short",
    )


async def send(
    venue: FakeVenue, journal: Journal, clock: ReplayClock, intent: OrderIntent | None = None
) -> OrderStatus:
    done = await OrderManager(venue, journal, clock, lookup_attempts=1).execute_one(
        RID, intent or sell()
    )
    return done.status


async def sync(venue: FakeVenue, journal: Journal) -> int:
    """Journal the venue's trades as the cycle does before it settles (`Engine.sync_journal`)."""
    fills = await venue.fetch_fills([BTC, ETH], journal.last_fill_times(venue.name))
    return journal.record_fills(fills)


async def settle(venue: FakeVenue, journal: Journal, clock: ReplayClock) -> Settlement:
    await sync(venue, journal)
    return await settle_orders(venue, journal, clock.now(), SETTLE)


def order(journal: Journal, cid: str = CID) -> JournaledOrder:
    found = journal.get_order(cid)
    assert found is not None
    return found


async def lost_and_unconfirmed(venue: FakeVenue, journal: Journal, clock: ReplayClock) -> None:
    """Place BTC's order: it executes, the answer is lost and the lookup right after misses."""
    venue.lose_answers(times=1)
    venue.miss_lookups(times=1)
    assert await send(venue, journal, clock) is OrderStatus.UNKNOWN


async def test_an_unknown_order_found_filled_is_journaled_with_its_fills(
    venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    await lost_and_unconfirmed(venue, journal, clock)
    await clock.sleep(10)

    found = await settle(venue, journal, clock)

    assert found.confirmed == [CID] and not found.in_doubt and found.resting == {}
    settled = order(journal)
    assert (settled.status, settled.filled, settled.venue_order_id) == (
        OrderStatus.FILLED,
        Decimal("0.4"),
        "1",
    )
    assert settled.reason == "settled by client order id"
    assert [(f.symbol, f.trade_id) for f in journal.fills(venue="fake")] == [(BTC, "1")]
    (event,) = journal.events(kind="reconcile")
    assert event.message == f"order {CID} settled on the exchange"
    assert event.data["confirmed"] == [CID]


async def test_an_order_not_visible_yet_keeps_its_leg_waiting_until_the_settle_timeout(
    venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    await lost_and_unconfirmed(venue, journal, clock)
    venue.miss_lookups(times=1)  # the exchange still lags
    await clock.sleep(30)

    found = await settle(venue, journal, clock)

    assert found.in_doubt and found.confirmed == [] and found.abandoned == []
    assert "not visible on the exchange yet (30 s)" in found.waiting[BTC]
    assert order(journal).status is OrderStatus.UNKNOWN  # nothing concluded on no evidence
    assert journal.events(kind="reconcile") == []


async def test_an_order_the_exchange_never_saw_is_abandoned_after_the_settle_timeout(
    venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    journal.record_order_intent(sell(), venue="fake", rebalance_id=RID, time=NOW)  # then a crash
    await clock.sleep(SETTLE)

    found = await settle(venue, journal, clock)

    assert found.abandoned == [CID] and not found.in_doubt
    abandoned = order(journal)
    assert abandoned.status is OrderStatus.CANCELED and abandoned.filled == 0
    assert abandoned.reason.endswith("never placed; abandoned")
    assert venue.accepted == [] and venue.short(BTC) == 0
    (event,) = journal.events(kind="reconcile")
    assert "never reached the exchange; abandoned (its id is not reused)" in event.message


async def test_a_failed_lookup_concludes_nothing_and_the_leg_waits(
    venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    await lost_and_unconfirmed(venue, journal, clock)
    venue.fail_lookups(times=1)
    await clock.sleep(2 * SETTLE)  # even long past the timeout

    found = await settle(venue, journal, clock)

    assert "looking it up failed (503 Service Unavailable)" in found.waiting[BTC]
    assert order(journal).status is OrderStatus.UNKNOWN
    assert found.abandoned == [] and found.confirmed == []


async def test_a_young_resting_order_counts_toward_its_leg_and_blocks_it(
    venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    venue.rest_next(times=1)
    assert await send(venue, journal, clock) is OrderStatus.OPEN
    await clock.sleep(20)

    found = await settle(venue, journal, clock)

    assert found.resting == {BTC: Decimal("-0.4")}  # a sell: the short it will add
    assert found.resting_orders == {BTC: [(CID, "1")]}
    assert "no second order on this leg" in found.waiting[BTC]
    assert found.cancel_requested == []
    resting = order(journal)
    assert (resting.status, resting.reason) == (OrderStatus.OPEN, "resting on the exchange")
    assert venue.booked(CID)[0].status is OrderStatus.OPEN


async def test_a_resting_order_past_the_settle_timeout_is_cancelled_on_evidence(
    venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    venue.rest_next(times=1)
    await send(venue, journal, clock)
    await clock.sleep(SETTLE + 10)

    found = await settle(venue, journal, clock)

    assert found.cancel_requested == [CID] and found.confirmed == [CID]
    assert found.resting == {} and found.resting_orders == {} and not found.in_doubt
    cancelled = order(journal)
    assert (cancelled.status, cancelled.filled) == (OrderStatus.CANCELED, ZERO)
    assert cancelled.reason == "cancelled after resting; settled"
    assert venue.booked(CID)[0].status is OrderStatus.CANCELED and venue.short(BTC) == 0


async def test_a_resting_order_that_filled_meanwhile_is_settled_filled_not_cancelled(
    venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    venue.rest_next(times=1)
    await send(venue, journal, clock)
    await clock.sleep(SETTLE + 10)
    venue.fill_resting()

    found = await settle(venue, journal, clock)

    assert found.confirmed == [CID] and found.cancel_requested == []
    filled = order(journal)
    assert (filled.status, filled.filled) == (OrderStatus.FILLED, Decimal("0.4"))
    (fill,) = journal.fills(venue="fake")
    assert fill.client_order_id == CID  # claimed by the exchange order id it was given
    assert venue.short(BTC) == Decimal("0.4")


async def test_a_forgotten_order_is_claimed_by_the_exchange_order_id_it_was_given(
    venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    venue.rest_next(times=1)
    await send(venue, journal, clock)
    venue.fill_resting()
    venue.external_trade(BTC, Side.SELL, Decimal("0.4"))  # the same size, someone else's
    venue.forget_orders()
    await clock.sleep(SETTLE + 10)

    found = await settle(venue, journal, clock)

    assert found.confirmed == [CID]
    claimed = order(journal)
    assert (claimed.status, claimed.filled, claimed.venue_order_id) == (
        OrderStatus.FILLED,
        Decimal("0.4"),
        "1",
    )
    assert "the exchange no longer knows this order" in claimed.reason
    owners = {f.venue_order_id: f.client_order_id for f in journal.fills(venue="fake")}
    assert owners == {"1": CID, "2": None}


async def test_a_forgotten_order_that_never_traded_is_not_given_someone_elses_trade(
    venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    venue.rest_next(times=1)
    await send(venue, journal, clock)
    await venue.cancel_order(CID, BTC, "1")  # cancelled on the exchange, unheard
    venue.external_trade(BTC, Side.SELL, Decimal("0.4"))  # fits it exactly, but is not its
    venue.forget_orders()
    await clock.sleep(SETTLE + 10)

    found = await settle(venue, journal, clock)

    assert found.abandoned == [CID]
    abandoned = order(journal)
    assert (abandoned.status, abandoned.filled, abandoned.venue_order_id) == (
        OrderStatus.CANCELED,
        ZERO,
        "1",
    )
    (theirs,) = journal.fills(venue="fake")
    assert theirs.client_order_id is None and theirs.venue_order_id == "2"


async def test_exchange_order_ids_count_within_their_symbol(
    venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    venue.rest_next(times=1)
    await send(venue, journal, clock)  # BTC order 1, resting
    other = venue.external_trade(ETH, Side.SELL, Decimal(1))  # ETH order 1, someone else's
    assert other.venue_order_id == "1"
    venue.forget_orders()
    await clock.sleep(SETTLE + 10)

    found = await settle(venue, journal, clock)

    assert found.abandoned == [CID]  # BTC order 1 never traded: ETH's trade is not its
    assert order(journal).filled == 0
    (eth,) = journal.fills(venue="fake", symbol=ETH)
    assert eth.client_order_id is None


async def test_an_unanswered_forgotten_order_is_claimed_by_the_trades_that_fill_it_exactly(
    venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    await lost_and_unconfirmed(venue, journal, clock)
    venue.external_trade(BTC, Side.SELL, Decimal("0.1"))  # fits within it, not exactly
    venue.external_trade(BTC, Side.BUY, Decimal("0.4"))  # the other side
    venue.forget_orders()
    await clock.sleep(SETTLE + 10)

    found = await settle(venue, journal, clock)

    assert found.confirmed == [CID]
    claimed = order(journal)
    (booked,) = venue.booked(CID)
    assert (claimed.status, claimed.filled, claimed.venue_order_id) == (
        OrderStatus.FILLED,
        Decimal("0.4"),
        booked.venue_order_id,
    )
    assert claimed.average_price == Decimal(40000)


async def test_the_trades_claimed_for_an_unanswered_forgotten_order_carry_its_client_id(
    venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    await lost_and_unconfirmed(venue, journal, clock)
    venue.forget_orders()
    await clock.sleep(SETTLE + 10)

    await settle(venue, journal, clock)

    assert order(journal).status is OrderStatus.FILLED
    (fill,) = journal.fills(venue="fake")
    assert fill.client_order_id == CID


async def test_an_unanswered_forgotten_order_is_not_claimed_when_two_trades_fit_it(
    venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    await lost_and_unconfirmed(venue, journal, clock)
    venue.external_trade(BTC, Side.SELL, Decimal("0.4"))  # fits it exactly too
    venue.forget_orders()
    await clock.sleep(SETTLE + 10)

    found = await settle(venue, journal, clock)

    assert found.confirmed == []  # not certain: neither is claimed
    unclaimed = order(journal)
    assert unclaimed.status is OrderStatus.CANCELED and unclaimed.venue_order_id is None
    assert {f.client_order_id for f in journal.fills(venue="fake")} == {None}
    assert venue.short(BTC) == Decimal("0.8")  # the exchange still shows both trades


async def test_orders_of_another_venue_are_left_alone(
    venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    journal.record_order_intent(sell(), venue="elsewhere", rebalance_id=RID, time=NOW)
    await clock.sleep(SETTLE + 10)

    found = await settle(venue, journal, clock)

    assert found == Settlement()
    assert order(journal).status is OrderStatus.PENDING


async def test_a_resting_order_that_would_overshoot_is_cancelled_and_settled_next_look(
    venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    venue.rest_next(times=2)
    await send(venue, journal, clock)
    await send(venue, journal, clock, sell(ETH, "4", "hb-ETH-0001"))
    await clock.sleep(20)
    found = await settle(venue, journal, clock)

    notes = await cancel_overshooting(venue, journal, found, [BTC], clock.now())

    assert notes == [f"{BTC}: resting order {CID} would overshoot the new target; cancelled"]
    (event,) = journal.events(kind="order_cancel")
    assert event.data == {"symbol": BTC, "order": CID}
    assert order(journal).status is OrderStatus.OPEN  # its outcome is read at the next look
    await clock.sleep(10)

    after = await settle(venue, journal, clock)

    assert after.confirmed == [CID]
    assert order(journal).status is OrderStatus.CANCELED
    assert order(journal, "hb-ETH-0001").status is OrderStatus.OPEN  # not overshooting: kept
    assert after.resting == {ETH: Decimal(-4)}
    assert clock.now() - NOW == timedelta(seconds=30)

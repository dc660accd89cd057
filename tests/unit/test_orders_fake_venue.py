"""`OrderManager` over an in-memory venue: each intent placed once, every outcome journaled.

Asserted on what the exchange holds (positions, booked orders) and on the journal's rows
(order status, filled, reason; fills), never on call counts alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from bot.core.clock import ReplayClock
from bot.core.domain import ZERO, OrderIntent, OrderStatus, Side
from bot.core.errors import AuthError, InvalidOrderError
from bot.journal.store import Journal
from bot.runtime.orders import OrderManager
from tests.unit.fake_venue import (
    BTC,
    ETH,
    NOW,
    PLANNED_RID,
    FakeVenue,
    open_planned_journal,
)

RID = PLANNED_RID


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with open_planned_journal(tmp_path) as opened:
        yield opened


def manager(venue: FakeVenue, journal: Journal, clock: ReplayClock) -> OrderManager:
    # One lookup attempt: a failing lookup is not retried with (real-time) back-off here.
    return OrderManager(venue, journal, clock, lookup_attempts=1)


def sell(
    symbol: str = BTC, amount: str = "0.4", cid: str = "hb-BTC-0001", reduce_only: bool = False
) -> OrderIntent:
    return OrderIntent(
        client_order_id=cid,
        symbol=symbol,
        side=Side.SELL,
        amount=Decimal(amount),
        reduce_only=reduce_only,
        reference_price=Decimal(40000),
        contract_size=Decimal(1),
        reason="grow short",
    )


def buy(amount: str, cid: str) -> OrderIntent:
    return OrderIntent(
        client_order_id=cid,
        symbol=BTC,
        side=Side.BUY,
        amount=Decimal(amount),
        reduce_only=True,
        reference_price=Decimal(40000),
        contract_size=Decimal(1),
        reason="shrink short",
    )


def row(journal: Journal, cid: str) -> tuple[OrderStatus, Decimal, str | None, str]:
    order = journal.get_order(cid)
    assert order is not None
    return order.status, order.filled, order.venue_order_id, order.reason


async def test_a_filled_order_is_journaled_filled_with_its_fills(
    venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    orders = manager(venue, journal, clock)

    done = await orders.execute_one(RID, sell())

    assert done.status is OrderStatus.FILLED and done.result is not None
    assert venue.short(BTC) == Decimal("0.4")
    assert row(journal, "hb-BTC-0001")[:3] == (OrderStatus.FILLED, Decimal("0.4"), "1")
    order = journal.get_order("hb-BTC-0001")
    assert order is not None and order.average_price == Decimal(40000)
    assert order.rebalance_id == RID
    (fill,) = journal.fills(venue="fake")
    assert (fill.client_order_id, fill.venue_order_id, fill.amount) == (
        "hb-BTC-0001",
        "1",
        Decimal("0.4"),
    )
    assert fill.fee == Decimal("8.0000")  # 0.05 % of 16,000
    assert not orders.take_unsettled()


async def test_legs_are_placed_in_order_and_one_failure_does_not_stop_the_others(
    venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    venue.reject_next(times=1)

    done = await manager(venue, journal, clock).execute(
        RID, [sell(), sell(ETH, "4", "hb-ETH-0001")]
    )

    assert [e.status for e in done] == [OrderStatus.REJECTED, OrderStatus.FILLED]
    assert venue.short(BTC) == 0 and venue.short(ETH) == Decimal(4)
    assert [o.status for o in journal.orders(venue="fake")] == ["rejected", "filled"]


async def test_a_rejection_is_final_and_journaled_with_the_venues_reason(
    venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    orders = manager(venue, journal, clock)

    done = await orders.execute_one(RID, sell(amount="0.0001"))  # below one lot

    assert done.status is OrderStatus.REJECTED and done.result is None
    status, filled, venue_id, reason = row(journal, "hb-BTC-0001")
    assert (status, filled, venue_id) == (OrderStatus.REJECTED, ZERO, None)
    assert reason == "rejected by fake: Quantity 0.0001 breaks the lot rules of BTC/USDT:USDT"
    assert venue.accepted == [] and venue.short(BTC) == 0
    assert not orders.take_unsettled()

    again = await orders.execute_one(RID, sell(amount="0.0001"))  # the same intent once more

    assert again.status is OrderStatus.REJECTED and again.reason == "already done in this rebalance"
    assert venue.sent == ["hb-BTC-0001"]  # a final order is never sent again


async def test_a_reduce_only_order_that_would_grow_the_position_is_rejected(
    venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    orders = manager(venue, journal, clock)
    await orders.execute_one(RID, sell())

    too_much = await orders.execute_one(RID, buy("0.5", "hb-BTC-0002"))  # would flip to long
    exact = await orders.execute_one(RID, buy("0.4", "hb-BTC-0003"))

    assert too_much.status is OrderStatus.REJECTED
    assert "ReduceOnly Order is rejected" in row(journal, "hb-BTC-0002")[3]
    assert exact.status is OrderStatus.FILLED
    assert venue.short(BTC) == 0
    (closing,) = [f for f in journal.fills(venue="fake") if f.side is Side.BUY]
    assert closing.client_order_id == "hb-BTC-0003" and closing.realized_pnl == 0


async def test_a_refused_key_is_journaled_rejected_and_raised(
    venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    venue.reject_next(times=1, error=AuthError("Invalid API-key, IP, or permissions for action."))
    with pytest.raises(AuthError):
        await manager(venue, journal, clock).execute_one(RID, sell())

    status, _, _, reason = row(journal, "hb-BTC-0001")
    assert status is OrderStatus.REJECTED and reason.startswith("refused by fake: Invalid API")


async def test_a_lost_answer_found_by_client_id_is_journaled_filled(
    venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    venue.lose_answers(times=1)
    orders = manager(venue, journal, clock)

    done = await orders.execute_one(RID, sell())

    assert done.status is OrderStatus.FILLED
    assert done.reason == "confirmed by client order id after an error"
    status, filled, venue_id, reason = row(journal, "hb-BTC-0001")
    assert (status, filled, venue_id) == (OrderStatus.FILLED, Decimal("0.4"), "1")
    assert reason == "confirmed by client order id after an error"
    (fill,) = journal.fills(venue="fake")
    assert fill.client_order_id == "hb-BTC-0001"
    assert venue.sent == ["hb-BTC-0001"] and venue.short(BTC) == Decimal("0.4")


@pytest.mark.parametrize("lookup", ["misses", "fails"])
async def test_a_lost_answer_the_venue_cannot_confirm_is_unknown_never_rejected(
    lookup: str, venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    venue.lose_answers(times=1)
    if lookup == "misses":
        venue.miss_lookups(times=1)
    else:
        venue.fail_lookups(times=1)
    orders = manager(venue, journal, clock)

    done = await orders.execute_one(RID, sell())

    assert done.status is OrderStatus.UNKNOWN and done.result is None
    status, filled, _, reason = row(journal, "hb-BTC-0001")
    assert (status, filled) == (OrderStatus.UNKNOWN, ZERO)
    assert reason.startswith("outcome unknown after VenueTimeout(")
    assert orders.take_unsettled() and not orders.take_unsettled()
    assert venue.short(BTC) == Decimal("0.4")  # it did execute: the exchange is the truth


async def test_an_intent_already_journaled_is_looked_up_and_never_sent_twice(
    venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    venue.lose_answers(times=1)
    venue.miss_lookups(times=1)
    first = manager(venue, journal, clock)
    assert (await first.execute_one(RID, sell())).status is OrderStatus.UNKNOWN

    again = await manager(venue, journal, clock).execute_one(RID, sell())  # a new process

    assert again.status is OrderStatus.FILLED
    assert again.reason == "found on the venue by client order id"
    assert row(journal, "hb-BTC-0001")[:2] == (OrderStatus.FILLED, Decimal("0.4"))
    assert venue.sent == ["hb-BTC-0001"] and len(venue.accepted) == 1
    assert venue.short(BTC) == Decimal("0.4")


async def test_a_journaled_intent_the_venue_never_saw_is_sent_once(
    venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    journal.record_order_intent(sell(), venue="fake", rebalance_id=RID, time=NOW)  # then a crash

    done = await manager(venue, journal, clock).execute_one(RID, sell())

    assert done.status is OrderStatus.FILLED
    assert venue.sent == ["hb-BTC-0001"] and venue.short(BTC) == Decimal("0.4")
    assert row(journal, "hb-BTC-0001")[0] is OrderStatus.FILLED


async def test_a_resting_order_is_journaled_open_and_left_unsettled(
    venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    venue.rest_next(times=1)
    orders = manager(venue, journal, clock)

    done = await orders.execute_one(RID, sell())

    assert done.status is OrderStatus.OPEN
    assert row(journal, "hb-BTC-0001")[:3] == (OrderStatus.OPEN, ZERO, "1")
    assert journal.fills(venue="fake") == [] and venue.short(BTC) == 0
    assert orders.take_unsettled()


async def test_an_order_is_journaled_pending_before_it_is_sent(
    venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    seen: list[OrderStatus | None] = []
    place = venue.place_order

    async def spy(intent: OrderIntent) -> object:
        known = journal.get_order(intent.client_order_id)
        seen.append(known.status if known is not None else None)
        return await place(intent)

    venue.place_order = spy  # type: ignore[method-assign,assignment]
    await manager(venue, journal, clock).execute_one(RID, sell())

    assert seen == [OrderStatus.PENDING]
    assert row(journal, "hb-BTC-0001")[0] is OrderStatus.FILLED


async def test_the_fake_refuses_what_binance_refuses(venue: FakeVenue) -> None:
    """The fake's own rules, so that a test's rejection is the one it meant."""
    venue.prices["ETH"] = Decimal(100)
    with pytest.raises(InvalidOrderError, match="notional must be no smaller than 5"):
        await venue.place_order(sell(ETH, "0.01", "small"))  # 1 USDT
    await venue.place_order(sell())
    with pytest.raises(InvalidOrderError, match="ClientOrderId is duplicated"):
        await venue.place_order(sell())
    assert [o.client_order_id for o in venue.accepted] == ["hb-BTC-0001"]
    assert venue.short(BTC) == Decimal("0.4") and venue.short(ETH) == 0

"""The engine's cycle over an in-memory venue: positions, orders, fills and rebalance rows.

Each test turns one knob of `FakeVenue` (a resting order, a lost answer, a rejection, someone
else's trade, an exchange that forgot its orders, a restart, the kill switch) and asserts the
outcome: what the exchange holds and what the journal says, never call counts alone.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.core.clock import ReplayClock
from bot.core.domain import OrderStatus, Side
from bot.core.errors import InsufficientMargin, JournalError
from bot.core.planner import client_order_id
from bot.journal.records import RebalanceStatus, RunMode
from bot.journal.store import Journal
from bot.runtime.engine import Engine
from strategies.registry import create_strategy
from tests.unit.fake_venue import (
    BTC,
    ETH,
    FakeVenue,
    fake_config,
)

LEGS = (BTC, ETH)
RATIO = Decimal("0.4")
DEADBAND = Decimal("0.05")


class ProcessKilled(Exception):
    """The process died while an order request was on its way."""


def engine(
    tmp_path: Path, venue: FakeVenue, journal: Journal, clock: ReplayClock, **risk: Any
) -> Engine:
    """A new engine (a new process) over the same journal, venue and clock."""
    config = fake_config(tmp_path, **risk)
    strategy = create_strategy("static", {"ratio": RATIO})
    return Engine(config, venue, journal, strategy, clock, RunMode.LIVE)


def target_contracts(venue: FakeVenue, symbol: str) -> Decimal:
    asset = symbol.split("/")[0]
    return RATIO * venue.holdings.get(asset, Decimal(0))


def assert_on_target(venue: FakeVenue) -> None:
    for symbol in LEGS:
        wanted = target_contracts(venue, symbol)
        assert abs(venue.short(symbol) - wanted) <= DEADBAND * wanted, (symbol, venue.short(symbol))


def statuses(journal: Journal, venue: FakeVenue) -> list[str]:
    return [o.status.value for o in journal.orders(venue=venue.name)]


async def test_the_first_cycle_opens_each_short_on_target_and_journals_orders_and_fills(
    tmp_path: Path, venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    report = await engine(tmp_path, venue, journal, clock).cycle()

    assert report.status is RebalanceStatus.DONE, (report.reason, report.notes)
    assert venue.short(BTC) == Decimal("0.4") and venue.short(ETH) == Decimal(4)
    assert_on_target(venue)
    assert all(s in venue.isolated and venue.leverage[s] == 2 for s in LEGS)
    orders = journal.orders(venue=venue.name)
    assert [(o.symbol, o.side, o.status, o.reduce_only) for o in orders] == [
        (BTC, Side.SELL, OrderStatus.FILLED, False),
        (ETH, Side.SELL, OrderStatus.FILLED, False),
    ]
    assert [o.filled for o in orders] == [o.amount for o in orders]
    assert [o.venue_order_id for o in orders] == ["1", "1"]  # numbered per symbol
    fills = journal.fills(venue=venue.name)
    assert sorted((f.symbol, f.trade_id, f.client_order_id) for f in fills) == [
        (BTC, "1", orders[0].client_order_id),
        (ETH, "1", orders[1].client_order_id),
    ]  # trade 1 of BTC and trade 1 of ETH are two trades
    (row,) = journal.rebalances(venue=venue.name)
    assert row.status is RebalanceStatus.DONE and row.mode is RunMode.LIVE
    assert row.reason.startswith("static hedge: 40")
    assert {o.rebalance_id for o in orders} == {row.id}
    snapshots = {s.symbol: s.contracts for s in journal.snapshots(venue=venue.name)}
    assert snapshots == {BTC: Decimal("-0.4"), ETH: Decimal(-4)}


async def test_a_second_cycle_on_target_holds_and_places_nothing(
    tmp_path: Path, venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    bot = engine(tmp_path, venue, journal, clock)
    await bot.cycle()
    await clock.sleep(60)

    report = await bot.cycle()

    assert report.status is RebalanceStatus.HELD, (report.reason, report.notes)
    assert report.executions == ()
    assert len(venue.accepted) == 2
    assert [r.status for r in journal.rebalances(venue=venue.name)] == ["done", "held"]


async def test_a_lost_answer_is_unknown_then_found_by_client_id_and_never_sent_again(
    tmp_path: Path, venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    bot = engine(tmp_path, venue, journal, clock)
    venue.lose_answers(times=2)  # both orders execute; neither answer arrives
    venue.miss_lookups(times=2)  # and the lookup right after lags the exchange

    first = await bot.cycle()

    assert [e.status for e in first.executions] == [OrderStatus.UNKNOWN] * 2
    assert statuses(journal, venue) == ["unknown", "unknown"]  # never "rejected"
    assert first.status is RebalanceStatus.FAILED and "orders not done" in first.reason
    assert bot.needs_recheck
    await clock.sleep(10)

    second = await bot.cycle()

    assert second.executions == ()
    assert any("settled on the exchange" in n for n in second.notes)
    assert statuses(journal, venue) == ["filled", "filled"]
    for order in journal.orders(venue=venue.name):
        assert order.filled == order.amount
        assert venue.sent.count(order.client_order_id) == 1
        (booked,) = venue.booked(order.client_order_id)
        assert order.venue_order_id == booked.venue_order_id
    assert len(venue.accepted) == 2  # exactly one order per leg on the exchange
    assert_on_target(venue)
    assert [e.kind for e in journal.events(kind="reconcile")] == ["reconcile"]
    assert not bot.needs_recheck


async def test_the_fills_of_an_order_whose_answer_was_lost_are_journaled_as_its_own(
    tmp_path: Path, venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    bot = engine(tmp_path, venue, journal, clock)
    venue.lose_answers(times=2)
    venue.miss_lookups(times=2)
    await bot.cycle()
    await clock.sleep(10)
    await bot.cycle()

    orders = {o.symbol: o for o in journal.orders(venue=venue.name)}
    assert all(o.status is OrderStatus.FILLED for o in orders.values())
    for fill in journal.fills(venue=venue.name):
        assert fill.client_order_id == orders[fill.symbol].client_order_id, fill


async def test_a_resting_order_counts_as_position_blocks_a_second_order_and_fills_late(
    tmp_path: Path, venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    bot = engine(tmp_path, venue, journal, clock)
    venue.rest_next(times=2)

    first = await bot.cycle()

    assert [e.status for e in first.executions] == [OrderStatus.OPEN] * 2
    assert venue.short(BTC) == 0 and venue.short(ETH) == 0
    assert statuses(journal, venue) == ["open", "open"]
    await clock.sleep(20)

    second = await bot.cycle()  # the resting orders count toward the legs: no second order

    assert second.executions == () and second.status is RebalanceStatus.HELD
    assert all(p.intent is None for p in second.plans)
    assert any("no second order on this leg" in n for n in second.notes)
    assert len(venue.accepted) == 2
    venue.fill_resting()
    await clock.sleep(10)

    third = await bot.cycle()

    assert third.status is RebalanceStatus.HELD, (third.reason, third.notes)
    assert statuses(journal, venue) == ["filled", "filled"]
    assert len(venue.accepted) == 2
    assert_on_target(venue)
    assert len(journal.fills(venue=venue.name)) == len(venue.trades) == 2


async def test_a_lookup_miss_does_not_abandon_a_resting_order_nor_double_it(
    tmp_path: Path, venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    bot = engine(tmp_path, venue, journal, clock)
    venue.rest_next(times=2)
    await bot.cycle()
    venue.miss_lookups(times=2)  # "no such order" once each: replication lag, not evidence
    await clock.sleep(20)

    second = await bot.cycle()

    assert second.executions == ()
    assert statuses(journal, venue) == ["open", "open"]
    waiting = [n for n in second.notes if "not visible on the exchange yet" in n]
    assert [n.split(":")[0] for n in waiting] == ["BTC/USDT", "ETH/USDT"]
    venue.fill_resting()
    await clock.sleep(10)
    await bot.cycle()

    assert statuses(journal, venue) == ["filled", "filled"]
    assert len(venue.accepted) == 2
    assert_on_target(venue)


async def test_a_resting_order_is_cancelled_after_the_settle_timeout_and_replaced_once(
    tmp_path: Path, venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    bot = engine(tmp_path, venue, journal, clock, order_settle_timeout="60s")
    venue.rest_next(times=2)  # never fill by themselves
    await bot.cycle()
    await clock.sleep(30)
    assert (await bot.cycle()).executions == ()  # younger than the timeout: it waits
    await clock.sleep(40)

    report = await bot.cycle()  # rested 70 s: cancelled on evidence, then one new order per leg

    assert report.status is RebalanceStatus.DONE, (report.reason, report.notes)
    assert any("rested too long; cancel requested" in n for n in report.notes)
    orders = journal.orders(venue=venue.name)
    assert sorted(o.status.value for o in orders) == ["canceled", "canceled", "filled", "filled"]
    assert all(o.filled == 0 for o in orders if o.status is OrderStatus.CANCELED)
    assert len({o.client_order_id for o in orders}) == 4
    assert [o.status for o in venue.accepted] == [OrderStatus.CANCELED] * 2 + [
        OrderStatus.FILLED
    ] * 2
    assert_on_target(venue)


async def test_a_rejection_is_journaled_rejected_with_the_reason_and_the_other_leg_goes_on(
    tmp_path: Path, venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    bot = engine(tmp_path, venue, journal, clock)
    venue.reject_next(times=1, error=InsufficientMargin("Margin is insufficient."))  # BTC first

    report = await bot.cycle()

    assert report.status is RebalanceStatus.PARTIAL
    assert "BTC/USDT:USDT: rejected: rejected by fake: Margin is insufficient." in report.reason
    btc, eth = journal.orders(venue=venue.name)
    assert btc.symbol == BTC and btc.status is OrderStatus.REJECTED and btc.filled == 0
    assert btc.reason == "rejected by fake: Margin is insufficient."
    assert eth.status is OrderStatus.FILLED
    assert venue.short(BTC) == 0 and venue.booked(btc.client_order_id) == []
    (row,) = journal.rebalances(venue=venue.name)
    assert row.status is RebalanceStatus.PARTIAL and "Margin is insufficient" in row.reason
    await clock.sleep(60)

    again = await bot.cycle()  # a rejection is final: the next cycle plans a new order

    assert again.status is RebalanceStatus.DONE
    assert [e.intent.symbol for e in again.executions] == [BTC]
    assert again.executions[0].intent.client_order_id != btc.client_order_id
    assert_on_target(venue)


async def test_someone_elses_trade_is_journaled_without_client_id_and_corrected(
    tmp_path: Path, venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    bot = engine(tmp_path, venue, journal, clock)
    await bot.cycle()
    await clock.sleep(30)
    other = venue.external_trade(ETH, Side.BUY, Decimal(2), reduce_only=True)  # half the short
    await clock.sleep(30)

    report = await bot.cycle()

    assert report.status is RebalanceStatus.DONE, (report.reason, report.notes)
    (theirs,) = [f for f in journal.fills(venue=venue.name) if f.client_order_id is None]
    assert (theirs.symbol, theirs.side, theirs.amount) == (ETH, Side.BUY, Decimal(2))
    assert theirs.venue_order_id == other.venue_order_id
    (fix,) = report.executions
    assert (fix.intent.symbol, fix.intent.side, fix.intent.amount) == (ETH, Side.SELL, Decimal(2))
    assert venue.short(ETH) == Decimal(4)
    assert_on_target(venue)
    assert journal.events(kind="liquidation") == []  # explained by its fill: not a vanishing
    assert journal.events(kind="position_mismatch") == []
    assert len(journal.fills(venue=venue.name)) == len(venue.trades) == 4


async def test_an_order_the_exchange_forgot_is_claimed_by_the_exchange_order_id_it_was_given(
    tmp_path: Path, venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    bot = engine(tmp_path, venue, journal, clock)
    await bot.cycle()
    venue.holdings["ETH"] = Decimal(20)  # the bot sells 4 more ETH
    venue.rest_next(times=1)
    await clock.sleep(5)
    sent = await bot.cycle()
    (order,) = sent.executions
    assert order.status is OrderStatus.OPEN and order.result is not None
    given = order.result.venue_order_id
    venue.fill_resting()  # it filled; the bot did not hear
    venue.external_trade(ETH, Side.SELL, Decimal("0.2"))  # someone else sells ETH too
    venue.forget_orders()  # the exchange loses every order record
    await clock.sleep(70)

    await bot.cycle()

    row = journal.get_order(order.intent.client_order_id)
    assert row is not None
    assert row.status is OrderStatus.FILLED and row.filled == order.intent.amount, row
    assert row.venue_order_id == given
    eth = journal.fills(venue=venue.name, symbol=ETH)
    assert sum(f.amount for f in eth if f.client_order_id == row.client_order_id) == row.filled
    (theirs,) = [f for f in eth if f.client_order_id is None]
    assert theirs.amount == Decimal("0.2") and theirs.venue_order_id != given
    assert len(venue.accepted) == 4  # two legs, the ETH top-up, the other trade: nothing resent
    assert_on_target(venue)


async def test_shrinking_a_short_buys_reduce_only_and_a_gone_holding_closes_it_whole(
    tmp_path: Path, venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    bot = engine(tmp_path, venue, journal, clock)
    await bot.cycle()
    venue.holdings["BTC"] = Decimal("0.5")
    await clock.sleep(60)

    shrink = await bot.cycle()

    (buy,) = shrink.executions
    assert (buy.intent.symbol, buy.intent.side, buy.intent.reduce_only) == (BTC, Side.BUY, True)
    assert venue.booked(buy.intent.client_order_id)[0].reduce_only
    journaled = journal.get_order(buy.intent.client_order_id)
    assert journaled is not None and journaled.reduce_only and journaled.status == "filled"
    assert venue.short(BTC) == Decimal("0.2")
    del venue.holdings["BTC"]
    await clock.sleep(60)

    close = await bot.cycle()

    (last,) = close.executions
    assert last.intent.reduce_only and last.intent.amount == Decimal("0.2")
    assert last.status is OrderStatus.FILLED
    assert venue.short(BTC) == 0 and venue.short(ETH) == Decimal(4)
    assert all(o.reduce_only for o in venue.accepted if o.side is Side.BUY)


async def test_a_restart_re_derives_the_same_client_ids_and_does_not_double(
    tmp_path: Path, venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    first = engine(tmp_path, venue, journal, clock)
    slot = first.slot_id(clock.now())
    venue.lose_answers(times=1, error=ProcessKilled("SIGKILL"))  # BTC booked, then the crash
    with pytest.raises(ProcessKilled):
        await first.cycle()
    (pending,) = journal.orders(venue=venue.name)
    assert pending.status is OrderStatus.PENDING
    assert pending.client_order_id == client_order_id(slot, BTC, 0)
    assert venue.short(BTC) == Decimal("0.4")  # the exchange executed it
    await clock.sleep(5)

    report = await engine(tmp_path, venue, journal, clock).cycle()  # same slot, new process

    assert report.rebalance_id == f"{slot}-#2"
    assert report.status is RebalanceStatus.DONE, (report.reason, report.notes)
    assert [e.intent.symbol for e in report.executions] == [ETH]  # BTC is found, not resent
    assert [o.client_order_id for o in venue.accepted] == [
        client_order_id(slot, BTC, 0),
        client_order_id(slot, ETH, 0),
    ]
    assert statuses(journal, venue) == ["filled", "filled"]
    assert all(venue.sent.count(o.client_order_id) == 1 for o in venue.accepted)
    assert_on_target(venue)
    await clock.sleep(5)

    third = await engine(tmp_path, venue, journal, clock).cycle()  # and once more

    assert third.status is RebalanceStatus.HELD and third.rebalance_id == f"{slot}-#3"
    assert len(venue.accepted) == 2
    assert_on_target(venue)


async def test_the_kill_switch_halts_orders_with_a_journaled_reason(
    tmp_path: Path, venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    bot = engine(tmp_path, venue, journal, clock)
    bot.kill_switch.halt("exchange maintenance", clock.now())

    report = await bot.cycle()

    assert report.status is RebalanceStatus.HALTED
    assert report.executions == () and venue.sent == [] and venue.accepted == []
    assert journal.orders(venue=venue.name) == []
    (row,) = journal.rebalances(venue=venue.name)
    assert row.status is RebalanceStatus.HALTED
    assert "kill switch on: exchange maintenance" in row.reason
    assert str(tmp_path / "halt") in row.reason
    assert venue.short(BTC) == 0 and venue.short(ETH) == 0
    assert bot.kill_switch.resume()
    await clock.sleep(60)

    resumed = await bot.cycle()

    assert resumed.status is RebalanceStatus.DONE
    assert_on_target(venue)


async def test_funding_is_journaled_once_whatever_the_cycles(
    tmp_path: Path, venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    bot = engine(tmp_path, venue, journal, clock)
    await bot.cycle()
    await clock.sleep(3600)
    paid = venue.pay_funding(ETH, Decimal("0.0001"))
    await clock.sleep(60)

    report = await bot.cycle()
    await clock.sleep(timedelta(hours=4).total_seconds())
    await bot.cycle()

    assert report.new_funding == 1
    (journaled,) = journal.funding(venue=venue.name)
    assert journaled.payment_id == paid.payment_id and journaled.amount == Decimal("0.8")


async def test_a_replay_ends_at_its_first_failed_cycle_where_a_live_loop_retries(
    tmp_path: Path,
    venue: FakeVenue,
    journal: Journal,
    clock: ReplayClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A journal that cannot grow fails every cycle: a replay (``give_up_after=1``) says so at
    once instead of replaying the rest of its period unrecorded; the live loop backs off."""

    def disk_full(*args: Any, **kwargs: Any) -> None:
        raise JournalError("journal j.sqlite: cannot record rebalance: database or disk is full")

    monkeypatch.setattr(journal, "record_cycle", disk_full)
    start = clock.now()
    with pytest.raises(JournalError, match="disk is full"):
        await engine(tmp_path, venue, journal, clock).run(
            asyncio.Event(), start + timedelta(days=1), give_up_after=1
        )
    assert clock.now() == start  # no retry slept: the period did not run on

    cycles = await engine(tmp_path, venue, journal, clock).run(
        asyncio.Event(), start + timedelta(minutes=5)
    )
    assert cycles == 0  # every cycle failed, none raised
    waits = [30, 60, 120, 240]  # doubling back-off; the fourth retry ends past the 5 minutes
    assert clock.now() - start == timedelta(seconds=sum(waits))

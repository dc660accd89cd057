"""The live order path under the faults a trader meets in the first month (issue 10, items 1–5).

Real ccxt clients against the Binance emulator; each test asserts positions, orders on the
exchange and journal rows, not calls.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from bot.core.errors import AuthError
from bot.journal.records import RunMode
from bot.runtime.engine import Engine
from tests.live.conftest import LiveRig

BTC, ETH, ADA = "BTC/USDT:USDT", "ETH/USDT:USDT", "ADA/USDT:USDT"
LEGS = (ADA, BTC, ETH)
ORDER = ("POST", "/fapi/v1/order")
QUERY = ("GET", "/fapi/v1/order")


def engine(rig: LiveRig, **risk: Any) -> Engine:
    """A fresh engine (a new process) over the rig's journal, venue and clock."""
    settings = {"order_settle_timeout": "60s", "confirm_unexplained": "60s", **risk}
    config = rig.config.model_copy(update={"risk": rig.config.risk.model_copy(update=settings)})
    return Engine(config, rig.venue, rig.journal, rig.engine.strategy, rig.clock, RunMode.LIVE)


def shorts(rig: LiveRig) -> dict[str, Decimal]:
    """Short contracts per leg on the exchange."""
    return {s: -rig.sim.position(s).contracts for s in LEGS}


def on_target(rig: LiveRig, ratio: Decimal = Decimal("0.4")) -> dict[str, Decimal]:
    """Return each leg's short notional as a multiple of its target (1 = on target)."""
    found = {}
    for symbol in LEGS:
        asset = symbol.split("/")[0]
        mark = rig.paper.mark_price(symbol)
        spot = rig.emulator.account.spot_balances[asset] * mark
        found[symbol] = shorts(rig)[symbol] * mark / (ratio * spot)
    return found


def assert_on_target(rig: LiveRig) -> None:
    ratios = on_target(rig)
    assert all(abs(r - 1) <= Decimal("0.06") for r in ratios.values()), ratios


def client_ids(rig: LiveRig) -> Counter[str]:
    return Counter(
        e.client_order_id for e in rig.emulator.account.audit if e.kind == "order_accepted"
    )


async def test_a_resting_order_is_never_doubled_and_its_late_fill_is_journaled(
    rig: LiveRig,
) -> None:
    bot = engine(rig)
    rig.emulator.faults.rest_orders(times=3)  # acknowledged NEW, filled later
    first = await bot.cycle()
    assert all(e.status == "open" for e in first.executions), first.executions
    assert shorts(rig) == dict.fromkeys(LEGS, Decimal(0))
    await rig.clock.sleep(20)
    second = await bot.cycle()
    assert second.executions == ()  # the resting orders count: no second order on any leg
    assert len(rig.sim.orders) == 3
    rig.emulator.account.fill_resting()
    await rig.clock.sleep(10)
    third = await bot.cycle()
    assert third.status == "held", (third.reason, third.notes)
    assert len(rig.sim.orders) == 3
    assert_on_target(rig)
    orders = rig.journal.orders(venue=rig.venue.name)
    assert [o.status for o in orders] == ["filled"] * 3
    fills = rig.journal.fills(venue=rig.venue.name)
    keys = sorted(rig.emulator.trade_key(t) for t in rig.sim.trades)
    assert sorted((f.symbol, f.trade_id) for f in fills) == keys


async def test_a_lookup_miss_does_not_abandon_a_resting_order(rig: LiveRig) -> None:
    bot = engine(rig)
    rig.emulator.faults.rest_orders(times=3)
    await bot.cycle()
    rig.emulator.faults.reject(*QUERY, code=-2013, message="Order does not exist.", times=3)
    await rig.clock.sleep(20)
    second = await bot.cycle()  # every lookup says -2013 once: replication lag, not evidence
    assert second.executions == ()
    assert [o.status for o in rig.journal.orders(venue=rig.venue.name)] == ["open"] * 3
    rig.emulator.account.fill_resting()
    await rig.clock.sleep(10)
    await bot.cycle()
    assert [o.status for o in rig.journal.orders(venue=rig.venue.name)] == ["filled"] * 3
    assert len(rig.sim.orders) == 3
    assert_on_target(rig)


async def test_a_resting_order_that_never_fills_is_cancelled_then_replaced_once(
    rig: LiveRig,
) -> None:
    bot = engine(rig, order_settle_timeout="60s")
    rig.emulator.faults.rest_orders(times=3)  # never fill by themselves
    await bot.cycle()
    await rig.clock.sleep(30)
    assert (await bot.cycle()).executions == ()  # younger than the settle timeout: wait
    await rig.clock.sleep(40)
    report = await bot.cycle()  # rested 70 s: cancelled on evidence, then one new order per leg
    assert report.status == "done", (report.reason, report.notes)
    statuses = Counter(o.status for o in rig.journal.orders(venue=rig.venue.name))
    assert statuses == Counter({"canceled": 3, "filled": 3})
    assert max(client_ids(rig).values()) == 1
    assert_on_target(rig)


async def test_an_error_after_acceptance_is_an_unknown_outcome_not_a_rejection(
    rig: LiveRig,
) -> None:
    bot = engine(rig)
    rig.emulator.faults.rest_orders(times=3)  # NEW answer: the venue confirms by fetch_order
    rig.emulator.faults.reject(*QUERY, code=-2013, message="Order does not exist.", times=3)
    first = await bot.cycle()
    assert [e.status for e in first.executions] == ["unknown"] * 3
    journaled = rig.journal.orders(venue=rig.venue.name)
    assert [o.status for o in journaled] == ["unknown"] * 3  # never "rejected"
    rig.emulator.account.fill_resting()
    await rig.clock.sleep(10)
    await bot.cycle()
    assert [o.status for o in rig.journal.orders(venue=rig.venue.name)] == ["filled"] * 3
    assert len(rig.sim.orders) == 3
    assert_on_target(rig)


async def test_two_cycles_in_one_slot_keep_their_own_rows_and_act(rig: LiveRig) -> None:
    bot = engine(rig)
    first = await bot.cycle()
    rig.emulator.account.spot_balances["ETH"] = Decimal(20)
    await rig.clock.sleep(5)
    second = await bot.cycle()
    assert first.rebalance_id != second.rebalance_id
    assert [e.intent.symbol for e in second.executions] == [ETH]
    rows = rig.journal.rebalances(venue=rig.venue.name)
    assert [r.status for r in rows] == ["done", "done"]
    assert_on_target(rig)


async def test_after_an_exchange_reset_the_legs_are_set_up_again_and_rehedged(
    rig: LiveRig,
) -> None:
    bot = engine(rig, confirm_unexplained="60s")
    await bot.cycle()
    assert_on_target(rig)
    rig.emulator.account.reset_to_defaults()  # positions gone, no trade; cross 20x
    await rig.clock.sleep(30)
    held = await bot.cycle()
    assert held.status == "skipped" and "no fill explains it" in held.reason
    assert len(rig.sim.orders) == 0  # the reset forgot the history; nothing new was sent
    await rig.clock.sleep(70)
    after = await bot.cycle()  # the same empty account for 70 s: it is the truth
    assert after.status == "done", (after.reason, after.notes)
    assert_on_target(rig)
    for symbol in LEGS:
        assert symbol in rig.sim.isolated and rig.sim.leverage_of(symbol) == 2
    assert [e.kind for e in rig.journal.events(kind="position_mismatch")] == [
        "position_mismatch"
    ] * 3
    assert max(client_ids(rig).values()) == 1  # no id the exchange saw before the reset


async def test_leverage_changed_by_hand_is_set_back_before_any_order(rig: LiveRig) -> None:
    bot = engine(rig)
    await bot.cycle()
    rig.emulator.account.set_leverage_out_of_band(BTC, 20)
    await rig.clock.sleep(30)
    report = await bot.cycle()
    assert rig.sim.leverage_of(BTC) == 2
    assert any("BTC/USDT:USDT: found isolated margin at 20x" in n for n in report.notes)
    assert [e.kind for e in rig.journal.events(kind="leg_settings")] == ["leg_settings"]


async def test_a_tenth_of_the_price_places_nothing_beyond_the_limits(rig: LiveRig) -> None:
    bot = engine(rig, max_order_notional=Decimal(5000))
    rig.emulator.faults.wrong_price("BTCUSDT", Decimal("0.1"), times=10, also_mark=True)
    report = await bot.cycle()
    assert BTC not in {e.intent.symbol for e in report.executions}
    assert shorts(rig)[BTC] == 0
    assert any("implausible" in n for n in report.notes)
    assert [e.kind for e in rig.journal.events(kind="implausible_price")] == ["implausible_price"]


async def test_an_empty_position_answer_places_nothing(rig: LiveRig) -> None:
    bot = engine(rig)
    await bot.cycle()
    before = shorts(rig)
    rig.emulator.faults.empty_positions(times=2)  # the read and its re-read
    await rig.clock.sleep(30)
    report = await bot.cycle()
    assert report.status == "skipped" and "acting on nothing" in report.reason
    assert shorts(rig) == before and len(rig.sim.orders) == 3
    await rig.clock.sleep(30)
    assert (await bot.cycle()).status == "held"  # the truth is back: nothing to do
    assert shorts(rig) == before


async def test_a_blip_of_empty_positions_is_re_read_and_the_cycle_goes_on(rig: LiveRig) -> None:
    bot = engine(rig)
    await bot.cycle()
    rig.emulator.faults.empty_positions(times=1)
    await rig.clock.sleep(30)
    report = await bot.cycle()
    assert report.status == "held", (report.reason, report.notes)
    assert len(rig.sim.orders) == 3


async def test_a_short_reported_as_long_moves_no_margin_and_places_nothing(rig: LiveRig) -> None:
    bot = engine(rig)
    await bot.cycle()
    margins = {s: rig.sim.position(s).isolated_margin for s in LEGS}
    wallet = rig.sim.wallet
    rig.emulator.faults.flip_positions(times=2)
    await rig.clock.sleep(30)
    report = await bot.cycle()
    assert report.status == "skipped" and "acting on nothing" in report.reason
    assert {s: rig.sim.position(s).isolated_margin for s in LEGS} == margins
    assert rig.sim.wallet == wallet and len(rig.sim.orders) == 3


async def test_a_resting_order_the_new_target_no_longer_wants_is_cancelled(rig: LiveRig) -> None:
    bot = engine(rig)
    rig.emulator.faults.rest_orders(times=3)
    await bot.cycle()
    rig.emulator.account.spot_balances["BTC"] = Decimal(0)  # the BTC leg's target drops to 0
    await rig.clock.sleep(20)
    report = await bot.cycle()
    assert any("BTC/USDT:USDT: resting order" in n and "cancelled" in n for n in report.notes)
    rig.emulator.account.fill_resting()  # what still rests fills; the cancelled one cannot
    await rig.clock.sleep(10)
    await bot.cycle()
    btc = next(o for o in rig.journal.orders(venue=rig.venue.name) if o.symbol == BTC)
    assert btc.status == "canceled" and btc.filled == 0
    assert shorts(rig)[BTC] == 0 and shorts(rig)[ETH] > 0


async def test_keys_revoked_while_running_stop_the_loop_without_retrying(rig: LiveRig) -> None:
    bot = engine(rig)
    await bot.cycle()
    rig.emulator.faults.reject(
        None, None, code=-2015, message="Invalid API-key, IP, or permissions for action.", times=99
    )
    await rig.clock.sleep(4 * 3600)  # the next slot
    started = rig.clock.now()
    with pytest.raises(AuthError):
        await bot.run(asyncio.Event(), max_cycles=3)
    assert rig.clock.now() == started  # no back-off sleep: refused keys are not transient
    assert len(rig.sim.orders) == 3


async def test_a_short_held_in_cross_margin_is_closed_and_reopened_isolated(rig: LiveRig) -> None:
    bot = engine(rig)
    await bot.cycle()
    await bot.cycle()
    rig.emulator.account.external_trade(ADA, "buy", shorts(rig)[ADA], reduce_only=True)
    rig.emulator.account.set_margin_type_out_of_band(ADA, isolated=False)
    rig.emulator.account.external_trade(ADA, "sell", Decimal(8000))  # a short in cross margin
    await rig.clock.sleep(30)
    closing = await bot.cycle()
    assert any("closing it to reopen it isolated: filled" in n for n in closing.notes)
    assert shorts(rig)[ADA] == 0
    await rig.clock.sleep(30)
    await bot.cycle()
    assert ADA in rig.sim.isolated and rig.sim.leverage_of(ADA) == 2
    assert_on_target(rig)


async def test_an_order_the_exchange_forgot_is_claimed_by_the_trades_that_fill_it_exactly(
    rig: LiveRig,
) -> None:
    bot = engine(rig)
    await bot.cycle()
    rig.emulator.account.spot_balances["ETH"] = Decimal(20)  # the bot sells more ETH
    rig.emulator.faults.rest_orders(times=1)  # NEW answer: confirmed by a lookup
    rig.emulator.faults.reject(*QUERY, code=-2013, message="Order does not exist.", times=50)
    await rig.clock.sleep(5)
    sent = await bot.cycle()
    (order,) = [e for e in sent.executions if e.intent.symbol == ETH]
    assert order.status == "unknown"
    rig.emulator.account.fill_resting()  # it filled; the bot did not hear
    rig.emulator.account.external_trade(ETH, "sell", Decimal("0.4"))  # someone else sells ETH
    rig.emulator.account.reset_to_defaults()  # the exchange forgets every order record
    rig.emulator.faults.clear()
    await rig.clock.sleep(70)
    await bot.cycle()
    (row,) = [
        o
        for o in rig.journal.orders(venue=rig.venue.name)
        if o.client_order_id == order.intent.client_order_id
    ]
    assert row.status == "filled" and row.filled == order.intent.amount, row
    fills = [f for f in rig.journal.fills(venue=rig.venue.name) if f.symbol == ETH]
    assert sum(f.amount for f in fills if f.client_order_id == row.client_order_id) == row.filled


async def test_an_unanswered_order_the_exchange_forgot_is_claimed_by_the_exact_trades(
    rig: LiveRig,
) -> None:
    bot = engine(rig)
    await bot.cycle()
    rig.emulator.account.spot_balances["ETH"] = Decimal(20)
    rig.emulator.faults.server_error(*ORDER, 503, after_handling=True)  # executed, no answer
    rig.emulator.faults.reject(*QUERY, code=-2013, message="Order does not exist.", times=50)
    await rig.clock.sleep(5)
    sent = await bot.cycle()
    (order,) = [e for e in sent.executions if e.intent.symbol == ETH]
    assert order.status == "unknown"
    rig.emulator.account.external_trade(ETH, "sell", Decimal("0.4"))  # fits within its amount
    rig.emulator.account.reset_to_defaults()
    rig.emulator.faults.clear()
    await rig.clock.sleep(70)
    await bot.cycle()
    (row,) = [
        o
        for o in rig.journal.orders(venue=rig.venue.name)
        if o.client_order_id == order.intent.client_order_id
    ]
    assert row.status == "filled" and row.filled == order.intent.amount, row
    (own,) = [t for t in rig.sim.trades if t.client_order_id == row.client_order_id]
    assert row.venue_order_id == rig.emulator.account.venue_order_id(own.order_id)

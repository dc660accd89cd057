"""Faults on the live path: lost responses, rate limits and bans, rejections."""

from __future__ import annotations

from decimal import Decimal

from bot.core.planner import client_order_id
from bot.journal.records import RunMode
from bot.runtime.engine import Engine
from tests.live.conftest import LiveRig

ORDER = ("POST", "/fapi/v1/order")


def order_count(rig: LiveRig) -> int:
    return len(rig.sim.orders)


async def test_timeout_after_accept_places_one_order_and_reaches_the_position(
    rig: LiveRig,
) -> None:
    rig.emulator.faults.drop(*ORDER, times=3)  # every order accepted, every answer lost
    report = await rig.engine.cycle()
    assert report.status == "done", report.notes
    assert order_count(rig) == 3  # one per leg, never two
    for execution in report.executions:
        assert execution.result is not None and execution.result.status == "filled"
        assert "after an error" in execution.reason
    orders = rig.journal.orders(venue=rig.venue.name)
    assert len(orders) == 3 and all(o.status == "filled" for o in orders)
    fills = rig.journal.fills(venue=rig.venue.name)
    keys = {rig.emulator.trade_key(t) for t in rig.sim.trades}
    assert {(f.symbol, f.trade_id) for f in fills} == keys
    # The next cycle sees the intended positions and has nothing to do.
    await rig.clock.sleep(4 * 3600)
    assert (await rig.engine.cycle()).status == "held"
    assert order_count(rig) == 3


async def test_client_timeout_while_the_exchange_fills_is_reconciled_by_client_id(
    rig: LiveRig,
) -> None:
    rig.emulator.faults.hang(*ORDER, seconds=2.5)  # longer than the client's 2 s timeout
    report = await rig.engine.cycle()
    assert report.status == "done"
    assert order_count(rig) == 3
    assert sum(1 for e in report.executions if "after an error" in e.reason) == 1


async def test_restart_in_the_same_slot_never_doubles_and_never_stalls_a_leg(
    rig: LiveRig,
) -> None:
    await rig.engine.cycle()
    assert order_count(rig) == 3
    # A restart (a new engine over the same journal) in the same interval slot: legs on target
    # get nothing; a leg whose target moved gets the slot's next attempt id, not a repeat.
    restarted = Engine(
        rig.config, rig.venue, rig.journal, rig.engine.strategy, rig.clock, RunMode.LIVE
    )
    rig.emulator.account.spot_balances["BTC"] = Decimal(3)
    report = await restarted.cycle()
    assert report.status == "done", (report.reason, report.notes)
    assert order_count(rig) == 4
    btc = sorted(
        (o for o in rig.sim.orders.values() if o.symbol == "BTC/USDT:USDT"), key=lambda o: o.time
    )
    slot = restarted.slot_id(rig.clock.now())
    assert [o.client_order_id for o in btc] == [
        client_order_id(slot, "BTC/USDT:USDT", 0),
        client_order_id(slot, "BTC/USDT:USDT", 1),
    ]
    short = -rig.sim.positions["BTC/USDT:USDT"].contracts
    mark = rig.paper.mark_price("BTC/USDT:USDT")
    target = Decimal("0.4") * 3 * rig.paper.mark_price("BTC/USDT:USDT")
    assert abs(short * mark - target) <= Decimal("0.05") * target + Decimal("0.001") * mark
    assert report.rebalance_id == f"{slot}-#2"  # its own journal row, not the first's


async def test_429_then_418_backs_off_without_extending_the_ban(rig: LiveRig) -> None:
    rig.emulator.faults.rate_limit(None, None, retry_after=30, ban_seconds=600)
    start = rig.monotonic.seconds
    report = await rig.engine.cycle()
    assert report.status == "done"
    assert rig.monotonic.seconds - start >= 30  # waited out Retry-After before calling again
    assert rig.emulator.faults.bans == 0  # no call inside the back-off window: no 418
    assert order_count(rig) == 3


async def test_banned_ip_waits_out_the_ban_and_recovers(rig: LiveRig) -> None:
    rig.emulator.faults.ban(120)
    start = rig.monotonic.seconds
    report = await rig.engine.cycle()
    assert report.status == "done"
    assert rig.monotonic.seconds - start >= 120
    assert rig.emulator.faults.bans == 1  # the first call met the ban; none extended it
    assert order_count(rig) == 3


async def test_rejections_are_journaled_as_failed_intents_and_the_loop_goes_on(
    rig: LiveRig,
) -> None:
    rig.emulator.faults.reject(*ORDER, code=-2019, message="Margin is insufficient.")
    rig.emulator.faults.reject(
        *ORDER,
        code=-4164,
        message="Order's notional must be no smaller than 5 (unless you choose reduce only).",
    )
    report = await rig.engine.cycle()
    assert report.status == "partial"
    rejected = [o for o in rig.journal.orders(venue=rig.venue.name) if o.status == "rejected"]
    assert len(rejected) == 2
    reasons = " ".join(o.reason for o in rejected)
    assert "-2019" in reasons and "-4164" in reasons
    assert order_count(rig) == 1
    await rig.clock.sleep(4 * 3600)
    again = await rig.engine.cycle()
    assert again.status == "done" and order_count(rig) == 3


async def test_a_5xx_burst_on_reads_is_retried(rig: LiveRig) -> None:
    rig.emulator.faults.server_error("GET", "/fapi/v1/ticker/24hr", 503, times=2)
    report = await rig.engine.cycle()
    assert report.status == "done"
    assert rig.venue.gate.calls["fetch_tickers"] == 3

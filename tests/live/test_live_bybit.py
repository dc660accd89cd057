"""The live path on Bybit: Engine → CcxtVenue(BYBIT) → real ccxt bybit → the Bybit v5 emulator.

The same PaperVenue simulation as the Binance live tests, behind Bybit's face: a unified account
set isolated account-wide, funding read from the execution list with Bybit's fee sign and
normalised, orders confirmed by a second request because Bybit's create answer carries only ids.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from bot.core.domain import ZERO
from bot.emulator.bybit.state import ISOLATED, exec_uuid
from bot.venue.capabilities import BYBIT
from bot.venue.ccxt_venue import CcxtVenue
from tests.live.conftest import LiveRig, close_rig, open_rig

CENT = Decimal("0.01")
LEGS = ("ADA/USDT:USDT", "BTC/USDT:USDT", "ETH/USDT:USDT")
CREATE = ("POST", "/v5/order/create")


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[LiveRig]:
    opened = await open_rig(tmp_path, f"sqlite:///{tmp_path / 'journal.sqlite'}", "bybit")
    yield opened
    await close_rig(opened)


async def test_first_cycle_sets_the_account_up_and_opens_the_shorts(rig: LiveRig) -> None:
    report = await rig.engine.cycle()
    assert report.status == "done", (report.reason, report.notes)
    sim = rig.sim
    assert rig.emulator.state.margin_mode == ISOLATED  # account-wide, set once
    requests = rig.emulator.requests
    assert requests.count(("POST", "/v5/account/set-margin-mode")) == 1
    assert requests.count(("POST", "/v5/position/switch-mode")) == 1  # one-way asked, not read
    assert requests.count(("POST", "/v5/position/set-leverage")) == 3
    for symbol in LEGS:
        assert symbol in sim.isolated and sim.leverage_of(symbol) == 2
        position = sim.positions[symbol]
        target = next(t.notional for t in report.targets if t.symbol == symbol)
        short = -position.contracts * rig.paper.mark_price(symbol)
        assert abs(short - target) <= Decimal("0.05") * target, symbol
    orders = rig.journal.orders(venue=rig.venue.name)
    assert len(orders) == 3 and all(o.status == "filled" for o in orders)
    assert {o.client_order_id for o in orders} == set(sim.orders)
    # Bybit's create answer carries only ids: each order was confirmed by a realtime query.
    assert requests.count(CREATE) == requests.count(("GET", "/v5/order/realtime")) == 3


async def test_setting_up_again_is_accepted(rig: LiveRig) -> None:
    await rig.engine.cycle()
    # A restarted venue re-checks the account: "not modified" answers are success.
    fresh = CcxtVenue(rig.venue.futures, None, BYBIT, name="bybit:emu", gate=rig.venue.gate)
    for symbol in LEGS:
        await fresh.setup_leg(symbol, 2)
    assert rig.sim.leverage_of("BTC/USDT:USDT") == 2


async def test_growing_and_shrinking_the_hedge_follows_the_ratio(rig: LiveRig) -> None:
    await rig.engine.cycle()
    first = {s: rig.sim.positions[s].contracts for s in LEGS}
    spot = rig.emulator.account.spot_balances
    spot["ETH"] = Decimal(20)  # the unified wallet doubles its ETH: grow that leg
    spot["ADA"] = Decimal(5000)  # and sells most ADA: shrink that leg
    await rig.clock.sleep(4 * 3600)
    report = await rig.engine.cycle()
    assert report.status == "done", (report.reason, report.notes)
    eth, ada = rig.sim.positions["ETH/USDT:USDT"], rig.sim.positions["ADA/USDT:USDT"]
    assert eth.contracts < first["ETH/USDT:USDT"] * Decimal("1.8")
    assert ada.contracts > first["ADA/USDT:USDT"] / 2
    shrink = [o for o in rig.journal.orders(venue=rig.venue.name) if o.symbol == "ADA/USDT:USDT"]
    assert shrink[-1].reduce_only and shrink[-1].side == "buy" and shrink[-1].status == "filled"


async def test_journal_equals_the_emulator_ledger_to_the_cent(rig: LiveRig) -> None:
    await rig.engine.cycle()
    for day in range(9):  # three days: nine funding settlements on three legs
        await rig.clock.sleep(8 * 3600)
        if day == 4:
            rig.emulator.account.spot_balances["ADA"] = Decimal(5000)  # shrink: realised PnL
        await rig.engine.cycle()
    await rig.engine.sync_journal()
    sim, name = rig.sim, rig.venue.name
    fills = {f.trade_id: f for f in rig.journal.fills(venue=name)}
    assert set(fills) == {exec_uuid(t.trade_id) for t in sim.trades}
    for trade in sim.trades:
        fill = fills[exec_uuid(trade.trade_id)]
        assert fill.fee.quantize(CENT) == trade.fee.quantize(CENT)
        assert fill.realized_pnl.quantize(CENT) == trade.realized_pnl.quantize(CENT)
        assert fill.client_order_id == trade.client_order_id
    assert any(t.realized_pnl != 0 for t in sim.trades)  # some fills closed part of a leg
    funding = {p.payment_id: p for p in rig.journal.funding(venue=name)}
    assert len(funding) == len(sim.funding) >= 27
    for payment in sim.funding:
        journaled = funding[exec_uuid(payment.payment_id)]
        assert journaled.amount.quantize(CENT) == payment.amount.quantize(CENT)
        assert journaled.rate == payment.rate
        if payment.rate > 0 and payment.position_contracts < 0:
            assert journaled.amount > 0  # a short receives positive-rate funding
    assert any(p.rate > 0 for p in sim.funding)
    total = sum((p.amount for p in funding.values()), ZERO)
    assert total.quantize(CENT) == sum((p.amount for p in sim.funding), ZERO).quantize(CENT)
    orders = rig.journal.orders(venue=name)
    assert {o.client_order_id for o in orders} == set(sim.orders)


async def test_timeout_after_accept_places_one_order_per_leg(rig: LiveRig) -> None:
    rig.emulator.faults.drop(*CREATE, times=3)  # every order executed, every answer lost
    report = await rig.engine.cycle()
    assert report.status == "done", report.notes
    assert len(rig.sim.orders) == 3  # one per leg, never two
    for execution in report.executions:
        assert execution.result is not None and execution.result.status == "filled"
        assert "after an error" in execution.reason
    orders = rig.journal.orders(venue=rig.venue.name)
    assert len(orders) == 3 and all(o.status == "filled" for o in orders)
    fills = rig.journal.fills(venue=rig.venue.name)
    assert {f.trade_id for f in fills} == {exec_uuid(t.trade_id) for t in rig.sim.trades}
    await rig.clock.sleep(4 * 3600)
    assert (await rig.engine.cycle()).status == "held"
    assert len(rig.sim.orders) == 3


async def test_insufficient_balance_is_journaled_as_rejected(rig: LiveRig) -> None:
    rig.emulator.faults.reject(*CREATE, code=110007, message="ab not enough for new order")
    report = await rig.engine.cycle()
    assert report.status == "partial"
    rejected = [o for o in rig.journal.orders(venue=rig.venue.name) if o.status == "rejected"]
    assert len(rejected) == 1
    assert "110007" in rejected[0].reason and "InsufficientFunds" in rejected[0].reason
    assert len(rig.sim.orders) == 2
    await rig.clock.sleep(4 * 3600)
    again = await rig.engine.cycle()
    assert again.status == "done" and len(rig.sim.orders) == 3


async def test_steady_state_cycle_costs_a_fixed_number_of_requests(rig: LiveRig) -> None:
    await rig.engine.cycle()
    await rig.clock.sleep(4 * 3600)
    await rig.engine.cycle()
    rig.emulator.requests.clear()
    rig.venue.gate.reset_count()
    await rig.clock.sleep(4 * 3600)
    report = await rig.engine.cycle()
    assert report.status == "held"
    # One unified wallet read once (holdings and collateral), linear and spot tickers, positions
    # once (a cycle that sent nothing snapshots what it observed), the execution list for funding.
    assert rig.venue.gate.total_calls == len(rig.emulator.requests) == 5, rig.emulator.requests
    assert rig.emulator.requests.count(("GET", "/v5/account/wallet-balance")) == 1
    assert rig.emulator.requests.count(("GET", "/v5/position/list")) == 1


async def test_a_long_history_is_read_in_one_request_of_the_most_candles_served(
    rig: LiveRig,
) -> None:
    await rig.engine.cycle()  # markets loaded
    rig.emulator.requests.clear()
    closes = await rig.venue.fetch_closes(
        ["BTC"], 6570
    )  # three years of 4h bars: Bybit serves 1000 at most
    assert rig.emulator.requests == [("GET", "/v5/market/kline")]
    assert 0 < len(closes["BTC"]) <= 1000


async def test_rate_limit_backs_off_without_earning_a_ban(rig: LiveRig) -> None:
    rig.emulator.faults.rate_limit(None, None, retry_after=30, ban_seconds=600)
    start = rig.monotonic.seconds
    report = await rig.engine.cycle()
    assert report.status == "done", (report.reason, report.notes)
    # Bybit's 10006 carries X-Bapi-Limit-Reset-Timestamp (not Retry-After): the gate waits until
    # that reset, plus a second for clock skew.
    assert rig.monotonic.seconds - start >= 30
    assert rig.emulator.faults.bans == 0  # no call inside the back-off window: no 403
    assert len(rig.sim.orders) == 3


async def test_an_account_switched_to_cross_while_flat_is_set_isolated_before_reopening(
    rig: LiveRig,
) -> None:
    await rig.engine.cycle()
    balances = rig.emulator.account.spot_balances
    held = dict(balances)
    for asset in ("ADA", "BTC", "ETH"):
        balances[asset] = ZERO  # the holdings sold: the bot closes every short
    await rig.clock.sleep(4 * 3600)
    await rig.engine.cycle()
    assert all(rig.sim.position(s).contracts == 0 for s in LEGS)
    rig.emulator.state.set_margin_mode_out_of_band(False)  # cross, on the website, while flat
    assert rig.emulator.state.margin_mode != ISOLATED
    balances.update(held)
    await rig.clock.sleep(4 * 3600)
    report = await rig.engine.cycle()
    assert report.status == "done", (report.reason, report.notes)
    assert rig.emulator.state.margin_mode == ISOLATED
    for symbol in LEGS:
        assert rig.sim.position(symbol).contracts < 0 and symbol in rig.sim.isolated


async def test_the_website_refuses_a_margin_mode_switch_with_positions_open(rig: LiveRig) -> None:
    await rig.engine.cycle()
    with pytest.raises(ValueError, match="close all positions"):
        rig.emulator.state.set_margin_mode_out_of_band(False)
    assert rig.emulator.state.margin_mode == ISOLATED

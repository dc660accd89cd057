"""A full rebalance cycle on the live path, and the journal equal to the emulator's ledger."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.core.clock import to_ms
from bot.core.domain import ZERO
from bot.core.errors import RejectedError
from bot.journal.records import RunMode
from bot.runtime.engine import Engine
from bot.venue.capabilities import BINANCE
from bot.venue.ccxt_venue import CcxtVenue
from strategies.base import HedgeDecision, StrategyInput, StrategyNeeds
from tests.live.conftest import LiveRig

CENT = Decimal("0.01")
LEGS = ("ADA/USDT:USDT", "BTC/USDT:USDT", "ETH/USDT:USDT")


@pytest.fixture
def live_journal_url(journal_url: str) -> str:
    """Every test here runs on each journal backend: SQLite and PostgreSQL (tests/conftest.py)."""
    return journal_url


async def test_first_cycle_sets_up_legs_and_opens_the_shorts(rig: LiveRig) -> None:
    report = await rig.engine.cycle()
    assert report.status == "done", (report.reason, report.notes)
    sim = rig.sim
    for symbol in LEGS:
        assert symbol in sim.isolated and sim.leverage_of(symbol) == 2
        position = sim.positions[symbol]
        target = next(t.notional for t in report.targets if t.symbol == symbol)
        mark = rig.paper.mark_price(symbol)
        short = -position.contracts * mark
        assert abs(short - target) <= Decimal("0.05") * target, symbol
    orders = rig.journal.orders(venue=rig.venue.name)
    assert len(orders) == 3 and all(o.status == "filled" for o in orders)
    assert {o.client_order_id for o in orders} == set(sim.orders)


async def test_growing_and_shrinking_the_hedge_follows_the_ratio(rig: LiveRig) -> None:
    await rig.engine.cycle()
    first = {s: rig.sim.positions[s].contracts for s in LEGS}
    spot = rig.emulator.account.spot_balances
    spot["ETH"] = Decimal(20)  # the portfolio doubles its ETH: grow that leg
    spot["ADA"] = Decimal(5000)  # and sells most ADA: shrink that leg
    await rig.clock.sleep(4 * 3600)
    report = await rig.engine.cycle()
    assert report.status == "done"
    eth, ada = rig.sim.positions["ETH/USDT:USDT"], rig.sim.positions["ADA/USDT:USDT"]
    assert eth.contracts < first["ETH/USDT:USDT"] * Decimal("1.8")  # more negative: bigger short
    assert ada.contracts > first["ADA/USDT:USDT"] / 2  # less negative: smaller short
    shrink = [o for o in rig.journal.orders(venue=rig.venue.name) if o.symbol == "ADA/USDT:USDT"]
    assert shrink[-1].reduce_only and shrink[-1].side == "buy" and shrink[-1].status == "filled"


async def test_journal_equals_the_emulator_ledger_to_the_cent(rig: LiveRig) -> None:
    await rig.engine.cycle()
    for _ in range(9):  # three days: nine funding settlements on three legs
        await rig.clock.sleep(8 * 3600)
        await rig.engine.cycle()
    await rig.engine.sync_journal()
    sim, name = rig.sim, rig.venue.name
    fills = rig.journal.fills(venue=name)
    funding = rig.journal.funding(venue=name)
    assert {(f.symbol, f.trade_id) for f in fills} == {
        rig.emulator.trade_key(t) for t in sim.trades
    }
    assert len(funding) == len(sim.funding) >= 27
    assert sum((f.fee for f in fills), ZERO).quantize(CENT) == sum(
        (t.fee for t in sim.trades), ZERO
    ).quantize(CENT)
    assert sum((f.realized_pnl for f in fills), ZERO).quantize(CENT) == sum(
        (t.realized_pnl for t in sim.trades), ZERO
    ).quantize(CENT)
    assert sum((p.amount for p in funding), ZERO).quantize(CENT) == sum(
        (p.amount for p in sim.funding), ZERO
    ).quantize(CENT)
    orders = rig.journal.orders(venue=name)
    assert {o.client_order_id for o in orders} == set(sim.orders)


async def test_steady_state_cycle_costs_a_fixed_number_of_requests(rig: LiveRig) -> None:
    await rig.engine.cycle()
    await rig.clock.sleep(4 * 3600)
    await rig.engine.cycle()  # trades of the first cycle's fills are looked at once more
    rig.emulator.requests.clear()
    rig.venue.gate.reset_count()
    await rig.clock.sleep(4 * 3600)
    report = await rig.engine.cycle()
    assert report.status == "held"
    # spot balance, futures balance, futures tickers, spot tickers, positions (once: a cycle
    # that sent nothing snapshots the read it observed), funding income and, as this cycle's
    # payments settled, the funding-rate history they were charged at (one call for every leg):
    # no per-leg calls when nothing traded.
    assert rig.venue.gate.total_calls == len(rig.emulator.requests) == 7, rig.emulator.requests
    assert rig.emulator.requests.count(("GET", "/fapi/v2/positionRisk")) == 1
    assert rig.emulator.requests.count(("GET", "/fapi/v1/fundingRate")) == 1


async def test_ccxt_calls_leave_the_decimal_context_alone(rig: LiveRig) -> None:
    import decimal

    before = decimal.getcontext().copy()
    await rig.engine.cycle()
    after = decimal.getcontext()
    assert after.rounding == before.rounding == decimal.ROUND_HALF_EVEN
    assert after.traps[decimal.Underflow] == before.traps[decimal.Underflow]


async def test_hedge_mode_account_is_switched_to_one_way_when_flat(rig: LiveRig) -> None:
    rig.emulator.account.dual_side_position = True
    report = await rig.engine.cycle()
    assert report.status == "done"
    assert rig.emulator.account.dual_side_position is False


async def test_hedge_mode_with_open_positions_is_refused_with_a_clear_message(
    rig: LiveRig,
) -> None:
    await rig.engine.cycle()  # opens positions in one-way mode
    rig.emulator.account.dual_side_position = True  # someone switched modes by hand
    fresh = CcxtVenue(
        rig.venue.futures, rig.venue.spot, BINANCE, name=rig.venue.name, gate=rig.venue.gate
    )  # a restarted bot checks the account again
    with pytest.raises(RejectedError, match="hedge \\(dual-side\\) position mode"):
        await fresh.setup_leg("BTC/USDT:USDT", 2)


async def test_multi_assets_mode_is_refused(rig: LiveRig) -> None:
    rig.emulator.account.multi_assets_margin = True
    with pytest.raises(RejectedError, match="multi-assets margin mode"):
        await rig.venue.setup_leg("BTC/USDT:USDT", 2)
    assert not rig.emulator.account.orders


async def test_a_strategy_that_asks_gets_the_legs_funding_rates(rig: LiveRig) -> None:
    seen: list[StrategyInput] = []
    inner = rig.engine.strategy

    class Recording:
        name = "recording"
        needs = StrategyNeeds(uses_funding_rates=True)

        def decide(self, view: StrategyInput) -> HedgeDecision:
            seen.append(view)
            return inner.decide(view)

    engine = Engine(rig.config, rig.venue, rig.journal, Recording(), rig.clock, RunMode.LIVE)
    await rig.clock.sleep(8 * 3600)  # past a settlement, so every leg has a last rate
    await engine.cycle()
    rates = seen[0].funding_rates
    assert set(rates) == set(LEGS)
    now = to_ms(rig.clock.now())
    for symbol, rate in rates.items():
        settled = rig.paper.data.funding[symbol.split("/")[0]].last_before(now)
        assert settled is not None and rate == settled.rate

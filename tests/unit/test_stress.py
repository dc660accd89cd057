"""`bot.reporting.stress`: the what-if arithmetic, checked against figures worked by hand.

The book: 1 BTC and 10 ETH spot at 40,000 and 2,500; a short of 0.5 BTC at 40,000 with 10,000
isolated margin (2x) and one of 4 ETH at 2,500 with 2,000 (5x); 5,000 USDT free. One Binance
bracket per leg, open-ended, ``cum`` 0: mmr 0.4% (BTC), 0.5% (ETH). A short's liquidation price is
then ``LP = (WB + Q·EP) / (Q·(1 + mmr))``:

- BTC: (10,000 + 0.5 × 40,000) / (0.5 × 1.004) = 30,000 / 0.502 = 59,760.9561…
- ETH: (2,000 + 4 × 2,500) / (4 × 1.005) = 12,000 / 4.02 = 2,985.0746…

Crash (BTC −30%, others −60%): spot −12,000 (BTC) −15,000 (ETH) = −27,000; hedge
−0.5 × (28,000 − 40,000) = +6,000 and −4 × (1,000 − 2,500) = +6,000; 12,000 / 27,000 = 44.44%.

Squeeze (+40%): spot +16,000 + 10,000 = +26,000. BTC's mark 56,000 stays below 59,760.96:
hedge −0.5 × 16,000 = −8,000, distance (59,760.9561 − 56,000) / 56,000 = 6.716%. ETH's mark 3,500
passes 2,985.07: liquidated, the leg loses its whole equity at 2,500 (its 2,000 margin).

Margin to survive at full size: the ``WB`` with ``LP`` = the shocked mark, ``WB = M'·Q·(1 + mmr) −
Q·EP``, plus a cent (at exactly that margin the exchange liquidates): BTC 56,000 × 0.502 − 20,000
= 8,112 → 8,112.01 (holds 10,000: nothing to add); ETH 3,500 × 4.02 − 10,000 = 4,070 → 4,070.01,
2,070.01 to add.

The guard at 56,000 with 5,000 free (ETH is gone): BTC below critical (10%); topping up to the
35% target needs ``WB`` at 75,600 = 75,600 × 0.502 − 20,000 = 17,951.20, 7,951.20 more than it
holds and more than is free, so it cuts ``c`` contracts, the least lot (0.001) with
``10,000 − 16,000·c + 5,000 >= (0.5 − c)·(75,600 × 1.004 − 40,000)``: c ≥ 2,951.2 / 19,902.4 =
0.14828 → 0.149, and puts back 10,000 × 0.149 / 0.5 − 0.149 × 16,000 + 5,000 = 5,596 as margin.

The free collateral with which it cuts nothing, ETH holding 4,070.01: BTC's 7,951.20, and ETH's
top-up to its target price 4,725: 4,725 × 4.02 − 10,000 − 4,070.01 = 4,924.49; 12,875.69 in all.
Collateral needed: 12,000 held + 2,070.01 + 12,875.69 = 26,945.70; 17,000 there: 9,945.70 short.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest

from bot.core.domain import Bracket, Market, Position, PositionSide
from bot.margin.plan import GuardKind
from bot.margin.venues import LiquidationMethod
from bot.market.series import Bar, BarSeries
from bot.reporting.stress import (
    CRASH,
    SQUEEZE,
    Book,
    Guard,
    Leg,
    Scenario,
    apply,
    custom_scenario,
    planned_position,
    worst_day,
)
from strategies.base import HoldingView

D = Decimal
BIG = D(10) ** 9
GUARD = Guard(True, D("0.25"), D("0.35"), D("0.10"))


def cents(value: Decimal | None) -> Decimal:
    assert value is not None
    return value.quantize(D("0.01"), rounding=ROUND_HALF_UP)


def leg(asset: str, contracts: str, price: str, margin: str, mmr: str) -> Leg:
    symbol = f"{asset}/USDT:USDT"
    position = Position(
        symbol, PositionSide.SHORT, D(contracts), D(price), D(margin), 2, liquidation_price=None
    )
    market = Market(symbol, asset, "USDT", D(1), D("0.001"), D("0.001"), D(5), D("0.01"))
    return Leg(asset, position, D(price), market, (Bracket(D(0), BIG, 125, D(mmr), D(0)),))


def book(guard: Guard = GUARD) -> Book:
    return Book(
        holdings=(HoldingView("BTC", D(1), D(40_000)), HoldingView("ETH", D(10), D(2_500))),
        legs=(
            leg("BTC", "0.5", "40000", "10000", "0.004"),
            leg("ETH", "4", "2500", "2000", "0.005"),
        ),
        free_collateral=D(5_000),
        method=LiquidationMethod.BINANCE,
        guard=guard,
    )


def test_crash_pnl_and_liquidation_prices_to_the_cent() -> None:
    outcome = apply(book(), CRASH)

    btc, eth = outcome.legs
    assert [a.spot_pnl for a in outcome.assets] == [D(-12_000), D(-15_000)]
    assert (btc.hedge_pnl, eth.hedge_pnl) == (D(6_000), D(6_000))
    assert (outcome.spot_pnl, outcome.hedge_pnl, outcome.net) == (D(-27_000), D(12_000), D(-15_000))
    assert cents(outcome.share_removed) == D("0.44")
    assert [a.share_removed for a in outcome.assets] == [D("0.5"), D("0.4")]
    assert cents(btc.liquidation_price) == D("59760.96")
    assert cents(eth.liquidation_price) == D("2985.07")
    assert (btc.shocked_mark, eth.shocked_mark) == (D(28_000), D(1_000))
    assert not btc.liquidated and not eth.liquidated
    assert btc.guard is None and eth.guard is None  # far from liquidation: nothing to do
    assert (btc.ride_margin, eth.ride_margin) == (None, None)  # away from liquidation
    assert (outcome.add_before, outcome.guard_budget, outcome.shortfall) == (0, 0, 0)


def test_squeeze_liquidates_the_5x_leg_and_the_guard_cuts_the_other() -> None:
    outcome = apply(book(), SQUEEZE)

    btc, eth = outcome.legs
    assert outcome.spot_pnl == D(26_000)
    assert btc.hedge_pnl == D(-8_000) and not btc.liquidated
    assert cents(btc.distance_after * 100) == D("6.72")  # type: ignore[operator]
    assert eth.liquidated and eth.hedge_pnl == D(-2_000)  # its whole equity at 2,500
    assert eth.distance_after is not None and eth.distance_after < 0
    assert outcome.hedge_pnl == D(-10_000)
    assert outcome.share_removed is None  # the spot gains
    assert eth.guard is None  # nothing left to guard
    assert btc.guard is not None and btc.guard.kind is GuardKind.CUT
    assert (btc.guard.contracts, btc.guard.margin) == (D("0.149"), D("5596.00"))


def test_squeeze_margin_to_survive_and_collateral_needed_to_the_cent() -> None:
    outcome = apply(book(), SQUEEZE)

    btc, eth = outcome.legs
    assert (btc.ride_margin, btc.add_before) == (D("8112.01"), D(0))
    assert (eth.ride_margin, eth.add_before) == (D("4070.01"), D("2070.01"))
    assert outcome.margin_held == D(12_000)
    assert outcome.guard_budget == D("12875.69")
    assert outcome.collateral_needed == D("26945.70")
    assert outcome.shortfall == D("9945.70")


def test_with_the_guard_budget_free_the_guard_only_tops_up() -> None:
    """At the budget it adds margin to both legs; a cent less and it cuts one."""
    base = apply(book(), SQUEEZE)
    raised = (
        leg("BTC", "0.5", "40000", "10000", "0.004"),
        leg("ETH", "4", "2500", "4070.01", "0.005"),
    )
    enough = Book(book().holdings, raised, base.guard_budget, LiquidationMethod.BINANCE, GUARD)
    kinds = {leg.asset: leg.guard.kind for leg in apply(enough, SQUEEZE).legs if leg.guard}
    assert kinds == {"BTC": GuardKind.ADD_MARGIN, "ETH": GuardKind.ADD_MARGIN}
    short = Book(enough.holdings, raised, base.guard_budget - D("0.01"), enough.method, GUARD)
    kinds = {leg.asset: leg.guard.kind for leg in apply(short, SQUEEZE).legs if leg.guard}
    assert kinds == {"BTC": GuardKind.ADD_MARGIN, "ETH": GuardKind.CUT}


def test_with_the_guard_off_nothing_is_cut_and_no_budget_is_needed() -> None:
    outcome = apply(book(Guard(False, D("0.25"), D("0.35"), D("0.10"))), SQUEEZE)
    assert all(leg.guard is None for leg in outcome.legs)
    assert outcome.guard_budget == 0
    assert outcome.collateral_needed == D("14070.01")  # 12,000 held + 2,070.01


def test_custom_shocks_move_only_the_assets_named() -> None:
    scenario = custom_scenario({"BTC": D("-0.35"), "SOL": D("-0.70")})
    outcome = apply(book(), scenario)
    assert [a.shock for a in outcome.assets] == [D("-0.35"), D(0)]
    assert outcome.spot_pnl == D(-14_000)
    assert outcome.hedge_pnl == D(7_000)
    assert outcome.notes == ("SOL: neither held nor hedged; the shock changes nothing",)


def test_a_planned_short_is_margined_at_the_leverage_from_the_mark() -> None:
    position = planned_position("BTC/USDT:USDT", D("0.5"), D(40_000), 2, D(1))
    assert (position.side, position.entry_price, position.isolated_margin) == (
        PositionSide.SHORT,
        D(40_000),
        D(10_000),
    )


class Window:
    name = "november-2022"
    start = datetime(2022, 11, 1, tzinfo=UTC)
    end = datetime(2022, 11, 4, tzinfo=UTC)
    what = "FTX collapse"


def day(when: int, open_: str, close: str) -> Bar:
    return Bar(when, D(open_), D(open_), D(close), D(close), D(1))


DAY = 86_400_000
NOV_1 = 1_667_260_800_000


def test_the_worst_day_is_the_one_that_hurts_todays_holdings_most() -> None:
    """BTC (weight 3) −10% on the 2nd: −7.5%; ETH (weight 1) −40% on the 3rd: −10%, the worst.

    NEO has no candle: it does not weigh in, and the scenario says it stays where it is.
    """
    daily = {
        "BTC": BarSeries(
            DAY,
            [
                day(NOV_1, "100", "100"),
                day(NOV_1 + DAY, "100", "90"),
                day(NOV_1 + 2 * DAY, "90", "90"),
            ],
        ),
        "ETH": BarSeries(
            DAY,
            [day(NOV_1, "10", "10"), day(NOV_1 + DAY, "10", "10"), day(NOV_1 + 2 * DAY, "10", "6")],
        ),
    }
    scenario = worst_day(Window(), daily, {"BTC": D(3), "ETH": D(1), "NEO": D(1)})
    assert isinstance(scenario, Scenario)
    assert scenario.shocks == {"BTC": D(0), "ETH": D("-0.4")}
    assert scenario.what == "FTX collapse: worst day 2022-11-03"
    assert scenario.notes == ("november-2022: no candle of NEO on 2022-11-03: left unshocked",)


def test_no_candles_in_the_window_is_no_scenario() -> None:
    assert worst_day(Window(), {"BTC": BarSeries(DAY, [])}, {"BTC": D(1)}) is None


@pytest.mark.parametrize("method", list(LiquidationMethod))
def test_one_cent_below_the_margin_to_survive_is_liquidated(method: LiquidationMethod) -> None:
    """Either venue's formula: the margin found survives the squeeze, a cent less does not."""
    base = book()
    base = Book(base.holdings, base.legs, D(0), method, GUARD)
    need = {leg.asset: leg.ride_margin for leg in apply(base, SQUEEZE).legs}
    for less in (D(0), D("0.01")):
        legs = tuple(
            replace(leg, position=replace(leg.position, isolated_margin=need[leg.asset] - less))
            for leg in base.legs
            if need[leg.asset] is not None
        )
        stressed = Book(base.holdings, legs, D(0), method, GUARD)
        assert [leg.liquidated for leg in apply(stressed, SQUEEZE).legs] == [less > 0] * 2

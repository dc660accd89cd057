from __future__ import annotations

from decimal import Decimal

import pytest

from bot.core.domain import HedgeTarget, Market, Position, PositionSide, Side
from bot.core.planner import (
    CLIENT_ID_PATTERN,
    LegAction,
    client_order_id,
    plan_leg,
    plan_rebalance,
    round_down,
)

D = Decimal
BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
ADA = "ADA/USDT:USDT"
RID = "20240101T0000-paper-main"


def market(
    symbol: str = BTC,
    step: str = "0.001",
    min_amount: str | None = None,
    min_notional: str = "100",
    contract_size: str = "1",
) -> Market:
    base = symbol.split("/")[0]
    return Market(
        symbol=symbol,
        base=base,
        quote="USDT",
        contract_size=D(contract_size),
        amount_step=D(step),
        min_amount=D(min_amount if min_amount is not None else step),
        min_notional=D(min_notional),
        price_tick=D("0.1"),
    )


def short(symbol: str, contracts: str, contract_size: str = "1") -> Position:
    return Position(
        symbol=symbol,
        side=PositionSide.SHORT,
        contracts=D(contracts),
        entry_price=D(1),
        isolated_margin=D(0),
        leverage=1,
        contract_size=D(contract_size),
    )


def target(symbol: str, notional: str) -> HedgeTarget:
    return HedgeTarget(symbol, D(notional))


# --- sizing: contracts = gap / (price x contract size), rounded down to the lot step -----------


def test_sell_amount_rounded_down_to_step_0_001() -> None:
    # 1000 / 60000 = 0.016666.. -> 0.016; notional 0.016 * 60000 = 960 >= 100
    plan = plan_leg(RID, target(BTC, "1000"), None, D(60000), market(), D(0))

    assert plan.action is LegAction.SELL
    assert plan.amount == D("0.016")
    assert plan.current_notional == 0
    assert plan.intent is not None
    assert plan.intent.side is Side.SELL
    assert plan.intent.amount == D("0.016")
    assert plan.intent.reduce_only is False
    assert plan.intent.reference_price == D(60000)
    assert plan.intent.symbol == BTC


def test_sell_amount_rounded_down_to_step_1() -> None:
    # 100 / 0.37 = 270.27.. -> 270 contracts; notional 270 * 0.37 = 99.9 >= 5
    plan = plan_leg(
        RID, target(ADA, "100"), None, D("0.37"), market(ADA, "1", min_notional="5"), D(0)
    )

    assert plan.action is LegAction.SELL
    assert plan.amount == D(270)


def test_contract_size_10_step_0_1_counts_current_short_and_rounds_down() -> None:
    # current = 2 contracts * 10 * 25 = 500; gap = 1530 - 500 = 1030
    # contracts = 1030 / (25 * 10) = 4.12 -> 4.1
    plan = plan_leg(
        RID,
        target(ETH, "1530"),
        short(ETH, "2", "10"),
        D(25),
        market(ETH, "0.1", min_notional="5", contract_size="10"),
        D(0),
    )

    assert plan.current_notional == D(500)
    assert plan.action is LegAction.SELL
    assert plan.amount == D("4.1")


def test_contract_size_10_step_1_rounds_down() -> None:
    # 100 / (3 * 10) = 3.33.. -> 3 contracts (notional 3 * 10 * 3 = 90)
    plan = plan_leg(
        RID,
        target(ADA, "100"),
        None,
        D(3),
        market(ADA, "1", min_notional="5", contract_size="10"),
        D(0),
    )

    assert plan.action is LegAction.SELL
    assert plan.amount == D(3)


# --- venue minimums ---------------------------------------------------------------------------


def test_opening_sell_below_min_notional_is_skipped() -> None:
    # 90 / 60000 = 0.0015 -> 0.001; notional 60 < min notional 100
    plan = plan_leg(RID, target(BTC, "90"), None, D(60000), market(), D(0))

    assert plan.action is LegAction.SKIP
    assert plan.intent is None
    assert plan.amount == 0
    assert "below the venue minimum" in plan.reason


def test_reduce_only_buy_below_min_notional_is_still_placed() -> None:
    # short 0.010 @ 60000 = 600; target 540 -> gap -60 -> 0.001 contracts, notional 60 < 100
    plan = plan_leg(RID, target(BTC, "540"), short(BTC, "0.010"), D(60000), market(), D(0))

    assert plan.action is LegAction.BUY
    assert plan.amount == D("0.001")
    assert plan.intent is not None
    assert plan.intent.side is Side.BUY
    assert plan.intent.reduce_only is True
    assert plan.intent.notional == D(60)


def test_gap_below_one_lot_is_skipped() -> None:
    # 50 / 60000 = 0.00083 -> 0 contracts at step 0.001
    plan = plan_leg(RID, target(BTC, "50"), None, D(60000), market(min_notional="5"), D(0))

    assert plan.action is LegAction.SKIP
    assert plan.intent is None
    assert "below one lot" in plan.reason


def test_amount_below_min_amount_is_skipped() -> None:
    # 100 / 60000 = 0.00166 -> 0.001 at step 0.001, below min_amount 0.002
    plan = plan_leg(
        RID,
        target(BTC, "100"),
        None,
        D(60000),
        market(min_amount="0.002", min_notional="5"),
        D(0),
    )

    assert plan.action is LegAction.SKIP
    assert plan.intent is None
    assert "0.002 contracts" in plan.reason


# --- deadband ---------------------------------------------------------------------------------

ETH_MARKET = market(ETH, "0.1", min_notional="5")


def test_gap_inside_deadband_holds() -> None:
    # short 9.6 @ 100 = 960; gap 40 <= band 0.05 * 1000 = 50
    plan = plan_leg(RID, target(ETH, "1000"), short(ETH, "9.6"), D(100), ETH_MARKET, D("0.05"))

    assert plan.action is LegAction.HOLD
    assert plan.intent is None
    assert plan.current_notional == D(960)


def test_gap_exactly_on_deadband_holds() -> None:
    # short 9.5 @ 100 = 950; gap 50 == band 50
    plan = plan_leg(RID, target(ETH, "1000"), short(ETH, "9.5"), D(100), ETH_MARKET, D("0.05"))

    assert plan.action is LegAction.HOLD


def test_gap_just_outside_deadband_sells() -> None:
    # short 9.499 @ 100 = 949.9; gap 50.1 > 50 -> 0.501 contracts -> 0.5 at step 0.1
    plan = plan_leg(RID, target(ETH, "1000"), short(ETH, "9.499"), D(100), ETH_MARKET, D("0.05"))

    assert plan.action is LegAction.SELL
    assert plan.amount == D("0.5")


def test_over_hedge_inside_deadband_holds() -> None:
    # short 10.5 @ 100 = 1050; gap -50, |gap| == band 50
    plan = plan_leg(RID, target(ETH, "1000"), short(ETH, "10.5"), D(100), ETH_MARKET, D("0.05"))

    assert plan.action is LegAction.HOLD


def test_over_hedge_just_outside_deadband_buys_reduce_only() -> None:
    # short 10.6 @ 100 = 1060; gap -60 > band 50 -> buy 0.6 reduce-only
    plan = plan_leg(RID, target(ETH, "1000"), short(ETH, "10.6"), D(100), ETH_MARKET, D("0.05"))

    assert plan.action is LegAction.BUY
    assert plan.amount == D("0.6")
    assert plan.intent is not None
    assert plan.intent.reduce_only is True


# --- shrinking and closing --------------------------------------------------------------------


def test_shrinking_buy_is_reduce_only_and_never_exceeds_the_short() -> None:
    # short 0.010 @ 60000 = 600; target 1 -> gap -599 -> 0.0099833 -> 0.009 <= 0.010
    plan = plan_leg(RID, target(BTC, "1"), short(BTC, "0.010"), D(60000), market(), D(0))

    assert plan.action is LegAction.BUY
    assert plan.amount == D("0.009")
    assert plan.intent is not None
    assert plan.intent.reduce_only is True
    assert plan.intent.amount <= D("0.010")


def test_target_zero_closes_whole_short_exactly_not_rounded() -> None:
    # short 0.017 with step 0.01: rounding 0.017 down would leave 0.007 open;
    # closing to zero buys the whole 0.017
    plan = plan_leg(
        RID, target(BTC, "0"), short(BTC, "0.017"), D(60000), market(step="0.01"), D("0.05")
    )

    assert plan.action is LegAction.BUY
    assert plan.amount == D("0.017")
    assert plan.intent is not None
    assert plan.intent.amount == D("0.017")
    assert plan.intent.reduce_only is True


def test_position_without_target_is_closed() -> None:
    # BTC has no target any more: short 0.02 closed entirely; ETH planned normally
    plans = plan_rebalance(
        RID,
        [target(ETH, "1000")],
        {BTC: short(BTC, "0.02")},
        {BTC: D(60000), ETH: D(100)},
        {BTC: market(), ETH: ETH_MARKET},
        D("0.05"),
    )

    assert [p.symbol for p in plans] == [BTC, ETH]
    btc, eth = plans
    assert btc.target_notional == 0
    assert btc.action is LegAction.BUY
    assert btc.intent is not None
    assert btc.intent.amount == D("0.02")
    assert btc.intent.reduce_only is True
    assert btc.intent.client_order_id == client_order_id(RID, BTC, 0)
    assert eth.action is LegAction.SELL
    assert eth.amount == D(10)  # 1000 / 100


# --- edge cases -------------------------------------------------------------------------------


def test_zero_target_without_position_holds_without_intent() -> None:
    plan = plan_leg(RID, target(BTC, "0"), None, D(60000), market(), D("0.05"))

    assert plan.action is LegAction.HOLD
    assert plan.intent is None
    assert plan.amount == 0


def test_no_targets_and_no_positions_plan_nothing() -> None:
    assert plan_rebalance(RID, [], {}, {}, {}, D("0.05")) == []


@pytest.mark.parametrize("price", [None, D(0), D(-1)])
def test_missing_or_non_positive_price_is_skipped(price: Decimal | None) -> None:
    plan = plan_leg(RID, target(BTC, "1000"), None, price, market(), D(0))

    assert plan.action is LegAction.SKIP
    assert plan.intent is None
    assert plan.reason == "no usable price"


def test_missing_price_in_rebalance_is_skipped() -> None:
    plans = plan_rebalance(RID, [target(BTC, "1000")], {}, {}, {BTC: market()}, D(0))

    assert plans[0].action is LegAction.SKIP
    assert plans[0].price is None


def test_missing_market_is_skipped() -> None:
    plan = plan_leg(RID, target(BTC, "1000"), None, D(60000), None, D(0))

    assert plan.action is LegAction.SKIP
    assert plan.intent is None
    assert plan.reason == "market not listed on the venue"


def test_target_below_one_lot_is_skipped() -> None:
    # 0.5 / 0.37 = 1.35 -> 1 at step 1... below min_amount 10
    plan = plan_leg(
        RID,
        target(ADA, "0.5"),
        None,
        D("0.37"),
        market(ADA, "1", min_amount="10", min_notional="5"),
        D(0),
    )

    assert plan.action is LegAction.SKIP
    assert "below one lot (10 contracts" in plan.reason


def test_over_hedge_above_holding_value_is_planned_normally() -> None:
    # holding worth 1000 hedged at 150%: target 1500 / 100 = 15 contracts
    plan = plan_leg(RID, target(ETH, "1500"), None, D(100), ETH_MARKET, D("0.05"))

    assert plan.action is LegAction.SELL
    assert plan.amount == D(15)
    assert plan.intent is not None
    assert plan.intent.notional == D(1500)


# --- client order ids -------------------------------------------------------------------------


def test_client_order_id_is_deterministic() -> None:
    assert client_order_id(RID, BTC, 0) == client_order_id(RID, BTC, 0)
    assert client_order_id(RID, BTC) == client_order_id(RID, BTC, 0)


def test_client_order_id_differs_by_attempt_symbol_and_rebalance() -> None:
    ids = {
        client_order_id(RID, BTC, 0),
        client_order_id(RID, BTC, 1),
        client_order_id(RID, ETH, 0),
        client_order_id("20240101T0400-paper-main", BTC, 0),
    }

    assert len(ids) == 4


def test_plan_uses_client_order_id_of_rebalance_symbol_and_attempt() -> None:
    plan = plan_leg(RID, target(BTC, "1000"), None, D(60000), market(), D(0), attempt=2)

    assert plan.intent is not None
    assert plan.intent.client_order_id == client_order_id(RID, BTC, 2)


@pytest.mark.parametrize(
    "symbol",
    [
        "1000PEPE/USDT:USDT",
        "BTC/USDT:USDT",
        "1000000MOGCOINXYZ/USDT:USDT",
        "币安人生/USDT:USDT",
        "A-B.C_D/USDT:USDT",
    ],
)
def test_client_order_id_fits_binance_rule_for_awkward_symbols(symbol: str) -> None:
    long_rid = "20240101T0000-" + "paper-account-with-a-very-long-name" * 3
    for rid in (RID, long_rid):
        cid = client_order_id(rid, symbol, 12)
        assert len(cid) <= 36
        assert CLIENT_ID_PATTERN.match(cid)


def test_client_order_id_keeps_readable_base() -> None:
    assert client_order_id(RID, "1000PEPE/USDT:USDT").startswith("hb-1000PEPE-")


# --- round_down -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "step", "expected"),
    [
        ("0.0169", "0.001", "0.016"),
        ("270.99", "1", "270"),
        ("4.12", "0.1", "4.1"),
        ("4.1", "0.1", "4.1"),
        ("17", "5", "15"),
    ],
)
def test_round_down_to_step(value: str, step: str, expected: str) -> None:
    assert round_down(D(value), D(step)) == D(expected)


@pytest.mark.parametrize("step", ["0", "-0.1"])
def test_round_down_rejects_non_positive_step(step: str) -> None:
    with pytest.raises(ValueError, match="step must be positive"):
        round_down(D(1), D(step))

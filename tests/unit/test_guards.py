from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bot.core.domain import HedgeTarget, Market, OrderIntent, Quote, Side
from bot.core.limits import cap_order_size, cap_targets, fit_to_margin, stale_quotes
from bot.core.planner import LegAction, LegPlan

D = Decimal
BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
SOL = "SOL/USDT:USDT"
NOW = datetime(2024, 1, 1, 12, tzinfo=UTC)


def quote(symbol: str, price: str, age_seconds: int) -> Quote:
    return Quote(symbol, D(price), NOW - timedelta(seconds=age_seconds))


def market(
    symbol: str, step: str, min_notional: str, contract_size: str = "1", min_amount: str = ""
) -> Market:
    return Market(
        symbol=symbol,
        base=symbol.split("/")[0],
        quote="USDT",
        contract_size=D(contract_size),
        amount_step=D(step),
        min_amount=D(min_amount or step),
        min_notional=D(min_notional),
        price_tick=D("0.01"),
    )


def order(symbol: str, side: Side, amount: str, price: str, reduce_only: bool = False) -> LegPlan:
    intent = OrderIntent(
        client_order_id=f"hb-{symbol[:3]}",
        symbol=symbol,
        side=side,
        amount=D(amount),
        reduce_only=reduce_only,
        reference_price=D(price),
        contract_size=D(1),
    )
    action = LegAction.SELL if side is Side.SELL else LegAction.BUY
    return LegPlan(symbol, D(0), D(0), D(price), action, D(amount), "planned", intent)


def hold(symbol: str) -> LegPlan:
    return LegPlan(symbol, D(100), D(100), D(1), LegAction.HOLD, D(0), "inside the deadband")


# --- stale_quotes -----------------------------------------------------------------------------


def test_fresh_quotes_pass() -> None:
    quotes = {BTC: quote(BTC, "60000", 60), "BTC/USDT": quote("BTC/USDT", "60010", 300)}

    assert stale_quotes(quotes, [BTC, "BTC/USDT"], NOW, 300) == []


def test_missing_quote_is_reported() -> None:
    assert stale_quotes({}, [BTC], NOW, 300) == [f"{BTC}: no price"]


def test_quote_older_than_limit_is_reported() -> None:
    # age 900 s = 15 min, limit 300 s = 5 min
    problems = stale_quotes({BTC: quote(BTC, "60000", 900)}, [BTC], NOW, 300)

    assert problems == [f"{BTC}: price is 15 min old (limit 5)"]


def test_quote_one_second_past_limit_is_reported() -> None:
    problems = stale_quotes({BTC: quote(BTC, "60000", 301)}, [BTC], NOW, 300)

    assert len(problems) == 1
    assert problems[0].startswith(f"{BTC}: price is")


def test_non_positive_prices_are_reported() -> None:
    quotes = {BTC: quote(BTC, "0", 0), ETH: quote(ETH, "-1", 0)}

    assert stale_quotes(quotes, [ETH, BTC], NOW, 300) == [
        f"{BTC}: non-positive price 0",
        f"{ETH}: non-positive price -1",
    ]


def test_only_needed_symbols_are_checked_once_each_sorted() -> None:
    quotes = {BTC: quote(BTC, "60000", 10_000)}

    problems = stale_quotes(quotes, [SOL, BTC, SOL], NOW, 300)

    assert [p.split(":")[0] for p in problems] == ["BTC/USDT", "SOL/USDT"]
    assert problems[1] == f"{SOL}: no price"


# --- cap_targets ------------------------------------------------------------------------------


def test_targets_scaled_by_max_total_notional() -> None:
    # total 600 + 400 = 1000; limit = min(500, 1 * 2000) = 500 -> scale 0.5
    targets = [HedgeTarget(BTC, D(600), "btc", (("BTC", D(600)),)), HedgeTarget(ETH, D(400))]

    guarded = cap_targets(targets, D(2000), D(500), D(1))

    assert [t.notional for t in guarded.targets] == [D(300), D(200)]
    assert guarded.targets[0].reason == "btc"
    assert guarded.notes == (
        "targets total 1,000.00 above the max_total_notional limit 500.00: "
        "all legs scaled by 0.5000",
    )


def test_targets_scaled_by_max_hedge_ratio() -> None:
    # total 1000; limit = min(10000, 0.8 * 1000) = 800 -> scale 0.8
    targets = [HedgeTarget(BTC, D(600)), HedgeTarget(ETH, D(400))]

    guarded = cap_targets(targets, D(1000), D(10000), D("0.8"))

    assert [t.notional for t in guarded.targets] == [D(480), D(320)]
    assert guarded.notes == (
        "targets total 1,000.00 above the max_hedge_ratio limit 800.00: all legs scaled by 0.8000",
    )


def test_targets_within_limits_are_untouched() -> None:
    # total 1000 <= min(1000, 1 * 1200) = 1000
    targets = [HedgeTarget(BTC, D(600)), HedgeTarget(ETH, D(400))]

    guarded = cap_targets(targets, D(1200), D(1000), D(1))

    assert guarded.targets == tuple(targets)
    assert guarded.notes == ()


def test_zero_targets_are_untouched_even_with_zero_limit() -> None:
    guarded = cap_targets([HedgeTarget(BTC, D(0))], D(0), D(0), D(1))

    assert guarded.targets == (HedgeTarget(BTC, D(0)),)
    assert guarded.notes == ()


# --- cap_order_size ---------------------------------------------------------------------------


def test_order_above_cap_clipped_to_cap_rounded_to_step() -> None:
    # 0.05 * 60000 = 3000 > 1000; 1000 / 60000 = 0.01666.. -> 0.016
    plans = [order(BTC, Side.SELL, "0.05", "60000"), hold(ETH)]

    capped, notes = cap_order_size(plans, D(1000), {BTC: D("0.001"), ETH: D("0.01")})

    btc, eth = capped
    assert btc.amount == D("0.016")
    assert btc.intent is not None
    assert btc.intent.amount == D("0.016")
    assert btc.action is LegAction.SELL
    assert eth == plans[1]
    assert notes == [f"{BTC}: order 3,000.00 clipped to max_order_notional 1,000.00"]


def test_order_within_cap_is_untouched() -> None:
    # 0.01 * 60000 = 600 <= 600
    plans = [order(BTC, Side.SELL, "0.01", "60000")]

    capped, notes = cap_order_size(plans, D(600), {BTC: D("0.001")})

    assert capped == plans
    assert notes == []


def test_reduce_only_order_above_cap_is_clipped_too() -> None:
    # 30 * 100 = 3000 > 1000 -> 10 contracts at step 1
    capped, _ = cap_order_size(
        [order(ETH, Side.BUY, "30", "100", reduce_only=True)], D(1000), {ETH: D(1)}
    )

    assert capped[0].intent is not None
    assert capped[0].intent.amount == D(10)
    assert capped[0].intent.reduce_only is True


def test_cap_below_one_lot_skips_the_order() -> None:
    # 50 / 60000 = 0.00083 -> 0 at step 0.001
    capped, notes = cap_order_size(
        [order(BTC, Side.SELL, "0.05", "60000")], D(50), {BTC: D("0.001")}
    )

    assert capped[0].action is LegAction.SKIP
    assert capped[0].intent is None
    assert capped[0].amount == 0
    assert capped[0].reason == "max_order_notional is below one lot"
    assert notes == []


# --- fit_to_margin ----------------------------------------------------------------------------

MARKETS = {
    BTC: market(BTC, "0.001", "100"),
    ETH: market(ETH, "0.001", "20"),
    SOL: market(SOL, "0.01", "5"),
}


def test_sell_that_fits_the_collateral_is_untouched() -> None:
    # per contract 60000 * (1/2 + 0.001) = 30060; 0.03 * 30060 = 901.8 <= 1000
    plans = [order(BTC, Side.SELL, "0.03", "60000")]

    fitted, notes = fit_to_margin(plans, D(1000), 2, MARKETS)

    assert fitted == plans
    assert notes == []


def test_fee_allowance_clips_order_that_only_fits_without_fees() -> None:
    # 1x: 0.01 * 60000 = 600 of margin but 0.01 * 60060 = 600.6 with the fee allowance > 600
    # -> 600 / 60060 = 0.00999 -> 0.009 (notional 540 >= 100)
    fitted, notes = fit_to_margin([order(BTC, Side.SELL, "0.01", "60000")], D(600), 1, MARKETS)

    assert fitted[0].amount == D("0.009")
    assert fitted[0].intent is not None
    assert fitted[0].intent.amount == D("0.009")
    assert notes == [
        f"{BTC}: order clipped from 0.01 to 0.009 contracts to fit the free collateral at 1x"
    ]


def test_budget_is_shared_across_legs_in_order() -> None:
    # collateral 1000 at 2x:
    # BTC 0.03 * 60000 * 0.501 = 901.8 fits -> 98.2 left
    # ETH 0.1 * 3000 * 0.501 = 150.3 > 98.2 -> 98.2 / 1503 = 0.0653 -> 0.065 (notional 195 >= 20),
    #     uses 0.065 * 1503 = 97.695 -> 0.505 left
    # SOL 1 * 150 * 0.501 = 75.15 > 0.505 -> 0.505 / 75.15 = 0.0067 -> 0 at step 0.01 -> SKIP
    plans = [
        order(BTC, Side.SELL, "0.03", "60000"),
        order(ETH, Side.SELL, "0.1", "3000"),
        order(SOL, Side.SELL, "1", "150"),
    ]

    fitted, notes = fit_to_margin(plans, D(1000), 2, MARKETS)

    btc, eth, sol = fitted
    assert btc == plans[0]
    assert eth.intent is not None
    assert eth.intent.amount == D("0.065")
    assert sol.action is LegAction.SKIP
    assert sol.intent is None
    assert sol.reason == "no free collateral for margin (0.50 left at 2x)"  # 0.505, half-even
    assert notes == [
        f"{ETH}: order clipped from 0.1 to 0.065 contracts to fit the free collateral at 2x",
        f"{SOL}: no free collateral for margin (0.50 left at 2x)",
    ]


def test_reduce_only_orders_are_untouched_without_collateral() -> None:
    plans = [order(BTC, Side.BUY, "0.5", "60000", reduce_only=True), hold(ETH)]

    fitted, notes = fit_to_margin(plans, D(0), 1, MARKETS)

    assert fitted == plans
    assert notes == []


def test_sell_skipped_when_nothing_fits() -> None:
    # 10 / 30060 -> 0 contracts
    fitted, notes = fit_to_margin([order(BTC, Side.SELL, "0.03", "60000")], D(10), 2, MARKETS)

    assert fitted[0].action is LegAction.SKIP
    assert fitted[0].intent is None
    assert fitted[0].amount == 0
    assert notes == [f"{BTC}: no free collateral for margin (10.00 left at 2x)"]


def test_clipped_order_below_min_notional_is_skipped() -> None:
    # 40 / 30060 = 0.00133 -> 0.001 -> notional 60 < BTC min notional 100
    fitted, _ = fit_to_margin([order(BTC, Side.SELL, "0.03", "60000")], D(40), 2, MARKETS)

    assert fitted[0].action is LegAction.SKIP
    assert fitted[0].intent is None


def test_clipped_order_below_min_amount_is_skipped() -> None:
    # 1x, 0.5 / (100 * 1.001) = 0.004995 -> 0.004 at step 0.001 < min amount 0.005
    markets = {ETH: market(ETH, "0.001", "0", min_amount="0.005")}

    fitted, _ = fit_to_margin([order(ETH, Side.SELL, "1", "100")], D("0.5"), 1, markets)

    assert fitted[0].action is LegAction.SKIP


def test_contract_size_counts_in_the_margin() -> None:
    # size 10, 1x: per contract 25 * 10 * 1.001 = 250.25; 4 * 250.25 = 1001 > 1000
    # -> 1000 / 250.25 = 3.996 -> 3 contracts (notional 750)
    markets = {SOL: market(SOL, "1", "5", contract_size="10")}

    fitted, _ = fit_to_margin([order(SOL, Side.SELL, "4", "25")], D(1000), 1, markets)

    assert fitted[0].intent is not None
    assert fitted[0].intent.amount == D(3)

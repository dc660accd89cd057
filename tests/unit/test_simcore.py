from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bot.core.domain import ZERO, ForcedClose, Market, OrderStatus, PositionSide, Side
from bot.margin.binance import bundled_brackets, liquidation_price
from bot.margin.venues import LiquidationMethod, liquidation_price_for
from bot.sim.exchange import (
    BAD_PRECISION,
    MARGIN_INSUFFICIENT,
    MARGIN_TYPE_WITH_POSITION,
    MIN_NOTIONAL,
    NO_NEED_TO_CHANGE_MARGIN,
    REDUCE_ONLY_REJECTED,
    SimExchange,
    SimRejected,
)

D = Decimal
BTC = "BTC/USDT:USDT"
T = datetime(2024, 1, 1, tzinfo=UTC)
BTC_MARKET = Market(
    symbol=BTC,
    base="BTC",
    quote="USDT",
    contract_size=D(1),
    amount_step=D("0.001"),
    min_amount=D("0.001"),
    min_notional=D(100),
    price_tick=D("0.1"),
)
# bundled BTCUSDT brackets: 1: [0, 50k) mmr 0.4% cum 0 | 2: [50k, 600k) mmr 0.5% cum 50


def exchange(wallet: str = "10000", leverage: int = 2, slippage_bps: str = "0") -> SimExchange:
    ex = SimExchange(
        markets={BTC: BTC_MARKET},
        brackets=bundled_brackets,
        wallet=D(wallet),
        taker_fee=D("0.0005"),
        slippage_bps=D(slippage_bps),
    )
    ex.set_isolated(BTC)
    ex.set_leverage(BTC, leverage)
    return ex


_ids = iter(range(1_000_000))


def trade(ex: SimExchange, side: Side, amount: str, price: str, reduce_only: bool = False) -> None:
    ex.market_order(
        BTC,
        side,
        D(amount),
        client_order_id=f"c{next(_ids)}",
        reduce_only=reduce_only,
        price=D(price),
        time=T,
    )


def rejection(ex: SimExchange, side: Side, amount: str, price: str, reduce_only: bool) -> int:
    with pytest.raises(SimRejected) as caught:
        trade(ex, side, amount, price, reduce_only)
    return caught.value.code


# --- opening, adding, reducing, closing -------------------------------------------------------


def test_opening_short_moves_margin_and_fee_out_of_wallet() -> None:
    # notional 0.1 * 60000 = 6000; margin 6000 / 2 = 3000; fee 6000 * 0.0005 = 3
    ex = exchange()

    order = ex.market_order(
        BTC, Side.SELL, D("0.1"), client_order_id="open", reduce_only=False, price=D(60000), time=T
    )

    assert ex.wallet == D(6997)
    pos = ex.positions[BTC]
    assert pos.contracts == D("-0.1")
    assert pos.side is PositionSide.SHORT
    assert pos.entry_price == D(60000)
    assert pos.isolated_margin == D(3000)
    assert order.status is OrderStatus.FILLED
    assert order.filled == D("0.1")
    assert order.average_price == D(60000)
    assert ex.orders["open"] is order
    (fill,) = ex.trades
    assert fill.fee == D(3)
    assert fill.realized_pnl == 0
    assert fill.client_order_id == "open"
    assert fill.forced is None


def test_slippage_moves_fill_price_against_the_taker() -> None:
    # 10 bps: sell at 60000 * 0.999 = 59940, buy at 60000 * 1.001 = 60060
    ex = exchange(wallet="100000", slippage_bps="10")

    trade(ex, Side.SELL, "0.1", "60000")
    trade(ex, Side.BUY, "0.05", "60000", reduce_only=True)

    sell, buy = ex.trades
    assert sell.price == D(59940)
    assert sell.fee == D("2.997")  # 0.1 * 59940 * 0.0005
    assert buy.price == D(60060)
    assert buy.realized_pnl == D(-6)  # 0.05 * (59940 - 60060)
    assert ex.positions[BTC].entry_price == D(59940)


def test_partial_reduce_releases_margin_pro_rata_and_realises_pnl() -> None:
    # short 0.1 @ 60000, margin 3000, wallet 6997
    # buy 0.04 @ 55000: PnL 0.04 * (60000 - 55000) = 200; released 3000 * 0.04 / 0.1 = 1200;
    # fee 0.04 * 55000 * 0.0005 = 1.1 -> wallet 6997 + 1200 + 200 - 1.1 = 8395.9
    ex = exchange()
    trade(ex, Side.SELL, "0.1", "60000")

    trade(ex, Side.BUY, "0.04", "55000", reduce_only=True)

    pos = ex.positions[BTC]
    assert pos.contracts == D("-0.06")
    assert pos.isolated_margin == D(1800)
    assert pos.entry_price == D(60000)
    assert ex.wallet == D("8395.9")
    assert ex.trades[-1].realized_pnl == D(200)
    assert ex.trades[-1].fee == D("1.1")


def test_full_close_returns_all_margin() -> None:
    # after the partial reduce above: buy 0.06 @ 62000: PnL 0.06 * (60000 - 62000) = -120;
    # released 1800; fee 0.06 * 62000 * 0.0005 = 1.86 -> 8395.9 + 1800 - 120 - 1.86 = 10074.04
    # = 10000 - (3 + 1.1 + 1.86) + (200 - 120)
    ex = exchange()
    trade(ex, Side.SELL, "0.1", "60000")
    trade(ex, Side.BUY, "0.04", "55000", reduce_only=True)

    trade(ex, Side.BUY, "0.06", "62000", reduce_only=True)

    pos = ex.positions[BTC]
    assert pos.contracts == 0
    assert pos.isolated_margin == 0
    assert pos.entry_price == 0
    assert ex.wallet == D("10074.04")
    assert ex.trades[-1].realized_pnl == D(-120)
    assert ex.liquidation_price(BTC) is None


def test_full_close_in_thirds_leaves_no_margin_behind() -> None:
    # 3x: notional 0.3 * 30001 = 9000.3, margin 3000.1, fee 4.50015. Each third releases
    # 3000.1 / 3 = 1000.0333.. (inexact) and pays fee 0.1 * 30001 * 0.0005 = 1.50005; no PnL.
    ex = exchange(wallet="100000", leverage=3)
    trade(ex, Side.SELL, "0.3", "30001")

    for _ in range(3):
        trade(ex, Side.BUY, "0.1", "30001", reduce_only=True)

    assert ex.positions[BTC].isolated_margin == 0
    # 100000 - 4.50015 - 3 * 1.50005 = 99990.9997, up to Decimal's 28 significant digits
    # (the inexact thirds leave a 1e-23 trace in the wallet)
    assert abs(ex.wallet - D("99990.9997")) < D("1e-20")


def test_adding_to_short_weights_entry_price() -> None:
    # (0.1 * 60000 + 0.3 * 64000) / 0.4 = (6000 + 19200) / 0.4 = 63000
    # margin 3000 + 0.3 * 64000 / 2 = 3000 + 9600 = 12600
    ex = exchange(wallet="100000")
    trade(ex, Side.SELL, "0.1", "60000")

    trade(ex, Side.SELL, "0.3", "64000")

    pos = ex.positions[BTC]
    assert pos.contracts == D("-0.4")
    assert pos.entry_price == D(63000)
    assert pos.isolated_margin == D(12600)
    assert ex.wallet == D(100000) - D(12600) - D(3) - D("9.6")


# --- rejections -------------------------------------------------------------------------------


def test_reduce_only_without_position_is_rejected() -> None:
    ex = exchange()

    assert rejection(ex, Side.BUY, "0.01", "60000", reduce_only=True) == REDUCE_ONLY_REJECTED


def test_reduce_only_that_grows_or_flips_the_short_is_rejected() -> None:
    ex = exchange()
    trade(ex, Side.SELL, "0.1", "60000")
    wallet = ex.wallet

    assert rejection(ex, Side.SELL, "0.01", "60000", reduce_only=True) == REDUCE_ONLY_REJECTED
    assert rejection(ex, Side.BUY, "0.101", "60000", reduce_only=True) == REDUCE_ONLY_REJECTED
    assert ex.positions[BTC].contracts == D("-0.1")
    assert ex.wallet == wallet
    assert len(ex.trades) == 1


def test_opening_order_below_min_notional_is_rejected() -> None:
    # 0.001 * 60000 = 60 < 100
    ex = exchange()

    assert rejection(ex, Side.SELL, "0.001", "60000", reduce_only=False) == MIN_NOTIONAL
    assert ex.trades == []


def test_reduce_only_order_below_min_notional_is_accepted() -> None:
    ex = exchange()
    trade(ex, Side.SELL, "0.1", "60000")

    trade(ex, Side.BUY, "0.001", "60000", reduce_only=True)  # notional 60 < 100

    assert ex.positions[BTC].contracts == D("-0.099")


def test_amount_off_the_lot_step_is_rejected() -> None:
    ex = exchange()

    assert rejection(ex, Side.SELL, "0.0105", "60000", reduce_only=False) == BAD_PRECISION


def test_insufficient_margin_is_rejected_and_leaves_state_unchanged() -> None:
    # 1x: margin 0.02 * 60000 = 1200 plus fee 0.6 = 1200.6 > 1200.5
    ex = exchange(wallet="1200.5", leverage=1)

    assert rejection(ex, Side.SELL, "0.02", "60000", reduce_only=False) == MARGIN_INSUFFICIENT
    assert ex.wallet == D("1200.5")
    assert ex.position(BTC).contracts == 0
    assert ex.position(BTC).isolated_margin == 0
    assert ex.trades == []
    assert ex.orders == {}


def test_margin_plus_fee_exactly_equal_to_wallet_is_accepted() -> None:
    ex = exchange(wallet="1200.6", leverage=1)

    trade(ex, Side.SELL, "0.02", "60000")

    assert ex.wallet == 0


def test_set_isolated_twice_is_rejected_with_4046() -> None:
    ex = exchange()

    with pytest.raises(SimRejected) as caught:
        ex.set_isolated(BTC)

    assert caught.value.code == NO_NEED_TO_CHANGE_MARGIN


def test_set_isolated_with_open_position_is_rejected_with_4048() -> None:
    ex = SimExchange(markets={BTC: BTC_MARKET}, brackets=bundled_brackets, wallet=D(10000))
    trade(ex, Side.SELL, "0.1", "60000")

    with pytest.raises(SimRejected) as caught:
        ex.set_isolated(BTC)

    assert caught.value.code == MARGIN_TYPE_WITH_POSITION


# --- funding ----------------------------------------------------------------------------------


def test_positive_funding_rate_pays_the_short_into_isolated_margin() -> None:
    # amount = -(-0.1) * 61000 * 0.0001 = 0.61
    ex = exchange()
    trade(ex, Side.SELL, "0.1", "60000")
    wallet = ex.wallet

    payment = ex.apply_funding(BTC, D("0.0001"), D(61000), T)

    assert payment is not None
    assert payment.amount == D("0.61")
    assert payment.position_contracts == D("-0.1")
    assert ex.positions[BTC].isolated_margin == D("3000.61")
    assert ex.wallet == wallet


def test_negative_funding_rate_charges_the_short() -> None:
    # amount = 0.1 * 59000 * -0.0002 = -1.18
    ex = exchange()
    trade(ex, Side.SELL, "0.1", "60000")

    payment = ex.apply_funding(BTC, D("-0.0002"), D(59000), T)

    assert payment is not None
    assert payment.amount == D("-1.18")
    assert ex.positions[BTC].isolated_margin == D("2998.82")


def test_funding_on_flat_position_is_nothing() -> None:
    ex = exchange()

    assert ex.apply_funding(BTC, D("0.0001"), D(60000), T) is None
    assert ex.funding == []


# --- liquidation ------------------------------------------------------------------------------

# Short 1 BTC @ 60000 at 3x: margin 20000. Notional at the liquidation price ~80k -> bracket 2:
# LP = (20000 + 50 + 60000) / (0.005 + 1) = 80050 / 1.005 = 79651.74...
LP_3X = D(80050) / D("1.005")


def test_short_3x_liquidation_price_follows_bot_risk() -> None:
    ex = exchange(wallet="100000", leverage=3)
    trade(ex, Side.SELL, "1", "60000")

    expected = liquidation_price(
        PositionSide.SHORT, D(1), D(60000), D(20000), bundled_brackets("BTCUSDT")
    )
    assert ex.liquidation_price(BTC) == expected == LP_3X


def test_short_3x_survives_bar_high_below_liquidation_price() -> None:
    ex = exchange(wallet="100000", leverage=3)
    trade(ex, Side.SELL, "1", "60000")

    assert ex.check_liquidation(BTC, D("79651.7"), D(59000), T) is None
    assert ex.positions[BTC].contracts == D(-1)


def test_short_3x_liquidated_when_bar_high_reaches_liquidation_price() -> None:
    # wallet after opening: 100000 - 20000 - 30 (fee 60000 * 0.0005) = 79970
    ex = exchange(wallet="100000", leverage=3)
    trade(ex, Side.SELL, "1", "60000")

    liq = ex.check_liquidation(BTC, LP_3X, D(59000), T)

    assert liq is not None
    assert liq.forced is ForcedClose.LIQUIDATION
    assert liq.client_order_id is None
    assert liq.side is Side.BUY
    assert liq.amount == D(1)
    assert liq.price == LP_3X
    # PnL = 1 * (60000 - LP) = -19651.74...; clearance = 20000 + PnL = 348.26... (= LP*0.5% - 50)
    assert liq.realized_pnl == D(60000) - LP_3X
    assert liq.fee == D(20000) + liq.realized_pnl
    assert liq.fee - liq.realized_pnl == D(20000)  # together they consume the isolated margin
    assert round(liq.fee, 4) == D("348.2587")
    assert ex.wallet == D(79970)
    pos = ex.positions[BTC]
    assert (pos.contracts, pos.isolated_margin, pos.entry_price) == (ZERO, ZERO, ZERO)
    assert ex.trades[-1] is liq


@pytest.mark.parametrize(("leverage", "liquidated"), [(1, False), (3, True)])
def test_plus_50_percent_bar_liquidates_3x_short_but_not_1x(
    leverage: int, liquidated: bool
) -> None:
    # 1x: LP = (60000 + 50 + 60000) / 1.005 = 119452.7 > 90000; 3x: LP = 79651.7 <= 90000
    ex = exchange(wallet="100000", leverage=leverage)
    trade(ex, Side.SELL, "1", "60000")

    liq = ex.check_liquidation(BTC, D(90000), D(60000), T)

    assert (liq is not None) is liquidated
    assert (ex.positions[BTC].contracts == 0) is liquidated


# --- conservation -----------------------------------------------------------------------------


def test_wallet_plus_margins_equal_initial_minus_fees_plus_pnl_plus_funding() -> None:
    ex = exchange(wallet="100000", leverage=2, slippage_bps="3")
    trade(ex, Side.SELL, "0.5", "60000")
    ex.apply_funding(BTC, D("0.0001"), D(60500), T)
    trade(ex, Side.SELL, "0.25", "61000")
    ex.apply_funding(BTC, D("-0.00025"), D(58000), T)
    trade(ex, Side.BUY, "0.3", "57000", reduce_only=True)
    ex.add_margin(BTC, D(1000))
    ex.apply_funding(BTC, D("0.0003"), D(59000), T)
    trade(ex, Side.BUY, "0.2", "63000", reduce_only=True)
    trade(ex, Side.SELL, "0.1", "62000")

    fees = sum((t.fee for t in ex.trades), ZERO)
    pnl = sum((t.realized_pnl for t in ex.trades), ZERO)
    funding = sum((f.amount for f in ex.funding), ZERO)
    margins = sum((p.isolated_margin for p in ex.positions.values()), ZERO)
    assert len(ex.trades) == 5
    assert len(ex.funding) == 3
    assert ex.wallet + margins == D(100000) - fees + pnl + funding


def test_conservation_holds_through_full_close_and_liquidation() -> None:
    ex = exchange(wallet="100000", leverage=3)
    trade(ex, Side.SELL, "0.7", "60000")
    ex.apply_funding(BTC, D("0.0001"), D(61000), T)
    trade(ex, Side.BUY, "0.7", "59000", reduce_only=True)
    trade(ex, Side.SELL, "1", "60000")
    ex.apply_funding(BTC, D("-0.0001"), D(62000), T)
    assert ex.check_liquidation(BTC, D(90000), D(60000), T) is not None

    fees = sum((t.fee for t in ex.trades), ZERO)
    pnl = sum((t.realized_pnl for t in ex.trades), ZERO)
    funding = sum((f.amount for f in ex.funding), ZERO)
    margins = sum((p.isolated_margin for p in ex.positions.values()), ZERO)
    assert margins == 0
    assert ex.wallet + margins == D(100000) - fees + pnl + funding


# --- other venues' liquidation methods ---------------------------------------------------------


def test_liquidation_method_selects_the_venue_formula_and_defaults_to_binance() -> None:
    # Short 0.1 BTC @ 60000 at 2x. The bundled table read as each venue's tiers (notional,
    # value at entry): 0.4% in its first tier for both.
    found: dict[LiquidationMethod | None, Decimal | None] = {}
    for method in (None, *LiquidationMethod):
        ex = SimExchange(
            markets={BTC: BTC_MARKET},
            brackets=bundled_brackets,
            wallet=D(10000),
            taker_fee=D("0.0005"),
            **({} if method is None else {"liquidation_method": method}),
        )
        ex.set_isolated(BTC)
        ex.set_leverage(BTC, 2)
        trade(ex, Side.SELL, "0.1", "60000")
        pos = ex.positions[BTC]
        args = (PositionSide.SHORT, D("0.1"), pos.entry_price, pos.isolated_margin)
        found[method] = ex.liquidation_price(BTC)
        expected = liquidation_price_for(
            method or LiquidationMethod.BINANCE, *args, bundled_brackets(BTC), D(1)
        )
        assert found[method] == expected

    assert found[None] == found[LiquidationMethod.BINANCE]  # the default
    binance, bybit = found[LiquidationMethod.BINANCE], found[LiquidationMethod.BYBIT]
    assert binance is not None and bybit is not None
    # Binance's requirement is taken at the liquidation notional (higher for a short), Bybit's at
    # the entry value: the same table liquidates the short sooner on Binance.
    assert binance < bybit

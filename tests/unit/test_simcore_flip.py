"""A trade through zero flips the position (Binance: close it, open the rest with fresh margin).

Before the fix the simulation treated a flip as a pure reduction: it released the margin of the
whole traded amount (more than the position held), left the old entry price on the new side and
realised PnL on contracts that were never held, so the isolated margin went negative and every
liquidation price (and the emulator's /fapi/v2/positionRisk) failed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bot.core.clock import ReplayClock, to_ms
from bot.core.domain import ZERO, ForcedClose, Market, OrderStatus, PositionSide, Side
from bot.emulator.account import Account
from bot.margin.binance import bundled_brackets, liquidation_price
from bot.market.simulated import simulate_market
from bot.sim.exchange import MARGIN_INSUFFICIENT, SimExchange, SimRejected
from bot.sim.paper import PaperVenue

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


def exchange(wallet: str, leverage: int) -> SimExchange:
    ex = SimExchange(
        markets={BTC: BTC_MARKET},
        brackets=bundled_brackets,
        wallet=D(wallet),
        taker_fee=D("0.0005"),
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
        client_order_id=f"f{next(_ids)}",
        reduce_only=reduce_only,
        price=D(price),
        time=T,
    )


def conserved(ex: SimExchange, initial: str) -> bool:
    fees = sum((t.fee for t in ex.trades), ZERO)
    pnl = sum((t.realized_pnl for t in ex.trades), ZERO)
    funding = sum((f.amount for f in ex.funding), ZERO)
    margins = sum((p.isolated_margin for p in ex.positions.values()), ZERO)
    return ex.wallet + margins == D(initial) - fees + pnl + funding


def test_buy_through_a_short_closes_it_then_opens_a_long_with_fresh_margin() -> None:
    # 2x. Sell 0.1 @ 60000: margin 3000, fee 3 -> wallet 6997.
    # Buy 0.25 @ 55000 (not reduce-only): closes the 0.1 short with PnL 0.1 * (60000 - 55000) =
    # 500 and its whole margin 3000 back; opens 0.15 long @ 55000: margin 0.15 * 55000 / 2 =
    # 4125; one fee 0.25 * 55000 * 0.0005 = 6.875.
    # wallet 6997 + 3000 + 500 - 6.875 - 4125 = 6365.125
    ex = exchange("10000", leverage=2)
    trade(ex, Side.SELL, "0.1", "60000")

    order = ex.market_order(
        BTC, Side.BUY, D("0.25"), client_order_id="flip", reduce_only=False, price=D(55000), time=T
    )

    pos = ex.positions[BTC]
    assert pos.contracts == D("0.15")
    assert pos.side is PositionSide.LONG
    assert pos.entry_price == D(55000)
    assert pos.isolated_margin == D(4125)
    assert ex.wallet == D("6365.125")
    assert order.status is OrderStatus.FILLED
    assert (order.filled, order.average_price) == (D("0.25"), D(55000))
    flip = ex.trades[-1]
    assert (flip.side, flip.amount, flip.price) == (Side.BUY, D("0.25"), D(55000))
    assert flip.realized_pnl == D(500)
    assert flip.fee == D("6.875")
    # the new long's liquidation price is Binance's for 0.15 @ 55000 with 4125 of margin:
    # notional 8250 -> bracket 1: LP = (4125 + 0 - 8250) / (0.15 * 0.004 - 0.15) = 27610.441...
    expected = liquidation_price(
        PositionSide.LONG, D("0.15"), D(55000), D(4125), bundled_brackets(BTC)
    )
    assert ex.liquidation_price(BTC) == expected
    assert expected is not None and round(expected, 2) == D("27610.44")
    assert conserved(ex, "10000")  # 6365.125 + 4125 = 10000 - 3 - 6.875 + 500


def test_closing_the_flipped_long_settles_from_its_own_entry_and_margin() -> None:
    # after the flip above (wallet 6365.125, long 0.15 @ 55000, margin 4125):
    # sell 0.15 @ 56000 reduce-only: PnL 0.15 * 1000 = 150, fee 8400 * 0.0005 = 4.2
    # wallet 6365.125 + 4125 + 150 - 4.2 = 10635.925 = 10000 - 3 - 6.875 - 4.2 + 500 + 150
    ex = exchange("10000", leverage=2)
    trade(ex, Side.SELL, "0.1", "60000")
    trade(ex, Side.BUY, "0.25", "55000")

    trade(ex, Side.SELL, "0.15", "56000", reduce_only=True)

    pos = ex.positions[BTC]
    assert (pos.contracts, pos.isolated_margin, pos.entry_price) == (ZERO, ZERO, ZERO)
    assert ex.trades[-1].realized_pnl == D(150)
    assert ex.trades[-1].fee == D("4.2")
    assert ex.wallet == D("10635.925")
    assert conserved(ex, "10000")


def test_sell_through_a_long_opens_a_short_at_the_trade_price() -> None:
    # 4x. Buy 0.2 @ 50000: margin 2500, fee 5 -> wallet 17495.
    # Sell 0.5 @ 52000: PnL 0.2 * 2000 = 400; opens 0.3 short @ 52000: margin 15600 / 4 = 3900;
    # fee 26000 * 0.0005 = 13 -> wallet 17495 + 2500 + 400 - 13 - 3900 = 16482
    ex = exchange("20000", leverage=4)
    trade(ex, Side.BUY, "0.2", "50000")

    trade(ex, Side.SELL, "0.5", "52000")

    pos = ex.positions[BTC]
    assert (pos.contracts, pos.entry_price, pos.isolated_margin) == (D("-0.3"), D(52000), D(3900))
    assert ex.wallet == D(16482)
    assert ex.trades[-1].realized_pnl == D(400)
    assert ex.trades[-1].fee == D(13)
    assert conserved(ex, "20000")


def test_flip_the_wallet_cannot_margin_after_the_close_is_rejected_and_changes_nothing() -> None:
    # 1x. Sell 0.1 @ 60000: margin 6000, fee 3 -> wallet 97.
    # Buy 0.3 @ 60000: the close brings 6000 back (PnL 0); the 0.2 long needs 12000 plus the
    # fee 9: 12009 > 97 + 6000 -> -2019, nothing changes.
    ex = exchange("6100", leverage=1)
    trade(ex, Side.SELL, "0.1", "60000")

    with pytest.raises(SimRejected) as caught:
        trade(ex, Side.BUY, "0.3", "60000")

    assert caught.value.code == MARGIN_INSUFFICIENT
    pos = ex.positions[BTC]
    assert (pos.contracts, pos.entry_price, pos.isolated_margin) == (D("-0.1"), D(60000), D(6000))
    assert ex.wallet == D(97)
    assert len(ex.trades) == 1


def test_flip_the_wallet_can_just_margin_is_accepted() -> None:
    # 1x, as above. Buy 0.2 @ 60000: the 0.1 long needs 6000 plus the fee 6 = 6006 <= 6097
    # -> wallet 97 + 6000 - 6 - 6000 = 91
    ex = exchange("6100", leverage=1)
    trade(ex, Side.SELL, "0.1", "60000")

    trade(ex, Side.BUY, "0.2", "60000")

    pos = ex.positions[BTC]
    assert (pos.contracts, pos.entry_price, pos.isolated_margin) == (D("0.1"), D(60000), D(6000))
    assert ex.wallet == D(91)


def test_a_resting_order_that_flips_when_it_fills_is_settled_as_a_flip() -> None:
    # the first test's flip, through open_order and fill_open
    ex = exchange("10000", leverage=2)
    trade(ex, Side.SELL, "0.1", "60000")
    order = ex.open_order(
        BTC, Side.BUY, D("0.25"), client_order_id="rest", reduce_only=False, price=D(60000), time=T
    )

    filled = ex.fill_open(order, D(55000), T)

    assert filled is not None and filled.realized_pnl == D(500) and filled.fee == D("6.875")
    assert order.status is OrderStatus.FILLED
    pos = ex.positions[BTC]
    assert (pos.contracts, pos.entry_price, pos.isolated_margin) == (D("0.15"), D(55000), D(4125))
    assert ex.wallet == D("6365.125")


def test_funding_beyond_the_isolated_margin_takes_it_all_and_liquidates() -> None:
    # 20x. Sell 0.1 @ 60000: margin 300, fee 3 -> wallet 9697.
    # Funding -6% at mark 60000 would charge 0.1 * 60000 * 0.06 = 360 > 300: it takes the 300.
    # With 0 margin: LP = (0 + 0 + 6000) / (0.1 * 0.004 + 0.1) = 6000 / 0.1004 = 59760.956...
    # <= the mark: liquidated at LP, PnL 0.1 * (60000 - LP) = 23.904..., all of it the clearance.
    ex = exchange("10000", leverage=20)
    trade(ex, Side.SELL, "0.1", "60000")

    payment = ex.apply_funding(BTC, D("-0.06"), D(60000), T)

    assert payment is not None and payment.amount == D(-300)
    lp = D(6000) / D("0.1004")
    liq = ex.trades[-1]
    assert liq.forced is ForcedClose.LIQUIDATION and liq.price == lp and liq.amount == D("0.1")
    assert round(liq.realized_pnl, 2) == D("23.90") and liq.fee == liq.realized_pnl
    pos = ex.positions[BTC]
    assert (pos.contracts, pos.isolated_margin) == (ZERO, ZERO)
    assert ex.wallet == D(9697)
    assert conserved(ex, "10000")


def test_funding_within_the_isolated_margin_is_unchanged() -> None:
    # the charge fits the margin: paid in full, no liquidation (300 - 0.1 * 60000 * 0.001 = 294)
    ex = exchange("10000", leverage=20)
    trade(ex, Side.SELL, "0.1", "60000")

    payment = ex.apply_funding(BTC, D("-0.001"), D(60000), T)

    assert payment is not None and payment.amount == D(-6)
    assert ex.positions[BTC].isolated_margin == D(294)
    assert len(ex.trades) == 1


def test_emulator_positions_answer_after_someone_else_flips_the_short() -> None:
    # the chaos soak's seed 35: someone else's market buy larger than the bot's short
    start = datetime(2024, 1, 1, tzinfo=UTC)
    data = simulate_market(["BTC"], to_ms(start), bars=48)
    venue = PaperVenue(
        data, ReplayClock(datetime(2024, 1, 2, tzinfo=UTC)), {}, D(50000), D("0.0005"), ZERO
    )
    account = Account(venue, None)
    venue.exchange.set_isolated(BTC)
    venue.exchange.set_leverage(BTC, 2)
    account.external_trade(BTC, "sell", D("0.3"))

    account.external_trade("BTCUSDT", "buy", D("0.5"))

    view = account.position_view(BTC)
    price = account.last_price_now(BTC)
    assert view.amount == D("0.2")
    assert view.entry_price == price
    assert view.isolated_wallet == D("0.2") * price / 2
    assert view.liquidation_price > 0
    assert [p.symbol_id for p in account.positions()] == ["BTCUSDT"]

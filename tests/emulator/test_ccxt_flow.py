"""The real ccxt binanceusdm and binance (spot) clients against the emulator, checked with the
structure validators ccxt ships in its wheel and against the simulation's own ledger."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from ccxt.base.errors import MarginModeAlreadySet, NoChange, OperationRejected
from ccxt.test.exchange.base import test_balance as check_balance
from ccxt.test.exchange.base import test_leverage_tier as check_leverage_tier
from ccxt.test.exchange.base import test_margin_modification as check_margin_modification
from ccxt.test.exchange.base import test_market as check_market
from ccxt.test.exchange.base import test_order as check_order
from ccxt.test.exchange.base import test_position as check_position
from ccxt.test.exchange.base import test_ticker as check_ticker
from ccxt.test.exchange.base import test_trade as check_trade

from bot.core.clock import ReplayClock, to_ms
from bot.core.domain import PositionSide
from bot.emulator.server import BinanceEmulator
from bot.margin.binance import brackets_from_ccxt_tiers, bundled_brackets, liquidation_price
from bot.sim.paper import PaperVenue
from tests.emulator.conftest import BTC, COLLATERAL, ETH, HOLDINGS, open_short

CENT = Decimal("0.01")


def cents(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


async def test_load_markets_parses_binance_rules(futures: Any, venue: PaperVenue) -> None:
    markets = await futures.load_markets()
    for symbol, rules in venue.exchange.markets.items():
        market = markets[symbol]
        check_market(futures, {}, "loadMarkets", market)
        assert market["swap"] and market["linear"] and market["contractSize"] == 1
        assert Decimal(str(market["precision"]["amount"])) == rules.amount_step
        assert Decimal(str(market["precision"]["price"])) == rules.price_tick
        assert Decimal(str(market["limits"]["amount"]["min"])) == rules.min_amount
        assert Decimal(str(market["limits"]["cost"]["min"])) == rules.min_notional
        assert market["limits"]["market"]["min"] == market["limits"]["amount"]["min"]


async def test_flat_balance(futures: Any) -> None:
    balance = await futures.fetch_balance()
    check_balance(futures, {}, "fetchBalance", balance)
    assert balance["USDT"] == {"free": float(COLLATERAL), "used": 0.0, "total": float(COLLATERAL)}


async def test_leg_setup(futures: Any, emulator: BinanceEmulator) -> None:
    await futures.load_markets()
    assert (await futures.set_margin_mode("isolated", BTC))["code"] == 200
    with pytest.raises(MarginModeAlreadySet) as again:
        await futures.set_margin_mode("isolated", BTC)
    assert isinstance(again.value, NoChange)
    futures.options["setMarginMode"] = {"throwMarginModeAlreadySet": False}
    assert (await futures.set_margin_mode("isolated", BTC))["code"] == -4046
    assert (await futures.set_leverage(2, BTC))["leverage"] == 2
    assert emulator.venue.exchange.leverage_of(BTC) == 2
    assert (await futures.fetch_position_mode())["hedged"] is False
    with pytest.raises(OperationRejected, match="-4059"):  # already one-way, as on Binance
        await futures.set_position_mode(False)
    await futures.set_position_mode(True)
    await futures.set_position_mode(False)


async def test_market_sell_found_by_client_id(futures: Any, clock: ReplayClock) -> None:
    created = await open_short(futures, clientOrderId="hedge-1")
    assert created["clientOrderId"] == "hedge-1"
    assert created["status"] == "closed" and created["filled"] == 0.5
    now = to_ms(clock.now())
    for params in ({"origClientOrderId": "hedge-1"}, {"clientOrderId": "hedge-1"}):
        found = await futures.fetch_order(None, BTC, params)
        check_order(futures, {}, "fetchOrder", found, BTC, now)
        assert found["id"] == created["id"]
        assert found["average"] == created["average"]
    by_id = await futures.fetch_order(created["id"], BTC)
    assert by_id["clientOrderId"] == "hedge-1"


async def test_positions_match_the_simulation(
    futures: Any, venue: PaperVenue, clock: ReplayClock
) -> None:
    await open_short(futures)
    positions = await futures.fetch_positions([BTC])
    assert len(positions) == 1
    position = positions[0]
    check_position(futures, {}, "fetchPositions", position, BTC, to_ms(clock.now()))
    sim = venue.exchange.position(BTC)
    expected = liquidation_price(
        PositionSide.SHORT,
        -sim.contracts,
        sim.entry_price,
        sim.isolated_margin,
        bundled_brackets(BTC),
    )
    assert expected is not None
    assert position["side"] == "short"
    assert position["contracts"] == 0.5
    assert position["marginMode"] == "isolated"
    assert position["leverage"] == 2
    assert cents(position["entryPrice"]) == cents(sim.entry_price)
    assert cents(position["liquidationPrice"]) == cents(expected)
    assert cents(position["positionMargin"]) == cents(sim.isolated_margin)
    futures.options["fetchPositionsRisk"] = {"useV2": False}
    emulator_v3 = await futures.fetch_positions([BTC])
    assert emulator_v3[0]["leverage"] is None  # v3 carries no leverage
    assert cents(emulator_v3[0]["liquidationPrice"]) == cents(expected)


async def test_trades_carry_fees_and_realized_pnl(
    futures: Any, venue: PaperVenue, clock: ReplayClock
) -> None:
    await open_short(futures, clientOrderId="open-1")
    await clock.sleep(8 * 3600)  # two bars later: a new price
    await futures.create_order(
        BTC, "market", "buy", 0.2, None, {"reduceOnly": True, "clientOrderId": "shrink-1"}
    )
    trades = await futures.fetch_my_trades(BTC)
    now = to_ms(clock.now())
    assert len(trades) == len(venue.exchange.trades) == 2
    for trade, sim in zip(trades, venue.exchange.trades, strict=True):
        check_trade(futures, {}, "fetchMyTrades", trade, BTC, now, False)
        numbers = venue.exchange.number  # Binance numbers trades and orders per symbol
        assert trade["id"] == str(numbers(sim.trade_id))
        assert trade["order"] == str(numbers(sim.order_id))
        assert cents(trade["fee"]["cost"]) == cents(sim.fee)
        assert trade["fee"]["currency"] == "USDT"
        assert cents(trade["info"]["realizedPnl"]) == cents(sim.realized_pnl)
    assert trades[1]["side"] == "buy" and venue.exchange.trades[1].realized_pnl != 0
    assert venue.exchange.position(BTC).contracts == Decimal("-0.3")


async def test_funding_history_after_replay(
    futures: Any, venue: PaperVenue, clock: ReplayClock
) -> None:
    await open_short(futures)
    await clock.sleep(2 * 86400)
    history = await futures.fetch_funding_history(BTC)
    ledger = venue.exchange.funding
    assert len(history) == len(ledger) == 6
    for entry, payment in zip(history, ledger, strict=True):
        assert entry["symbol"] == BTC and entry["code"] == "USDT"
        assert entry["timestamp"] == to_ms(payment.time)
        assert cents(entry["amount"]) == cents(payment.amount)
        assert (entry["amount"] > 0) == (payment.rate > 0)  # a short receives positive funding
    page = await futures.fetch_funding_history(BTC, history[0]["timestamp"] + 1, 2)
    assert [e["id"] for e in page] == [e["id"] for e in history[1:3]]


async def test_add_margin(futures: Any, venue: PaperVenue) -> None:
    await open_short(futures)
    before = venue.exchange.position(BTC).isolated_margin
    wallet = venue.exchange.wallet
    result = await futures.add_margin(BTC, 100)
    check_margin_modification(futures, {}, "addMargin", result)
    assert result["type"] == "add" and result["amount"] == 100
    assert venue.exchange.position(BTC).isolated_margin == before + 100
    assert venue.exchange.wallet == wallet - 100
    balance = await futures.fetch_balance()
    assert cents(balance["USDT"]["free"]) == cents(venue.exchange.wallet)


async def test_spot_balance_and_tickers(spot: Any, emulator: BinanceEmulator) -> None:
    await spot.load_markets()
    balance = await spot.fetch_balance()
    check_balance(spot, {}, "fetchBalance", balance)
    assert {code: Decimal(str(balance["total"][code])) for code in HOLDINGS} == HOLDINGS
    emulator.requests.clear()
    tickers = await spot.fetch_tickers(["BTC/USDT", "ETH/USDT"])
    assert emulator.requests == [("GET", "/api/v3/ticker/24hr")]
    assert set(tickers) == {"BTC/USDT", "ETH/USDT"}
    for symbol, ticker in tickers.items():
        check_ticker(spot, {}, "fetchTickers", ticker, symbol)
    close = emulator.venue.data.spot["BTC"].last_closed(emulator.account.now_ms())
    assert close is not None and Decimal(str(tickers["BTC/USDT"]["last"])) == close.close


async def test_futures_tickers_in_one_request(futures: Any, emulator: BinanceEmulator) -> None:
    await futures.load_markets()
    emulator.requests.clear()
    tickers = await futures.fetch_tickers([BTC, ETH])
    assert Counter(emulator.requests) == Counter({("GET", "/fapi/v1/ticker/24hr"): 1})
    assert set(tickers) == {BTC, ETH}
    for symbol, ticker in tickers.items():
        check_ticker(futures, {}, "fetchTickers", ticker, symbol)
    quotes = await emulator.venue.fetch_quotes([BTC])
    assert Decimal(str(tickers[BTC]["last"])) == quotes[BTC].price
    rates = await futures.fetch_funding_rates([BTC, ETH])
    assert Decimal(str(rates[BTC]["markPrice"])) == quotes[BTC].mark


async def test_spot_klines_are_closed_bars(spot: Any, emulator: BinanceEmulator) -> None:
    await spot.load_markets()
    candles = await spot.fetch_ohlcv("BTC/USDT", "4h", limit=5)
    series = emulator.venue.data.spot["BTC"]
    expected = series.closes_until(emulator.account.now_ms(), 5)
    assert [Decimal(str(c[4])) for c in candles] == [bar.close for bar in expected]


async def test_leverage_tiers_round_trip_to_the_simulation(futures: Any) -> None:
    await futures.load_markets()
    tiers = await futures.fetch_market_leverage_tiers(BTC)
    for tier in tiers:
        check_leverage_tier(futures, {}, "fetchMarketLeverageTiers", tier)
    assert brackets_from_ccxt_tiers(tiers) == bundled_brackets(BTC)


async def test_raw_endpoints_ccxt_exposes(futures: Any, venue: PaperVenue) -> None:
    prices = await futures.fapiPublicGetTickerPrice()
    assert {p["symbol"] for p in prices} == {"ADAUSDT", "BTCUSDT", "ETHUSDT"}
    balances = await futures.fapiPrivateV2GetBalance()
    assert Decimal(balances[0]["availableBalance"]) == venue.exchange.wallet
    assert (await futures.fapiPrivateGetMultiAssetsMargin())["multiAssetsMargin"] is False


async def test_ack_answer_and_order_history(futures: Any, venue: PaperVenue) -> None:
    first = await open_short(futures, clientOrderId="first")
    ack = await futures.fapiPrivatePostOrder(
        {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.1"}
    )
    assert ack["status"] == "NEW" and ack["executedQty"] == "0"  # ACK: Binance's default
    assert venue.exchange.position(BTC).contracts == Decimal("-0.6")  # yet it executed
    orders = await futures.fetch_orders(BTC)
    assert [o["id"] for o in orders] == [first["id"], str(ack["orderId"])]
    assert all(o["status"] == "closed" for o in orders)

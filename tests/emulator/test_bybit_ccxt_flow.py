"""The real ccxt bybit client against the Bybit v5 emulator, checked with the structure validators
ccxt ships in its wheel, against the simulation's ledger, and through `CcxtVenue(BYBIT)`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import ccxt
import pytest
from ccxt.test.exchange.base import test_balance as check_balance
from ccxt.test.exchange.base import test_currency as check_currency
from ccxt.test.exchange.base import test_leverage_tier as check_leverage_tier
from ccxt.test.exchange.base import test_market as check_market
from ccxt.test.exchange.base import test_ohlcv as check_ohlcv
from ccxt.test.exchange.base import test_order as check_order
from ccxt.test.exchange.base import test_position as check_position
from ccxt.test.exchange.base import test_ticker as check_ticker
from ccxt.test.exchange.base import test_trade as check_trade

from bot.core.clock import ReplayClock, to_ms
from bot.core.domain import OrderStatus, PositionSide
from bot.emulator.bybit.server import BybitEmulator
from bot.emulator.bybit.state import ISOLATED, REGULAR, exec_uuid
from bot.emulator.faults import FaultInjector
from bot.margin.binance import brackets_from_ccxt_tiers, bundled_brackets
from bot.margin.venues import bybit_liquidation_price
from bot.sim.paper import PaperVenue
from bot.venue import ccxt_parse as parse
from bot.venue.capabilities import BYBIT
from bot.venue.ccxt_venue import CcxtVenue
from tests.emulator.conftest import BTC, COLLATERAL, ETH, HOLDINGS, KEY, SECRET, FakeMonotonic
from tests.emulator_clients import make_bybit_client

CENT = Decimal("0.01")
CREATE = ("POST", "/v5/order/create")


def cents(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


@pytest.fixture
async def emulator(venue: PaperVenue, monotonic: FakeMonotonic) -> AsyncIterator[BybitEmulator]:
    server = BybitEmulator(venue, KEY, SECRET, faults=FaultInjector(now=monotonic))
    await server.start()
    yield server
    await server.stop()


async def client_for(emulator: BybitEmulator, key: str = KEY, secret: str = SECRET) -> Any:
    client = make_bybit_client(
        emulator.base_url, key, secret, enable_rate_limit=False, timeout_ms=3000
    )
    client.timeout_on_exit = 0
    return client


@pytest.fixture
async def bybit(emulator: BybitEmulator) -> AsyncIterator[Any]:
    client = await client_for(emulator)
    yield client
    await client.close()


async def open_short(bybit: Any, symbol: str = BTC, amount: float = 0.5, **params: Any) -> Any:
    """Set the account isolated, the leg at 2x, and sell ``amount`` at market."""
    await bybit.load_markets()
    if (await bybit.privateGetV5AccountInfo())["result"]["marginMode"] != ISOLATED:
        await bybit.set_margin_mode("isolated")
    with contextlib.suppress(ccxt.BadRequest):  # 110043 leverage not modified
        await bybit.set_leverage(2, symbol)
    return await bybit.create_order(symbol, "market", "sell", amount, None, params)


async def test_load_markets_asks_the_instruments_of_both_categories(
    bybit: Any, emulator: BybitEmulator, venue: PaperVenue
) -> None:
    markets = await bybit.load_markets()
    assert emulator.requests == [
        ("GET", "/v5/asset/coin/query-info"),  # has['fetchCurrencies'] with keys
        ("GET", "/v5/market/instruments-info"),  # linear
        ("GET", "/v5/market/instruments-info"),  # linear, status=PreLaunch
        ("GET", "/v5/market/instruments-info"),  # spot
    ]
    for symbol, rules in venue.exchange.markets.items():
        market = markets[symbol]
        check_market(bybit, {}, "loadMarkets", market)
        assert market["swap"] and market["linear"] and market["contractSize"] == 1
        assert Decimal(str(market["precision"]["amount"])) == rules.amount_step
        assert Decimal(str(market["precision"]["price"])) == rules.price_tick
        assert Decimal(str(market["limits"]["amount"]["min"])) == rules.min_amount
        assert Decimal(str(market["limits"]["cost"]["min"])) == rules.min_notional
        assert parse.market(market) == rules
        spot = markets[f"{rules.base}/USDT"]
        check_market(bybit, {}, "loadMarkets", spot)
        assert spot["spot"] and spot["id"] == market["id"]  # one id, two markets
    for currency in bybit.currencies.values():
        check_currency(bybit, {}, "fetchCurrencies", currency)


async def test_unified_wallet_holds_the_spot_coins_and_the_collateral(
    bybit: Any, venue: PaperVenue
) -> None:
    balance = await bybit.fetch_balance()
    check_balance(bybit, {}, "fetchBalance", balance)
    assert {code: Decimal(str(balance["total"][code])) for code in HOLDINGS} == HOLDINGS
    usdt = balance["USDT"]
    collateral = float(COLLATERAL)
    assert (usdt["free"], usdt["used"], usdt["total"]) == (collateral, 0.0, collateral)
    await open_short(bybit)
    margin = venue.exchange.position(BTC).isolated_margin
    balance = await bybit.fetch_balance()
    check_balance(bybit, {}, "fetchBalance", balance)
    assert cents(balance["USDT"]["free"]) == cents(venue.exchange.wallet)
    assert cents(balance["USDT"]["used"]) == cents(margin)
    assert cents(balance["USDT"]["total"]) == cents(venue.exchange.wallet + margin)
    assert Decimal(str(balance["total"]["BTC"])) == HOLDINGS["BTC"]  # spot coins untouched


async def test_tickers_cost_one_request_per_category(
    bybit: Any, emulator: BybitEmulator, venue: PaperVenue
) -> None:
    await bybit.load_markets()
    emulator.requests.clear()
    perps = await bybit.fetch_tickers([BTC, ETH])
    spots = await bybit.fetch_tickers(["BTC/USDT", "ETH/USDT"])
    assert emulator.requests == [("GET", "/v5/market/tickers")] * 2
    assert set(perps) == {BTC, ETH} and set(spots) == {"BTC/USDT", "ETH/USDT"}
    for symbol, ticker in (perps | spots).items():
        check_ticker(bybit, {}, "fetchTickers", ticker, symbol)
    quotes = await venue.fetch_quotes([BTC, "BTC/USDT"])
    assert Decimal(str(perps[BTC]["last"])) == quotes[BTC].price
    assert Decimal(str(perps[BTC]["markPrice"])) == quotes[BTC].mark
    assert Decimal(str(spots["BTC/USDT"]["last"])) == quotes["BTC/USDT"].price
    assert perps[BTC]["timestamp"] is None  # Bybit's tickers carry no time of their own


async def test_account_settings_and_their_not_modified_answers(
    bybit: Any, emulator: BybitEmulator, venue: PaperVenue
) -> None:
    await bybit.load_markets()
    info = await bybit.privateGetV5AccountInfo()
    assert info["result"]["marginMode"] == REGULAR
    await bybit.set_margin_mode("isolated")  # account-wide: every market isolated
    assert venue.exchange.isolated == set(venue.exchange.markets)
    assert (await bybit.set_margin_mode("isolated"))["retCode"] == 0  # already: success
    await bybit.set_leverage(2, BTC)
    assert venue.exchange.leverage_of(BTC) == 2
    with pytest.raises(ccxt.BadRequest, match="110043"):
        await bybit.set_leverage(2, BTC)
    with pytest.raises(ccxt.NoChange, match="110025"):
        await bybit.set_position_mode(False)
    await bybit.set_position_mode(True)
    await bybit.set_position_mode(False)
    assert not hasattr(bybit, "fetch_position_mode") or not bybit.has.get("fetchPositionMode")
    await bybit.create_order(BTC, "market", "sell", 0.1)
    with pytest.raises(ccxt.BadRequest, match="110024"):
        await bybit.set_position_mode(True)
    with pytest.raises(ccxt.ExchangeError, match="3400045"):
        await bybit.set_margin_mode("cross")
    assert emulator.state.margin_mode == ISOLATED


async def test_create_answers_ids_only_and_the_order_is_fetched(
    bybit: Any, clock: ReplayClock, venue: PaperVenue
) -> None:
    created = await open_short(bybit, clientOrderId="hb-BTC-1")
    assert set(created["info"]) == {"orderId", "orderLinkId"}
    assert created["status"] is None and created["clientOrderId"] == "hb-BTC-1"
    with pytest.raises(ccxt.ArgumentsRequired):  # ccxt insists on the acknowledgement
        await bybit.fetch_order(created["id"], BTC)
    found = await bybit.fetch_order(created["id"], BTC, {"acknowledged": True})
    check_order(bybit, {}, "fetchOrder", found, BTC, to_ms(clock.now()))
    sim = venue.exchange.orders["hb-BTC-1"]
    assert found["status"] == "closed" and found["filled"] == 0.5
    assert Decimal(str(found["average"])) == sim.average_price
    assert cents(found["fee"]["cost"]) == cents(venue.exchange.trades[0].fee)
    # By client id: the realtime list answers any status when asked by orderLinkId ...
    listed = await bybit.fetch_open_orders(BTC, None, None, {"orderLinkId": "hb-BTC-1"})
    assert [o["id"] for o in listed] == [created["id"]]
    # ... while ccxt's fetch_order without an id sends orderId=None, which outranks it.
    with pytest.raises(ccxt.OrderNotFound):
        await bybit.fetch_order(None, BTC, {"acknowledged": True, "orderLinkId": "hb-BTC-1"})
    history = await bybit.fetch_closed_orders(BTC)
    assert [o["id"] for o in history] == [created["id"]]
    with pytest.raises(ccxt.InvalidOrder, match="110072"):  # an orderLinkId is never reused
        await bybit.create_order(BTC, "market", "sell", 0.1, None, {"clientOrderId": "hb-BTC-1"})


async def test_positions_match_the_simulation(
    bybit: Any, venue: PaperVenue, clock: ReplayClock
) -> None:
    await open_short(bybit)
    await open_short(bybit, ETH, 2)
    positions = {p["symbol"]: p for p in await bybit.fetch_positions()}  # settleCoin=USDT
    assert set(positions) == {BTC, ETH}
    position = positions[BTC]
    # ccxt's bybit leaves marginMode None ("tradeMode was deprecated"), as on the real venue.
    skipped = {"marginMode": True}
    check_position(bybit, skipped, "fetchPositions", position, BTC, to_ms(clock.now()))
    sim = venue.exchange.position(BTC)
    tiers = bundled_brackets(BTC)
    expected = bybit_liquidation_price(
        PositionSide.SHORT, -sim.contracts, sim.entry_price, sim.isolated_margin, tiers
    )
    assert expected is not None
    assert position["side"] == "short" and position["contracts"] == 0.5
    assert position["leverage"] == 2 and position["hedged"] is False
    assert cents(position["entryPrice"]) == cents(sim.entry_price)
    assert cents(position["liquidationPrice"]) == cents(expected)
    assert cents(position["info"]["positionBalance"]) == cents(sim.isolated_margin)
    parsed = parse.position(position)
    assert parsed is not None and parsed.isolated_margin == sim.isolated_margin.quantize(
        Decimal("1E-8")
    )
    with pytest.raises(ccxt.ArgumentsRequired):  # bybit: one symbol per call at most
        await bybit.fetch_positions([BTC, ETH])
    flat = await bybit.fetch_positions(["ADA/USDT:USDT"])  # by symbol: answered even when flat
    assert flat[0]["contracts"] in (0, None)


async def test_executions_carry_fees_and_closed_pnl(
    bybit: Any, venue: PaperVenue, clock: ReplayClock
) -> None:
    await open_short(bybit, clientOrderId="open-1")
    await clock.sleep(8 * 3600)
    await bybit.create_order(
        BTC, "market", "buy", 0.2, None, {"reduceOnly": True, "clientOrderId": "shrink-1"}
    )
    trades = await bybit.fetch_my_trades(BTC)
    now = to_ms(clock.now())
    assert len(trades) == len(venue.exchange.trades) == 2
    for trade, sim in zip(trades, venue.exchange.trades, strict=True):
        check_trade(bybit, {}, "fetchMyTrades", trade, BTC, now, False)
        assert trade["id"] == exec_uuid(sim.trade_id)
        assert cents(trade["fee"]["cost"]) == cents(sim.fee) and trade["fee"]["currency"] == "USDT"
        fill = parse.fill(trade, "bybit:emu")
        assert cents(fill.realized_pnl) == cents(sim.realized_pnl)
        assert fill.client_order_id == sim.client_order_id
    assert Decimal(trades[1]["info"]["closedSize"]) == Decimal("0.2")
    assert venue.exchange.trades[1].realized_pnl != 0


async def test_funding_history_has_bybit_sign_and_is_normalised(
    bybit: Any, venue: PaperVenue, clock: ReplayClock
) -> None:
    await open_short(bybit)
    await clock.sleep(2 * 86400)
    history = await bybit.fetch_funding_history()
    ledger = venue.exchange.funding
    assert len(history) == len(ledger) == 6
    for entry, payment in zip(history, ledger, strict=True):
        assert entry["symbol"] == BTC and entry["code"] == "USDT"
        assert entry["timestamp"] == to_ms(payment.time)
        assert cents(entry["amount"]) == cents(-payment.amount)  # execFee: > 0 paid
        normalised = parse.funding(entry, "bybit:emu", BYBIT.funding_sign)
        assert cents(normalised.amount) == cents(payment.amount)
        assert normalised.rate == payment.rate
        if payment.rate > 0:
            assert normalised.amount > 0  # a short receives positive funding


async def test_venue_pages_the_execution_list_by_cursor(
    bybit: Any, emulator: BybitEmulator, venue: PaperVenue, clock: ReplayClock
) -> None:
    await open_short(bybit, amount=0.5)
    for _ in range(4):
        await clock.sleep(4 * 3600)
        await bybit.create_order(BTC, "market", "sell", 0.1)
    small = CcxtVenue(bybit, None, replace(BYBIT, history_limit=2), name="bybit:emu")
    emulator.requests.clear()
    fills = await small.fetch_fills([BTC], {})
    assert [f.trade_id for f in fills] == [exec_uuid(t.trade_id) for t in venue.exchange.trades]
    # The list is read unfiltered (liquidations are BustTrade): funding settlements page too.
    executions = len(venue.exchange.trades) + len(venue.exchange.funding)
    assert executions == 7
    assert emulator.requests.count(("GET", "/v5/execution/list")) == 4  # 2 + 2 + 2 + 1
    funding = await small.fetch_funding(None)
    assert [p.payment_id for p in funding] == [
        exec_uuid(p.payment_id) for p in venue.exchange.funding
    ]
    with pytest.raises(ccxt.BadRequest, match="limit"):  # Bybit's limit is 1..100
        await bybit.fetch_my_trades(BTC, None, 1000)


async def test_venue_adds_margin_through_the_v5_endpoint(bybit: Any, venue: PaperVenue) -> None:
    ccxt_venue = CcxtVenue(bybit, None, BYBIT, name="bybit:emu")
    await ccxt_venue.setup_leg(BTC, 2)
    with pytest.raises(ccxt.NotSupported):  # what the unified call would do
        await bybit.add_margin(BTC, 100)
    await bybit.create_order(BTC, "market", "sell", 0.5)
    before, wallet = venue.exchange.position(BTC).isolated_margin, venue.exchange.wallet
    await ccxt_venue.add_margin(BTC, Decimal(100))
    assert venue.exchange.position(BTC).isolated_margin == before + 100
    assert venue.exchange.wallet == wallet - 100
    positions = await ccxt_venue.fetch_positions([BTC, ETH])
    assert positions[BTC].isolated_margin == (before + 100).quantize(Decimal("1E-8"))


async def test_partial_fill_is_closed_with_a_rest(
    bybit: Any, emulator: BybitEmulator, venue: PaperVenue
) -> None:
    emulator.faults.partial_fill(Decimal("0.4"))
    created = await open_short(bybit, clientOrderId="part-1")
    found = await bybit.fetch_order(created["id"], BTC, {"acknowledged": True})
    assert found["info"]["orderStatus"] == "PartiallyFilledCanceled"
    assert found["status"] == "closed" and found["filled"] == 0.2
    result = parse.order(found, "part-1", False, ())
    assert result.status is OrderStatus.PARTIALLY_FILLED


async def test_leverage_tiers_round_trip_to_the_simulation(bybit: Any) -> None:
    await bybit.load_markets()
    tiers = await bybit.fetch_leverage_tiers([BTC])
    for tier in tiers[BTC]:
        check_leverage_tier(bybit, {}, "fetchLeverageTiers", tier)
    assert brackets_from_ccxt_tiers(tiers[BTC]) == bundled_brackets(BTC)


async def test_spot_klines_are_closed_bars(bybit: Any, emulator: BybitEmulator) -> None:
    await bybit.load_markets()
    candles = await bybit.fetch_ohlcv("BTC/USDT", "4h", limit=5)
    now = emulator.account.now_ms()
    for candle in candles:
        check_ohlcv(bybit, {}, "fetchOHLCV", candle, "BTC/USDT", now)
    expected = emulator.venue.data.spot["BTC"].closes_until(emulator.account.now_ms(), 5)
    assert [Decimal(str(c[4])) for c in candles] == [bar.close for bar in expected]


# -- refusals ---------------------------------------------------------------------------------


async def test_order_refusals_map_to_ccxt_errors(bybit: Any, emulator: BybitEmulator) -> None:
    await open_short(bybit)
    with pytest.raises(ccxt.InsufficientFunds, match="110007"):
        await bybit.create_order(BTC, "market", "sell", 50)  # far beyond the collateral
    with pytest.raises(ccxt.InvalidOrder, match="110017"):
        await bybit.create_order(ETH, "market", "buy", 1, None, {"reduceOnly": True})
    emulator.faults.reject(*CREATE, code=110007, message="ab not enough for new order")
    with pytest.raises(ccxt.InsufficientFunds):
        await bybit.create_order(BTC, "market", "sell", 0.1)
    with pytest.raises(ccxt.BadSymbol):
        await bybit.publicGetV5MarketTickers({"category": "linear", "symbol": "XYZUSDT"})


async def test_signature_key_and_timestamp_are_checked(emulator: BybitEmulator) -> None:
    wrong_secret = await client_for(emulator, secret="not-the-secret")
    wrong_key = await client_for(emulator, key="not-the-key")
    skewed = await client_for(emulator)
    skewed.options["timeDifference"] = 20_000  # signs 20 s in the past: outside recv_window
    try:
        await wrong_secret.load_markets()  # coin info is private: refused
    except ccxt.AuthenticationError as error:
        assert "10004" in str(error)
    else:
        pytest.fail("a bad signature was accepted")
    with pytest.raises(ccxt.AuthenticationError, match="10003"):
        await wrong_key.privateGetV5AccountInfo()
    with pytest.raises(ccxt.InvalidNonce, match="10002"):
        await skewed.privateGetV5AccountInfo()
    for client in (wrong_secret, wrong_key, skewed):
        await client.close()


async def test_rate_limit_and_ban_answers(
    bybit: Any, emulator: BybitEmulator, monotonic: FakeMonotonic
) -> None:
    await bybit.load_markets()
    emulator.faults.rate_limit(None, None, retry_after=5)
    with pytest.raises(ccxt.RateLimitExceeded, match="10006"):
        await bybit.fetch_balance()
    assert "X-Bapi-Limit-Reset-Timestamp" in bybit.last_response_headers
    with pytest.raises(ccxt.RateLimitExceeded, match="403"):  # within the back-off: IP ban
        await bybit.fetch_balance()
    monotonic.seconds += 200
    assert (await bybit.fetch_balance())["USDT"]["total"] == float(COLLATERAL)


async def test_gateway_errors_are_transient(bybit: Any, emulator: BybitEmulator) -> None:
    await bybit.load_markets()
    emulator.faults.server_error("GET", "/v5/market/tickers", 502)
    with pytest.raises(ccxt.ExchangeNotAvailable):
        await bybit.fetch_tickers([BTC])
    assert BTC in await bybit.fetch_tickers([BTC])

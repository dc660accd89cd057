"""The Binance face numbers like Binance and marks liquidations where Binance does (real ccxt).

Order and trade ids per symbol; a liquidation is an ``autoclose-…`` order answered by the order
endpoints and /fapi/v1/forceOrders while its trade, in userTrades, names no client id; the
funding-rate history carries the mark each payment was charged at.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from bot.core.clock import ReplayClock, to_ms
from bot.emulator.account import restart_id_base
from bot.emulator.server import BinanceEmulator
from bot.market.series import MarketData
from bot.sim.paper import PaperVenue
from tests.emulator.conftest import BTC, COLLATERAL, ETH, HOLDINGS, KEY, SECRET, open_short
from tests.emulator_clients import make_binance_clients

DAY = 86_400


async def test_orders_and_trades_are_numbered_per_symbol(
    futures: Any, venue: PaperVenue, clock: ReplayClock
) -> None:
    btc = await open_short(futures, BTC, 0.5)
    eth = await open_short(futures, ETH, 2)
    more = await futures.create_order(BTC, "market", "sell", 0.1)
    assert (btc["id"], eth["id"], more["id"]) == ("1", "1", "2")
    btc_trades = await futures.fetch_my_trades(BTC)
    eth_trades = await futures.fetch_my_trades(ETH)
    assert [(t["id"], t["order"]) for t in btc_trades] == [("1", "1"), ("2", "2")]
    assert [(t["id"], t["order"]) for t in eth_trades] == [("1", "1")]
    assert all(t["info"].get("clientOrderId") is None for t in btc_trades + eth_trades)
    assert (await futures.fetch_order("2", BTC))["clientOrderId"] == more["clientOrderId"]
    assert [o["id"] for o in await futures.fetch_orders(BTC)] == ["1", "2"]
    since_second = await futures.fapiPrivateGetUserTrades({"symbol": "BTCUSDT", "fromId": 2})
    assert [t["id"] for t in since_second] == [2]
    income = await futures.fapiPrivateGetIncome({"incomeType": "COMMISSION"})
    assert sorted((i["symbol"], i["tradeId"]) for i in income) == [
        ("BTCUSDT", "1"),
        ("BTCUSDT", "2"),
        ("ETHUSDT", "1"),
    ]
    assert len({i["tranId"] for i in income}) == 3  # income ids stay unique in the account


async def test_a_liquidation_is_an_exchange_order_listed_in_forced_orders(
    futures: Any, emulator: BinanceEmulator, clock: ReplayClock
) -> None:
    await open_short(futures, BTC, 0.5)
    emulator.venue.exchange.position(BTC).isolated_margin = Decimal(0)  # liquidated at once
    await clock.sleep(DAY)
    (trade,) = [t for t in await futures.fetch_my_trades(BTC) if t["order"] != "1"]
    assert trade["side"] == "buy" and trade["amount"] == 0.5
    assert "clientOrderId" not in trade["info"]  # userTrades never says whose order it was
    forced = await futures.fapiPrivateGetForceOrders({"symbol": "BTCUSDT"})
    assert [str(o["orderId"]) for o in forced] == [trade["order"]]
    client_id = forced[0]["clientOrderId"]
    assert client_id.startswith("autoclose-") and forced[0]["status"] == "FILLED"
    assert await futures.fapiPrivateGetForceOrders({"autoCloseType": "ADL"}) == []
    assert await futures.fapiPrivateGetForceOrders({"symbol": "ETHUSDT"}) == []
    order = await futures.fetch_order(trade["order"], BTC)
    assert order["clientOrderId"] == client_id and order["status"] == "closed"
    by_client_id = await futures.fetch_order(None, BTC, {"origClientOrderId": client_id})
    assert by_client_id["id"] == trade["order"]
    assert [o["id"] for o in await futures.fetch_orders(BTC)] == ["1", trade["order"]]
    (liquidation,) = await futures.fetch_my_liquidations(BTC)  # ccxt's own reading of the list
    assert liquidation["contracts"] == 0.5
    until = to_ms(clock.now())
    assert await futures.fapiPrivateGetForceOrders({"startTime": until, "endTime": until}) == []
    emulator.account.reset_to_defaults()  # the exchange forgets its orders, as ours
    assert await futures.fapiPrivateGetForceOrders({}) == []


async def test_funding_rate_history_carries_the_mark_each_payment_was_charged_at(
    futures: Any, venue: PaperVenue, clock: ReplayClock
) -> None:
    await open_short(futures, BTC, 0.5)
    await clock.sleep(2 * DAY)
    venue.catch_up()
    payments = venue.exchange.funding
    assert len(payments) == 6
    start = to_ms(payments[0].time)
    history = await futures.fetch_funding_rate_history(BTC, start, 1000)
    by_time = {entry["timestamp"]: entry for entry in history}
    for payment in payments:
        entry = by_time[to_ms(payment.time)]
        assert Decimal(entry["info"]["fundingRate"]) == payment.rate
        assert Decimal(entry["info"]["markPrice"]) == payment.mark_price
    now = to_ms(clock.now())
    assert all(entry["timestamp"] <= now for entry in history)  # nothing from the future
    every = await futures.fapiPublicGetFundingRate({"startTime": start, "endTime": start})
    assert {row["symbol"] for row in every} == {"ADAUSDT", "BTCUSDT", "ETHUSDT"}
    latest = await futures.fapiPublicGetFundingRate({"symbol": "BTCUSDT", "limit": 2})
    assert [int(r["fundingTime"]) for r in latest] == [to_ms(p.time) for p in payments[-2:]]


async def test_a_restarted_emulator_issues_ids_above_every_earlier_one(
    market_data: MarketData, clock: ReplayClock
) -> None:
    """The standalone emulator starts its ids at `restart_id_base`: a journal kept across a
    restart never meets an id again (a real exchange never reissues one)."""
    seen: list[tuple[str, str, int]] = []
    for started in (1_700_000_000.0, 1_700_000_001.0):  # a restart one second later
        venue = PaperVenue(market_data, clock, HOLDINGS, COLLATERAL, Decimal("0.0005"), Decimal(2))
        base = restart_id_base(started)
        emulator = BinanceEmulator(venue, KEY, SECRET, id_base=base)
        await emulator.start()
        futures, spot = make_binance_clients(
            emulator.base_url, KEY, SECRET, enable_rate_limit=False, timeout_ms=3000
        )
        futures.timeout_on_exit = spot.timeout_on_exit = 0
        try:
            btc = await open_short(futures, BTC, 0.5)
            eth = await open_short(futures, ETH, 2)
            assert (btc["id"], eth["id"]) == (str(base + 1), str(base + 1))  # per symbol
            trades = await futures.fetch_my_trades(BTC) + await futures.fetch_my_trades(ETH)
            income = await futures.fapiPrivateGetIncome({"incomeType": "COMMISSION"})
        finally:
            await asyncio.gather(futures.close(), spot.close())
            await emulator.stop()
        earlier = {(symbol, trade_id) for symbol, trade_id, _ in seen}
        assert not earlier & {(t["symbol"], t["id"]) for t in trades}
        assert all(int(t["id"]) > max((n for *_, n in seen), default=0) for t in trades)
        assert min(int(i["tranId"]) for i in income) > base
        seen += [(t["symbol"], t["id"], int(t["id"])) for t in trades]
    with pytest.raises(ValueError, match="issued already"):
        venue.exchange.start_ids_at(1)

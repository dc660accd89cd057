"""Each fault kind of the injector, seen through the real ccxt client."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import pytest
from ccxt.base.errors import (
    DDoSProtection,
    ExchangeNotAvailable,
    InsufficientFunds,
    OperationFailed,
    RequestTimeout,
)

from bot.core.domain import OrderStatus
from bot.emulator.server import BinanceEmulator
from tests.emulator.conftest import BTC, FakeMonotonic, open_short

ORDER = ("POST", "/fapi/v1/order")


async def fetch_by_client_id(futures: Any, client_id: str) -> Any:
    return await futures.fetch_order(None, BTC, {"origClientOrderId": client_id})


async def test_delay_holds_the_answer(futures: Any, emulator: BinanceEmulator) -> None:
    emulator.faults.delay("GET", "/fapi/v1/time", 0.3)
    started = time.monotonic()
    await futures.fetch_time()
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    await futures.fetch_time()  # armed for one call only
    assert time.monotonic() - started < 0.3


async def test_delay_past_the_timeout_still_executes(
    futures: Any, emulator: BinanceEmulator
) -> None:
    await futures.load_markets()
    emulator.faults.delay(*ORDER, 0.6)
    futures.timeout = 300
    with pytest.raises(RequestTimeout):
        await futures.create_order(BTC, "market", "sell", 0.5, None, {"clientOrderId": "late-1"})
    futures.timeout = 3000
    await asyncio.sleep(0.5)
    order = await fetch_by_client_id(futures, "late-1")
    assert order["status"] == "closed" and order["filled"] == 0.5


async def test_drop_after_accept(futures: Any, emulator: BinanceEmulator) -> None:
    await futures.load_markets()
    emulator.faults.drop(*ORDER)
    with pytest.raises(ExchangeNotAvailable):
        await futures.create_order(BTC, "market", "sell", 0.5, None, {"clientOrderId": "lost-1"})
    order = await fetch_by_client_id(futures, "lost-1")
    assert order["status"] == "closed" and order["filled"] == 0.5
    assert emulator.venue.exchange.position(BTC).contracts == Decimal("-0.5")


async def test_hang_after_accept(futures: Any, emulator: BinanceEmulator) -> None:
    await futures.load_markets()
    emulator.faults.hang(*ORDER, 30)
    futures.timeout = 300
    with pytest.raises(RequestTimeout):
        await futures.create_order(BTC, "market", "sell", 0.5, None, {"clientOrderId": "hung-1"})
    futures.timeout = 3000
    assert (await fetch_by_client_id(futures, "hung-1"))["filled"] == 0.5


async def test_server_errors(futures: Any, emulator: BinanceEmulator) -> None:
    await futures.load_markets()
    emulator.faults.server_error("GET", "/fapi/v3/account", 503)
    with pytest.raises(OperationFailed, match="-1001"):  # Binance's JSON body
        await futures.fetch_balance()
    emulator.faults.server_error("GET", "/fapi/v3/account", 502, body="<html>Bad Gateway</html>")
    with pytest.raises(ExchangeNotAvailable):  # a gateway page: by HTTP status
        await futures.fetch_balance()
    emulator.faults.server_error(*ORDER, 503, after_handling=True)
    with pytest.raises(OperationFailed):
        await futures.create_order(BTC, "market", "sell", 0.5, None, {"clientOrderId": "5xx-1"})
    assert (await fetch_by_client_id(futures, "5xx-1"))["filled"] == 0.5  # outcome was unknown


async def test_429_then_418_ban_that_extends(
    futures: Any, emulator: BinanceEmulator, monotonic: FakeMonotonic
) -> None:
    await futures.load_markets()
    emulator.faults.rate_limit("GET", "/fapi/v1/ticker/24hr", retry_after=2, ban_seconds=60)
    with pytest.raises(DDoSProtection, match="429"):
        await futures.fetch_tickers([BTC])
    assert futures.last_response_headers["Retry-After"] == "2"
    with pytest.raises(DDoSProtection, match="418"):  # did not back off: banned, any endpoint
        await futures.fetch_time()
    assert futures.last_response_headers["Retry-After"] == "60"
    monotonic.seconds += 50
    with pytest.raises(DDoSProtection, match="418"):  # still banned, and the ban restarts
        await futures.fetch_time()
    monotonic.seconds += 50
    with pytest.raises(DDoSProtection, match="418"):
        await futures.fetch_time()
    monotonic.seconds += 61
    await futures.fetch_time()


async def test_429_respected_is_no_ban(
    futures: Any, emulator: BinanceEmulator, monotonic: FakeMonotonic
) -> None:
    emulator.faults.rate_limit(retry_after=2)
    with pytest.raises(DDoSProtection, match="429"):
        await futures.fetch_time()
    monotonic.seconds += 2
    await futures.fetch_time()


async def test_partial_fill_of_a_market_order(futures: Any, emulator: BinanceEmulator) -> None:
    emulator.faults.partial_fill(Decimal("0.5"))
    order = await open_short(futures, clientOrderId="half-1")
    assert order["info"]["status"] == "EXPIRED" and order["status"] == "expired"
    assert order["filled"] == 0.25 and order["amount"] == 0.5
    assert emulator.venue.exchange.position(BTC).contracts == Decimal("-0.25")
    assert (await fetch_by_client_id(futures, "half-1"))["info"]["status"] == "EXPIRED"
    full = await futures.create_order(BTC, "market", "sell", 0.5, None)
    assert full["filled"] == 0.5  # armed for one order only


async def test_partial_fill_of_an_ioc_limit(futures: Any, emulator: BinanceEmulator) -> None:
    await futures.load_markets()
    emulator.faults.partial_fill(Decimal("0.5"), status="PARTIALLY_FILLED")
    last = (await emulator.venue.fetch_quotes([BTC]))[BTC].price
    order = await futures.create_order(
        BTC, "limit", "sell", 0.5, float(last * Decimal("0.9")), {"timeInForce": "IOC"}
    )
    assert order["info"]["status"] == "PARTIALLY_FILLED" and order["filled"] == 0.25


async def test_ioc_limit_fills_only_when_marketable(
    futures: Any, emulator: BinanceEmulator
) -> None:
    await futures.load_markets()
    last = (await emulator.venue.fetch_quotes([BTC]))[BTC].price
    away = await futures.create_order(
        BTC, "limit", "sell", 0.5, float(last * Decimal("1.01")), {"timeInForce": "IOC"}
    )
    assert away["status"] == "expired" and away["filled"] == 0
    assert emulator.venue.exchange.orders[away["clientOrderId"]].status is OrderStatus.CANCELED
    near = await futures.create_order(
        BTC, "limit", "sell", 0.5, float(last * Decimal("0.99")), {"timeInForce": "IOC"}
    )
    assert near["status"] == "closed" and near["filled"] == 0.5


async def test_rejection_with_a_binance_code(futures: Any, emulator: BinanceEmulator) -> None:
    await futures.load_markets()
    emulator.faults.reject(*ORDER, -2019, "Margin is insufficient.")
    with pytest.raises(InsufficientFunds):
        await futures.create_order(BTC, "market", "sell", 0.5, None)
    assert emulator.venue.exchange.trades == []


async def test_resent_client_id_places_a_second_order(
    futures: Any, emulator: BinanceEmulator
) -> None:
    first = await open_short(futures, clientOrderId="twice")
    second = await futures.create_order(
        BTC, "market", "sell", 0.5, None, {"clientOrderId": "twice"}
    )
    assert first["id"] != second["id"]  # unique among OPEN orders only, as on Binance
    assert (await fetch_by_client_id(futures, "twice"))["id"] == second["id"]
    assert emulator.venue.exchange.position(BTC).contracts == Decimal(-1)


async def test_requests_are_counted(futures: Any, emulator: BinanceEmulator) -> None:
    emulator.faults.server_error("GET", "/fapi/v1/time")
    with pytest.raises(OperationFailed):
        await futures.fetch_time()
    await futures.fetch_time()
    assert emulator.requests == [("GET", "/fapi/v1/time")] * 2

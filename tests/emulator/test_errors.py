"""Binance error codes through the real ccxt client: the exception classes a hedger sees."""

from __future__ import annotations

from typing import Any

import ccxt.async_support as ccxt_async
import pytest
from ccxt.base.errors import (
    AuthenticationError,
    BadRequest,
    ExchangeError,
    InsufficientFunds,
    InvalidNonce,
    InvalidOrder,
    OrderNotFound,
)

from bot.emulator.server import BinanceEmulator
from tests.emulator.conftest import BTC, KEY, SECRET, open_short
from tests.emulator_clients import make_binance_clients, point_at

ADA = "ADA/USDT:USDT"
"""Lots of 1 ADA: one is worth well under Binance's 5 USDT minimum notional."""


async def make_client(emulator: BinanceEmulator, key: str = KEY, secret: str = SECRET) -> Any:
    futures, spot = make_binance_clients(emulator.base_url, key, secret, enable_rate_limit=False)
    futures.timeout_on_exit = spot.timeout_on_exit = 0
    await spot.close()
    return futures


async def test_margin_insufficient_is_insufficient_funds(futures: Any) -> None:
    await futures.load_markets()
    await futures.set_leverage(1, BTC)
    with pytest.raises(InsufficientFunds, match="-2019"):
        await futures.create_order(BTC, "market", "sell", 2, None)


async def test_min_notional_is_invalid_order(futures: Any, emulator: BinanceEmulator) -> None:
    await futures.load_markets()
    with pytest.raises(InvalidOrder, match="-4164"):
        await futures.create_order(ADA, "market", "sell", 1, None)
    assert emulator.venue.exchange.trades == []


async def test_reduce_only_rejected_is_invalid_order(futures: Any) -> None:
    await futures.load_markets()
    with pytest.raises(InvalidOrder, match="-2022"):
        await futures.create_order(BTC, "market", "buy", 0.1, None, {"reduceOnly": True})


async def test_bad_precision_is_bad_request(futures: Any) -> None:
    await futures.load_markets()
    order = {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.0015"}
    with pytest.raises(BadRequest, match="-1111"):  # ccxt would truncate: send it raw
        await futures.fapiPrivatePostOrder(order)


async def test_unknown_order_is_order_not_found(futures: Any) -> None:
    await futures.load_markets()
    with pytest.raises(OrderNotFound, match="-2013"):
        await futures.fetch_order(None, BTC, {"origClientOrderId": "never-sent"})
    with pytest.raises(OrderNotFound, match="-2013"):
        await futures.fetch_order("424242", BTC)


async def test_nothing_rests_so_cancel_is_unknown_order(futures: Any) -> None:
    created = await open_short(futures)
    assert await futures.fetch_open_orders(BTC) == []
    with pytest.raises(OrderNotFound, match="-2011"):
        await futures.cancel_order(created["id"], BTC)


async def test_bad_signature_is_authentication_error(emulator: BinanceEmulator) -> None:
    client = await make_client(emulator, secret="not-the-secret")
    try:
        await client.load_markets()  # public: no signature needed
        with pytest.raises(AuthenticationError, match="-1022"):
            await client.fetch_balance()
    finally:
        await client.close()


async def test_unknown_key_is_authentication_error(emulator: BinanceEmulator) -> None:
    client = await make_client(emulator, key="somebody-else")
    try:
        with pytest.raises(AuthenticationError, match="-2015"):
            await client.fetch_balance()
    finally:
        await client.close()


@pytest.mark.parametrize("client_lag_ms", [30_000, -5_000])
async def test_timestamp_skew_is_invalid_nonce(
    emulator: BinanceEmulator, client_lag_ms: int
) -> None:
    client = await make_client(emulator)
    try:
        await client.load_markets()
        client.options["timeDifference"] = client_lag_ms  # past ccxt's recvWindow of 10 s / ahead
        with pytest.raises(InvalidNonce, match="-1021"):
            await client.fetch_balance()
    finally:
        await client.close()


async def test_plain_ccxt_on_a_local_host_loses_the_mapping(emulator: BinanceEmulator) -> None:
    client = ccxt_async.binanceusdm(
        {"apiKey": KEY, "secret": SECRET, "options": {"fetchCurrencies": False}}
    )
    client.timeout_on_exit = 0
    point_at(client, emulator.base_url)
    try:
        await client.load_markets()
        with pytest.raises(ExchangeError) as caught:
            await client.create_order(ADA, "market", "sell", 1, None)
        assert type(caught.value) is ExchangeError  # -4164, but not InvalidOrder off Binance's host
    finally:
        await client.close()

"""Bybit v5 streams of the emulator, read by a real ccxt.pro bybit client.

The private socket (auth, order / execution / position / wallet topics; the exchange's
liquidation and ADL executions), the public tickers with the mark price, and the stream faults.
Raw frames are read with a plain aiohttp websocket where ccxt hides them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt
import pytest

from bot.emulator.bybit.server import BybitEmulator
from bot.emulator.squeeze import squeeze
from tests.emulator.conftest import BTC, KEY, SECRET, decimal, isolated_2x
from tests.emulator_clients import make_pro_bybit_client, started, until, ws_base

WAIT = 5.0


async def subscribed(bybit_emulator: BybitEmulator, watch: Any, topic: str) -> asyncio.Task[Any]:
    """Start a watch and wait until the emulator sees its topic subscribed."""
    task = asyncio.ensure_future(watch)
    await asyncio.wait_for(bybit_emulator.hub.wait_subscribed(topic), WAIT)
    return task


def auth_frame(secret: str, expires: int) -> dict[str, Any]:
    text = f"GET/realtime{expires}"
    sign = hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()
    return {"op": "auth", "args": [KEY, str(expires), sign]}


# -- the private socket ------------------------------------------------------------------------


async def test_a_market_order_arrives_on_orders_trades_and_positions(
    pro_bybit: Any, bybit_emulator: BybitEmulator
) -> None:
    await isolated_2x(pro_bybit)
    snapshot = await asyncio.wait_for(pro_bybit.watch_positions([BTC]), WAIT)  # REST, no topic yet
    assert snapshot == []
    assert bybit_emulator.requests.count(("GET", "/v5/position/list")) == 2  # linear and inverse
    positions = await subscribed(bybit_emulator, pro_bybit.watch_positions([BTC]), "position")
    orders = await subscribed(bybit_emulator, pro_bybit.watch_orders(BTC), "order")
    trades = await subscribed(bybit_emulator, pro_bybit.watch_my_trades(BTC), "execution")

    created = await pro_bybit.create_order(
        BTC, "market", "sell", 0.5, None, {"clientOrderId": "ws-1"}
    )

    order = await until(orders, lambda: pro_bybit.watch_orders(BTC), lambda o: True)
    assert order["id"] == created["id"] and order["clientOrderId"] == "ws-1"
    assert order["status"] == "closed" and order["filled"] == 0.5
    assert order["info"]["createType"] == "CreateByUser"
    (trade,) = await asyncio.wait_for(trades, WAIT)
    (rest,) = await pro_bybit.fetch_my_trades(BTC)
    assert trade["id"] == rest["id"] and trade["order"] == created["id"]
    assert trade["amount"] == 0.5 and trade["price"] == rest["price"]
    assert trade["info"]["execType"] == "Trade"
    (position,) = await asyncio.wait_for(positions, WAIT)
    assert position["side"] == "short" and position["contracts"] == 0.5
    assert position["entryPrice"] == rest["price"]
    assert position["info"]["adlRankIndicator"] == 2  # the Bybit face's default when open


async def test_liquidation_and_adl_arrive_on_my_trades_and_orders(
    pro_bybit: Any, bybit_emulator: BybitEmulator
) -> None:
    await isolated_2x(pro_bybit)
    await pro_bybit.create_order(BTC, "market", "sell", 1.0)
    (opening,) = await pro_bybit.fetch_my_trades(BTC)
    trades = await subscribed(bybit_emulator, pro_bybit.watch_my_trades(BTC), "execution")
    orders = await subscribed(bybit_emulator, pro_bybit.watch_orders(BTC), "order")
    price = (decimal(opening["price"]) * Decimal("0.9")).quantize(Decimal("0.1"))

    bybit_emulator.account.auto_deleverage(BTC, fraction=Decimal("0.5"), price=price)

    (adl,) = await asyncio.wait_for(trades, WAIT)
    assert adl["info"]["execType"] == "AdlTrade" and adl["side"] == "buy"
    assert adl["amount"] == 0.5 and decimal(adl["price"]) == price
    assert adl["info"]["createType"] == "CreateByAdl_PassThrough"
    order = await until(orders, lambda: pro_bybit.watch_orders(BTC), lambda o: True)
    assert order["info"]["createType"] == "CreateByAdl_PassThrough"
    assert order["clientOrderId"] is None and order["status"] == "closed"

    trades = await started(pro_bybit.watch_my_trades(BTC))
    bybit_emulator.account.liquidate(BTC)
    (bust,) = await asyncio.wait_for(trades, WAIT)
    assert bust["info"]["execType"] == "BustTrade" and bust["amount"] == 0.5
    assert bust["info"]["createType"] == "CreateByLiq"


async def test_positions_and_wallet_follow_the_account(
    pro_bybit: Any, bybit_emulator: BybitEmulator
) -> None:
    await isolated_2x(pro_bybit)
    await asyncio.wait_for(pro_bybit.watch_positions([BTC]), WAIT)
    positions = await subscribed(bybit_emulator, pro_bybit.watch_positions([BTC]), "position")
    balance = await subscribed(bybit_emulator, pro_bybit.watch_balance(), "wallet")

    await pro_bybit.create_order(BTC, "market", "sell", 0.5)

    (position,) = await asyncio.wait_for(positions, WAIT)
    assert position["contracts"] == 0.5
    wallet = await asyncio.wait_for(balance, WAIT)
    rest = await pro_bybit.fetch_balance()
    (usdt,) = [c for c in rest["info"]["result"]["list"][0]["coin"] if c["coin"] == "USDT"]
    # ccxt reads a streamed coin's total from its equity, a fetched one's from walletBalance
    assert decimal(wallet["USDT"]["total"]) == decimal(usdt["equity"])
    assert rest["USDT"]["total"] == float(usdt["walletBalance"])
    positions = await started(pro_bybit.watch_positions([BTC]))
    bybit_emulator.account.set_adl_rank(BTC, 4)  # Bybit's position records carry the rank
    (ranked,) = await asyncio.wait_for(positions, WAIT)
    assert ranked["info"]["adlRankIndicator"] == 4


async def test_a_bad_signature_is_refused_with_an_authentication_error(
    bybit_emulator: BybitEmulator, http: aiohttp.ClientSession
) -> None:
    bad = make_pro_bybit_client(bybit_emulator.base_url, KEY, "not-the-secret")
    bad.has["fetchCurrencies"] = False  # load the markets without a signed call
    try:
        with pytest.raises(ccxt.AuthenticationError, match="Request not authorized"):
            await asyncio.wait_for(bad.watch_orders(BTC), WAIT)
    finally:
        await bad.close()
    assert not bybit_emulator.hub.subscribed("order")
    async with http.ws_connect(f"{ws_base(bybit_emulator.base_url)}/v5/private") as ws:
        past = int(time.time() * 1000) - 1000
        await ws.send_json(auth_frame(SECRET, past))
        expired = await ws.receive_json(timeout=WAIT)
        assert expired["success"] is False and expired["ret_msg"] == "Params Error"
        assert expired["op"] == "auth"
        await ws.send_json({"op": "subscribe", "req_id": "1", "args": ["order"]})
        refused = await ws.receive_json(timeout=WAIT)
        assert refused["success"] is False and refused["req_id"] == "1"
        await ws.send_json(auth_frame(SECRET, int(time.time() * 1000) + 10_000))
        assert (await ws.receive_json(timeout=WAIT))["success"] is True
        await ws.send_json({"op": "subscribe", "req_id": "2", "args": ["order", "bogus"]})
        assert (await ws.receive_json(timeout=WAIT))["success"] is False
        await ws.send_json({"op": "ping", "req_id": "3"})
        pong = await ws.receive_json(timeout=WAIT)
        assert pong["op"] == "pong" and pong["req_id"] == "3"


# -- tickers -----------------------------------------------------------------------------------


async def test_mark_price_moves_arrive_on_watch_ticker(
    pro_bybit: Any, bybit_emulator: BybitEmulator
) -> None:
    first = await asyncio.wait_for(pro_bybit.watch_ticker(BTC), WAIT)  # snapshot on subscribe
    assert decimal(first["markPrice"]) == bybit_emulator.account.mark_price(BTC)

    moved = await started(pro_bybit.watch_ticker(BTC))
    bybit_emulator.account.set_mark(BTC, Decimal("45000.5"))
    assert (await asyncio.wait_for(moved, WAIT))["markPrice"] == 45000.5
    assert (await pro_bybit.fetch_ticker(BTC))["markPrice"] == 45000.5  # REST shows it too

    ticked = await started(pro_bybit.watch_ticker(BTC))
    await bybit_emulator.hub.tick()
    assert (await asyncio.wait_for(ticked, WAIT))["markPrice"] == 45000.5


async def test_a_squeeze_is_pushed_step_by_step(
    pro_bybit: Any, bybit_emulator: BybitEmulator
) -> None:
    await isolated_2x(pro_bybit)
    await pro_bybit.create_order(BTC, "market", "sell", 0.5)
    await asyncio.wait_for(pro_bybit.watch_ticker(BTC), WAIT)
    seen: list[Decimal] = []

    async def collect() -> None:
        while True:
            seen.append(decimal((await pro_bybit.watch_ticker(BTC))["markPrice"]))

    collector = asyncio.ensure_future(collect())
    await asyncio.sleep(0)
    marks = await squeeze(bybit_emulator.account, BTC, steps=3, seconds=0.3, reach=Decimal("0.6"))
    await bybit_emulator.hub.flush()
    await asyncio.sleep(0.05)
    collector.cancel()

    assert [m for m in seen if m in marks] == marks
    assert bybit_emulator.venue.exchange.position(BTC).contracts == Decimal("-0.5")  # stopped short


async def test_public_socket_answers_pings_and_refuses_unknown_topics(
    bybit_emulator: BybitEmulator, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(f"{ws_base(bybit_emulator.base_url)}/v5/public/linear") as ws:
        await ws.send_json({"op": "ping", "req_id": "1"})
        pong = await ws.receive_json(timeout=WAIT)
        assert pong["ret_msg"] == "pong" and pong["success"] is True and pong["req_id"] == "1"
        await ws.send_json({"op": "subscribe", "req_id": "2", "args": ["tickers.NOPEUSDT"]})
        assert (await ws.receive_json(timeout=WAIT))["success"] is False
        await ws.send_json({"op": "subscribe", "req_id": "3", "args": ["tickers.ETHUSDT"]})
        ack = await ws.receive_json(timeout=WAIT)
        assert ack == {**ack, "success": True, "op": "subscribe", "req_id": "3"}
        snapshot = await ws.receive_json(timeout=WAIT)
        assert snapshot["topic"] == "tickers.ETHUSDT" and snapshot["type"] == "snapshot"


# -- faults ------------------------------------------------------------------------------------


async def test_a_dropped_socket_fails_pending_watches_and_a_new_call_reconnects(
    pro_bybit: Any, bybit_emulator: BybitEmulator
) -> None:
    await isolated_2x(pro_bybit)
    pending = await subscribed(bybit_emulator, pro_bybit.watch_orders(BTC), "order")

    assert await bybit_emulator.hub.drop_sockets() == 1

    with pytest.raises(ccxt.NetworkError, match="closed by remote server"):
        await asyncio.wait_for(pending, WAIT)
    again = await subscribed(
        bybit_emulator, pro_bybit.watch_orders(BTC), "order"
    )  # re-auth, resubscribe
    await pro_bybit.create_order(BTC, "market", "sell", 0.5, None, {"clientOrderId": "after-drop"})
    order = await until(again, lambda: pro_bybit.watch_orders(BTC), lambda o: True)
    assert order["clientOrderId"] == "after-drop" and order["filled"] == 0.5


async def test_a_stale_stream_delivers_nothing_while_rest_shows_the_change(
    pro_bybit: Any, bybit_emulator: BybitEmulator
) -> None:
    await isolated_2x(pro_bybit)
    pro_bybit.streaming["keepAlive"] = 100  # ccxt's text pings every 0.1 s: still answered
    pending = await subscribed(bybit_emulator, pro_bybit.watch_my_trades(BTC), "execution")
    bybit_emulator.hub.stale = True
    sent = bybit_emulator.hub.sent

    await pro_bybit.create_order(BTC, "market", "sell", 0.5, None, {"clientOrderId": "lost"})
    done, _ = await asyncio.wait({pending}, timeout=0.5)

    assert not done and bybit_emulator.hub.sent == sent
    assert len(await pro_bybit.fetch_my_trades(BTC)) == 1
    bybit_emulator.hub.stale = False
    await pro_bybit.create_order(BTC, "market", "sell", 0.5, None, {"clientOrderId": "seen"})
    (trade,) = await asyncio.wait_for(pending, WAIT)
    assert trade["info"]["orderLinkId"] == "seen"

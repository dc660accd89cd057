"""Binance USDⓈ-M streams of the emulator, read by a real ccxt.pro binanceusdm client.

The user data stream (orders, fills, positions; the exchange's liquidation and ADL orders), mark
prices and a squeeze, listen keys and the stream faults (dropped sockets, a stale stream, an
expired key). Raw frames are read with a plain aiohttp websocket where ccxt hides them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt
import pytest

from bot.core.clock import ReplayClock
from bot.emulator.server import BinanceEmulator
from bot.emulator.squeeze import squeeze
from bot.emulator.streams.binance import USER_DATA, BinanceStreams
from tests.emulator.conftest import BTC, ETH, decimal, isolated_2x
from tests.emulator_clients import started, until, ws_base

WAIT = 5.0
MARK_STREAM = "btcusdt@markPrice@1s"
Frame = dict[str, Any]


def face(emulator: BinanceEmulator) -> BinanceStreams:
    assert isinstance(emulator.streams, BinanceStreams)
    return emulator.streams


async def user_stream(pro_binance: Any, emulator: BinanceEmulator) -> asyncio.Task[Any]:
    """Start watch_orders and wait until the emulator sees its socket open."""
    task = asyncio.ensure_future(pro_binance.watch_orders(BTC))
    await asyncio.wait_for(emulator.hub.wait_subscribed(USER_DATA), WAIT)
    return task


async def frames_until(
    ws: aiohttp.ClientWebSocketResponse, done: Callable[[Frame], bool]
) -> list[Frame]:
    """Read JSON frames until one is ``done``; return them all."""
    frames: list[Frame] = []
    async with asyncio.timeout(WAIT):
        while not frames or not done(frames[-1]):
            frames.append(await ws.receive_json())
    return frames


# -- the user data stream ----------------------------------------------------------------------


async def test_a_market_order_arrives_on_orders_trades_and_positions(
    pro_binance: Any, emulator: BinanceEmulator
) -> None:
    await isolated_2x(pro_binance)
    snapshot = await asyncio.wait_for(pro_binance.watch_positions([BTC]), WAIT)  # REST, no event
    assert snapshot == []
    assert ("GET", "/fapi/v1/leverageBracket") in emulator.requests
    assert ("GET", "/fapi/v2/positionRisk") in emulator.requests  # the client's useV2
    positions = asyncio.ensure_future(pro_binance.watch_positions([BTC]))
    await asyncio.wait_for(emulator.hub.wait_subscribed(USER_DATA), WAIT)
    orders = await started(pro_binance.watch_orders(BTC))
    trades = await started(pro_binance.watch_my_trades(BTC))

    created = await pro_binance.create_order(
        BTC, "market", "sell", 0.5, None, {"clientOrderId": "ws-1"}
    )

    order = await until(
        orders, lambda: pro_binance.watch_orders(BTC), lambda o: o["status"] == "closed"
    )
    assert order["id"] == created["id"] and order["clientOrderId"] == "ws-1"
    assert order["filled"] == 0.5 and order["average"] == created["average"]
    assert order["type"] == "market" and order["side"] == "sell"
    (trade,) = await asyncio.wait_for(trades, WAIT)
    assert trade["order"] == created["id"]
    assert trade["amount"] == 0.5 and trade["price"] == created["average"]
    assert trade["fee"]["cost"] > 0
    (position,) = await asyncio.wait_for(positions, WAIT)
    assert position["side"] == "short" and position["contracts"] == 0.5
    assert position["entryPrice"] == created["average"]


async def test_liquidation_and_adl_arrive_as_the_exchanges_orders(
    pro_binance: Any, emulator: BinanceEmulator
) -> None:
    await isolated_2x(pro_binance)
    created = await pro_binance.create_order(BTC, "market", "sell", 1.0)
    orders = await user_stream(pro_binance, emulator)
    positions = await started(pro_binance.watch_positions([BTC]))
    price = (decimal(created["average"]) * Decimal("0.9")).quantize(Decimal("0.1"))

    adl_id = emulator.account.auto_deleverage(BTC, fraction=Decimal("0.5"), price=price)

    adl = await until(
        orders,
        lambda: pro_binance.watch_orders(BTC),
        lambda o: o["clientOrderId"] == "adl_autoclose",
    )
    assert adl["id"] == str(adl_id) and adl["type"] == "adl" and adl["status"] == "closed"
    assert adl["side"] == "buy" and adl["filled"] == 0.5 and decimal(adl["average"]) == price
    assert adl["info"]["x"] == "CALCULATED"
    position = await until(positions, lambda: pro_binance.watch_positions([BTC]), lambda p: True)
    assert position["side"] == "short" and position["contracts"] == 0.5

    orders = await started(pro_binance.watch_orders(BTC))
    liquidation_id = emulator.account.liquidate(BTC)
    liquidation = await until(
        orders, lambda: pro_binance.watch_orders(BTC), lambda o: o["type"] == "liquidation"
    )
    assert liquidation["id"] == str(liquidation_id)
    assert liquidation["clientOrderId"].startswith("autoclose-")
    assert liquidation["filled"] == 0.5 and liquidation["info"]["x"] == "CALCULATED"


async def test_user_data_frames_say_what_happened_and_why(
    pro_binance: Any, emulator: BinanceEmulator, http: aiohttp.ClientSession
) -> None:
    await isolated_2x(pro_binance)
    key = (await pro_binance.fapiPrivatePostListenKey())["listenKey"]
    base = ws_base(emulator.base_url)
    async with (
        http.ws_connect(f"{base}/private/ws/{key}") as by_path,
        http.ws_connect(f"{base}/ws/{key}") as legacy,
    ):
        await pro_binance.create_order(BTC, "market", "sell", 1.0, None, {"clientOrderId": "raw-1"})
        frames = await frames_until(by_path, lambda f: f["e"] == "ACCOUNT_UPDATE")
        assert [f["o"]["X"] for f in frames[:-1]] == ["NEW", "FILLED"]
        assert [f["o"]["x"] for f in frames[:-1]] == ["NEW", "TRADE"]
        assert frames[1]["o"]["c"] == "raw-1" and frames[1]["o"]["z"] == "1"
        update = frames[-1]["a"]
        assert update["m"] == "ORDER" and update["B"][0]["a"] == "USDT"
        assert update["P"][0]["s"] == "BTCUSDT" and update["P"][0]["pa"] == "-1"

        emulator.account.auto_deleverage(BTC, amount=Decimal("0.25"))
        frames = await frames_until(by_path, lambda f: f["e"] == "ACCOUNT_UPDATE")
        adl = [f["o"] for f in frames if f["e"] == "ORDER_TRADE_UPDATE"]
        assert [(o["o"], o["c"], o["x"], o["X"]) for o in adl] == [
            ("ADL", "adl_autoclose", "NEW", "NEW"),
            ("ADL", "adl_autoclose", "CALCULATED", "FILLED"),
        ]
        assert adl[1]["n"] == "0.00000000" and adl[1]["l"] == "0.25"
        assert frames[-1]["a"]["m"] == "ADL" and frames[-1]["a"]["P"][0]["pa"] == "-0.75"

        await pro_binance.set_leverage(3, BTC)
        (config,) = await frames_until(by_path, lambda f: True)
        assert config["e"] == "ACCOUNT_CONFIG_UPDATE" and config["ac"] == {"s": "BTCUSDT", "l": 3}
        assert (await legacy.receive_json(timeout=WAIT))["o"]["c"] == "raw-1"  # same stream


async def test_funding_and_a_margin_type_change_are_account_updates(
    pro_binance: Any, emulator: BinanceEmulator, http: aiohttp.ClientSession, clock: ReplayClock
) -> None:
    await isolated_2x(pro_binance)
    await pro_binance.create_order(BTC, "market", "sell", 0.5)
    key = (await pro_binance.fapiPrivatePostListenKey())["listenKey"]
    async with http.ws_connect(f"{ws_base(emulator.base_url)}/private/ws/{key}") as raw:
        await clock.sleep(8 * 3600)  # past a funding settlement
        await emulator.hub.flush()
        (funding,) = await frames_until(raw, lambda f: True)
        assert funding["a"]["m"] == "FUNDING_FEE"
        assert [p["s"] for p in funding["a"]["P"]] == ["BTCUSDT"]

        emulator.account.set_margin_type_out_of_band(ETH, True)
        (switched,) = await frames_until(raw, lambda f: True)
        assert switched["a"]["m"] == "MARGIN_TYPE_CHANGE"
        assert switched["a"]["P"][0]["s"] == "ETHUSDT" and switched["a"]["P"][0]["mt"] == "isolated"


# -- mark prices -------------------------------------------------------------------------------


async def test_mark_price_moves_arrive_with_the_exact_price(
    pro_binance: Any, emulator: BinanceEmulator, clock: ReplayClock
) -> None:
    first = await asyncio.wait_for(pro_binance.watch_mark_price(BTC), WAIT)  # pushed on subscribe
    assert decimal(first["markPrice"]) == emulator.account.mark_price(BTC)
    assert emulator.hub.subscribed(MARK_STREAM)

    moved = await started(pro_binance.watch_mark_price(BTC))
    emulator.account.set_mark(BTC, Decimal("45000.5"))
    assert (await asyncio.wait_for(moved, WAIT))["markPrice"] == 45000.5
    premium = await pro_binance.fapiPublicGetPremiumIndex({"symbol": "BTCUSDT"})
    assert premium["markPrice"] == "45000.5"  # REST shows it too

    ticked = await started(pro_binance.watch_mark_price(BTC))
    await emulator.hub.tick()  # the timer's push, driven by the test
    assert (await asyncio.wait_for(ticked, WAIT))["markPrice"] == 45000.5

    await clock.sleep(4 * 3600)  # the next candle closes: its mark replaces the one set
    back = await started(pro_binance.watch_mark_price(BTC))
    await emulator.hub.tick()
    candle_mark = emulator.account.mark_price(BTC)
    assert candle_mark != Decimal("45000.5")
    assert decimal((await asyncio.wait_for(back, WAIT))["markPrice"]) == candle_mark


async def test_a_squeeze_walks_the_mark_to_the_liquidation(
    pro_binance: Any, emulator: BinanceEmulator
) -> None:
    await isolated_2x(pro_binance)
    await pro_binance.create_order(BTC, "market", "sell", 0.5)
    liquidation_price = emulator.venue.exchange.liquidation_price(BTC)
    assert liquidation_price is not None
    await asyncio.wait_for(pro_binance.watch_mark_price(BTC), WAIT)
    seen: list[Decimal] = []

    async def collect() -> None:
        while True:
            seen.append(decimal((await pro_binance.watch_mark_price(BTC))["markPrice"]))

    collector = asyncio.ensure_future(collect())
    await asyncio.sleep(0)
    marks = await squeeze(emulator.account, BTC, steps=3, seconds=0.3)
    await emulator.hub.flush()
    await asyncio.sleep(0.05)
    collector.cancel()

    assert len(marks) == 3 and marks[0] < marks[1] < marks[2] == liquidation_price
    assert [m for m in seen if m in marks[:2]] == marks[:2]  # each step was pushed, in order
    assert abs(seen[-1] - liquidation_price) < Decimal("0.01")
    assert emulator.venue.exchange.position(BTC).contracts == 0  # liquidated at the last step
    forced = await pro_binance.fapiPrivateGetForceOrders({"autoCloseType": "LIQUIDATION"})
    assert [o["status"] for o in forced] == ["FILLED"]


async def test_market_socket_requests(
    emulator: BinanceEmulator, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(f"{ws_base(emulator.base_url)}/market/ws/0") as ws:
        await ws.send_json({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1})
        assert (await ws.receive_json(timeout=WAIT))["error"]["code"] == 2
        await ws.send_json({"method": "SUBSCRIBE", "params": ["!markPrice@arr"], "id": 2})
        assert await ws.receive_json(timeout=WAIT) == {"result": None, "id": 2}
        every = await ws.receive_json(timeout=WAIT)
        assert sorted(m["s"] for m in every) == ["ADAUSDT", "BTCUSDT", "ETHUSDT"]
        await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 3})
        assert await ws.receive_json(timeout=WAIT) == {"result": ["!markPrice@arr"], "id": 3}


# -- faults ------------------------------------------------------------------------------------


async def test_a_dropped_socket_fails_pending_watches_and_a_new_call_reconnects(
    pro_binance: Any, emulator: BinanceEmulator
) -> None:
    await isolated_2x(pro_binance)
    pending = await user_stream(pro_binance, emulator)

    assert await emulator.hub.drop_sockets() == 1

    with pytest.raises(ccxt.NetworkError, match="closed by remote server"):
        await asyncio.wait_for(pending, WAIT)
    again = await user_stream(pro_binance, emulator)  # dials again, with the same listen key
    await pro_binance.create_order(
        BTC, "market", "sell", 0.5, None, {"clientOrderId": "after-drop"}
    )
    order = await until(
        again, lambda: pro_binance.watch_orders(BTC), lambda o: o["clientOrderId"] == "after-drop"
    )
    assert order["filled"] == 0.5
    assert emulator.requests.count(("POST", "/fapi/v1/listenKey")) == 1


async def test_a_stale_stream_delivers_nothing_while_rest_shows_the_change(
    pro_binance: Any, emulator: BinanceEmulator
) -> None:
    await isolated_2x(pro_binance)
    pro_binance.streaming["keepAlive"] = (
        100  # ccxt pings every 0.1 s: the stale socket still answers
    )
    pending = await user_stream(pro_binance, emulator)
    emulator.hub.stale = True
    sent = emulator.hub.sent

    lost = await pro_binance.create_order(
        BTC, "market", "sell", 0.5, None, {"clientOrderId": "lost"}
    )
    done, _ = await asyncio.wait({pending}, timeout=0.5)

    assert not done and emulator.hub.sent == sent
    assert (await pro_binance.fetch_order(lost["id"], BTC))["status"] == "closed"
    (position,) = await pro_binance.fetch_positions([BTC])
    assert position["contracts"] == 0.5
    emulator.hub.stale = False
    await pro_binance.create_order(BTC, "market", "sell", 0.5, None, {"clientOrderId": "seen"})
    order = await until(pending, lambda: pro_binance.watch_orders(BTC), lambda o: True)
    assert order["clientOrderId"] == "seen"
    assert "lost" not in [o["clientOrderId"] for o in pro_binance.orders]  # never delivered


async def test_an_expired_listen_key_is_announced_and_its_socket_closed(
    pro_binance: Any, emulator: BinanceEmulator, http: aiohttp.ClientSession
) -> None:
    await isolated_2x(pro_binance)
    pending = await user_stream(pro_binance, emulator)
    key = pro_binance.options["linear"]["listenKey"]
    url = f"{ws_base(emulator.base_url)}/private/ws?listenKey={key}"
    async with http.ws_connect(url) as raw:
        assert await face(emulator).expire_listen_key() == key

        expired = await raw.receive_json(timeout=WAIT)
        assert expired["e"] == "listenKeyExpired" and expired["listenKey"] == key
        assert (await raw.receive(timeout=WAIT)).type == aiohttp.WSMsgType.CLOSE
    with pytest.raises(ccxt.NetworkError):  # ccxt drops the event silently; the close fails it
        await asyncio.wait_for(pending, WAIT)
    with pytest.raises(ccxt.AuthenticationError):  # -1125: the keepalive finds no key
        await pro_binance.fapiPrivatePutListenKey()
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await http.ws_connect(url)
    assert (await pro_binance.fapiPrivatePostListenKey())["listenKey"] != key


async def test_a_listen_key_lives_its_lifetime_unless_kept_alive(
    pro_binance: Any, emulator: BinanceEmulator, http: aiohttp.ClientSession
) -> None:
    keys = face(emulator).listen_keys
    keys.lifetime = 1.0
    key = (await pro_binance.fapiPrivatePostListenKey())["listenKey"]
    assert (await pro_binance.fapiPrivatePostListenKey())["listenKey"] == key  # the active one
    async with http.ws_connect(f"{ws_base(emulator.base_url)}/private/ws/{key}") as raw:
        await asyncio.sleep(0.6)
        assert (await pro_binance.fapiPrivatePutListenKey())["listenKey"] == key
        await asyncio.sleep(0.6)
        assert keys.valid(key)  # 1.2 s after it was made: the PUT extended it

        expired = await raw.receive_json(timeout=WAIT)
        assert expired["e"] == "listenKeyExpired"
    assert not keys.valid(key)

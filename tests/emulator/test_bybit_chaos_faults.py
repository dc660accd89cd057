"""The chaos faults and account operations of the Bybit v5 face, through the real ccxt client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import ccxt
import pytest

from bot.emulator.bybit.server import BybitEmulator
from bot.emulator.bybit.state import ISOLATED, REGULAR
from bot.emulator.faults import FaultInjector
from bot.sim.paper import PaperVenue
from tests.emulator.conftest import BTC, ETH, KEY, SECRET, FakeMonotonic
from tests.emulator_clients import make_bybit_client

ACK = {"acknowledged": True}


@pytest.fixture
async def emulator(venue: PaperVenue, monotonic: FakeMonotonic) -> AsyncIterator[BybitEmulator]:
    server = BybitEmulator(venue, KEY, SECRET, faults=FaultInjector(now=monotonic))
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def bybit(emulator: BybitEmulator) -> AsyncIterator[Any]:
    client = make_bybit_client(
        emulator.base_url, KEY, SECRET, enable_rate_limit=False, timeout_ms=3000
    )
    client.timeout_on_exit = 0
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


async def margin_mode(bybit: Any) -> str:
    mode: str = (await bybit.privateGetV5AccountInfo())["result"]["marginMode"]
    return mode


async def test_a_resting_order_is_new_listed_cancellable_and_fills_later(
    bybit: Any, emulator: BybitEmulator, monotonic: FakeMonotonic
) -> None:
    emulator.faults.rest_orders(times=2, fill_after_seconds=10)
    first = await open_short(bybit, clientOrderId="hb-rest-1")
    second = await bybit.create_order(ETH, "market", "sell", 1, None, {"clientOrderId": "hb-r2"})
    found = await bybit.fetch_order(first["id"], BTC, ACK)
    assert found["status"] == "open" and found["info"]["orderStatus"] == "New"
    assert found["filled"] == 0 and found["info"]["leavesQty"] == "0.5"
    assert [o["id"] for o in await bybit.fetch_open_orders(BTC)] == [first["id"]]
    assert await bybit.fetch_closed_orders(BTC) == []
    await bybit.cancel_order(second["id"], ETH)
    cancelled = await bybit.fetch_order(second["id"], ETH, ACK)
    assert cancelled["status"] == "canceled" and cancelled["info"]["orderStatus"] == "Cancelled"
    with pytest.raises(ccxt.InvalidOrder, match="110008"):  # finished: no longer cancellable
        await bybit.cancel_order(second["id"], ETH)
    monotonic.seconds += 11
    filled = await bybit.fetch_order(first["id"], BTC, ACK)  # due: filled before answering
    assert filled["status"] == "closed" and filled["filled"] == 0.5
    assert [t["order"] for t in await bybit.fetch_my_trades(BTC)] == [first["id"]]
    assert await bybit.fetch_open_orders(BTC) == []
    assert emulator.venue.exchange.position(BTC).contracts == Decimal("-0.5")
    assert emulator.venue.exchange.position(ETH).contracts == 0


async def test_a_reset_and_settings_changed_out_of_band(
    bybit: Any, emulator: BybitEmulator
) -> None:
    await open_short(bybit, clientOrderId="hb-before")
    emulator.account.set_leverage_out_of_band(BTC, 5)
    (position,) = await bybit.fetch_positions([BTC])
    assert position["leverage"] == 5
    with pytest.raises(ValueError):
        emulator.account.set_margin_type_out_of_band(BTC, isolated=False)
    emulator.account.set_margin_type_out_of_band(ETH, isolated=False)
    assert await margin_mode(bybit) == REGULAR  # account-wide on Bybit: one market is cross
    emulator.account.reset_to_defaults()
    (flat,) = await bybit.fetch_positions([BTC])
    assert flat["contracts"] in (0, None) and flat["leverage"] == 20
    assert await margin_mode(bybit) == REGULAR
    assert await bybit.fetch_open_orders(None, None, None, {"orderLinkId": "hb-before"}) == []
    again = await bybit.create_order(
        BTC, "market", "sell", 0.1, None, {"clientOrderId": "hb-before"}
    )
    assert again["clientOrderId"] == "hb-before"  # the exchange forgot the id


async def test_an_external_trade_looks_like_any_order(bybit: Any, emulator: BybitEmulator) -> None:
    await bybit.load_markets()
    order_id = emulator.account.external_trade(BTC, "sell", Decimal("0.3"))
    (trade,) = await bybit.fetch_my_trades(BTC)
    assert trade["amount"] == 0.3 and trade["side"] == "sell"
    order = await bybit.fetch_order(trade["order"], BTC, ACK)
    assert order["clientOrderId"].startswith("web_") and order["status"] == "closed"
    assert order["info"]["timeInForce"] == "IOC"
    assert emulator.account.orders[order_id].sim.client_order_id == order["clientOrderId"]


async def test_wrong_prices_and_positions(bybit: Any, emulator: BybitEmulator) -> None:
    await open_short(bybit)
    truth = await bybit.fetch_ticker(BTC)
    spot = (await bybit.fetch_ticker("BTC/USDT"))["last"]
    emulator.faults.wrong_price("BTCUSDT", Decimal("0.1"), times=2, also_mark=True)
    wrong = await bybit.fetch_ticker(BTC)
    assert wrong["last"] == pytest.approx(truth["last"] / 10)
    assert wrong["markPrice"] == pytest.approx(truth["markPrice"] / 10)
    assert (await bybit.fetch_ticker("BTC/USDT"))["last"] == spot  # spot answers pass (counted)
    assert (await bybit.fetch_ticker(BTC))["last"] == truth["last"]
    emulator.faults.flip_positions()
    (flipped,) = await bybit.fetch_positions([BTC])
    assert flipped["side"] == "long" and flipped["contracts"] == 0.5
    emulator.faults.empty_positions()
    assert await bybit.fetch_positions([BTC]) == []
    assert (await bybit.fetch_positions([BTC]))[0]["side"] == "short"


async def test_the_audit_log_on_bybit(bybit: Any, emulator: BybitEmulator) -> None:
    placed = await open_short(bybit, clientOrderId="hb-a1")
    events = emulator.account.audit
    assert [(e.kind, e.position) for e in events] == [
        ("leverage", Decimal(0)),
        ("order_accepted", Decimal(0)),
        ("fill", Decimal("-0.5")),
    ]
    assert events[1].client_order_id == "hb-a1"
    assert emulator.account.orders[events[1].order_id or 0].sim.client_order_id == "hb-a1"
    assert placed["clientOrderId"] == "hb-a1"

"""The chaos faults and account operations of the Binance face, seen through the real ccxt client.

Resting orders, an account reset to the exchange's defaults, someone else's trade, settings
changed out of band, plausible-but-wrong prices and positions, and the audit log they all feed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from ccxt.base.errors import InvalidOrder, OrderNotFound

from bot.core.clock import ReplayClock
from bot.core.domain import ForcedClose
from bot.emulator.audit import AuditEvent
from bot.emulator.server import BinanceEmulator
from bot.sim.paper import PaperVenue
from tests.emulator.conftest import BTC, ETH, HOLDINGS, FakeMonotonic, open_short

DAY = 86_400


def kinds(events: list[AuditEvent]) -> list[tuple[str, str, Decimal]]:
    return [(e.kind, e.symbol, e.position) for e in events]


async def last_price(venue: PaperVenue, symbol: str = BTC) -> Decimal:
    return (await venue.fetch_quotes([symbol]))[symbol].price


async def position_row(futures: Any, symbol: str = BTC) -> dict[str, Any]:
    """Return the /fapi/v2/positionRisk row of ``symbol`` (flat ones included)."""
    rows = await futures.fapiPrivateV2GetPositionRisk({"symbol": symbol.split("/")[0] + "USDT"})
    assert len(rows) == 1
    row: dict[str, Any] = rows[0]
    return row


# -- resting orders ----------------------------------------------------------------------------


async def test_a_resting_market_order_is_open_until_filled(
    futures: Any, emulator: BinanceEmulator
) -> None:
    futures.options["warnOnFetchOpenOrdersWithoutSymbol"] = False
    emulator.faults.rest_orders()
    placed = await open_short(futures, clientOrderId="hb-rest-1")
    assert placed["status"] == "open" and placed["info"]["status"] == "NEW"
    found = await futures.fetch_order(None, BTC, {"origClientOrderId": "hb-rest-1"})
    assert found["status"] == "open" and found["filled"] == 0 and found["remaining"] == 0.5
    assert [o["id"] for o in await futures.fetch_open_orders(BTC)] == [placed["id"]]
    assert [o["id"] for o in await futures.fetch_open_orders()] == [placed["id"]]
    assert await futures.fetch_open_orders(ETH) == []
    assert await futures.fetch_my_trades(BTC) == []
    assert emulator.venue.exchange.position(BTC).contracts == 0

    (filled_id,) = emulator.account.fill_resting(BTC)
    assert emulator.account.venue_order_id(filled_id) == placed["id"]
    filled = await futures.fetch_order(placed["id"], BTC)
    assert filled["status"] == "closed" and filled["filled"] == 0.5
    trades = await futures.fetch_my_trades(BTC)
    assert [t["order"] for t in trades] == [placed["id"]] and trades[0]["amount"] == 0.5
    assert emulator.venue.exchange.position(BTC).contracts == Decimal("-0.5")
    assert await futures.fetch_open_orders() == []
    second = await futures.create_order(BTC, "market", "sell", 0.5, None)
    assert second["status"] == "closed"  # armed for one order only


async def test_a_resting_order_fills_by_itself_after_its_delay(
    futures: Any, emulator: BinanceEmulator, monotonic: FakeMonotonic
) -> None:
    emulator.faults.rest_orders(times=2, fill_after_seconds=5)
    await futures.load_markets()
    first = await futures.create_order(BTC, "market", "sell", 0.5, None)
    monotonic.seconds += 3
    second = await futures.create_order(ETH, "market", "sell", 1, None)
    monotonic.seconds += 2.5
    assert (await futures.fetch_order(first["id"], BTC))["status"] == "closed"
    assert (await futures.fetch_order(second["id"], ETH))["status"] == "open"
    monotonic.seconds += 3
    assert (await futures.fetch_time()) > 0  # any request handled fills what is due
    assert emulator.account.resting == {}
    assert (await futures.fetch_order(second["id"], ETH))["filled"] == 1


async def test_the_fill_happens_at_the_then_current_price(
    futures: Any, emulator: BinanceEmulator, clock: ReplayClock, venue: PaperVenue
) -> None:
    emulator.faults.rest_orders()
    placed = await open_short(futures)
    await clock.sleep(DAY)
    later = await last_price(venue)
    emulator.account.fill_resting()
    trade = (await futures.fetch_my_trades(BTC))[0]
    slip = venue.exchange.fill_price(venue.exchange.orders[placed["clientOrderId"]].side, later)
    assert Decimal(str(trade["price"])) == slip


async def test_a_resting_order_can_be_cancelled(futures: Any, emulator: BinanceEmulator) -> None:
    emulator.faults.rest_orders()
    placed = await open_short(futures, clientOrderId="hb-rest-2")
    cancelled = await futures.cancel_order(placed["id"], BTC)
    assert cancelled["status"] == "canceled" and cancelled["info"]["status"] == "CANCELED"
    assert (await futures.fetch_order(placed["id"], BTC))["status"] == "canceled"
    with pytest.raises(OrderNotFound):  # -2011: no longer open
        await futures.cancel_order(placed["id"], BTC)
    assert emulator.account.fill_resting() == []
    assert await futures.fetch_open_orders(BTC) == []
    assert emulator.venue.exchange.position(BTC).contracts == 0
    done = await futures.create_order(BTC, "market", "sell", 0.5, None)
    with pytest.raises(OrderNotFound):  # a filled order cannot be cancelled (as today)
        await futures.cancel_order(done["id"], BTC)


async def test_a_resting_order_answers_new_in_a_result_answer(
    futures: Any, emulator: BinanceEmulator, venue: PaperVenue
) -> None:
    emulator.faults.rest_orders(times=2)
    placed = await open_short(futures, newOrderRespType="RESULT")
    assert placed["info"]["status"] == "NEW" and placed["info"]["executedQty"] == "0"
    away = float(await last_price(venue) * Decimal("1.05"))
    limit = await futures.create_order(
        BTC, "limit", "sell", 0.5, away, {"timeInForce": "IOC", "newOrderRespType": "RESULT"}
    )
    assert limit["info"]["status"] == "NEW" and limit["info"]["type"] == "LIMIT"
    assert len(await futures.fetch_open_orders(BTC)) == 2


async def test_a_client_id_resting_on_the_book_cannot_be_sent_again(
    futures: Any, emulator: BinanceEmulator
) -> None:
    emulator.faults.rest_orders()
    await open_short(futures, clientOrderId="hb-twice")
    with pytest.raises(InvalidOrder, match="-4116"):
        await futures.create_order(BTC, "market", "sell", 0.5, None, {"clientOrderId": "hb-twice"})
    emulator.account.fill_resting()
    again = await futures.create_order(
        BTC, "market", "sell", 0.5, None, {"clientOrderId": "hb-twice"}
    )
    assert again["status"] == "closed"  # done orders do not block their id (as on Binance)


async def test_a_rejected_order_does_not_use_up_the_fault(
    futures: Any, emulator: BinanceEmulator
) -> None:
    emulator.faults.rest_orders()
    await futures.load_markets()
    with pytest.raises(InvalidOrder):  # reduce-only with nothing to reduce: -2022
        await futures.create_order(BTC, "market", "buy", 0.5, None, {"reduceOnly": True})
    assert (await futures.create_order(BTC, "market", "sell", 0.5, None))["status"] == "open"


async def test_a_resting_reduce_only_order_obeys_the_position_at_fill_time(
    futures: Any, emulator: BinanceEmulator
) -> None:
    await open_short(futures, amount=1)
    emulator.faults.rest_orders(times=2)
    close = await futures.create_order(BTC, "market", "buy", 0.6, None, {"reduceOnly": True})
    more = await futures.create_order(BTC, "market", "buy", 0.6, None, {"reduceOnly": True})
    emulator.account.fill_resting(BTC)
    first = await futures.fetch_order(close["id"], BTC)
    second = await futures.fetch_order(more["id"], BTC)
    assert first["status"] == "closed" and first["filled"] == 0.6
    assert second["info"]["status"] == "EXPIRED" and second["filled"] == 0.4  # only what reduces
    assert emulator.venue.exchange.position(BTC).contracts == 0
    await futures.create_order(BTC, "market", "sell", 0.5, None)
    emulator.faults.rest_orders()
    late = await futures.create_order(BTC, "market", "buy", 0.5, None, {"reduceOnly": True})
    emulator.account.external_trade(BTC, "buy", Decimal("0.5"))  # someone closed it meanwhile
    emulator.account.fill_resting()
    expired = await futures.fetch_order(late["id"], BTC)
    assert expired["info"]["status"] == "EXPIRED" and expired["filled"] == 0
    assert emulator.venue.exchange.position(BTC).contracts == 0  # never reversed


# -- account reset -----------------------------------------------------------------------------


async def test_a_reset_loses_positions_orders_and_settings(
    futures: Any, spot: Any, emulator: BinanceEmulator
) -> None:
    placed = await open_short(futures, clientOrderId="hb-before")
    emulator.faults.rest_orders()
    await futures.create_order(ETH, "market", "sell", 1, None, {"clientOrderId": "hb-resting"})
    wallet = (await futures.fetch_balance())["info"]["totalWalletBalance"]
    trades = await futures.fetch_my_trades(BTC)
    emulator.account.reset_to_defaults()
    for symbol in (BTC, ETH):
        row = await position_row(futures, symbol)
        assert row["positionAmt"] == "0" and row["leverage"] == "20"
        assert row["marginType"] == "cross"
    assert await futures.fetch_positions([BTC, ETH]) == []
    for symbol, client_id in ((BTC, "hb-before"), (ETH, "hb-resting")):
        with pytest.raises(OrderNotFound):
            await futures.fetch_order(None, symbol, {"origClientOrderId": client_id})
    with pytest.raises(OrderNotFound):
        await futures.fetch_order(placed["id"], BTC)
    assert await futures.fetch_open_orders(ETH) == []
    assert emulator.account.fill_resting() == []
    assert (await futures.fetch_balance())["info"]["totalWalletBalance"] == wallet
    assert await futures.fetch_my_trades(BTC) == trades  # no trade records the loss
    spot_balance = await spot.fetch_balance()
    assert spot_balance["BTC"]["total"] == float(HOLDINGS["BTC"])
    assert (await futures.fetch_position_mode())["hedged"] is False


# -- someone else's trade ----------------------------------------------------------------------


async def test_an_external_trade_looks_like_any_order(
    futures: Any, emulator: BinanceEmulator
) -> None:
    await futures.load_markets()
    order_id = emulator.account.venue_order_id(
        emulator.account.external_trade(BTC, "sell", Decimal("0.3"))
    )
    order = await futures.fetch_order(order_id, BTC)
    assert order["clientOrderId"].startswith("web_") and order["status"] == "closed"
    assert order["filled"] == 0.3 and order["side"] == "sell"
    trades = await futures.fetch_my_trades(BTC)
    assert [(t["order"], t["amount"]) for t in trades] == [(order_id, 0.3)]
    assert emulator.venue.exchange.position(BTC).contracts == Decimal("-0.3")
    emulator.account.external_trade("BTCUSDT", "buy", Decimal("0.3"), reduce_only=True)
    assert emulator.venue.exchange.position(BTC).contracts == 0


# -- settings changed out of band --------------------------------------------------------------


async def test_leverage_and_margin_type_changed_out_of_band(
    futures: Any, emulator: BinanceEmulator
) -> None:
    await open_short(futures)
    emulator.account.set_leverage_out_of_band(BTC, 7)
    (position,) = await futures.fetch_positions([BTC])
    assert position["leverage"] == 7 and position["marginMode"] == "isolated"
    with pytest.raises(ValueError):
        emulator.account.set_margin_type_out_of_band(BTC, isolated=False)  # not while open
    with pytest.raises(ValueError):
        emulator.account.set_leverage_out_of_band(BTC, 200)
    emulator.account.set_margin_type_out_of_band(ETH, isolated=True)
    emulator.account.set_leverage_out_of_band(ETH, 3)
    row = await position_row(futures, ETH)
    assert row["marginType"] == "isolated" and row["leverage"] == "3"
    emulator.account.set_margin_type_out_of_band("ETHUSDT", isolated=False)
    assert (await position_row(futures, ETH))["marginType"] == "cross"


# -- plausible-but-wrong answers ---------------------------------------------------------------


async def test_a_wrong_last_price(futures: Any, spot: Any, emulator: BinanceEmulator) -> None:
    await futures.load_markets()
    true_btc = (await futures.fetch_ticker(BTC))["last"]
    true_eth = (await futures.fetch_ticker(ETH))["last"]
    true_mark = (await futures.fetch_mark_price(BTC))["markPrice"]
    emulator.faults.wrong_price("BTCUSDT", Decimal("0.1"), times=4)
    assert (await futures.fetch_ticker(BTC))["last"] == pytest.approx(true_btc / 10)
    tickers = await futures.fetch_tickers([BTC, ETH])
    assert tickers[BTC]["last"] == pytest.approx(true_btc / 10)
    assert tickers[ETH]["last"] == true_eth
    prices = await futures.fapiPublicV2GetTickerPrice({"symbol": "BTCUSDT"})
    assert float(prices["price"]) == pytest.approx(true_btc / 10)
    assert (await spot.fetch_ticker("BTC/USDT"))["last"] != pytest.approx(true_btc / 10)
    assert (await futures.fetch_mark_price(BTC))["markPrice"] == true_mark  # mark not asked
    assert (await futures.fetch_ticker(ETH))["last"] == true_eth  # a call of those endpoints
    assert (await futures.fetch_ticker(BTC))["last"] == true_btc  # used up
    emulator.faults.wrong_price("BTCUSDT", Decimal(10), also_mark=True, times=2)
    assert (await futures.fetch_mark_price(BTC))["markPrice"] == pytest.approx(true_mark * 10)
    assert (await futures.fetch_ticker(BTC))["last"] == pytest.approx(true_btc * 10)
    assert (await futures.fetch_mark_price(BTC))["markPrice"] == true_mark


async def test_positions_answered_empty(futures: Any, emulator: BinanceEmulator) -> None:
    await open_short(futures)
    emulator.faults.empty_positions(times=2)
    assert await futures.fetch_positions([BTC]) == []
    futures.options["fetchPositionsRisk"] = {"useV2": False}
    assert await futures.fetch_positions([BTC]) == []  # v3 too
    assert [p["contracts"] for p in await futures.fetch_positions([BTC])] == [0.5]


async def test_positions_reported_on_the_wrong_side(
    futures: Any, emulator: BinanceEmulator
) -> None:
    await open_short(futures)
    truth = (await futures.fetch_positions([BTC]))[0]
    emulator.faults.flip_positions()
    (flipped,) = await futures.fetch_positions([BTC])
    assert flipped["side"] == "long" and flipped["contracts"] == 0.5
    assert flipped["unrealizedPnl"] == pytest.approx(-truth["unrealizedPnl"])
    assert flipped["info"]["positionAmt"] == "0.5" and truth["info"]["positionAmt"] == "-0.5"
    assert flipped["info"]["notional"] == truth["info"]["notional"].removeprefix("-")
    assert (await futures.fetch_positions([BTC]))[0]["side"] == "short"


# -- the audit log -----------------------------------------------------------------------------


async def test_the_audit_log_follows_every_change(futures: Any, emulator: BinanceEmulator) -> None:
    account = emulator.account
    placed = await open_short(futures, clientOrderId="hb-a1")
    assert kinds(account.audit) == [
        ("leverage", BTC, Decimal(0)),
        ("order_accepted", BTC, Decimal(0)),
        ("fill", BTC, Decimal("-0.5")),
    ]
    accepted, fill = account.audit[1:]
    assert accepted.client_order_id == fill.client_order_id == "hb-a1"
    assert accepted.order_id == fill.order_id
    assert account.venue_order_id(accepted.order_id or 0) == placed["id"]
    assert accepted.amount == fill.amount == Decimal("-0.5")
    assert account.audit[0].amount == 2
    mark = len(account.audit)
    emulator.faults.rest_orders()
    resting = await futures.create_order(BTC, "market", "buy", 0.2, None, {"clientOrderId": "r"})
    external = account.external_trade(BTC, "sell", Decimal("0.1"))
    account.set_leverage_out_of_band(BTC, 4)
    account.fill_resting()
    account.reset_to_defaults()
    assert kinds(account.audit_since(mark)) == [
        ("order_accepted", BTC, Decimal("-0.5")),
        ("order_accepted", BTC, Decimal("-0.5")),
        ("fill", BTC, Decimal("-0.6")),
        ("leverage", BTC, Decimal("-0.6")),
        ("fill", BTC, Decimal("-0.4")),
        *[("reset", symbol, Decimal(0)) for symbol in sorted(emulator.venue.exchange.markets)],
    ]
    events = account.audit_since(mark)
    shown = account.venue_order_id  # the audit keeps account-wide ids; Binance numbers per symbol
    assert shown(events[0].order_id or 0) == resting["id"] and events[0].client_order_id == "r"
    assert events[1].order_id == external
    assert (events[1].client_order_id or "").startswith("web_")
    assert shown(events[4].order_id or 0) == resting["id"] and events[4].amount == Decimal("0.2")
    assert next(e for e in events if e.symbol == BTC and e.kind == "reset").amount == Decimal("0.4")
    seqs = [e.seq for e in account.audit]
    assert seqs == list(range(1, len(seqs) + 1))
    walls = [e.wall for e in account.audit]
    assert walls == sorted(walls)
    assert account.audit_since(len(seqs)) == []


async def test_a_liquidation_caught_up_with_appears_in_the_audit(
    futures: Any, emulator: BinanceEmulator, clock: ReplayClock
) -> None:
    await open_short(futures)
    emulator.venue.exchange.position(BTC).isolated_margin = Decimal(0)  # liquidated at once
    before = len(emulator.account.audit)
    await clock.sleep(DAY)
    await futures.fetch_time()  # the simulation catches up while handling any request
    (event,) = emulator.account.audit_since(before)
    assert event.kind == "liquidation" and event.position == 0 and event.amount == Decimal("0.5")
    assert event.client_order_id is None
    trades = await futures.fetch_my_trades(BTC)
    assert trades[-1]["order"] == emulator.account.venue_order_id(event.order_id or 0)


async def test_a_wick_liquidates_a_short_at_its_liquidation_price(
    futures: Any, emulator: BinanceEmulator
) -> None:
    await open_short(futures)
    sim = emulator.venue.exchange
    price = sim.liquidation_price(BTC)
    assert price is not None
    number = emulator.account.liquidate("BTCUSDT")
    assert sim.position(BTC).contracts == 0 and sim.position(BTC).isolated_margin == 0
    (trade,) = [t for t in sim.trades if t.forced is ForcedClose.LIQUIDATION]
    assert trade.price == price and trade.amount == Decimal("0.5") and trade.side.value == "buy"
    order = await futures.fetch_order(str(number), BTC)
    assert order["clientOrderId"].startswith("autoclose-") and order["filled"] == 0.5
    assert emulator.account.audit[-1].kind == "liquidation"
    with pytest.raises(ValueError, match="no position"):
        emulator.account.liquidate(BTC)

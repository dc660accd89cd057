"""Fills and funding as the exchanges send them: liquidation marks, client ids, rate, position."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from bot.core.domain import ForcedClose
from bot.core.errors import MalformedResponse
from bot.venue import ccxt_parse as parse

BTC = "BTC/USDT:USDT"


def ccxt_trade(**info: Any) -> dict[str, Any]:
    return {
        "id": "7",
        "order": "3",
        "symbol": BTC,
        "side": "buy",
        "amount": 0.5,
        "price": 60000.0,
        "timestamp": 1704441600000,
        "fee": {"cost": 1.5, "currency": "USDT"},
        "info": info,
    }


LIQ, ADL = ForcedClose.LIQUIDATION, ForcedClose.ADL


@pytest.mark.parametrize(
    ("info", "forced", "client_id"),
    [
        ({"realizedPnl": "-3"}, None, None),  # Binance userTrades: no client id at all
        ({"clientOrderId": "autoclose-1596107620040000020"}, LIQ, "autoclose-1596107620040000020"),
        ({"clientOrderId": "adl_autoclose"}, ADL, "adl_autoclose"),
        ({"clientOrderId": "hb-BTC-1"}, None, "hb-BTC-1"),
        ({"clientOrderId": "adl_autoclose-hb"}, None, "adl_autoclose-hb"),  # not the exact id
        ({"clientOrderId": "my-autoclose-1"}, None, "my-autoclose-1"),  # not the prefix
        ({"execType": "Trade", "orderLinkId": "hb-BTC-1"}, None, "hb-BTC-1"),
        ({"execType": "BustTrade", "orderLinkId": ""}, LIQ, None),  # Bybit liquidation
        ({"execType": "AdlTrade", "orderLinkId": ""}, ADL, None),  # Bybit ADL
        ({"execType": "Trade", "orderLinkId": ""}, None, None),  # someone's manual trade
    ],
)
def test_a_fill_says_how_the_exchange_forced_it(
    info: dict[str, Any], forced: ForcedClose | None, client_id: str | None
) -> None:
    fill = parse.fill(ccxt_trade(**info), "v")
    assert fill.forced is forced
    assert fill.client_order_id == client_id
    assert (fill.trade_id, fill.venue_order_id) == ("7", "3")


def test_an_order_answer_names_its_fills_client_id() -> None:
    raw = {
        "id": "3",
        "clientOrderId": "hb-BTC-1",
        "symbol": BTC,
        "side": "buy",
        "amount": 0.5,
        "filled": 0.5,
        "status": "closed",
        "timestamp": 1704441600000,
    }
    fill = parse.fill(ccxt_trade(), "v")
    (stamped,) = parse.order(raw, "hb-BTC-1", False, (fill,)).fills
    assert stamped.client_order_id == "hb-BTC-1" and stamped.forced is None
    forced = parse.order({**raw, "clientOrderId": "autoclose-1"}, "x", False, (fill,))
    assert forced.fills[0].forced is ForcedClose.LIQUIDATION
    adl = parse.order({**raw, "clientOrderId": "adl_autoclose"}, "x", False, (fill,))
    assert adl.fills[0].forced is ForcedClose.ADL
    assert adl.fills[0].client_order_id == "adl_autoclose"


@pytest.mark.parametrize(
    ("client_id", "forced"),
    [
        ("adl_autoclose", ForcedClose.ADL),
        ("autoclose-1596107620040000020", ForcedClose.LIQUIDATION),
        ("hb-BTC-1", None),
        (None, None),
        ("", None),
    ],
)
def test_binance_client_ids_tell_adl_from_liquidation(
    client_id: str | None, forced: ForcedClose | None
) -> None:
    assert parse.forced_by_client_id(client_id) is forced


@pytest.mark.parametrize(
    ("exec_type", "forced"),
    [
        ("AdlTrade", ForcedClose.ADL),
        ("BustTrade", ForcedClose.LIQUIDATION),
        ("Trade", None),
        ("Funding", None),
        (None, None),
    ],
)
def test_bybit_exec_types_tell_adl_from_liquidation(
    exec_type: str | None, forced: ForcedClose | None
) -> None:
    assert parse.forced_by_exec_type(exec_type) is forced


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ({"symbol": BTC, "rank": 3, "info": {}}, (BTC, 3)),
        ({"symbol": BTC, "rank": 0}, (BTC, 0)),
        ({"symbol": BTC, "rank": None}, (BTC, None)),
    ],
)
def test_an_adl_rank_is_read_as_a_whole_number(
    raw: dict[str, Any], parsed: tuple[str, int | None]
) -> None:
    assert parse.adl_rank(raw) == parsed


@pytest.mark.parametrize("rank", [-1, 2.5, "high"])
def test_an_unreadable_adl_rank_is_refused(rank: Any) -> None:
    with pytest.raises(MalformedResponse):
        parse.adl_rank({"symbol": BTC, "rank": rank})


def binance_income(amount: str) -> dict[str, Any]:
    info = {"symbol": "BTCUSDT", "incomeType": "FUNDING_FEE", "income": amount, "tranId": "44"}
    return {"id": "44", "symbol": BTC, "amount": float(amount), "timestamp": 0, "info": info}


def bybit_funding(fee: str, rate: str, size: str, side: str) -> dict[str, Any]:
    info = {"execType": "Funding", "execFee": fee, "feeRate": rate, "execQty": size, "side": side}
    return {"id": "e-1", "symbol": BTC, "amount": float(fee), "timestamp": 0, "info": info}


def test_binance_income_names_neither_rate_nor_position() -> None:
    payment = parse.funding(binance_income("1.2"), "v", 1)
    assert payment.rate is None and payment.position_contracts is None
    assert payment.amount == Decimal("1.2") and payment.payment_id == "44"


@pytest.mark.parametrize(
    ("fee", "rate", "side", "position"),
    [
        ("-0.6", "0.0001", "Sell", "-0.1"),  # a short receives a positive rate
        ("0.6", "-0.0001", "Sell", "-0.1"),  # and pays a negative one
        ("0.6", "0.0001", "Buy", "0.1"),  # a long pays a positive rate
        ("-0.6", "0.0001", "Buy", "-0.1"),  # the payment decides the sign, not the side
        ("0", "0", "Sell", "-0.1"),  # nothing paid: the side says
    ],
)
def test_bybit_funding_carries_its_rate_and_signed_position(
    fee: str, rate: str, side: str, position: str
) -> None:
    payment = parse.funding(bybit_funding(fee, rate, "0.1", side), "v", -1)
    assert payment.rate == Decimal(rate)
    assert payment.position_contracts == Decimal(position)
    assert payment.amount == -Decimal(fee)


@pytest.mark.parametrize(
    ("amount", "rate", "mark", "step", "position"),
    [
        ("2.42051436", "0.0001", "60512.859", "0.001", "-0.4"),  # a short receives
        ("-2.42051436", "0.0001", "60512.859", "0.001", "0.4"),  # a long pays
        ("1.50075000", "-0.0003", "0.50025", "1", "10000"),  # a long receives a negative rate
        ("0.00000100", "0.00001", "0.0001", "1", None),  # 8 decimals hide whole lots: unknown
        ("0.00000001", "0.0001", "0.5", "1", None),  # less than a lot
        ("1.2345", "0.0001", "60000", "0.001", None),  # no whole number of lots (capped)
        ("0", "0", "60000", "0.001", None),  # a zero rate tells nothing
    ],
)
def test_the_position_a_funding_payment_was_charged_on(
    amount: str, rate: str, mark: str, step: str, position: str | None
) -> None:
    found = parse.funding_position(
        Decimal(amount), Decimal(rate), Decimal(mark), Decimal(1), Decimal(step)
    )
    assert found == (Decimal(position) if position is not None else None)


def test_forced_orders_and_funding_rates_are_read_exactly_or_refused() -> None:
    row = {
        "orderId": 6071832819,
        "symbol": "BTCUSDT",
        "clientOrderId": "autoclose-1596107620040000020",
        "time": 1596107620044,
    }
    assert parse.forced_order(row) == (
        "BTCUSDT",
        "6071832819",
        "autoclose-1596107620040000020",
        1596107620044,
    )
    with pytest.raises(MalformedResponse):
        parse.forced_order({"symbol": "BTCUSDT"})
    entry = {
        "symbol": BTC,
        "timestamp": 1570608000000,
        "fundingRate": -0.0375,
        "info": {"fundingRate": "-0.03750000", "markPrice": "34287.54619963"},
    }
    assert parse.funding_charge(entry) == (
        BTC,
        1570608000000,
        Decimal("-0.0375"),
        Decimal("34287.54619963"),
    )
    older = {**entry, "info": {"fundingRate": "0.0001"}}  # before Binance sent the mark
    assert parse.funding_charge(older)[3] is None

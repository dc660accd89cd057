"""The journal keys fills and funding by the exchange's identity, joins fills to their orders,
and keeps an unknown funding rate or position unknown (both backends)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bot.core.domain import Fill, FundingPayment, OrderIntent, OrderStatus, Side
from bot.journal.store import Journal

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
VENUE = "binanceusdm:main"


@pytest.fixture
def journal(journal_url: str) -> Iterator[Journal]:
    with Journal.open(journal_url) as opened:
        yield opened


def trade(trade_id: str, symbol: str, order_id: str | None, client_id: str | None = None) -> Fill:
    return Fill(
        VENUE, trade_id, symbol, Side.SELL, Decimal("0.1"), Decimal(60000), Decimal("3"),
        "USDT", Decimal(0), T0, client_order_id=client_id, venue_order_id=order_id,
    )  # fmt: skip


def payment(payment_id: str, symbol: str, rate: str | None, position: str | None) -> FundingPayment:
    return FundingPayment(
        VENUE,
        payment_id,
        symbol,
        T0,
        Decimal(rate) if rate is not None else None,
        Decimal(position) if position is not None else None,
        Decimal("0.6"),
    )


def placed(journal: Journal, client_id: str, symbol: str, order_id: str) -> None:
    intent = OrderIntent(
        client_id, symbol, Side.SELL, Decimal("0.1"), False, Decimal(60000), Decimal(1)
    )
    journal.record_order_intent(intent, venue=VENUE, rebalance_id=None, time=T0)
    journal.update_order(client_id, status=OrderStatus.FILLED, time=T0, venue_order_id=order_id)


def test_the_same_trade_id_on_two_symbols_is_two_fills(journal: Journal) -> None:
    assert journal.record_fills([trade("1", BTC, "1"), trade("1", ETH, "1")]) == 2
    assert journal.record_fills([trade("1", ETH, "1")]) == 0  # once per symbol
    assert sorted((f.symbol, f.trade_id) for f in journal.fills()) == [(BTC, "1"), (ETH, "1")]


def test_the_same_payment_id_on_two_symbols_is_two_payments(journal: Journal) -> None:
    first = payment("7", BTC, "0.0001", "-0.1")
    assert journal.record_funding([first, payment("7", ETH, "0.0001", "-2")]) == 2
    assert journal.record_funding([first]) == 0


def test_a_fill_without_client_id_takes_its_orders(journal: Journal) -> None:
    placed(journal, "hb-btc", BTC, "5")
    placed(journal, "hb-eth", ETH, "5")  # Binance numbers orders per symbol too
    placed(journal, "hb-old", ETH, "9")
    placed(journal, "hb-new", ETH, "9")  # an id the exchange gave twice: no guess
    fills = [
        trade("1", BTC, "5"),
        trade("1", ETH, "5"),
        trade("2", ETH, "9"),
        trade("3", ETH, "6"),  # someone else's order
        trade("4", ETH, "5", "autoclose-1"),  # a client id of its own is kept
    ]
    assert journal.record_fills(fills) == 5
    found = {(f.symbol, f.trade_id): f.client_order_id for f in journal.fills()}
    assert found == {
        (BTC, "1"): "hb-btc",
        (ETH, "1"): "hb-eth",
        (ETH, "2"): None,
        (ETH, "3"): None,
        (ETH, "4"): "autoclose-1",
    }


def test_an_unknown_rate_and_position_stay_unknown(journal: Journal) -> None:
    journal.record_funding([payment("1", BTC, None, None), payment("2", BTC, "-0.0003", None)])
    first, second = journal.funding()
    assert first.rate is None and first.position_contracts is None
    assert second.rate == Decimal("-0.0003") and second.position_contracts is None
    totals = journal.totals(venue=VENUE, since=T0, until=T0 + timedelta(hours=1))
    assert totals.funding_net == Decimal("1.2")


def test_an_order_id_claims_fills_of_its_own_symbol_only(journal: Journal) -> None:
    placed(journal, "hb-btc", BTC, "5")
    journal.record_fills([trade("1", BTC, "5"), trade("1", ETH, "5")])  # ETH's order 5: not ours
    assert journal.unclaimed_fills(VENUE, BTC, T0) == []
    (other,) = journal.unclaimed_fills(VENUE, ETH, T0)
    assert (other.symbol, other.venue_order_id, other.client_order_id) == (ETH, "5", None)

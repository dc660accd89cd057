from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from bot.core.domain import (
    Fill,
    ForcedClose,
    FundingPayment,
    HedgeTarget,
    OrderIntent,
    OrderStatus,
    Side,
)
from bot.core.errors import JournalError
from bot.journal.records import (
    EventRecord,
    PositionSnapshot,
    RebalanceRecord,
    RebalanceStatus,
    RunMode,
    targets_json,
    to_jsonable,
)
from bot.journal.store import Journal

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
TINY = Decimal("0.000000012345678901")
BIG = Decimal("123456789.123456789")


# `journal_url` (tests/conftest.py): a fresh database on SQLite, then on PostgreSQL.


@pytest.fixture
def journal(journal_url: str) -> Iterator[Journal]:
    with Journal.open(journal_url) as opened:
        yield opened


def fill(
    trade_id: str,
    *,
    time: datetime = T0,
    fee: str = "0.1",
    pnl: str = "0",
    symbol: str = BTC,
    venue: str = "binance",
    fee_currency: str = "USDT",
    forced: ForcedClose | None = None,
) -> Fill:
    return Fill(
        venue=venue,
        trade_id=trade_id,
        symbol=symbol,
        side=Side.SELL,
        amount=Decimal("0.01"),
        price=Decimal("60000.5"),
        fee=Decimal(fee),
        fee_currency=fee_currency,
        realized_pnl=Decimal(pnl),
        timestamp=time,
        client_order_id=None if forced else f"hb-{trade_id}",
        venue_order_id="42",
        forced=forced,
    )


def payment(
    payment_id: str, amount: str, *, time: datetime = T0, symbol: str = BTC
) -> FundingPayment:
    return FundingPayment(
        venue="binance",
        payment_id=payment_id,
        symbol=symbol,
        timestamp=time,
        rate=Decimal("0.0001"),
        position_contracts=Decimal("-0.5"),
        amount=Decimal(amount),
    )


def intent(client_order_id: str = "hb-1") -> OrderIntent:
    return OrderIntent(
        client_order_id=client_order_id,
        symbol=BTC,
        side=Side.SELL,
        amount=Decimal("0.015"),
        reduce_only=False,
        reference_price=Decimal("60000.1"),
        contract_size=Decimal(1),
        reason="hedge 0.015 BTC of new spot",
    )


def rebalance(rebalance_id: str = "r-1", *, time: datetime = T0) -> RebalanceRecord:
    return RebalanceRecord(
        id=rebalance_id,
        time=time,
        mode=RunMode.PAPER,
        venue="binance",
        strategy="static",
        inputs={"prices": {"BTC": Decimal("60000.1")}, "at": T0},
        targets=targets_json([HedgeTarget(BTC, Decimal("900.50"), "hedge 1.5% of BTC")]),
        reason="BTC holdings grew",
        status=RebalanceStatus.PLANNED,
    )


def snapshot(symbol: str, time: datetime, contracts: str) -> PositionSnapshot:
    return PositionSnapshot(
        time=time,
        venue="binance",
        symbol=symbol,
        contracts=Decimal(contracts),
        entry_price=BIG,
        mark_price=Decimal("60010"),
        isolated_margin=TINY,
        leverage=3,
        liquidation_price=Decimal("80000"),
    )


def test_fills_are_idempotent(journal: Journal) -> None:
    assert journal.record_fills([fill("t1")]) == 1
    assert journal.record_fills([fill("t1")]) == 0
    assert journal.record_fills([fill("t1"), fill("t2"), fill("t2")]) == 1
    assert journal.record_fills([]) == 0
    assert [f.trade_id for f in journal.fills()] == ["t1", "t2"]


def test_same_trade_id_on_another_venue_is_a_new_fill(journal: Journal) -> None:
    assert journal.record_fills([fill("t1"), fill("t1", venue="bybit")]) == 2


def test_many_fills_in_one_call(journal: Journal) -> None:
    fills = [fill(f"t{i}", time=T0 + timedelta(seconds=i)) for i in range(3000)]
    assert journal.record_fills(fills) == 3000
    assert journal.record_fills(fills) == 0
    assert [f.trade_id for f in journal.fills(limit=2)] == ["t2998", "t2999"]


def test_funding_is_idempotent(journal: Journal) -> None:
    assert journal.record_funding([payment("p1", "-1.5")]) == 1
    assert journal.record_funding([payment("p1", "-1.5")]) == 0
    assert len(journal.funding()) == 1


def test_decimals_round_trip_exactly(journal: Journal) -> None:
    original = fill("t1", fee=str(TINY), pnl=str(-BIG))
    journal.record_fills([original])
    (stored,) = journal.fills()
    assert stored == original
    assert format(stored.fee, "f") == "0.000000012345678901"
    assert format(stored.realized_pnl, "f") == "-123456789.123456789"
    assert str(stored.price) == "60000.5"


def test_decimals_beyond_18_places_are_rounded_half_even(journal: Journal) -> None:
    journal.record_fills([fill("t1", fee="0.0000000000000000125")])
    assert journal.fills()[0].fee == Decimal("0.000000000000000012")


def test_float_money_is_refused(journal: Journal) -> None:
    bad = replace(fill("t1"), fee=0.1)  # type: ignore[arg-type]
    with pytest.raises(JournalError, match="money must be Decimal"):
        journal.record_fills([bad])


def test_datetimes_come_back_aware_utc(journal: Journal) -> None:
    cet = timezone(timedelta(hours=1))
    local = datetime(2024, 3, 1, 9, 0, 0, 123456, tzinfo=cet)
    journal.record_funding([payment("p1", "1", time=local)])
    (stored,) = journal.funding()
    assert stored.timestamp == local
    assert stored.timestamp.tzinfo is UTC
    assert stored.timestamp.hour == 8
    assert journal.last_funding_time("binance") == local
    assert journal.last_funding_time("bybit") is None
    assert journal.last_fill_time("binance") is None


def test_naive_datetime_is_refused(journal: Journal) -> None:
    naive = datetime(2024, 3, 1, 8, 0)  # noqa: DTZ001
    with pytest.raises(JournalError, match="naive datetime"):
        journal.record_fills([fill("t1", time=naive)])
    with pytest.raises(JournalError, match="naive datetime"):
        journal.record_event("kill", naive, "stop")
    assert journal.fills() == []


def test_order_intent_then_updates(journal: Journal) -> None:
    journal.record_rebalance(rebalance())
    assert journal.record_order_intent(intent(), venue="binance", rebalance_id="r-1", time=T0)
    order = journal.get_order("hb-1")
    assert order is not None
    assert order.status is OrderStatus.PENDING
    assert order.filled == 0
    assert order.amount == Decimal("0.015")
    assert order.rebalance_id == "r-1"
    assert order.reason == "hedge 0.015 BTC of new spot"
    assert order.created_at == order.updated_at == T0

    later = T0 + timedelta(seconds=2)
    journal.update_order("hb-1", status=OrderStatus.OPEN, time=later, venue_order_id="v-9")
    assert [o.client_order_id for o in journal.orders_in_status([OrderStatus.OPEN])] == ["hb-1"]
    journal.update_order(
        "hb-1",
        status=OrderStatus.FILLED,
        time=later + timedelta(seconds=1),
        filled=Decimal("0.015"),
        average_price=Decimal("59999.9"),
    )
    order = journal.get_order("hb-1")
    assert order is not None
    assert order.status is OrderStatus.FILLED
    assert order.venue_order_id == "v-9"
    assert order.filled == Decimal("0.015")
    assert order.average_price == Decimal("59999.9")
    assert order.updated_at == later + timedelta(seconds=1)
    assert order.created_at == T0
    assert journal.orders_in_status([OrderStatus.OPEN, OrderStatus.PENDING]) == []
    assert journal.get_order("nope") is None


def test_duplicate_intent_returns_false_and_keeps_row(journal: Journal) -> None:
    assert journal.record_order_intent(intent(), venue="binance", rebalance_id=None, time=T0)
    journal.update_order("hb-1", status=OrderStatus.REJECTED, time=T0, reason="min notional")
    later = T0 + timedelta(minutes=5)
    assert not journal.record_order_intent(intent(), venue="binance", rebalance_id=None, time=later)
    order = journal.get_order("hb-1")
    assert order is not None
    assert order.status is OrderStatus.REJECTED
    assert order.reason == "min notional"
    assert order.created_at == T0
    assert len(journal.orders()) == 1


def test_update_of_unknown_order_raises(journal: Journal) -> None:
    with pytest.raises(JournalError, match="hb-x"):
        journal.update_order("hb-x", status=OrderStatus.OPEN, time=T0)


def test_intent_with_unknown_rebalance_violates_foreign_key(journal: Journal) -> None:
    with pytest.raises(JournalError):
        journal.record_order_intent(intent(), venue="binance", rebalance_id="ghost", time=T0)


def test_rebalance_is_reinserted_as_update(journal: Journal) -> None:
    journal.record_rebalance(rebalance())
    again = RebalanceRecord(
        id="r-1",
        time=T0 + timedelta(minutes=1),
        mode="paper",  # type: ignore[arg-type]
        venue="binance",
        strategy="static",
        inputs={"retry": True},
        targets={},
        reason="restarted",
        status="done",  # type: ignore[arg-type]
    )
    journal.record_rebalance(again)
    (stored,) = journal.rebalances()
    assert stored.status is RebalanceStatus.DONE
    assert stored.reason == "restarted"
    assert stored.inputs == {"retry": True}
    assert stored.targets == {}
    assert stored.time == T0


def test_rebalance_json_holds_decimals_as_strings(journal: Journal) -> None:
    journal.record_rebalance(rebalance())
    (stored,) = journal.rebalances()
    assert stored.inputs == {"prices": {"BTC": "60000.1"}, "at": "2024-03-01T08:00:00+00:00"}
    assert stored.targets == {
        BTC: {"notional": "900.50", "reason": "hedge 1.5% of BTC", "sources": {}}
    }
    assert stored.mode is RunMode.PAPER


def test_unknown_rebalance_status_is_refused() -> None:
    with pytest.raises(ValueError):
        RebalanceRecord("r", T0, RunMode.LIVE, "binance", "s", {}, {}, "", "finished")  # type: ignore[arg-type]


def test_to_jsonable() -> None:
    data = {1: (Decimal("1.50"), T0, Side.BUY), "h": HedgeTarget(BTC, Decimal(5))}
    assert to_jsonable(data) == {
        "1": ["1.50", "2024-03-01T08:00:00+00:00", "buy"],
        "h": {"symbol": BTC, "notional": "5", "reason": "", "sources": []},
    }
    with pytest.raises(TypeError):
        to_jsonable(object())


def test_totals_are_exact(journal: Journal) -> None:
    journal.record_rebalance(rebalance())
    journal.record_order_intent(intent(), venue="binance", rebalance_id="r-1", time=T0)
    journal.record_fills(
        [
            fill("t1", fee="0.012345678901234567", pnl="1.10"),
            fill("t2", fee="0.1", pnl="-0.20", symbol=ETH),
            fill("t3", fee="0.2", pnl="-123.45", forced=ForcedClose.LIQUIDATION),
            fill("t4", fee="0.0003", fee_currency="BNB"),
            fill("t5", fee="0", pnl="40.5", forced=ForcedClose.ADL),
        ]
    )
    journal.record_funding(
        [payment("p1", "0.1"), payment("p2", "0.2"), payment("p3", "-0.35"), payment("p4", "-1")]
    )
    totals = journal.totals()
    assert totals.fees == Decimal("0.312345678901234567")
    assert totals.other_fees == {"BNB": Decimal("0.0003")}
    assert totals.realized_pnl == Decimal("-82.05")
    assert totals.funding_received == Decimal("0.3")
    assert totals.funding_paid == Decimal("1.35")
    assert totals.funding_net == Decimal("-1.05")
    assert (totals.liquidation_count, totals.adl_count) == (1, 1)
    assert (totals.fills, totals.funding_payments, totals.orders, totals.rebalances) == (5, 4, 1, 1)
    kinds = {f.trade_id: f.forced for f in journal.fills()}
    assert kinds == {"t1": None, "t2": None, "t3": "liquidation", "t4": None, "t5": "adl"}
    assert kinds["t5"] is ForcedClose.ADL

    eth = journal.totals(symbol=ETH)
    assert (eth.fees, eth.realized_pnl, eth.fills, eth.funding_payments) == (
        Decimal("0.1"),
        Decimal("-0.2"),
        1,
        0,
    )
    assert eth.orders == 0
    assert eth.rebalances == 1
    assert journal.totals(venue="bybit").fills == 0


def test_totals_since_until_is_half_open(journal: Journal) -> None:
    hours = [T0 + timedelta(hours=i) for i in range(4)]
    journal.record_fills([fill(f"t{i}", time=t, fee="1") for i, t in enumerate(hours)])
    journal.record_funding([payment(f"p{i}", "-0.5", time=t) for i, t in enumerate(hours)])
    window = journal.totals(since=hours[1], until=hours[3])
    assert window.fills == 2
    assert window.fees == Decimal(2)
    assert window.funding_paid == Decimal(1)
    assert journal.totals(since=hours[3]).fills == 1
    assert journal.totals(until=hours[0]).fills == 0
    assert [f.trade_id for f in journal.fills(since=hours[1], until=hours[3])] == ["t1", "t2"]
    assert [p.payment_id for p in journal.funding(limit=2)] == ["p2", "p3"]


def test_empty_totals_are_zero(journal: Journal) -> None:
    totals = journal.totals()
    assert totals.fees == totals.funding_net == totals.realized_pnl == 0
    assert totals.fills == totals.orders == totals.rebalances == 0


def test_latest_snapshots_pick_latest_per_symbol(journal: Journal) -> None:
    journal.record_snapshots(
        [
            snapshot(BTC, T0, "-0.1"),
            snapshot(BTC, T0 + timedelta(hours=2), "-0.3"),
            snapshot(BTC, T0 + timedelta(hours=1), "-0.2"),
            snapshot(ETH, T0, "-2"),
        ]
    )
    latest = journal.latest_snapshots()
    assert [(s.symbol, s.contracts) for s in latest] == [(BTC, Decimal("-0.3")), (ETH, -2)]
    assert latest[0].entry_price == BIG
    assert latest[0].isolated_margin == TINY
    assert latest[0].target_notional is None
    assert journal.latest_snapshots(venue="bybit") == []


def test_listings_are_chronological(journal: Journal) -> None:
    for i in (2, 0, 1):
        journal.record_rebalance(rebalance(f"r-{i}", time=T0 + timedelta(minutes=i)))
        journal.record_order_intent(
            intent(f"hb-{i}"), venue="binance", rebalance_id=None, time=T0 + timedelta(minutes=i)
        )
    assert [r.id for r in journal.rebalances()] == ["r-0", "r-1", "r-2"]
    assert [r.id for r in journal.rebalances(limit=1)] == ["r-2"]
    assert [o.client_order_id for o in journal.orders(limit=2)] == ["hb-1", "hb-2"]


def test_events_are_recorded(journal: Journal) -> None:
    """Events come back oldest first, with kind, time, message, JSON-safe data and venue."""
    later = T0 + timedelta(minutes=5)
    journal.record_event("risk", T0, "margin ratio high", {"ratio": Decimal("0.81")})
    journal.record_event("note", T0, "no data")
    journal.record_event("risk", later, "liquidation seen", {"symbol": BTC}, venue="binance")

    events = journal.events()
    assert events == [
        EventRecord("risk", T0, "margin ratio high", {"ratio": "0.81"}, None),
        EventRecord("note", T0, "no data", {}, None),
        EventRecord("risk", later, "liquidation seen", {"symbol": BTC}, "binance"),
    ]
    assert all(e.time.utcoffset() == timedelta(0) for e in events)  # aware, UTC
    assert [e.message for e in journal.events(kind="risk")] == [
        "margin ratio high",
        "liquidation seen",
    ]
    assert [e.message for e in journal.events(kind="note")] == ["no data"]
    assert [e.message for e in journal.events(venue="binance")] == ["liquidation seen"]
    assert [e.message for e in journal.events(limit=2)] == ["no data", "liquidation seen"]
    assert [e.message for e in journal.events(since=later)] == ["liquidation seen"]
    assert journal.events(kind="halt") == []


def test_reopening_keeps_data(journal_url: str) -> None:
    with Journal.open(journal_url) as first:
        first.record_fills([fill("t1")])
    with Journal.open(journal_url) as second:
        assert len(second.fills()) == 1


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:secret@127.0.0.1:1/db",
        "postgresql+psycopg://u:secret@127.0.0.1:1/db",
        "postgresql://u:secret@127.0.0.1:notaport/db",
        "nosuchdb://u:secret@host/db",
    ],
)
def test_bad_url_raises_without_leaking_password(url: str) -> None:
    with pytest.raises(JournalError) as caught:
        Journal.open(url)
    message = str(caught.value)
    assert "secret" not in message
    assert "cannot open journal" in message
    cause = caught.value.__cause__
    assert cause is None or "secret" not in str(cause)


def test_unwritable_sqlite_path_raises_journal_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(JournalError):
        Journal.open(f"sqlite:///{blocker / 'sub' / 'journal.db'}")

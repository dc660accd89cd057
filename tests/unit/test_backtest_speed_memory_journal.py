"""The memory journal of replays answers as the SQLite journal does, and replays identically."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.backtest.runner import MEMORY_JOURNAL, RunResult, RunSpec, run_one
from bot.core.domain import Fill, ForcedClose, FundingPayment, OrderIntent, OrderStatus, Side
from bot.core.errors import JournalError
from bot.journal.memory import MemoryJournal
from bot.journal.records import PositionSnapshot, RebalanceRecord, RebalanceStatus, RunMode
from bot.journal.store import Journal
from bot.settings.config import StrategyConfig, parse_config
from bot.sim.paper_account import build_paper
from strategies.registry import create_strategy
from tests.conftest import paper_config_dict

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
LONG = Decimal("0.1234567890123456789012345")  # beyond the 18 places money keeps


def _fill(trade_id: str, minutes: int, **changes: Any) -> Fill:
    values: dict[str, Any] = {
        "venue": "paper",
        "trade_id": trade_id,
        "symbol": BTC,
        "side": Side.SELL,
        "amount": Decimal("0.0100"),
        "price": Decimal("60000.50"),
        "fee": Decimal("0.3"),
        "fee_currency": "USDT",
        "realized_pnl": Decimal(0),
        "timestamp": T0 + timedelta(minutes=minutes),
        "venue_order_id": f"o{trade_id}",
    }
    return Fill(**(values | changes))


def _intent(cid: str, symbol: str = BTC) -> OrderIntent:
    return OrderIntent(
        cid, symbol, Side.SELL, Decimal("0.010"), False, Decimal("60000"), Decimal(1)
    )


def _rebalance(rid: str, minutes: int, status: RebalanceStatus, venue: str = "paper") -> Any:
    inputs = {"collateral": LONG, "when": T0, "legs": (BTC, ETH)}
    time = T0 + timedelta(minutes=minutes)
    return RebalanceRecord(
        rid, time, RunMode.PAPER, venue, "static", inputs, {}, "why", status, None
    )


def _snapshot(symbol: str, minutes: int, contracts: str) -> PositionSnapshot:
    return PositionSnapshot(
        T0 + timedelta(minutes=minutes),
        "paper",
        symbol,
        Decimal(contracts),
        Decimal("60000.000"),
        LONG,
        Decimal("100"),
        2,
        liquidation_price=None,
        rebalance_id="r1",
    )


def _play(journal: Journal) -> list[Any]:
    """Write the same rows into ``journal``; return everything it answers about them."""
    answers: list[Any] = []
    journal.record_rebalance(_rebalance("r1", 0, RebalanceStatus.PLANNED))
    journal.record_rebalance(_rebalance("r1", 5, RebalanceStatus.DONE))  # an update
    journal.record_rebalance(_rebalance("r1-#2", 10, RebalanceStatus.HELD, venue="other"))
    answers.append(
        journal.record_order_intent(_intent("c1"), venue="paper", rebalance_id="r1", time=T0)
    )
    answers.append(
        journal.record_order_intent(_intent("c1"), venue="paper", rebalance_id="r1", time=T0)
    )
    journal.record_order_intent(_intent("c2", ETH), venue="paper", rebalance_id="r1", time=T0)
    journal.update_order("c1", status=OrderStatus.OPEN, time=T0, venue_order_id="o1")
    journal.update_order(
        "c1", status=OrderStatus.FILLED, time=T0, filled=Decimal("0.0100"), average_price=LONG
    )
    answers.append(
        journal.record_fills(
            [
                _fill("1", 1),  # claimed by c1 through its venue order id
                _fill("1", 1),  # the same trade twice in one call
                _fill("2", 2, fee=LONG, realized_pnl=Decimal("-1.5")),
                _fill("3", 3, symbol=ETH, fee=Decimal("0.01"), fee_currency="BNB"),
                _fill("4", 4, forced=ForcedClose.LIQUIDATION, venue_order_id="x9"),
                _fill("5", 5, forced=ForcedClose.ADL, venue_order_id="x10"),
            ]
        )
    )
    answers.append(journal.record_fills([_fill("2", 2)]))
    # ETH's trade 3 was journaled before c2's exchange id was known: c2 claims it now.
    journal.update_order("c2", status=OrderStatus.FILLED, time=T0, venue_order_id="o3")
    answers.append(
        journal.record_funding(
            [
                FundingPayment("paper", "f1", BTC, T0, LONG, Decimal("-0.01"), Decimal("0.25")),
                FundingPayment("paper", "f2", ETH, T0 + timedelta(hours=8), None, None, -LONG),
                FundingPayment("paper", "f1", BTC, T0, None, None, Decimal(1)),
            ]
        )
    )
    journal.record_snapshots(
        [_snapshot(BTC, 0, "-0.01"), _snapshot(BTC, 9, "-0.02"), _snapshot(ETH, 3, "0")]
    )
    other = timezone(timedelta(hours=2))
    journal.record_event(
        "margin_guard", T0.astimezone(other), "topped up", {"add": LONG}, venue="paper"
    )
    journal.record_event("note", T0 + timedelta(minutes=1), "no data")
    since, until = T0 + timedelta(minutes=1), T0 + timedelta(minutes=3)
    answers += [
        journal.count_rebalances_in_slot("r1"),
        journal.rebalances(),
        journal.rebalances(limit=1, venue="paper"),
        journal.latest_venue(),
        journal.get_order("c1"),
        journal.get_order("nope"),
        journal.orders_in_status([OrderStatus.PENDING, OrderStatus.FILLED]),
        journal.orders(limit=1, symbol=ETH),
        journal.fills(),
        journal.fills(limit=2, venue="paper", since=since, until=until),
        journal.fills(symbol=ETH),
        journal.fill_watermark("paper"),
        journal.fill_watermark("elsewhere"),
        journal.fills_after("paper", 2),
        journal.last_fill_time("paper"),
        journal.last_fill_times("paper"),
        journal.last_funding_time("paper"),
        journal.last_funding_time("elsewhere"),
        journal.unclaimed_fills("paper", BTC, T0),
        journal.traded_symbols("paper"),
        journal.funding(limit=1),
        journal.snapshots(symbol=BTC),
        journal.latest_snapshots("paper"),
        journal.latest_snapshots(before=T0 + timedelta(minutes=9)),
        journal.events(),
        journal.events(kind="margin_guard", venue="paper"),
        journal.totals(),
        journal.totals(venue="paper", since=since, until=until, symbol=BTC),
    ]
    return answers


def test_the_memory_journal_answers_as_sqlite_does(tmp_path: Path) -> None:
    with Journal.open(f"sqlite:///{tmp_path / 'journal.sqlite'}") as sqlite:
        expected = _play(sqlite)
    with MemoryJournal() as memory:
        assert _play(memory) == expected
    assert expected[:4] == [True, False, 5, 0]  # the writes that report what they did


def test_the_memory_journal_refuses_an_unknown_order_and_a_lease() -> None:
    journal = MemoryJournal()
    with pytest.raises(JournalError, match="no journaled order"):
        journal.update_order("nope", status=OrderStatus.FILLED, time=T0)
    with pytest.raises(JournalError, match="no lease"):
        journal.lease("account")


def _replay(journal_url: str) -> RunResult:
    """Replay a simulated market with a strategy that trades often (ratio by volatility)."""
    config = parse_config(
        paper_config_dict(
            paper={"holdings": {"BTC": 1, "ETH": 10}, "collateral": 40000, "simulated_bars": 90},
            hedge={"deadband": 0},
        )
    )
    spec = RunSpec(
        "regime",
        StrategyConfig.model_validate(
            {"name": "volatility_regime", "reference": "BTC", "window": "14d", "downside": False}
        ),
    )
    strategy = create_strategy(spec.strategy.name, spec.strategy.params())
    base = build_paper(config, None, strategy=strategy)
    return asyncio.run(run_one(config, base, spec, "paper:replay", journal_url))


def test_a_replay_in_memory_equals_one_journaled_in_sqlite(tmp_path: Path) -> None:
    in_memory = _replay(MEMORY_JOURNAL)
    in_sqlite = _replay(f"sqlite:///{tmp_path / 'journal.sqlite'}")
    assert in_memory.points == in_sqlite.points
    assert in_memory.totals == in_sqlite.totals
    assert in_memory.unreconciled == in_sqlite.unreconciled == 0
    assert in_memory.guard_actions == in_sqlite.guard_actions
    totals = in_memory.totals
    # The regime's 14d warm-up is 85 bars of 4h (not 337), so the 90 replayed bars of the seeded
    # market are others; BTC and ETH trade down to Binance's published 5 USDT minimum notional.
    assert (totals.orders, totals.fills, totals.funding_payments) == (41, 41, 88)
    assert totals.realized_pnl.quantize(Decimal("0.01")) == Decimal("-286.09")

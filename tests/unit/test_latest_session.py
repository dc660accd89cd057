"""The latest session is the one written last, whatever times its rebalances carry."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.journal.records import RebalanceRecord, RebalanceStatus, RunMode
from bot.journal.store import Journal


def rebalance(rid: str, venue: str, year: int) -> RebalanceRecord:
    return RebalanceRecord(
        rid,
        datetime(year, 1, 1, tzinfo=UTC),
        RunMode.PAPER,
        venue,
        "static",
        {},
        {},
        "static 40%",
        RebalanceStatus.HELD,
    )


def test_latest_session_is_the_last_written(journal_url: str) -> None:
    with Journal.open(journal_url) as journal:
        assert journal.latest_venue() is None
        journal.record_rebalance(rebalance("a1", "paper:replay-2025", 2025))
        journal.record_rebalance(rebalance("a2", "paper:replay-2025", 2026))
        assert journal.latest_venue() == "paper:replay-2025"
        journal.record_rebalance(rebalance("b1", "paper:replay-2021", 2021))  # older dates
        assert journal.latest_venue() == "paper:replay-2021"
        journal.record_rebalance(rebalance("c1", "binanceusdm:main", 2023))
        journal.record_rebalance(rebalance("c1", "binanceusdm:main", 2023))  # re-recorded
        assert journal.latest_venue() == "binanceusdm:main"

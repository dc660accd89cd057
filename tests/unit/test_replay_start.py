"""A replay starts where asked: warm-up from the spot data that exists, in replay bars."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.settings.config import parse_config
from bot.sim.paper_account import build_paper, build_strategy
from tests.conftest import paper_config_dict

DAY0 = datetime(2024, 1, 1, tzinfo=UTC)
H4 = timedelta(hours=4)
DAYS = 40


def _history(directory: Path, perp_from_day: int) -> None:
    """FOO spot in 4h bars over ``DAYS`` days, and its perp from ``perp_from_day`` on."""
    first_ms = int(DAY0.timestamp() * 1000)
    for market, first_day in (("spot", 0), ("perp", perp_from_day)):
        rows = "".join(
            f"{first_ms + i * 14_400_000},10,11,9,{10 + i % 3},100\n"
            for i in range(first_day * 6, DAYS * 6)
        )
        path = directory / f"binance_{market}_FOOUSDT_4h.csv"
        path.write_text("timestamp_ms,open,high,low,close,volume\n" + rows)


def _setup(directory: Path, start_day: int, strategy: dict[str, Any]) -> tuple[datetime, tuple]:
    data = paper_config_dict(
        paper={
            "holdings": {"FOO": 100},
            "start": (DAY0 + timedelta(days=start_day)).isoformat(),
            "end": (DAY0 + timedelta(days=DAYS)).isoformat(),
        }
    )
    data["strategy"] = strategy
    config = parse_config(data)
    setup = build_paper(config, directory, strategy=build_strategy(config))
    return setup.start, setup.notes


def test_a_long_warm_up_counts_its_span_in_replay_bars(tmp_path: Path) -> None:
    _history(tmp_path, perp_from_day=0)
    # 15 days of closes: 361 bars of 1h, which are 91 bars of 4h (not 361 of them, 60 days)
    start, notes = _setup(tmp_path, 20, {"name": "profit_taking", "window": "15d"})
    assert (start, notes) == (DAY0 + timedelta(days=20) + H4, ())


def test_the_warm_up_comes_from_the_spot_history_not_from_the_perp_listing(
    tmp_path: Path,
) -> None:
    _history(tmp_path, perp_from_day=10)
    # the perp trades from day 10, the spot closes of the 5-day window lie before day 12
    start, notes = _setup(tmp_path, 12, {"name": "profit_taking", "window": "5d"})
    assert (start, notes) == (DAY0 + timedelta(days=12) + H4, ())


@pytest.mark.parametrize(
    "strategy", [{"name": "static", "ratio": 0.4}, {"name": "profit_taking", "window": "5d"}]
)
def test_a_replay_asked_before_the_perp_trades_starts_then_and_says_so(
    tmp_path: Path, strategy: dict[str, Any]
) -> None:
    _history(tmp_path, perp_from_day=10)
    start, notes = _setup(tmp_path, 5, strategy)
    assert start == DAY0 + timedelta(days=10) + H4
    assert notes == (
        "replay starts 2024-01-11 04:00, not 2024-01-06 as asked: FOO can be hedged from "
        "2024-01-11 04:00, when its perp first trades",
    )


def test_a_replay_asked_before_enough_spot_history_says_what_it_waits_for(
    tmp_path: Path,
) -> None:
    _history(tmp_path, perp_from_day=0)
    start, notes = _setup(tmp_path, 2, {"name": "profit_taking", "window": "5d"})
    assert start == DAY0 + H4 + 31 * H4  # the first close, then 31 bars (121 hours) of closes
    assert notes == (
        "replay starts 2024-01-06 08:00, not 2024-01-03 as asked: the spot history of FOO "
        "begins 2024-01-01 00:00 and the strategy needs 31 bars (5.2 days) of it first",
    )

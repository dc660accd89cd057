from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.core.errors import ConfigError
from strategies.base import HoldingView, Strategy, StrategyInput
from strategies.registry import create_strategy

FOMC = datetime(2024, 3, 20, 18, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
HOLDINGS = (
    HoldingView("BTC", Decimal(1), Decimal(60000)),
    HoldingView("SOL", Decimal(100), Decimal(150)),
)


def calendar(**params: Any) -> Strategy:
    return create_strategy(
        "event_calendar",
        {"events": [{"name": "FOMC", "time": "2024-03-20T18:00:00Z"}], **params},
    )


def at(moment: datetime) -> StrategyInput:
    return StrategyInput(time=moment, holdings=HOLDINGS)


def test_hedge_rises_at_lead_time_and_hands_back_after_the_lag() -> None:
    strategy = calendar(lead="24h", lag="12h")
    lead, lag = timedelta(hours=24), timedelta(hours=12)
    assert strategy.decide(at(FOMC - lead - SECOND)).ratios == {"BTC": 0, "SOL": 0}
    raised = strategy.decide(at(FOMC - lead))
    assert raised.ratios == {"BTC": 1, "SOL": 1}
    assert "FOMC at 2024-03-20 18:00 UTC (in 1d 0h)" in raised.reason
    assert strategy.decide(at(FOMC + lag - SECOND)).ratios == {"BTC": 1, "SOL": 1}
    back = strategy.decide(at(FOMC + lag))
    assert back.ratios == {"BTC": 0, "SOL": 0}
    assert "handed back after FOMC" in back.reason


def test_an_event_can_concern_some_holdings_only() -> None:
    strategy = create_strategy(
        "event_calendar",
        {"events": [{"name": "SOL unlock", "time": FOMC, "assets": ["SOL"]}], "ratio": 0.8},
    )
    assert strategy.decide(at(FOMC)).ratios == {"BTC": 0, "SOL": Decimal("0.8")}


def test_events_load_from_a_csv_file(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "time,name,assets\n2024-04-10T12:30:00Z,US CPI,\n2024-05-01T00:00:00,SEC ruling,ETH SOL\n"
    )
    strategy = calendar(file=str(path))
    assert strategy.decide(at(datetime(2024, 4, 10, 12, 0, tzinfo=UTC))).ratios["BTC"] == 1
    assert strategy.decide(at(datetime(2024, 5, 1, tzinfo=UTC))).ratios == {"BTC": 0, "SOL": 1}
    upcoming = strategy.decide(at(datetime(2024, 3, 1, tzinfo=UTC)))
    assert (
        "next: FOMC at 2024-03-20 18:00 UTC, hedge rises at 2024-03-19 18:00 UTC" in upcoming.reason
    )


def test_bad_calendars_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no events"):
        create_strategy("event_calendar", {})
    with pytest.raises(ConfigError, match="cannot read events file"):
        calendar(file=str(tmp_path / "missing.csv"))
    with pytest.raises(ConfigError, match="not a duration"):
        calendar(lead="soon")


def test_same_input_same_output() -> None:
    strategy = calendar()
    seen = at(FOMC - timedelta(hours=3))
    assert strategy.decide(seen) == strategy.decide(seen)

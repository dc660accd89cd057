"""The frontier's periods: named crash windows and rising periods, splits, FROM:TO, refusals."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.backtest.windows import RISES, WINDOWS, describe_windows, select
from bot.core.errors import ConfigError


def test_every_named_period_is_tuning_or_held_out_and_tuning_comes_first() -> None:
    for periods in (WINDOWS, RISES):
        splits = [w.split for w in periods.values()]
        assert set(splits) == {"tuning", "held-out"}
        assert splits == sorted(splits, key=["tuning", "held-out"].index)  # past, then future
        last_tuned = max(w.end for w in periods.values() if w.split == "tuning")
        assert all(w.start >= last_tuned for w in periods.values() if w.split == "held-out")
    assert all(w.start < w.end for w in RISES.values())


def test_a_split_expands_to_its_periods_in_time_order_each_once() -> None:
    tuning = select(["tuning"], WINDOWS, "--crash")
    assert [w.name for w in tuning] == ["march-2020", "may-2021", "may-june-2022"]
    chosen = select(["may-2021", "tuning", "october-2025"], WINDOWS, "--crash")
    assert [w.name for w in chosen] == ["may-2021", "march-2020", "may-june-2022", "october-2025"]
    assert select(["all"], RISES, "--calm") == list(RISES.values())


def test_a_from_to_period_is_a_custom_one() -> None:
    (custom,) = select(["2023-01-08:2023-01-20"], RISES, "--calm")
    assert custom.split == "custom" and custom.name == "2023-01-08:2023-01-20"
    assert (custom.start, custom.end) == (
        datetime(2023, 1, 8, tzinfo=UTC),
        datetime(2023, 1, 20, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        (["q1-2023"], "--crash: unknown period 'q1-2023'; use one of march-2020"),
        (["2023-01-20:2023-01-08"], "the end must be after the start"),
        (["2023-13-01:2023-14-01"], "not a named period nor FROM:TO dates"),
        ([], "name at least one period"),
    ],
)
def test_a_bad_period_is_refused_naming_the_flag(texts: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        select(texts, WINDOWS, "--crash")


def test_the_list_shows_both_kinds_with_their_split() -> None:
    listed = describe_windows()
    assert "crash windows:" in listed and "rising (calm) periods:" in listed
    assert "q4-2024" in listed and "held-out" in listed and "tuning" in listed

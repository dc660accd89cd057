"""Backtest metrics on hand-made curves: drawdown, daily returns, CVaR, volatility, hedge effect."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bot.backtest.metrics import (
    cvar,
    daily_closes,
    drawdowns,
    max_drawdown,
    measure,
    returns,
    variance_reduction,
    volatility,
)
from bot.backtest.runner import Point, RunResult, RunSpec
from bot.journal.records import JournalTotals
from bot.settings.config import StrategyConfig

START = datetime(2022, 11, 1, tzinfo=UTC)


def test_a_value_stamped_midnight_closes_the_day_before() -> None:
    times = [START + timedelta(hours=h) for h in (4, 8, 24, 28, 48)]
    assert daily_closes(times, [1.0, 2.0, 3.0, 4.0, 5.0]) == [3.0, 5.0]


def test_returns_start_from_the_initial_value() -> None:
    assert returns(100.0, [110.0, 99.0]) == pytest.approx([0.10, -0.10])


def test_drawdown_is_measured_from_the_running_peak_including_the_start() -> None:
    values = [90.0, 120.0, 90.0, 130.0, 117.0]
    assert drawdowns(100.0, values) == pytest.approx([0.10, 0.0, 0.25, 0.0, 0.10])
    assert max_drawdown(100.0, values) == pytest.approx(0.25)
    assert max_drawdown(100.0, [101.0, 102.0]) == 0.0


def test_cvar_averages_the_worst_tail() -> None:
    daily = [0.01 * i for i in range(-10, 30)]  # 40 days: worst -10% … -7%
    assert cvar(daily, 0.95) == pytest.approx((-0.10 - 0.09) / 2)  # ⌈40 × 5%⌉ = 2 days
    assert cvar(daily, 0.99) == pytest.approx(-0.10)  # ⌈0.4⌉ = 1 day
    assert cvar([0.02] * 20, 0.95) == pytest.approx(0.02)  # exactly 1 day, no rounding up
    assert cvar([], 0.95) == 0.0


def test_volatility_is_the_annualised_sample_deviation() -> None:
    assert volatility([0.01, -0.01]) == pytest.approx(math.sqrt(2 * 0.01**2) * math.sqrt(365))
    assert volatility([0.05]) == 0.0


def test_variance_reduction_is_one_minus_the_variance_ratio() -> None:
    unhedged = [0.04, -0.02, 0.03, -0.05]
    assert variance_reduction([r / 2 for r in unhedged], unhedged) == pytest.approx(0.75)
    assert variance_reduction(unhedged, unhedged) == pytest.approx(0.0)
    assert variance_reduction([0.0, 0.0], [0.01, 0.01]) is None  # unhedged never moved


def _result(spots: list[int], equities: list[int], fees: str, funding: str) -> RunResult:
    points = tuple(
        Point(
            START + timedelta(hours=4 * (i + 1)),
            Decimal(spot),
            Decimal(equity),
            Decimal(spot) / 2,
            Decimal(fees),
            Decimal(funding),
            Decimal(1000),
        )
        for i, (spot, equity) in enumerate(zip(spots, equities, strict=True))
    )
    totals = JournalTotals(
        Decimal(fees),
        Decimal(0),
        Decimal(0),
        Decimal(funding),
        Decimal(0),
        0,
        0,
        3,
        0,
        3,
        len(points),
    )
    spec = RunSpec("static 50%", StrategyConfig.model_validate({"name": "static", "ratio": 0.5}))
    return RunResult(spec, "v", Decimal(1000), points, totals, 0.1, Decimal(0), 2)


def test_measure_compares_the_hedged_portfolio_with_spot_plus_idle_collateral() -> None:
    # Six 4h cycles = one day; the spot loses 200 (20%), the half hedge earns back 100.
    result = _result(
        [1000, 950, 900, 850, 820, 800], [1000, 1025, 1050, 1075, 1090, 1100], "2", "1"
    )
    unhedged, hedged = measure(result)
    assert unhedged.label == "unhedged" and hedged.label == "static 50%"
    assert unhedged.start_value == hedged.start_value == 2000.0
    assert unhedged.total_return == pytest.approx(-200 / 2000)
    assert hedged.total_return == pytest.approx(-100 / 2000)
    assert unhedged.max_drawdown == pytest.approx(0.10)
    assert hedged.max_drawdown == pytest.approx(0.05)
    assert hedged.worst_day == pytest.approx(-0.05)
    assert hedged.hedge_pnl == pytest.approx(100.0)
    assert hedged.fees == 2.0 and hedged.funding == 1.0
    years = (20 / 24) / 365.25  # first to last cycle
    assert hedged.net_cost_per_year == pytest.approx(1.0 / years)
    assert hedged.net_cost_per_year_pct == pytest.approx(1.0 / years / (5320 / 6))
    assert hedged.average_hedge_ratio == pytest.approx(0.5)
    assert hedged.orders == 3 and hedged.turnover == 1000.0
    assert hedged.guard_actions == 2 and hedged.liquidations == 0
    assert unhedged.orders == 0 and unhedged.fees == 0.0
    assert hedged.variance_reduction is None  # a single day has no variance


def test_measure_refuses_a_run_without_cycles() -> None:
    result = _result([], [], "0", "0")
    with pytest.raises(ValueError, match="no cycles"):
        measure(result)

"""Risk and cost metrics of a backtest, in floats (the order path stays in Decimal).

Daily figures use the portfolio's value at the end of each UTC day (the last cycle at or before
midnight); the first day's return is measured from the value before the first cycle traded.
CVaR at level p is the mean of the worst ⌈n·(1 − p)⌉ daily returns (expected shortfall).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from bot.backtest.runner import RunResult

DAYS_PER_YEAR = 365.25
TRADING_DAYS = 365
_JUST_BEFORE = timedelta(microseconds=1)


def daily_closes(times: Sequence[datetime], values: Sequence[float]) -> list[float]:
    """Return the last value of each UTC day; a value stamped 00:00 closes the day before."""
    closes: dict[object, float] = {}
    for moment, value in zip(times, values, strict=True):
        closes[(moment - _JUST_BEFORE).date()] = value
    return list(closes.values())


def returns(initial: float, closes: Sequence[float]) -> list[float]:
    """Return the period returns of ``closes``, the first one measured from ``initial``."""
    previous = [initial, *closes[:-1]]
    return [close / before - 1 for before, close in zip(previous, closes, strict=True)]


def drawdowns(initial: float, values: Sequence[float]) -> list[float]:
    """Return the fall from the running peak (starting at ``initial``) at each value, ≥ 0."""
    peak = initial
    out = []
    for value in values:
        peak = max(peak, value)
        out.append(1 - value / peak if peak > 0 else 0.0)
    return out


def max_drawdown(initial: float, values: Sequence[float]) -> float:
    """Return the largest fall from a running peak, as a fraction (0.25 = −25%)."""
    return max(drawdowns(initial, values), default=0.0)


def cvar(daily: Sequence[float], level: float) -> float:
    """Return the mean of the worst ⌈n·(1 − level)⌉ returns (0 when there are none)."""
    if not daily:
        return 0.0
    count = max(1, math.ceil(round(len(daily) * (1 - level), 9)))
    worst = sorted(daily)[:count]
    return sum(worst) / len(worst)


def volatility(daily: Sequence[float]) -> float:
    """Return the annualised standard deviation of daily returns (365 trading days)."""
    return statistics.stdev(daily) * math.sqrt(TRADING_DAYS) if len(daily) > 1 else 0.0


def variance_reduction(hedged: Sequence[float], unhedged: Sequence[float]) -> float | None:
    """Return 1 − var(hedged) / var(unhedged): the hedge effectiveness (None if undefined)."""
    if len(unhedged) < 2 or len(hedged) != len(unhedged):
        return None
    base = statistics.variance(unhedged)
    return None if base == 0 else 1 - statistics.variance(hedged) / base


class Curve(NamedTuple):
    """The figures read off one value curve."""

    start_value: float
    end_value: float
    total_return: float
    max_drawdown: float
    worst_day: float
    volatility: float
    cvar_95: float
    cvar_99: float


def curve(
    times: Sequence[datetime], values: Sequence[float], initial: float
) -> tuple[Curve, list[float]]:
    """Return the figures of a value curve that starts from ``initial``, and its daily returns."""
    daily = returns(initial, daily_closes(times, values))
    figures = Curve(
        initial,
        values[-1],
        values[-1] / initial - 1,
        max_drawdown(initial, values),
        min(daily, default=0.0),
        volatility(daily),
        cvar(daily, 0.95),
        cvar(daily, 0.99),
    )
    return figures, daily


@dataclass(frozen=True, slots=True)
class Metrics:
    """One portfolio's result over the period; returns are fractions, money is USDT."""

    label: str
    start_value: float
    end_value: float
    total_return: float
    max_drawdown: float
    worst_day: float
    volatility: float
    cvar_95: float
    cvar_99: float
    variance_reduction: float | None
    hedge_pnl: float
    fees: float
    funding: float
    net_cost_per_year: float | None
    net_cost_per_year_pct: float | None
    orders: int
    turnover: float
    average_hedge_ratio: float
    liquidations: int
    guard_actions: int


def measure(result: RunResult) -> tuple[Metrics, Metrics]:
    """Return the metrics of the unhedged baseline and of the hedged run, in that order."""
    points = result.points
    if not points:
        raise ValueError(f"run {result.spec.label!r} has no cycles to measure")
    times = [p.time for p in points]
    initial = float(points[0].spot + result.collateral)
    bare, bare_daily = curve(times, [float(result.unhedged(p)) for p in points], initial)
    hedged, daily = curve(times, [float(p.value) for p in points], initial)
    last = points[-1]
    years = (last.time - points[0].time).total_seconds() / (DAYS_PER_YEAR * 86400)
    cost_per_year = float(last.fees - last.funding) / years if years > 0 else None
    average_spot = statistics.fmean(float(p.spot) for p in points)
    ratios = [float(p.short_notional / p.spot) if p.spot else 0.0 for p in points]
    unhedged = Metrics("unhedged", *bare, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0.0, 0.0, 0, 0)
    run = Metrics(
        result.spec.label,
        *hedged,
        variance_reduction=variance_reduction(daily, bare_daily),
        hedge_pnl=float(last.futures_equity - result.collateral),
        fees=float(last.fees),
        funding=float(last.funding),
        net_cost_per_year=cost_per_year,
        net_cost_per_year_pct=(
            cost_per_year / average_spot if cost_per_year is not None and average_spot else None
        ),
        orders=result.totals.orders,
        turnover=float(last.turnover),
        average_hedge_ratio=statistics.fmean(ratios),
        liquidations=result.totals.liquidation_count,
        guard_actions=result.guard_actions,
    )
    return unhedged, run

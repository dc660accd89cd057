"""Estimators read off return series: hedge sizes for proxy baskets, volatility for regimes.

Hedge sizes: how much of a basket covers one unit of a holding. The plain estimate is the
least-squares beta (`strategies.analytics.beta`), which weighs every bar alike. A proxy hedge is
there for the market's bad bars, and small caps fall further with the market than they move with
it on ordinary days, so the downside beta regresses on the basket's worst bars only.

Volatility (`volatility`): the plain estimate weighs every bar of the window alike; ``ewma``
weighs each bar half as much as one ``half_life`` later, so a crash shows in the measure within
bars instead of days, and fades as fast. ``downside`` counts only the falls (a rise reads as a
flat bar), doubled so that a series as likely to rise as to fall reads the same: a rally does not
read as risk.

Every estimate reads only the returns it is given: the caller passes the closes known at the
cycle, never later ones. Floats inside; callers convert to `Decimal`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from strategies.analytics import YEAR_SECONDS, aligned, beta, realized_vol

Estimator = Literal["ols", "downside"]
ESTIMATORS: tuple[Estimator, ...] = ("ols", "downside")
MIN_TAIL = 5
"""The fewest bad bars a downside beta is estimated from."""


def downside_beta(
    target: Sequence[float], factor: Sequence[float], quantile: float
) -> float | None:
    """Return the slope of ``target`` on ``factor`` over the factor's worst ``quantile`` of bars.

    The slope goes through the origin (a crash bar's move, not its deviation from a mean); None
    when there are fewer than `MIN_TAIL` bars or the factor did not move on them.
    """
    y, x = aligned(target, factor)
    count = max(MIN_TAIL, math.ceil(quantile * len(x)))
    if len(x) < count:
        return None
    worst = sorted(range(len(x)), key=x.__getitem__)[:count]
    spread = sum(x[i] * x[i] for i in worst)
    if spread <= 0:
        return None
    return sum(y[i] * x[i] for i in worst) / spread


def hedge_beta(
    target: Sequence[float],
    factor: Sequence[float],
    estimator: Estimator = "downside",
    quantile: float = 0.2,
) -> float | None:
    """Return the beta of ``target`` to ``factor`` by ``estimator``; None if undefined."""
    if estimator == "downside":
        return downside_beta(target, factor, quantile)
    return beta(target, factor)


VolEstimator = Literal["realized", "ewma"]
VOL_ESTIMATORS: tuple[VolEstimator, ...] = ("realized", "ewma")


def volatility(
    returns: Sequence[float],
    bar_seconds: int,
    estimator: VolEstimator = "realized",
    half_life_bars: float = 1.0,
    downside: bool = False,
) -> float | None:
    """Return the annualized volatility of per-bar ``returns`` (oldest first); None below two.

    ``realized`` without ``downside`` is the sample standard deviation (`realized_vol`); every
    other choice is a zero-mean second moment, its bars weighted alike (``realized``) or halving
    every ``half_life_bars`` back from the latest (``ewma``), of the falls alone, doubled, when
    ``downside``.
    """
    if len(returns) < 2:
        return None
    if estimator == "realized" and not downside:
        return realized_vol(returns, bar_seconds)
    count = len(returns)
    weights = [
        0.5 ** ((count - 1 - i) / half_life_bars) if estimator == "ewma" else 1.0
        for i in range(count)
    ]
    moves = [2 * min(r, 0.0) ** 2 if downside else r * r for r in returns]
    variance = sum(w * m for w, m in zip(weights, moves, strict=True)) / sum(weights)
    return math.sqrt(variance * YEAR_SECONDS / bar_seconds)

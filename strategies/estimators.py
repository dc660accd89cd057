"""Hedge-size estimators for proxy baskets: how much of a basket covers one unit of a holding.

The plain estimate is the least-squares beta (`strategies.analytics.beta`), which weighs every bar
alike. A proxy hedge is there for the market's bad bars, and small caps fall further with the
market than they move with it on ordinary days, so the downside beta regresses on the basket's
worst bars only. Every estimate reads only the returns it is given: the caller passes the closes
known at the cycle, never later ones. Floats inside; callers convert to `Decimal`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from strategies.analytics import aligned, beta

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

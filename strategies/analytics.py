"""Pure statistics on close series: returns, realized volatility, beta, correlation, hedge weights.

Series are lists of closes, oldest first, one per bar. Two series are aligned on their *latest*
bars (both end now), so a shorter series simply covers less of the past. Floats are used inside;
callers convert results to `Decimal` at the boundary.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from itertools import pairwise

YEAR_SECONDS = 365 * 24 * 3600
"""Crypto trades every day: volatility is annualized over 365 days."""


def log_returns(closes: Sequence[Decimal | float], count: int | None = None) -> list[float]:
    """Return the log returns of ``closes`` (the last ``count`` of them when given)."""
    values = [float(c) for c in closes]
    if count is not None:
        values = values[-(count + 1) :]
    return [math.log(b / a) for a, b in pairwise(values) if a > 0 and b > 0]


def aligned(*series: Sequence[float]) -> list[list[float]]:
    """Return the series cut to their common length, keeping the latest values."""
    size = min((len(s) for s in series), default=0)
    return [list(s[len(s) - size :]) for s in series]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def covariance(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Return the sample covariance of two aligned series, None below two points."""
    if len(a) != len(b) or len(a) < 2:
        return None
    ma, mb = _mean(a), _mean(b)
    return sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True)) / (len(a) - 1)


def realized_vol(returns: Sequence[float], bar_seconds: int) -> float | None:
    """Return the annualized standard deviation of per-bar ``returns``, None below two."""
    variance = covariance(returns, returns)
    if variance is None:
        return None
    return math.sqrt(variance * YEAR_SECONDS / bar_seconds)


def beta(target: Sequence[float], factor: Sequence[float]) -> float | None:
    """Return the slope of ``target`` regressed on ``factor`` (aligned), None if undefined."""
    y, x = aligned(target, factor)
    var_x = covariance(x, x)
    cov = covariance(y, x)
    if var_x is None or cov is None or var_x <= 0:
        return None
    return cov / var_x


def correlation(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Return the Pearson correlation of two series (aligned), None if undefined."""
    x, y = aligned(a, b)
    var_x, var_y, cov = covariance(x, x), covariance(y, y), covariance(x, y)
    if var_x is None or var_y is None or cov is None or var_x <= 0 or var_y <= 0:
        return None
    return cov / math.sqrt(var_x * var_y)


def weighted_sum(series: Sequence[Sequence[float]], weights: Sequence[float]) -> list[float]:
    """Return per-bar ``Σ weight × value`` over the series, aligned on their latest bars."""
    cut = aligned(*series)
    if not cut:
        return []
    return [sum(w * s[i] for w, s in zip(weights, cut, strict=True)) for i in range(len(cut[0]))]


def min_variance_weights(
    target: Sequence[float], factors: Sequence[Sequence[float]]
) -> list[float] | None:
    """Return the short sizes on ``factors`` that minimise the variance of the hedged target.

    That is the least-squares regression of ``target`` on all factors at once (with intercept);
    with one factor it equals `beta`. None when there are too few points or the factors are
    collinear.
    """
    cut = aligned(target, *factors)
    y, xs = cut[0], cut[1:]
    k = len(xs)
    if len(y) <= k + 1:
        return None
    cov = [[covariance(a, b) or 0.0 for b in xs] for a in xs]
    rhs = [covariance(a, y) or 0.0 for a in xs]
    return _solve(cov, rhs)


def _solve(matrix: list[list[float]], rhs: list[float]) -> list[float] | None:
    """Solve ``matrix · x = rhs`` by Gaussian elimination; None when (nearly) singular."""
    n = len(rhs)
    rows = [[*row, value] for row, value in zip(matrix, rhs, strict=True)]
    scale = max((abs(v) for row in matrix for v in row), default=0.0)
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(rows[r][col]))
        if abs(rows[pivot][col]) <= 1e-12 * max(scale, 1e-300):
            return None
        rows[col], rows[pivot] = rows[pivot], rows[col]
        for r in range(n):
            if r != col:
                factor = rows[r][col] / rows[col][col]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[col], strict=True)]
    return [rows[i][n] / rows[i][i] for i in range(n)]

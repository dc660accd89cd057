"""Units in strategy parameters and words: durations (``"4h"``, ``"14d"``) and percentages."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

HOUR = 3600
FINEST_BAR_SECONDS = HOUR
"""The shortest bar the engine is expected to run on; strategies size their history for it."""

_PATTERN = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNIT = {"s": 1, "m": 60, "h": HOUR, "d": 24 * HOUR, "w": 7 * 24 * HOUR}


def parse_duration(value: Any) -> timedelta:
    """Return ``value`` as a non-negative timedelta; raise ValueError naming the accepted forms."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a finite duration")
        seconds = float(value)
    elif isinstance(value, str) and (match := _PATTERN.match(value)):
        seconds = float(int(match.group(1)) * _UNIT[match.group(2)])
    else:
        raise ValueError(f"{value!r} is not a duration; use e.g. '30m', '4h', '14d' or '2w'")
    if seconds < 0:
        raise ValueError(f"{value!r} must not be negative")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"{value!r} is too long a duration") from None


def describe(span: timedelta) -> str:
    """Return ``span`` in the largest whole unit that fits, e.g. ``"14d"`` or ``"36h"``."""
    seconds = int(span.total_seconds())
    for unit in "dhm":
        if seconds and seconds % _UNIT[unit] == 0:
            return f"{seconds // _UNIT[unit]}{unit}"
    return f"{seconds}s"


def bars_in(span: timedelta, bar_seconds: int) -> int:
    """Return how many whole bars of ``bar_seconds`` fit in ``span`` (at least 1)."""
    return max(1, int(span.total_seconds()) // bar_seconds)


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(describe, return_type=str),
]
"""A strategy parameter written as ``"4h"``, ``"14d"``... and kept as a timedelta."""


def percent(value: Decimal | float) -> str:
    """Return a fraction as a short percentage: ``0.2`` -> ``"20%"``, ``0.125`` -> ``"12.5%"``."""
    return f"{float(value) * 100:.4g}%"

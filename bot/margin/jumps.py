"""Jump history: how far each asset has risen over one interval and over one day.

The margin guard's jump policy (``risk.margin_policy = "jumps"``) keeps each short at least
``safety × the largest rise`` its asset made in the lookback away from liquidation: over one
interval (what can happen between two cycles) and over one day (a squeeze that outlasts a few
cycles, or a bot that could not act for a while). The rises are close to close; the safety
factor stands for the wick a bar's high adds on top (XRP's close-to-high jumps are ~1.5× its
close-to-close ones, in 2018–2022 and in 2023 alike).

Floats inside (an estimate from history); the distance it yields is a Decimal. `JumpHistory`
keeps each asset's closes with the time they were read, so that the venue is asked at most once
per ``refresh``; a new read that overlaps the last one only adds the rises of its new closes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

DAY_SECONDS = 86_400
REFRESH = timedelta(days=1)
"""How often an asset's closes are read again (at most)."""
RETRY_AFTER_FAILURE = timedelta(hours=1)
"""How long an asset whose closes could not be read waits before the next try."""


def rises(closes: Sequence[float], window: int, start: int = 1) -> list[float]:
    """Return, for each close from ``start`` on, its rise over the lowest of the ``window`` before.

    ``closes[j] / min(closes[j - window : j]) - 1``: the largest rise ending at close ``j`` within
    ``window`` bars (negative when every earlier close was higher).
    """
    return [
        closes[j] / min(closes[max(0, j - window) : j]) - 1
        for j in range(max(1, start), len(closes))
    ]


def largest_rise(closes: Sequence[float], window: int) -> float:
    """Return the largest rise from a close to any of the next ``window`` closes (0 if none)."""
    return max([0.0, *rises(closes, window)])


@dataclass(frozen=True, slots=True)
class JumpEstimate:
    """An asset's largest rises in the closes read at ``read_at``."""

    interval_rise: float
    day_rise: float
    bars: int
    """Closes the estimate saw (the lookback the venue could give)."""
    bar_seconds: int
    read_at: datetime

    @property
    def days(self) -> float:
        """Return the span of history the estimate saw, in days."""
        return self.bars * self.bar_seconds / DAY_SECONDS

    def distance(self, safety: Decimal) -> Decimal:
        """Return ``safety ×`` the larger rise, as the liquidation distance a short needs."""
        rise = Decimal(f"{max(self.interval_rise, self.day_rise, 0.0):.4f}")
        return rise * safety


@dataclass(slots=True)
class _Asset:
    closes: list[Decimal]
    prices: list[float]
    interval: list[float]
    day: list[float]
    estimate: JumpEstimate | None


class JumpHistory:
    """Each asset's jump estimate from its closes, read again at most once per ``refresh``."""

    def __init__(
        self, bar_seconds: int, interval_seconds: int, refresh: timedelta = REFRESH
    ) -> None:
        """Measure rises over one interval and one day, counted in bars of ``bar_seconds``."""
        self.bar_seconds = bar_seconds
        self.interval_bars = max(1, round(interval_seconds / bar_seconds))
        self.day_bars = max(1, DAY_SECONDS // bar_seconds)
        self.refresh = refresh
        self._assets: dict[str, _Asset] = {}
        self._read_at: dict[str, datetime] = {}
        self._retry_at: dict[str, datetime] = {}

    def due(self, assets: Iterable[str], now: datetime) -> list[str]:
        """Return the assets never read, or last read ``refresh`` ago or more, sorted.

        An asset whose read failed is not due again before its `failed` retry time.
        """
        read, retry = self._read_at, self._retry_at
        return sorted(
            a
            for a in set(assets)
            if (a not in read or now - read[a] >= self.refresh)
            and (a not in retry or now >= retry[a])
        )

    def failed(self, assets: Iterable[str], now: datetime) -> None:
        """Note that reading ``assets`` failed at ``now``: try again after `RETRY_AFTER_FAILURE`."""
        for asset in assets:
            self._retry_at[asset] = now + RETRY_AFTER_FAILURE

    def update(self, asset: str, closes: Sequence[Decimal], now: datetime) -> None:
        """Take ``closes`` (oldest first) read at ``now`` as the asset's history.

        When they overlap the last read, only the rises whose window reaches a new close or a
        dropped one are computed again: the estimate is the one a fresh read gives.
        """
        self._read_at[asset] = now
        old = self._assets.get(asset)
        new = list(closes)
        added = _added(old.closes, new) if old is not None else None
        kept = len(new) - added if added is not None else 0
        if old is None or added is None or kept > len(old.closes):
            prices = [float(c) for c in new]
            interval, day = rises(prices, self.interval_bars), rises(prices, self.day_bars)
        else:
            prices = old.prices[len(old.prices) - kept :] + [float(c) for c in new[kept:]]
            interval = _carried(old.interval, len(old.prices), kept, self.interval_bars, prices)
            day = _carried(old.day, len(old.prices), kept, self.day_bars, prices)
        state = _Asset(new, prices, interval, day, None)
        if len(new) > 1:
            state.estimate = JumpEstimate(max(interval), max(day), len(new), self.bar_seconds, now)
        self._assets[asset] = state

    def estimate(self, asset: str) -> JumpEstimate | None:
        """Return the asset's estimate; None before a read with two closes or more."""
        state = self._assets.get(asset)
        return state.estimate if state is not None else None


def _carried(
    old: list[float], old_length: int, kept: int, window: int, prices: list[float]
) -> list[float]:
    """Return the rises of ``prices``, whose first ``kept`` are the last of ``old_length`` read.

    ``old`` holds the rises of that read (one per close after its first); those whose window
    lies within the kept closes are kept, the others computed.
    """
    offset = old_length - kept
    head = min(window, kept)
    return (
        rises(prices[:head], window)
        + old[offset + head - 1 : offset + kept - 1]
        + rises(prices, window, max(kept, 1))
    )


def _added(old: list[Decimal], new: list[Decimal]) -> int | None:
    """Return how many closes of ``new`` came after ``old``'s last; None without a clean overlap.

    The newest match of ``old``'s last close is tried first (a day adds a few closes) and kept
    when the closes before it are ``old``'s own, as far as both reach.
    """
    if not old:
        return None
    last = old[-1]
    for end in range(len(new) - 1, -1, -1):
        if new[end] != last:
            continue
        kept = min(end + 1, len(old))
        if new[end + 1 - kept : end + 1] == old[len(old) - kept :]:
            return len(new) - 1 - end
    return None

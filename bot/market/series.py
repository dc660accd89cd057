"""Time series of candles and funding events, with point-in-time lookups.

A bar is *visible* at time ``t`` once it has closed: ``bar.open_ms + timeframe_ms <= t``. Every
lookup answers "what could a trader have known at ``t``", so replays never peek ahead.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Bar:
    """One OHLCV candle; ``open_ms`` is its open time in Unix epoch milliseconds (UTC)."""

    open_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@dataclass(frozen=True, slots=True)
class FundingEvent:
    """One realised funding settlement; ``rate`` > 0 means longs pay shorts."""

    time_ms: int
    rate: Decimal


@dataclass(slots=True)
class BarSeries:
    """Candles of one instrument at one timeframe, sorted by open time."""

    timeframe_ms: int
    bars: Sequence[Bar]
    _close_times: list[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Index the close times for bisection."""
        self._close_times = [b.open_ms + self.timeframe_ms for b in self.bars]

    def __len__(self) -> int:
        """Return the number of bars."""
        return len(self.bars)

    @property
    def first_close_ms(self) -> int | None:
        """Return the close time of the first bar, or None when empty."""
        return self._close_times[0] if self._close_times else None

    @property
    def last_close_ms(self) -> int | None:
        """Return the close time of the last bar, or None when empty."""
        return self._close_times[-1] if self._close_times else None

    def last_closed(self, t_ms: int) -> Bar | None:
        """Return the latest bar closed at or before ``t_ms``, or None."""
        i = bisect_right(self._close_times, t_ms)
        return self.bars[i - 1] if i else None

    def closed_between(self, after_ms: int, until_ms: int) -> Sequence[Bar]:
        """Return bars whose close time is in ``(after_ms, until_ms]``, oldest first."""
        lo = bisect_right(self._close_times, after_ms)
        hi = bisect_right(self._close_times, until_ms)
        return self.bars[lo:hi]

    def window(
        self, now_ms: int, start_ms: int | None, end_ms: int | None, count: int
    ) -> Sequence[Bar]:
        """Return up to ``count`` bars closed by ``now_ms`` (and by ``end_ms``), paged by time.

        With ``start_ms`` the earliest bars opening at or after it, else the latest ones.
        """
        until = now_ms if end_ms is None else min(end_ms, now_ms)
        bars = self.closed_between(-1, until)
        if start_ms is not None:
            return [bar for bar in bars if bar.open_ms >= start_ms][:count]
        return bars[max(0, len(bars) - count) :]

    def closes_until(self, t_ms: int, count: int) -> Sequence[Bar]:
        """Return up to ``count`` bars closed at or before ``t_ms``, oldest first."""
        hi = bisect_right(self._close_times, t_ms)
        return self.bars[max(0, hi - count) : hi]


@dataclass(slots=True)
class FundingSeries:
    """Funding events of one perp, sorted by time."""

    events: Sequence[FundingEvent]
    _times: list[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Index the event times for bisection."""
        self._times = [e.time_ms for e in self.events]

    def __len__(self) -> int:
        """Return the number of events."""
        return len(self.events)

    def between(self, after_ms: int, until_ms: int) -> Sequence[FundingEvent]:
        """Return events with time in ``(after_ms, until_ms]``, oldest first."""
        lo = bisect_right(self._times, after_ms)
        hi = bisect_right(self._times, until_ms)
        return self.events[lo:hi]

    def last_before(self, t_ms: int) -> FundingEvent | None:
        """Return the latest event at or before ``t_ms``, or None."""
        i = bisect_right(self._times, t_ms)
        return self.events[i - 1] if i else None


@dataclass(slots=True)
class MarketData:
    """Everything a replay needs: spot, perp (last and mark) candles and funding, per asset.

    ``label`` says where the numbers come from; the simulated market says so loudly.
    """

    label: str
    timeframe_ms: int
    spot: dict[str, BarSeries]
    perp: dict[str, BarSeries]
    mark: dict[str, BarSeries]
    funding: dict[str, FundingSeries]
    simulated: bool = False

    def assets(self) -> list[str]:
        """Return the assets that have spot candles."""
        return sorted(self.spot)

    def has_perp(self, asset: str) -> bool:
        """Return True when ``asset`` has perp candles."""
        return asset in self.perp and len(self.perp[asset]) > 0

    def common_range_ms(self, assets: Sequence[str]) -> tuple[int, int]:
        """Return ``(first, last)`` close times covered by the spot and perp data of ``assets``."""
        starts: list[int] = []
        ends: list[int] = []
        for asset in assets:
            for table in (self.spot, self.perp):
                series = table.get(asset)
                if series is None or series.first_close_ms is None:
                    continue
                starts.append(series.first_close_ms)
                ends.append(series.last_close_ms or 0)
        if not starts:
            raise ValueError(f"no candles for any of {list(assets)}")
        return max(starts), min(ends)

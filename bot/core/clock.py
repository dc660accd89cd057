"""Clocks: the wall clock for live trading, a replay clock for paper mode and backtests."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Where the engine reads the time and waits."""

    def now(self) -> datetime:
        """Return the current time (timezone-aware UTC)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class WallClock:
    """Real time."""

    def now(self) -> datetime:
        """Return the current UTC time."""
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        """Sleep for real."""
        await asyncio.sleep(seconds)


class ReplayClock:
    """Simulated time that jumps forward on `sleep`; ``speed`` > 0 also waits ``seconds/speed``."""

    def __init__(self, start: datetime, speed: float = 0.0) -> None:
        """Start at ``start``; ``speed`` = simulated seconds per wall second (0 = no waiting)."""
        if start.tzinfo is None:
            raise ValueError("ReplayClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)
        self.speed = speed

    def now(self) -> datetime:
        """Return the simulated time."""
        return self._now

    async def sleep(self, seconds: float) -> None:
        """Advance simulated time by ``seconds``."""
        if self.speed > 0:
            await asyncio.sleep(seconds / self.speed)
        else:
            await asyncio.sleep(0)
        self._now += timedelta(seconds=seconds)


def to_ms(moment: datetime) -> int:
    """Return Unix epoch milliseconds of a timezone-aware datetime."""
    return int(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    """Return the UTC datetime of Unix epoch milliseconds."""
    return datetime.fromtimestamp(ms / 1000, UTC)

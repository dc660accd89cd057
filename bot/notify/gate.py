"""Which alerts a target gets: minimum severity, deduplication and a rate limit (pure).

Times are plain seconds handed in by the caller (``time.monotonic()`` in the bot, a number in
tests), so nothing here reads a clock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from bot.notify.alerts import Alert, Severity


@dataclass(slots=True)
class Gate:
    """One target's filter: severity floor, one alert per key per window, a rate limit.

    A critical alert passes the rate limit (never the dedup); the first alert let through after
    some were held back by the limit says how many (`held_back`).
    """

    min_severity: Severity
    dedup_seconds: float
    rate_limit: int
    rate_window: float
    _seen: dict[str, float] = field(default_factory=dict)
    _sent: deque[float] = field(default_factory=deque)
    held_back: int = 0

    def admit(self, alert: Alert, now: float) -> bool:
        """Return whether ``alert`` goes out now; count it as sent if so."""
        if alert.severity < self.min_severity:
            return False
        last = self._seen.get(alert.key)
        if last is not None and now - last < self.dedup_seconds:
            return False
        while self._sent and now - self._sent[0] >= self.rate_window:
            self._sent.popleft()
        if len(self._sent) >= self.rate_limit and alert.severity < Severity.CRITICAL:
            self.held_back += 1
            return False
        self._seen[alert.key] = now
        self._sent.append(now)
        self._forget(now)
        return True

    def take_held_back(self) -> int:
        """Return how many alerts the limit held back since the last call, and reset it."""
        count, self.held_back = self.held_back, 0
        return count

    def _forget(self, now: float) -> None:
        """Drop dedup keys older than the window (the map stays as small as the window)."""
        old = [key for key, at in self._seen.items() if now - at >= self.dedup_seconds]
        for key in old:
            del self._seen[key]

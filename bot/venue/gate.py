"""Every call to an exchange goes through one gate: budget, cool-down, counting, retries.

- an asyncio-throttle budget per venue on top of ccxt's own limiter;
- after a 429/418 nothing is sent until the venue's ``Retry-After`` has passed (calling during a
  ban extends it on Binance);
- reads are retried on transient errors with exponential backoff and jitter (tenacity); writes
  (orders, margin) are sent once: their caller reconciles an unknown outcome;
- each unified call is counted, so a cycle's request cost can be read off `calls`;
- each call runs in its own decimal context: ccxt's precision code sets ROUND_HALF_UP and traps
  Underflow on the current context, which must not leak into hedgebot's money arithmetic.
"""

from __future__ import annotations

import asyncio
import decimal
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from asyncio_throttle.throttler import Throttler
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from bot.core.errors import RateLimited, VenueError, should_retry
from bot.venue.ccxt_errors import translate

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_COOLDOWN = 60.0
"""Seconds to wait after a 429/418 that came without a cool-down; per venue (Capabilities)."""


class RequestGate:
    """Throttle, cool down, count and (for reads) retry the calls of one venue."""

    def __init__(
        self,
        rate_per_second: float = 10.0,
        read_attempts: int = 4,
        max_backoff: float = 8.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        default_cooldown: float = DEFAULT_COOLDOWN,
    ) -> None:
        """Allow ``rate_per_second`` calls; retry reads up to ``read_attempts`` times."""
        self.sleep = sleep
        self.default_cooldown = default_cooldown
        self._throttler = Throttler(rate_limit=max(1, int(rate_per_second)), period=1.0)
        self.read_attempts = read_attempts
        self.max_backoff = max_backoff
        self._clock = clock
        self._cool_until = 0.0
        self.calls: Counter[str] = Counter()
        self.writes = 0
        """State-changing calls sent since the gate was made (never reset)."""

    @property
    def total_calls(self) -> int:
        """Return the number of calls sent since the last `reset_count`."""
        return sum(self.calls.values())

    def reset_count(self) -> None:
        """Start a new count (e.g. at the start of a cycle)."""
        self.calls.clear()

    async def _cool_down(self) -> None:
        wait = self._cool_until - self._clock()
        if wait > 0:
            log.warning("venue asked us to back off: waiting %.1f s", wait)
            await self.sleep(wait)

    async def _send(
        self, name: str, call: Callable[[], Awaitable[T]], headers: Callable[[], Mapping[str, str]]
    ) -> T:
        await self._cool_down()
        async with self._throttler:
            self.calls[name] += 1
            try:
                with decimal.localcontext():  # ccxt rewrites the context's rounding and traps
                    return await call()
            except VenueError:
                raise
            except Exception as error:  # ccxt's errors: mapped once, here
                mapped = translate(error, headers())
                if isinstance(mapped, RateLimited):
                    pause = mapped.retry_after or self.default_cooldown
                    self._cool_until = max(self._cool_until, self._clock() + pause)
                raise mapped from error

    async def write(
        self,
        name: str,
        call: Callable[[], Awaitable[T]],
        headers: Callable[[], Mapping[str, str]] = dict,
    ) -> T:
        """Send a state-changing call once; errors come back mapped, never retried."""
        self.writes += 1  # counted before it is sent: its outcome may be unknown
        return await self._send(name, call, headers)

    async def read(
        self,
        name: str,
        call: Callable[[], Awaitable[T]],
        headers: Callable[[], Mapping[str, str]] = dict,
    ) -> T:
        """Send a read, retrying transient errors with exponential backoff and jitter."""
        result: Any = None
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(self.read_attempts),
            wait=wait_exponential_jitter(multiplier=0.25, max=self.max_backoff, jitter=0.25),
            retry=retry_if_exception(should_retry),
            reraise=True,
            sleep=self.sleep,
        ):
            with attempt:
                result = await self._send(name, call, headers)
        return result  # type: ignore[no-any-return]

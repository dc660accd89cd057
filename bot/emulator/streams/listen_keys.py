"""Binance USDⓈ-M listen keys: one per account, alive ``lifetime`` seconds of the wall clock.

``POST /fapi/v1/listenKey`` returns the account's active key (extending it) or a new one; ``PUT``
extends the active key (-1125 when there is none); ``DELETE`` closes it. A key that lapses (or
that a test expires at once with `expire_now`) is reported to ``on_expired`` with the key, so the
face can send ``listenKeyExpired`` and close its sockets. The lifetime is Binance's 60 minutes by
default; tests shorten it.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable

from bot.emulator.errors import BinanceError

LIFETIME_SECONDS = 3600.0
KEY_BYTES = 48  # 64 URL-safe characters, as Binance's keys are long


def unknown_key() -> BinanceError:
    """Return Binance's answer for a key that does not exist (ccxt: AuthenticationError)."""
    return BinanceError(-1125, "This listenKey does not exist.")


class ListenKeys:
    """The account's listen key and its expiry timer."""

    def __init__(
        self, on_expired: Callable[[str], None], lifetime: float = LIFETIME_SECONDS
    ) -> None:
        """Report lapsed keys to ``on_expired``; keys live ``lifetime`` seconds."""
        self.lifetime = lifetime
        self.active: str | None = None
        self._on_expired = on_expired
        self._timer: asyncio.TimerHandle | None = None

    def create(self) -> str:
        """Return the active key, extended, or a new one."""
        if self.active is None:
            self.active = secrets.token_urlsafe(KEY_BYTES)
        self._arm()
        return self.active

    def keepalive(self) -> str:
        """Extend the active key by a lifetime; -1125 when none is active."""
        if self.active is None:
            raise unknown_key()
        self._arm()
        return self.active

    def close(self) -> None:
        """Close the active key (without an expiry event, as a DELETE does)."""
        self._disarm()
        self.active = None

    def valid(self, key: str) -> bool:
        """Return whether ``key`` is the active key."""
        return self.active is not None and secrets.compare_digest(key, self.active)

    def expire_now(self) -> str | None:
        """Let the active key lapse now; return it (None when none was active)."""
        key = self.active
        self.close()
        if key is not None:
            self._on_expired(key)
        return key

    def _arm(self) -> None:
        self._disarm()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.lifetime, self.expire_now)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

"""Binance's checks on SIGNED requests: API key, HMAC-SHA256 signature, timestamp window.

The signature covers ``totalParams``: the query string followed by the request body, exactly as
sent, without the ``signature`` parameter. The timestamp is compared with the emulator's *wall*
clock (the client signs with real time), never with the replay clock.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

from bot.emulator.errors import BinanceError, missing
from bot.emulator.params import Params, integer

DEFAULT_RECV_WINDOW_MS = 5000
MAX_RECV_WINDOW_MS = 60000
AHEAD_TOLERANCE_MS = 1000


def wall_ms() -> int:
    """Return the wall clock in epoch milliseconds."""
    return int(time.time() * 1000)


class Authenticator:
    """Verify the key, signature and timestamp of signed requests for one key pair."""

    def __init__(self, api_key: str, api_secret: str, now_ms: Callable[[], int] = wall_ms) -> None:
        """Accept requests signed with ``api_secret`` under ``api_key``."""
        self.api_key = api_key
        self._secret = api_secret.encode()
        self._now_ms = now_ms

    def check(self, api_key: str | None, query: str, body: str, params: Params) -> None:
        """Refuse with -2014/-2015 (key), -1022 (signature) or -1021 (timestamp)."""
        self.check_key(api_key)
        signature = params.get("signature")
        if not signature:
            raise missing("signature")
        payload = _unsigned(query) + _unsigned(body)
        expected = hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise BinanceError(-1022, "Signature for this request is not valid.")
        self._check_time(params)

    def check_key(self, api_key: str | None) -> None:
        """Refuse a missing (-2014) or unknown (-2015) API key: what USER_STREAM calls need."""
        if not api_key:
            raise BinanceError(-2014, "API-key format invalid.")
        if not hmac.compare_digest(api_key, self.api_key):
            raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action.")

    def _check_time(self, params: Params) -> None:
        timestamp = integer(params, "timestamp")
        if timestamp is None:
            raise missing("timestamp")
        window = integer(params, "recvWindow", DEFAULT_RECV_WINDOW_MS)
        if window is None or not 0 < window <= MAX_RECV_WINDOW_MS:
            raise BinanceError(-1131, "recvWindow must be less than 60000")
        now = self._now_ms()
        if timestamp >= now + AHEAD_TOLERANCE_MS:
            raise BinanceError(
                -1021, "Timestamp for this request was 1000ms ahead of the server's time."
            )
        if now - timestamp > window:
            raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")


def _unsigned(raw: str) -> str:
    """Return a raw query or body without its ``signature`` parameter."""
    return "&".join(part for part in raw.split("&") if part and not part.startswith("signature="))

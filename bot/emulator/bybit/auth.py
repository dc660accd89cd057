"""Bybit v5 request signing: HMAC-SHA256 headers checked like Bybit checks them.

A private request carries ``X-BAPI-API-KEY``, ``X-BAPI-TIMESTAMP`` (ms), ``X-BAPI-RECV-WINDOW``
(ms, default 5000) and ``X-BAPI-SIGN``: the hex HMAC-SHA256, under the secret, of
``timestamp + api_key + recv_window + payload`` where the payload is the query string of a GET and
the JSON body of a POST, exactly as sent. The timestamp is accepted when
``server_time - recv_window <= timestamp < server_time + 1000`` on the *wall* clock.

A websocket authenticates with ``{"op": "auth", "args": [api_key, expires, signature]}``: the
signature is the hex HMAC-SHA256 of ``"GET/realtime" + expires`` (ms), which must be ahead of the
wall clock.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from urllib.parse import unquote

from bot.emulator.auth import wall_ms
from bot.emulator.bybit.errors import (
    INVALID_API_KEY,
    INVALID_SIGN,
    PARAMS_ERROR,
    TIMESTAMP_WINDOW,
    BybitError,
)

DEFAULT_RECV_WINDOW_MS = 5000
AHEAD_TOLERANCE_MS = 1000


class BybitAuthenticator:
    """Verify the headers of private requests for one key pair."""

    def __init__(self, api_key: str, api_secret: str, now_ms: Callable[[], int] = wall_ms) -> None:
        """Accept requests signed with ``api_secret`` under ``api_key``."""
        self.api_key = api_key
        self._secret = api_secret.encode()
        self._now_ms = now_ms

    def check(self, headers: Mapping[str, str], payload: str, *, query: bool = False) -> None:
        """Refuse with 10001 (missing headers), 10003 (key), 10004 (sign) or 10002 (time).

        ``query``: the payload is a query string, which ccxt signs percent-decoded while the
        HTTP client may send it encoded; either form is accepted.
        """
        key = headers.get("X-BAPI-API-KEY", "")
        stamp = headers.get("X-BAPI-TIMESTAMP", "")
        sign = headers.get("X-BAPI-SIGN", "")
        window_text = headers.get("X-BAPI-RECV-WINDOW") or str(DEFAULT_RECV_WINDOW_MS)
        if not key or not stamp or not sign:
            raise BybitError(
                PARAMS_ERROR,
                f"empty value: apiTimestamp[{stamp}] apiKey[{key}] apiSignature[{sign}]: "
                "openapi sign params error!",
            )
        if not hmac.compare_digest(key, self.api_key):
            raise BybitError(INVALID_API_KEY, "API key is invalid.")
        candidates = {payload, unquote(payload)} if query else {payload}
        signed = [self._sign(stamp + key + window_text + text) for text in candidates]
        if not any(hmac.compare_digest(expected, sign.lower()) for expected in signed):
            raise BybitError(
                INVALID_SIGN,
                f"error sign! origin_string[{stamp + key + window_text + payload}]",
            )
        self._check_time(stamp, window_text)

    def stream_refusal(self, args: object) -> str | None:
        """Return why a websocket ``op:auth`` is refused (Bybit's ``ret_msg``); None: accepted.

        Malformed or expired: "Params Error"; a wrong key or signature: "Request not authorized".
        """
        if not isinstance(args, list) or len(args) != 3:
            return "Params Error"
        key, expires, sign = (str(arg) for arg in args)
        if not expires.isdigit() or int(expires) <= self._now_ms():
            return "Params Error"
        expected = self._sign("GET/realtime" + expires)
        if not hmac.compare_digest(key, self.api_key) or not hmac.compare_digest(
            expected, sign.lower()
        ):
            return "Request not authorized"
        return None

    def _sign(self, text: str) -> str:
        return hmac.new(self._secret, text.encode(), hashlib.sha256).hexdigest()

    def _check_time(self, stamp: str, window_text: str) -> None:
        try:
            timestamp, window = int(stamp), int(window_text)
        except ValueError:
            raise BybitError(PARAMS_ERROR, "params error: timestamp or recv_window") from None
        now = self._now_ms()
        if not now - window <= timestamp < now + AHEAD_TOLERANCE_MS:
            raise BybitError(
                TIMESTAMP_WINDOW,
                "invalid request, please check your server timestamp or recv_window param. "
                f"req_timestamp[{timestamp}],server_timestamp[{now}],recv_window[{window}]",
            )

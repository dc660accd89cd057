"""Map ccxt's exceptions to hedgebot's error tree (`bot.core.errors`) — the only place that does.

ccxt's tree, for reference::

    ExchangeError ⊃ AuthenticationError, BadRequest(BadSymbol), OperationRejected(NoChange),
                    InsufficientFunds, InvalidOrder(OrderNotFound, DuplicateOrderId), NotSupported
    OperationFailed ⊃ NetworkError(DDoSProtection, RateLimitExceeded, ExchangeNotAvailable,
                                   InvalidNonce, RequestTimeout)

`RateLimitExceeded` is not a `DDoSProtection`: both mean "slow down" (HTTP 429 / 418). A bare
`OperationFailed` (Binance's -1001 on a 5xx) leaves an order's outcome unknown, like a network
error. A response ccxt cannot parse (`BadResponse`, or any non-ccxt exception raised while parsing)
is a `MalformedResponse`: transient, so an order's outcome stays unknown until looked up. A bare
`ExchangeError` (a code ccxt does not classify, e.g. Bybit's 10016 "Server error") is unknown too,
and so is `DuplicateOrderId`: an order with our client order id exists, and hedgebot re-sends a
client id only for the same intent, so that order may be ours and may have executed. Every other
more specific `ExchangeError` is an answer from the exchange: a rejection.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping

import ccxt

from bot.core.errors import (
    AuthError,
    InsufficientMargin,
    InvalidOrderError,
    MalformedResponse,
    RateLimited,
    RejectedError,
    VenueError,
    VenueTimeout,
    VenueUnavailable,
)

DUPLICATE_CLIENT_ID = frozenset({"-4116", "110072"})
"""Binance's "ClientOrderId is duplicated", Bybit's "OrderLinkedID is duplicate": ccxt raises a
plain `InvalidOrder` for both."""
SKEW_MARGIN = 1.0
"""Seconds added to a venue's reset *timestamp*: our clock and the venue's never agree exactly."""


def retry_after_seconds(
    headers: Mapping[str, str] | None, now: float | None = None
) -> float | None:
    """Return how long the venue asked us to wait, in seconds.

    Binance sends ``Retry-After`` (seconds); Bybit ``X-Bapi-Limit-Reset-Timestamp`` (epoch ms).
    """
    lowered = {key.lower(): value for key, value in (headers or {}).items()}
    try:
        if "retry-after" in lowered:
            return float(lowered["retry-after"])
        if "x-bapi-limit-reset-timestamp" in lowered:
            reset = float(lowered["x-bapi-limit-reset-timestamp"]) / 1000
            elapsed = reset - (now if now is not None else time.time())
            return max(0.0, elapsed) + SKEW_MARGIN
    except ValueError:
        return None
    return None


def exchange_code(error: Exception) -> str | None:
    """Return the exchange's own error code from a ccxt message (``exchange {json body}``)."""
    text = str(error)
    start = text.find("{")
    if start < 0:
        return None
    try:
        body = json.loads(text[start:])
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    code = body.get("code", body.get("retCode"))
    return None if code is None else str(code)


def translate(error: Exception, headers: Mapping[str, str] | None = None) -> VenueError:
    """Return the hedgebot error for a ccxt exception (``headers``: the last response's)."""
    text = f"{type(error).__name__}: {error}"
    if not isinstance(error, ccxt.BaseError) or isinstance(error, ccxt.BadResponse):
        return MalformedResponse(text)  # ccxt could not parse what the venue sent
    if isinstance(error, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
        return RateLimited(text, retry_after_seconds(headers))
    if isinstance(error, ccxt.RequestTimeout):
        return VenueTimeout(text)
    if isinstance(error, ccxt.InvalidNonce):
        return VenueUnavailable(text)  # clock skew: resync time, then retry
    if isinstance(error, ccxt.NetworkError | ccxt.OperationFailed):
        return VenueUnavailable(text)
    if isinstance(error, ccxt.AuthenticationError | ccxt.PermissionDenied):
        return AuthError(text)
    if isinstance(error, ccxt.InsufficientFunds):
        return InsufficientMargin(text)
    if isinstance(error, ccxt.DuplicateOrderId) or exchange_code(error) in DUPLICATE_CLIENT_ID:
        # The client id is taken: maybe by this very order, accepted before. Unknown: looked up
        # by client id, never assumed rejected.
        return VenueUnavailable(text)
    if isinstance(error, ccxt.InvalidOrder):
        return InvalidOrderError(text)
    if type(error) is ccxt.ExchangeError:  # a code ccxt does not know (e.g. Bybit 10016)
        return VenueUnavailable(text)  # unknown: an order is looked up, never assumed rejected
    return RejectedError(text)

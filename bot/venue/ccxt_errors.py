"""Map ccxt's exceptions to hedgebot's error tree (`bot.errors`) — the only place that does.

ccxt's tree, for reference::

    ExchangeError ⊃ AuthenticationError, BadRequest(BadSymbol), OperationRejected(NoChange),
                    InsufficientFunds, InvalidOrder(OrderNotFound, DuplicateOrderId), NotSupported
    OperationFailed ⊃ NetworkError(DDoSProtection, RateLimitExceeded, ExchangeNotAvailable,
                                   InvalidNonce, RequestTimeout)

`RateLimitExceeded` is not a `DDoSProtection`: both mean "slow down" (HTTP 429 / 418). A bare
`OperationFailed` (Binance's -1001 on a 5xx) leaves an order's outcome unknown, like a network
error. A response ccxt cannot parse (`BadResponse`, or any non-ccxt exception raised while parsing)
is a `MalformedResponse`: transient, so an order's outcome stays unknown until looked up. Any
other `ExchangeError` is an answer from the exchange: a rejection.
"""

from __future__ import annotations

from collections.abc import Mapping

import ccxt

from bot.errors import (
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


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Return the ``Retry-After`` header in seconds, when the venue sent one."""
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                return float(value)
            except ValueError:
                return None
    return None


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
    if isinstance(error, ccxt.InvalidOrder):
        return InvalidOrderError(text)
    return RejectedError(text)

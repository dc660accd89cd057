from __future__ import annotations

import ccxt
import pytest

from bot.core.errors import (
    AuthError,
    InsufficientMargin,
    InvalidOrderError,
    MalformedResponse,
    RateLimited,
    RejectedError,
    TransientError,
    VenueTimeout,
    VenueUnavailable,
)
from bot.venue.ccxt_errors import retry_after_seconds, translate


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (ccxt.RateLimitExceeded("429"), RateLimited),
        (ccxt.DDoSProtection("418"), RateLimited),
        (ccxt.RequestTimeout("slow"), VenueTimeout),
        (ccxt.ExchangeNotAvailable("down"), VenueUnavailable),
        (ccxt.InvalidNonce("-1021"), VenueUnavailable),
        (ccxt.OperationFailed("-1001 on a 5xx"), VenueUnavailable),
        (ccxt.BadResponse("not json"), MalformedResponse),
        (KeyError("lastPrice"), MalformedResponse),
        (ccxt.ExchangeError("10016 Server error"), VenueUnavailable),
        (ccxt.AuthenticationError("-1022"), AuthError),
        (ccxt.InsufficientFunds("-2019"), InsufficientMargin),
        (ccxt.InvalidOrder("-4164"), InvalidOrderError),
        (ccxt.BadRequest("-1111"), RejectedError),
    ],
)
def test_each_ccxt_error_maps_to_one_hedgebot_error(raised: Exception, expected: type) -> None:
    mapped = translate(raised)
    assert type(mapped) is expected
    assert type(raised).__name__ in str(mapped)


def test_unknown_outcomes_are_transient_and_rejections_are_not() -> None:
    assert isinstance(translate(ccxt.ExchangeError("?")), TransientError)
    assert isinstance(translate(ccxt.BadResponse("?")), TransientError)
    assert not isinstance(translate(ccxt.InsufficientFunds("?")), TransientError)


def test_cool_down_from_binance_and_bybit_headers() -> None:
    assert retry_after_seconds({"Retry-After": "30"}) == 30
    reset_ms = str((1_000_000 + 12.5) * 1000)
    bybit = retry_after_seconds({"X-Bapi-Limit-Reset-Timestamp": reset_ms}, now=1_000_000)
    assert bybit == 12.5 + 1.0  # plus a second of margin for clock skew
    assert retry_after_seconds({}) is None
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert translate(ccxt.DDoSProtection("418"), {"retry-after": "120"}).retry_after == 120

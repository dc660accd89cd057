"""Every exception class ccxt exports maps to the hedgebot error written down here.

The classes are read from ccxt itself (`ccxt.base.errors`, alias `ccxt.errors`, and the package),
so a ccxt upgrade that adds one fails `test_each_ccxt_exception_class_maps_to_its_hedgebot_error`
until its mapping has been decided and added to `EXPECTED`.
"""

from __future__ import annotations

import decimal
import inspect
import json
import time

import ccxt
import pytest
from ccxt.base import errors as ccxt_base_errors  # `ccxt.base` is shadowed by a list

from bot.core.errors import (
    AuthError,
    InsufficientMargin,
    InvalidOrderError,
    MalformedResponse,
    RateLimited,
    RejectedError,
    TransientError,
    VenueError,
    VenueTimeout,
    VenueUnavailable,
)
from bot.venue.ccxt_errors import SKEW_MARGIN, exchange_code, retry_after_seconds, translate


def ccxt_exception_classes() -> dict[str, type[ccxt.BaseError]]:
    """Return every subclass of `ccxt.BaseError` that ccxt exports, by name."""
    found: dict[str, type[ccxt.BaseError]] = {}
    for module in (ccxt_base_errors, ccxt.errors, ccxt):
        for name, member in inspect.getmembers(module, inspect.isclass):
            if issubclass(member, ccxt.BaseError):
                found.setdefault(name, member)
    return found


CCXT_CLASSES = ccxt_exception_classes()

EXPECTED: dict[str, type[VenueError]] = {
    # BaseError itself, and its subclass that is neither an ExchangeError nor an OperationFailed
    # (ccxt's REST code never raises either; `translate` treats them as refusals).
    "BaseError": RejectedError,
    "UnsubscribeError": RejectedError,  # ccxt.pro websockets only
    # OperationFailed: the venue did not answer, or not usably: an order's outcome is unknown.
    "OperationFailed": VenueUnavailable,  # Binance -1001 / -1004 / -3000: busy, 5xx
    "CancelPending": VenueUnavailable,
    "NetworkError": VenueUnavailable,
    "ExchangeNotAvailable": VenueUnavailable,
    "OnMaintenance": VenueUnavailable,
    "InvalidNonce": VenueUnavailable,  # clock skew: resync time, then retry
    "ChecksumError": VenueUnavailable,  # a subclass of InvalidNonce
    "RequestTimeout": VenueTimeout,
    "RateLimitExceeded": RateLimited,  # HTTP 429
    "DDoSProtection": RateLimited,  # HTTP 418
    "BadResponse": MalformedResponse,
    "NullResponse": MalformedResponse,
    # A bare ExchangeError is a code ccxt does not classify (Bybit 10016 "Server error").
    "ExchangeError": VenueUnavailable,
    # AuthenticationError: the keys are refused; never retried.
    "AuthenticationError": AuthError,
    "AccountSuspended": AuthError,
    "PermissionDenied": AuthError,
    "AccountNotEnabled": AuthError,
    # InsufficientFunds and InvalidOrder: the order was refused.
    "InsufficientFunds": InsufficientMargin,
    "InvalidOrder": InvalidOrderError,
    "OrderNotFound": InvalidOrderError,
    "OrderNotCached": InvalidOrderError,
    "OrderImmediatelyFillable": InvalidOrderError,  # post-only would have crossed
    "OrderNotFillable": InvalidOrderError,  # FOK / IOC could not fill
    "ContractUnavailable": InvalidOrderError,
    # ... except a taken client order id: the order holding it may be ours, and executed.
    "DuplicateOrderId": VenueUnavailable,
    # Every other ExchangeError is an answer from the exchange, or ccxt refusing to send.
    "ArgumentsRequired": RejectedError,
    "BadRequest": RejectedError,
    "BadSymbol": RejectedError,
    "ExchangeClosedByUser": RejectedError,
    "InvalidAddress": RejectedError,
    "AddressPending": RejectedError,
    "InvalidProxySettings": RejectedError,
    "NotSupported": RejectedError,
    "OperationRejected": RejectedError,
    "ManualInteractionNeeded": RejectedError,
    "MarketClosed": RejectedError,
    "RestrictedLocation": RejectedError,
    "NoChange": RejectedError,
    "MarginModeAlreadySet": RejectedError,
}
"""ccxt exception class name -> the hedgebot error `translate` must return for it."""


def test_ccxt_exports_its_error_classes() -> None:
    """The walk finds ccxt's tree, so an empty walk cannot pass the tests below vacuously."""
    assert {"BaseError", "ExchangeError", "OperationFailed", "DuplicateOrderId"} <= set(
        CCXT_CLASSES
    )


@pytest.mark.parametrize("name", sorted(CCXT_CLASSES))
def test_each_ccxt_exception_class_maps_to_its_hedgebot_error(name: str) -> None:
    """``translate`` returns exactly the expected hedgebot class, naming ccxt's."""
    if name not in EXPECTED:
        pytest.fail(
            f"ccxt {ccxt.__version__} exports ccxt.{name}, which has no expected mapping: decide "
            f"what it means for an order (refused, or outcome unknown), make bot/venue/"
            f"ccxt_errors.py translate it so, and add {name!r} to EXPECTED in {__name__}"
        )
    mapped = translate(CCXT_CLASSES[name]("venue said no"))
    assert type(mapped) is EXPECTED[name], f"ccxt.{name} -> {type(mapped).__name__}"
    assert str(mapped) == f"{name}: venue said no"


def test_every_expected_class_is_still_exported_by_ccxt() -> None:
    """A class ccxt dropped is removed from the table, which then describes this ccxt."""
    assert set(EXPECTED) - set(CCXT_CLASSES) == set()


def test_operation_failed_never_maps_to_a_refusal() -> None:
    """Whatever ccxt calls a failure leaves an order's outcome unknown: transient."""
    failures = [c for c in CCXT_CLASSES.values() if issubclass(c, ccxt.OperationFailed)]
    assert failures
    for cls in failures:
        assert isinstance(translate(cls("?")), TransientError), cls.__name__


@pytest.mark.parametrize(
    "raised",
    [
        KeyError("lastPrice"),
        TypeError("'NoneType' object is not subscriptable"),
        ValueError("could not convert string to float: 'NaN?'"),
        decimal.InvalidOperation("[<class 'decimal.ConversionSyntax'>]"),
        json.JSONDecodeError("Expecting value", "<html>", 0),
        ccxt.BadResponse("not json"),
        ccxt.NullResponse("empty body"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_unparseable_answers_are_malformed_responses(raised: Exception) -> None:
    """A non-ccxt exception raised while parsing, or ccxt's BadResponse, is a malformed answer."""
    mapped = translate(raised)
    assert type(mapped) is MalformedResponse
    assert str(mapped).startswith(f"{type(raised).__name__}: ")


def test_a_bare_exchange_error_is_unavailable_not_rejected() -> None:
    """An unclassified code (Bybit 10016 "Server error") leaves the outcome unknown."""
    mapped = translate(ccxt.ExchangeError('bybit {"retCode":10016,"retMsg":"Server error"}'))
    assert type(mapped) is VenueUnavailable
    assert not isinstance(mapped, RejectedError)


def test_a_duplicate_client_order_id_is_looked_up_not_rejected() -> None:
    """The order holding our client id may be ours and may have executed."""
    mapped = translate(ccxt.DuplicateOrderId("clientOrderId is duplicated"))
    assert isinstance(mapped, TransientError)
    assert not isinstance(mapped, RejectedError)


@pytest.mark.parametrize("header", ["Retry-After", "retry-after", "RETRY-AFTER"])
def test_rate_limit_with_retry_after_gives_its_seconds(header: str) -> None:
    """Binance's Retry-After (seconds, any case) becomes ``retry_after``."""
    mapped = translate(ccxt.RateLimitExceeded("429"), {header: "30"})
    assert type(mapped) is RateLimited
    assert mapped.retry_after == 30.0
    ban = translate(ccxt.DDoSProtection("418"), {"Retry-After": "120"})
    assert type(ban) is RateLimited and ban.retry_after == 120.0


def test_bybit_reset_timestamp_gives_seconds_until_it_plus_margin() -> None:
    """Bybit's X-Bapi-Limit-Reset-Timestamp (epoch ms) is counted from ``now``, plus a margin."""
    now = 1_700_000_000.0
    header = "X-Bapi-Limit-Reset-Timestamp"
    in_12_5_s = {header: str(int((now + 12.5) * 1000))}
    assert retry_after_seconds(in_12_5_s, now=now) == 12.5 + SKEW_MARGIN
    assert retry_after_seconds({header.lower(): str(int(now * 1000))}, now=now) == SKEW_MARGIN
    past = {header: str(int((now - 5) * 1000))}
    assert retry_after_seconds(past, now=now) == SKEW_MARGIN  # never negative
    assert retry_after_seconds({header: "soon"}, now=now) is None
    both = {"Retry-After": "7", **in_12_5_s}
    assert retry_after_seconds(both, now=now) == 7.0  # Retry-After wins
    assert retry_after_seconds(None, now=now) is None
    assert retry_after_seconds({}, now=now) is None


def test_rate_limit_with_bybit_reset_timestamp_gives_its_seconds() -> None:
    """`translate` reads the same header against the wall clock."""
    reset = time.time() + 20
    headers = {"X-Bapi-Limit-Reset-Timestamp": str(int(reset * 1000))}
    before = time.time()
    mapped = translate(ccxt.RateLimitExceeded("10006 Too many visits"), headers)
    after = time.time()
    assert type(mapped) is RateLimited
    assert mapped.retry_after is not None
    low = int(reset * 1000) / 1000 - after + SKEW_MARGIN
    high = int(reset * 1000) / 1000 - before + SKEW_MARGIN
    assert low <= mapped.retry_after <= high


def test_rate_limit_without_a_cool_down_header_leaves_it_to_the_gate() -> None:
    """No header (or an unreadable one): ``retry_after`` is None, the gate's default applies."""
    bare = translate(ccxt.RateLimitExceeded("429"))
    assert type(bare) is RateLimited and bare.retry_after is None
    unreadable = translate(ccxt.RateLimitExceeded("429"), {"Retry-After": "Wed, 21 Oct"})
    assert type(unreadable) is RateLimited and unreadable.retry_after is None


@pytest.mark.parametrize(
    "message",
    [
        'binanceusdm {"code":-4116,"msg":"ClientOrderId is duplicated."}',
        'bybit {"retCode":110072,"retMsg":"OrderLinkedID is duplicate","result":{},'
        '"retExtInfo":{},"time":1765000000000}',
    ],
)
def test_a_duplicated_client_id_is_an_unknown_outcome_not_a_rejection(message: str) -> None:
    translated = translate(ccxt.InvalidOrder(message))
    assert type(translated) is VenueUnavailable


def test_a_duplicate_code_inside_another_field_is_not_read_as_one() -> None:
    message = (
        'bybit {"retCode":110007,"retMsg":"ab not enough for new order","result":{},'
        '"retExtInfo":{},"time":1700000110072}'
    )
    assert exchange_code(ccxt.InvalidOrder(message)) == "110007"
    assert type(translate(ccxt.InvalidOrder(message))) is InvalidOrderError

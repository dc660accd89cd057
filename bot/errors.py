"""The errors hedgebot raises, one tree for every venue.

::

    HedgebotError
    ├── ConfigError                    invalid configuration (names field, value, what is allowed)
    ├── JournalError                   the journal cannot be read or written
    └── VenueError                     anything a venue reports
        ├── TransientError             retry reads with backoff; an order's outcome is *unknown*
        │   ├── RateLimited            429 / 418: honour the cool-down before the next call
        │   ├── VenueTimeout           no answer in time: the request may have been executed
        │   ├── VenueUnavailable       network down, 5xx, maintenance
        │   └── MalformedResponse      an answer hedgebot cannot trust (missing, NaN, negative)
        ├── RejectedError              the venue refused: never retried
        │   ├── InsufficientMargin     not enough collateral for the order's margin
        │   └── InvalidOrderError      lot, min notional, reduce-only or price rules broken
        └── AuthError                  bad or missing keys, bad signature

Third-party exceptions (ccxt) are mapped to this tree in exactly one place, the venue adapter.
"""

from __future__ import annotations


class HedgebotError(Exception):
    """Base of every error hedgebot raises on purpose."""


class ConfigError(HedgebotError):
    """The configuration is invalid; the message names the field and the fix."""


class JournalError(HedgebotError):
    """The journal could not be read or written."""


class VenueError(HedgebotError):
    """A venue reported a failure."""


class TransientError(VenueError):
    """A failure that may pass: reads are retried, orders are reconciled by client id."""


class RateLimited(TransientError):
    """The venue throttled us (HTTP 429) or banned us for a while (HTTP 418)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        """Keep the cool-down in seconds when the venue gave one."""
        super().__init__(message)
        self.retry_after = retry_after


class VenueTimeout(TransientError):
    """The request timed out: it may or may not have been executed."""


class VenueUnavailable(TransientError):
    """Network down, HTTP 5xx or maintenance."""


class MalformedResponse(TransientError):
    """The venue answered with a value hedgebot cannot trust: nothing is acted on.

    Transient because the answer to an order that cannot be read leaves its outcome unknown:
    the order is looked up by client order id, never assumed placed or rejected.
    """


class RejectedError(VenueError):
    """The venue refused the request; sending it again would be refused again."""


class InsufficientMargin(RejectedError):
    """Not enough free collateral for the order's initial margin."""


class InvalidOrderError(RejectedError):
    """The order breaks a market rule (lot step, min notional, reduce-only, price band)."""


class AuthError(VenueError):
    """Missing or invalid credentials, or a bad signature."""


def should_retry(error: BaseException) -> bool:
    """Return True for errors a *read* may be retried on."""
    return isinstance(error, TransientError)

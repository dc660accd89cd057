"""The errors hedgebot raises, one tree for every venue.

::

    HedgebotError                      exit code 2 unless said otherwise
    ├── ConfigError                    invalid configuration (names field, value, what is allowed)
    ├── DataError                      market history missing or unreadable (also a ValueError)
    │   └── MissingData                a history directory or file is missing (FileNotFoundError)
    ├── StorageError                   a file or directory cannot be read or written (disk, rights)
    ├── NothingToShow                  the journal has nothing for what was asked (exit code 1)
    ├── Halted                         the kill switch is on: nothing placed (exit code 4)
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
        └── AuthError                  bad or missing keys, bad signature (exit code 5)
            └── PermissionDenied       the key may not do this (IP allow-list, permissions)

Third-party exceptions (ccxt) are mapped to this tree in exactly one place, the venue adapter.

Every command ends with one of these exit codes (`hedgebot` prints one line on stderr for each
failure, never a traceback):

====  =========================================================================================
0     done
1     nothing done or nothing to show: a rebalance declined, skipped or partly failed; an empty
      journal or period
2     bad input: config, option, data directory, journal, file system (also argparse's usage)
3     another instance holds this account's lease (`bot.journal.lease`)
4     halted: the kill switch is on, nothing was placed
5     the exchange refused the API keys (authentication or permission): never retried
70    an unexpected error, a bug (``-v`` shows the traceback)
130   interrupted (Ctrl-C)
====  =========================================================================================
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_NOTHING_DONE = 1
EXIT_BAD_INPUT = 2
EXIT_LEASE = 3
EXIT_HALTED = 4
EXIT_AUTH = 5
EXIT_BUG = 70
EXIT_INTERRUPTED = 130


class HedgebotError(Exception):
    """Base of every error hedgebot raises on purpose."""

    exit_code = EXIT_BAD_INPUT
    """What `hedgebot` exits with when this error ends a command."""


class ConfigError(HedgebotError):
    """The configuration is invalid; the message names the field and the fix."""


class DataError(HedgebotError, ValueError):
    """Market history is missing or cannot be read; the message names the file and the fix."""


class MissingData(DataError, FileNotFoundError):
    """A history directory or file does not exist."""


class StorageError(HedgebotError):
    """A file or directory hedgebot needs cannot be read or written (rights, full disk)."""


class NothingToShow(HedgebotError):
    """The journal holds nothing for what was asked (an empty journal, venue or period)."""

    exit_code = EXIT_NOTHING_DONE


class Halted(HedgebotError):
    """The kill switch is on: no order was placed."""

    exit_code = EXIT_HALTED


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
    """Missing or invalid credentials, or a bad signature: never transient, never retried.

    Binance -2014 / -2015 / -1022 / -1002, Bybit 10003 / 10004 / 10005 / 10007 / 10009 / 10010,
    ccxt's ``AuthenticationError`` and ``PermissionDenied``: sending again with the same keys
    gets the same answer, so a command stops at once (exit code 5) instead of backing off.
    """

    exit_code = EXIT_AUTH


class PermissionDenied(AuthError):
    """The keys are valid but may not do this (trading not enabled, IP not allow-listed)."""


def should_retry(error: BaseException) -> bool:
    """Return True for errors a *read* may be retried on."""
    return isinstance(error, TransientError)

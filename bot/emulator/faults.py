"""Fault injection for the emulator, armed by tests per endpoint for the next N calls.

An endpoint is a method and a path (``"POST", "/fapi/v1/order"``); ``None`` matches any. Kinds:

- ``delay(seconds)``: wait before handling (a delay past the client's timeout still executes);
- ``drop()``: handle the request (an order is applied to the simulation), then abort the connection;
- ``hang(seconds)``: handle the request, then hold the answer ``seconds`` and abort;
- ``server_error(status)``: answer 5xx, without handling or (``after_handling``) after it;
- ``reject(code, message)``: answer a Binance error without handling;
- ``rate_limit(retry_after, ban_seconds)``: answer 429 with ``Retry-After``. Binance limits by IP:
  any call before ``retry_after`` has passed earns a 418 ban of ``ban_seconds``, and every call
  during the ban extends it (``ban(seconds)`` bans at once);
- ``partial_fill(ratio, status)``: the next orders fill only ``ratio`` of their quantity; the rest
  expires (``EXPIRED``, Binance's status for market and IOC orders) or, to exercise clients on
  other shapes, ends ``PARTIALLY_FILLED``/``CANCELED``;
- ``rest_orders(times, fill_after_seconds)``: the next orders the exchange accepts (market or IOC
  limit) are answered NEW and rest unfilled: listed as open, cancellable, found NEW by queries.
  Each fills in full at the then-current price when the test calls
  ``account.fill_resting(symbol)``, or at the first request handled ``fill_after_seconds`` (of
  ``now``) after it was placed (None: only when asked). Reduce-only rules apply at fill time;
- ``corrupt(method, path, mutate)``: handle the call, answer ``mutate(body)`` instead (``path`` may
  be a tuple of paths that share one count of calls).

Plausible-but-wrong answers, armed as ``corrupt`` faults in the face's own dialect
(`bot.emulator.chaos`); ``times`` counts calls of the endpoints named:

- ``wrong_price(symbol_id, factor, also_mark=False)``: the perp's last price times ``factor`` in
  the ticker answers (and its mark price in the premium index, ``also_mark``);
- ``empty_positions()``: the position endpoints answer no position at all;
- ``flip_positions()``: every open position is reported on the other side (amount, notional and
  unrealised PnL negated).

Ban and back-off windows and resting fills run on ``now`` (monotonic seconds, injectable so tests
need not wait).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from bot.emulator.auth import wall_ms
from bot.emulator.chaos import BINANCE_ANSWERS, WrongAnswers
from bot.emulator.errors import BinanceError

ORDER_ENDPOINT = ("POST", "/fapi/v1/order")


class FaultKind(StrEnum):
    """What a fault does to a request."""

    DELAY = "delay"
    DROP = "drop"
    HANG = "hang"
    SERVER_ERROR = "server_error"
    REJECT = "reject"
    RATE_LIMIT = "rate_limit"
    PARTIAL_FILL = "partial_fill"
    CORRUPT = "corrupt"
    REST = "rest"


@dataclass(slots=True)
class Fault:
    """One armed fault and how many more calls it applies to."""

    kind: FaultKind
    method: str | None
    path: str | tuple[str, ...] | None
    remaining: int
    seconds: float = 0.0
    status: int = 0
    code: int = 0
    message: str = ""
    ratio: Decimal = Decimal(1)
    order_status: str = "EXPIRED"
    after_handling: bool = False
    mutate: Callable[[Any], Any] | None = None

    def matches(self, method: str, path: str) -> bool:
        """Return whether this fault applies to the endpoint."""
        paths = (self.path,) if isinstance(self.path, str) else self.path
        return (self.method is None or self.method == method) and (paths is None or path in paths)


@dataclass(frozen=True, slots=True)
class Throttle:
    """A 429 or 418 answer: status, Binance body and ``Retry-After`` seconds."""

    status: int
    body: dict[str, object]
    retry_after: int


class FaultInjector:
    """Faults armed for the next calls of given endpoints, plus the IP ban state."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        """Start with no fault armed; ``now`` gives seconds for back-off, bans, resting fills."""
        self._now = now
        self.answers: WrongAnswers = BINANCE_ANSWERS  # a face speaking another dialect sets it
        self._faults: list[Fault] = []
        self._backoff_until = -math.inf
        self._banned_until = -math.inf
        self._ban_seconds = 120.0
        self.bans = 0  # 418 answers given: a client that honours Retry-After earns none

    # -- arming ----------------------------------------------------------------------------
    def delay(self, method: str | None, path: str | None, seconds: float, times: int = 1) -> None:
        """Wait ``seconds`` before handling the next ``times`` calls."""
        self._arm(Fault(FaultKind.DELAY, method, path, times, seconds=seconds))

    def drop(self, method: str | None, path: str | None, times: int = 1) -> None:
        """Handle the next calls, then abort the connection instead of answering."""
        self._arm(Fault(FaultKind.DROP, method, path, times))

    def hang(self, method: str | None, path: str | None, seconds: float, times: int = 1) -> None:
        """Handle the next calls, then hold the answer ``seconds`` and abort the connection."""
        self._arm(Fault(FaultKind.HANG, method, path, times, seconds=seconds))

    def server_error(
        self,
        method: str | None,
        path: str | None,
        status: int = 503,
        *,
        body: str | None = None,
        after_handling: bool = False,
        times: int = 1,
    ) -> None:
        """Answer the next calls with HTTP ``status`` (5xx).

        ``body`` None sends Binance's JSON -1001, else ``body`` as HTML (a gateway error page).
        ``after_handling`` handles the request first: Binance warns that a 5xx leaves the outcome
        unknown, an order may have executed.
        """
        self._arm(
            Fault(
                FaultKind.SERVER_ERROR,
                method,
                path,
                times,
                status=status,
                message=body or "",
                after_handling=after_handling,
            )
        )

    def reject(
        self,
        method: str | None,
        path: str | None,
        code: int,
        message: str = "Rejected by fault injection.",
        times: int = 1,
    ) -> None:
        """Answer the next calls with Binance error ``code`` without handling them."""
        self._arm(Fault(FaultKind.REJECT, method, path, times, code=code, message=message))

    def rate_limit(
        self,
        method: str | None = None,
        path: str | None = None,
        retry_after: float = 1.0,
        ban_seconds: float = 120.0,
        times: int = 1,
    ) -> None:
        """Answer 429 to the next calls; calling again within ``retry_after`` earns a 418 ban."""
        self._arm(Fault(FaultKind.RATE_LIMIT, method, path, times, seconds=retry_after))
        self._ban_seconds = ban_seconds

    def ban(self, seconds: float) -> None:
        """Ban the client's IP for ``seconds`` (418 on every call, extended by each call)."""
        self._ban_seconds = seconds
        self._banned_until = self._now() + seconds

    def partial_fill(self, ratio: Decimal, status: str = "EXPIRED", times: int = 1) -> None:
        """Fill only ``ratio`` of the next orders; they end with Binance ``status``."""
        if status not in ("EXPIRED", "PARTIALLY_FILLED", "CANCELED"):
            raise ValueError(f"unsupported final status {status!r}")
        method, path = ORDER_ENDPOINT
        self._arm(
            Fault(FaultKind.PARTIAL_FILL, method, path, times, ratio=ratio, order_status=status)
        )

    def corrupt(
        self,
        method: str | None,
        path: str | tuple[str, ...] | None,
        mutate: Callable[[Any], Any],
        times: int = 1,
    ) -> None:
        """Handle the next calls, then answer ``mutate(parsed JSON body)`` instead.

        ``mutate`` returns the JSON value to send, or a ``str`` sent verbatim (malformed JSON).
        """
        self._arm(Fault(FaultKind.CORRUPT, method, path, times, mutate=mutate))

    def rest_orders(self, times: int = 1, fill_after_seconds: float | None = None) -> None:
        """Leave the next accepted orders resting (NEW); see the module docstring."""
        seconds = math.inf if fill_after_seconds is None else fill_after_seconds
        self._arm(Fault(FaultKind.REST, *ORDER_ENDPOINT, times, seconds=seconds))

    def wrong_price(
        self, symbol_id: str, factor: Decimal, times: int = 1, *, also_mark: bool = False
    ) -> None:
        """Multiply the perp's last (and ``also_mark``: mark) price in the next price answers."""
        answers = self.answers
        paths = answers.price_paths + (answers.mark_paths if also_mark else ())
        self.corrupt("GET", paths, answers.wrong_price(symbol_id, factor, also_mark), times)

    def empty_positions(self, times: int = 1) -> None:
        """Answer the next position calls with no position at all."""
        self.corrupt("GET", self.answers.position_paths, self.answers.empty_positions, times)

    def flip_positions(self, times: int = 1) -> None:
        """Report every open position on the other side in the next position calls."""
        self.corrupt("GET", self.answers.position_paths, self.answers.flip_positions, times)

    def now(self) -> float:
        """Return the fault clock's seconds (monotonic unless injected)."""
        return self._now()

    def clear(self) -> None:
        """Disarm every fault and lift any ban."""
        self._faults.clear()
        self._backoff_until = self._banned_until = -math.inf

    # -- consuming -------------------------------------------------------------------------
    def take(self, kind: FaultKind, method: str, path: str) -> Fault | None:
        """Use up one call of the first armed fault of ``kind`` matching the endpoint."""
        for fault in self._faults:
            if fault.kind is kind and fault.matches(method, path):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def throttle(self, method: str, path: str) -> Throttle | None:
        """Return the 418/429 answer this call earns, if any (Binance limits by IP)."""
        now = self._now()
        if now < self._banned_until or now < self._backoff_until:
            self._banned_until = now + self._ban_seconds
            self._backoff_until = -math.inf
            self.bans += 1
            until = wall_ms() + int(self._ban_seconds * 1000)
            message = (
                f"Way too many requests; IP(127.0.0.1) banned until {until}. "
                "Please use the websocket for live updates to avoid bans."
            )
            return Throttle(418, {"code": -1003, "msg": message}, math.ceil(self._ban_seconds))
        fault = self.take(FaultKind.RATE_LIMIT, method, path)
        if fault is None:
            return None
        self._backoff_until = now + fault.seconds
        message = (
            "Too many requests; current limit of IP(127.0.0.1) is 2400 requests per minute. "
            "Please use the websocket for live updates to avoid polling the API."
        )
        return Throttle(429, {"code": -1003, "msg": message}, math.ceil(fault.seconds))

    def rejection(self, method: str, path: str) -> BinanceError | None:
        """Return the armed Binance error of this call, if any."""
        fault = self.take(FaultKind.REJECT, method, path)
        return BinanceError(fault.code, fault.message) if fault else None

    def _arm(self, fault: Fault) -> None:
        if fault.remaining < 1:
            raise ValueError("a fault must apply to at least one call")
        self._faults.append(fault)

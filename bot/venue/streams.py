"""The exchange's websocket streams (ccxt.pro): what changes on the account and the marks, live.

`Streams` runs one watcher per stream on a ccxt.pro client of the venue (orders, positions, mark
prices) and, on Binance, our own listen-key keepalive (ccxt's runs once only). Each watcher hands
typed events to a sink; it never acts. A failed watch (dropped socket, refused auth, a dial
error) or a silent mark stream (connected, nothing for `silence_seconds`) is reported as the
stream being down, the client's sockets are closed, and the watchers subscribe again after a
back-off (1 s doubling, capped at `BACKOFF_CAP`): the caller polls meanwhile and reconciles the
gap by REST when the streams are back (ccxt replays nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from ccxt.base import errors as ccxt_errors

from bot.settings.secrets import mask

log = logging.getLogger(__name__)

BACKOFF_FIRST = 1.0
BACKOFF_CAP = 60.0
"""Seconds between resubscription attempts: 1 s, doubling per failure, at most a minute."""
KEEPALIVE_SECONDS = 1800.0
"""Binance listen-key keepalive period: a key lives 60 min, each PUT adds 60 min."""
SILENCE_SECONDS = 30.0
"""A mark stream pushes every second; this long without a mark means the streams are stale."""
IDLE_SECONDS = 1.0
"""How often a watcher with nothing to watch yet (no legs) looks again."""


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """An order changed on the exchange (ours, someone else's, or the exchange's own)."""

    symbol: str
    client_order_id: str | None
    status: str
    kind: str


@dataclass(frozen=True, slots=True)
class PositionEvent:
    """A position's size as the stream says it is now (signed contracts, short < 0)."""

    symbol: str
    contracts: Decimal


@dataclass(frozen=True, slots=True)
class MarkEvent:
    """A perp's mark price, with what the same message says beside it (None when it does not)."""

    symbol: str
    mark: Decimal
    index: Decimal | None = None
    """The spot index the mark is built on: the asset's spot price across exchanges."""
    time_ms: int | None = None
    """When the exchange sent it (its own clock)."""
    next_funding_ms: int | None = None
    """The perp's next funding time as announced."""


@dataclass(frozen=True, slots=True)
class StreamStatus:
    """The streams went down (``up`` False, with why) or are delivering again."""

    up: bool
    reason: str = ""


StreamEvent = OrderEvent | PositionEvent | MarkEvent | StreamStatus
Sink = Callable[[StreamEvent], None]


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def position_event(raw: dict[str, Any]) -> PositionEvent | None:
    """Return the signed size of a ccxt position update; None when it has no symbol."""
    symbol = raw.get("symbol")
    if not symbol:
        return None
    info = raw.get("info") or {}
    side = raw.get("side")
    contracts = _decimal(raw.get("contracts")) or Decimal(0)
    if side == "short":
        signed = -abs(contracts)
    elif side == "long":
        signed = abs(contracts)
    else:  # Binance flat ("both"): the signed amount is in ``pa``
        signed = _decimal(info.get("pa")) or Decimal(0)
    return PositionEvent(symbol, signed)


def order_event(raw: dict[str, Any]) -> OrderEvent | None:
    """Return a ccxt order update as an event; None when it has no symbol."""
    symbol = raw.get("symbol")
    if not symbol:
        return None
    return OrderEvent(
        symbol, raw.get("clientOrderId") or None, str(raw.get("status")), str(raw.get("type"))
    )


def _positive(value: Any) -> Decimal | None:
    number = _decimal(value)
    return number if number is not None and number > 0 else None


def _millis(value: Any) -> int | None:
    number = _decimal(value)
    return int(number) if number is not None and number > 0 else None


def mark_events(tickers: dict[str, Any]) -> list[MarkEvent]:
    """Return the marks of a ccxt ticker map (mark-price tickers, or Bybit's with markPrice).

    Binance's ``markPriceUpdate`` and Bybit's linear ticker both carry the index price and the
    next funding time (``T`` / ``nextFundingTime``) beside the mark.
    """
    events = []
    for symbol, ticker in tickers.items():
        info = ticker.get("info") or {}
        mark = _positive(ticker.get("markPrice")) or _positive(info.get("markPrice"))
        if mark is None:
            continue
        index = _positive(ticker.get("indexPrice")) or _positive(info.get("indexPrice"))
        funding = _millis(info.get("T")) or _millis(info.get("nextFundingTime"))
        events.append(MarkEvent(symbol, mark, index, _millis(ticker.get("timestamp")), funding))
    return events


class StreamDown(Exception):
    """A watcher saw its stream fail or fall silent."""


class Streams:
    """The account and mark streams of one ccxt.pro client, fed to a sink until cancelled."""

    def __init__(
        self,
        client: Any,
        *,
        listen_key: bool,
        silence_seconds: float = SILENCE_SECONDS,
        keepalive_seconds: float = KEEPALIVE_SECONDS,
    ) -> None:
        """Watch on ``client``; ``listen_key``: keep a Binance listen key alive ourselves."""
        self.client = client
        self.listen_key = listen_key
        self.silence_seconds = silence_seconds
        self.keepalive_seconds = keepalive_seconds
        self.failures = 0
        """Resubscriptions so far (a dropped, refused or silent stream each counts one)."""

    async def run(self, sink: Sink, symbols: Callable[[], Sequence[str]]) -> None:
        """Feed ``sink`` until cancelled; ``symbols`` names the perps whose marks matter."""
        delay = BACKOFF_FIRST
        while True:
            try:
                await self._session(sink, symbols)
            except StreamDown as down:
                self.failures += 1
                sink(StreamStatus(False, str(down)))
                log.warning("streams down (%s); polling, resubscribing in %.0f s", down, delay)
                await self._reset()
                await asyncio.sleep(delay)
                delay = min(BACKOFF_CAP, delay * 2)
            else:  # pragma: no cover - a session ends only by failing or being cancelled
                return

    async def close(self) -> None:
        """Close the client's sockets and sessions."""
        with contextlib.suppress(Exception):
            await self.client.close()

    # -- one subscribed session ------------------------------------------------------------
    async def _session(self, sink: Sink, symbols: Callable[[], Sequence[str]]) -> None:
        """Subscribe everything; return never: raise `StreamDown` when anything fails."""
        announced = asyncio.Event()
        watchers = [
            self._watch("orders", lambda: self.client.watch_orders(), self._orders, sink),
            self._watch("positions", lambda: self.client.watch_positions(), self._positions, sink),
            self._marks(sink, symbols, announced),
        ]
        if self.listen_key:
            watchers.append(self._keepalive())
        tasks = [asyncio.ensure_future(w) for w in watchers]
        try:
            await self._announce(sink, announced, tasks)
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # raises the watcher's StreamDown
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _announce(
        self, sink: Sink, announced: asyncio.Event, tasks: Sequence[asyncio.Future[Any]]
    ) -> None:
        """Say the streams are up once the first mark arrives (or a watcher fails first)."""
        waiter: asyncio.Future[Any] = asyncio.ensure_future(announced.wait())
        try:
            await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if announced.is_set():
            sink(StreamStatus(True))

    async def _watch(
        self,
        name: str,
        call: Callable[[], Awaitable[Any]],
        handle: Callable[[Any], list[StreamEvent]],
        sink: Sink,
    ) -> None:
        while True:
            try:
                items = await call()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # any failure: resubscribe (Bybit auth: ExchangeError)
                raise StreamDown(f"{name}: {_describe(error)}") from None
            for event in handle(items):
                sink(event)

    async def _marks(
        self, sink: Sink, symbols: Callable[[], Sequence[str]], announced: asyncio.Event
    ) -> None:
        while True:
            wanted = sorted(symbols())
            if not wanted:
                announced.set()  # nothing to watch yet: the account streams are what is up
                await asyncio.sleep(IDLE_SECONDS)
                continue
            try:
                async with asyncio.timeout(self.silence_seconds):
                    tickers = await self._watch_marks(wanted)
            except TimeoutError:
                raise StreamDown(f"marks: silent for {self.silence_seconds:.0f} s") from None
            except asyncio.CancelledError:
                raise
            except Exception as error:
                raise StreamDown(f"marks: {_describe(error)}") from None
            announced.set()
            for event in mark_events(tickers):
                sink(event)

    async def _watch_marks(self, symbols: list[str]) -> dict[str, Any]:
        if self.client.has.get("watchMarkPrices"):
            tickers: dict[str, Any] = await self.client.watch_mark_prices(symbols)
        else:  # Bybit: no mark-price stream; its tickers carry markPrice
            tickers = await self.client.watch_tickers(symbols)
        return tickers

    async def _keepalive(self) -> None:
        """PUT the listen key every `keepalive_seconds` (ccxt's own keepalive runs once)."""
        while True:
            await asyncio.sleep(self.keepalive_seconds)
            try:
                await self.client.fapiPrivatePutListenKey()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                raise StreamDown(f"listen key keepalive: {_describe(error)}") from None

    async def _reset(self) -> None:
        """Close every socket; on Binance make the next watch ask for a new listen key."""
        await self.close()
        if self.listen_key:
            linear = self.client.options.get("linear")
            if isinstance(linear, dict):
                linear["lastAuthenticatedTime"] = 0

    @staticmethod
    def _orders(items: Any) -> list[StreamEvent]:
        return [e for e in (order_event(o) for o in items or []) if e is not None]

    @staticmethod
    def _positions(items: Any) -> list[StreamEvent]:
        return [e for e in (position_event(p) for p in items or []) if e is not None]


def _describe(error: Exception) -> str:
    """Return a short, masked description of a stream failure."""
    kind = "authentication refused" if isinstance(error, ccxt_errors.AuthenticationError) else ""
    text = mask(str(error))[:200]
    return f"{type(error).__name__}{' (' + kind + ')' if kind else ''}: {text}"

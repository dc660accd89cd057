"""When the exchange's streams call for a cycle before the next interval.

`Reactor` is the sink of `bot.venue.streams.Streams`. It wakes the run loop (`Engine.run`) when:

- a position differs from what the last cycle left without our order (liquidation, ADL, a
  manual trade), or an order that is not ours changed (the exchange's own close, a manual one);
- one of our orders moved while the last cycle left orders unsettled;
- a leg's mark came within ``risk.liquidation_warning`` of the liquidation price the last cycle
  read by REST (the streams carry no liquidation price), again when it comes within
  ``risk.liquidation_critical``, and at most once per `MARK_COOLDOWN` per level otherwise;
- the streams went down (one cycle covers the moment, then the loop polls every `POLL_SECONDS`)
  or came back after a gap (ccxt replays nothing: REST reconciles it).

Events are coalesced for ``coalesce_seconds`` (a mark alone, which is urgent and comes alone,
for `URGENT_SECONDS`) and the cycle is the engine's own, one at a time: the handler never places
an order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from decimal import Decimal

from bot.core.domain import Position
from bot.margin.binance import liquidation_distance
from bot.settings.config import RiskConfig
from bot.venue.streams import (
    MarkEvent,
    OrderEvent,
    PositionEvent,
    StreamEvent,
    Streams,
    StreamStatus,
)

log = logging.getLogger(__name__)

COALESCE_SECONDS = 1.0
"""Events this close together make one cycle."""
URGENT_SECONDS = 0.2
"""The coalescing of a wake-up only a mark near liquidation asked for."""
POLL_SECONDS = 60.0
"""The loop's longest wait while the streams are down (or not up yet)."""
MARK_FRESH_SECONDS = 5.0
"""A streamed mark this recent is the mark a cycle plans and guards with (REST may lag it)."""
MARK_COOLDOWN = 30.0
"""Seconds before a leg still at the same liquidation-distance level wakes a cycle again."""
OUR_PREFIX = "hb-"
"""Our client order ids (`bot.core.planner.client_order_id`)."""


class Reactor:
    """Turns stream events into wake-ups of the run loop (see the module docstring)."""

    def __init__(
        self,
        risk: RiskConfig,
        *,
        coalesce_seconds: float = COALESCE_SECONDS,
        poll_seconds: float = POLL_SECONDS,
        mark_cooldown: float = MARK_COOLDOWN,
    ) -> None:
        """Wake on ``risk``'s liquidation levels; coalesce events ``coalesce_seconds``."""
        self.warning = risk.liquidation_warning
        self.critical = risk.liquidation_critical
        self.coalesce_seconds = coalesce_seconds
        self.poll_seconds = poll_seconds
        self.mark_cooldown = mark_cooldown
        self.streams_up = False
        self.wakes = 0
        """Cycles the streams asked for so far."""
        self._wake = asyncio.Event()
        self._reasons: list[str] = []
        self._urgent = False
        self._down_since_up = False
        self._cycling = False
        self._unsettled = False
        self._during: dict[str, Decimal] = {}
        self._foreign_during: list[str] = []
        self._legs: dict[str, Position] | None = None
        """The legs the last cycle left held (None before the first cycle ends)."""
        self._mark_levels: dict[str, tuple[Decimal, float]] = {}
        self._marks: dict[str, tuple[MarkEvent, float]] = {}
        self._watched: frozenset[str] = frozenset()

    # -- the run loop's side ---------------------------------------------------------------
    def symbols(self) -> list[str]:
        """Return the perps whose marks matter: the legs held and every leg a cycle may price."""
        return sorted(set(self._legs or {}) | self._watched)

    def watch(self, symbols: Iterable[str]) -> None:
        """Stream the marks of ``symbols`` too (the perps a cycle prices), from the next batch."""
        self._watched = frozenset(symbols)

    def fresh_prices(self) -> dict[str, MarkEvent]:
        """Return the streamed marks at most `MARK_FRESH_SECONDS` old (none while down)."""
        if not self.streams_up:
            return {}
        oldest = time.monotonic() - MARK_FRESH_SECONDS
        return {s: event for s, (event, at) in self._marks.items() if at >= oldest}

    def longest_wait(self, seconds: float) -> float:
        """Return ``seconds``, capped at `POLL_SECONDS` while the streams are not up."""
        return seconds if self.streams_up else min(seconds, self.poll_seconds)

    def cycle_started(self) -> None:
        """Note that a cycle begins: what it does to positions is not news."""
        self._cycling = True
        self._during.clear()
        self._foreign_during.clear()
        self._wake.clear()
        self._reasons.clear()
        self._urgent = False

    def cycle_finished(self, positions: Mapping[str, Position] | None, unsettled: bool) -> None:
        """Note a cycle ended leaving ``positions`` (None: it failed); wake for what it missed."""
        self._cycling = False
        self._unsettled = unsettled
        if positions is not None:
            self._legs = {s: p for s, p in positions.items() if p.contracts}
            for symbol in list(self._mark_levels):
                if symbol not in self._legs:
                    del self._mark_levels[symbol]
        for symbol, contracts in self._during.items():
            if self._legs is not None and contracts != self._expected(symbol):
                self._trigger(f"{symbol}: position {contracts} on the stream during the cycle")
        for reason in self._foreign_during:
            self._trigger(reason)

    @property
    def busy(self) -> bool:
        """Return whether a cycle runs or one is asked for."""
        return self._cycling or self._wake.is_set()

    async def woken(self) -> None:
        """Return when a stream event calls for a cycle."""
        await self._wake.wait()

    async def settle(self) -> list[str]:
        """Let related events arrive (`coalesce_seconds`); return why the cycle runs."""
        await asyncio.sleep(URGENT_SECONDS if self._urgent else self.coalesce_seconds)
        reasons = list(dict.fromkeys(self._reasons))
        self._reasons.clear()
        self._wake.clear()
        self._urgent = False
        self.wakes += 1
        return reasons

    # -- the streams' side (the sink) ------------------------------------------------------
    def note(self, event: StreamEvent) -> None:
        """Take one stream event; wake the loop when it calls for a cycle."""
        if isinstance(event, PositionEvent):
            self._position(event)
        elif isinstance(event, OrderEvent):
            self._order(event)
        elif isinstance(event, MarkEvent):
            self._mark(event)
        else:
            self._status(event)

    def _position(self, event: PositionEvent) -> None:
        if self._cycling:
            self._during[event.symbol] = event.contracts
            return
        if self._legs is None:
            return  # no cycle yet: the first one reads everything anyway
        expected = self._expected(event.symbol)
        if event.contracts != expected:
            self._trigger(f"{event.symbol}: position {expected} → {event.contracts} on the stream")

    def _order(self, event: OrderEvent) -> None:
        ours = (event.client_order_id or "").startswith(OUR_PREFIX)
        if not ours:
            reason = (
                f"{event.symbol}: {event.kind} order not ours "
                f"({event.client_order_id or 'no client id'}) {event.status}"
            )
            if self._cycling:
                self._foreign_during.append(reason)
            else:
                self._trigger(reason)
        elif self._unsettled and not self._cycling:
            self._trigger(f"{event.symbol}: our order {event.client_order_id} {event.status}")

    def _mark(self, event: MarkEvent) -> None:
        self._marks[event.symbol] = (event, time.monotonic())
        leg = (self._legs or {}).get(event.symbol)
        if leg is None or leg.liquidation_price is None:
            return
        distance = liquidation_distance(leg.side, event.mark, leg.liquidation_price)
        if distance is None or distance >= self.warning:
            self._mark_levels.pop(event.symbol, None)
            return
        level = self.critical if distance < self.critical else self.warning
        now = time.monotonic()
        previous = self._mark_levels.get(event.symbol)
        if previous is not None and previous[0] <= level and now - previous[1] < self.mark_cooldown:
            return
        self._mark_levels[event.symbol] = (level, now)
        self._trigger(
            f"{event.symbol}: mark {event.mark} is {distance:.1%} from liquidation "
            f"{leg.liquidation_price} (below {level:.0%})",
            urgent=True,
        )

    def _status(self, event: StreamStatus) -> None:
        if not event.up:
            self.streams_up = False
            self._down_since_up = True
            self._trigger(f"streams down ({event.reason}): polling every {self.poll_seconds:.0f} s")
            return
        self.streams_up = True
        if self._down_since_up:
            self._down_since_up = False
            self._trigger("streams back: reconciling the gap by REST")

    def _expected(self, symbol: str) -> Decimal:
        """Return the signed contracts the last cycle left on ``symbol`` (0 when flat)."""
        leg = (self._legs or {}).get(symbol)
        return leg.signed_contracts if leg is not None else Decimal(0)

    def _trigger(self, reason: str, *, urgent: bool = False) -> None:
        log.info("stream: %s", reason)
        self._urgent = urgent if not self._reasons else self._urgent and urgent
        self._reasons.append(reason)
        self._wake.set()


@contextlib.asynccontextmanager
async def streaming(streams: Streams, reactor: Reactor) -> AsyncIterator[Reactor]:
    """Run ``streams`` into ``reactor`` while the block runs; close them after."""
    task = asyncio.create_task(streams.run(reactor.note, reactor.symbols), name="streams")
    try:
        yield reactor
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await streams.close()

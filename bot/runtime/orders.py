"""OrderManager: place intents exactly once, confirm them, and journal every step.

Write-ahead: an intent is journaled (``pending``) before it is sent. An intent whose client order
id the journal already knows is never sent blindly: the venue is asked for that id first. A
timeout or network error while placing leaves the outcome *unknown*; the order is then looked up
by client order id (with backoff) and marked ``unknown`` for the next cycle if the venue still
cannot say. Rejections are final and journaled with the venue's reason.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from bot.core.clock import Clock
from bot.core.domain import OrderIntent, OrderResult, OrderStatus
from bot.core.errors import AuthError, RejectedError, TransientError, should_retry
from bot.journal.store import Journal
from bot.venue.base import Venue

log = logging.getLogger(__name__)

FINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED}
)


@dataclass(frozen=True, slots=True)
class Execution:
    """What happened to one intent."""

    intent: OrderIntent
    status: OrderStatus
    result: OrderResult | None = None
    reason: str = ""


class OrderManager:
    """Turns order intents into confirmed, journaled orders on one venue."""

    def __init__(
        self, venue: Venue, journal: Journal, clock: Clock, lookup_attempts: int = 5
    ) -> None:
        """Bind the venue, the journal and the clock."""
        self.venue = venue
        self.journal = journal
        self.clock = clock
        self.lookup_attempts = lookup_attempts
        self._unsettled = False

    def take_unsettled(self) -> bool:
        """Return whether an order ended with its outcome unknown since the last call."""
        unsettled, self._unsettled = self._unsettled, False
        return unsettled

    async def execute(self, rebalance_id: str, intents: Sequence[OrderIntent]) -> list[Execution]:
        """Place each intent once, in order; a failure of one leg does not stop the others."""
        return [await self.execute_one(rebalance_id, intent) for intent in intents]

    async def execute_one(self, rebalance_id: str, intent: OrderIntent) -> Execution:
        """Place one intent unless the venue already has it; journal the outcome."""
        cid = intent.client_order_id
        first_time = self.journal.record_order_intent(
            intent, venue=self.venue.name, rebalance_id=rebalance_id, time=self.clock.now()
        )
        if not first_time:
            known = self.journal.get_order(cid)
            if known is not None and known.status in FINAL:
                return Execution(intent, known.status, reason="already done in this rebalance")
            found = await self._lookup(intent)
            if found is not None:
                return self._confirmed(intent, found, "found on the venue by client order id")
        try:
            result = await self.venue.place_order(intent)
        except RejectedError as rejection:
            reason = f"rejected by {self.venue.name}: {rejection}"
            self.journal.update_order(
                cid, status=OrderStatus.REJECTED, time=self.clock.now(), reason=reason
            )
            log.warning("order %s %s", cid, reason)
            return Execution(intent, OrderStatus.REJECTED, reason=reason)
        except AuthError as error:  # refused before it reached the book: final, and fatal
            reason = f"refused by {self.venue.name}: {error}"
            self.journal.update_order(
                cid, status=OrderStatus.REJECTED, time=self.clock.now(), reason=reason
            )
            raise
        except TransientError as error:
            log.warning("order %s outcome unknown (%s); looking it up by client id", cid, error)
            found = await self._lookup(intent)
            if found is None:
                reason = f"outcome unknown after {error!r}; venue does not show it yet"
                self.journal.update_order(
                    cid, status=OrderStatus.UNKNOWN, time=self.clock.now(), reason=reason
                )
                self._unsettled = True
                return Execution(intent, OrderStatus.UNKNOWN, reason=reason)
            return self._confirmed(intent, found, "confirmed by client order id after an error")
        return self._confirmed(intent, result, "")

    async def _lookup(self, intent: OrderIntent) -> OrderResult | None:
        """Ask the venue for the order by client id, retrying transient errors with backoff."""
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.lookup_attempts),
                wait=wait_exponential_jitter(multiplier=0.2, max=5, jitter=0.2),
                retry=retry_if_exception(should_retry),
                reraise=False,
            ):
                with attempt:
                    return await self.venue.find_order(intent.client_order_id, intent.symbol)
        except RetryError:
            return None
        return None

    def _confirmed(self, intent: OrderIntent, result: OrderResult, note: str) -> Execution:
        if result.status in (OrderStatus.OPEN, OrderStatus.UNKNOWN, OrderStatus.PENDING):
            self._unsettled = True
        self.journal.record_fills(result.fills)
        self.journal.update_order(
            intent.client_order_id,
            status=result.status,
            time=self.clock.now(),
            venue_order_id=result.venue_order_id,
            filled=result.filled,
            average_price=result.average_price,
            reason=note or None,
        )
        return Execution(intent, result.status, result, note)

"""Settle orders in flight: an order is final only on the exchange's evidence.

Run before a cycle acts whenever the journal may hold orders whose outcome is not final (the
process's first cycle, or the last cycle left one pending, open or unknown). Every such order of
the venue is looked up by its client order id:

- found and final (filled, expired, cancelled): journaled with its fills;
- found resting (open): its unfilled rest counts toward the leg's position, and no other order is
  sent on that leg; once it has rested ``settle_seconds`` a cancel is asked for, and its outcome is
  again known only from a later lookup;
- not found: a lookup may lag the exchange (Binance -2013 shortly after an accept), and a request
  may still be travelling. The order is abandoned (journaled cancelled, its client id never
  reused) only once ``settle_seconds`` have passed since it was journaled; until then its leg
  waits;
- the lookup itself fails: nothing is concluded; the leg waits.

So a leg has at most one order in flight, a resting order is never doubled, and a leg never stalls
for longer than ``settle_seconds`` on an order the exchange does not show.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from bot.core.domain import ZERO, Fill, OrderResult, OrderStatus, Side
from bot.core.errors import HedgebotError
from bot.journal.records import JournaledOrder, to_jsonable
from bot.journal.store import Journal
from bot.venue.base import Venue

log = logging.getLogger(__name__)

IN_FLIGHT = (OrderStatus.PENDING, OrderStatus.OPEN, OrderStatus.UNKNOWN)

CLAIM_SLACK = timedelta(seconds=5)
"""Trades this long before an order was journaled may still be its (exchange vs local clock)."""


@dataclass(slots=True)
class Settlement:
    """What looking up the orders in flight found."""

    confirmed: list[str] = field(default_factory=list)
    abandoned: list[str] = field(default_factory=list)
    cancel_requested: list[str] = field(default_factory=list)
    waiting: dict[str, str] = field(default_factory=dict)
    """Symbol -> why its leg may not get a new order this cycle (an order of ours in flight)."""
    resting: dict[str, Decimal] = field(default_factory=dict)
    """Symbol -> signed contracts still to fill on resting orders (counted as position)."""
    resting_orders: dict[str, list[tuple[str, str | None]]] = field(default_factory=dict)
    """Symbol -> (client order id, exchange order id) of each order resting on it."""

    @property
    def notes(self) -> list[str]:
        """Return one line per finding."""
        lines = [f"order {cid} settled on the exchange" for cid in self.confirmed]
        lines += [
            f"order {cid} never reached the exchange; abandoned (its id is not reused)"
            for cid in self.abandoned
        ]
        lines += [f"order {cid} rested too long; cancel requested" for cid in self.cancel_requested]
        return lines + [f"{symbol}: {why}" for symbol, why in sorted(self.waiting.items())]

    @property
    def in_doubt(self) -> bool:
        """Return whether an order is still in flight after this settlement."""
        return bool(self.waiting)


def _signed(side: Side, amount: Decimal) -> Decimal:
    return amount if side is Side.BUY else -amount


def _journal_result(
    journal: Journal, order: JournaledOrder, result: OrderResult, now: datetime, note: str
) -> None:
    journal.record_fills(result.fills)
    journal.update_order(
        order.client_order_id,
        status=result.status,
        time=now,
        venue_order_id=result.venue_order_id,
        filled=result.filled,
        average_price=result.average_price,
        reason=note,
    )


async def settle_orders(
    venue: Venue, journal: Journal, now: datetime, settle_seconds: int
) -> Settlement:
    """Look up every journaled order of ``venue`` still in flight and settle what can be."""
    found = Settlement()
    for order in journal.orders_in_status(IN_FLIGHT):
        if order.venue != venue.name:
            continue
        await _settle_one(venue, journal, order, now, settle_seconds, found)
    if found.confirmed or found.abandoned or found.cancel_requested:
        journal.record_event(
            "reconcile",
            now,
            "; ".join(found.notes),
            to_jsonable(
                {
                    "confirmed": found.confirmed,
                    "abandoned": found.abandoned,
                    "cancel_requested": found.cancel_requested,
                    "waiting": found.waiting,
                }
            ),
            venue=venue.name,
        )
        log.warning("orders in flight: %s", "; ".join(found.notes))
    return found


def _claim_trades(
    journal: Journal, venue: str, order: JournaledOrder, now: datetime, found: Settlement
) -> bool:
    """Settle an order the exchange no longer knows by the trades it left, if they are its own.

    An exchange that lost its order records (a restart) still lists trades with their exchange
    order id. When the exchange told us the order's id, the trades of that id are its trades
    (none: it never traded). Otherwise, among the unclaimed exchange orders on the order's side
    since it was journaled and within its amount, the only one, or else the only one that filled
    it exactly, is its own; anything less certain is not claimed.
    """
    since = order.created_at - CLAIM_SLACK
    if order.venue_order_id is not None:
        own = [
            f
            for f in journal.fills(venue=venue, symbol=order.symbol, since=since)
            if f.venue_order_id == order.venue_order_id
        ]
        fitting = {order.venue_order_id: own} if own else {}
    else:
        fitting = _fitting_orders(journal.unclaimed_fills(venue, order.symbol, since), order)
    if len(fitting) != 1:
        return False
    ((oid, fills),) = fitting.items()
    filled = sum((f.amount for f in fills), ZERO)
    average = sum((f.amount * f.price for f in fills), ZERO) / filled
    journal.update_order(
        order.client_order_id,
        status=OrderStatus.FILLED if filled == order.amount else OrderStatus.PARTIALLY_FILLED,
        time=now,
        venue_order_id=oid,
        filled=filled,
        average_price=average,
        reason=f"the exchange no longer knows this order; its trades (exchange order {oid}) "
        "are the only ones that fit it",
    )
    found.confirmed.append(order.client_order_id)
    return True


def _fitting_orders(unclaimed: Iterable[Fill], order: JournaledOrder) -> dict[str, list[Fill]]:
    """Group unclaimed trades by exchange order; keep those that could be ``order``'s own."""
    groups: dict[str, list[Fill]] = {}
    for fill in unclaimed:
        if fill.side is order.side and fill.venue_order_id is not None:
            groups.setdefault(fill.venue_order_id, []).append(fill)
    totals = {oid: sum((f.amount for f in fills), ZERO) for oid, fills in groups.items()}
    fitting = {oid: groups[oid] for oid, total in totals.items() if total <= order.amount}
    if len(fitting) > 1:  # several could be: one that filled it exactly is, if only one did
        fitting = {oid: fills for oid, fills in fitting.items() if totals[oid] == order.amount}
    return fitting


async def _settle_one(
    venue: Venue,
    journal: Journal,
    order: JournaledOrder,
    now: datetime,
    settle_seconds: int,
    found: Settlement,
) -> None:
    cid, symbol = order.client_order_id, order.symbol
    age = (now - order.created_at).total_seconds()
    try:
        result = await venue.find_order(cid, symbol)
    except HedgebotError as error:
        found.waiting[symbol] = f"order {cid} in flight; looking it up failed ({error})"
        return
    if result is None:
        if age >= settle_seconds and _claim_trades(journal, venue.name, order, now, found):
            return
        if age >= settle_seconds:
            journal.update_order(
                cid,
                status=OrderStatus.CANCELED,
                time=now,
                reason=f"not on the exchange {age:.0f} s after it was journaled: never placed; "
                "abandoned",
            )
            found.abandoned.append(cid)
            return
        found.waiting[symbol] = (
            f"order {cid} not visible on the exchange yet ({age:.0f} s); waiting up to "
            f"{settle_seconds} s before treating it as never placed"
        )
        return
    if result.status not in IN_FLIGHT:
        _journal_result(journal, order, result, now, "settled by client order id")
        found.confirmed.append(cid)
        return
    _journal_result(journal, order, result, now, "resting on the exchange")
    rest = max(result.amount - result.filled, ZERO)
    found.resting[symbol] = found.resting.get(symbol, ZERO) + _signed(result.side, rest)
    found.resting_orders.setdefault(symbol, []).append((cid, result.venue_order_id))
    if result.status is OrderStatus.OPEN and age >= settle_seconds:
        found.cancel_requested.append(cid)
        try:
            await venue.cancel_order(cid, symbol, result.venue_order_id)
            after = await venue.find_order(cid, symbol)
        except HedgebotError as error:
            found.waiting[symbol] = f"order {cid} rested {age:.0f} s; cancelling it: {error}"
            return
        if after is not None and after.status not in IN_FLIGHT:
            _journal_result(journal, order, after, now, "cancelled after resting; settled")
            found.resting.pop(symbol, None)
            found.resting_orders.pop(symbol, None)
            found.confirmed.append(cid)
            return
        found.waiting[symbol] = f"order {cid} rested {age:.0f} s; cancel requested"
        return
    found.waiting[symbol] = (
        f"order {cid} {result.status.value} on the exchange "
        f"({result.filled}/{result.amount} filled); no second order on this leg"
    )


async def cancel_overshooting(
    venue: Venue, journal: Journal, settled: Settlement, symbols: Iterable[str], now: datetime
) -> list[str]:
    """Ask the exchange to cancel our resting orders on legs they would now take past target.

    The outcome is read at the next look (an order may fill before the cancel arrives).
    """
    notes = []
    for symbol in symbols:
        for cid, venue_order_id in settled.resting_orders.get(symbol, []):
            try:
                await venue.cancel_order(cid, symbol, venue_order_id)
            except HedgebotError as error:
                notes.append(f"{symbol}: cancelling resting order {cid} failed ({error})")
                continue
            message = f"{symbol}: resting order {cid} would overshoot the new target; cancelled"
            notes.append(message)
            journal.record_event(
                "order_cancel", now, message, {"symbol": symbol, "order": cid}, venue=venue.name
            )
    return notes

"""Restart reconciliation: the journal is the truth of what happened, the venue of what is.

Run before every cycle (step 1 costs one journal query when nothing is in flight: a journal
write that failed after an order was sent leaves it pending) and, on a process's first cycle,
step 2 too:
1. every order the journal holds as pending, open or unknown (sent, or about to be, when the last
   process died) is looked up by its client order id: found orders are journaled with their
   fills; orders the venue never saw are marked canceled ("abandoned") — their client ids stay
   taken, so a rebalance interrupted half-way is never doubled;
2. positions are compared with the journal's last snapshot plus the fills confirmed in step 1;
   differences are journaled as `position_mismatch` events. The next plan is computed from the
   venue's positions, so it is always made from the truth.
Fills and funding missed while down are pulled by the engine's journal sync right after.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from bot.domain import ZERO, OrderStatus, Side
from bot.journal.records import to_jsonable
from bot.journal.store import Journal
from bot.venue.base import Venue

log = logging.getLogger(__name__)

IN_FLIGHT = (OrderStatus.PENDING, OrderStatus.OPEN, OrderStatus.UNKNOWN)


@dataclass(slots=True)
class Reconciliation:
    """What the restart check found."""

    confirmed: list[str] = field(default_factory=list)
    abandoned: list[str] = field(default_factory=list)
    still_open: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)

    @property
    def notes(self) -> list[str]:
        """Return one line per finding, for the first rebalance's note."""
        lines = [f"restart: order {cid} confirmed on the venue" for cid in self.confirmed]
        lines += [
            f"restart: order {cid} never reached the venue; abandoned" for cid in self.abandoned
        ]
        lines += [f"restart: order {cid} still open on the venue" for cid in self.still_open]
        return lines + self.mismatches


async def reconcile(
    venue: Venue, journal: Journal, now: datetime, check_positions: bool = True
) -> Reconciliation:
    """Settle in-flight orders by client id; on start, compare positions with the journal."""
    found = Reconciliation()
    moved: dict[str, Decimal] = {}
    for order in journal.orders_in_status(IN_FLIGHT):
        if order.venue != venue.name:
            continue
        result = await venue.find_order(order.client_order_id, order.symbol)
        if result is None:
            journal.update_order(
                order.client_order_id,
                status=OrderStatus.CANCELED,
                time=now,
                reason="not found on the venue at restart: never placed; abandoned",
            )
            found.abandoned.append(order.client_order_id)
            continue
        journal.record_fills(result.fills)
        journal.update_order(
            order.client_order_id,
            status=result.status,
            time=now,
            venue_order_id=result.venue_order_id,
            filled=result.filled,
            average_price=result.average_price,
            reason="confirmed by client order id at restart",
        )
        if result.status in IN_FLIGHT:
            found.still_open.append(order.client_order_id)
        else:
            found.confirmed.append(order.client_order_id)
        signed = result.filled if result.side is Side.BUY else -result.filled
        moved[order.symbol] = moved.get(order.symbol, ZERO) + signed
    snapshots = journal.latest_snapshots(venue.name) if check_positions else []
    if snapshots:
        positions = await venue.fetch_positions([s.symbol for s in snapshots])
        for snap in snapshots:
            expected = snap.contracts + moved.get(snap.symbol, ZERO)
            position = positions.get(snap.symbol)
            actual = position.signed_contracts if position is not None else ZERO
            if actual != expected:
                message = (
                    f"restart: {snap.symbol} holds {actual} contracts, the journal "
                    f"expected {expected}; planning from the venue's position"
                )
                found.mismatches.append(message)
                journal.record_event(
                    "position_mismatch",
                    now,
                    message,
                    to_jsonable({"symbol": snap.symbol, "expected": expected, "actual": actual}),
                    venue=venue.name,
                )
    if found.confirmed or found.abandoned or found.still_open or found.mismatches:
        journal.record_event(
            "reconcile",
            now,
            "; ".join(found.notes),
            to_jsonable(
                {
                    "confirmed": found.confirmed,
                    "abandoned": found.abandoned,
                    "still_open": found.still_open,
                }
            ),
            venue=venue.name,
        )
        log.warning("restart reconciliation: %s", "; ".join(found.notes))
    return found

"""The I/O side of the risk guards: apply margin actions, spot liquidations, measure turnover."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from bot.core.domain import ZERO, Fill, ForcedClose, Market, OrderIntent, Position, Side
from bot.core.errors import VenueError
from bot.core.planner import client_order_id
from bot.journal.records import to_jsonable
from bot.journal.store import Journal
from bot.margin.plan import GuardKind, MarginAction
from bot.runtime.orders import OrderManager
from bot.venue.base import Venue

log = logging.getLogger(__name__)

GUARD_ATTEMPT = 1
"""Client-id attempt number of guard cuts, apart from the planner's orders (attempt 0)."""


async def apply_margin_actions(
    venue: Venue,
    journal: Journal,
    orders: OrderManager,
    rebalance_id: str,
    actions: Sequence[MarginAction],
    now: datetime,
) -> list[str]:
    """Carry out top-ups and cuts; journal each as a `margin_guard` event; return notes."""
    notes: list[str] = []
    for action in actions:
        outcome = await _apply(venue, orders, rebalance_id, action)
        data = {
            "symbol": action.symbol,
            "action": action.kind.value,
            "margin": action.margin,
            "contracts": action.contracts,
            "distance": action.distance,
            "liquidation_price": action.liquidation_price,
            "mark": action.mark,
            "rebalance_id": rebalance_id,
            "outcome": outcome,
        }
        message = f"{action.symbol}: {action.reason}"
        journal.record_event("margin_guard", now, message, to_jsonable(data), venue=venue.name)
        notes.append(f"{action.symbol}: {action.reason} — {outcome}")
        log.warning("margin guard %s: %s (%s)", action.symbol, action.reason, outcome)
    return notes


async def _apply(
    venue: Venue, orders: OrderManager, rebalance_id: str, action: MarginAction
) -> str:
    if action.kind is GuardKind.CUT:
        market = (await venue.load_markets([action.symbol])).get(action.symbol)
        if market is None:
            return "cut failed: the venue no longer lists this perp"
        side = Side.BUY if action.liquidation_price > action.mark else Side.SELL
        intent = OrderIntent(
            client_order_id=client_order_id(rebalance_id, action.symbol, GUARD_ATTEMPT),
            symbol=action.symbol,
            side=side,
            amount=action.contracts,
            reduce_only=True,
            reference_price=action.mark,
            contract_size=market.contract_size,
            reason=f"margin guard cut: {action.reason}",
        )
        execution = await orders.execute_one(rebalance_id, intent)
        if execution.result is None or execution.result.filled == 0:
            return f"cut failed: {execution.status.value} {execution.reason}".strip()
        done = f"cut {execution.result.filled} contracts"
        if action.margin <= 0:
            return done
        return f"{done}; {await _add(venue, action.symbol, action.margin)}"
    return await _add(venue, action.symbol, action.margin)


async def _add(venue: Venue, symbol: str, amount: Decimal) -> str:
    free = await venue.fetch_collateral()
    amount = min(amount, free)
    if amount <= 0:
        return "no free collateral to add"
    try:
        await venue.add_margin(symbol, amount)
    except VenueError as error:
        return f"add margin {amount:,.2f} failed: {error}"
    return f"added {amount:,.2f} margin"


@dataclass(frozen=True, slots=True)
class VanishedPosition:
    """A position that shrank or disappeared without an order of ours.

    ``forced``: the exchange's fill that did it (a liquidation, an ADL); None when no fill
    explains the change.
    """

    symbol: str
    before: Decimal
    after: Decimal
    forced: ForcedClose | None


def vanished_positions(
    before: Mapping[str, Decimal],
    positions: Mapping[str, Position],
    journal: Journal,
    venue: str,
    since: datetime,
) -> list[VanishedPosition]:
    """Compare positions with the last cycle's and explain each shrink by our own fills."""
    found: list[VanishedPosition] = []
    for symbol, contracts in sorted(before.items()):
        if contracts == 0:
            continue
        now = positions.get(symbol)
        after = now.signed_contracts if now is not None else ZERO
        if abs(after) >= abs(contracts) and (after > 0) == (contracts > 0):
            continue
        fills = journal.fills(venue=venue, symbol=symbol, since=since)
        forced = _forced_kind(fills)
        ours = sum(
            (f.amount if f.side is Side.BUY else -f.amount for f in fills if f.forced is None),
            ZERO,
        )
        if forced is not None or contracts + ours != after:
            found.append(VanishedPosition(symbol, contracts, after, forced))
    return found


def _forced_kind(fills: Sequence[Fill]) -> ForcedClose | None:
    """Return how the exchange forced any of ``fills``: a liquidation outranks an ADL."""
    kinds = {f.forced for f in fills}
    if ForcedClose.LIQUIDATION in kinds:
        return ForcedClose.LIQUIDATION
    return ForcedClose.ADL if ForcedClose.ADL in kinds else None


_HOW = {
    ForcedClose.LIQUIDATION: "liquidated",
    ForcedClose.ADL: "auto-deleveraged by the exchange",
    None: "changed without an order of ours",
}


def record_vanished(
    journal: Journal, venue: str, items: Sequence[VanishedPosition], now: datetime
) -> list[str]:
    """Journal each vanished position as an event; return notes.

    An ADL is an `adl` event; a liquidation, or a change no fill explains, a `liquidation` one.
    """
    notes = []
    for item in items:
        message = f"{item.symbol}: position {item.before} → {item.after} contracts, "
        message += _HOW[item.forced]
        data = {
            "symbol": item.symbol,
            "before": item.before,
            "after": item.after,
            "liquidation_fill": item.forced is ForcedClose.LIQUIDATION,
            "forced": item.forced,
        }
        kind = "adl" if item.forced is ForcedClose.ADL else "liquidation"
        journal.record_event(kind, now, message, to_jsonable(data), venue=venue)
        log.error(message)
        notes.append(message)
    return notes


def turnover_last_day(
    journal: Journal, venue: str, now: datetime, markets: Mapping[str, Market]
) -> Decimal:
    """Return the notional of our fills (forced ones excluded) over the last 24 hours.

    A fill's notional is amount × contract size × price, the contract size taken from
    ``markets`` (1 for a symbol no longer loaded: Binance's and Bybit's linear perps).
    """
    fills = journal.fills(venue=venue, since=now - timedelta(days=1))
    return sum(
        (f.amount * _contract_size(markets, f.symbol) * f.price for f in fills if f.forced is None),
        ZERO,
    )


def _contract_size(markets: Mapping[str, Market], symbol: str) -> Decimal:
    market = markets.get(symbol)
    return market.contract_size if market is not None else Decimal(1)

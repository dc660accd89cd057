"""Act on the legs before any hedge order: margin mode and leverage, and the margin guard."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from bot.core.domain import Market, OrderIntent, Position, Side
from bot.core.errors import RejectedError
from bot.core.planner import client_order_id
from bot.journal.store import Journal
from bot.margin.plan import plan_margin_actions
from bot.runtime.observe import Observation
from bot.runtime.orders import OrderManager
from bot.runtime.protection import apply_margin_actions
from bot.settings.config import Config
from bot.venue.base import Venue

log = logging.getLogger(__name__)

REBUILD_ATTEMPT = 2
"""Attempt number of the order closing a leg to rebuild it (the guard's cut is 1)."""


class LegKeeper:
    """Keeps every leg isolated at the configured leverage and away from liquidation.

    ``before_orders`` journals the cycle's rebalance row: called before any order these actions
    place, so that the order refers to its rebalance.
    """

    def __init__(
        self,
        config: Config,
        venue: Venue,
        journal: Journal,
        orders: OrderManager,
        markets: Mapping[str, Market],
    ) -> None:
        """Act through ``orders`` on the legs of ``markets`` (the observer's, kept current)."""
        self.config = config
        self.venue = venue
        self.journal = journal
        self.orders = orders
        self.markets = markets

    async def verify_settings(
        self,
        seen: Observation,
        rebalance_id: str,
        blocked: Mapping[str, str],
        notes: list[str],
        before_orders: Callable[[], None],
    ) -> dict[str, str]:
        """Fix legs whose margin mode or leverage drifted; return those the exchange refused."""
        leverage, refused = self.config.risk.leverage, {}
        for symbol, position in sorted(seen.positions.items()):
            if symbol in blocked:
                continue
            mode = position.margin_mode
            if (mode is None or mode == "isolated") and position.leverage == leverage:
                continue
            found = f"{mode or 'unknown'} margin at {position.leverage}x"
            try:
                await self.venue.setup_leg(symbol, leverage)
            except RejectedError as error:
                refused[symbol] = (
                    f"runs {found}, not isolated {leverage}x, and the exchange refused the fix "
                    f"({error})"
                )
                if mode == "cross" and position.short_contracts > 0:
                    # Binance keeps a position's margin mode: close it, reopen it isolated.
                    before_orders()
                    refused[symbol] += await self._rebuild(rebalance_id, position)
                else:
                    refused[symbol] += "; no order on this leg: set it by hand"
                message = f"{symbol}: {refused[symbol]}"
            else:
                message = f"{symbol}: found {found}; set back to isolated {leverage}x"
            notes.append(message)
            self.journal.record_event(
                "leg_settings", seen.time, message, {"symbol": symbol}, venue=self.venue.name
            )
        return refused

    async def _rebuild(self, rebalance_id: str, position: Position) -> str:
        """Close a short held in cross margin so that the next cycle reopens it isolated."""
        intent = OrderIntent(
            client_order_id=client_order_id(rebalance_id, position.symbol, REBUILD_ATTEMPT),
            symbol=position.symbol,
            side=Side.BUY,
            amount=position.contracts,
            reduce_only=True,
            reference_price=position.entry_price,
            contract_size=self.markets[position.symbol].contract_size,
            reason="close a short held in cross margin; reopened isolated next cycle",
        )
        done = await self.orders.execute_one(rebalance_id, intent)
        return f"; closing it to reopen it isolated: {done.status.value}"

    async def open_legs(
        self, intents: Sequence[OrderIntent], seen: Observation
    ) -> list[OrderIntent]:
        """Set isolated margin and leverage before an order opens a flat leg."""
        ready = []
        for intent in intents:
            if intent.symbol not in seen.positions:
                try:
                    await self.venue.setup_leg(intent.symbol, self.config.risk.leverage)
                except RejectedError as error:
                    log.error(
                        "%s: cannot set isolated margin and leverage: %s", intent.symbol, error
                    )
                    continue
            ready.append(intent)
        return ready

    async def guard_margins(
        self,
        seen: Observation,
        rebalance_id: str,
        blocked: Mapping[str, str],
        before_orders: Callable[[], None],
    ) -> list[str]:
        """Top up or cut positions near liquidation; return what was done.

        ``blocked`` legs (an order in flight, an implausible price, refused settings) are left
        alone: their figures cannot be trusted or another order is already working on them.
        """
        risk = self.config.risk
        positions = {s: p for s, p in seen.positions.items() if s not in blocked}
        if not risk.margin_guard or not positions:
            return []
        brackets = await self.venue.fetch_brackets(sorted(positions))
        marks = {s: q.mark_or_last for s, q in seen.quotes.items() if ":" in s}
        actions = plan_margin_actions(
            positions,
            marks,
            brackets.__getitem__,
            self.markets,
            seen.collateral,
            risk.liquidation_warning,
            risk.liquidation_target,
            risk.liquidation_critical,
            self.venue.liquidation_method,
        )
        if not actions:
            return []
        before_orders()
        return await apply_margin_actions(
            self.venue, self.journal, self.orders, rebalance_id, actions, seen.time
        )

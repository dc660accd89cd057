"""Act on the legs before any hedge order: margin mode and leverage, and the margin guard.

The guard's jump policy (``risk.margin_policy = "jumps"``) reads each leg asset's closes at most
once a day (`JumpHistory`, kept here with the time of each read) and journals a
``margin_policy`` event when it read them or when the free collateral stops (or starts again)
reaching a leg's required distance: `hedgebot status` shows the latest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from bot.core.domain import Bracket, Market, OrderIntent, Position, Side
from bot.core.errors import RejectedError, VenueError
from bot.core.planner import client_order_id
from bot.journal.store import Journal
from bot.margin.jumps import JumpHistory
from bot.margin.plan import MarginCoverage, margin_coverage, plan_margin_actions
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
        self.jumps = JumpHistory(venue.bar_seconds, config.interval_seconds)
        self._refreshed = False
        self._short_of: set[str] | None = None
        """Legs the collateral could not bring to their required distance at the last event."""

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
        required = await self.required_distances(sorted(positions), seen.time)
        brackets = await self.venue.fetch_brackets(sorted(positions))
        marks = {s: q.mark_or_last for s, q in seen.quotes.items() if ":" in s}
        self._journal_policy(seen, positions, marks, brackets, required)
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
            required,
        )
        if not actions:
            return []
        before_orders()
        return await apply_margin_actions(
            self.venue, self.journal, self.orders, rebalance_id, actions, seen.time
        )

    async def required_distances(self, symbols: Sequence[str], now: datetime) -> dict[str, Decimal]:
        """Return each leg's distance under the jump policy; {} under the fixed policy.

        ``jump_safety ×`` the larger rise of the leg's asset, never below the warning level nor
        above ``jump_distance_cap``; a leg whose asset has no history gets none. The closes of an
        asset are read once a day at most; a refused read keeps the last estimate and is tried
        again an hour later.
        """
        risk = self.config.risk
        if risk.margin_policy != "jumps":
            return {}
        bases = {s: self.markets[s].base for s in symbols if s in self.markets}
        due = self.jumps.due(bases.values(), now)
        if due:
            count = max(2, risk.jump_lookback_seconds // self.venue.bar_seconds)
            try:
                closes = await self.venue.fetch_closes(due, count)
            except VenueError as error:
                self.jumps.failed(due, now)
                log.warning(
                    "jump history of %s not read (%s); trying again in an hour",
                    ", ".join(due),
                    error,
                )
            else:
                for asset in due:
                    self.jumps.update(asset, closes.get(asset, []), now)
                self._refreshed = True
        required = {}
        for symbol, base in sorted(bases.items()):
            estimate = self.jumps.estimate(base)
            if estimate is not None:
                distance = max(estimate.distance(risk.jump_safety), risk.liquidation_warning)
                required[symbol] = min(distance, risk.jump_distance_cap)
        return required

    async def policy_notes(self, seen: Observation) -> list[str]:
        """Return one line per short on the jump policy: its required distance and coverage."""
        positions = dict(seen.positions)
        required = await self.required_distances(sorted(positions), seen.time)
        if not required:
            return []
        brackets = await self.venue.fetch_brackets(sorted(required))
        marks = {s: q.mark_or_last for s, q in seen.quotes.items() if ":" in s}
        coverage = self._coverage(positions, marks, brackets, required, seen.collateral)
        return [self._describe(c, seen.collateral) for c in coverage]

    def _coverage(
        self,
        positions: Mapping[str, Position],
        marks: Mapping[str, Decimal],
        brackets: Mapping[str, Sequence[Bracket]],
        required: Mapping[str, Decimal],
        free: Decimal,
    ) -> list[MarginCoverage]:
        """Return how far ``free`` collateral takes each short to its ``required`` distance."""
        method = self.venue.liquidation_method
        return margin_coverage(positions, marks, brackets.__getitem__, required, free, method)

    def _describe(self, item: MarginCoverage, free: Decimal) -> str:
        """Return what the jump policy asks of one leg and whether the collateral reaches it."""
        base = self.markets[item.symbol].base
        estimate = self.jumps.estimate(base)
        why = ""
        if estimate is not None:
            why = (
                f" ({self.config.risk.jump_safety}× the largest rise of {base} in "
                f"{estimate.days:,.0f} days: {estimate.interval_rise:.1%} in one "
                f"{self.config.interval} interval, {estimate.day_rise:.1%} in one day)"
            )
        now = "-" if item.distance is None else f"{item.distance:.1%}"
        if item.top_up <= 0:
            verdict = "reached"
        elif item.reachable:
            verdict = f"the guard adds {item.top_up:,.2f} margin from free collateral"
        else:
            verdict = (
                f"collateral cannot reach it: {item.top_up:,.2f} margin needed, {free:,.2f} free"
            )
        return (
            f"{item.symbol}: margin policy requires {item.required:.1%} from liquidation{why}; "
            f"now {now}: {verdict}"
        )

    def _journal_policy(
        self,
        seen: Observation,
        positions: Mapping[str, Position],
        marks: Mapping[str, Decimal],
        brackets: Mapping[str, Sequence[Bracket]],
        required: Mapping[str, Decimal],
    ) -> None:
        """Journal the jump policy's figures when re-read or when the collateral's reach changed."""
        if not required:
            return
        coverage = self._coverage(positions, marks, brackets, required, seen.collateral)
        short_of = {c.symbol for c in coverage if not c.reachable}
        if not self._refreshed and short_of == self._short_of:
            return
        newly_short = short_of - (self._short_of or set())
        self._refreshed, self._short_of = False, short_of
        legs, notes = [], []
        for item in coverage:
            estimate = self.jumps.estimate(self.markets[item.symbol].base)
            notes.append(self._describe(item, seen.collateral))
            legs.append(
                {
                    "symbol": item.symbol,
                    "required": item.required,
                    "distance": item.distance,
                    "top_up": item.top_up,
                    "reachable": item.reachable,
                    "interval_rise": estimate.interval_rise if estimate else None,
                    "day_rise": estimate.day_rise if estimate else None,
                    "days": estimate.days if estimate else None,
                    "read_at": estimate.read_at if estimate else None,
                    "note": notes[-1],
                }
            )
        message = "; ".join(notes)
        data = {"collateral": seen.collateral, "legs": legs}
        if newly_short:  # said once when a leg falls short, not at every re-read
            short = "; ".join(str(leg["note"]) for leg in legs if leg["symbol"] in newly_short)
            log.warning("margin policy: %s", short)
        self.journal.record_event("margin_policy", seen.time, message, data, venue=self.venue.name)

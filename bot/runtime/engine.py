"""The engine: observe → decide → act → record, once per interval.

One `cycle` is exactly what the one-shot `rebalance` command runs; `run` repeats it until told to
stop (SIGINT/SIGTERM set the stop event: the current cycle finishes, then the loop returns).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bot.core.clock import Clock
from bot.core.domain import (
    ZERO,
    HedgeTarget,
    Market,
    OrderIntent,
    Position,
    Quote,
    Side,
    base_of,
    perp_symbol,
    spot_symbol,
)
from bot.core.errors import AuthError, HedgebotError, RejectedError
from bot.core.limits import cap_order_size, cap_targets, cap_turnover, fit_to_margin, stale_quotes
from bot.core.planner import (
    LegAction,
    LegPlan,
    client_order_id,
    hold_blocked,
    plan_rebalance,
    with_resting,
)
from bot.core.plausibility import (
    Baseline,
    expected_positions,
    implausible_prices,
    signed_contracts,
    unexplained_changes,
)
from bot.journal.identity import JournalReplaced
from bot.journal.records import (
    PositionSnapshot,
    RebalanceRecord,
    RebalanceStatus,
    RunMode,
    targets_json,
    to_jsonable,
)
from bot.journal.store import Journal
from bot.margin.plan import plan_margin_actions
from bot.runtime.kill_switch import KillSwitch, kill_switch_for
from bot.runtime.logs import rebalance_id as current_rebalance
from bot.runtime.orders import Execution, OrderManager
from bot.runtime.protection import (
    apply_margin_actions,
    record_vanished,
    turnover_last_day,
    vanished_positions,
)
from bot.runtime.reconcile import Settlement, cancel_overshooting, settle_orders
from bot.settings.config import Config
from bot.venue.base import Venue
from strategies.base import HedgeDecision, HoldingView, Strategy, StrategyInput
from strategies.baskets import (
    LegWeight,
    Universe,
    history_bars,
    map_to_legs,
    possible_leg_assets,
)

log = logging.getLogger(__name__)

RETRY_AFTER_FAILURE = 30.0
"""Seconds before retrying a failed cycle; doubles per failure, capped at the interval."""

RECHECK_SECONDS = 10.0
"""Seconds before looking again when a cycle left something unsettled (an order in flight, an
implausible answer, a position change awaiting confirmation); capped at the interval."""

REBUILD_ATTEMPT = 2
"""Attempt number of the order closing a leg to rebuild it (the guard's cut is 1)."""

MAX_ATTEMPTS_PER_SLOT = 12
"""Orders per leg per interval slot at most: a leg that needs more waits for the next slot."""

STABLECOINS = frozenset({"USDT", "USDC", "FDUSD", "BUSD", "DAI", "TUSD", "USDP"})


@dataclass(frozen=True, slots=True)
class Observation:
    """What the venue showed at the start of a cycle."""

    time: datetime
    holdings: tuple[HoldingView, ...]
    quotes: Mapping[str, Quote]
    positions: Mapping[str, Position]
    collateral: Decimal
    history: Mapping[str, Sequence[Decimal]]
    history_interval_seconds: int
    """Seconds per bar of ``history``: the venue's candles, whatever the rebalance interval."""
    stale: tuple[str, ...]
    volumes: Mapping[str, Decimal] = field(default_factory=dict)
    """Perp asset -> 24h quote volume, from the perps' quotes that carry one."""
    funding_rates: Mapping[str, Decimal] = field(default_factory=dict)
    """Perp symbol -> current funding rate, fetched only for strategies that use it."""


@dataclass(frozen=True, slots=True)
class Decided:
    """What one decision step produced: decision, capped targets, order plans, limits' notes."""

    decision: HedgeDecision
    targets: tuple[HedgeTarget, ...]
    plans: list[LegPlan]
    notes: list[str]


@dataclass(frozen=True, slots=True)
class CycleReport:
    """Everything one cycle saw, decided and did."""

    rebalance_id: str
    time: datetime
    status: RebalanceStatus
    reason: str
    observation: Observation
    targets: tuple[HedgeTarget, ...] = ()
    plans: tuple[LegPlan, ...] = ()
    executions: tuple[Execution, ...] = ()
    new_fills: int = 0
    new_funding: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def spot_value(self) -> Decimal:
        """Return the insured spot value."""
        return sum((h.value for h in self.observation.holdings), ZERO)


def rebalance_slot(now: datetime, interval_seconds: int) -> datetime:
    """Return ``now`` floored to the interval grid (UTC epoch-aligned)."""
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % interval_seconds, UTC)


class Engine:
    """Keeps the hedge of one account on one venue."""

    def __init__(
        self,
        config: Config,
        venue: Venue,
        journal: Journal,
        strategy: Strategy,
        clock: Clock,
        mode: RunMode,
        *,
        kill_switch: KillSwitch | None = None,
    ) -> None:
        """Wire the parts; nothing is called on the venue until `prepare`.

        ``kill_switch``: the switch that halts orders; the config's own (`kill_switch_for`) when
        not given. A replay passes one of its own so that the live bot's switch never halts it.
        """
        self.config = config
        self.venue = venue
        self.journal = journal
        self.strategy = strategy
        self.clock = clock
        self.mode = mode
        self.orders = OrderManager(venue, journal, clock)
        self.markets: dict[str, Market] = {}
        self.proxies = {
            asset: [LegWeight(leg.asset, leg.weight) for leg in legs]
            for asset, legs in config.hedge.proxies.items()
        }
        self.baskets = config.hedge.baskets.rules(venue.bar_seconds)  # counted in history bars
        self._proxy_picks: Mapping[str, str] = {}
        self.kill_switch = kill_switch if kill_switch is not None else kill_switch_for(config)
        self._strategy_state: Mapping[str, Any] = {}
        self._last_cycle: tuple[dict[str, Decimal], datetime] | None = None
        self._in_doubt = True  # in-flight orders may exist: look them up before acting
        self._baseline: Baseline | None = None
        self._baseline_loaded = False
        self._unconfirmed: dict[str, tuple[Decimal, datetime]] = {}
        self._slot_cycles: tuple[str, int] | None = None
        self._traded: set[str] | None = None
        self.needs_recheck = False
        """True when the last cycle left something to look at again soon (see RECHECK_SECONDS)."""

    # -- observe ---------------------------------------------------------------------------
    async def _ensure_markets(self, assets: Sequence[str]) -> None:
        """Load the markets of the legs the holdings may need and of every leg we hold."""
        quote = self.config.hedge.quote
        allowed = self.config.hedge.perps
        wanted = {perp_symbol(a, quote) for a in assets if allowed is None or a in allowed}
        if not self.markets:  # a new process: a short whose holding is gone must still close
            wanted.update(self._held_symbols())
        for legs in self.proxies.values():
            wanted.update(perp_symbol(leg.asset, quote) for leg in legs)
        auto = self.baskets.auto_assets()
        wanted.update(perp_symbol(a, quote) for a in auto if allowed is None or a in allowed)
        missing = wanted - set(self.markets)
        if missing:
            self.markets.update(await self.venue.load_markets(sorted(missing)))

    def _held_symbols(self) -> set[str]:
        """Return the legs the journal says we hold: the baseline moved by the fills since."""
        self._restore_baseline()
        if self._baseline is None:
            snapshots = self.journal.latest_snapshots(self.venue.name)
            return {s.symbol for s in snapshots if s.contracts != 0}
        fills = self.journal.fills_after(self.venue.name, self._baseline.fill_watermark)
        return set(expected_positions(self._baseline, fills))

    def _leg_symbols(self, assets: Sequence[str], universe: Universe) -> list[str]:
        symbols = {
            perp_symbol(leg, self.config.hedge.quote)
            for asset in assets
            for leg in possible_leg_assets(asset, universe)
        }
        return sorted(symbols & set(self.markets))

    def _volumes(self, quotes: Mapping[str, Quote]) -> dict[str, Decimal]:
        """Return the 24h quote volume of each loaded perp whose quote carries one, by asset."""
        return {
            market.base: quote.quote_volume
            for symbol, market in self.markets.items()
            if (quote := quotes.get(symbol)) is not None and quote.quote_volume is not None
        }

    async def observe(self) -> Observation:
        """Read holdings, prices, positions and collateral from the venue."""
        quote = self.config.hedge.quote
        raw = [h for h in await self.venue.fetch_holdings() if h.asset not in STABLECOINS]
        assets = [h.asset for h in raw if h.amount > 0]
        await self._ensure_markets(assets)
        spot = [spot_symbol(a, quote) for a in assets]
        position_symbols = sorted(self.markets)  # every possible leg is a loaded market
        # Each leg's own spot price is read too (one batched call): its perp is checked against it.
        leg_spots = [spot_symbol(base_of(s), quote) for s in position_symbols]
        quotes = await self.venue.fetch_quotes(sorted(set(spot + leg_spots + position_symbols)))
        volumes = self._volumes(quotes)  # the liquidity the legs are chosen by
        perp_assets = {m.base for m in self.markets.values()}
        universe = Universe(perp_assets, self.proxies, self.baskets, volumes=volumes)
        legs = self._leg_symbols(assets, universe)
        positions = await self.venue.fetch_positions(position_symbols)
        collateral = await self.venue.fetch_collateral()
        now = self.clock.now()
        stale = stale_quotes(quotes, spot + legs, now, self.config.risk.max_price_age_seconds)
        holdings = tuple(
            HoldingView(h.asset, h.amount, quotes[spot_symbol(h.asset, quote)].price)
            for h in raw
            if h.amount > 0 and spot_symbol(h.asset, quote) in quotes
        )
        needs = self.strategy.needs
        bars = max(needs.history_bars, history_bars(assets, universe))
        extra = {self.markets[s].base for s in legs} | set(needs.history_assets)
        wanted = sorted(set(assets) | extra)
        history = await self.venue.fetch_closes(wanted, bars) if bars else {}
        bar_seconds = self.venue.bar_seconds
        rates = await self.venue.fetch_funding_rates(legs) if needs.uses_funding_rates else {}
        return Observation(
            now,
            holdings,
            quotes,
            positions,
            collateral,
            history,
            bar_seconds,
            tuple(stale),
            volumes,
            rates,
        )

    async def sync_journal(self) -> tuple[int, int]:
        """Journal fills and funding the venue reports since the last journaled ones."""
        venue = self.venue.name
        if self._traded is None:  # a new process: every symbol we ever traded may have news
            self._traded = self.journal.traded_symbols(venue)
        symbols = sorted(set(self.markets) | self._traded)
        fills = await self.venue.fetch_fills(symbols, self.journal.last_fill_times(venue))
        funding = await self.venue.fetch_funding(self.journal.last_funding_time(venue))
        return self.journal.record_fills(fills), self.journal.record_funding(funding)

    # -- decide ----------------------------------------------------------------------------
    def decide(
        self,
        rebalance_id: str,
        seen: Observation,
        turnover_used: Decimal,
        resting: Mapping[str, Decimal] | None = None,
        blocked: Mapping[str, str] | None = None,
    ) -> Decided:
        """Ask the strategy, map to legs, apply the limits and plan the orders.

        ``resting`` (signed contracts of our resting orders) counts toward each leg's position;
        ``blocked`` legs (an order in flight, an implausible price) get no order, with the reason.
        """
        view = StrategyInput(
            time=seen.time,
            holdings=seen.holdings,
            positions=seen.positions,
            history=seen.history,
            history_interval_seconds=seen.history_interval_seconds,
            funding_rates=seen.funding_rates,
            external=self.config.inputs,
            state=self._strategy_state,
        )
        decision = self.strategy.decide(view)
        perp_assets = {m.base for m in self.markets.values()}
        mapping = map_to_legs(
            decision,
            seen.holdings,
            perp_assets,
            self.proxies,
            self.config.hedge.quote,
            rules=self.baskets,
            history=seen.history,
            volumes=seen.volumes,
            picks=self._proxy_picks,
        )
        self._proxy_picks = mapping.picks
        risk = self.config.risk
        guarded = cap_targets(
            mapping.targets, view.total_value, risk.max_total_notional, risk.max_hedge_ratio
        )
        prices = {s: q.mark_or_last for s, q in seen.quotes.items() if ":" in s}
        plans = plan_rebalance(
            rebalance_id,
            guarded.targets,
            with_resting(seen.positions, resting or {}),
            prices,
            self.markets,
            self.config.hedge.deadband,
        )
        steps = {s: m.amount_step for s, m in self.markets.items()}
        plans, clipped = cap_order_size(plans, risk.max_order_notional, steps)
        plans, churn = cap_turnover(plans, turnover_used, risk.max_daily_turnover, steps)
        plans, unfunded = fit_to_margin(plans, seen.collateral, risk.leverage, self.markets)
        plans = [hold_blocked(p, (blocked or {}).get(p.symbol)) for p in plans]
        notes = [*mapping.unhedged, *guarded.notes, *clipped, *churn, *unfunded]
        return Decided(decision, guarded.targets, plans, notes)

    # -- ids -------------------------------------------------------------------------------
    def slot_id(self, now: datetime) -> str:
        """Return the id of the interval slot at ``now``, at the interval's own resolution."""
        slot = rebalance_slot(now, self.config.interval_seconds)
        return f"{slot:%Y%m%dT%H%M%S}-{self.venue.name}-{self.config.exchange.account}"

    def _next_rebalance_id(self, slot: str) -> str:
        """Return a rebalance id unique in the journal: the slot, then ``slot-#2``, ``slot-#3``."""
        if self._slot_cycles is None:  # a new process: the slot may have cycles already
            count = 1 + self.journal.count_rebalances_in_slot(slot)
        elif self._slot_cycles[0] == slot:
            count = self._slot_cycles[1] + 1
        else:
            count = 1
        self._slot_cycles = (slot, count)
        return slot if count == 1 else f"{slot}-#{count}"

    def _order_id(self, slot: str, symbol: str) -> str | None:
        """Return the leg's next unused client order id in this slot (deterministic)."""
        for attempt in range(MAX_ATTEMPTS_PER_SLOT):
            cid = client_order_id(slot, symbol, attempt)
            if self.journal.get_order(cid) is None:
                return cid
        return None

    def _number_orders(self, slot: str, plans: Sequence[LegPlan]) -> list[LegPlan]:
        """Give every planned order the leg's next attempt id in the slot."""
        numbered = []
        for plan in plans:
            if plan.intent is None:
                numbered.append(plan)
                continue
            cid = self._order_id(slot, plan.symbol)
            if cid is None:
                reason = (
                    f"{MAX_ATTEMPTS_PER_SLOT} orders on this leg in this interval already; "
                    "waiting for the next interval"
                )
                numbered.append(replace(plan, action=LegAction.SKIP, reason=reason, intent=None))
                continue
            numbered.append(replace(plan, intent=replace(plan.intent, client_order_id=cid)))
        return numbered

    # -- one cycle -------------------------------------------------------------------------
    async def cycle(self, *, dry_run: bool = False) -> CycleReport:
        """Run observe → decide → act → record once; ``dry_run`` only observes and plans."""
        slot = self.slot_id(self.clock.now())
        rid = slot if dry_run else self._next_rebalance_id(slot)
        current_rebalance.set(rid)  # every log line of this cycle carries it
        settled = Settlement()
        new_fills, new_funding = (0, 0) if dry_run else await self.sync_journal()
        if not dry_run and self._in_doubt:
            # First cycle, or the last one left an order in flight: settle it on evidence
            # (after the sync, so the trades of an order the exchange forgot are journaled).
            settled = await settle_orders(
                self.venue, self.journal, self.clock.now(), self.config.risk.order_settle_seconds
            )
        if not dry_run:
            self._in_doubt = True  # until this cycle ends cleanly
        seen = await self.observe()
        report = CycleReport(
            rid,
            seen.time,
            RebalanceStatus.PLANNED,
            "",
            seen,
            new_fills=new_fills,
            new_funding=new_funding,
        )
        if dry_run:
            return await self._plan_only(report)
        seen, doubt, checked = await self._check_positions_plausible(seen)
        seen, implausible = await self._check_prices(seen)
        blocked = {**implausible, **settled.waiting}
        notes = [*settled.notes, *checked, *self._check_positions(seen)]
        notes += [
            f"{symbol}: {why}"
            for symbol, why in sorted(blocked.items())
            if symbol not in settled.waiting
        ]
        report = replace(report, observation=seen)
        if doubt is not None:
            return await self._skip(report, doubt, notes)
        if seen.stale:
            reason = "refused to act on stale or missing prices: " + "; ".join(seen.stale)
            return await self._skip(report, reason, notes)
        halted = self.kill_switch.reason()
        if halted is None:
            checks = replace(report, observation=seen, reason="leg settings")
            blocked.update(await self._verify_leg_settings(checks, blocked, notes))
            guarded = await self._guard_margins(replace(report, reason="risk checks"), blocked)
            if guarded:  # the guard moved margin or cut: plan from the positions as they are now
                notes += guarded
                seen = await self.observe()
                self._accept(seen)
        turnover = turnover_last_day(self.journal, self.venue.name, seen.time, self.markets)
        decided = self.decide(rid, seen, turnover, settled.resting, blocked)
        decision, targets, planned = decided.decision, decided.targets, decided.notes
        plans = decided.plans
        plans = self._number_orders(slot, plans)
        overshoot = [
            p.symbol
            for p in plans
            if p.target_notional < p.current_notional * (1 - self.config.hedge.deadband)
            and settled.resting.get(p.symbol, ZERO) < 0
        ]
        if overshoot and halted is None:
            notes += await cancel_overshooting(
                self.venue, self.journal, settled, overshoot, seen.time
            )
        report = replace(
            report,
            observation=seen,
            reason=decision.reason,
            targets=targets,
            plans=tuple(plans),
            notes=tuple(notes + planned),
        )
        self._record(report, decision)
        intents = [p.intent for p in plans if p.intent is not None]
        if halted is not None:
            status = RebalanceStatus.HALTED
            report = replace(
                report,
                reason=(
                    f"kill switch on: {halted}; no order placed (file "
                    f"{self.kill_switch.halted_by() or self.kill_switch.path}; "
                    "`hedgebot resume` lifts it)"
                ),
                notes=(*report.notes, f"kill switch on: {halted}"),
            )
        elif intents:
            intents = await self._open_legs(intents, seen)
            executions = await self.orders.execute(rid, intents)
            report = replace(report, executions=tuple(executions))
            status, report = self._outcome(report, executions)
        else:
            status = RebalanceStatus.HELD
        self._strategy_state = decision.state
        finished = await self._finish(replace(report, status=status), decision, snapshot=True)
        unsettled = self.orders.take_unsettled() or settled.in_doubt
        self._in_doubt = unsettled
        self.needs_recheck = unsettled or bool(blocked)
        return finished

    def _outcome(
        self, report: CycleReport, executions: Sequence[Execution]
    ) -> tuple[RebalanceStatus, CycleReport]:
        """Return the status of a cycle that placed orders; failures say why."""
        failed = [e for e in executions if e.result is None]
        if not failed:
            return RebalanceStatus.DONE, report
        status = (
            RebalanceStatus.PARTIAL if len(failed) < len(executions) else (RebalanceStatus.FAILED)
        )
        why = "; ".join(f"{e.intent.symbol}: {e.status.value}: {e.reason}" for e in failed)
        return status, replace(report, reason=f"{report.reason}; orders not done: {why}")

    async def _skip(self, report: CycleReport, reason: str, notes: list[str]) -> CycleReport:
        """Journal a cycle that acted on nothing, and look again soon."""
        skipped = replace(report, status=RebalanceStatus.SKIPPED, reason=reason, notes=tuple(notes))
        log.warning("acting on nothing: %s", reason)
        finished = await self._finish(skipped, None)
        self._in_doubt = True
        self.needs_recheck = True
        return finished

    async def _plan_only(self, report: CycleReport) -> CycleReport:
        seen = report.observation
        if seen.stale:
            reason = "refused to act on stale or missing prices: " + "; ".join(seen.stale)
            return replace(report, status=RebalanceStatus.SKIPPED, reason=reason)
        decided = self.decide(report.rebalance_id, seen, ZERO)
        return replace(
            report,
            status=RebalanceStatus.DRY_RUN,
            reason=decided.decision.reason,
            targets=decided.targets,
            plans=tuple(decided.plans),
            notes=tuple(decided.notes),
        )

    # -- plausibility ----------------------------------------------------------------------
    async def _check_prices(self, seen: Observation) -> tuple[Observation, dict[str, str]]:
        """Return the quotes to use and the legs whose perp price is implausible against spot.

        An implausible price is read once more; if it still is, its leg gets no order and no
        margin action this cycle.
        """
        quote, max_basis = self.config.hedge.quote, self.config.risk.max_basis
        legs = [s for s in seen.quotes if ":" in s]
        bad = implausible_prices(seen.quotes, legs, quote, max_basis)
        if not bad:
            return seen, {}
        again = sorted({*bad, *(spot_symbol(base_of(s), quote) for s in bad)})
        quotes = {**seen.quotes, **await self.venue.fetch_quotes(again)}
        seen = replace(seen, quotes=quotes)
        bad = implausible_prices(quotes, list(bad), quote, max_basis)
        for symbol, why in bad.items():
            self.journal.record_event(
                "implausible_price",
                seen.time,
                f"{symbol}: {why}",
                {"symbol": symbol},
                venue=self.venue.name,
            )
        return seen, bad

    def _restore_baseline(self) -> None:
        """On a process's first cycle, take the baseline the last cycle journaled."""
        if self._baseline_loaded:
            return
        self._baseline_loaded = True
        for row in reversed(self.journal.rebalances(limit=20, venue=self.venue.name)):
            found = Baseline.from_json((row.inputs or {}).get("baseline"))
            if found is not None:
                self._baseline = found
                return

    async def _check_positions_plausible(
        self, seen: Observation
    ) -> tuple[Observation, str | None, list[str]]:
        """Check positions against the baseline moved by the fills journaled since.

        A change no fill explains is re-read after pulling fills again; a read that returns to
        the baseline was a blip; one that holds is acted on only once it has held for
        ``confirm_unexplained``. Returns the observation to use, a reason to act on nothing
        (or None), and notes.
        """
        self._restore_baseline()
        if self._baseline is None:
            self._accept(seen)
            return seen, None, []
        actual = signed_contracts(seen.positions)
        changes = self._unexplained(actual)
        if not changes:
            self._accept(seen)
            return seen, None, []
        await self.sync_journal()  # the exchange may show fills it had not reported yet
        reread = await self.venue.fetch_positions(sorted(set(seen.positions) | set(changes)))
        seen = replace(seen, positions=reread)
        again = self._unexplained(signed_contracts(reread))
        if not again:
            self._accept(seen)
            return seen, None, ["a position read no fill explained was re-read and is consistent"]
        now, wait = self.clock.now(), self.config.risk.confirm_unexplained_seconds
        held: list[str] = []
        for symbol, (expected, reported) in again.items():
            first = changes.get(symbol, (expected, reported))[1]
            since = self._unconfirmed.get(symbol)
            if since is None or since[0] != reported or first != reported:
                self._unconfirmed[symbol] = (reported, now)
                held.append(
                    f"{symbol}: the exchange shows {reported} contracts, {expected} expected "
                    f"from the last look and the fills since; no fill explains it"
                )
            elif (now - since[1]).total_seconds() < wait:
                held.append(
                    f"{symbol}: {reported} contracts (expected {expected}) unexplained for "
                    f"{(now - since[1]).total_seconds():.0f} s; acting after {wait} s unchanged"
                )
        if held:
            reason = "positions look implausible; acting on nothing: " + "; ".join(held)
            return seen, reason, []
        notes = []
        for symbol, (expected, reported) in again.items():
            message = (
                f"{symbol}: the exchange has shown {reported} contracts (expected {expected}) "
                f"unchanged for {wait} s with no fill to explain it; taken as the truth"
            )
            notes.append(message)
            self.journal.record_event(
                "position_mismatch",
                seen.time,
                message,
                to_jsonable({"symbol": symbol, "expected": expected, "actual": reported}),
                venue=self.venue.name,
            )
            self._unconfirmed.pop(symbol, None)
        self._accept(seen)
        return seen, None, notes

    def _unexplained(self, actual: Mapping[str, Decimal]) -> dict[str, tuple[Decimal, Decimal]]:
        assert self._baseline is not None
        fills = self.journal.fills_after(self.venue.name, self._baseline.fill_watermark)
        return unexplained_changes(expected_positions(self._baseline, fills), actual)

    def _accept(self, seen: Observation) -> None:
        """Take ``seen``'s positions as the baseline (with the fills journaled so far)."""
        self._unconfirmed = {}
        self._baseline = Baseline(
            signed_contracts(seen.positions), self.journal.fill_watermark(self.venue.name)
        )

    # -- act -------------------------------------------------------------------------------
    async def _verify_leg_settings(
        self, report: CycleReport, blocked: Mapping[str, str], notes: list[str]
    ) -> dict[str, str]:
        """Fix legs whose margin mode or leverage drifted; return those the exchange refused."""
        seen = report.observation
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
                    refused[symbol] += await self._rebuild(report, position)
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

    async def _rebuild(self, report: CycleReport, position: Position) -> str:
        """Close a short held in cross margin so that the next cycle reopens it isolated."""
        self._record(report, None)  # the closing order refers to its rebalance
        intent = OrderIntent(
            client_order_id=client_order_id(report.rebalance_id, position.symbol, REBUILD_ATTEMPT),
            symbol=position.symbol,
            side=Side.BUY,
            amount=position.contracts,
            reduce_only=True,
            reference_price=position.entry_price,
            contract_size=self.markets[position.symbol].contract_size,
            reason="close a short held in cross margin; reopened isolated next cycle",
        )
        done = await self.orders.execute_one(report.rebalance_id, intent)
        return f"; closing it to reopen it isolated: {done.status.value}"

    async def _open_legs(
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

    async def _finish(
        self, report: CycleReport, decision: HedgeDecision | None, snapshot: bool = False
    ) -> CycleReport:
        """Journal the rebalance; after acting, snapshot positions as the next cycle's baseline."""
        self._record(report, decision)
        placed = sum(1 for e in report.executions if e.result is not None)
        log.info(
            "cycle %s: spot %.2f, target short %.2f, %d order(s) placed, %d new fill(s), "
            "%d funding payment(s); %s",
            report.status.value,
            report.spot_value,
            sum((t.notional for t in report.targets), ZERO),
            placed,
            report.new_fills,
            report.new_funding,
            report.reason,
        )
        if snapshot:
            after = await self._snapshot(report.rebalance_id, report.targets, report.observation)
            # Fills journaled from now on were not in this snapshot (``since`` is inclusive).
            self._last_cycle = (after, self.clock.now() + timedelta(microseconds=1))
        return report

    def _check_positions(self, seen: Observation) -> list[str]:
        """Journal positions that shrank or vanished since the last cycle without our orders."""
        if self._last_cycle is None:
            return []
        before, since = self._last_cycle
        vanished = vanished_positions(before, seen.positions, self.journal, self.venue.name, since)
        return record_vanished(self.journal, self.venue.name, vanished, seen.time)

    async def _guard_margins(self, report: CycleReport, blocked: Mapping[str, str]) -> list[str]:
        """Top up or cut positions near liquidation; journal the rebalance first if acting.

        ``blocked`` legs (an order in flight, an implausible price, refused settings) are left
        alone: their figures cannot be trusted or another order is already working on them.
        """
        seen, risk = report.observation, self.config.risk
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
        self._record(report, None)  # a cut's order refers to its rebalance
        return await apply_margin_actions(
            self.venue, self.journal, self.orders, report.rebalance_id, actions, seen.time
        )

    def _record(self, report: CycleReport, decision: HedgeDecision | None) -> None:
        seen = report.observation
        inputs: dict[str, Any] = {
            "holdings": {
                h.asset: {"amount": h.amount, "price": h.price, "value": h.value}
                for h in seen.holdings
            },
            "perp_prices": {s: q.mark_or_last for s, q in seen.quotes.items() if ":" in s},
            "positions": {
                s: {
                    "short_contracts": p.short_contracts,
                    "entry": p.entry_price,
                    "margin": p.isolated_margin,
                }
                for s, p in seen.positions.items()
            },
            "collateral": seen.collateral,
            "strategy": dict(decision.inputs) if decision else {},
        }
        if self._baseline is not None:  # restored by the next process (`_restore_baseline`)
            inputs["baseline"] = self._baseline.to_json()
        targets = targets_json(report.targets)
        self.journal.record_rebalance(
            RebalanceRecord(
                id=report.rebalance_id,
                time=report.time,
                mode=self.mode,
                venue=self.venue.name,
                strategy=self.strategy.name,
                inputs=inputs,  # made JSON-safe by the journal
                targets=targets,
                reason=report.reason,
                status=report.status,
                note="; ".join(report.notes) or None,
            )
        )

    async def _snapshot(
        self, rebalance_id: str, targets: Sequence[HedgeTarget], seen: Observation
    ) -> dict[str, Decimal]:
        """Journal each leg's position after acting; return signed contracts per symbol."""
        symbols = sorted({t.symbol for t in targets} | set(seen.positions))
        if not symbols:
            return {}
        positions = await self.venue.fetch_positions(symbols)
        wanted = {t.symbol: t for t in targets}
        snapshots = []
        for symbol in symbols:
            position = positions.get(symbol)
            quote = seen.quotes.get(symbol)
            target = wanted.get(symbol)
            snapshots.append(
                PositionSnapshot(
                    time=seen.time,
                    venue=self.venue.name,
                    symbol=symbol,
                    contracts=position.signed_contracts if position else ZERO,
                    entry_price=position.entry_price if position else ZERO,
                    mark_price=quote.mark_or_last if quote else ZERO,
                    isolated_margin=position.isolated_margin if position else ZERO,
                    leverage=position.leverage if position else self.config.risk.leverage,
                    liquidation_price=position.liquidation_price if position else None,
                    target_notional=target.notional if target else ZERO,
                    hedged_value=sum((v for _, v in target.sources), ZERO) if target else None,
                    rebalance_id=rebalance_id,
                )
            )
        self.journal.record_snapshots(snapshots)
        return {s: p.signed_contracts for s, p in positions.items()}

    # -- the loop --------------------------------------------------------------------------
    async def run(
        self,
        stop: asyncio.Event,
        until: datetime | None = None,
        on_cycle: Callable[[CycleReport], Awaitable[None] | None] | None = None,
        max_cycles: int | None = None,
    ) -> int:
        """Repeat `cycle` every interval until stopped, past ``until`` or after ``max_cycles``."""
        cycles = 0
        interval = self.config.interval_seconds
        failures = 0
        while not stop.is_set() and (until is None or self.clock.now() <= until):
            try:
                report = await self.cycle()
            except JournalReplaced:  # another journal now: nothing more may be written
                raise
            except AuthError:  # refused keys are not transient: stop and say so
                raise
            except HedgebotError as error:  # venue down, journal locked: retry soon, never crash
                failures += 1
                wait = min(interval, RETRY_AFTER_FAILURE * 2 ** min(failures - 1, 6))
                log.error(
                    "cycle failed (%s: %s); retrying in %.0f s", type(error).__name__, error, wait
                )
                await self._sleep(wait, stop)
                continue
            failures = 0
            cycles += 1
            if on_cycle is not None:
                maybe = on_cycle(report)
                if maybe is not None:
                    await maybe
            if max_cycles is not None and cycles >= max_cycles:
                break
            next_slot = rebalance_slot(self.clock.now(), interval) + timedelta(seconds=interval)
            wait = (next_slot - self.clock.now()).total_seconds()
            if self.needs_recheck:  # an order in flight or a doubt: look again soon
                wait = min(wait, RECHECK_SECONDS)
            await self._sleep(wait, stop)
        try:
            await self.sync_journal()
        except HedgebotError as error:
            log.error("final journal sync failed: %s", error)
        return cycles

    async def _sleep(self, seconds: float, stop: asyncio.Event) -> None:
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        stopper = asyncio.ensure_future(stop.wait())
        _, pending = await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()

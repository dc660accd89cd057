"""The engine: observe → check → decide → act → record, once per interval.

One `cycle` is exactly what the one-shot `rebalance` command runs; `run` repeats it until told to
stop (SIGINT/SIGTERM set the stop event: the current cycle finishes, then the loop returns).
Each step has its module: `observe` (what the venue shows), `checks` (act on nothing
implausible), `decide` (strategy, legs, limits, plans), `legs` (margin mode, leverage, margin
guard), `orders` and `reconcile` (placing and settling); the journal builds its own rows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bot.core.clock import Clock, from_ms
from bot.core.domain import ZERO, HedgeTarget, Position
from bot.core.errors import AuthError, HedgebotError
from bot.core.planner import LegAction, LegPlan, client_order_id
from bot.journal.identity import JournalReplaced
from bot.journal.records import CycleRecord, RebalanceStatus, RunMode, position_snapshots
from bot.journal.store import Journal
from bot.runtime.checks import PositionWatch, check_prices
from bot.runtime.decide import Decided, Decider
from bot.runtime.kill_switch import KillSwitch, kill_switch_for
from bot.runtime.legs import LegKeeper
from bot.runtime.logs import rebalance_id as current_rebalance
from bot.runtime.observe import Observation, Observer
from bot.runtime.orders import Execution, OrderManager
from bot.runtime.protection import turnover_last_day
from bot.runtime.reaction import Reactor
from bot.runtime.reconcile import Settlement, cancel_overshooting, settle_orders
from bot.settings.config import Config
from bot.venue.base import Venue
from strategies.base import HedgeDecision, Strategy

log = logging.getLogger(__name__)

RETRY_AFTER_FAILURE = 30.0
"""Seconds before retrying a failed cycle; doubles per failure, capped at the interval."""

MAX_FUNDING_INTERVAL = timedelta(hours=8)
"""The longest time between fundings on Binance and Bybit: a later announced one is not trusted."""
RECHECK_SECONDS = 10.0
"""Seconds before looking again when a cycle left something unsettled (an order in flight, an
implausible answer, a position change awaiting confirmation); capped at the interval."""

MAX_ATTEMPTS_PER_SLOT = 12
"""Orders per leg per interval slot at most: a leg that needs more waits for the next slot."""


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
        orders: OrderManager | None = None,
        kill_switch: KillSwitch | None = None,
    ) -> None:
        """Wire the parts; nothing is called on the venue until the first cycle.

        ``orders``: the order manager every order goes through; one on ``venue`` and ``journal``
        when not given. ``kill_switch``: the switch that halts orders; the config's own
        (`kill_switch_for`) when not given. A replay passes one of its own so that the live
        bot's switch never halts it.
        """
        self.config = config
        self.venue = venue
        self.journal = journal
        self.strategy = strategy
        self.clock = clock
        self.mode = mode
        self.orders = orders if orders is not None else OrderManager(venue, journal, clock)
        self.kill_switch = kill_switch if kill_switch is not None else kill_switch_for(config)
        self.watch = PositionWatch(venue, journal, clock, config.risk.confirm_unexplained_seconds)
        self.observer = Observer(config, venue, clock, strategy.needs, self.watch.held_legs)
        self.decider = Decider(config, strategy, self.observer)
        self.legs = LegKeeper(config, venue, journal, self.orders, self.observer.markets)
        self._in_doubt = True  # in-flight orders may exist: look them up before acting
        self._slot_cycles: tuple[str, int] | None = None
        self._traded: set[str] | None = None
        self.needs_recheck = False
        """True when the last cycle left something to look at again soon (see RECHECK_SECONDS)."""
        self.positions: dict[str, Position] = {}
        self.last_cycle_seconds: float | None = None
        """Wall seconds the loop's last successful cycle took (None before one)."""
        self._next_funding: datetime | None = None
        """No funding is paid before this (streamed at the last funding read); None: read."""
        """The legs as the last cycle left them (read after acting), liquidation prices too."""

    async def observe(self) -> Observation:
        """Read the account's state from the venue (see `Observer.observe`)."""
        return await self.observer.observe()

    def decide(
        self,
        rebalance_id: str,
        seen: Observation,
        turnover_used: Decimal,
        resting: dict[str, Decimal] | None = None,
        blocked: dict[str, str] | None = None,
    ) -> Decided:
        """Decide on ``seen`` (see `Decider.decide`)."""
        return self.decider.decide(rebalance_id, seen, turnover_used, resting, blocked)

    async def sync_journal(self, *, funding_due: bool = False) -> tuple[int, int]:
        """Journal fills and funding the venue reports since the last journaled ones.

        Funding is read unless the streams announced, at the last read, a next funding time
        of every held leg that has not come yet (``funding_due`` reads it anyway).
        """
        venue = self.venue.name
        if self._traded is None:  # a new process: every symbol we ever traded may have news
            self._traded = self.journal.traded_symbols(venue)
        symbols = sorted(set(self.observer.markets) | self._traded)
        fills = await self.venue.fetch_fills(symbols, self.journal.last_fill_times(venue))
        new_fills = self.journal.record_fills(fills)
        skip_until = None if funding_due else self._next_funding
        if skip_until is not None and self.clock.now() < skip_until:
            return new_fills, 0
        announced = self._announced_funding()
        funding = await self.venue.fetch_funding(self.journal.last_funding_time(venue))
        self._next_funding = announced
        return new_fills, self.journal.record_funding(funding)

    def _announced_funding(self) -> datetime | None:
        """Return the earliest next funding time the streams announce for the held legs.

        None (read every cycle) without streams, without legs, when a leg has no fresh one, or
        when it is not within `MAX_FUNDING_INTERVAL` from now (implausible: not trusted).
        """
        streamed = self.observer.stream_prices() if self.observer.stream_prices else {}
        times = [streamed[s].next_funding_ms if s in streamed else None for s in self.positions]
        if not times or None in times:
            return None
        earliest = from_ms(min(t for t in times if t is not None))
        now = self.clock.now()
        return earliest if now < earliest <= now + MAX_FUNDING_INTERVAL else None

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
        """Run observe → check → decide → act → record once; ``dry_run`` only observes and plans."""
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
            return self._plan_only(report)
        checked = await self.watch.check(seen, self.sync_journal)
        risk = self.config.risk
        seen, implausible = await check_prices(
            self.venue, self.journal, checked.seen, self.config.hedge.quote, risk.max_basis
        )
        blocked = {**implausible, **settled.waiting}
        notes = [*settled.notes, *checked.notes, *self.watch.vanished(seen)]
        notes += [
            f"{symbol}: {why}"
            for symbol, why in sorted(blocked.items())
            if symbol not in settled.waiting
        ]
        report = replace(report, observation=seen)
        if checked.doubt is not None:
            return await self._skip(report, checked.doubt, notes)
        if seen.stale:
            reason = "refused to act on stale or missing prices: " + "; ".join(seen.stale)
            return await self._skip(report, reason, notes)
        halted = self.kill_switch.reason()
        if halted is None:
            seen = await self._act_on_legs(report, blocked, notes)
        markets = self.observer.markets
        turnover = turnover_last_day(self.journal, self.venue.name, seen.time, markets)
        decided = self.decide(rid, seen, turnover, settled.resting, blocked)
        plans = self._number_orders(slot, decided.plans)
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
            reason=decided.decision.reason,
            targets=decided.targets,
            plans=tuple(plans),
            notes=tuple(notes + decided.notes),
        )
        self._record(report, decided.decision)
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
            intents = await self.legs.open_legs(intents, seen)
            executions = await self.orders.execute(rid, intents)
            report = replace(report, executions=tuple(executions))
            status, report = self._outcome(report, executions)
        else:
            status = RebalanceStatus.HELD
        self.decider.commit(decided.decision)
        finished = await self._finish(
            replace(report, status=status), decided.decision, snapshot=True
        )
        unsettled = self.orders.take_unsettled() or settled.in_doubt
        self._in_doubt = unsettled
        self.needs_recheck = unsettled or bool(blocked)
        return finished

    async def _act_on_legs(
        self, report: CycleReport, blocked: dict[str, str], notes: list[str]
    ) -> Observation:
        """Fix drifted leg settings and guard margins; return the observation to plan from.

        Legs whose settings the exchange refused join ``blocked``. When the guard moved margin
        or cut, the account is observed again: the plan starts from the positions as they are.
        """
        seen, rid = report.observation, report.rebalance_id
        settings = replace(report, reason="leg settings")
        blocked.update(
            await self.legs.verify_settings(
                seen, rid, blocked, notes, lambda: self._record(settings, None)
            )
        )
        checks = replace(report, reason="risk checks")
        guarded = await self.legs.guard_margins(
            seen, rid, blocked, lambda: self._record(checks, None)
        )
        if not guarded:
            return seen
        notes += guarded
        seen = await self.observe()
        self.watch.accept(seen)
        return seen

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

    def _plan_only(self, report: CycleReport) -> CycleReport:
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

    # -- record ----------------------------------------------------------------------------
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
            after, since = await self._snapshot(
                report.rebalance_id, report.targets, report.observation
            )
            self.watch.after_cycle(after, since)
        return report

    def _record(self, report: CycleReport, decision: HedgeDecision | None) -> None:
        """Journal the cycle as its rebalance row (the journal builds the row)."""
        seen = report.observation
        self.journal.record_cycle(
            CycleRecord(
                id=report.rebalance_id,
                time=report.time,
                mode=self.mode,
                venue=self.venue.name,
                strategy=self.strategy.name,
                holdings=seen.holdings,
                quotes=seen.quotes,
                positions=seen.positions,
                collateral=seen.collateral,
                targets=report.targets,
                reason=report.reason,
                status=report.status,
                strategy_inputs=decision.inputs if decision else {},
                baseline=self.watch.baseline,
                notes=report.notes,
            )
        )

    async def _snapshot(
        self, rebalance_id: str, targets: Sequence[HedgeTarget], seen: Observation
    ) -> tuple[dict[str, Decimal], datetime]:
        """Journal each leg's position after acting.

        Return signed contracts per symbol, and the time from which a journaled fill is news to
        them. When the cycle sent nothing since ``seen``'s positions were read, that read is
        still the account as we left it: it is the snapshot, and fills from its time on are news.
        """
        symbols = sorted({t.symbol for t in targets} | set(seen.positions))
        read = seen.positions_read
        if read is not None and read[1] == self.venue.writes:
            positions, since = dict(seen.positions), read[0]
        else:
            since = self.clock.now()
            positions = await self.venue.fetch_positions(symbols) if symbols else {}
        since += timedelta(microseconds=1)  # ``since`` is inclusive: the read saw what was then
        if not symbols:
            return {}, since
        self.positions = dict(positions)
        leverage = self.config.risk.leverage
        self.journal.record_snapshots(
            position_snapshots(
                rebalance_id,
                seen.time,
                self.venue.name,
                positions,
                seen.quotes,
                targets,
                symbols,
                leverage,
            )
        )
        return {s: p.signed_contracts for s, p in positions.items()}, since

    # -- the loop --------------------------------------------------------------------------
    async def run(
        self,
        stop: asyncio.Event,
        until: datetime | None = None,
        on_cycle: Callable[[CycleReport], Awaitable[None] | None] | None = None,
        max_cycles: int | None = None,
        reactor: Reactor | None = None,
        recheck_seconds: float = RECHECK_SECONDS,
        give_up_after: int | None = None,
    ) -> int:
        """Repeat `cycle` every interval until stopped, past ``until`` or after ``max_cycles``.

        A cycle that left something unsettled (an order in flight, a doubt, stale prices) is
        followed by another after ``recheck_seconds``; a replay passes its bar length, since
        nothing it reads changes sooner.

        A failed cycle is retried with back-off, forever unless ``give_up_after`` consecutive
        failures raise the last one: a replay passes 1, since its clock runs on without waiting
        for anything to heal (a full disk would fail every cycle of the rest of the period).

        With a ``reactor`` (the exchange's streams), a cycle also runs as soon as it asks for
        one, and the loop waits at most its poll period while the streams are down.
        """
        cycles = 0
        interval = self.config.interval_seconds
        failures = 0
        self.observer.stream_prices = reactor.fresh_prices if reactor is not None else None
        while not stop.is_set() and (until is None or self.clock.now() <= until):
            if reactor is not None:
                reactor.cycle_started()
            started = time.monotonic()
            try:
                report = await self.cycle()
            except JournalReplaced:  # another journal now: nothing more may be written
                raise
            except AuthError:  # refused keys are not transient: stop and say so
                raise
            except HedgebotError as error:  # venue down, journal locked: retry soon, never crash
                failures += 1
                if give_up_after is not None and failures >= give_up_after:
                    raise
                wait = min(interval, RETRY_AFTER_FAILURE * 2 ** min(failures - 1, 6))
                log.error(
                    "cycle failed (%s: %s); retrying in %.0f s", type(error).__name__, error, wait
                )
                if reactor is not None:
                    reactor.cycle_finished(None, unsettled=True)
                await self._sleep(wait, stop)
                continue
            failures = 0
            self.last_cycle_seconds = time.monotonic() - started
            if reactor is not None:
                reactor.watch(self.observer.markets)
                reactor.cycle_finished(self.positions, self.needs_recheck)
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
                wait = min(wait, recheck_seconds)
            if reactor is None:
                await self._sleep(wait, stop)
            elif await self._sleep(reactor.longest_wait(wait), stop, reactor.woken()):
                log.info("reacting to the streams: %s", "; ".join(await reactor.settle()))
        try:
            await self.sync_journal(funding_due=True)
        except HedgebotError as error:
            log.error("final journal sync failed: %s", error)
        return cycles

    async def _sleep(
        self, seconds: float, stop: asyncio.Event, wake: Awaitable[None] | None = None
    ) -> bool:
        """Sleep ``seconds`` unless stopped or ``wake`` comes first; return whether it came."""
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        stopper = asyncio.ensure_future(stop.wait())
        waiters = {sleeper, stopper}
        waker = asyncio.ensure_future(wake) if wake is not None else None
        if waker is not None:
            waiters.add(waker)
        done, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        return waker is not None and waker in done and not stop.is_set()

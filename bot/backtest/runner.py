"""Replay one period through the paper engine per strategy and read the portfolio off the venue.

A backtest is `hedgebot run` in paper mode: the same `Engine` (strategy, planner, guards, order
manager, journal) drives a `PaperVenue` on a `ReplayClock` that never waits. Only the journal (in
memory unless given) and the kill-switch file (never the live one) differ. After each cycle the
spot value and the futures account's equity are read off the venue, with the fees, funding and
traded notional it booked so far. The in-memory journal is a `MemoryJournal`: the same answers as
SQLite's, without SQL on every cycle. `replay_in_processes` replays several strategies at once,
each in a process of its own. An `OnCycle` callback is told each replayed cycle (from worker
processes at most every `TELL_EVERY` seconds per replay), for progress only.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import repeat
from multiprocessing.queues import SimpleQueue
from pathlib import Path

from bot.core.clock import ReplayClock
from bot.core.domain import ZERO
from bot.journal.memory import MemoryJournal
from bot.journal.records import JournalTotals, RunMode
from bot.journal.store import Journal
from bot.runtime.engine import CycleReport, Engine
from bot.runtime.kill_switch import KillSwitch
from bot.settings.config import Config, StrategyConfig
from bot.sim.exchange import SimExchange
from bot.sim.paper import PaperVenue
from bot.sim.paper_account import PaperSetup, build_paper
from strategies.base import Strategy
from strategies.registry import create_strategy

log = logging.getLogger(__name__)

MEMORY_JOURNAL = "sqlite:///:memory:"
TELL_EVERY = 0.1
"""Seconds between two cycles a worker process tells its parent about (the last is not told)."""

OnCycle = Callable[[str, datetime], None]
"""Told after each replayed cycle: the replay's venue name and the cycle's time."""


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One strategy to replay, under the label the tables and plots show."""

    label: str
    strategy: StrategyConfig


@dataclass(frozen=True, slots=True)
class Point:
    """The portfolio after one cycle; fees, funding and turnover are running totals."""

    time: datetime
    spot: Decimal
    futures_equity: Decimal
    short_notional: Decimal
    fees: Decimal
    funding: Decimal
    turnover: Decimal

    @property
    def value(self) -> Decimal:
        """Return spot value plus futures equity: the hedged portfolio."""
        return self.spot + self.futures_equity


@dataclass(frozen=True, slots=True)
class RunResult:
    """Everything one replay produced: the curve, the journal's totals, the wall time.

    ``unreconciled`` is how far the fees and funding the venue booked differ from the journal's
    totals (zero when every fill and payment was journaled); ``guard_actions`` counts the margin
    guard's top-ups and cuts.
    """

    spec: RunSpec
    venue: str
    collateral: Decimal
    points: tuple[Point, ...]
    totals: JournalTotals
    seconds: float
    unreconciled: Decimal
    guard_actions: int

    def unhedged(self, point: Point) -> Decimal:
        """Return the unhedged portfolio at ``point``: the same spot, the collateral as cash."""
        return point.spot + self.collateral


class _Ledger:
    """Running sums of the fees, funding and traded notional a simulated account booked."""

    def __init__(self, exchange: SimExchange) -> None:
        self.exchange = exchange
        self.fees = ZERO
        self.funding = ZERO
        self.turnover = ZERO
        self._trades = 0
        self._payments = 0

    def update(self) -> None:
        """Add what was booked since the last call."""
        exchange = self.exchange
        for trade in exchange.trades[self._trades :]:
            self.fees += trade.fee
            if trade.forced is None:
                size = exchange.markets[trade.symbol].contract_size
                self.turnover += trade.amount * trade.price * size
        for payment in exchange.funding[self._payments :]:
            self.funding += payment.amount
        self._trades = len(exchange.trades)
        self._payments = len(exchange.funding)


def slug(text: str) -> str:
    """Return ``text`` reduced to a file- and venue-name-safe slug."""
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-").lower() or "run"


def _covering(specs: Sequence[RunSpec]) -> Strategy:
    """Return one strategy whose history needs cover every spec's: their `max_of`."""
    if len(specs) == 1:
        return create_strategy(specs[0].strategy.name, specs[0].strategy.params())
    parts = [{"name": spec.strategy.name, **spec.strategy.params()} for spec in specs]
    return create_strategy("max_of", {"parts": parts})


def prepare(config: Config, data_dir: str | Path, specs: Sequence[RunSpec]) -> PaperSetup:
    """Load the history once, with the assets and warmup of every spec; fix the period."""
    return build_paper(config, data_dir, strategy=_covering(specs))


def fresh_setup(base: PaperSetup, config: Config, venue: str) -> PaperSetup:
    """Return a new paper account on a new clock at ``base``'s start, over the same data."""
    paper = config.paper
    clock = ReplayClock(base.start)
    account = PaperVenue(
        base.data,
        clock,
        paper.holdings,
        paper.collateral,
        paper.taker_fee,
        paper.slippage_bps,
        config.hedge.quote,
        venue,
    )
    return PaperSetup(account, clock, base.data, base.start, base.end, base.notes)


async def run_one(
    config: Config,
    base: PaperSetup,
    spec: RunSpec,
    venue: str,
    journal_url: str = MEMORY_JOURNAL,
    on_cycle: OnCycle | None = None,
) -> RunResult:
    """Replay ``base``'s period with ``spec``'s strategy; journal under the venue name ``venue``.

    ``on_cycle`` is told each cycle replayed.
    """
    config = config.model_copy(update={"strategy": spec.strategy})
    with tempfile.TemporaryDirectory(prefix="hedgebot-backtest-") as scratch:
        # The live bot's kill switch must not halt a replay: its own, on a file never created.
        switch = KillSwitch(Path(scratch) / "halt", account=f"backtest {venue}")
        return await _replay(config, base, spec, venue, journal_url, switch, on_cycle)


async def _replay(
    config: Config,
    base: PaperSetup,
    spec: RunSpec,
    venue: str,
    journal_url: str,
    kill_switch: KillSwitch,
    on_cycle: OnCycle | None,
) -> RunResult:
    setup = fresh_setup(base, config, venue)
    strategy = create_strategy(spec.strategy.name, spec.strategy.params())
    ledger = _Ledger(setup.venue.exchange)
    points: list[Point] = []

    def record(report: CycleReport) -> None:
        ledger.update()
        account = setup.venue.hedge_account()
        points.append(
            Point(
                report.time,
                report.spot_value,
                account.equity,
                account.open_short_notional,
                ledger.fees,
                ledger.funding,
                ledger.turnover,
            )
        )
        if on_cycle is not None:
            on_cycle(venue, report.time)

    started = time.perf_counter()
    with MemoryJournal() if journal_url == MEMORY_JOURNAL else Journal.open(journal_url) as journal:
        engine = Engine(
            config,
            setup.venue,
            journal,
            strategy,
            setup.clock,
            RunMode.PAPER,
            kill_switch=kill_switch,
        )
        await engine.run(
            asyncio.Event(),
            setup.end,
            record,
            recheck_seconds=setup.venue.bar_seconds,
            give_up_after=1,
        )
        await setup.venue.close()
        totals = journal.totals(venue=venue)
        guard_actions = len(journal.events(kind="margin_guard", venue=venue))
    seconds = time.perf_counter() - started
    ledger.update()
    gap = abs(ledger.fees - totals.fees) + abs(ledger.funding - totals.funding_net)
    collateral = config.paper.collateral
    return RunResult(spec, venue, collateral, tuple(points), totals, seconds, gap, guard_actions)


_to_parent: SimpleQueue[tuple[str, datetime] | None] | None = None
"""A worker process's queue to its parent's `OnCycle` (None: nobody listens)."""


def _start_worker(level: int, queue: SimpleQueue[tuple[str, datetime] | None] | None) -> None:
    """Log at the parent's level; keep the queue the cycles are told through."""
    global _to_parent
    logging.getLogger("bot").setLevel(level)
    _to_parent = queue


class _Teller:
    """An `OnCycle` of a worker process: tells its parent at most every `TELL_EVERY` seconds."""

    def __init__(self, queue: SimpleQueue[tuple[str, datetime] | None]) -> None:
        self.queue = queue
        self.told = 0.0

    def __call__(self, venue: str, at: datetime) -> None:
        """Put ``(venue, at)`` on the queue unless the last one went out just now."""
        now = time.monotonic()
        if now - self.told >= TELL_EVERY:
            self.queue.put((venue, at))
            self.told = now


def _replay_alone(config: Config, base: PaperSetup, spec: RunSpec, venue: str) -> RunResult:
    """Run `run_one` on an event loop of its own, in memory (a worker process's task)."""
    teller = None if _to_parent is None else _Teller(_to_parent)
    return asyncio.run(run_one(config, base, spec, venue, on_cycle=teller))


@contextmanager
def _relayed(
    queue: SimpleQueue[tuple[str, datetime] | None] | None, on_cycle: OnCycle | None
) -> Iterator[None]:
    """Relay what the workers tell through ``queue`` to ``on_cycle``, from a thread."""
    if queue is None or on_cycle is None:
        yield
        return

    def relay() -> None:
        working = True
        while (told := queue.get()) is not None:  # drained to the end: no worker ever blocks
            try:
                if working:
                    on_cycle(*told)
            except Exception:
                log.exception("backtest progress stopped")
                working = False

    thread = threading.Thread(target=relay, name="backtest progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        queue.put(None)
        thread.join()


def replay_in_processes(
    config: Config,
    base: PaperSetup,
    runs: Sequence[tuple[RunSpec, str]],
    workers: int,
    on_cycle: OnCycle | None = None,
) -> Iterator[RunResult]:
    """Replay each (spec, venue) of ``runs`` in memory, ``workers`` processes at a time.

    Yield the results in the order of ``runs``, each as `run_one` returns it; the workers log at
    the level the ``bot`` logger has here and tell ``on_cycle`` their cycles.
    """
    logger = logging.getLogger("bot")
    specs, venues = [spec for spec, _ in runs], [venue for _, venue in runs]
    context = multiprocessing.get_context()
    queue = None if on_cycle is None else context.SimpleQueue()
    pool = ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(logger.level, queue)
    )
    with _relayed(queue, on_cycle), pool:
        yield from pool.map(_replay_alone, repeat(config), repeat(base), specs, venues)

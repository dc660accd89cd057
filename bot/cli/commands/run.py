"""`hedgebot run`: the unattended loop (paper replay here; live venues plug in the same way)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from bot.cli.session import Session, open_session
from bot.core.errors import AuthError
from bot.journal.account_lock import lock_directory
from bot.journal.records import RebalanceStatus, RunMode
from bot.journal.store import Journal
from bot.notify.alerts import Severity, lifecycle_alert
from bot.notify.notifier import Notifier, tell_new
from bot.notify.targets import parse_targets
from bot.notify.watch import JournalWatch
from bot.observability.access import HttpAccess
from bot.observability.metrics import BotMetrics
from bot.observability.page import StatusPage
from bot.observability.server import build_app, serving
from bot.observability.state import running_state
from bot.reporting.display import cycle_line, money, percent, signed
from bot.reporting.progress import ReplayBars, bars_wanted
from bot.runtime.engine import CycleReport, Engine
from bot.runtime.kill_switch import halted_message
from bot.runtime.reaction import Reactor, streaming
from bot.settings.config import Config
from bot.settings.secrets import load_credentials, load_notify_urls, mask, mask_url
from bot.sim.paper_account import PaperSetup
from bot.venue.factory import build_streams

PROBLEMS = frozenset(
    {
        RebalanceStatus.SKIPPED,
        RebalanceStatus.FAILED,
        RebalanceStatus.PARTIAL,
        RebalanceStatus.HALTED,
    }
)
"""Statuses whose progress line always says why (the cycle's ``reason``)."""


def describe_strategy(name: str, params: Mapping[str, Any], width: int = 60) -> str:
    """Return a one-line rendering of a strategy: ``static ratio=0.4``, ``max_of(a, b)``.

    Scalar parameters are shown as ``key=value``, lists and tables only by their length, parts
    of a combination only by name; the line is cut at ``width`` characters.
    """
    parts = params.get("parts")
    if isinstance(parts, list | tuple):
        names = (part.get("name", "?") if isinstance(part, Mapping) else "?" for part in parts)
        text = f"{name}({', '.join(str(n) for n in names)})"
    else:
        words = [name]
        for key, value in params.items():
            if isinstance(value, list | tuple | Mapping):
                words.append(f"{len(value)} {key}")
            else:
                words.append(f"{key}={value}")
        text = " ".join(words)
    return text if len(text) <= width else text[: width - 1] + "…"


def progress_line(report: CycleReport) -> str:
    """Return a cycle's progress line; a skipped, failed, partial or halted one says why."""
    line = cycle_line(report)
    if report.status in PROBLEMS:
        line += f" — {mask(report.reason.strip()) or 'no reason recorded'}"
    return line


def note_lines(report: CycleReport) -> list[str]:
    """Return the cycle's notes not already said by its progress line, one per line."""
    said = report.reason if report.status in PROBLEMS else ""
    return [f"  note: {mask(note)}" for note in report.notes if note not in said]


@dataclass(slots=True)
class RunTally:
    """What the end-of-run summary needs from the cycles, in constant memory.

    Only the first and the latest report are kept (a report holds a cycle's whole
    observation), however long the bot runs.
    """

    first: CycleReport | None = None
    last: CycleReport | None = None
    cycles: int = 0

    def add(self, report: CycleReport) -> None:
        """Count ``report``; keep it as the first or the latest."""
        if self.first is None:
            self.first = report
        self.last = report
        self.cycles += 1


def summary(
    config: Config,
    setup: PaperSetup,
    journal: Journal,
    first: CycleReport,
    last: CycleReport,
    cycles: int,
) -> str:
    """Return the end-of-run summary: spot change, hedge P&L by source, hedged vs unhedged."""
    venue = setup.venue.name
    totals = journal.totals(venue=venue)
    account = setup.venue.hedge_account()
    spot_start, spot_end = first.spot_value, last.spot_value
    spot_change = spot_end - spot_start
    hedge_pnl = account.equity - config.paper.collateral
    trading = totals.realized_pnl + account.unrealized
    check = trading - totals.fees + totals.funding_net - hedge_pnl
    hedged_change = spot_change + hedge_pnl
    base = spot_start + config.paper.collateral
    lines = [
        "",
        f"== hedgebot paper run: {setup.data.label}",
        f"period      {first.time:%Y-%m-%d %H:%M} → {last.time:%Y-%m-%d %H:%M} UTC, "
        f"{cycles} cycles every {config.interval}, strategy "
        f"{describe_strategy(config.strategy.name, config.strategy.params())}",
        f"spot        {money(spot_start)} → {money(spot_end)} "
        f"({signed(spot_change)}, {percent(spot_change / spot_start if spot_start else None)})",
        f"hedge P&L   {signed(hedge_pnl)} = trading {signed(trading)} "
        f"(realized {signed(totals.realized_pnl)}, open {signed(account.unrealized)}) "
        f"fees {signed(-totals.fees)} funding {signed(totals.funding_net)}"
        + ("" if abs(check) < Decimal("0.01") else f" [unreconciled {signed(check)}]"),
        f"funding     received {money(totals.funding_received)}, paid {money(totals.funding_paid)}"
        f" over {totals.funding_payments} payments",
        f"portfolio   unhedged {percent(spot_change / base)} vs hedged "
        f"{percent(hedged_change / base)} (spot + {money(config.paper.collateral)} collateral)",
        f"open short  {money(account.open_short_notional)} vs spot {money(spot_end)} "
        f"({percent(account.open_short_notional / spot_end if spot_end else None)})",
        f"activity    {totals.orders} orders, {totals.fills} fills, "
        f"{totals.liquidation_count} liquidations, {totals.rebalances} rebalances",
        f"journal     {mask_url(config.journal.url)} (venue {venue})",
    ]
    return "\n".join(lines)


def install_stop_signals(stop: asyncio.Event) -> None:
    """Make SIGINT and SIGTERM finish the current step and stop the loop."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - non-Unix
            signal.signal(signum, lambda *_: stop.set())


@contextlib.asynccontextmanager
async def alerting(config: Config) -> AsyncIterator[Notifier | None]:
    """Alerts for the block (None without targets): refused keys and a crash are told at the end.

    The sends still in flight when the block ends get at most the send timeout.
    """
    entries = load_notify_urls(config.exchange.secrets_file)
    targets = parse_targets(entries, Severity.named(config.notify.min_severity))
    if not targets:
        yield None
        return
    notifier = Notifier(targets, config.notify)
    notifier.check()
    account = f"{config.exchange.name}:{config.exchange.account}"
    try:
        yield notifier
    except AuthError as error:
        notifier.notify(lifecycle_alert("auth_failed", account, str(error)))
        raise
    except Exception as error:
        notifier.notify(lifecycle_alert("crashed", account, f"{type(error).__name__}: {error}"))
        raise
    finally:
        await notifier.drain()


def _watch(
    notifier: Notifier | None, config: Config, journal: Journal, venue: str
) -> JournalWatch | None:
    """Follow ``venue``'s journal for ``notifier`` from now on and say the run started."""
    if notifier is None:
        return None
    watch = JournalWatch(journal, venue, config.notify.stale_cycles, config.notify.digest_hour)
    watch.prime()
    notifier.notify(lifecycle_alert("started", venue, f"hedgebot run started on {venue}"))
    return watch


def _stopped(notifier: Notifier | None, venue: str, cycles: int) -> None:
    if notifier is not None:
        notifier.notify(lifecycle_alert("stopped", venue, f"stopped after {cycles} cycles"))


async def run_loop(
    config: Config,
    args: argparse.Namespace,
    notifier: Notifier | None = None,
    http: HttpAccess | None = None,
) -> int:
    """Run the engine until a signal arrives (or the paper replay's data ends).

    With a ``notifier`` the journal is followed after each cycle for alerts (`bot.notify`);
    with ``http`` the metrics and health are served there (`bot.observability`).
    """
    session = open_session(config, args.data_dir, args.speed)
    stop = asyncio.Event()
    install_stop_signals(stop)
    try:
        if session.paper is None:
            return await _run_live(config, args, session, stop, notifier, http)
        return await _run_paper(config, args, session, session.paper, stop, notifier, http)
    finally:
        await session.venue.close()


async def _run_live(
    config: Config,
    args: argparse.Namespace,
    session: Session,
    stop: asyncio.Event,
    notifier: Notifier | None,
    http: HttpAccess | None,
) -> int:
    print(
        f"hedgebot run — {session.label}, every {config.interval}, "
        f"journal {mask_url(config.journal.url)}"
    )
    print("SIGINT/SIGTERM finish the current cycle and exit.")
    with (
        Journal.open(config.journal.url) as journal,
        journal.lease(session.venue.name, lock_dir=lock_directory()) as lease,
    ):
        print(f"lease on {lease.key} held by {lease.holder}", flush=True)
        lease.keep_alive(stop)
        engine = Engine(
            config, session.venue, journal, session.strategy, session.clock, session.mode
        )
        watch = _watch(notifier, config, journal, session.venue.name)

        def progress(report: CycleReport) -> None:
            lease.renew_if_due()
            print(progress_line(report), flush=True)
            for line in note_lines(report):
                print(line, flush=True)
            if notifier is not None and watch is not None:
                tell_new(notifier, watch)

        async with (
            live_streams(config) as reactor,
            served(http, engine, session.venue.name, args.config) as measure,
        ):
            cycles = await engine.run(stop, None, each(measure, progress), args.max_cycles, reactor)
        lease.check()
        _stopped(notifier, session.venue.name, cycles)
        totals = journal.totals(venue=session.venue.name)
        print(
            f"stopped after {cycles} cycles: {totals.orders} orders, {totals.fills} fills, "
            f"fees {money(totals.fees)}, funding {signed(totals.funding_net)}"
        )
    return 0


OnCycle = Callable[[CycleReport], None]


def each(*steps: OnCycle) -> OnCycle:
    """Return one ``on_cycle`` callback that runs ``steps`` in order."""

    def run(report: CycleReport) -> None:
        for step in steps:
            step(report)

    return run


def _ignore(_report: CycleReport) -> None:
    """Take no cycle into anything (no metrics served)."""


@contextlib.asynccontextmanager
async def served(
    http: HttpAccess | None, engine: Engine, venue: str, config_file: str
) -> AsyncIterator[OnCycle]:
    """Serve ``venue``'s metrics, health and status page over ``http`` for the block.

    Yield the callback that takes each cycle into them (`bot.observability`); one that does
    nothing without ``http``. A halt's health names ``config_file`` in `hedgebot resume`.
    """
    if http is None:
        yield _ignore
        return
    interval = engine.config.interval_seconds
    metrics = BotMetrics(
        engine.journal,
        venue,
        interval,
        halt_said=lambda: halted_message(engine.kill_switch, config_file),
    )
    page = StatusPage(engine.journal, venue, interval, running_state(engine))
    async with serving(build_app(metrics, http.token, page), http) as bound:
        print(
            f"metrics on {bound.shown}/metrics, health on {bound.shown}/healthz, "
            f"status page on {bound.shown}/",
            flush=True,
        )
        yield lambda report: metrics.observe(report, engine.last_cycle_seconds)


@contextlib.asynccontextmanager
async def live_streams(config: Config) -> AsyncIterator[Reactor | None]:
    """Run the exchange's streams into a `Reactor` for the block; None with streams off."""
    streams = build_streams(config, load_credentials(config.exchange.secrets_file))
    if streams is None:
        print("streams off: the interval loop alone watches the account", flush=True)
        yield None
        return
    print("streams on: liquidations, ADL, fills and squeezes wake a cycle at once", flush=True)
    async with streaming(streams, Reactor(config.risk)) as reactor:
        yield reactor


async def _run_paper(
    config: Config,
    args: argparse.Namespace,
    session: Session,
    setup: PaperSetup,
    stop: asyncio.Event,
    notifier: Notifier | None,
    http: HttpAccess | None,
) -> int:
    strategy = session.strategy
    tally = RunTally()
    span_days = (setup.end - setup.start).days
    print(f"hedgebot paper run — {setup.data.label}")
    print(
        f"replaying {setup.start:%Y-%m-%d} → {setup.end:%Y-%m-%d} ({span_days} days), "
        f"journal {mask_url(config.journal.url)}, venue {setup.venue.name}"
    )
    for note in setup.notes:
        print(f"note: {note}")
    with Journal.open(config.journal.url) as journal, journal.lease(setup.venue.name) as lease:
        lease.keep_alive(stop)
        engine = Engine(config, setup.venue, journal, strategy, setup.clock, RunMode.PAPER)
        watch = _watch(notifier, config, journal, setup.venue.name)
        every = max(1, (span_days * 86400 // config.interval_seconds) // 20)
        until = setup.end  # where the bar ends: the replay's end, or the last cycle allowed
        if args.max_cycles:
            cycles_allowed = timedelta(seconds=config.interval_seconds * args.max_cycles)
            until = min(until, setup.start + cycles_allowed)
        bars = ReplayBars(setup.start, until, bars_wanted(args.quiet, sys.stdout, os.environ))
        bars.add("replay", "replay")

        previous: list[tuple[RebalanceStatus, str]] = []  # the last cycle's status and reason

        def progress(report: CycleReport) -> None:
            lease.renew_if_due()
            tally.add(report)
            outcome = (report.status, report.reason)
            halted = report.status == RebalanceStatus.HALTED
            halt_begins = halted and previous != [outcome]  # a halt is said when it begins
            previous[:] = [outcome]
            if notifier is not None and watch is not None:
                tell_new(notifier, watch)
            if args.quiet:
                return
            bars.reached("replay", report.time)
            if (
                (tally.cycles % every == 0 and not bars.shown)  # the bar says it on a terminal
                or (report.status in PROBLEMS and not halted)
                or halt_begins
            ):
                print(progress_line(report), flush=True)

        async with served(http, engine, setup.venue.name, args.config) as measure:
            with bars:
                cycles = await engine.run(
                    stop,
                    setup.end,
                    each(measure, progress),
                    args.max_cycles,
                    recheck_seconds=setup.venue.bar_seconds,
                    give_up_after=1,
                )
                if not stop.is_set():
                    bars.finish("replay")
        lease.check()
        _stopped(notifier, setup.venue.name, cycles)
        if tally.first is not None and tally.last is not None:
            print(summary(config, setup, journal, tally.first, tally.last, cycles))
    return 0

"""Bench the loop's reaction: streams on vs off, against the in-process emulator, wall clock.

Two figures, measured in one run on the rig of `tests.live.streams_rig` (the emulator anchored at
the wall clock, production's ccxt venue and ccxt.pro watchers, `Engine.run` with its `Reactor`):

- reaction time: the emulator auto-deleverages half of the hedged BTC short; the time is from the
  ADL's fill to the emulator accepting the bot's next order on BTC, both read from the emulator's
  audit log (`time.monotonic` on the exchange side). Streams on: an hour's interval, so any
  correction is the streams' doing. Streams off: a short interval (the bot can only react at its
  next slot), the ADL at a random point of it;
- REST requests per interval in steady state: everything the emulator served (its ``requests``
  log) between the ends of consecutive heartbeat cycles that had nothing to do.

Used by ``scripts/bench_cycle.py --reaction``; the caller puts the repository on ``sys.path``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from bot.emulator.audit import FILL, ORDER_ACCEPTED
from bot.runtime.engine import CycleReport
from bot.runtime.reaction import OUR_PREFIX
from bot.venue.streams import KEEPALIVE_SECONDS
from tests.live.streams_rig import BTC, StreamRig, build_rig, looping

ADL_FRACTION = Decimal("0.5")
GOAL = 3
"""The issue's goal: REST requests per steady interval with streams on."""


@dataclass(frozen=True)
class CycleEnd:
    """One cycle of the loop as the bench saw it end."""

    wall: float
    requests: int
    """``len(emulator.requests)`` when it ended."""
    acted: bool


@dataclass
class Bench:
    """A rig plus the bench's own record of the cycles."""

    rig: StreamRig
    interval: int
    cycles: list[CycleEnd] = field(default_factory=list)

    def record(self, report: CycleReport) -> None:
        self.rig.reports.append(report)
        served = len(self.rig.emulator.requests)
        self.cycles.append(CycleEnd(time.monotonic(), served, bool(report.executions)))

    async def next_cycles(self, count: int, within: float) -> None:
        """Wait until ``count`` more cycles have ended."""
        goal = len(self.cycles) + count
        await self.rig.until(lambda: len(self.cycles) >= goal, within)


@dataclass
class Reactions:
    """Reaction times (seconds) and the runs that saw no reaction within the wait."""

    times: list[float] = field(default_factory=list)
    missed: int = 0
    wait: float = 0.0


@dataclass
class Steady:
    """REST requests per steady interval and what they were."""

    counts: list[int] = field(default_factory=list)
    breakdown: Counter[tuple[str, str]] = field(default_factory=Counter)
    wakes: int = 0
    """Cycles the streams asked for during the windows (0 in a true steady state)."""


@contextlib.asynccontextmanager
async def bench_rig(
    workdir: Path, exchange: str, *, streams: bool, interval: int
) -> AsyncIterator[Bench]:
    """Start an emulator and the loop on it (`tests.live.streams_rig`, any interval)."""
    rig = await build_rig(workdir, exchange, streams=streams, interval=interval)
    assert rig.config.interval_seconds == interval
    bench = Bench(rig, interval)
    async with looping(rig, bench.record, first_cycle_wait=30.0):
        yield bench


def adl_seconds_to_our_order(rig: StreamRig, since: int) -> float | None:
    """Return the audit's wall time from the ADL fill after ``since`` to our next BTC order."""
    events = rig.emulator.account.audit_since(since)
    btc = rig.emulator.account.unified(BTC)
    adl = next((e for e in events if e.kind == FILL and e.symbol == btc), None)
    if adl is None:
        return None
    ours = (
        e
        for e in events
        if e.kind == ORDER_ACCEPTED
        and e.symbol == btc
        and e.seq > adl.seq
        and (e.client_order_id or "").startswith(OUR_PREFIX)
    )
    order = next(ours, None)
    return None if order is None else order.wall - adl.wall


def reacted(rig: StreamRig, since: int) -> bool:
    """Return whether our order followed the ADL logged after ``since``."""
    return adl_seconds_to_our_order(rig, since) is not None


def corrected(bench: Bench, ended: int) -> bool:
    """Return whether a cycle ended after the first ``ended`` and the leg is hedged again."""
    return len(bench.cycles) > ended and bench.rig.hedged()


async def react(
    bench: Bench, runs: int, wait: float, settle: tuple[float, float], rng: random.Random
) -> Reactions:
    """ADL half the short ``runs`` times, each after a random pause in ``settle``; time each."""
    rig = bench.rig
    account = rig.emulator.account
    result = Reactions(wait=wait)
    for _ in range(runs):
        await asyncio.sleep(rng.uniform(*settle))
        if rig.reactor is not None:
            await rig.quiet()
        since = len(account.audit)
        ended = len(bench.cycles)
        account.auto_deleverage(BTC, fraction=ADL_FRACTION)
        try:
            await rig.until(functools.partial(reacted, rig, since), wait)
        except TimeoutError:
            result.missed += 1
            continue
        seconds = adl_seconds_to_our_order(rig, since)
        assert seconds is not None
        result.times.append(seconds)
        # the corrective cycle ends and the leg is hedged again before the next run
        await rig.until(functools.partial(corrected, bench, ended), wait)
    return result


async def steady(bench: Bench, intervals: int) -> Steady:
    """Count what the emulator served over ``intervals`` whole heartbeat intervals."""
    rig = bench.rig
    wakes = rig.reactor.wakes if rig.reactor is not None else 0
    await bench.next_cycles(1, bench.interval + 30.0)  # the first whole window starts here
    first = len(bench.cycles) - 1
    await bench.next_cycles(intervals, intervals * bench.interval + 30.0)
    result = Steady()
    for before, after in zip(bench.cycles[first:], bench.cycles[first + 1 :], strict=False):
        if not after.acted:
            result.counts.append(after.requests - before.requests)
            result.breakdown.update(rig.emulator.requests[before.requests : after.requests])
    if rig.reactor is not None:
        result.wakes = rig.reactor.wakes - wakes
    return result


@dataclass
class ExchangeResult:
    """Everything measured on one exchange."""

    exchange: str
    on: Reactions
    off: Reactions
    off_interval: int
    steady_on: Steady
    steady_off: Steady


async def measure(
    exchange: str,
    runs: int,
    off_runs: int,
    off_interval: int,
    intervals: int,
    wait: float,
    workdir: Path,
    seed: int,
) -> ExchangeResult:
    """Measure one exchange: streams-off rig and streams-on steady rig side by side, then the
    streams-on reactions alone (an hour's interval) so nothing else runs while they are timed."""
    rng = random.Random(seed)

    async def off() -> tuple[Steady, Reactions]:
        path = workdir / f"{exchange}-off"
        path.mkdir()
        async with bench_rig(path, exchange, streams=False, interval=off_interval) as bench:
            counted = await steady(bench, intervals)
            timed = await react(bench, off_runs, wait, (0.0, float(off_interval)), rng)
            return counted, timed

    async def on_steady() -> Steady:
        path = workdir / f"{exchange}-on-steady"
        path.mkdir()
        async with bench_rig(path, exchange, streams=True, interval=off_interval) as bench:
            return await steady(bench, intervals)

    (steady_off, off_reactions), steady_on = await asyncio.gather(off(), on_steady())
    path = workdir / f"{exchange}-on"
    path.mkdir()
    async with bench_rig(path, exchange, streams=True, interval=3600) as bench:
        on_reactions = await react(bench, runs, wait, (0.0, 0.5), rng)
    return ExchangeResult(
        exchange, on_reactions, off_reactions, off_interval, steady_on, steady_off
    )


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def reaction_row(exchange: str, label: str, reactions: Reactions, note: str) -> str:
    times = reactions.times
    n = f"{len(times)}/{len(times) + reactions.missed}"
    if times:
        figures = (
            f"{statistics.median(times):>8.3f}  {p99(times):>8.3f}  {max(times):>8.3f}  "
            f"{min(times):>8.3f}"
        )
    else:
        figures = f"{'-':>8}  {'-':>8}  {'-':>8}  {'-':>8}"
    missed = f"; {reactions.missed} without a reaction within {reactions.wait:.0f} s"
    return (
        f"{exchange:<12} {label:<16} {n:>6}  {figures}  {note}{missed if reactions.missed else ''}"
    )


def steady_row(exchange: str, label: str, counted: Steady) -> list[str]:
    counts = counted.counts
    if not counts:
        return [f"{exchange:<12} {label:<16} no heartbeat interval measured"]
    per = statistics.median(counts)
    spread = f"{min(counts)}-{max(counts)}" if min(counts) != max(counts) else f"{counts[0]}"
    wakes = f"; {counted.wakes} stream wake-ups in the windows" if counted.wakes else ""
    lines = [
        f"{exchange:<12} {label:<16} {len(counts):>9}  {per:>10g}  {spread:>7}  "
        f"{'yes' if per <= GOAL else 'NO':>8}{wakes}"
    ]
    for (method, path), total in sorted(counted.breakdown.items(), key=lambda kv: -kv[1]):
        lines.append(f"{'':<30} {total / len(counts):>6.2g} × {method} {path}")
    return lines


def report(results: list[ExchangeResult]) -> None:
    print()
    print(
        "Reaction time: emulator ADL of 0.5 of the BTC short -> emulator accepts the bot's next "
        "BTC order (exchange-side audit log, wall clock, seconds)"
    )
    print(
        f"{'exchange':<12} {'streams':<16} {'n':>6}  {'median':>8}  {'p99':>8}  {'max':>8}  "
        f"{'min':>8}  note"
    )
    for r in results:
        print(reaction_row(r.exchange, "on (1h interval)", r.on, "the streams' doing"))
        interval = f"{r.off_interval}s"
        note = (
            f"interval {r.off_interval} s, ADL at a random point of it: the next slot's cycle; "
            f"at the default 4h interval that is up to 4 h (~2 h median)"
        )
        print(reaction_row(r.exchange, f"off ({interval} int.)", r.off, note))
    print()
    print(
        f"REST requests per steady interval (heartbeat cycles with nothing to do; everything the "
        f"emulator served between their ends), goal with streams on: <= {GOAL}"
    )
    print(
        f"{'exchange':<12} {'streams':<16} {'intervals':>9}  {'req/interv':>10}  "
        f"{'min-max':>7}  {'<= goal':>8}"
    )
    for r in results:
        for line in steady_row(r.exchange, "on", r.steady_on):
            print(line)
        for line in steady_row(r.exchange, "off", r.steady_off):
            print(line)
    print(
        "streams on: funding is read only in an interval a funding time passed (the mark stream "
        "announces the next one): +1 request then (Binance income, Bybit execution list), every "
        "other 4h interval at 8h funding; none in windows this short"
    )
    binance = [r for r in results if r.exchange == "binanceusdm"]
    if binance:
        per_4h = 4 * 3600 / KEEPALIVE_SECONDS
        print(
            f"binanceusdm streams on also PUTs its listen key every {KEEPALIVE_SECONDS / 60:.0f} "
            f"min (not in windows this short): +{per_4h:.0f} per 4h interval, "
            f"+{3600 / KEEPALIVE_SECONDS:.0f} per hour"
        )


class Tally(logging.Handler):
    """Count the bot's log lines instead of printing them (an ADL warns once per run)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines[f"{record.levelname}: {record.getMessage()}"] += 1


def run(
    exchanges: list[str],
    runs: int,
    off_runs: int,
    off_interval: int,
    intervals: int,
    wait: float,
    seed: int = 1,
) -> None:
    """Measure each exchange in turn and print the section."""
    results = []
    tally = Tally()
    bot_log = logging.getLogger("bot")
    bot_log.addHandler(tally)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for exchange in exchanges:
                results.append(
                    asyncio.run(
                        measure(
                            exchange, runs, off_runs, off_interval, intervals, wait, Path(tmp), seed
                        )
                    )
                )
    finally:
        bot_log.removeHandler(tally)
    report(results)
    print(f"bot log lines at WARNING and above during the section: {tally.lines.total()}")
    for line, count in tally.lines.most_common(8):
        print(f"  {count:>4} × {line[:150]}")

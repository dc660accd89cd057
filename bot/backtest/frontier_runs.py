"""Replay the frontier's periods: each compared strategy and each static ratio, period by period.

Every period is one backtest (`prepare`, then `run_one` per run): the same engine, history and
cycles for every run in it. Periods run in processes of their own, each sending back only its
runs' spot and hedge P&L as `PeriodShare`s (a period's loaded history stays in its process);
`bot.backtest.frontier` does the arithmetic.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from bot.backtest.frontier import Frontier, Kind, PeriodShare
from bot.backtest.runner import RunResult, RunSpec, prepare, run_one, slug
from bot.backtest.windows import Window
from bot.core.errors import ConfigError, HedgebotError
from bot.settings.config import Config, StrategyConfig
from bot.sim.paper_account import session_tag

Progress = Callable[[str], None]


def static_label(ratio: Decimal) -> str:
    """Return the label of a static run, as `hedgebot backtest --compare 0.4` shows it."""
    return f"static {float(ratio * 100):g}%"


def static_spec(ratio: Decimal) -> RunSpec:
    """Return the static strategy at ``ratio``."""
    config = StrategyConfig.model_validate({"name": "static", "ratio": str(ratio)})
    return RunSpec(static_label(ratio), config)


def period_share(result: RunResult, window: Window, kind: Kind) -> PeriodShare:
    """Return a run's spot at its first cycle, its spot P&L to the last and its hedge P&L.

    The hedge P&L is the futures equity at the last cycle less the collateral.
    """
    first, last = result.points[0], result.points[-1]
    spot = float(last.spot - first.spot)
    hedge = float(last.futures_equity - result.collateral)
    return PeriodShare(window.name, kind, window.split, float(first.spot), spot, hedge)


@dataclass(frozen=True, slots=True)
class PeriodRuns:
    """What one period's replays gave: each run's share, the loader's notes, cycles, time."""

    shares: tuple[tuple[str, PeriodShare], ...]
    """(run label, its share) in the order of the specs."""
    notes: tuple[str, ...]
    cycles: int
    seconds: float


def replay_period(
    config: Config, data_dir: Path, window: Window, kind: Kind, specs: Sequence[RunSpec]
) -> PeriodRuns:
    """Replay ``window`` once per spec, one after the other, over history loaded once.

    A period the history cannot replay raises `ConfigError` naming the period and why.
    """
    started = time.perf_counter()
    paper = config.paper.model_copy(update={"start": window.start, "end": window.end})
    config = config.model_copy(update={"paper": paper})
    try:
        base = prepare(config, data_dir, specs)
    except HedgebotError as error:
        span = f"{window.start:%Y-%m-%d} → {window.end:%Y-%m-%d}"
        raise ConfigError(f"period {window.name} ({span}): {error}") from None
    session = session_tag()
    shares, cycles = [], 0
    for index, spec in enumerate(specs, 1):
        venue = f"frontier:{session}:{slug(window.name)}:{index}-{slug(spec.label)}"
        result = asyncio.run(run_one(config, base, spec, venue))
        shares.append((spec.label, period_share(result, window, kind)))
        cycles = len(result.points)
    return PeriodRuns(tuple(shares), base.notes, cycles, time.perf_counter() - started)


def measure_frontier(
    config: Config | Callable[[Window], Config],
    data_dir: Path,
    compared: Sequence[RunSpec],
    periods: tuple[Sequence[Window], Sequence[Window]],
    ratios: Sequence[Decimal],
    progress: Progress | None = None,
    workers: int | None = None,
) -> Frontier:
    """Replay the (crash, calm) ``periods`` for the compared specs and the static ``ratios``.

    ``config`` is the portfolio, or a function giving it for each period (holdings sized at the
    period's start). Periods run ``workers`` at a time (default: one per core), each in a process
    of its own. A compared spec labelled like a static ratio of the line is replayed once and
    serves both.
    """
    line = {static_label(r): (float(r), static_spec(r)) for r in ratios}
    specs = list(
        {spec.label: spec for spec in (*(s for _, s in line.values()), *compared)}.values()
    )
    crash, calm = periods
    kinds: list[tuple[Window, Kind]] = [
        *((w, "crash") for w in crash),
        *((w, "calm") for w in calm),
    ]
    count = min(len(kinds), workers or os.cpu_count() or 1)
    shares: dict[str, list[PeriodShare]] = {spec.label: [] for spec in specs}
    configs = [config(w) if callable(config) else config for w, _ in kinds]
    replayed = _replay_all(configs, data_dir, kinds, specs, count)
    for (window, kind), runs in zip(kinds, replayed, strict=True):
        for label, share in runs.shares:
            shares[label].append(share)
        if progress is not None:
            for note in runs.notes:
                progress(f"  note: {window.name}: {note}")
            progress(
                f"  {window.name} ({kind}, {window.split}, {window.start:%Y-%m-%d} → "
                f"{window.end:%Y-%m-%d}): {len(specs)} runs of {runs.cycles} cycles "
                f"in {runs.seconds:.1f}s"
            )
    return Frontier(
        tuple(kinds),
        {label: (ratio, tuple(shares[label])) for label, (ratio, _) in line.items()},
        {spec.label: tuple(shares[spec.label]) for spec in compared},
    )


def _replay_all(
    configs: Sequence[Config],
    data_dir: Path,
    kinds: Sequence[tuple[Window, Kind]],
    specs: Sequence[RunSpec],
    workers: int,
) -> Iterator[PeriodRuns]:
    """Yield each period's runs in order; ``workers`` processes at a time when above one."""
    if workers <= 1:
        for config, (window, kind) in zip(configs, kinds, strict=True):
            yield replay_period(config, data_dir, window, kind, specs)
        return
    logger = logging.getLogger("bot")
    pool = ProcessPoolExecutor(workers, initializer=logger.setLevel, initargs=(logger.level,))
    with pool:
        futures = [
            pool.submit(replay_period, config, data_dir, window, kind, specs)
            for config, (window, kind) in zip(configs, kinds, strict=True)
        ]
        try:
            for future in futures:
                yield future.result()
        finally:  # a period that failed stops the ones not started
            for future in futures:
                future.cancel()

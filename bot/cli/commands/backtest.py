"""`hedgebot backtest`: replay a period for one or more strategies beside the unhedged portfolio."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import os
import sys
import tomllib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from bot.backtest.frontier import line_ratios
from bot.backtest.frontier_output import render_frontier, write_frontier
from bot.backtest.frontier_runs import measure_frontier, static_label
from bot.backtest.insurance import backtest_effectiveness
from bot.backtest.metrics import measure
from bot.backtest.output import (
    CURVES_CSV,
    METRICS_CSV,
    METRICS_JSON,
    render_table,
    write_csv,
    write_curves,
    write_json,
)
from bot.backtest.runner import (
    MEMORY_JOURNAL,
    RunResult,
    RunSpec,
    prepare,
    replay_in_processes,
    run_one,
    slug,
)
from bot.backtest.windows import RISES, WINDOWS, describe_windows, find_window, select
from bot.core.errors import ConfigError
from bot.journal.account_lock import make_private_directory
from bot.market.history import find_data_dir
from bot.reporting.progress import ReplayBars, bars_wanted
from bot.settings.config import Config, StrategyConfig
from bot.sim.paper_account import PaperSetup, session_tag
from strategies.registry import create_strategy

RECONCILED = Decimal("1e-9")
"""Venue and journal agree when fees plus funding differ by less (the journal keeps 18 places)."""


@dataclass(frozen=True, slots=True)
class Period:
    """The replay period and the name it goes by in titles."""

    start: datetime | None
    end: datetime | None
    title: str


def parse_spec(text: str) -> RunSpec:
    """Read a ``--compare`` item: a ratio, a strategy name, ``name:key=value,…`` or a TOML file.

    ``0.4`` is the static strategy at 40%; a ``.toml`` file contributes its ``[strategy]`` table.
    """
    if text.endswith(".toml"):
        path = Path(text)
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8")).get("strategy", {})
        except (OSError, tomllib.TOMLDecodeError) as error:
            message = f"--compare {text}: cannot read a [strategy] table: {error}"
            raise ConfigError(message) from None
        spec = RunSpec(path.stem, StrategyConfig.model_validate(table))
    else:
        try:
            ratio = Decimal(text)
        except InvalidOperation:
            name, _, pairs = text.partition(":")
            params: dict[str, Any] = {}
            for pair in filter(None, pairs.split(",")):
                key, sep, value = pair.partition("=")
                if not sep:
                    raise ConfigError(
                        f"--compare {text}: write parameters as name:key=value,key=value"
                    ) from None
                params[key.strip()] = value.strip()
            spec = RunSpec(text, StrategyConfig.model_validate({"name": name, **params}))
        else:
            config = StrategyConfig.model_validate({"name": "static", "ratio": str(ratio)})
            spec = RunSpec(static_label(ratio), config)
    create_strategy(spec.strategy.name, spec.strategy.params(), f"--compare {text}")
    return spec


def config_spec(config: Config) -> RunSpec:
    """Return the configured strategy as the run to replay when nothing is compared."""
    strategy = config.strategy
    ratio = strategy.params().get("ratio")
    label = strategy.name
    if strategy.name == "static" and ratio is not None:
        label = static_label(Decimal(str(ratio)))
    return RunSpec(label, strategy)


def resolve_period(config: Config, args: argparse.Namespace) -> Period:
    """Return the period: ``--from``/``--to``, over a named ``--window``, over the config's."""
    start, end, title = config.paper.start, config.paper.end, ""
    if args.window:
        window = find_window(args.window)
        start, end, title = window.start, window.end, f"{window.name}: {window.what}"
    start = args.since or start
    end = args.until or end
    if start is not None and end is not None and end <= start:
        raise ConfigError(f"--to {end:%F} must be after --from {start:%F}")
    if args.since or args.until or not title:
        title = f"{start:%Y-%m-%d} → {end:%Y-%m-%d}" if start and end else "whole history"
    return Period(start, end, title)


def _require_matplotlib() -> None:
    if importlib.util.find_spec("matplotlib") is None:
        raise ConfigError(
            "--plots needs matplotlib, which is not installed: "
            "pip install 'hedgebot[backtest]' (or leave out --plots)"
        )


def _data_dir(config: Config, args: argparse.Namespace) -> Path:
    if args.data_dir:
        directory = find_data_dir(args.data_dir)
    else:
        directory = find_data_dir(config.paper.data_dir, "paper.data_dir")
    if directory is None:
        raise ConfigError(
            "backtest needs market history: pass --data-dir DIR (e.g. ../shared/data), set "
            "paper.data_dir or $HEDGEBOT_DATA_DIR; scripts/fetch_history.py downloads it"
        )
    return directory


def _out_dir(text: str) -> Path:
    """Create the output directory (0700); raise ConfigError naming ``--out`` when it cannot be."""
    out = Path(text).expanduser()
    try:
        make_private_directory(out)
    except OSError as error:
        raise ConfigError(
            f"--out {text}: cannot create the directory ({error.strerror}); "
            "pass a writable directory"
        ) from None
    if not os.access(out, os.W_OK):
        raise ConfigError(f"--out {text}: the directory is read-only; pass a writable directory")
    return out


@contextmanager
def _guard_warnings_held_back(verbose: bool) -> Iterator[None]:
    """Keep the margin guard's per-event warnings off the table (counted there instead)."""
    logger = logging.getLogger("bot")
    level = logger.level
    if not verbose:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _replay_all(
    config: Config, base: PaperSetup, specs: Sequence[RunSpec], journal: str, quiet: bool
) -> list[RunResult]:
    """Replay each spec; in memory, several at once in processes of their own (one per core)."""
    session = session_tag()
    runs = [
        (spec, f"backtest:{session}:{index}-{slug(spec.label)}")
        for index, spec in enumerate(specs, 1)
    ]
    workers = min(len(runs), os.cpu_count() or 1)
    bars = ReplayBars(base.start, base.end, bars_wanted(quiet, sys.stdout, os.environ))
    for spec, venue in runs:
        bars.add(venue, spec.label)
    told = bars.reached if bars.shown else None
    if journal == MEMORY_JOURNAL and workers > 1:
        replayed: Iterable[RunResult] = replay_in_processes(config, base, runs, workers, told)
    else:  # one journal database: one writer at a time
        replayed = (
            asyncio.run(run_one(config, base, s, venue, journal, told)) for s, venue in runs
        )
    results = []
    with bars:
        for result in replayed:
            results.append(result)
            bars.finish(result.venue)
            if not quiet:
                off = result.unreconciled >= RECONCILED
                check = f" [unreconciled {result.unreconciled}]" if off else ""
                print(
                    f"  {result.spec.label}: {len(result.points)} cycles in "
                    f"{result.seconds:.1f}s, {result.totals.orders} orders, venue "
                    f"{result.venue}{check}",
                    flush=True,
                )
    return results


def _about(
    config: Config,
    args: argparse.Namespace,
    base: PaperSetup,
    period: Period,
    results: Sequence[RunResult],
) -> dict[str, Any]:
    return {
        "title": period.title,
        "data": base.data.label,
        "start": base.start.isoformat(),
        "end": base.end.isoformat(),
        "config": args.config,
        "interval": config.interval,
        "holdings": {asset: str(amount) for asset, amount in config.paper.holdings.items()},
        "collateral": str(config.paper.collateral),
        "runs": [
            {
                "label": r.spec.label,
                "strategy": r.spec.strategy.model_dump(mode="json"),
                "venue": r.venue,
                "cycles": len(r.points),
                "seconds": round(r.seconds, 3),
            }
            for r in results
        ],
    }


def _plot(results: Sequence[RunResult], title: str, out: Path) -> list[Path]:
    from bot.backtest.plots import plot_comparison, plot_run

    written = []
    for index, result in enumerate(results, 1):
        path = out / f"run-{index}-{slug(result.spec.label)}.png"
        plot_run(result, f"{result.spec.label} vs unhedged — {title}", path)
        written.append(path)
    comparison = out / "comparison.png"
    plot_comparison(results, title, comparison)
    return [comparison, *written]


def _frontier(config: Config, args: argparse.Namespace, specs: Sequence[RunSpec]) -> int:
    """Replay the crash and calm periods for ``specs`` and the static line; print the verdicts."""
    if args.window or args.since or args.until or args.journal:
        raise ConfigError(
            "--frontier replays its own periods in memory: choose them with --crash and --calm "
            "and leave out --window, --from, --to and --journal"
        )
    crash = select(args.crash or ["all"], WINDOWS, "--crash")
    calm = select(args.calm or ["all"], RISES, "--calm")
    ratios, out, data_dir = line_ratios(args.static), _out_dir(args.out), _data_dir(config, args)
    with _guard_warnings_held_back(args.verbose):
        frontier = measure_frontier(
            config, data_dir, specs, (crash, calm), ratios, None if args.quiet else print
        )
    print()
    print(render_frontier(frontier))
    holdings = {asset: str(amount) for asset, amount in config.paper.holdings.items()}
    about = {"data": str(data_dir), "config": args.config, "holdings": holdings}
    written = [write_frontier(out / "frontier.json", frontier, about)]
    if args.plots:
        from bot.backtest.plots import plot_frontier

        written.append(plot_frontier(frontier, out / "frontier.png"))
    print()
    print("wrote " + ", ".join(str(path) for path in written))
    return 0


def run_backtest(config: Config, args: argparse.Namespace) -> int:
    """Replay the period once per strategy; print the table; write JSON, CSV and plots."""
    if args.window == "list":
        print(describe_windows())
        return 0
    specs = [parse_spec(text) for text in args.compare] if args.compare else [config_spec(config)]
    if args.plots:
        _require_matplotlib()
    if args.frontier:
        return _frontier(config, args, specs)
    if args.crash or args.calm or args.static:
        raise ConfigError("--crash, --calm and --static go with --frontier; add it")
    period = resolve_period(config, args)
    paper = config.paper.model_copy(update={"start": period.start, "end": period.end})
    config = config.model_copy(update={"paper": paper})
    out = _out_dir(args.out)  # before the replay: a bad --out must not cost a whole replay
    base = prepare(config, _data_dir(config, args), specs)
    if not args.quiet:
        print(f"hedgebot backtest — {base.data.label}")
        print(f"{period.title}: {base.start:%Y-%m-%d %H:%M} → {base.end:%Y-%m-%d %H:%M} UTC")
        for note in base.notes:
            print(f"note: {note}")
    with _guard_warnings_held_back(args.verbose):
        results = _replay_all(config, base, specs, args.journal or MEMORY_JOURNAL, args.quiet)
    measured = [measure(result) for result in results]
    metrics = [measured[0][0], *(hedged for _, hedged in measured)]  # one unhedged column
    print()
    print(render_table(metrics))
    for line in backtest_effectiveness(config, base):
        print(f"note: {line} (closes before the start)")
    written = [out / METRICS_JSON, out / METRICS_CSV, out / CURVES_CSV]
    write_json(written[0], metrics, _about(config, args, base, period, results))
    write_csv(written[1], metrics)
    write_curves(written[2], results)
    if args.plots:
        written += _plot(results, period.title, out)
    print()
    print("wrote " + ", ".join(str(path) for path in written))
    return 0

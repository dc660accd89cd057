"""Wiring: build the venue, clock, journal, strategy and engine that a command needs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.clock import ReplayClock, from_ms, to_ms
from bot.config import Config
from bot.errors import ConfigError
from bot.market.history import find_data_dir, load_history, timeframe_ms
from bot.market.series import MarketData
from bot.market.simulated import simulate_market
from bot.venue.paper import PaperVenue
from strategies.base import Strategy
from strategies.registry import create_strategy

SIMULATED_START = datetime(2024, 1, 1, tzinfo=UTC)
REPLAY_TIMEFRAME = "4h"


@dataclass(slots=True)
class PaperSetup:
    """A paper venue on its replay clock, with the period it will replay."""

    venue: PaperVenue
    clock: ReplayClock
    data: MarketData
    start: datetime
    end: datetime


def market_assets(config: Config) -> list[str]:
    """Return every asset whose prices the paper market needs: holdings and proxy legs."""
    assets = {a for a, amount in config.paper.holdings.items() if amount > 0}
    for legs in config.hedge.proxies.values():
        assets.update(leg.asset for leg in legs)
    return sorted(assets)


def build_strategy(config: Config) -> Strategy:
    """Create the configured strategy."""
    return create_strategy(config.strategy.name, config.strategy.params())


def _check_interval(config: Config) -> None:
    bar_seconds = timeframe_ms(REPLAY_TIMEFRAME) // 1000
    if config.interval_seconds % bar_seconds:
        raise ConfigError(
            f"interval: {config.interval!r} does not fit the replay's {REPLAY_TIMEFRAME} bars; "
            f"use a multiple of {REPLAY_TIMEFRAME} in paper mode"
        )


def build_paper(
    config: Config,
    data_dir: str | Path | None,
    speed: float = 0.0,
    session: str | None = None,
    warmup_bars: int = 0,
) -> PaperSetup:
    """Load history (or simulate a market) and open a paper account at the replay start."""
    _check_interval(config)
    paper = config.paper
    assets = market_assets(config)
    directory = find_data_dir(data_dir if data_dir is not None else paper.data_dir)
    bar_ms = timeframe_ms(REPLAY_TIMEFRAME)
    if directory is None:
        start = paper.start or SIMULATED_START
        data = simulate_market(
            assets, to_ms(start), paper.simulated_bars + warmup_bars, REPLAY_TIMEFRAME, paper.seed
        )
        first = to_ms(start) + (warmup_bars + 1) * bar_ms
    else:
        data = load_history(
            directory,
            assets,
            REPLAY_TIMEFRAME,
            start_ms=to_ms(paper.start) if paper.start else None,
            end_ms=to_ms(paper.end) if paper.end else None,
            warmup_bars=warmup_bars,
        )
        first, _ = data.common_range_ms(assets)
        first += warmup_bars * bar_ms
        if paper.start is not None:
            first = max(first, to_ms(paper.start))
    _, last = data.common_range_ms(assets)
    if paper.end is not None:
        last = min(last, to_ms(paper.end))
    first = -(-first // bar_ms) * bar_ms  # align to a bar close
    if last <= first:
        raise ConfigError(
            f"paper.start/paper.end: no common history for {', '.join(assets)} in that period "
            f"(data covers {from_ms(first):%F} → {from_ms(last):%F})"
        )
    clock = ReplayClock(from_ms(first), speed)
    name = f"paper:{session}" if session else "paper"
    venue = PaperVenue(
        data,
        clock,
        paper.holdings,
        paper.collateral,
        paper.taker_fee,
        paper.slippage_bps,
        config.hedge.quote,
        name,
    )
    return PaperSetup(venue, clock, data, from_ms(first), from_ms(last))


def session_tag(now: datetime | None = None) -> str:
    """Return a compact tag that keeps each paper session's ids apart in one journal."""
    moment = now or datetime.now(UTC)
    return f"{moment:%Y%m%dT%H%M%S}"

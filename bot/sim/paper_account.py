"""The one place that builds a paper account: market data (replayed or simulated), venue, clock."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.core.clock import ReplayClock, from_ms, to_ms
from bot.core.errors import ConfigError
from bot.market.history import available_assets, find_data_dir, load_history, timeframe_ms
from bot.market.series import MarketData
from bot.market.simulated import simulate_market
from bot.settings.config import Config
from bot.sim.paper import PaperVenue
from strategies.base import Strategy, StrategyNeeds
from strategies.baskets import LegWeight, Universe, history_bars, possible_leg_assets
from strategies.registry import create_strategy
from strategies.units import FINEST_BAR_SECONDS

log = logging.getLogger(__name__)

SIMULATED_START = datetime(2024, 1, 1, tzinfo=UTC)
DAY_MS = 86_400_000
REPLAY_TIMEFRAME = "4h"


@dataclass(slots=True)
class PaperSetup:
    """A paper venue on its replay clock, with the period it will replay."""

    venue: PaperVenue
    clock: ReplayClock
    data: MarketData
    start: datetime
    end: datetime
    notes: tuple[str, ...] = ()
    """What the replay left out (optional assets without enough history), and why it starts
    later than asked when it does."""


@dataclass(frozen=True, slots=True)
class MarketAssets:
    """The assets a paper market loads, and the closes it needs before its first cycle."""

    required: tuple[str, ...]
    """Holdings and configured proxy legs: the replay cannot run without their history."""
    optional: tuple[str, ...]
    """Auto-proxy legs and the strategy's history assets that the data has."""
    skipped: tuple[str, ...]
    """Optional assets the data does not have: left out."""
    legs: frozenset[str]
    """Every perp the baskets may hedge a holding with."""
    warmup_bars: int
    """Replay bars of closes the strategy and the baskets' estimates need at the first cycle."""

    @property
    def assets(self) -> list[str]:
        """Return every asset to load, required and optional, sorted."""
        return sorted({*self.required, *self.optional})


def _holdings(config: Config) -> list[str]:
    return sorted(a for a, amount in config.paper.holdings.items() if amount > 0)


def _basket_universe(config: Config, has_perp: Callable[[str], bool]) -> Universe:
    """Return what the engine's baskets see at the start: the perps it loads, proxies, rules."""
    rules = config.hedge.baskets.rules(timeframe_ms(REPLAY_TIMEFRAME) // 1000)
    proxies = {
        asset: [LegWeight(leg.asset, leg.weight) for leg in legs]
        for asset, legs in config.hedge.proxies.items()
    }
    allowed = config.hedge.perps
    wanted = {
        a for a in (*_holdings(config), *rules.auto_assets()) if allowed is None or a in allowed
    }
    wanted.update(leg.asset for legs in proxies.values() for leg in legs)
    return Universe({a for a in wanted if has_perp(a)}, proxies, rules)


def market_assets(
    config: Config,
    strategy: Strategy | None = None,
    available: Collection[str] | None = None,
    perps: Collection[str] | None = None,
) -> MarketAssets:
    """Return the assets whose prices the paper market needs, and the warmup they need.

    Required: the holdings and their configured proxy legs. Optional: the perps an automatic
    proxy basket (``[hedge.baskets]``) may pick for a holding without a usable perp, and the
    strategy's ``needs.history_assets`` (e.g. a volatility ``reference`` not held); only those in
    ``available`` (assets with spot history; None = any, as in the simulated market) are kept.
    ``perps`` are the assets with perp history (None = all). The warmup, in replay bars, covers
    the span of the strategy's ``needs.history_bars`` (sized for the finest bar,
    `FINEST_BAR_SECONDS`) and the baskets' lookback when they estimate correlations or betas.
    """
    holdings = _holdings(config)
    proxy_legs = {leg.asset for legs in config.hedge.proxies.values() for leg in legs}
    required = sorted({*holdings, *proxy_legs})
    universe = _basket_universe(config, lambda asset: perps is None or asset in perps)
    legs = {leg for asset in holdings for leg in possible_leg_assets(asset, universe)}
    needs = strategy.needs if strategy is not None else StrategyNeeds()
    wanted = (legs | set(needs.history_assets)) - set(required)
    optional = sorted(a for a in wanted if available is None or a in available)
    bars = max(replay_bars(needs.history_bars), history_bars(holdings, universe))
    return MarketAssets(
        tuple(required),
        tuple(optional),
        tuple(sorted(wanted - set(optional))),
        frozenset(legs),
        bars,
    )


def replay_bars(finest_bars: int) -> int:
    """Return the replay bars that span ``finest_bars`` bars of `FINEST_BAR_SECONDS`."""
    bar_seconds = timeframe_ms(REPLAY_TIMEFRAME) // 1000
    return -(-finest_bars * FINEST_BAR_SECONDS // bar_seconds)


def jump_history_bars(config: Config) -> int:
    """Return the replay bars of spot closes the margin guard's jump policy reads (0: fixed)."""
    if config.risk.margin_policy != "jumps":
        return 0
    return config.risk.jump_lookback_seconds * 1000 // timeframe_ms(REPLAY_TIMEFRAME)


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
    strategy: Strategy | None = None,
) -> PaperSetup:
    """Load history (or simulate a market) and open a paper account at the replay start.

    The market holds `market_assets`: a missing holding or proxy leg is an error, a missing
    optional asset is left out with a note. The replay starts at ``paper.start`` once
    ``warmup_bars`` replay bars of spot closes lie behind it (and at least what ``strategy`` and
    the baskets need); a holding whose spot history or perp begins too late for that moves the
    start, and a note names it (`_replay_start`). Real spot history also reaches back over the
    jump policy's lookback (`jump_history_bars`) where the data has it, without moving the start.
    """
    _check_interval(config)
    paper = config.paper
    if data_dir is not None:
        directory = find_data_dir(data_dir)
    else:
        directory = find_data_dir(paper.data_dir, "paper.data_dir")
    if directory is None:
        plan = market_assets(config, strategy)
    else:
        spot, perps = available_assets(directory), available_assets(directory, market="perp")
        plan = market_assets(config, strategy, spot, perps)
        _check_required(config, spot, directory)
    warmup_bars = max(warmup_bars, plan.warmup_bars)
    assets, required = plan.assets, list(plan.required)
    bar_ms = timeframe_ms(REPLAY_TIMEFRAME)
    if directory is None:
        start = paper.start or SIMULATED_START
        data = simulate_market(
            assets, to_ms(start), paper.simulated_bars + warmup_bars, REPLAY_TIMEFRAME, paper.seed
        )
        first = to_ms(start) + (warmup_bars + 1) * bar_ms
        late = None
    else:
        data = load_history(
            directory,
            assets,
            REPLAY_TIMEFRAME,
            start_ms=to_ms(paper.start) if paper.start else None,
            end_ms=to_ms(paper.end) if paper.end else None,
            warmup_bars=warmup_bars,
            spot_history_bars=jump_history_bars(config),
        )
        _check_perps_cover(data, required, directory, config)
        _common_range(data, required, directory, config)
        asked = to_ms(paper.start) if paper.start is not None else None
        first, late = _replay_start(data, required, warmup_bars, asked)
    _, last = _common_range(data, required, directory, config)
    if paper.end is not None:
        last = min(last, to_ms(paper.end))
    first = -(-first // bar_ms) * bar_ms  # align to a bar close
    if last <= first:
        raise ConfigError(
            f"paper.start/paper.end: no common history for {', '.join(required)} in that period "
            f"(data covers {from_ms(first):%F} → {from_ms(last):%F})"
        )
    notes = _drop_unusable_perps(data, plan, first, last)
    if late is not None:
        notes.insert(0, late)
    if plan.skipped:
        notes.insert(0, f"no history of {', '.join(plan.skipped)} in {directory}: left out")
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
    return PaperSetup(venue, clock, data, from_ms(first), from_ms(last), tuple(notes))


def _replay_start(
    data: MarketData, assets: Sequence[str], warmup_bars: int, asked_ms: int | None
) -> tuple[int, str | None]:
    """Return the first cycle's time, and a note when it is later than asked and why.

    The first cycle comes one replay bar after ``asked_ms`` (its first close), once each asset's
    spot history holds ``warmup_bars`` closes before it, and once each asset's perp trades (the
    hedge needs its price); perps need no warm-up. With nothing asked, the data's start is asked.
    """
    bar_ms = data.timeframe_ms
    limits: list[tuple[int, str]] = []
    for asset in assets:
        spot = data.spot.get(asset)
        if spot is not None and spot.first_close_ms is not None:
            begins = from_ms(spot.first_close_ms - bar_ms)
            why = f"the spot history of {asset} begins {begins:%F %R}"
            if warmup_bars:
                days = warmup_bars * bar_ms / DAY_MS
                why += f" and the strategy needs {warmup_bars} bars ({days:.1f} days) of it first"
            limits.append((spot.first_close_ms + warmup_bars * bar_ms, why))
        perp = data.perp.get(asset)
        if perp is not None and perp.first_close_ms is not None:
            trades = from_ms(perp.first_close_ms)
            why = f"{asset} can be hedged from {trades:%F %R}, when its perp first trades"
            limits.append((perp.first_close_ms, why))
    first, why = max(limits, key=lambda limit: limit[0])
    if asked_ms is None:
        return first, None
    natural = -(-asked_ms // bar_ms) * bar_ms + bar_ms  # the first bar close after the ask
    if first <= natural:
        return natural, None
    first = -(-first // bar_ms) * bar_ms
    asked = from_ms(asked_ms)
    return first, f"replay starts {from_ms(first):%F %R}, not {asked:%F} as asked: {why}"


def _common_range(
    data: MarketData, assets: Sequence[str], directory: Path | None, config: Config
) -> tuple[int, int]:
    """Return `MarketData.common_range_ms`, or raise ConfigError naming the empty period."""
    try:
        return data.common_range_ms(assets)
    except ValueError:
        pass
    paper = config.paper
    period = f"{paper.start:%Y-%m-%d}" if paper.start else "the start of the data"
    period += f" and {paper.end:%Y-%m-%d}" if paper.end else " and its end"
    covers = ""
    if directory is not None:
        try:
            whole = load_history(directory, assets, REPLAY_TIMEFRAME).common_range_ms(assets)
        except (ValueError, OSError):
            pass
        else:
            first, last = (from_ms(ms) for ms in whole)
            covers = f" (its history of them covers {first:%F} → {last:%F})"
    raise ConfigError(
        f"no candles of {', '.join(assets)} between {period} in {directory}{covers}: choose a "
        "period inside the data (--from/--to, --window, or paper.start/paper.end)"
    )


def _check_perps_cover(
    data: MarketData, assets: Sequence[str], directory: Path, config: Config
) -> None:
    """Raise ConfigError for a holding whose perp history has no bar in the replay period.

    Its perp exists (else it would be hedged through a proxy) but cannot be traded then.
    """
    empty = [
        a
        for a in assets
        if a in data.perp
        and data.perp[a].first_close_ms is None
        and a in data.spot
        and data.spot[a].first_close_ms is not None  # else the period has no candles at all
    ]
    if not empty:
        return
    asset = empty[0]
    paper = config.paper
    period = f"{paper.start:%Y-%m-%d}" if paper.start else "the start of the data"
    period += f" → {paper.end:%Y-%m-%d}" if paper.end else " → its end"
    covers = ""
    try:
        whole = load_history(directory, [asset], REPLAY_TIMEFRAME).perp.get(asset)
    except (ValueError, OSError):
        whole = None
    if whole is not None and whole.first_close_ms is not None and whole.last_close_ms is not None:
        begins, ends = from_ms(whole.first_close_ms), from_ms(whole.last_close_ms)
        covers = f" (it covers {begins:%F} → {ends:%F})"
    raise ConfigError(
        f"paper.holdings: the perp history of {', '.join(empty)} in {directory} has no bars in "
        f"the replay period {period}{covers}: choose a period it covers (--from/--to, "
        "paper.start/paper.end), or remove the holding"
    )


def _check_required(config: Config, spot: Collection[str], directory: Path) -> None:
    """Raise ConfigError naming the holdings or proxy legs without spot history."""
    for field, assets in (
        ("paper.holdings", _holdings(config)),
        ("hedge.proxies", [leg.asset for legs in config.hedge.proxies.values() for leg in legs]),
    ):
        missing = sorted({a for a in assets if a not in spot})
        if missing:
            raise ConfigError(
                f"{field}: no spot history of {', '.join(missing)} in {directory} "
                f"(it has {', '.join(spot) or 'none'}); fetch it (scripts/fetch_history.py) "
                "or leave it out"
            )


def _drop_unusable_perps(data: MarketData, plan: MarketAssets, first: int, last: int) -> list[str]:
    """Keep an optional asset's perp only if it may be a leg and trades over the whole replay.

    A history-only asset needs its spot closes alone; a proxy candidate listed before its perp
    has prices would leave the cycles without a quote for it. Return a note naming the latter.
    """
    unusable: list[str] = []
    for asset in plan.optional:
        series = data.perp.get(asset)
        if series is None:
            continue
        begins, ends = series.first_close_ms, series.last_close_ms
        covers = begins is not None and ends is not None and begins <= first and ends >= last
        if asset in plan.legs and covers:
            continue
        for table in (data.perp, data.mark, data.funding):
            table.pop(asset, None)
        if asset in plan.legs:
            unusable.append(asset)
    if not unusable:
        return []
    names = ", ".join(unusable)
    return [f"perp history of {names} does not cover the replay: not used as proxy legs"]


def open_paper(
    config: Config, data_dir: str | Path | None, speed: float = 0.0, session: str | None = None
) -> tuple[Strategy, PaperSetup]:
    """Create the configured strategy and a paper account whose history covers its warmup.

    The warmup also covers the baskets' lookback; ``session`` defaults to `session_tag`.
    """
    strategy = build_strategy(config)
    setup = build_paper(config, data_dir, speed, session or session_tag(), strategy=strategy)
    return strategy, setup


def session_tag(now: datetime | None = None) -> str:
    """Return a compact tag that keeps each paper session's ids apart in one journal."""
    moment = now or datetime.now(UTC)
    return f"{moment:%Y%m%dT%H%M%S}-{secrets.token_hex(2)}"  # two runs in one second differ

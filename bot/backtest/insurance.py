"""How much of a crash loss a basket's hedge removed, per unit of hedge ratio, and what it cost.

Share removed (per h) over a window where the spot lost money: hedge P&L / −spot P&L / h; the
hedge P&L is the futures equity gained (fees and funding included), the spot P&L the spot value
from the first cycle to the last. 1.00 means the hedge took back exactly h of the loss, as a
holding's own perp does. Carry: fees minus funding received, per year, as a fraction of the
average spot value (what the insurance cost while nothing crashed).

A `Method` is one way the config can choose the proxy basket today (auto proxy with or without
beta or minimum-variance sizing, a fixed proxy, the holdings' own perps); `hedge_section` turns a
basket and a method into the config's ``[hedge]`` table, and `restricted_data` hides the perps a
method may not trade from a replay (a holding with a perp in the data is otherwise required to
trade it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.backtest.metrics import DAYS_PER_YEAR
from bot.backtest.runner import Point, RunResult
from bot.core.domain import ZERO
from bot.core.errors import ConfigError
from bot.market.history import load_history
from bot.reporting.display import table
from bot.settings.config import Config
from bot.sim.paper_account import REPLAY_TIMEFRAME, PaperSetup
from strategies.baskets import LegWeight, Universe
from strategies.effectiveness import describe, proxy_effectiveness

AUTO_SIZING = {"": {}, "+beta": {"beta": True}, "+minvar": {"min_variance": True}}
"""Auto or fixed proxy method suffix -> the ``[hedge.baskets]`` sizing it switches on."""


def share_removed(spot_pnl: float, hedge_pnl: float, ratio: float) -> float | None:
    """Return hedge P&L / −spot P&L / ``ratio``; None unless the spot lost and ``ratio`` > 0."""
    if spot_pnl >= 0 or ratio <= 0:
        return None
    return hedge_pnl / -spot_pnl / ratio


def carry_per_year(points: Sequence[Point]) -> float | None:
    """Return (fees − funding received) per year / average spot value; None without a span."""
    if len(points) < 2:
        return None
    first, last = points[0], points[-1]
    years = (last.time - first.time).total_seconds() / (DAYS_PER_YEAR * 86400)
    spot = sum(float(p.spot) for p in points) / len(points)
    if years <= 0 or spot <= 0:
        return None
    return float(last.fees - last.funding) / years / spot


@dataclass(frozen=True, slots=True)
class Outcome:
    """One replay of one basket and method over one period."""

    spot_pnl: float
    hedge_pnl: float
    share: float | None
    """Share of the spot loss removed per unit of hedge ratio; None when the spot did not lose."""
    carry: float | None


def outcome(result: RunResult, ratio: float) -> Outcome:
    """Return the spot and hedge P&L of a replay, the share removed per h and the carry."""
    points = result.points
    if not points:
        raise ValueError(f"run {result.spec.label!r} has no cycles to measure")
    spot = float(points[-1].spot - points[0].spot)
    hedge = float(points[-1].futures_equity - result.collateral)
    return Outcome(spot, hedge, share_removed(spot, hedge, ratio), carry_per_year(points))


@dataclass(frozen=True, slots=True)
class Method:
    """One way of choosing the proxy basket: its label and the ``[hedge]`` settings it sets."""

    label: str
    own: bool = False
    """Hedge each holding with its own perp (when the data has one)."""
    proxy: tuple[LegWeight, ...] = ()
    """A fixed proxy for every holding; empty for the automatic one."""
    sizing: Mapping[str, bool] = field(default_factory=dict)


def parse_method(text: str) -> Method:
    """Read ``auto[+beta|+minvar]``, ``own`` or ``fixed[+beta|+minvar]:BTC=0.5,ETH=0.5``."""
    name, _, legs = text.partition(":")
    if name == "own" and not legs:
        return Method(text, own=True)
    for kind in ("auto", "fixed"):
        suffix = name.removeprefix(kind)
        if name.startswith(kind) and suffix in AUTO_SIZING and (kind == "fixed") == bool(legs):
            proxy = tuple(_leg(text, pair) for pair in legs.split(",")) if legs else ()
            if proxy and sum(leg.weight for leg in proxy) != 1:
                raise ConfigError(f"method {text}: the weights must sum to 1")
            return Method(text, proxy=proxy, sizing=AUTO_SIZING[suffix])
    raise ConfigError(
        f"method {text}: use auto, auto+beta, auto+minvar, own or fixed[+beta]:BTC=0.5,ETH=0.5"
    )


def _leg(text: str, pair: str) -> LegWeight:
    asset, sep, weight = pair.partition("=")
    try:
        amount = Decimal(weight)
    except ArithmeticError:
        amount = ZERO
    if not sep or not asset.strip() or not amount > 0:
        raise ConfigError(f"method {text}: write each leg as ASSET=WEIGHT, the weight above 0")
    return LegWeight(asset.strip().upper(), amount)


@dataclass(frozen=True, slots=True)
class BasketSpec:
    """The holdings to insure and the perps allowed to hedge them."""

    assets: tuple[str, ...]
    perps: tuple[str, ...]
    anchor: str = "BTC"
    anchor_weight: Decimal = Decimal("0.5")
    lookback: str = "30d"
    candidates: tuple[str, ...] = ()
    """Auto proxy candidates; empty = every allowed perp but the anchor."""


def hedge_section(basket: BasketSpec, method: Method) -> dict[str, Any]:
    """Return the config's ``[hedge]`` table for ``basket`` hedged by ``method``."""
    perps = [*basket.perps, *(a for a in basket.assets if method.own and a not in basket.perps)]
    candidates = basket.candidates or tuple(p for p in basket.perps if p != basket.anchor)
    legs = [{"asset": leg.asset, "weight": str(leg.weight)} for leg in method.proxy]
    return {
        "perps": perps,
        "proxies": {asset: legs for asset in basket.assets} if legs else {},
        "baskets": {
            "auto_proxy": not method.own and not legs,
            "anchor": basket.anchor,
            "anchor_weight": str(basket.anchor_weight),
            "candidates": list(candidates),
            "lookback": basket.lookback,
            **method.sizing,
        },
    }


def hidden_perps(basket: BasketSpec, method: Method) -> list[str]:
    """Return the holdings whose perps a replay of ``method`` must not see."""
    return [] if method.own else [a for a in basket.assets if a not in basket.perps]


def restricted_data(source: Path, hidden: Sequence[str], into: Path, quote: str = "USDT") -> Path:
    """Link every file of ``source`` into ``into`` except the perp files of ``hidden`` assets."""
    skipped = tuple(f"binance_perp_{asset}{quote}_" for asset in hidden)
    into.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.iterdir()):
        if path.is_file() and not path.name.startswith(skipped):
            (into / path.name).symlink_to(path.resolve())
    return into


def equal_value(
    data_dir: Path, assets: Sequence[str], at_ms: int, value: Decimal
) -> dict[str, Decimal]:
    """Return amounts of ``assets`` worth ``value`` each at their last spot close by ``at_ms``."""
    data = load_history(
        data_dir, assets, REPLAY_TIMEFRAME, start_ms=at_ms, end_ms=at_ms, warmup_bars=1
    )
    amounts = {}
    for asset in assets:
        bars = data.spot[asset].closes_until(at_ms, 1)
        if not bars:
            raise ConfigError(f"{asset}: no spot close before {at_ms} in {data_dir}")
        amounts[asset] = (value / bars[-1].close).quantize(Decimal("0.0001"))
    return amounts


def backtest_effectiveness(config: Config, base: PaperSetup) -> list[str]:
    """Return the effectiveness line of each proxied holding from the closes before the start."""
    bar_seconds = base.venue.bar_seconds
    rules = config.hedge.baskets.rules(bar_seconds)
    allowed = config.hedge.perps
    perps = {a for a in base.data.perp if allowed is None or a in allowed}
    proxies = {
        asset: [LegWeight(leg.asset, leg.weight) for leg in legs]
        for asset, legs in config.hedge.proxies.items()
    }
    perps.update(leg.asset for legs in proxies.values() for leg in legs)
    start_ms = int(base.start.timestamp() * 1000)
    history = {
        asset: [bar.close for bar in series.closes_until(start_ms, rules.lookback_bars + 1)]
        for asset, series in base.data.spot.items()
    }
    universe = Universe(perps, proxies, rules, history)
    holdings = [a for a, amount in config.paper.holdings.items() if amount > ZERO]
    return [describe(e) for e in proxy_effectiveness(holdings, universe, bar_seconds)]


def render(
    methods: Sequence[str],
    cells: Mapping[tuple[str, str], Outcome | str],
    windows: Sequence[str],
    calm: Sequence[str] = (),
) -> str:
    """Return one row per period, one column per method: share removed (×h), then carry per year.

    A crash window shows the share removed (``-`` when the spot did not lose), a calm period the
    carry; a string cell is shown as it is (why that replay could not run).
    """

    def show(cell: Outcome | str, carry: bool) -> str:
        if isinstance(cell, str):
            return cell
        value = cell.carry if carry else cell.share
        if value is None:
            return "-"
        return f"{value * 100:.2f}%/yr" if carry else f"{value:.2f}h"

    rows = [
        [f"{period} (carry)" if carry else period]
        + [show(cells.get((period, method), "-"), carry) for method in methods]
        for period, carry in [*((w, False) for w in windows), *((c, True) for c in calm)]
    ]
    return table(["period", *methods], rows)


def replay_config(
    basket: BasketSpec,
    method: Method,
    holdings: Mapping[str, Decimal],
    period: tuple[datetime, datetime],
    ratio: Decimal,
    collateral: Decimal,
    interval: str = "4h",
) -> dict[str, Any]:
    """Return a paper config (a TOML-shaped dict) replaying ``period`` at a static ``ratio``."""
    start, end = period
    return {
        "interval": interval,
        "exchange": {"name": "paper", "account": "insurance"},
        "paper": {
            "holdings": {a: str(amount) for a, amount in holdings.items()},
            "collateral": str(collateral),
            "start": start.isoformat(),
            "end": end.isoformat(),
        },
        "strategy": {"name": "static", "ratio": str(ratio)},
        "hedge": hedge_section(basket, method),
        "risk": {"leverage": 2, "max_leverage": 2},
    }

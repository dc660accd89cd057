"""Print the insurance frontier of the shipped strategies on the paper portfolio and an alt basket.

For each portfolio it replays every crash window and rising period (`bot.backtest.windows`)
through the backtest engine, once per static ratio of the line and once per strategy, and prints
the frontier (`bot.backtest.frontier`: crash loss removed against calm upside given up, the
static line, one verdict per strategy) over the tuning periods and over the held-out ones apart.
Only the held-out frontier judges a rule tuned on the tuning periods.

Portfolios (``--portfolio``):

- ``paper``: config/paper.toml's holdings and NEO's BTC/ETH proxy;
- ``alts``: LINK, DOGE, XLM and XTZ, ``--value`` USDT each at every period's start, hedged with
  BTC and ETH only (auto proxy, beta-sized; their own perps hidden from the replay).

Collateral is ``--collateral`` × the spot value at each period's start, at 2x leverage, so the
margin guard never has to cut a hedge for want of collateral.

    python scripts/bench_frontier.py --data-dir ../shared/data [--portfolio paper alts] \\
        [--crash all] [--calm all] [--static 0.2 0.4 0.6 0.8 1] [--compare SPEC ...]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
import tomllib
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.backtest.frontier import Frontier, line_ratios
from bot.backtest.frontier_output import render_frontier
from bot.backtest.frontier_runs import measure_frontier
from bot.backtest.insurance import (
    BasketSpec,
    equal_value,
    hedge_section,
    hidden_perps,
    parse_method,
    restricted_data,
)
from bot.backtest.runner import RunSpec
from bot.backtest.windows import RISES, SPLITS, WINDOWS, Window, select
from bot.cli.commands.backtest import parse_spec
from bot.core.clock import to_ms
from bot.core.errors import ConfigError
from bot.market.history import find_data_dir, load_history
from bot.settings.config import Config, StrategyConfig, parse_config
from bot.sim.paper_account import REPLAY_TIMEFRAME

REPO = Path(__file__).resolve().parents[1]
PAPER = REPO / "config" / "paper.toml"
REGIME = REPO / "config" / "regime.toml"
ALTS = BasketSpec(("LINK", "DOGE", "XLM", "XTZ"), ("BTC", "ETH"))
ALT_METHOD = parse_method("auto+beta")

SHIPPED: dict[str, dict[str, Any]] = {
    "regime (before)": {"name": "volatility_regime", "window": "14d", "downside": False},
    "regime (after)": {"name": "volatility_regime"},
    "profit_taking": {"name": "profit_taking"},
}
"""The shipped strategies at their defaults; ``before`` is the regime's former default (14 days
of every move), ``after`` its default (7 days of falls)."""


def _specs(texts: list[str] | None) -> list[RunSpec]:
    """Return the shipped strategies and regime.toml's, or the ``--compare`` specs."""
    if texts:
        return [parse_spec(text) for text in texts]
    shipped = [RunSpec(k, StrategyConfig.model_validate(v)) for k, v in SHIPPED.items()]
    return [*shipped, RunSpec("regime.toml (2022 events)", parse_spec(str(REGIME)).strategy)]


def _prices(data_dir: Path, assets: list[str], window: Window) -> dict[str, Decimal]:
    """Return each asset's last spot close at or before the period's start."""
    at = to_ms(window.start)
    data = load_history(data_dir, assets, REPLAY_TIMEFRAME, start_ms=at, end_ms=at, warmup_bars=1)
    return {asset: data.spot[asset].closes_until(at, 1)[-1].close for asset in assets}


def _paper(data_dir: Path, multiple: Decimal) -> Callable[[Window], Config]:
    raw = tomllib.loads(PAPER.read_text(encoding="utf-8"))
    raw.pop("journal", None)
    holdings = {asset: Decimal(str(amount)) for asset, amount in raw["paper"]["holdings"].items()}

    def config(window: Window) -> Config:
        prices = _prices(data_dir, list(holdings), window)
        spot = sum(holdings[a] * prices[a] for a in holdings)
        raw["paper"]["collateral"] = str((multiple * spot).quantize(Decimal(1)))
        return parse_config(raw)

    return config


def _alts(data_dir: Path, multiple: Decimal, value: Decimal) -> Callable[[Window], Config]:
    def config(window: Window) -> Config:
        holdings = equal_value(data_dir, ALTS.assets, to_ms(window.start), value)
        return parse_config(
            {
                "interval": "4h",
                "exchange": {"name": "paper", "account": "frontier"},
                "paper": {
                    "holdings": {a: str(amount) for a, amount in holdings.items()},
                    "collateral": str(multiple * value * len(holdings)),
                },
                "hedge": hedge_section(ALTS, ALT_METHOD),
                "risk": {"leverage": 2, "max_leverage": 2},
            }
        )

    return config


def _print(title: str, frontier: Frontier, seconds: float) -> None:
    print(f"== {title} ({seconds:.0f}s)")
    for split in (*SPLITS, "custom"):
        part = frontier.only(split)
        if part.periods:
            print(f"-- {split} periods")
            try:
                print(render_frontier(part))
            except ConfigError as error:  # e.g. crash windows but no rising period in this split
                print(f"not measured: {error}")
            print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", help="history CSVs (default: $HEDGEBOT_DATA_DIR, ../shared)")
    parser.add_argument(
        "--portfolio", nargs="+", choices=["paper", "alts"], default=["paper", "alts"]
    )
    parser.add_argument("--crash", nargs="+", default=["all"], help="crash windows (or a split)")
    parser.add_argument("--calm", nargs="+", default=["all"], help="rising periods (or a split)")
    parser.add_argument("--static", nargs="+", help="static line (default 0.2 0.4 0.6 0.8 1)")
    parser.add_argument("--compare", nargs="+", help="as hedgebot backtest's (default: shipped)")
    parser.add_argument("--collateral", type=Decimal, default=Decimal(2), help="× spot value")
    parser.add_argument("--value", type=Decimal, default=Decimal(10_000), help="USDT per alt")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    data_dir = find_data_dir(args.data_dir)
    if data_dir is None:
        raise SystemExit("no market history: pass --data-dir (e.g. ../shared/data)")
    logging.getLogger("bot").setLevel(logging.ERROR)  # the guard's warnings stay off the tables
    periods = (select(args.crash, WINDOWS, "--crash"), select(args.calm, RISES, "--calm"))
    specs, ratios = _specs(args.compare), line_ratios(args.static)
    portfolios: Mapping[str, Callable[[Path], Callable[[Window], Config]]] = {
        "paper": lambda view: _paper(view, args.collateral),
        "alts": lambda view: _alts(view, args.collateral, args.value),
    }
    titles = {
        "paper": "paper portfolio (config/paper.toml holdings)",
        "alts": f"{', '.join(ALTS.assets)} (equal value) hedged with {', '.join(ALTS.perps)}",
    }
    for name in args.portfolio:
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="hedgebot-frontier-") as scratch:
            hidden = hidden_perps(ALTS, ALT_METHOD) if name == "alts" else []
            view = restricted_data(data_dir, hidden, Path(scratch)) if hidden else data_dir
            frontier = measure_frontier(
                portfolios[name](view), view, specs, periods, ratios, None, args.workers
            )
        _print(titles[name], frontier, time.perf_counter() - started)


if __name__ == "__main__":
    main()

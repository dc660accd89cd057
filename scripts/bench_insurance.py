"""Measure how much of a crash loss a proxy-hedged basket's insurance removed, per method.

For a basket of spot holdings (equal value at each period's start) hedged at a static ratio h
with only the ``--perps`` allowed, it replays each crash window (`bot.backtest.windows`) and a
calm period through the backtest engine (`prepare`, `run_one`), once per ``--method`` (ways the
config chooses the proxy basket today: ``auto``, ``auto+beta``, ``auto+minvar``, ``own``,
``fixed[+beta]:BTC=0.5,ETH=0.5``), and prints the share of the spot loss the hedge removed in
units of h (hedge P&L / −spot P&L / h; 1.00h is what a holding's own perp gives), then the carry
of the calm period (fees minus funding received, per year, % of spot). The arithmetic is
`bot.backtest.insurance`'s. Replays run ``--workers`` at a time, each in a process of its own.

    python scripts/bench_insurance.py --assets AVAX,DOT,NEAR,SOL \
        --perps BTC,ETH,ADA,XRP,LTC,BCH --method auto+beta own [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from bot.backtest.insurance import (
    BasketSpec,
    Method,
    Outcome,
    equal_value,
    hidden_perps,
    outcome,
    parse_method,
    render,
    replay_config,
    restricted_data,
)
from bot.backtest.runner import RunSpec, prepare, run_one
from bot.backtest.windows import WINDOWS
from bot.core.clock import to_ms
from bot.core.errors import HedgebotError
from bot.market.history import find_data_dir
from bot.settings.config import parse_config

REFERENCE_WINDOWS = ("may-2021", "may-june-2022", "november-2022", "october-2025")
CALM = "2025-06-01:2025-09-01"
VALUE = Decimal(10_000)


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip().upper() for part in text.split(",") if part.strip())


def _period(text: str) -> tuple[datetime, datetime]:
    start, _, end = text.partition(":")
    return (
        datetime.fromisoformat(start).replace(tzinfo=UTC),
        datetime.fromisoformat(end).replace(tzinfo=UTC),
    )


def replay(
    data_dir: Path,
    basket: BasketSpec,
    method: Method,
    period: tuple[datetime, datetime],
    ratio: Decimal,
    interval: str,
) -> Outcome | str:
    """Replay one period and method; return its outcome, or why it could not run."""
    logging.getLogger("bot").setLevel(logging.ERROR)  # the guard's warnings stay off the table
    try:
        holdings = equal_value(data_dir, basket.assets, to_ms(period[0]), VALUE)
        collateral = 2 * VALUE * len(holdings)
        config = parse_config(
            replay_config(basket, method, holdings, period, ratio, collateral, interval)
        )
        spec = RunSpec(method.label, config.strategy)
        with tempfile.TemporaryDirectory(prefix="hedgebot-insurance-") as scratch:
            view = restricted_data(data_dir, hidden_perps(basket, method), Path(scratch))
            base = prepare(config, view, [spec])
            result = asyncio.run(run_one(config, base, spec, f"insurance-{method.label}"))
    except HedgebotError:
        return "no data"
    return outcome(result, float(ratio))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=_names, required=True, help="spot holdings, A,B,C")
    parser.add_argument("--perps", type=_names, required=True, help="perps allowed to hedge")
    parser.add_argument("--method", nargs="+", default=["auto+beta"], help="basket methods")
    parser.add_argument("--window", nargs="+", default=list(REFERENCE_WINDOWS))
    parser.add_argument("--calm", default=CALM, help=f"calm period FROM:TO (default {CALM})")
    parser.add_argument("--ratio", type=Decimal, default=Decimal("0.4"), help="static h")
    parser.add_argument("--anchor", default="BTC")
    parser.add_argument("--anchor-weight", type=Decimal, default=Decimal("0.5"))
    parser.add_argument("--candidates", type=_names, default=(), help="default: perps − anchor")
    parser.add_argument("--lookback", default="30d")
    parser.add_argument("--interval", default="4h")
    parser.add_argument("--data-dir", help="history CSVs (default: $HEDGEBOT_DATA_DIR, ../shared)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    data_dir = find_data_dir(args.data_dir)
    if data_dir is None:
        raise SystemExit("no market history: pass --data-dir (e.g. ../shared/data)")
    basket = BasketSpec(
        args.assets,
        args.perps,
        args.anchor.upper(),
        args.anchor_weight,
        args.lookback,
        args.candidates,
    )
    methods = [parse_method(text) for text in args.method]
    periods = {name: (WINDOWS[name].start, WINDOWS[name].end) for name in args.window}
    periods[f"calm {args.calm}"] = _period(args.calm)
    tasks = [(name, method) for name in periods for method in methods]
    with ProcessPoolExecutor(args.workers) as pool:
        futures = {
            (name, method.label): pool.submit(
                replay, data_dir, basket, method, periods[name], args.ratio, args.interval
            )
            for name, method in tasks
        }
        cells = {key: future.result() for key, future in futures.items()}
    print(
        f"{', '.join(basket.assets)} (equal value) hedged at h = {args.ratio} with "
        f"{', '.join(basket.perps)}; share of the spot loss removed, in units of h"
    )
    labels = [method.label for method in methods]
    print(render(labels, cells, args.window, [f"calm {args.calm}"]))


if __name__ == "__main__":
    main()

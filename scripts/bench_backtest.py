"""Benchmark the backtest replay: asset-bars per second through the full engine, and peak memory.

For 5 and 15 assets (those with spot and perp candles whose common history is longest) it replays
that whole common history through `bot.backtest.runner` — the paper engine with strategy, planner,
guards, order manager and an in-memory SQLite journal — hedging an equal-value portfolio at 50%.
Each size runs in a fresh process so that its peak resident memory is its own.

``--windows`` instead replays the six crash windows (`bot.backtest.windows`) at daily cadence,
static ratio 0.4 on own perps (`reference_backtest.SETUP`), through hedgebot (`prepare` and
`run_one`, in this process) and through the numpy reference side by side, window by window (each
side reads its history on first use, so the first window carries both loads); it prints both
times, their ratio, and how far the metrics differ (failing when beyond a cent or 1e-6 pp).

    python scripts/bench_backtest.py [--data-dir ../shared/data] [--sizes 5 15]
    python scripts/bench_backtest.py --windows [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import logging
import resource
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from reference_backtest import Result, hedgebot_config, run_reference

from bot.backtest.metrics import measure
from bot.backtest.runner import RunSpec, prepare, run_one
from bot.backtest.windows import WINDOWS
from bot.core.clock import to_ms
from bot.market.history import available_assets, default_shared_data_dir, find_data_dir
from bot.settings.config import Config, StrategyConfig, parse_config

RATIO = Decimal("0.5")
VALUE_PER_ASSET = Decimal(10_000)


def _first_ms(path: Path) -> int:
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        return int(next(reader)[0])


def _perp_file(data_dir: Path, asset: str) -> Path | None:
    for tf in ("4h", "1h"):
        path = data_dir / f"binance_perp_{asset}USDT_{tf}.csv"
        if path.is_file():
            return path
    return None


def longest_history_assets(data_dir: Path, count: int) -> list[str]:
    """Return the ``count`` assets with spot and perp candles that start earliest."""
    starts: dict[str, int] = {}
    for asset in available_assets(data_dir):
        perp = _perp_file(data_dir, asset)
        spot = next(data_dir.glob(f"binance_spot_{asset}USDT_*.csv"))
        if perp is not None:
            starts[asset] = max(_first_ms(perp), _first_ms(spot))
    chosen = sorted(starts, key=lambda a: (starts[a], a))[:count]
    if len(chosen) < count:
        raise SystemExit(f"only {len(chosen)} assets with spot and perp candles in {data_dir}")
    return sorted(chosen)


def _config(assets: list[str], holdings: dict[str, Decimal], collateral: Decimal) -> Config:
    return parse_config(
        {
            "interval": "4h",
            "exchange": {"name": "paper", "account": "bench"},
            "paper": {"holdings": holdings, "collateral": collateral},
            "strategy": {"name": "static", "ratio": str(RATIO)},
            "hedge": {"deadband": 0.05},
            "risk": {"leverage": 2, "max_leverage": 2, "max_total_notional": 10_000_000},
        }
    )


def bench_one(data_dir: Path, size: int) -> dict[str, Any]:
    """Replay the longest common history of ``size`` assets once; return the figures."""
    assets = longest_history_assets(data_dir, size)
    spec = RunSpec(f"static {RATIO}", StrategyConfig.model_validate({"name": "static"}))
    placeholder = _config(assets, {a: Decimal(1) for a in assets}, Decimal(0))
    loaded = time.perf_counter()
    base = prepare(placeholder, data_dir, [spec])
    load_seconds = time.perf_counter() - loaded
    start_ms = to_ms(base.start)
    holdings = {}
    for asset in assets:
        bar = base.data.spot[asset].last_closed(start_ms)
        assert bar is not None
        holdings[asset] = (VALUE_PER_ASSET / bar.close).quantize(Decimal("0.000001"))
    config = _config(assets, holdings, VALUE_PER_ASSET * size)
    spec = RunSpec(spec.label, config.strategy)
    result = asyncio.run(run_one(config, base, spec, "bench"))
    cycles = len(result.points)
    return {
        "assets": size,
        "names": assets,
        "start": f"{base.start:%Y-%m-%d}",
        "end": f"{base.end:%Y-%m-%d}",
        "cycles": cycles,
        "orders": result.totals.orders,
        "load_seconds": round(load_seconds, 2),
        "replay_seconds": round(result.seconds, 2),
        "asset_bars_per_second": round(cycles * size / result.seconds),
        "cycles_per_second": round(cycles / result.seconds, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


CENT = 0.01
SAME_RETURN = 1e-8
"""Fractions: 1e-8 = 1e-6 percentage points."""


def _hedgebot(data_dir: Path, start: Any, end: Any) -> tuple[Result, float, float]:
    """Replay one window through hedgebot; return its metrics, load and replay seconds."""
    config = parse_config(hedgebot_config(start, end))
    spec = RunSpec("static 40%", config.strategy)
    began = time.perf_counter()
    base = prepare(config, data_dir, [spec])
    loaded = time.perf_counter()
    result = asyncio.run(run_one(config, base, spec, "bench"))
    replayed = time.perf_counter()
    _, m = measure(result)
    figures = Result(
        len(result.points),
        m.orders,
        m.start_value,
        m.end_value,
        m.hedge_pnl,
        m.fees,
        m.funding,
        m.total_return,
        m.max_drawdown,
    )
    return figures, loaded - began, replayed - loaded


def _differences(ours: Result, theirs: Result) -> tuple[float, float]:
    """Return the largest difference in money (USDT) and in returns (fractions)."""
    money = max(
        abs(a - b)
        for a, b in (
            (ours.end_value, theirs.end_value),
            (ours.hedge_pnl, theirs.hedge_pnl),
            (ours.fees, theirs.fees),
            (ours.funding, theirs.funding),
        )
    )
    returns = max(
        abs(ours.total_return - theirs.total_return), abs(ours.max_drawdown - theirs.max_drawdown)
    )
    return money, returns


def bench_windows(data_dir: Path) -> bool:
    """Time hedgebot and the reference on every crash window; return whether metrics agree."""
    logging.getLogger("bot").setLevel(logging.ERROR)  # the margin guard's notes, not the table
    print(
        f"{'window':<15} {'cycles':>6} {'orders':>6} {'ref s':>7} {'hb s':>7} {'load s':>7} "
        f"{'replay s':>8} {'ratio':>6} {'Δ USDT':>8} {'Δ pp':>8}"
    )
    agree = True
    totals = [0.0, 0.0, 0.0, 0.0]
    for window in WINDOWS.values():
        ours, load, replay = _hedgebot(data_dir, window.start, window.end)
        began = time.perf_counter()
        theirs = run_reference(data_dir, window.start, window.end)
        reference = time.perf_counter() - began
        money, returns = _differences(ours, theirs)
        same = (ours.cycles, ours.orders) == (theirs.cycles, theirs.orders)
        agree = agree and same and money <= CENT and returns <= SAME_RETURN
        for i, seconds in enumerate((reference, load + replay, load, replay)):
            totals[i] += seconds
        print(
            f"{window.name:<15} {ours.cycles:>6} {ours.orders:>6} {reference:>7.3f} "
            f"{load + replay:>7.3f} {load:>7.3f} {replay:>8.3f} "
            f"{(load + replay) / reference:>6.1f} {money:>8.5f} {returns * 100:>8.1e}"
            + ("" if same else f"  reference: {theirs.cycles} cycles, {theirs.orders} orders"),
            flush=True,
        )
    reference, ours_total, load, replay = totals
    print(
        f"{'total':<15} {'':>6} {'':>6} {reference:>7.3f} {ours_total:>7.3f} {load:>7.3f} "
        f"{replay:>8.3f} {ours_total / reference:>6.1f}"
    )
    print("metrics agree" if agree else "METRICS DIFFER")
    return agree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", help="history directory (default ../shared/data)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 15])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--windows", action="store_true", help="crash windows, daily: hedgebot vs the reference"
    )
    args = parser.parse_args()
    data_dir = find_data_dir(args.data_dir) or default_shared_data_dir()
    if data_dir is None:
        raise SystemExit("no history: pass --data-dir (e.g. ../shared/data)")
    if args.windows:
        raise SystemExit(0 if bench_windows(data_dir) else 1)
    if args.one is not None:
        print(json.dumps(bench_one(data_dir, args.one)))
        return
    print(
        f"{'assets':>6} {'period':<23} {'cycles':>6} {'orders':>6} {'load s':>7} "
        f"{'replay s':>8} {'asset-bars/s':>12} {'cycles/s':>8} {'peak RSS':>9}"
    )
    for size in args.sizes:
        child = subprocess.run(
            [sys.executable, __file__, "--data-dir", str(data_dir), "--one", str(size)],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(child.stdout.strip().splitlines()[-1])
        print(
            f"{r['assets']:>6} {r['start'] + ' → ' + r['end']:<23} {r['cycles']:>6} "
            f"{r['orders']:>6} {r['load_seconds']:>7.2f} {r['replay_seconds']:>8.2f} "
            f"{r['asset_bars_per_second']:>12,} {r['cycles_per_second']:>8.1f} "
            f"{r['peak_rss_mib']:>6.0f} MiB",
            flush=True,
        )
        print(f"{'':>6} {', '.join(r['names'])}")


if __name__ == "__main__":
    main()

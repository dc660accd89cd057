"""Benchmark the backtest replay: asset-bars per second through the full engine, and peak memory.

For 5 and 15 assets (those with spot and perp candles whose common history is longest) it replays
that whole common history through `bot.backtest.runner` — the paper engine with strategy, planner,
guards, order manager and an in-memory SQLite journal — hedging an equal-value portfolio at 50%.
Each size runs in a fresh process so that its peak resident memory is its own.

    python scripts/bench_backtest.py [--data-dir ../shared/data] [--sizes 5 15]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import resource
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.backtest.runner import RunSpec, prepare, run_one
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", help="history directory (default ../shared/data)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 15])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    data_dir = find_data_dir(args.data_dir) or default_shared_data_dir()
    if data_dir is None:
        raise SystemExit("no history: pass --data-dir (e.g. ../shared/data)")
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

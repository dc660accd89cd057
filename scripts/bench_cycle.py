"""Bench the live path: requests and the bot's own time per cycle, for 1, 10 and 50 hedge legs.

The Binance emulator runs in a separate process (`hedgebot emulator`), so the CPU time measured in
this process is the bot's own work per cycle (engine, ccxt signing and parsing, journal), excluding
time spent waiting on the network. Requests are counted by the venue's request gate.

    python scripts/bench_cycle.py [--legs 1,10,50] [--cycles 20]

``--reaction`` adds a section after the table (`scripts/bench_reaction.py`, an in-process emulator
at the wall clock): the reaction time from an exchange-side ADL to the bot's corrective order,
and the REST requests per steady interval, each with streams on and off, side by side.

    python scripts/bench_cycle.py --reaction [--reaction-runs 10] [--reaction-off-runs 10]
        [--reaction-interval 10] [--reaction-intervals 3] [--reaction-exchanges binanceusdm,bybit]
        [--legs ''] (no table)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from pydantic import SecretStr

from bot.core.clock import ReplayClock
from bot.journal.records import RunMode
from bot.journal.store import Journal
from bot.runtime.engine import Engine
from bot.settings.config import parse_config
from bot.settings.secrets import ApiCredentials
from bot.venue.factory import build_ccxt_venue
from strategies.registry import create_strategy

sys.path.insert(0, str(Path(__file__).absolute().parents[1]))  # the tests package
from tests.emulator_process import emulator_process

sys.path.insert(0, str(Path(__file__).absolute().parent))  # the sibling bench_reaction
import bench_reaction

NAMED = ["BTC", "ETH", "ADA", "XRP", "LTC", "SOL", "DOGE", "LINK", "DOT", "AVAX"]


def assets_for(legs: int) -> list[str]:
    return (NAMED + [f"X{i:02d}" for i in range(legs)])[:legs]


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def bench(legs: int, cycles: int, workdir: Path) -> dict[str, float]:
    """Start an emulator process serving ``legs`` assets and measure the bot against it."""
    env = {**os.environ, "HEDGEBOT_API_KEY": "bench-key", "HEDGEBOT_API_SECRET": "bench-secret"}
    with emulator_process(assets_for(legs), env) as port:
        return asyncio.run(measure(legs, cycles, port, workdir))


def summary(values: list[float], how: str) -> float:
    if not values:
        return float("nan")
    return statistics.median(values) if how == "median" else p99(values)


async def measure(legs: int, cycles: int, port: int, workdir: Path) -> dict[str, float]:
    """Run a warm-up cycle, then alternate rebalancing and steady cycles, counting each."""
    config = parse_config(
        {
            "exchange": {
                "name": "binanceusdm",
                "account": f"bench{legs}",
                "api_url": f"http://127.0.0.1:{port}",
                "requests_per_second": 50,
            },
            "strategy": {"name": "static", "ratio": "0.4"},
            "risk": {
                "leverage": 2,
                "max_price_age": "10000d",
                "max_order_notional": 10**7,
                "max_total_notional": 10**9,
                "max_daily_turnover": 10**10,
                "kill_switch_file": str(workdir / "halt"),
            },
            "journal": {"url": f"sqlite:///{workdir / f'bench{legs}.sqlite'}"},
        }
    )
    credentials = ApiCredentials(SecretStr("bench-key"), SecretStr("bench-secret"))
    venue = build_ccxt_venue(config, credentials)
    # ccxt's leaky-bucket limiter polls the event loop while it waits (tens of thousands of
    # wake-ups per run): that is waiting, not work. Our own gate still budgets requests.
    for client in {id(venue.futures): venue.futures, id(venue.spot): venue.spot}.values():
        client.enableRateLimit = False
    clock = ReplayClock(datetime.now(UTC))
    strategy = create_strategy("static", {"ratio": "0.4"})
    requests: dict[bool, list[float]] = {True: [], False: []}
    cpu: dict[bool, list[float]] = {True: [], False: []}
    with Journal.open(config.journal.url) as journal:
        engine = Engine(config, venue, journal, strategy, clock, RunMode.LIVE)
        await engine.cycle()  # opens every leg, sets leverage and margin type (warm-up)
        ratios = (Decimal("0.2"), Decimal("0.4"))
        for i in range(cycles):
            if i % 2 == 0:  # even cycles move the ratio (rebalancing), odd ones keep it
                strategy.ratio = ratios[(i // 2) % 2]  # type: ignore[attr-defined]
            await clock.sleep(4 * 3600)
            venue.gate.reset_count()
            start = time.process_time()
            report = await engine.cycle()
            used = time.process_time() - start
            acted = bool(report.executions)
            requests[acted].append(venue.gate.total_calls)
            cpu[acted].append(used * 1000)
        await venue.close()
    return {
        "steady_requests": summary(requests[False], "median"),
        "rebalancing_requests": summary(requests[True], "median"),
        "steady_cpu_ms_median": summary(cpu[False], "median"),
        "steady_cpu_ms_p99": summary(cpu[False], "p99"),
        "rebalancing_cpu_ms_median": summary(cpu[True], "median"),
        "rebalancing_cpu_ms_p99": summary(cpu[True], "p99"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--legs", default="1,10,50")
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--reaction", action="store_true", help="add the reaction section")
    parser.add_argument("--reaction-runs", type=int, default=10, help="ADLs timed, streams on")
    parser.add_argument(
        "--reaction-off-runs", type=int, default=None, help="ADLs timed, streams off (= runs)"
    )
    parser.add_argument(
        "--reaction-interval", type=int, default=10, help="streams-off interval (s)"
    )
    parser.add_argument(
        "--reaction-intervals", type=int, default=3, help="steady intervals counted per mode"
    )
    parser.add_argument("--reaction-wait", type=float, default=30.0, help="wait per ADL (s)")
    parser.add_argument("--reaction-exchanges", default="binanceusdm")
    args = parser.parse_args()
    legs = [int(x) for x in args.legs.split(",") if x.strip()]
    if legs:
        table(legs, args.cycles)
    if args.reaction:
        off_runs = args.reaction_runs if args.reaction_off_runs is None else args.reaction_off_runs
        bench_reaction.run(
            [x for x in args.reaction_exchanges.split(",") if x],
            args.reaction_runs,
            off_runs,
            args.reaction_interval,
            args.reaction_intervals,
            max(args.reaction_wait, 2.0 * args.reaction_interval),
        )


def table(legs: list[int], cycles: int) -> None:
    print(
        f"{'legs':>4}  {'req/steady':>10}  {'req/rebal':>9}  {'cpu ms steady med/p99':>22}  "
        f"{'cpu ms rebal med/p99':>21}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for n in legs:
            r = bench(n, cycles, Path(tmp))
            print(
                f"{n:>4}  {r['steady_requests']:>10.0f}  {r['rebalancing_requests']:>9.0f}  "
                f"{r['steady_cpu_ms_median']:>10.1f} / {r['steady_cpu_ms_p99']:<9.1f}  "
                f"{r['rebalancing_cpu_ms_median']:>9.1f} / {r['rebalancing_cpu_ms_p99']:<9.1f}"
            )


if __name__ == "__main__":
    main()

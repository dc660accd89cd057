"""Memory of an unattended `hedgebot run`: peak RSS after a few hundred cycles and at the end.

Runs the real command (`hedgebot run -q`, in this process) on a paper account over the SIMULATED
market, ``--legs`` holdings each hedged by its own perp, for ``--cycles`` 4h cycles, journaling
into a fresh SQLite file. It prints the peak resident set size (``ru_maxrss``) after
``--first`` cycles and after the last one; an unattended bot's memory must not grow with the
number of cycles (the end within 10% of the early figure).

    python scripts/bench_memory.py [--cycles 3000] [--legs 50] [--first 300]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import resource
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

from bot.cli.main import main as hedgebot
from bot.runtime.engine import CycleReport, Engine

NAMED = ["BTC", "ETH", "ADA", "XRP", "LTC", "SOL", "DOGE", "LINK", "DOT", "AVAX"]
LIMIT = 0.10


def assets_for(legs: int) -> list[str]:
    """Return ``legs`` asset names: well-known ones first, then synthetic ``X00``, ``X01``…."""
    return (NAMED + [f"X{i:02d}" for i in range(legs)])[:legs]


def config_text(legs: int, cycles: int, journal: str) -> str:
    """Return a paper config: ``legs`` holdings of about 1,000 USDT each, static 40% hedge."""
    holdings = "\n".join(f"{asset} = 1" for asset in assets_for(legs))
    return f"""interval = "4h"

[exchange]
name = "paper"
account = "bench"

[paper]
collateral = 5000000
simulated_bars = {cycles + 10}
start = 2024-01-01T00:00:00Z

[paper.holdings]
{holdings}

[strategy]
name = "static"
ratio = 0.4

[hedge]
deadband = 0.05

[hedge.baskets]
auto_proxy = false

[risk]
leverage = 1
max_leverage = 2
max_total_notional = 100000000
max_order_notional = 10000000
max_daily_turnover = 100000000
kill_switch_file = "var/bench-memory.halt"

[journal]
url = "{journal}"
"""


def peak_rss_mib() -> float:
    """Return this process's peak resident set size so far, in MiB (Linux: ru_maxrss in KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20


def current_rss_mib() -> float | None:
    """Return the current resident set size in MiB (None where /proc is absent)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


OnCycle = Callable[[CycleReport], Awaitable[None] | None]


def sample_cycles(marks: set[int], samples: dict[int, tuple[float, float | None, float]]) -> None:
    """Wrap `Engine.run` so that the memory is sampled after each cycle count in ``marks``."""
    original = Engine.run
    started = time.perf_counter()

    async def run(
        self: Engine,
        stop: asyncio.Event,
        until: datetime | None = None,
        on_cycle: OnCycle | None = None,
        max_cycles: int | None = None,
    ) -> int:
        count = 0

        def counted(report: CycleReport) -> Awaitable[None] | None:
            nonlocal count
            count += 1
            if count in marks:
                samples[count] = (peak_rss_mib(), current_rss_mib(), time.perf_counter() - started)
            return on_cycle(report) if on_cycle is not None else None

        return await original(self, stop, until, counted, max_cycles)

    Engine.run = run  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    """Run the bench; print both figures; exit 1 when the end exceeds the early one by >10%."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=3000)
    parser.add_argument("--legs", type=int, default=50)
    parser.add_argument("--first", type=int, default=300, help="the early sample (cycles)")
    args = parser.parse_args(argv)
    samples: dict[int, tuple[float, float | None, float]] = {}
    sample_cycles({args.first, args.cycles}, samples)
    with tempfile.TemporaryDirectory(prefix="hedgebot-bench-memory-") as directory:
        work = Path(directory)
        config = work / "bench.toml"
        config.write_text(config_text(args.legs, args.cycles, f"sqlite:///{work / 'j.sqlite'}"))
        log = work / "run.log"  # the run's output and logs, kept out of this process's memory
        with log.open("w") as output:
            with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
                run = ["run", "-q", "--config", str(config), "--max-cycles", str(args.cycles)]
                code = hedgebot(run)
            logging.getLogger().handlers.clear()
        if code != 0 or args.cycles not in samples or args.first not in samples:
            print(log.read_text()[-2000:])
            print(f"run ended with {code} after {sorted(samples)} sampled cycles", file=sys.stderr)
            return 2
    print(f"hedgebot run, paper, SIMULATED market: {args.legs} legs, {args.cycles} cycles of 4h")
    for cycles in (args.first, args.cycles):
        peak, now, seconds = samples[cycles]
        current = "" if now is None else f", current {now:,.0f} MiB"
        print(f"after {cycles:>6,} cycles: peak RSS {peak:,.0f} MiB{current} ({seconds:,.0f} s)")
    early, late = samples[args.first][0], samples[args.cycles][0]
    growth = late / early - 1
    verdict = "ok" if growth <= LIMIT else "FAIL"
    print(f"growth {growth:+.1%} (limit +{LIMIT:.0%}): {verdict}")
    return 0 if growth <= LIMIT else 1


if __name__ == "__main__":
    raise SystemExit(main())

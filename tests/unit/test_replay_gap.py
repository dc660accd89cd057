"""A replay across a hole in its history looks again at the next bar, not every 10 s of replay.

Real history has holes (Binance's 2020-02-19 outage): the prices go stale, the cycle acts on
nothing and asks to be rechecked. Live, a recheck comes after 10 s; in a replay nothing changes
before the next bar, and 10-second rechecks made thousands of identical skipped cycles.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

from bot.backtest.runner import RunSpec, prepare, run_one
from bot.settings.config import StrategyConfig, parse_config
from tests.conftest import paper_config_dict

DAY0 = datetime(2024, 1, 1, tzinfo=UTC)
BAR_MS = 14_400_000
DAYS = 6
GAP = range(12, 24)
"""Bars missing from both files: two days, from day 2."""


def _history(directory: Path) -> None:
    first_ms = int(DAY0.timestamp() * 1000)
    rows = "".join(
        f"{first_ms + i * BAR_MS},100,101,99,{100 + i % 3},1000\n"
        for i in range(DAYS * 6)
        if i not in GAP
    )
    for market in ("spot", "perp"):
        path = directory / f"binance_{market}_FOOUSDT_4h.csv"
        path.write_text("timestamp_ms,open,high,low,close,volume\n" + rows)


async def test_a_hole_in_the_history_costs_one_cycle_per_bar(tmp_path: Path) -> None:
    _history(tmp_path)
    config = parse_config(
        paper_config_dict(
            paper={
                "holdings": {"FOO": 100},
                "start": DAY0.isoformat(),
                "end": (DAY0 + timedelta(days=DAYS)).isoformat(),
            },
            risk={"leverage": 1, "max_leverage": 2, "max_price_age": "4h"},
        )
    )
    spec = RunSpec("static", StrategyConfig.model_validate({"name": "static", "ratio": 0.4}))
    base = prepare(config, tmp_path, [spec])
    result = await run_one(config, base, spec, "gap")

    times = [p.time for p in result.points]
    assert len(times) == len(set(times))  # never two cycles at one replay time
    steps = {later - earlier for earlier, later in pairwise(times)}
    assert steps == {timedelta(hours=4)}  # the stale bars too: one look each
    assert times[0] == base.start and times[-1] == base.end
    assert len(times) == (base.end - base.start) / timedelta(hours=4) + 1

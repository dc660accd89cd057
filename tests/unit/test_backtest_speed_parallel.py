"""`--compare` replays in worker processes give what replays one after another give."""

from __future__ import annotations

import asyncio

from bot.backtest.runner import RunSpec, replay_in_processes, run_one
from bot.settings.config import StrategyConfig, parse_config
from bot.sim.paper_account import build_paper
from tests.conftest import paper_config_dict


def test_replays_in_processes_equal_replays_in_turn() -> None:
    config = parse_config(
        paper_config_dict(
            paper={"holdings": {"BTC": 1, "ETH": 10}, "collateral": 200000, "simulated_bars": 60},
            hedge={"deadband": "0.01"},
        )
    )
    runs = [
        (
            RunSpec(
                f"static {ratio}", StrategyConfig.model_validate({"name": "static", "ratio": ratio})
            ),
            f"paper:{i}",
        )
        for i, ratio in enumerate(["0.3", "0.6", "1"], 1)
    ]
    base = build_paper(config, None)
    in_turn = [asyncio.run(run_one(config, base, spec, venue)) for spec, venue in runs]
    in_processes = list(replay_in_processes(config, base, runs, workers=2))
    assert [(r.spec, r.venue) for r in in_processes] == runs
    for ours, theirs in zip(in_processes, in_turn, strict=True):
        assert ours.points == theirs.points
        assert ours.totals == theirs.totals
        assert ours.guard_actions == theirs.guard_actions
    finals = [float(r.points[-1].short_notional / r.points[-1].spot) for r in in_processes]
    assert [round(f, 1) for f in finals] == [0.3, 0.6, 1.0]

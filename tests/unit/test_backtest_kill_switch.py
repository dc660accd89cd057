"""A replay has a kill switch of its own: the live bot's halt never stops a backtest."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.backtest.runner import RunSpec, run_one
from bot.runtime.kill_switch import kill_switch_for
from bot.settings.config import StrategyConfig, parse_config
from bot.sim.paper_account import build_paper
from tests.conftest import paper_config_dict


def test_the_live_switch_of_the_same_account_does_not_halt_a_replay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = parse_config(
        paper_config_dict(
            paper={"holdings": {"BTC": 1}, "collateral": 100000, "simulated_bars": 30},
        )
    )
    live = kill_switch_for(config)
    live.halt("drill", datetime.now(UTC))
    assert live.reason() is not None  # the live bot of this account is halted
    spec = RunSpec("static 0.5", StrategyConfig.model_validate({"name": "static", "ratio": "0.5"}))
    result = asyncio.run(run_one(config, build_paper(config, None), spec, "paper:replay"))
    assert result.totals.orders >= 1
    assert result.points[-1].short_notional > 0

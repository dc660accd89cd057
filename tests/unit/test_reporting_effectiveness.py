"""Each cycle notes its proxies' effectiveness: one per proxied holding, from the cycle's closes.

The notes are journaled with the rebalance, so `status` shows them too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli.commands.status import show_status
from bot.journal.memory import MemoryJournal
from bot.journal.records import RunMode
from bot.runtime.engine import Engine
from bot.settings.config import parse_config
from bot.sim.paper_account import build_paper, build_strategy
from tests.conftest import paper_config_dict


async def test_a_dry_run_plan_notes_the_proxied_holding_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = parse_config(
        paper_config_dict(
            paper={"holdings": {"BTC": 1, "DOGE": 1000}, "collateral": 50000},
            hedge={"perps": ["BTC", "ETH"], "baskets": {"beta": True, "candidates": ["ETH"]}},
        )
    )
    setup = build_paper(config, None)
    with MemoryJournal() as journal:
        engine = Engine(
            config, setup.venue, journal, build_strategy(config), setup.clock, RunMode.DRY_RUN
        )
        plan = await engine.cycle(dry_run=True)
        [line] = [n for n in plan.notes if n.startswith("hedge effectiveness")]
        assert line.startswith("hedge effectiveness DOGE (50% BTC + 50% ETH × β")
        assert "× h of the fall" in line
        report = await engine.cycle()  # journaled with the rebalance: `status` says it
        assert line in report.notes
        assert f"note: {line}" in show_status(journal, setup.venue.name).splitlines()

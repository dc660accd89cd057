"""Paper replays on real history load what the baskets and the strategy need beyond the holdings."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.core.errors import ConfigError
from bot.journal.records import RebalanceStatus, RunMode
from bot.journal.store import Journal
from bot.runtime.engine import CycleReport, Engine
from bot.settings.config import Config, parse_config
from bot.sim.paper_account import open_paper
from tests.conftest import paper_config_dict

pytestmark = pytest.mark.shared_data

MAY_2022 = {"start": "2022-05-01T00:00:00Z", "end": "2022-05-03T00:00:00Z"}


def config(holdings: dict[str, Any], strategy: dict[str, Any] | None = None) -> Config:
    data = paper_config_dict(paper={"holdings": holdings, **MAY_2022})
    if strategy is not None:
        data["strategy"] = strategy
    return parse_config(data)


def replay(config: Config, data_dir: Path) -> list[CycleReport]:
    strategy, setup = open_paper(config, data_dir)
    reports: list[CycleReport] = []
    with Journal.open(config.journal.url) as journal:
        engine = Engine(config, setup.venue, journal, strategy, setup.clock, RunMode.PAPER)
        asyncio.run(engine.run(asyncio.Event(), setup.end, reports.append))
    return reports


def test_auto_proxy_candidates_are_loaded_and_those_without_perp_history_left_out(
    shared_data_dir: Path,
) -> None:
    auto = config({"BTC": 1, "NEO": 400})  # NEO has no perp: 50% BTC + best candidate

    _, setup = open_paper(auto, shared_data_dir)

    assert {"ETH", "XRP", "ADA", "LTC", "SOL", "DOGE"} <= set(setup.data.spot)
    assert {"ETH", "XRP", "ADA", "LTC"} <= set(setup.data.perp)  # perps trading in 2022
    assert not {"SOL", "DOGE", "LINK", "AVAX", "DOT"} & set(setup.data.perp)  # perps from 2025
    assert setup.notes == (
        "perp history of AVAX, DOGE, DOT, LINK, SOL does not cover the replay: "
        "not used as proxy legs",
    )

    reports = replay(auto, shared_data_dir)

    assert all(r.status is not RebalanceStatus.SKIPPED for r in reports)
    first = {t.symbol: t.reason for t in reports[0].targets}
    assert "NEO (no perp listed: auto proxy 50% BTC + 50%" in first["BTC/USDT:USDT"]
    assert "fallback" not in first["BTC/USDT:USDT"]  # the lookback was warmed up


def test_a_volatility_reference_not_held_is_loaded_and_measured_from_the_first_cycle(
    shared_data_dir: Path,
) -> None:
    regime = config({"ETH": 10}, {"name": "volatility_regime", "reference": "BTC"})

    _, setup = open_paper(regime, shared_data_dir)
    reports = replay(regime, shared_data_dir)

    assert "BTC" in setup.data.spot and "BTC" not in setup.data.perp
    assert setup.notes == ()
    assert reports[0].status is not RebalanceStatus.SKIPPED
    assert "downside vol of BTC over 7d is" in reports[0].reason


def test_a_missing_optional_asset_is_left_out_and_a_missing_holding_is_an_error(
    shared_data_dir: Path,
) -> None:
    missing_reference = config({"ETH": 10}, {"name": "volatility_regime", "reference": "BNB"})

    _, setup = open_paper(missing_reference, shared_data_dir)

    assert "BNB" not in setup.data.spot
    assert setup.notes == (f"no history of BNB in {shared_data_dir}: left out",)

    with pytest.raises(ConfigError, match=r"paper\.holdings: no spot history of BNB in"):
        open_paper(config({"ETH": 10, "BNB": 5}), shared_data_dir)

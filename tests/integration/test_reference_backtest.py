"""hedgebot's backtest against the independent numpy reference (scripts/reference_backtest.py).

The first half of the FTX month (1–15 November 2022), daily, static 40% on the five holdings'
own perps: the replay through the engine and the reference agree to the cent.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

from bot.backtest.metrics import Metrics, measure
from bot.backtest.runner import RunResult, RunSpec, prepare, run_one
from bot.settings.config import parse_config

pytestmark = pytest.mark.shared_data

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "reference_backtest.py"
START, END = datetime(2022, 11, 1, tzinfo=UTC), datetime(2022, 11, 15, tzinfo=UTC)
HALF_A_CENT = 0.005


@pytest.fixture(scope="module")
def reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("reference_backtest", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["reference_backtest"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def replay(reference: ModuleType, shared_data_dir: Path) -> tuple[RunResult, Metrics]:
    config = parse_config(reference.hedgebot_config(START, END))
    spec = RunSpec("static 40%", config.strategy)
    base = prepare(config, shared_data_dir, [spec])
    result = asyncio.run(run_one(config, base, spec, "reference"))
    return result, measure(result)[1]


def test_the_replay_hedges_the_window_as_expected(replay: tuple[RunResult, Metrics]) -> None:
    result, hedged = replay
    # Binance's published lots (bot/data/contract_specs.json): LTC trades in 0.001, not 0.1, so
    # its daily top-ups of a few hundredths of a coin are orders now (5, was 1).
    assert len(result.points) == 15 and hedged.orders == 13
    assert result.totals.liquidation_count == 0
    assert hedged.start_value == pytest.approx(119_163.67, abs=HALF_A_CENT)
    assert hedged.end_value == pytest.approx(112_976.23, abs=HALF_A_CENT)
    assert hedged.hedge_pnl == pytest.approx(4_055.97, abs=HALF_A_CENT)
    assert hedged.fees == pytest.approx(11.84, abs=HALF_A_CENT)
    assert hedged.funding == pytest.approx(-24.80, abs=HALF_A_CENT)


def test_the_reference_agrees_with_the_replay_to_the_cent(
    reference: ModuleType, shared_data_dir: Path, replay: tuple[RunResult, Metrics]
) -> None:
    result, hedged = replay
    theirs = reference.run_reference(shared_data_dir, START, END)
    assert (theirs.cycles, theirs.orders) == (len(result.points), hedged.orders)
    for ours, figure in (
        (hedged.start_value, theirs.start_value),
        (hedged.end_value, theirs.end_value),
        (hedged.hedge_pnl, theirs.hedge_pnl),
        (hedged.fees, theirs.fees),
        (hedged.funding, theirs.funding),
    ):
        assert ours == pytest.approx(figure, abs=HALF_A_CENT)
    assert hedged.total_return == pytest.approx(theirs.total_return, abs=1e-9)
    assert hedged.max_drawdown == pytest.approx(theirs.max_drawdown, abs=1e-9)

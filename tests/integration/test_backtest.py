"""Backtests on real history: the FTX month (November 2022) unhedged, at 0% and at 100%.

Five holdings with perps of their own (BTC, ETH, ADA, XRP, LTC) replayed through the paper engine.
"""

from __future__ import annotations

import asyncio
import csv
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from bot.backtest.metrics import Metrics, max_drawdown, measure
from bot.backtest.runner import RunResult, RunSpec, prepare, run_one
from bot.backtest.windows import WINDOWS
from bot.core.clock import to_ms
from bot.core.domain import perp_symbol
from bot.market.series import BarSeries
from bot.settings.config import Config, StrategyConfig, parse_config
from bot.sim.paper_account import PaperSetup
from tests.cli_inprocess import run_cli
from tests.conftest import paper_config_dict

pytestmark = pytest.mark.shared_data

REPO = Path(__file__).resolve().parents[2]
HOLDINGS = {"BTC": 1, "ETH": 10, "ADA": 20000, "XRP": 20000, "LTC": 100}
COLLATERAL = 60000
DEADBAND = Decimal("0.05")
WINDOW = WINDOWS["november-2022"]


@dataclass
class Backtest:
    config: Config
    base: PaperSetup
    unhedged: Metrics
    flat: RunResult
    full: RunResult
    full_metrics: Metrics


def _static(ratio: int) -> RunSpec:
    return RunSpec(
        f"static {ratio}", StrategyConfig.model_validate({"name": "static", "ratio": ratio})
    )


@pytest.fixture(scope="module")
def backtest(shared_data_dir: Path) -> Backtest:
    config = parse_config(
        paper_config_dict(
            paper={
                "holdings": HOLDINGS,
                "collateral": COLLATERAL,
                "start": WINDOW.start.isoformat(),
                "end": WINDOW.end.isoformat(),
            },
            hedge={"deadband": str(DEADBAND)},
            risk={"leverage": 2, "max_leverage": 2},
        )
    )
    flat_spec, full_spec = _static(0), _static(1)
    base = prepare(config, shared_data_dir, [flat_spec, full_spec])
    flat = asyncio.run(run_one(config, base, flat_spec, "backtest:flat"))
    full = asyncio.run(run_one(config, base, full_spec, "backtest:full"))
    unhedged, full_metrics = measure(full)
    return Backtest(config, base, unhedged, flat, full, full_metrics)


def _close(series: BarSeries, moment_ms: int) -> Decimal:
    bar = series.last_closed(moment_ms)
    assert bar is not None
    return bar.close


def _worst_fall(values: list[Decimal]) -> Decimal:
    """Return the largest drop from a running peak, in the values' own unit."""
    peak, fall = values[0], Decimal(0)
    for value in values:
        peak = max(peak, value)
        fall = max(fall, peak - value)
    return fall


def test_every_run_replays_the_same_cycles_of_the_window(backtest: Backtest) -> None:
    flat, full = backtest.flat.points, backtest.full.points
    assert len(flat) == len(full) == 30 * 6
    assert [p.time for p in flat] == [p.time for p in full]
    assert flat[0].time == WINDOW.start.replace(hour=4) and flat[-1].time == WINDOW.end


def test_a_zero_hedge_is_buy_and_hold_to_the_cent(backtest: Backtest) -> None:
    spot = backtest.base.data.spot
    for point in backtest.flat.points:
        held = sum(
            Decimal(amount) * _close(spot[asset], to_ms(point.time))
            for asset, amount in HOLDINGS.items()
        )
        assert point.value == held + COLLATERAL  # exact, not merely within a cent
    assert backtest.flat.totals.orders == backtest.flat.totals.fills == 0
    unhedged, flat = measure(backtest.flat)
    assert flat.total_return == unhedged.total_return
    assert flat.max_drawdown == unhedged.max_drawdown
    assert flat.variance_reduction == 0.0


def test_a_full_own_perp_hedge_keeps_the_drawdown_within_its_costs_and_basis(
    backtest: Backtest,
) -> None:
    """Hedged value = spot + collateral − Σ shorts × Δmark − fees + funding.

    With shorts n = q − ε (q held, |ε| ≤ deadband·q + one lot step), any fall of the hedged
    portfolio from a peak is at most: the fall of the basis Σ q·(spot − mark), plus |ε| times the
    mark's range, plus the fees and the funding paid. Each term comes from the data and the journal.
    """
    full, data = backtest.full, backtest.base.data
    markets = backtest.base.venue.exchange.markets
    times = [to_ms(p.time) for p in full.points]
    marks = {a: data.mark.get(a, data.perp[a]) for a in HOLDINGS}
    basis = [
        sum(
            Decimal(q) * (_close(data.spot[a], t) - _close(marks[a], t))
            for a, q in HOLDINGS.items()
        )
        for t in times
    ]
    slack = Decimal(0)
    for asset, amount in HOLDINGS.items():
        closes = [_close(marks[asset], t) for t in times]
        step = markets[perp_symbol(asset)].amount_step
        slack += (DEADBAND * amount + step) * (max(closes) - min(closes))
    totals = full.totals
    assert totals.liquidation_count == 0
    bound = _worst_fall(basis) + slack + totals.fees + totals.funding_paid
    initial = backtest.unhedged.start_value
    hedged_fall = _worst_fall([p.value for p in full.points])
    assert hedged_fall <= bound
    assert backtest.full_metrics.max_drawdown <= float(bound) / initial
    # The bound itself is an order of magnitude under the unhedged drawdown (about 1.2% vs 15%).
    assert float(bound) / initial < backtest.unhedged.max_drawdown / 10
    assert backtest.unhedged.max_drawdown > 0.14
    assert backtest.full_metrics.max_drawdown < 0.005
    assert backtest.full_metrics.variance_reduction is not None
    assert backtest.full_metrics.variance_reduction > 0.99


def test_the_equity_curve_reconciles_with_the_journal(backtest: Backtest) -> None:
    full = backtest.full
    assert full.unreconciled < Decimal("1e-12")
    assert full.points[-1].fees == full.totals.fees
    assert full.totals.orders == 5  # one short per holding, then the deadband holds
    ratios = [p.short_notional / p.spot for p in full.points]
    assert min(ratios) > Decimal("0.99") and max(ratios) < Decimal("1.01")
    values = [float(p.value) for p in full.points]
    assert backtest.full_metrics.max_drawdown == max_drawdown(
        backtest.full_metrics.start_value, values
    )


@pytest.mark.slow
def test_the_command_writes_table_json_csv_and_plots(
    shared_data_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """In-process (`tests.cli_inprocess`): the command's output, exit code and files."""
    config = tmp_path / "backtest.toml"
    holdings = "\n".join(f"{asset} = {amount}" for asset, amount in HOLDINGS.items())
    config.write_text(
        'interval = "4h"\n[paper]\ncollateral = 60000\n[paper.holdings]\n'
        f"{holdings}\n[risk]\nleverage = 2\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = run_cli(
        [
            "backtest",
            "--config",
            str(config),
            "--data-dir",
            str(shared_data_dir),
            "--from",
            "2022-11-07",
            "--to",
            "2022-11-11",
            "--compare",
            "0.5",
            "static:ratio=1",
            "--plots",
            "--out",
            str(out),
        ],
        capfd,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "unhedged" in result.stdout and "static 50%" in result.stdout
    assert "max drawdown" in result.stdout and "CVaR 95% (day)" in result.stdout
    document = json.loads((out / "metrics.json").read_text())
    labels = [p["label"] for p in document["portfolios"]]
    assert labels == ["unhedged", "static 50%", "static:ratio=1"]
    assert document["start"].startswith("2022-11-07") and document["end"].startswith("2022-11-11")
    with (out / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["label"] for r in rows] == labels
    assert float(rows[2]["max_drawdown"]) < float(rows[0]["max_drawdown"])
    for name in ("comparison.png", "run-1-static-50.png", "run-2-static-ratio-1.png"):
        png = (out / name).read_bytes()
        assert png.startswith(b"\x89PNG") and 5_000 < len(png) < 150_000
    with (out / "curves.csv").open() as fh:
        assert next(csv.reader(fh))[:5] == ["time", "run", "spot", "futures_equity", "value"]

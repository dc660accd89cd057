"""Risk guards on the paper venue: liquidation guard on real data, limits, kill switch, report."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.core.domain import ZERO, ForcedClose
from bot.journal.records import RunMode
from bot.journal.store import Journal
from bot.reporting.insurance import insurance_report
from bot.runtime.engine import CycleReport, Engine
from bot.settings.config import Config, parse_config
from bot.sim.paper_account import PaperSetup, build_paper, build_strategy
from tests.conftest import paper_config_dict


@dataclass
class Run:
    config: Config
    setup: PaperSetup
    journal: Journal
    engine: Engine
    reports: list[CycleReport]


def start(tmp_path: Path, data_dir: Path | None, **sections: Any) -> Run:
    url = f"sqlite:///{tmp_path / 'journal.sqlite'}"
    risk = {"kill_switch_file": str(tmp_path / "halt"), **sections.pop("risk", {})}
    config = parse_config(paper_config_dict(journal={"url": url}, risk=risk, **sections))
    setup = build_paper(config, data_dir, session=tmp_path.name)
    journal = Journal.open(url)
    engine = Engine(
        config, setup.venue, journal, build_strategy(config), setup.clock, RunMode.PAPER
    )
    return Run(config, setup, journal, engine, [])


def replay(run: Run, cycles: int | None = None) -> Run:
    asyncio.run(run.engine.run(asyncio.Event(), run.setup.end, run.reports.append, cycles))
    return run


ADA_RALLY = {
    # ADA went from 0.35 to 0.93 between 25 Jan and 13 Feb 2021: a 3x short is liquidated near +33%.
    "paper": {
        "holdings": {"ADA": 100000},
        "collateral": 60000,
        "start": "2021-01-25T00:00:00Z",
        "end": "2021-02-13T00:00:00Z",
    },
    "strategy": {"name": "static", "ratio": "0.5"},
}


@pytest.mark.shared_data
def test_3x_short_through_the_ada_rally_is_liquidated_without_the_guard(
    shared_data_dir: Path, tmp_path: Path
) -> None:
    run = replay(
        start(
            tmp_path,
            shared_data_dir,
            risk={"leverage": 3, "max_leverage": 3, "margin_guard": False},
            **ADA_RALLY,
        )
    )
    liquidations = [
        f
        for f in run.journal.fills(venue=run.setup.venue.name)
        if f.forced is ForcedClose.LIQUIDATION
    ]
    assert len(liquidations) >= 1
    events = run.journal.events(kind="liquidation", venue=run.setup.venue.name)
    assert events and "liquidated" in events[0].message
    # The whole isolated margin of the liquidated short is gone: realized loss + clearance fee.
    first = liquidations[0]
    assert first.realized_pnl < 0 and first.fee >= 0


@pytest.mark.shared_data
def test_the_guard_tops_up_margin_and_the_3x_short_survives_the_rally(
    shared_data_dir: Path, tmp_path: Path
) -> None:
    run = replay(
        start(tmp_path, shared_data_dir, risk={"leverage": 3, "max_leverage": 3}, **ADA_RALLY)
    )
    venue = run.setup.venue
    assert not [
        f for f in run.journal.fills(venue=venue.name) if f.forced is ForcedClose.LIQUIDATION
    ]
    assert not run.journal.events(kind="liquidation", venue=venue.name)
    top_ups = run.journal.events(kind="margin_guard", venue=venue.name)
    assert len(top_ups) >= 3
    assert all(e.data["action"] == "add_margin" for e in top_ups)
    assert all(e.data["outcome"].startswith("added") for e in top_ups)
    added = sum((Decimal(e.data["outcome"].split()[1].replace(",", "")) for e in top_ups), ZERO)
    position = venue.exchange.positions["ADA/USDT:USDT"]
    assert position.contracts < 0  # the hedge is still on
    assert position.isolated_margin > added  # margin now holds the top-ups
    # Each top-up restored the target distance; the position ended above the warning level.
    snapshot = run.journal.latest_snapshots(venue.name)[0]
    assert snapshot.liquidation_price is not None
    distance = (snapshot.liquidation_price - snapshot.mark_price) / snapshot.mark_price
    assert distance >= run.config.risk.liquidation_warning


def test_kill_switch_stops_orders_within_one_cycle_and_resume_restarts_them(
    tmp_path: Path,
) -> None:
    run = start(tmp_path, None, paper={"holdings": {"BTC": 1, "ETH": 10}})
    run.engine.kill_switch.halt("test drill", run.setup.clock.now())
    replay(run, cycles=3)
    assert [r.status for r in run.reports] == ["halted"] * 3
    assert run.journal.totals(venue=run.setup.venue.name).orders == 0
    assert len(run.journal.rebalances(venue=run.setup.venue.name)) == 3  # still recording
    assert run.engine.kill_switch.resume()
    replay(run, cycles=1)
    assert run.reports[-1].status == "done"
    assert run.journal.totals(venue=run.setup.venue.name).orders == 2


@pytest.mark.parametrize(
    ("risk", "expected"),
    [
        ({"max_order_notional": 5000}, "clipped to max_order_notional"),
        ({"max_total_notional": 10000}, "above the max_total_notional limit"),
        ({"max_daily_turnover": 1000}, "max_daily_turnover"),
        ({"max_hedge_ratio": "0.2"}, "above the max_hedge_ratio limit"),
    ],
)
def test_each_limit_refuses_with_a_journaled_reason_and_the_loop_goes_on(
    tmp_path: Path, risk: dict[str, Any], expected: str
) -> None:
    run = replay(
        start(tmp_path, None, paper={"holdings": {"BTC": 1, "ETH": 10}}, risk=risk), cycles=3
    )
    assert len(run.reports) == 3
    notes = [r.note or "" for r in run.journal.rebalances(venue=run.setup.venue.name)]
    assert any(expected in note for note in notes), notes
    assert all(r.status in ("done", "held") for r in run.reports)


def test_stale_prices_skip_the_cycle_with_the_reason(tmp_path: Path) -> None:
    run = start(tmp_path, None, paper={"holdings": {"BTC": 1}}, risk={"max_price_age": "1m"})
    asyncio.run(run.setup.clock.sleep(7200))  # 2h after the last 4h bar closed
    report = asyncio.run(run.engine.cycle())
    assert report.status == "skipped"
    assert "stale" in report.reason
    assert run.journal.totals(venue=run.setup.venue.name).orders == 0


def test_margin_the_collateral_cannot_fund_is_refused_with_a_reason(tmp_path: Path) -> None:
    run = replay(
        start(tmp_path, None, paper={"holdings": {"BTC": 1, "ETH": 10}, "collateral": 1}), cycles=1
    )
    assert run.journal.totals(venue=run.setup.venue.name).orders == 0
    note = run.journal.rebalances(venue=run.setup.venue.name)[-1].note or ""
    assert "no free collateral for margin" in note


@pytest.mark.slow
@pytest.mark.shared_data
def test_report_over_a_replayed_year_equals_sums_over_journal_rows(
    shared_data_dir: Path, tmp_path: Path
) -> None:
    run = replay(
        start(
            tmp_path,
            shared_data_dir,
            paper={
                "holdings": {"BTC": 1, "ADA": 50000},
                "collateral": 60000,
                "start": "2022-01-01T00:00:00Z",
                "end": "2023-01-01T00:00:00Z",
            },
        )
    )
    venue = run.setup.venue.name
    report = insurance_report(run.journal, venue)
    fills = run.journal.fills(venue=venue)
    funding = run.journal.funding(venue=venue)
    assert report.total.fees == sum((f.fee for f in fills), ZERO)
    assert report.total.funding_received == sum((p.amount for p in funding if p.amount > 0), ZERO)
    assert report.total.funding_paid == -sum((p.amount for p in funding if p.amount < 0), ZERO)
    assert report.total.realized_pnl == sum((f.realized_pnl for f in fills), ZERO)
    assert report.total.carry_cost == (report.total.fees - sum((p.amount for p in funding), ZERO))
    for leg in report.legs:
        assert leg.fees == sum((f.fee for f in fills if f.symbol == leg.symbol), ZERO)
    assert len(funding) > 2000  # two legs settled three times a day for a year
    assert Decimal("0.99") < report.years < Decimal("1.01")
    cost = report.cost_per_year(report.total)
    assert cost is not None and abs(cost) < Decimal("0.05")

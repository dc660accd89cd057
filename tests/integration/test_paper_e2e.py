"""End to end on real history: ADA, XRP and LTC hedged 40% with their own perps, Nov 2022."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from bot.core.domain import ZERO, perp_symbol
from bot.journal.records import PositionSnapshot, RunMode
from bot.journal.store import Journal
from bot.runtime.engine import CycleReport, Engine
from bot.settings.config import Config, parse_config
from bot.sim.paper_account import PaperSetup, build_paper, build_strategy
from tests.conftest import paper_config_dict

pytestmark = pytest.mark.shared_data

RATIO = Decimal("0.4")
DEADBAND = Decimal("0.05")
CENT = Decimal("0.01")


@dataclass
class Replay:
    config: Config
    setup: PaperSetup
    journal: Journal
    reports: list[CycleReport]


@pytest.fixture(scope="module")
def replay(shared_data_dir: Path, module_journal_url: str) -> Replay:
    url = module_journal_url  # SQLite, then PostgreSQL (tests/conftest.py)
    config = parse_config(
        paper_config_dict(
            paper={
                "holdings": {"ADA": 100000, "XRP": 60000, "LTC": 300},
                "collateral": 60000,
                "start": "2022-11-01T00:00:00Z",
                "end": "2022-12-01T00:00:00Z",
            },
            strategy={"name": "static", "ratio": str(RATIO)},
            hedge={"deadband": str(DEADBAND)},
            journal={"url": url},
        )
    )
    setup = build_paper(config, shared_data_dir, session="e2e")
    journal = Journal.open(url)
    engine = Engine(
        config, setup.venue, journal, build_strategy(config), setup.clock, RunMode.PAPER
    )
    reports: list[CycleReport] = []
    asyncio.run(engine.run(asyncio.Event(), setup.end, reports.append))
    yield Replay(config, setup, journal, reports)
    journal.close()


def test_replay_covers_the_month_and_every_cycle_acted_or_held(replay: Replay) -> None:
    assert len(replay.reports) == 30 * 6  # a 4h cycle from Nov 1 04:00 to Dec 1 00:00
    statuses = {r.status for r in replay.reports}
    assert statuses <= {"done", "held"}, statuses
    assert replay.reports[0].status == "done"  # the first cycle opens the three shorts


def test_after_each_rebalance_every_leg_is_within_the_deadband_of_40_percent(
    replay: Replay,
) -> None:
    markets = replay.setup.venue.exchange.markets
    per_rebalance: dict[str | None, list[PositionSnapshot]] = defaultdict(list)
    for snapshot in replay.journal.snapshots(venue=replay.setup.venue.name):
        per_rebalance[snapshot.rebalance_id].append(snapshot)
    assert len(per_rebalance) == len(replay.reports)
    for rows in per_rebalance.values():
        assert {r.symbol for r in rows} == {perp_symbol(a) for a in ("ADA", "XRP", "LTC")}
        for row in rows:
            short = -row.contracts * row.mark_price
            assert row.hedged_value is not None
            target = RATIO * row.hedged_value
            lot = markets[row.symbol].amount_step * row.mark_price
            assert abs(short - target) <= DEADBAND * target + lot, (row.rebalance_id, row.symbol)


def test_perp_pnl_offsets_40_percent_of_the_spot_loss(replay: Replay) -> None:
    first, last = replay.reports[0], replay.reports[-1]
    venue = replay.setup.venue
    spot_pnl = last.spot_value - first.spot_value
    assert spot_pnl < 0  # November 2022 (FTX) was a crash for all three

    exchange = venue.exchange
    unrealized = sum(
        (
            p.contracts * (venue.mark_price(s) - p.entry_price)
            for s, p in exchange.positions.items()
        ),
        ZERO,
    )
    totals = replay.journal.totals(venue=venue.name)
    trading = totals.realized_pnl + unrealized
    # The futures account's equity change is exactly trading P&L − fees + funding.
    margins = sum((p.isolated_margin for p in exchange.positions.values()), ZERO)
    equity_change = exchange.wallet + margins + unrealized - replay.config.paper.collateral
    assert abs(equity_change - (trading - totals.fees + totals.funding_net)) < CENT
    # The shorts earned back 40% of the spot loss, up to the deadband drift and the
    # perp-spot basis: hold the ratio of the two within 40% ± 2 points.
    offset = trading / -spot_pnl
    assert Decimal("0.38") <= offset <= Decimal("0.42"), offset
    # Fees and funding are small next to the payoff, and accounted for above.
    assert totals.fees < Decimal("0.01") * trading


def test_journal_equals_the_paper_venue_ledger_to_the_cent(replay: Replay) -> None:
    exchange = replay.setup.venue.exchange
    name = replay.setup.venue.name
    fills = replay.journal.fills(venue=name)
    funding = replay.journal.funding(venue=name)
    assert len(fills) == len(exchange.trades) > 0
    assert len(funding) == len(exchange.funding) > 0
    assert {f.trade_id for f in fills} == {t.trade_id for t in exchange.trades}
    assert {p.payment_id for p in funding} == {p.payment_id for p in exchange.funding}
    totals = replay.journal.totals(venue=name)
    ledger_fees = sum((t.fee for t in exchange.trades), ZERO)
    ledger_funding = sum((p.amount for p in exchange.funding), ZERO)
    ledger_realized = sum((t.realized_pnl for t in exchange.trades), ZERO)
    assert totals.fees.quantize(CENT) == ledger_fees.quantize(CENT)
    assert totals.funding_net.quantize(CENT) == ledger_funding.quantize(CENT)
    assert totals.realized_pnl.quantize(CENT) == ledger_realized.quantize(CENT)
    assert totals.fees == ledger_fees  # exact, not just to the cent
    assert totals.funding_net == ledger_funding


def test_replaying_the_journal_sync_adds_nothing(replay: Replay) -> None:
    venue = replay.setup.venue
    fills = asyncio.run(venue.fetch_fills(sorted(venue.exchange.markets), {}))
    funding = asyncio.run(venue.fetch_funding(None))
    assert replay.journal.record_fills(fills) == 0
    assert replay.journal.record_funding(funding) == 0

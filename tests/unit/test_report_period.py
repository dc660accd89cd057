"""`report --from/--to` counts the P&L made in the period; yearly rates need at least a day.

The journal below is written by hand, and every figure the tests expect is worked out by hand
(to the cent) in the comments: one BTC short of 1 contract opened at 40,000, half bought back at
37,000 two days later, marked daily.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bot.cli.commands.report import render_report, show_report
from bot.cli.commands.status import show_status
from bot.core.domain import Fill, FundingPayment, Side
from bot.journal.records import PositionSnapshot, RebalanceRecord, RebalanceStatus, RunMode
from bot.journal.store import Journal
from bot.observability.cells import TOO_SHORT, yearly_cost
from bot.reporting.insurance import insurance_report

VENUE = "paper:report-period"
BTC = "BTC/USDT:USDT"
T0 = datetime(2024, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
D = Decimal


def snapshot(time: datetime, contracts: str, mark: str, hedged: str) -> PositionSnapshot:
    return PositionSnapshot(
        time=time,
        venue=VENUE,
        symbol=BTC,
        contracts=D(contracts),
        entry_price=D(40_000),
        mark_price=D(mark),
        isolated_margin=D(20_000),
        leverage=2,
        liquidation_price=D(59_000),
        target_notional=D(40_000),
        hedged_value=D(hedged),
    )


def fill(
    trade: str, time: datetime, side: Side, amount: str, price: str, fee: str, pnl: str
) -> Fill:
    return Fill(VENUE, trade, BTC, side, D(amount), D(price), D(fee), "USDT", D(pnl), time)


def funding(payment: str, time: datetime, amount: str) -> FundingPayment:
    return FundingPayment(VENUE, payment, BTC, time, D("0.0001"), D(-1), D(amount))


@pytest.fixture()
def journal() -> Journal:
    journal = Journal.open("sqlite:///:memory:")
    journal.record_fills(
        [
            fill("1", T0, Side.SELL, "1", "40000", "20.00", "0"),  # open the short at 40,000
            # buy back 0.5 at 37,000: realized 0.5 × (40,000 − 37,000) = +1,500.00
            fill("2", T0 + 2 * DAY, Side.BUY, "0.5", "37000", "9.25", "1500"),
        ]
    )
    journal.record_funding(
        [
            funding("f1", T0 + DAY + timedelta(hours=8), "4.00"),  # received
            funding("f2", T0 + 2 * DAY + timedelta(hours=8), "-1.50"),  # paid
        ]
    )
    journal.record_snapshots(
        [
            snapshot(T0, "-1", "40000", "100000"),  # open P&L −1 × (40,000 − 40,000) = 0
            snapshot(T0 + DAY, "-1", "38000", "100000"),  # −1 × (38,000 − 40,000) = +2,000
            snapshot(T0 + 2 * DAY, "-0.5", "37000", "98000"),  # −0.5 × (−3,000) = +1,500
            snapshot(T0 + 3 * DAY, "-0.5", "39000", "102000"),  # −0.5 × (−1,000) = +500
        ]
    )
    return journal


def test_unrealized_is_marked_to_market_at_both_ends_of_the_period(journal: Journal) -> None:
    # [day 2, day 4): opening = the day-1 snapshot (+2,000), closing = the day-3 one (+500)
    report = insurance_report(journal, VENUE, T0 + 2 * DAY, T0 + 4 * DAY)
    leg = report.total
    assert leg.unrealized_pnl == D("-1500")  # 500 − 2,000, not the +500 open since day 0
    assert leg.realized_pnl == D("1500")
    # trading P&L in the period: the short was −1 at 38,000; half closed at 37,000 (+500),
    # half marked at 39,000 (−500): zero
    assert leg.payoff == 0
    assert leg.fees == D("9.25") and leg.funding_paid == D("1.50") and leg.funding_received == 0
    assert leg.carry_cost == D("10.75")  # 9.25 + 1.50 − 0
    assert leg.net == D("-10.75")  # 1,500 − 1,500 − 10.75
    assert leg.protected_value == D(100_000)  # (98,000 + 102,000) / 2
    # 10.75 / 100,000 / (2 / 365.25) = 10.75 × 365.25 / 200,000 = 3,926.4375 / 200,000
    assert report.cost_per_year(leg) == D("0.0196321875")
    assert yearly_cost(report, leg) == "1.96%"
    text = render_report(report)
    assert "-1,500.00" in text and "+1,500.00" in text and "-10.75" in text and "1.96%" in text


def test_consecutive_periods_add_up_to_the_whole(journal: Journal) -> None:
    whole = insurance_report(journal, VENUE).total
    first = insurance_report(journal, VENUE, None, T0 + 2 * DAY).total
    second = insurance_report(journal, VENUE, T0 + 2 * DAY, T0 + 4 * DAY).total
    # whole: realized 1,500 + open P&L at the end 500 = 2,000; first: 0 + 2,000 (day 1 mark)
    assert (whole.payoff, first.payoff, second.payoff) == (D(2000), D(2000), D(0))
    assert first.unrealized_pnl + second.unrealized_pnl == whole.unrealized_pnl == D(500)
    assert first.realized_pnl + second.realized_pnl == whole.realized_pnl
    assert first.carry_cost + second.carry_cost == whole.carry_cost == D("26.75")  # 29.25 − 4 + 1.5


def test_a_period_without_snapshots_of_a_leg_keeps_its_open_pnl(journal: Journal) -> None:
    # funding only in [day 1 12:00, day 1 20:00): no snapshot, the position is unchanged
    report = insurance_report(journal, VENUE, T0 + DAY + timedelta(hours=2), T0 + 2 * DAY)
    assert report.total.unrealized_pnl == 0 and report.total.funding_received == D("4.00")


def test_a_few_hours_are_not_annualised(journal: Journal) -> None:
    report = insurance_report(journal, VENUE, T0, T0 + timedelta(hours=4))
    assert report.total.carry_cost == D("20.00")
    assert report.cost_per_year(report.total) is None  # 20 / 100,000 over 4 h would read 43.8%/yr
    assert yearly_cost(report, report.total) == TOO_SHORT == "n/a (<1 day)"
    assert TOO_SHORT in render_report(report)


def test_status_right_after_one_rebalance_shows_no_yearly_rate() -> None:
    journal = Journal.open("sqlite:///:memory:")
    journal.record_rebalance(
        RebalanceRecord(
            "r1", T0, RunMode.PAPER, VENUE, "static", {}, {}, "static 40%", RebalanceStatus.DONE
        )
    )
    journal.record_fills([fill("1", T0, Side.SELL, "1", "40000", "20.00", "0")])
    journal.record_snapshots(
        [
            snapshot(T0, "-1", "40000", "100000"),
            snapshot(T0 + timedelta(hours=4), "-1", "40100", "100000"),
        ]
    )
    status = show_status(journal, VENUE)
    assert "carry cost" in status and "%/yr" not in status


def test_the_report_command_names_the_period_and_the_session(journal: Journal) -> None:
    journal.record_rebalance(
        RebalanceRecord(
            "r1", T0, RunMode.PAPER, VENUE, "static", {}, {}, "static 40%", RebalanceStatus.DONE
        )
    )
    text = show_report(journal, None, T0 + 2 * DAY, T0 + 4 * DAY)
    assert f"venue {VENUE}" in text and "(2.0 days)" in text

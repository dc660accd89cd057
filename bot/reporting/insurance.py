"""Cost of insurance, from the journal: what the hedge cost to carry and what it paid out.

Per leg and in total over a period ``[since, until)``: fees, funding received and paid, realised
P&L of the shorts (fills in the period), the change of their unrealised P&L over the period, the
spot value the leg protected (time-average of the snapshots' insured value) and the carrying cost
(fees + funding paid − funding received) as a percentage of that value per year.

The unrealised part is marked to market at both ends: the open P&L (contracts × (mark − entry))
of the leg's last snapshot in the period minus that of its last snapshot before the period (zero
when it had none, e.g. without ``since``). So realized + unrealized is the trading P&L made *in*
the period, and consecutive periods add up to the whole.

What the exchange's forced closes (ADL, liquidation) took, each with the protection lost until
the hedge was restored, rides along (`bot.reporting.forced`).

A yearly rate over less than `MIN_YEARLY_DAYS` says nothing (a few hours of fees would read as a
large yearly cost): `InsuranceReport.cost_per_year` is None then.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from bot.core.domain import ZERO
from bot.journal.records import PositionSnapshot
from bot.journal.store import Journal
from bot.reporting.forced import ForcedLoss, forced_losses

DAYS_PER_YEAR = Decimal("365.25")
MIN_YEARLY_DAYS = 1
"""Shortest period over which the carry cost is annualised."""


@dataclass(frozen=True, slots=True)
class LegCost:
    """Costs and payoff of one leg (or of all legs, as ``symbol="total"``)."""

    symbol: str
    fees: Decimal
    funding_received: Decimal
    funding_paid: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    protected_value: Decimal

    @property
    def carry_cost(self) -> Decimal:
        """Return fees plus net funding paid: the premium of the insurance."""
        return self.fees + self.funding_paid - self.funding_received

    @property
    def payoff(self) -> Decimal:
        """Return the shorts' trading P&L, realised plus unrealised."""
        return self.realized_pnl + self.unrealized_pnl

    @property
    def net(self) -> Decimal:
        """Return payoff minus carrying cost: what the hedge added to the portfolio."""
        return self.payoff - self.carry_cost


@dataclass(frozen=True, slots=True)
class InsuranceReport:
    """The cost-of-insurance report over one period on one venue."""

    venue: str
    since: datetime
    until: datetime
    legs: tuple[LegCost, ...]
    total: LegCost
    forced: tuple[ForcedLoss, ...] = ()
    """The forced closes of the period and what each took, oldest first."""

    @property
    def days(self) -> Decimal:
        """Return the period's length in days."""
        return Decimal((self.until - self.since).total_seconds()) / 86400

    @property
    def years(self) -> Decimal:
        """Return the period's length in years."""
        return self.days / DAYS_PER_YEAR

    @property
    def too_short_to_annualise(self) -> bool:
        """Return True when the period is shorter than `MIN_YEARLY_DAYS`."""
        return self.days < MIN_YEARLY_DAYS

    def cost_per_year(self, leg: LegCost) -> Decimal | None:
        """Return the carrying cost as a fraction of the protected value per year.

        None when nothing was protected or the period is shorter than `MIN_YEARLY_DAYS`.
        """
        if leg.protected_value <= 0 or self.too_short_to_annualise:
            return None
        return leg.carry_cost / leg.protected_value / self.years


def _average(values: Sequence[Decimal]) -> Decimal:
    return sum(values, ZERO) / len(values) if values else ZERO


def _protected_total(snapshots: Sequence[PositionSnapshot]) -> Decimal:
    """Average over snapshot times of the insured value summed across legs."""
    by_time: dict[datetime, Decimal] = defaultdict(lambda: ZERO)
    for snap in snapshots:
        by_time[snap.time] += snap.hedged_value or ZERO
    return _average(list(by_time.values()))


def open_pnl(snapshot: PositionSnapshot | None) -> Decimal:
    """Return a snapshot's unrealised P&L at its mark: contracts × (mark − entry); 0 for None."""
    if snapshot is None:
        return ZERO
    return snapshot.contracts * (snapshot.mark_price - snapshot.entry_price)


def insurance_report(
    journal: Journal,
    venue: str,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
) -> InsuranceReport:
    """Build the report for ``venue`` over ``[since, until)`` (default: everything journaled).

    A forced close not yet restored is uncovered until ``until``, else until ``now`` (else the
    last journaled time). Raise ValueError when the journal holds nothing for ``venue`` in the
    period.
    """
    snapshots = journal.snapshots(venue=venue, since=since, until=until)
    opening = (
        {}
        if since is None
        else {s.symbol: s for s in journal.latest_snapshots(venue, before=since)}
    )
    fills = journal.fills(venue=venue, since=since, until=until)
    funding = journal.funding(venue=venue, since=since, until=until)
    times = [s.time for s in snapshots] + [f.timestamp for f in fills]
    times += [p.timestamp for p in funding]
    if not times:
        raise ValueError(f"the journal holds nothing for venue {venue!r} in that period")
    start = since or min(times)
    end = until or max(times)
    symbols = sorted(
        {s.symbol for s in snapshots} | {f.symbol for f in fills} | {p.symbol for p in funding}
    )
    legs = []
    for symbol in symbols:
        own = [s for s in snapshots if s.symbol == symbol]
        before = opening.get(symbol)
        after = own[-1] if own else before
        unrealized = open_pnl(after) - open_pnl(before)
        paid = [p.amount for p in funding if p.symbol == symbol]
        legs.append(
            LegCost(
                symbol=symbol,
                fees=sum(
                    (f.fee for f in fills if f.symbol == symbol and f.fee_currency == "USDT"), ZERO
                ),
                funding_received=sum((a for a in paid if a > 0), ZERO),
                funding_paid=-sum((a for a in paid if a < 0), ZERO),
                realized_pnl=sum((f.realized_pnl for f in fills if f.symbol == symbol), ZERO),
                unrealized_pnl=unrealized,
                protected_value=_average([s.hedged_value or ZERO for s in own]),
            )
        )
    total = LegCost(
        "total",
        sum((leg.fees for leg in legs), ZERO),
        sum((leg.funding_received for leg in legs), ZERO),
        sum((leg.funding_paid for leg in legs), ZERO),
        sum((leg.realized_pnl for leg in legs), ZERO),
        sum((leg.unrealized_pnl for leg in legs), ZERO),
        _protected_total(snapshots),
    )
    forced = forced_losses(fills, until or now or end)
    return InsuranceReport(venue, start, end, tuple(legs), total, forced)

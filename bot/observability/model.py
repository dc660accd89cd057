"""The status model: what `hedgebot status`, the status page and the metrics say, as values.

Per leg, from the journal's latest position snapshot (`leg_status`): short notional, target,
hedge ratio, liquidation price and distance, the distance the jump policy requires, margin and
leverage. The page's whole model (`status_model`) adds the last rebalance and its holdings, the
journal totals and the cost of insurance (`bot.reporting.insurance`): the rows and functions
`hedgebot status` and `hedgebot report` read, so the page and the terminal cannot disagree.
Pure over journal reads; money stays `Decimal`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from bot.core.domain import PositionSide
from bot.journal.records import (
    EventRecord,
    JournalTotals,
    PositionSnapshot,
    RebalanceRecord,
    RunMode,
)
from bot.journal.store import Journal
from bot.margin.binance import liquidation_distance
from bot.reporting.insurance import InsuranceReport, insurance_report


@dataclass(frozen=True, slots=True)
class LegStatus:
    """One perp leg as its latest snapshot shows it; ratios are fractions of the hedged value."""

    symbol: str
    contracts: Decimal
    mark: Decimal
    short_notional: Decimal
    target_notional: Decimal | None
    hedge_ratio: Decimal | None
    target_ratio: Decimal | None
    liquidation_price: Decimal | None
    distance: Decimal | None
    required: Decimal | None
    margin: Decimal
    leverage: int


@dataclass(frozen=True, slots=True)
class Holding:
    """One insured holding at the last rebalance's prices."""

    asset: str
    amount: Decimal
    price: Decimal
    value: Decimal


def required_distances(policy: Sequence[EventRecord]) -> dict[str, Decimal]:
    """Return each short's required liquidation distance from the latest ``margin_policy``."""
    if not policy:
        return {}
    return {leg["symbol"]: Decimal(str(leg["required"])) for leg in policy[-1].data["legs"]}


def leg_status(snap: PositionSnapshot, required: dict[str, Decimal]) -> LegStatus:
    """Return the leg ``snap`` shows; no distance without a mark or a liquidation price."""
    short = -snap.contracts * snap.mark_price
    side = PositionSide.SHORT if snap.contracts < 0 else PositionSide.LONG
    distance = (
        liquidation_distance(side, snap.mark_price, snap.liquidation_price)
        if snap.mark_price > 0
        else None
    )
    hedged = snap.hedged_value
    target = snap.target_notional
    return LegStatus(
        symbol=snap.symbol,
        contracts=snap.contracts,
        mark=snap.mark_price,
        short_notional=short,
        target_notional=target,
        hedge_ratio=short / hedged if hedged else None,
        target_ratio=(target or Decimal(0)) / hedged if hedged else None,
        liquidation_price=snap.liquidation_price,
        distance=distance,
        required=required.get(snap.symbol),
        margin=snap.isolated_margin,
        leverage=snap.leverage,
    )


def leg_statuses(journal: Journal, venue: str) -> list[LegStatus]:
    """Return every leg of ``venue`` at its latest snapshot, by symbol."""
    required = required_distances(journal.events(1, kind="margin_policy", venue=venue))
    return [leg_status(snap, required) for snap in journal.latest_snapshots(venue)]


def holdings_of(record: RebalanceRecord) -> list[Holding]:
    """Return the holdings a rebalance was decided on, as journaled."""
    return [
        Holding(asset, Decimal(h["amount"]), Decimal(h["price"]), Decimal(h["value"]))
        for asset, h in record.inputs.get("holdings", {}).items()
    ]


@dataclass(frozen=True, slots=True)
class StatusModel:
    """Everything the status page shows of one venue, read from its journal at one moment."""

    venue: str
    last: RebalanceRecord | None
    holdings: tuple[Holding, ...]
    legs: tuple[LegStatus, ...]
    policy: EventRecord | None
    totals: JournalTotals
    insurance: InsuranceReport | None
    """The cost of insurance over everything journaled; None before any fill or funding."""

    @property
    def notes(self) -> list[str]:
        """Return the last rebalance's notes (journaled ``; ``-joined)."""
        note = self.last.note if self.last is not None else None
        return [part for part in (note or "").split("; ") if part]


def status_model(journal: Journal, venue: str, now: datetime | None = None) -> StatusModel:
    """Read ``venue``'s status from ``journal`` as `hedgebot status` and `report` read it.

    ``now`` ends the uncovered time of a forced close not yet restored on a live venue, as
    `hedgebot report` does; a paper replay's time ends at its last journaled time.
    """
    latest = journal.rebalances(1, venue=venue)
    last = latest[-1] if latest else None
    policy = journal.events(1, kind="margin_policy", venue=venue)
    required = required_distances(policy)
    totals = journal.totals(venue=venue)
    insurance = None
    if totals.fills or totals.funding_payments:
        live = last is not None and last.mode is RunMode.LIVE
        insurance = insurance_report(journal, venue, now=now if live else None)
    return StatusModel(
        venue=venue,
        last=last,
        holdings=tuple(holdings_of(last)) if last is not None else (),
        legs=tuple(leg_status(snap, required) for snap in journal.latest_snapshots(venue)),
        policy=policy[-1] if policy else None,
        totals=totals,
        insurance=insurance,
    )

"""The status page's charts over time, from journal rows (pure): values stay `Decimal`.

* Portfolio value per cycle, from each rebalance's inputs (what the cycle observed): spot value
  plus the futures equity (free collateral + each short's margin and open P&L at the cycle's
  perp price) is the hedged portfolio; spot value plus the equity of the window's first cycle,
  left idle, is the same portfolio unhedged. Both start equal at the window's first cycle.
* Hedge ratio and its target per leg, from the position snapshots (`bot.observability.model`).
* Fees paid and funding received (net) since the venue's first row, after each fill or payment.

A series longer than `MAX_POINTS` is thinned evenly (its last point kept): a chart is at most a
few thousand pixels wide.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from bot.core.domain import ZERO, Fill, FundingPayment
from bot.journal.records import JournalTotals, PositionSnapshot, RebalanceRecord
from bot.observability.model import leg_status

MAX_POINTS = 1500
"""Points per series at most."""

_Point = TypeVar("_Point")


@dataclass(frozen=True, slots=True)
class ValuePoint:
    """The portfolio at one cycle: spot, and spot with the hedge's equity or its idle start."""

    time: datetime
    spot: Decimal
    hedged: Decimal
    unhedged: Decimal


@dataclass(frozen=True, slots=True)
class RatioPoint:
    """One leg's hedge ratio and target ratio at one snapshot."""

    time: datetime
    ratio: Decimal
    target: Decimal


@dataclass(frozen=True, slots=True)
class CostPoint:
    """Fees paid and net funding received, both cumulative, after one fill or payment."""

    time: datetime
    fees: Decimal
    funding: Decimal


def thin(points: Sequence[_Point], limit: int = MAX_POINTS) -> list[_Point]:
    """Return at most ``limit`` of ``points``, evenly spaced, the last one always kept."""
    if len(points) <= limit:
        return list(points)
    step = len(points) / (limit - 1)
    return [points[round(i * step)] for i in range(limit - 1)] + [points[-1]]


def _equity(inputs: Mapping[str, Any]) -> Decimal:
    """Return free collateral plus each position's margin and open P&L at the cycle's price."""
    prices = inputs.get("perp_prices", {})
    equity = Decimal(str(inputs["collateral"]))
    for symbol, position in inputs.get("positions", {}).items():
        equity += Decimal(str(position["margin"]))
        price = prices.get(symbol)
        if price is not None:
            short = Decimal(str(position["short_contracts"]))
            equity -= short * (Decimal(str(price)) - Decimal(str(position["entry"])))
    return equity


def value_points(rebalances: Sequence[RebalanceRecord]) -> list[ValuePoint]:
    """Return the portfolio hedged and unhedged at each rebalance that observed the account."""
    points: list[ValuePoint] = []
    idle: Decimal | None = None
    for record in rebalances:
        if "collateral" not in record.inputs:
            continue  # a cycle that failed before it observed anything
        spot = sum(
            (Decimal(str(h["value"])) for h in record.inputs.get("holdings", {}).values()), ZERO
        )
        equity = _equity(record.inputs)
        idle = equity if idle is None else idle
        points.append(ValuePoint(record.time, spot, spot + equity, spot + idle))
    return thin(points)


def ratio_points(snapshots: Sequence[PositionSnapshot]) -> dict[str, list[RatioPoint]]:
    """Return each leg's hedge ratio and target over time (snapshots with a hedged value)."""
    legs: dict[str, list[RatioPoint]] = defaultdict(list)
    for snap in snapshots:
        leg = leg_status(snap, {})
        if leg.hedge_ratio is not None and leg.target_ratio is not None:
            legs[snap.symbol].append(RatioPoint(snap.time, leg.hedge_ratio, leg.target_ratio))
    return {symbol: thin(points) for symbol, points in sorted(legs.items())}


def cost_points(
    before: JournalTotals | None, fills: Sequence[Fill], funding: Sequence[FundingPayment]
) -> list[CostPoint]:
    """Return cumulative fees (USDT) and net funding after each of ``fills`` and ``funding``.

    ``before`` holds the totals journaled before the window (None: the window starts with the
    journal), so the sums are the venue's own.
    """
    changes = [(f.timestamp, f.fee if f.fee_currency == "USDT" else ZERO, ZERO) for f in fills]
    changes += [(p.timestamp, ZERO, p.amount) for p in funding]
    fees, net = (ZERO, ZERO) if before is None else (before.fees, before.funding_net)
    points = []
    for time, fee, amount in sorted(changes, key=lambda change: change[0]):
        fees += fee
        net += amount
        points.append(CostPoint(time, fees, net))
    return thin(points)

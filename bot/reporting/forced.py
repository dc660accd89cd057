"""What the exchange's forced closes took: the protection lost to each ADL and liquidation.

A forced close (auto-deleveraging, liquidation) shortens a short the bot holds as insurance, at
the moment it is needed. That notional stays uncovered until the journaled fills bring the
position back to at least its size before the close, or until the end of the period looked at.
The protection lost is ``notional closed × time uncovered``, in USDT·hours.

The walk is over the venue's journaled fills of the leg, oldest first; sizes are relative (the
position before the close is the sum of the fills before it, whatever it started from), so no
snapshot is needed. The notional is amount × price: the contract size of Binance's and Bybit's
linear perps is 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from bot.core.domain import ZERO, Fill, ForcedClose, Side

SECONDS_PER_HOUR = Decimal(3600)


@dataclass(frozen=True, slots=True)
class ForcedLoss:
    """One forced close of a leg and what it took from the hedge."""

    time: datetime
    symbol: str
    kind: ForcedClose
    amount: Decimal
    notional: Decimal
    restored: datetime | None
    """When the journaled fills restored the position to its size before; None: not by the end."""
    uncovered: timedelta

    @property
    def hours_uncovered(self) -> Decimal:
        """Return the time uncovered in hours, exactly."""
        return Decimal(self.uncovered // timedelta(microseconds=1)) / 1_000_000 / SECONDS_PER_HOUR

    @property
    def protection_lost(self) -> Decimal:
        """Return notional closed × hours uncovered (USDT·h)."""
        return self.notional * self.hours_uncovered


def _exposure(fill: Fill, closed_short: bool) -> Decimal:
    """Return how much ``fill`` grows the position a forced close shrank (a short: sells)."""
    grows = Side.SELL if closed_short else Side.BUY
    return fill.amount if fill.side is grows else -fill.amount


def forced_losses(fills: Sequence[Fill], end: datetime) -> tuple[ForcedLoss, ...]:
    """Return each forced close among ``fills`` (a period's, any legs) and its loss, oldest first.

    A close not restored by ``end`` is uncovered until ``end``.
    """
    ordered = sorted(fills, key=lambda f: (f.timestamp, f.trade_id))
    losses = []
    for index, forced in enumerate(ordered):
        if forced.forced is None:
            continue
        closed_short = forced.side is Side.BUY
        gap = forced.amount  # how far the position is below its size before the close
        restored = None
        for later in ordered[index + 1 :]:
            if later.timestamp > end:
                break
            if later.symbol != forced.symbol:
                continue
            gap -= _exposure(later, closed_short)
            if gap <= 0:
                restored = later.timestamp
                break
        losses.append(
            ForcedLoss(
                time=forced.timestamp,
                symbol=forced.symbol,
                kind=ForcedClose(forced.forced),
                amount=forced.amount,
                notional=forced.amount * forced.price,
                restored=restored,
                uncovered=max((restored or end) - forced.timestamp, timedelta(0)),
            )
        )
    return tuple(losses)


def total_lost(losses: Sequence[ForcedLoss], kind: ForcedClose) -> tuple[int, Decimal, Decimal]:
    """Return (count, notional closed, protection lost) of the losses of one ``kind``."""
    own = [loss for loss in losses if loss.kind is kind]
    notional = sum((loss.notional for loss in own), ZERO)
    return len(own), notional, sum((loss.protection_lost for loss in own), ZERO)

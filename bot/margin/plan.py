"""Liquidation-distance guard (pure): keep every isolated position far from its liquidation price.

Each cycle, for every open position:
- distance ≥ ``warning``: nothing to do;
- below ``warning``: add isolated margin from free collateral so the distance is back at
  ``target``;
- not enough collateral and below ``critical``: cut the position. A pro-rata partial close leaves
  an isolated position's liquidation price where it was (the margin leaves with the contracts), so
  a cut is *close q contracts, then put their remaining equity back as margin* on the rest; q is
  the smallest lot multiple that restores ``target`` with the collateral that is left.

The distance is read off the liquidation price the venue reports; top-ups and cuts are sized
with the venue's own published method (`bot.margin.venues.margin_for_distance_for`): Binance's
maintenance margin at the liquidation notional, Bybit's at the entry value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from enum import StrEnum

from bot.core.domain import ZERO, Bracket, Market, Position, PositionSide
from bot.margin.binance import liquidation_distance
from bot.margin.venues import LiquidationMethod, margin_for_distance_for

CENT = Decimal("0.01")


class GuardKind(StrEnum):
    """What the guard does to a position."""

    ADD_MARGIN = "add_margin"
    CUT = "cut"


@dataclass(frozen=True, slots=True)
class MarginAction:
    """One guard action with the figures that triggered it."""

    symbol: str
    kind: GuardKind
    margin: Decimal  # USDT to add (after the cut, for CUT)
    contracts: Decimal  # contracts to close (CUT only)
    distance: Decimal
    liquidation_price: Decimal
    mark: Decimal
    reason: str


def _margin_needed(
    method: LiquidationMethod,
    position: Position,
    contracts: Decimal,
    mark: Decimal,
    target: Decimal,
    brackets: Sequence[Bracket],
) -> Decimal:
    return margin_for_distance_for(
        method,
        position.side,
        contracts,
        position.entry_price,
        mark,
        target,
        brackets,
        position.contract_size,
    )


def _cut_size(
    method: LiquidationMethod,
    position: Position,
    mark: Decimal,
    target: Decimal,
    budget: Decimal,
    brackets: Sequence[Bracket],
    step: Decimal,
) -> tuple[Decimal, Decimal]:
    """Return (contracts to close, margin to add after the cut) restoring ``target``.

    Bisects on whole lots for the smallest cut whose remaining position, holding its kept
    margin plus the closed part's equity plus the free ``budget``, sits ``target`` away.
    """
    direction = Decimal(1) if position.side is PositionSide.LONG else Decimal(-1)
    size = position.contract_size

    def margin_after(close: Decimal) -> Decimal:
        loss = direction * close * size * (position.entry_price - mark)  # > 0 when losing
        return position.isolated_margin - loss + budget

    def enough(close: Decimal) -> bool:
        rest = position.contracts - close
        return rest <= 0 or margin_after(close) >= _margin_needed(
            method, position, rest, mark, target, brackets
        )

    lots = (position.contracts / step).to_integral_value()
    low, high = Decimal(0), lots
    while high - low > 1:
        middle = (low + high) // 2
        if enough(middle * step):
            high = middle
        else:
            low = middle
    close = min(high * step, position.contracts)
    kept = position.isolated_margin * (position.contracts - close) / position.contracts
    return close, max(margin_after(close) - kept, ZERO).quantize(CENT, rounding=ROUND_DOWN)


def plan_margin_actions(
    positions: Mapping[str, Position],
    marks: Mapping[str, Decimal],
    brackets: Callable[[str], Sequence[Bracket]],
    markets: Mapping[str, Market],
    free_collateral: Decimal,
    warning: Decimal,
    target: Decimal,
    critical: Decimal,
    method: LiquidationMethod = LiquidationMethod.BINANCE,
) -> list[MarginAction]:
    """Return the top-ups and cuts that keep every position at least ``warning`` away.

    ``method`` is the venue's liquidation method (``Capabilities.liquidation``); ``brackets``
    gives each symbol's tiers in that venue's units (`bot.margin.venues`).
    """
    actions: list[MarginAction] = []
    budget = free_collateral
    for symbol in sorted(positions):
        position = positions[symbol]
        mark = marks.get(symbol)
        liq = position.liquidation_price
        distance = liquidation_distance(position.side, mark, liq) if mark and liq else None
        if mark is None or liq is None or distance is None or distance >= warning:
            continue
        table = brackets(symbol)
        needed = _margin_needed(method, position, position.contracts, mark, target, table)
        top_up = (needed - position.isolated_margin).quantize(CENT, rounding=ROUND_UP)
        figures = f"mark {mark:,.4f}, liquidation {liq:,.4f}, distance {distance:.1%}"
        if ZERO < top_up <= budget:
            budget -= top_up
            actions.append(
                MarginAction(
                    symbol,
                    GuardKind.ADD_MARGIN,
                    top_up,
                    ZERO,
                    distance,
                    liq,
                    mark,
                    f"{figures} < warning {warning:.0%}: add {top_up:,.2f} margin "
                    f"to reach {target:.0%}",
                )
            )
            continue
        if distance >= critical:
            if budget >= CENT:
                added = budget.quantize(CENT, rounding=ROUND_DOWN)
                budget -= added
                actions.append(
                    MarginAction(
                        symbol,
                        GuardKind.ADD_MARGIN,
                        added,
                        ZERO,
                        distance,
                        liq,
                        mark,
                        f"{figures} < warning {warning:.0%}: only {added:,.2f} collateral free "
                        f"of {top_up:,.2f} needed; added it all",
                    )
                )
            continue
        step = markets[symbol].amount_step
        close, margin = _cut_size(method, position, mark, target, budget, table, step)
        actions.append(
            MarginAction(
                symbol,
                GuardKind.CUT,
                margin,
                close,
                distance,
                liq,
                mark,
                f"{figures} < critical {critical:.0%} and {budget:,.2f} collateral free: close "
                f"{close} of {position.contracts} contracts and keep their equity as margin",
            )
        )
        budget = ZERO
    return actions

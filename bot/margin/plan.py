"""Liquidation-distance guard (pure): keep every isolated position far from its liquidation price.

Each cycle, for every open position:
- distance ≥ ``warning``: nothing to do;
- below ``warning``: add isolated margin from free collateral so the distance is back at
  ``target``;
- not enough collateral and below ``critical``: cut the position. A pro-rata partial close leaves
  an isolated position's liquidation price where it was (the margin leaves with the contracts), so
  a cut is *close q contracts, then put their remaining equity back as margin* on the rest; q is
  the smallest lot multiple that restores ``target`` with the collateral that is left.

With the jump policy (`bot.margin.jumps`), each short also has a ``required`` distance of its
own, above ``warning``: once every position is ``warning`` away, the collateral left tops a short
below its required distance up to it plus the same band (``target − warning``); what it cannot
fund, it funds in part and says so (`margin_coverage` tells how far the collateral reaches).

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
MIN_PARTIAL = Decimal("0.01")
"""A jump top-up the collateral cannot fully fund is made only if at least this share of the
position's notional: no margin move each cycle for the odd funding payment."""


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
    required: Mapping[str, Decimal] | None = None,
) -> list[MarginAction]:
    """Return the top-ups and cuts that keep every position at least ``warning`` away.

    ``method`` is the venue's liquidation method (``Capabilities.liquidation``); ``brackets``
    gives each symbol's tiers in that venue's units (`bot.margin.venues`). ``required``: each
    short's own distance (the jump policy), funded from what the ``warning`` level leaves.
    """
    actions, budget = _guard_levels(
        positions, marks, brackets, markets, free_collateral, warning, target, critical, method
    )
    if not required:
        return actions
    band = target - warning
    done = {a.symbol: a for a in actions}
    for symbol in sorted(positions):
        position, mark = positions[symbol], marks.get(symbol)
        wanted = required.get(symbol)
        before = done.get(symbol)
        if (
            wanted is None
            or wanted <= warning
            or mark is None
            or position.side is not PositionSide.SHORT
            or (before is not None and before.kind is GuardKind.CUT)
        ):
            continue
        liq = position.liquidation_price
        distance = liquidation_distance(position.side, mark, liq) if liq else None
        if liq is None or distance is None or distance >= wanted:
            continue
        added = before.margin if before is not None else ZERO
        needed = _margin_needed(
            method, position, position.contracts, mark, wanted + band, brackets(symbol)
        )
        top_up = (needed - position.isolated_margin - added).quantize(CENT, rounding=ROUND_UP)
        if top_up <= 0:
            continue
        figures = f"mark {mark:,.4f}, liquidation {liq:,.4f}, distance {distance:.1%}"
        if top_up <= budget:
            amount = top_up
            why = f"add {amount:,.2f} margin to reach {wanted + band:.0%}"
        else:
            amount = budget.quantize(CENT, rounding=ROUND_DOWN)
            notional = position.contracts * position.contract_size * mark
            if amount < MIN_PARTIAL * notional:
                continue
            why = (
                f"collateral cannot reach it: only {amount:,.2f} free of {top_up:,.2f} needed; "
                "added it all"
            )
        budget -= amount
        reason = f"{figures} < required {wanted:.0%} (jump history): {why}"
        if before is not None:
            reason = f"{before.reason}; then {why} (jump history requires {wanted:.0%})"
        done[symbol] = MarginAction(
            symbol, GuardKind.ADD_MARGIN, added + amount, ZERO, distance, liq, mark, reason
        )
    return [done[s] for s in sorted(done)]


def _guard_levels(
    positions: Mapping[str, Position],
    marks: Mapping[str, Decimal],
    brackets: Callable[[str], Sequence[Bracket]],
    markets: Mapping[str, Market],
    free_collateral: Decimal,
    warning: Decimal,
    target: Decimal,
    critical: Decimal,
    method: LiquidationMethod,
) -> tuple[list[MarginAction], Decimal]:
    """Return the actions of the three levels and the collateral they leave."""
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
    return actions, budget


@dataclass(frozen=True, slots=True)
class MarginCoverage:
    """How far one short is from the distance the jump policy requires, and the margin missing."""

    symbol: str
    required: Decimal
    distance: Decimal | None
    top_up: Decimal
    """Margin still to add to reach ``required`` (0 when there)."""
    reachable: bool
    """Whether the free collateral, given to the shorts in symbol order, covers ``top_up``."""


def margin_coverage(
    positions: Mapping[str, Position],
    marks: Mapping[str, Decimal],
    brackets: Callable[[str], Sequence[Bracket]],
    required: Mapping[str, Decimal],
    free_collateral: Decimal,
    method: LiquidationMethod = LiquidationMethod.BINANCE,
) -> list[MarginCoverage]:
    """Return, per short with a required distance, whether free collateral can reach it."""
    coverage: list[MarginCoverage] = []
    budget = free_collateral
    for symbol in sorted(positions):
        position, mark, wanted = positions[symbol], marks.get(symbol), required.get(symbol)
        if wanted is None or mark is None or position.side is not PositionSide.SHORT:
            continue
        liq = position.liquidation_price
        distance = liquidation_distance(position.side, mark, liq) if liq else None
        table = brackets(symbol)
        needed = _margin_needed(method, position, position.contracts, mark, wanted, table)
        top_up = max(needed - position.isolated_margin, ZERO).quantize(CENT, rounding=ROUND_UP)
        reachable = top_up <= budget
        budget = max(budget - top_up, ZERO)
        coverage.append(MarginCoverage(symbol, wanted, distance, top_up, reachable))
    return coverage

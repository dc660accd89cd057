"""Pure planner: current shorts and target notionals in, order intents out.

Rules, per leg:
- gap = target short notional − current short notional, at the leg's reference (mark) price;
- inside the deadband (|gap| ≤ deadband × target) nothing is done, so the hedge does not churn;
- contracts = |gap| / (price × contract size), rounded *down* to the lot step; a buy that shrinks a
  short never exceeds the short and is reduce-only;
- an order below the venue's minimum amount, or an opening order below the minimum notional, is
  skipped (reduce-only orders are exempt from the notional minimum on Binance and Bybit);
- the client order id is a hash of (rebalance id, symbol, attempt): the same plan in the same
  rebalance always yields the same id, so a retry or restart can never double a position.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum

from bot.core.domain import (
    ZERO,
    HedgeTarget,
    Market,
    OrderIntent,
    Position,
    PositionSide,
    Side,
    base_of,
)

CLIENT_ID_PATTERN = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
"""Binance's rule for ``newClientOrderId`` (Bybit's ``orderLinkId`` allows the same and more)."""


class LegAction(StrEnum):
    """What the planner decided for one leg."""

    SELL = "sell"  # grow the short
    BUY = "buy"  # shrink the short (reduce-only)
    HOLD = "hold"  # inside the deadband
    SKIP = "skip"  # cannot act: price missing, below one lot or below the minimum notional


@dataclass(frozen=True, slots=True)
class LegPlan:
    """The planner's verdict on one leg, with the figures behind it."""

    symbol: str
    target_notional: Decimal
    current_notional: Decimal  # short notional at ``price`` (negative if the position is long)
    price: Decimal | None
    action: LegAction
    amount: Decimal  # contracts to trade
    reason: str
    intent: OrderIntent | None = None


def round_down(value: Decimal, step: Decimal) -> Decimal:
    """Round ``value`` down to a whole multiple of ``step``."""
    if step <= 0:
        raise ValueError(f"step must be positive, got {step}")
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def client_order_id(rebalance_id: str, symbol: str, attempt: int = 0) -> str:
    """Return the deterministic client order id of a leg's order in a rebalance."""
    digest = hashlib.sha256(f"{rebalance_id}|{symbol}|{attempt}".encode()).hexdigest()[:20]
    base = re.sub(r"[^A-Za-z0-9]", "", base_of(symbol))[:10]
    cid = f"hb-{base}-{digest}"
    assert CLIENT_ID_PATTERN.match(cid), cid
    return cid


def _fmt(value: Decimal) -> str:
    return f"{value:,.2f}"


def plan_leg(
    rebalance_id: str,
    target: HedgeTarget,
    position: Position | None,
    price: Decimal | None,
    market: Market | None,
    deadband: Decimal,
    attempt: int = 0,
) -> LegPlan:
    """Decide the order (if any) that brings one leg's short to its target."""
    short = position.short_contracts if position is not None else ZERO
    size = market.contract_size if market is not None else Decimal(1)

    current = short * size * price if price is not None else ZERO

    def verdict(
        action: LegAction, reason: str, amount: Decimal = ZERO, intent: OrderIntent | None = None
    ) -> LegPlan:
        return LegPlan(
            target.symbol, target.notional, current, price, action, amount, reason, intent
        )

    if market is None:
        return verdict(LegAction.SKIP, "market not listed on the venue")
    if price is None or price <= 0:
        return verdict(LegAction.SKIP, "no usable price")
    gap = target.notional - current
    band = deadband * target.notional
    if gap == 0 or (target.notional > 0 and abs(gap) <= band):
        return verdict(
            LegAction.HOLD,
            f"gap {_fmt(gap)} within deadband ±{_fmt(band)} ({deadband * 100:.4g}% of target)",
        )
    contracts = round_down(abs(gap) / (price * size), market.amount_step)
    if gap < 0:
        side, action, reduce_only = Side.BUY, LegAction.BUY, True
        contracts = min(contracts, short) if short > 0 else contracts
        if target.notional == 0 and short > 0:
            contracts = short  # close the whole short, not a rounded part of it
    else:
        side, action, reduce_only = Side.SELL, LegAction.SELL, False
    if contracts <= 0 or contracts < market.min_amount:
        lot = max(market.amount_step, market.min_amount)
        return verdict(
            LegAction.SKIP,
            f"gap {_fmt(gap)} is below one lot ({lot} contracts ≈ {_fmt(lot * size * price)})",
        )
    notional = contracts * size * price
    if not reduce_only and notional < market.min_notional:
        return verdict(
            LegAction.SKIP,
            f"order notional {_fmt(notional)} below the venue minimum {_fmt(market.min_notional)}",
        )
    verb = "grow short" if side is Side.SELL else "shrink short"
    reason = f"{verb}: {_fmt(current)} → target {_fmt(target.notional)} (gap {_fmt(gap)})"
    intent = OrderIntent(
        client_order_id=client_order_id(rebalance_id, target.symbol, attempt),
        symbol=target.symbol,
        side=side,
        amount=contracts,
        reduce_only=reduce_only,
        reference_price=price,
        contract_size=size,
        reason=reason,
    )
    return verdict(action, reason, contracts, intent)


def plan_rebalance(
    rebalance_id: str,
    targets: Sequence[HedgeTarget],
    positions: Mapping[str, Position],
    prices: Mapping[str, Decimal],
    markets: Mapping[str, Market],
    deadband: Decimal,
) -> list[LegPlan]:
    """Plan every leg: each target, plus any open short whose target vanished (closed to 0)."""
    wanted = {t.symbol: t for t in targets}
    for symbol, position in positions.items():
        if symbol not in wanted and position.contracts > 0:
            wanted[symbol] = HedgeTarget(symbol, ZERO, "no holding needs this leg any more")
    return [
        plan_leg(
            rebalance_id,
            wanted[symbol],
            positions.get(symbol),
            prices.get(symbol),
            markets.get(symbol),
            deadband,
        )
        for symbol in sorted(wanted)
    ]


def with_resting(
    positions: Mapping[str, Position], resting: Mapping[str, Decimal]
) -> dict[str, Position]:
    """Return the positions as if our resting orders (signed contracts) had filled."""
    merged = dict(positions)
    for symbol, delta in resting.items():
        if delta == 0:
            continue
        held = positions.get(symbol)
        signed = (held.signed_contracts if held is not None else ZERO) + delta
        side = PositionSide.SHORT if signed < 0 else PositionSide.LONG
        if held is None:
            held = Position(symbol, side, ZERO, ZERO, ZERO, 1)
        merged[symbol] = replace(held, side=side, contracts=abs(signed))
    return merged


def hold_blocked(plan: LegPlan, reason: str | None) -> LegPlan:
    """Return ``plan`` without its order when its leg must wait (``reason``), else unchanged."""
    if reason is None or plan.intent is None:
        return plan
    return replace(
        plan, action=LegAction.HOLD, amount=ZERO, reason=f"waiting: {reason}", intent=None
    )

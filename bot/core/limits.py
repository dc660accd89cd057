"""Pure risk guards applied between the strategy and the planner, and on the planner's intents."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from bot.core.domain import ZERO, HedgeTarget, Market, Quote
from bot.core.planner import LegAction, LegPlan, round_down


@dataclass(frozen=True, slots=True)
class Guarded:
    """Targets after the limits, and the words that say what the limits changed."""

    targets: tuple[HedgeTarget, ...]
    notes: tuple[str, ...]


def stale_quotes(
    quotes: Mapping[str, Quote], needed: Iterable[str], now: datetime, max_age_seconds: int
) -> list[str]:
    """Return a description of each needed quote that is missing or older than the limit."""
    problems: list[str] = []
    for symbol in sorted(set(needed)):
        quote = quotes.get(symbol)
        if quote is None:
            problems.append(f"{symbol}: no price")
            continue
        age = (now - quote.timestamp).total_seconds()
        if age > max_age_seconds:
            problems.append(
                f"{symbol}: price is {age / 60:.0f} min old (limit {max_age_seconds / 60:.0f})"
            )
        elif quote.price <= 0:
            problems.append(f"{symbol}: non-positive price {quote.price}")
    return problems


def cap_targets(
    targets: Sequence[HedgeTarget],
    spot_value: Decimal,
    max_total_notional: Decimal,
    max_hedge_ratio: Decimal,
) -> Guarded:
    """Scale all targets down together when their sum breaks a total limit."""
    total = sum((t.notional for t in targets), ZERO)
    limit = min(max_total_notional, max_hedge_ratio * spot_value)
    if total <= limit or total == 0:
        return Guarded(tuple(targets), ())
    scale = limit / total
    which = "max_total_notional" if limit == max_total_notional else "max_hedge_ratio"
    note = (
        f"targets total {total:,.2f} above the {which} limit {limit:,.2f}: "
        f"all legs scaled by {scale:.4f}"
    )
    scaled = tuple(replace(t, notional=t.notional * scale) for t in targets)
    return Guarded(scaled, (note,))


def cap_order_size(
    plans: Sequence[LegPlan], max_order_notional: Decimal, steps: Mapping[str, Decimal]
) -> tuple[list[LegPlan], list[str]]:
    """Clip any order above the per-order notional limit; the rest follows next cycle."""
    capped: list[LegPlan] = []
    notes: list[str] = []
    for plan in plans:
        intent = plan.intent
        if intent is None or intent.notional <= max_order_notional:
            capped.append(plan)
            continue
        amount = round_down(max_order_notional / intent.contract_value, steps[plan.symbol])
        if amount <= 0:
            capped.append(
                replace(
                    plan,
                    action=LegAction.SKIP,
                    intent=None,
                    amount=ZERO,
                    reason="max_order_notional is below one lot",
                )
            )
            continue
        notes.append(
            f"{plan.symbol}: order {intent.notional:,.2f} clipped to max_order_notional "
            f"{max_order_notional:,.2f}"
        )
        capped.append(replace(plan, amount=amount, intent=replace(intent, amount=amount)))
    return capped, notes


FEE_ALLOWANCE = Decimal("0.001")
"""Taker fee reserved per unit of notional when checking margin (above every venue's taker fee)."""


def fit_to_margin(
    plans: Sequence[LegPlan],
    collateral: Decimal,
    leverage: int,
    markets: Mapping[str, Market],
) -> tuple[list[LegPlan], list[str]]:
    """Clip orders that grow a short to what the free collateral can margin, leg by leg."""
    budget = collateral
    fitted: list[LegPlan] = []
    notes: list[str] = []
    for plan in plans:
        intent = plan.intent
        if intent is None or intent.reduce_only:
            fitted.append(plan)
            continue
        market = markets[plan.symbol]
        per_contract = (
            intent.reference_price * market.contract_size * (Decimal(1) / leverage + FEE_ALLOWANCE)
        )
        if intent.amount * per_contract <= budget:
            budget -= intent.amount * per_contract
            fitted.append(plan)
            continue
        amount = round_down(max(budget, ZERO) / per_contract, market.amount_step)
        notional = amount * market.contract_size * intent.reference_price
        if amount < market.min_amount or amount <= 0 or notional < market.min_notional:
            reason = f"no free collateral for margin ({budget:,.2f} left at {leverage}x)"
            fitted.append(
                replace(plan, action=LegAction.SKIP, intent=None, amount=ZERO, reason=reason)
            )
            notes.append(f"{plan.symbol}: {reason}")
            continue
        budget -= amount * per_contract
        notes.append(
            f"{plan.symbol}: order clipped from {intent.amount} to {amount} contracts to fit the "
            f"free collateral at {leverage}x"
        )
        fitted.append(replace(plan, amount=amount, intent=replace(intent, amount=amount)))
    return fitted, notes


def cap_turnover(
    plans: Sequence[LegPlan], used: Decimal, limit: Decimal, steps: Mapping[str, Decimal]
) -> tuple[list[LegPlan], list[str]]:
    """Clip orders that grow a short once the day's traded notional reaches ``limit``.

    Reduce-only orders are exempt: shrinking exposure is never blocked by a churn limit.
    """
    room = limit - used
    capped: list[LegPlan] = []
    notes: list[str] = []
    for plan in plans:
        intent = plan.intent
        if intent is None or intent.reduce_only or intent.notional <= room:
            room -= intent.notional if intent is not None and not intent.reduce_only else ZERO
            capped.append(plan)
            continue
        amount = round_down(max(room, ZERO) / intent.contract_value, steps[plan.symbol])
        reason = (
            f"max_daily_turnover {limit:,.2f} reached ({used:,.2f} traded in 24h): "
            f"order {intent.notional:,.2f} "
        )
        if amount <= 0:
            capped.append(
                replace(
                    plan, action=LegAction.SKIP, intent=None, amount=ZERO, reason=reason + "refused"
                )
            )
            notes.append(f"{plan.symbol}: {reason}refused")
            continue
        room -= amount * intent.contract_value
        capped.append(replace(plan, amount=amount, intent=replace(intent, amount=amount)))
        notes.append(f"{plan.symbol}: {reason}clipped to {amount} contracts")
    return capped, notes

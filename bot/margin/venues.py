"""Isolated one-way liquidation prices of Bybit linear USDT perps, next to Binance's.

Pure functions on ``Decimal``. Binance's method lives in :mod:`bot.margin.binance` and is
reused unchanged; this module adds Bybit's *published* method and dispatchers over both: the
liquidation price, the maintenance requirement and the margin that puts the liquidation price at a
given distance (what the margin guard sizes top-ups and cuts with).

Both venues liquidate an isolated position when its equity, the isolated margin plus the
unrealised PnL at the mark price (:func:`bot.margin.binance.equity_at`), falls to a maintenance
requirement; they differ in what that requirement is. With ``s`` = +1 long / −1 short, ``Q`` the
size in base units (``contracts × contract_size``), ``EP`` the entry price, ``WB`` the isolated
margin and ``P`` the mark price:

Binance (USDⓈ-M; see :mod:`bot.margin.binance`)
    ``MM(P) = Q·P·mmr − cum``, the bracket being the one holding the notional ``Q·P`` *at the
    liquidation price*.

Bybit (v5 USDT perpetual, isolated). Bybit Help Center, "Liquidation Price (USDT Contract)"
(https://www.bybit.com/en/help-center/article/Liquidation-Price-USDT-Contract), as published::

    Liquidation Price (Long)  = Entry Price − [(Initial Margin − Maintenance Margin)/Position Size]
                                − (Extra Margin Added/Position Size)
    Liquidation Price (Short) = Entry Price + [(Initial Margin − Maintenance Margin)/Position Size]
                                + (Extra Margin Added/Position Size)
    Position Value = Contract Size × Entry Price;  Initial Margin = Position Value / leverage
    Maintenance Margin = (Position Value × MMR) − Maintenance Margin Deduction

    with the MMR "based on the risk limit tier". Its examples: long 1 BTC at 20,000 and 50x, MMR
    0.5% gives IM 400, MM 100 and LP 19,700; 200 USDT of funding taken from the position margin
    moves it to 19,900, so the formula reads ``LP = EP − s·(WB − MM)/Q`` with ``WB`` the position
    margin (initial plus extra margin, less what was deducted). ``MM`` is a constant of the
    position: the tier is the one holding the position value *at entry* (Help Center,
    "Maintenance Margin (USDT Contract)": "a BTCUSDT position with a position value of 2,000,000
    USDT or below" pays 0.5%), so a long at 1x still has a positive liquidation price, ``MM/Q``.
    Tiers come from ``GET /v5/market/risk-limit`` (API v5 "Get Risk Limit"): ``riskLimitValue``
    ("Position limit", the tier's inclusive cap), ``maintenanceMargin`` (rate) and
    ``mmDeduction`` ("The maintenance margin deduction value when risk limit tier changed").

How :class:`bot.margin.binance.Bracket` carries each venue's tiers:

========  =================================  ================  ==========================
venue     ``floor`` / ``cap``                ``mmr``           ``cum``
========  =================================  ================  ==========================
Binance   notional USDT, ``[floor, cap)``    maintMarginRatio  maintenance amount
Bybit     position value USDT at entry,      maintenanceMargin ``mmDeduction`` (same
          ``(floor, cap]``: ``cap`` =                          role: ``MM = value × mmr −
          ``riskLimitValue``, ``floor`` = the                  cum``)
          previous tier's
========  =================================  ================  ==========================

ccxt's ``fetch_market_leverage_tiers`` maps Bybit's ``riskLimitValue`` to ``maxNotional`` with
the previous one as ``minNotional``.

Neither published isolated formula has a fee term (Bybit notes minor differences "due to the fees
to close the position").
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from enum import StrEnum

from bot.core.domain import ZERO, Bracket, PositionSide
from bot.margin.binance import (
    bracket_for,
    check_distance_inputs,
    check_position,
    liquidation_price,
    margin_for_liquidation_distance,
    side_sign,
)


class LiquidationMethod(StrEnum):
    """Whose published isolated-margin method computes a liquidation price."""

    BINANCE = "binance"
    BYBIT = "bybit"


def liquidation_price_for(
    method: LiquidationMethod | str,
    side: PositionSide,
    contracts: Decimal,
    entry_price: Decimal,
    isolated_margin: Decimal,
    brackets: Sequence[Bracket],
    contract_size: Decimal = Decimal(1),
) -> Decimal | None:
    """Return the mark price at which ``method``'s venue liquidates an isolated one-way position.

    Dispatch to :func:`bot.margin.binance.liquidation_price` (Binance, unchanged) or
    :func:`bybit_liquidation_price`.
    ``brackets`` are in the venue's own units (see the module docstring). Return None for an empty
    position or one that no positive price liquidates.
    """
    venue = LiquidationMethod(method)
    if venue is LiquidationMethod.BYBIT:
        return bybit_liquidation_price(
            side, contracts, entry_price, isolated_margin, brackets, contract_size
        )
    return liquidation_price(side, contracts, entry_price, isolated_margin, brackets, contract_size)


def maintenance_margin_for(
    method: LiquidationMethod | str,
    contracts: Decimal,
    entry_price: Decimal,
    mark_price: Decimal,
    brackets: Sequence[Bracket],
    contract_size: Decimal = Decimal(1),
) -> Decimal:
    """Return the requirement that ``method``'s venue compares the equity with at ``mark_price``.

    The venue liquidates when :func:`bot.margin.binance.equity_at` falls to this amount, so at the
    price from :func:`liquidation_price_for` the two are equal:

    - Binance: ``Q·P·mmr − cum`` with the bracket of ``Q·P`` (the last bracket open-ended, as in
      :func:`bot.margin.binance.liquidation_price`); ``entry_price`` unused.
    - Bybit: ``Q·EP·mmr − deduction`` with the tier of the entry value; ``mark_price`` unused.
    """
    venue = LiquidationMethod(method)
    check_position(contracts, entry_price, contract_size)
    if mark_price <= 0:
        raise ValueError(f"mark price must be > 0, got {mark_price}")
    if venue is LiquidationMethod.BYBIT:
        return bybit_maintenance_margin(contracts, entry_price, brackets, contract_size)
    if not brackets:
        raise ValueError("bracket table is empty")
    notional = contracts * contract_size * mark_price
    last = brackets[-1]
    bracket = last if notional >= last.floor else bracket_for(brackets, notional)
    return notional * bracket.mmr - bracket.cum


def margin_for_distance_for(
    method: LiquidationMethod | str,
    side: PositionSide,
    contracts: Decimal,
    entry_price: Decimal,
    mark_price: Decimal,
    target_distance: Decimal,
    brackets: Sequence[Bracket],
    contract_size: Decimal = Decimal(1),
) -> Decimal:
    """Return the isolated margin that puts ``method``'s liquidation price ``target_distance`` away.

    The target price is ``mark × (1 + d)`` for a short, ``mark × (1 − d)`` for a long; each
    venue's formula (the module docstring) is solved for the margin ``WB`` at that price:

    - Binance: :func:`bot.margin.binance.margin_for_liquidation_distance`;
    - Bybit: ``WB = MM + s·Q·(EP − LP)``, ``MM`` the tier of the entry value.

    Return ZERO when no margin at all keeps the liquidation price that far, and for an empty
    position.
    """
    venue = LiquidationMethod(method)
    if venue is LiquidationMethod.BINANCE:
        return margin_for_liquidation_distance(
            side, contracts, entry_price, mark_price, target_distance, brackets, contract_size
        )
    check_distance_inputs(side, contracts, entry_price, mark_price, target_distance, contract_size)
    if contracts == 0:
        return ZERO
    sign = side_sign(side)
    quantity = contracts * contract_size
    target_price = mark_price * (1 - sign * target_distance)
    required = bybit_maintenance_margin(contracts, entry_price, brackets, contract_size)
    margin = required + sign * quantity * (entry_price - target_price)
    return max(margin, ZERO)


# --- Bybit ------------------------------------------------------------------------------------


def bybit_tier(tiers: Sequence[Bracket], position_value: Decimal) -> Bracket:
    """Return the Bybit risk-limit tier of ``position_value``: the first whose cap is >= it.

    A tier covers ``(floor, cap]``, the cap (``riskLimitValue``) inclusive; 0 falls in the first.
    """
    _check_tiers(tiers)
    if position_value < 0:
        raise ValueError(f"position value {position_value} is negative")
    for tier in tiers:
        if position_value <= tier.cap:
            return tier
    raise ValueError(
        f"position value {position_value} exceeds the largest risk limit {tiers[-1].cap}"
    )


def bybit_maintenance_margin(
    contracts: Decimal,
    entry_price: Decimal,
    tiers: Sequence[Bracket],
    contract_size: Decimal = Decimal(1),
) -> Decimal:
    """Return Bybit's ``Position Value × MMR − MM Deduction``, position value taken at entry."""
    check_position(contracts, entry_price, contract_size)
    value = contracts * contract_size * entry_price
    tier = bybit_tier(tiers, value)
    return value * tier.mmr - tier.cum


def bybit_liquidation_price(
    side: PositionSide,
    contracts: Decimal,
    entry_price: Decimal,
    isolated_margin: Decimal,
    tiers: Sequence[Bracket],
    contract_size: Decimal = Decimal(1),
) -> Decimal | None:
    """Return Bybit's isolated liquidation price ``EP − s·(WB − MM)/Q`` of a USDT perp.

    ``isolated_margin`` is the position margin (initial margin plus extra margin added, less
    anything deducted from it) and ``MM`` is :func:`bybit_maintenance_margin`. Return the exact
    quotient, or None for an empty position or a non-positive price.
    """
    check_position(contracts, entry_price, contract_size)
    if isolated_margin < 0:
        raise ValueError(f"isolated margin must be >= 0, got {isolated_margin}")
    if contracts == 0:
        return None
    quantity = contracts * contract_size
    required = bybit_maintenance_margin(contracts, entry_price, tiers, contract_size)
    price = entry_price - side_sign(side) * (isolated_margin - required) / quantity
    return price if price > 0 else None


# --- helpers ----------------------------------------------------------------------------------


def _check_tiers(tiers: Sequence[Bracket]) -> None:
    """Raise ValueError unless the tiers are non-empty, with rising caps and rates in [0, 1)."""
    if not tiers:
        raise ValueError("tier table is empty")
    previous_cap: Decimal | None = None
    for index, tier in enumerate(tiers, start=1):
        if not 0 <= tier.mmr < 1:
            raise ValueError(f"tier {index}: maintenance margin rate {tier.mmr} not in [0, 1)")
        if tier.cum < 0:
            raise ValueError(f"tier {index}: deduction {tier.cum} is negative")
        if tier.cap <= tier.floor:
            raise ValueError(f"tier {index}: cap {tier.cap} <= floor {tier.floor}")
        if previous_cap is not None and tier.cap <= previous_cap:
            raise ValueError(f"tier {index}: tiers are not sorted by cap")
        previous_cap = tier.cap

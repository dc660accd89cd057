"""Isolated-margin arithmetic of Binance USDⓈ-M perps: brackets, margins, liquidation price.

Pure functions on ``Decimal``; the only I/O is reading the bundled bracket table once.

Binance's published method (support FAQ "How to Calculate Liquidation Price of USDⓈ-M Futures
Contracts"): a position of notional ``N`` needs the maintenance margin ``N × mmr − cum``, where
``mmr`` (maintenance margin rate) and ``cum`` (maintenance amount) come from the leverage bracket
whose ``[floor, cap)`` holds ``N``; ``cum`` keeps that margin continuous across brackets::

    cum_n = cum_(n-1) + floor_n × (mmr_n − mmr_(n-1))

In isolated mode the position is liquidated when its equity falls to its maintenance margin::

    WB + s·Q·(LP − EP) = Q·LP·mmr − cum   =>   LP = (WB + cum − s·Q·EP) / (Q·mmr − s·Q)

with ``WB`` the isolated wallet balance (the position's margin), ``s`` = +1 long / −1 short,
``Q`` the size in base units and ``EP`` the entry price. The bracket is the one that holds the
notional *at the liquidation price*, not at entry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from typing import Any

from bot.core.domain import ZERO, Bracket, PositionSide

BUNDLED_FILE = "binance_brackets.json"
DEFAULT_SYMBOL = "DEFAULT"


def validate_brackets(brackets: Sequence[Bracket]) -> None:
    """Raise ValueError unless the brackets are sorted, contiguous from 0 and continuous in cum.

    Each bracket needs ``cap > floor``, ``0 <= mmr < 1`` and ``max_leverage >= 1``; rates may not
    fall from one bracket to the next, and ``cum`` must follow Binance's rule exactly.
    """
    if not brackets:
        raise ValueError("bracket table is empty")
    first = brackets[0]
    if first.floor != 0:
        raise ValueError(f"first bracket must start at notional 0, not {first.floor}")
    if first.cum != 0:
        raise ValueError(f"first bracket must have cum 0, not {first.cum}")
    previous: Bracket | None = None
    for index, bracket in enumerate(brackets, start=1):
        if bracket.cap <= bracket.floor:
            raise ValueError(f"bracket {index}: cap {bracket.cap} <= floor {bracket.floor}")
        if not 0 <= bracket.mmr < 1:
            raise ValueError(
                f"bracket {index}: maintenance margin rate {bracket.mmr} not in [0, 1)"
            )
        if bracket.max_leverage < 1:
            raise ValueError(f"bracket {index}: max leverage {bracket.max_leverage} < 1")
        if previous is not None:
            if bracket.floor < previous.floor:
                raise ValueError(f"bracket {index}: brackets are not sorted by floor")
            if bracket.floor != previous.cap:
                raise ValueError(
                    f"bracket {index}: floor {bracket.floor} != previous cap {previous.cap}"
                )
            if bracket.mmr < previous.mmr:
                raise ValueError(f"bracket {index}: mmr {bracket.mmr} < previous {previous.mmr}")
            expected = previous.cum + bracket.floor * (bracket.mmr - previous.mmr)
            if bracket.cum != expected:
                raise ValueError(
                    f"bracket {index}: cum {bracket.cum} breaks continuity, expected {expected}"
                )
        previous = bracket


def bracket_for(brackets: Sequence[Bracket], notional: Decimal) -> Bracket:
    """Return the bracket whose ``[floor, cap)`` holds ``notional``."""
    if notional < 0:
        raise ValueError(f"position notional {notional} is negative")
    for bracket in brackets:
        if bracket.contains(notional):
            return bracket
    raise ValueError(
        f"position notional {notional} exceeds the largest bracket cap {brackets[-1].cap}"
    )


def maintenance_margin(notional: Decimal, brackets: Sequence[Bracket]) -> Decimal:
    """Return Binance's maintenance margin ``notional × mmr − cum`` for ``notional``."""
    bracket = bracket_for(brackets, notional)
    return notional * bracket.mmr - bracket.cum


def initial_margin(notional: Decimal, leverage: int) -> Decimal:
    """Return the initial margin ``notional / leverage``."""
    if leverage < 1:
        raise ValueError(f"leverage must be >= 1, got {leverage}")
    return notional / Decimal(leverage)


def liquidation_price(
    side: PositionSide,
    contracts: Decimal,
    entry_price: Decimal,
    isolated_margin: Decimal,
    brackets: Sequence[Bracket],
    contract_size: Decimal = Decimal(1),
) -> Decimal | None:
    """Return the mark price at which Binance liquidates an isolated one-way position.

    ``brackets`` must pass :func:`validate_brackets`. Following Binance's note that the bracket is
    the one of the notional at the liquidation price, solve the formula with each bracket in turn
    and keep the solution whose ``Q × LP`` lies in that bracket's ``[floor, cap)``. Equity minus
    maintenance margin is strictly monotonic in price (maintenance margin is continuous and
    ``mmr < 1``), so exactly one bracket qualifies. The last bracket is treated as open-ended: a
    position can outgrow the largest cap by price moves alone (a short at 1x doubles its notional
    before liquidation), and its last rate is assumed to keep applying there.

    Return the exact quotient (no rounding), or None when ``contracts`` is 0 or the position
    cannot be liquidated at a positive price (a long whose margin covers its notional).
    """
    check_position(contracts, entry_price, contract_size)
    if isolated_margin < 0:
        raise ValueError(f"isolated margin must be >= 0, got {isolated_margin}")
    if contracts == 0:
        return None
    sign = side_sign(side)
    quantity = contracts * contract_size
    last = len(brackets) - 1
    for index, bracket in enumerate(brackets):
        price = (isolated_margin + bracket.cum - sign * quantity * entry_price) / (
            quantity * bracket.mmr - sign * quantity
        )
        notional = quantity * price
        if price > 0 and notional >= bracket.floor and (index == last or notional < bracket.cap):
            return price
    return None


def liquidation_distance(
    side: PositionSide, mark_price: Decimal, liquidation_price: Decimal | None
) -> Decimal | None:
    """Return the fraction of ``mark_price`` the price must move against the position to liquidate.

    Negative when the mark is already beyond the liquidation price; None without one.
    """
    if liquidation_price is None:
        return None
    if mark_price <= 0:
        raise ValueError(f"mark price must be > 0, got {mark_price}")
    if side is PositionSide.SHORT:
        return (liquidation_price - mark_price) / mark_price
    return (mark_price - liquidation_price) / mark_price


def check_distance_inputs(
    side: PositionSide,
    contracts: Decimal,
    entry_price: Decimal,
    mark_price: Decimal,
    target_distance: Decimal,
    contract_size: Decimal,
) -> None:
    """Refuse inputs no margin-for-distance formula can answer (ValueError naming the input)."""
    check_position(contracts, entry_price, contract_size)
    if mark_price <= 0:
        raise ValueError(f"mark price must be > 0, got {mark_price}")
    if target_distance <= 0:
        raise ValueError(f"target distance must be > 0, got {target_distance}")
    if side is PositionSide.LONG and target_distance >= 1:
        raise ValueError(f"a long's target distance must be < 1, got {target_distance}")


def margin_for_liquidation_distance(
    side: PositionSide,
    contracts: Decimal,
    entry_price: Decimal,
    mark_price: Decimal,
    target_distance: Decimal,
    brackets: Sequence[Bracket],
    contract_size: Decimal = Decimal(1),
) -> Decimal:
    """Return the isolated margin that puts the liquidation price ``target_distance`` from mark.

    Solve the liquidation formula for ``WB`` at ``LP = mark × (1 + d)`` for a short and
    ``mark × (1 − d)`` for a long, with the bracket of ``Q × LP`` (the last one open-ended, as in
    :func:`liquidation_price`). Return ZERO when no margin at all already keeps the liquidation
    price at least that far, and ZERO for an empty position.
    """
    check_distance_inputs(side, contracts, entry_price, mark_price, target_distance, contract_size)
    if contracts == 0:
        return ZERO
    sign = side_sign(side)
    quantity = contracts * contract_size
    target_price = mark_price * (1 - sign * target_distance)
    last = brackets[-1]
    notional = quantity * target_price
    bracket = last if notional >= last.floor else bracket_for(brackets, notional)
    margin = (
        target_price * (quantity * bracket.mmr - sign * quantity)
        - bracket.cum
        + sign * quantity * entry_price
    )
    return max(margin, ZERO)


def equity_at(
    side: PositionSide,
    contracts: Decimal,
    entry_price: Decimal,
    isolated_margin: Decimal,
    price: Decimal,
    contract_size: Decimal = Decimal(1),
) -> Decimal:
    """Return the isolated margin plus the unrealised PnL at ``price``."""
    quantity = contracts * contract_size
    return isolated_margin + side_sign(side) * quantity * (price - entry_price)


def brackets_from_binance(entries: Sequence[Mapping[str, Any]]) -> tuple[Bracket, ...]:
    """Parse the ``brackets`` list of a /fapi/v1/leverageBracket entry, sorted and validated."""
    brackets = tuple(
        sorted(
            (
                Bracket(
                    floor=_decimal(_field(entry, "notionalFloor"), "notionalFloor"),
                    cap=_decimal(_field(entry, "notionalCap"), "notionalCap"),
                    max_leverage=_leverage(_field(entry, "initialLeverage"), "initialLeverage"),
                    mmr=_decimal(_field(entry, "maintMarginRatio"), "maintMarginRatio"),
                    cum=_decimal(_field(entry, "cum"), "cum"),
                )
                for entry in entries
            ),
            key=lambda bracket: bracket.floor,
        )
    )
    validate_brackets(brackets)
    return brackets


def brackets_from_ccxt_tiers(tiers: Sequence[Mapping[str, Any]]) -> tuple[Bracket, ...]:
    """Parse ccxt's ``fetch_market_leverage_tiers`` list, sorted and validated.

    ``cum`` comes from the raw ``info`` when the venue sends it (Binance does); otherwise it is
    derived by the continuity rule. A fractional ``maxLeverage`` is rounded down.
    """
    ordered = sorted(tiers, key=lambda tier: _decimal(_field(tier, "minNotional"), "minNotional"))
    brackets: list[Bracket] = []
    for tier in ordered:
        floor = _decimal(_field(tier, "minNotional"), "minNotional")
        mmr = _decimal(_field(tier, "maintenanceMarginRate"), "maintenanceMarginRate")
        info = tier.get("info") or {}
        if info.get("cum") is not None:
            cum = _decimal(info["cum"], "info.cum")
        elif brackets:
            cum = brackets[-1].cum + floor * (mmr - brackets[-1].mmr)
        else:
            cum = ZERO
        brackets.append(
            Bracket(
                floor=floor,
                cap=_decimal(_field(tier, "maxNotional"), "maxNotional"),
                max_leverage=_leverage(_field(tier, "maxLeverage"), "maxLeverage"),
                mmr=mmr,
                cum=cum,
            )
        )
    result = tuple(brackets)
    validate_brackets(result)
    return result


def bundled_brackets(symbol: str) -> tuple[Bracket, ...]:
    """Return the bundled Binance brackets of ``symbol``, or the DEFAULT table when unlisted.

    Accept ccxt unified symbols (``"BTC/USDT:USDT"``) and Binance ids (``"BTCUSDT"``).
    """
    tables = _bundled_tables()
    return tables.get(_binance_id(symbol), tables[DEFAULT_SYMBOL])


@cache
def _bundled_tables() -> dict[str, tuple[Bracket, ...]]:
    """Read and parse the bundled bracket table once."""
    text = (resources.files("bot") / "data" / BUNDLED_FILE).read_text(encoding="utf-8")
    document = json.loads(text, parse_float=Decimal)
    return {
        entry["symbol"]: brackets_from_binance(entry["brackets"]) for entry in document["entries"]
    }


def _binance_id(symbol: str) -> str:
    """Return Binance's id of a symbol: ``"BTC/USDT:USDT"`` -> ``"BTCUSDT"``."""
    pair, _, settle = symbol.upper().partition(":")
    _, _, expiry = settle.partition("-")
    pair_id = pair.replace("/", "")
    return f"{pair_id}_{expiry}" if expiry else pair_id


def side_sign(side: PositionSide) -> Decimal:
    """Return +1 for a long, −1 for a short."""
    return Decimal(1) if side is PositionSide.LONG else Decimal(-1)


def check_position(
    contracts: Decimal, price: Decimal, contract_size: Decimal, price_name: str = "entry price"
) -> None:
    """Raise ValueError on a negative size, a non-positive price or contract size."""
    if contracts < 0:
        raise ValueError(f"contracts must be >= 0 (use side for direction), got {contracts}")
    if price <= 0:
        raise ValueError(f"{price_name} must be > 0, got {price}")
    if contract_size <= 0:
        raise ValueError(f"contract size must be > 0, got {contract_size}")


def _field(entry: Mapping[str, Any], key: str) -> Any:
    """Return ``entry[key]``, raising ValueError when it is missing."""
    if key not in entry:
        raise ValueError(f"bracket entry lacks {key!r}: {dict(entry)!r}")
    return entry[key]


def _decimal(value: Any, name: str) -> Decimal:
    """Return ``value`` (str, int, float or Decimal) as a finite Decimal."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"{name} must be a number, got {value!r}") from exc
    if not number.is_finite():
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


def _leverage(value: Any, name: str) -> int:
    """Return a leverage as an int >= 1, rounding a fractional one down."""
    number = _decimal(value, name)
    if number < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    return int(number)

"""Convert ccxt's unified structures into hedgebot's domain types (Decimal from ccxt's strings)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ParamSpec, TypeVar

from bot.core.clock import from_ms
from bot.core.domain import (
    ZERO,
    Fill,
    ForcedClose,
    FundingPayment,
    Market,
    OrderIntent,
    OrderResult,
    OrderStatus,
    Position,
    PositionSide,
    Quote,
    Side,
)
from bot.core.errors import MalformedResponse

P = ParamSpec("P")
R = TypeVar("R")

IMPLAUSIBLE = Decimal("1e15")
"""No price, amount or balance hedgebot trades with comes near this; larger is corruption."""

QUOTE_VOLUME_FIELDS = ("quoteVolume", "turnover24h")
"""Where a raw ticker keeps its 24h quote volume: Binance's ``quoteVolume``, Bybit's
``turnover24h`` (ccxt's unified ``quoteVolume`` is a float that loses digits)."""

_STATUS = {
    "open": OrderStatus.OPEN,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "expired": OrderStatus.CANCELED,
    "rejected": OrderStatus.REJECTED,
}


def strict(parse: Callable[P, R]) -> Callable[P, R]:
    """Turn a malformed structure (missing key, wrong type) into `MalformedResponse`."""

    @functools.wraps(parse)
    def parsed(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return parse(*args, **kwargs)
        except (KeyError, TypeError, AttributeError, ValueError, IndexError) as error:
            raise MalformedResponse(f"{parse.__name__}: unreadable answer ({error!r})") from None

    return parsed


def dec(value: Any, what: str, *, allow_none: bool = False) -> Decimal | None:
    """Return ``value`` as a finite Decimal (via its string form), or refuse."""
    if value is None or value == "":
        if allow_none:
            return None
        raise MalformedResponse(f"{what} is missing")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise MalformedResponse(f"{what} is not a number: {value!r}") from None
    if not number.is_finite():
        raise MalformedResponse(f"{what} is not finite: {value!r}")
    if abs(number) >= IMPLAUSIBLE:
        raise MalformedResponse(f"{what} is implausibly large: {value!r}")
    return number


def req(value: Any, what: str) -> Decimal:
    """Return a required finite Decimal."""
    number = dec(value, what)
    assert number is not None
    return number


def positive(value: Any, what: str) -> Decimal:
    """Return a required Decimal above zero."""
    number = req(value, what)
    if number <= 0:
        raise MalformedResponse(f"{what} must be positive, got {value!r}")
    return number


def when(ms: Any) -> datetime:
    """Return the UTC time of ccxt's millisecond timestamp (now when the venue sent none)."""
    return from_ms(int(ms)) if ms is not None else datetime.now(UTC)


@strict
def market(raw: dict[str, Any]) -> Market:
    """Return the trading rules of a ccxt linear perp market (precision mode TICK_SIZE)."""
    symbol = raw["symbol"]
    limits = raw.get("limits") or {}
    step = positive(raw["precision"]["amount"], f"{symbol} amount step")
    min_amount = dec((limits.get("amount") or {}).get("min"), "min amount", allow_none=True)
    min_cost = dec((limits.get("cost") or {}).get("min"), "min notional", allow_none=True)
    max_leverage = (limits.get("leverage") or {}).get("max")
    return Market(
        symbol=symbol,
        base=raw["base"],
        quote=raw["quote"],
        contract_size=positive(raw.get("contractSize") or 1, f"{symbol} contract size"),
        amount_step=step,
        min_amount=min_amount if min_amount is not None else step,
        min_notional=min_cost if min_cost is not None else Decimal(0),
        price_tick=positive(raw["precision"]["price"], f"{symbol} price tick"),
        max_leverage=int(max_leverage) if max_leverage else 125,
    )


@strict
def quote(raw: dict[str, Any]) -> Quote:
    """Return a quote from a ccxt ticker, priced by the venue's own last trade price.

    ccxt reconstructs a missing or zero last price from other fields (weighted average, change):
    hedgebot never trades on a reconstructed price, so it reads Binance's and Bybit's raw
    ``lastPrice`` and refuses the ticker when the venue did not send a usable one. The 24h quote
    volume is read raw too (`QUOTE_VOLUME_FIELDS`); None when the venue sent none.
    """
    symbol = raw["symbol"]
    info = raw.get("info") or {}
    price = positive(info.get("lastPrice"), f"{symbol} last price")
    mark = dec(raw.get("markPrice"), f"{symbol} mark price", allow_none=True)
    sent = next((info[f] for f in QUOTE_VOLUME_FIELDS if info.get(f) is not None), None)
    volume = dec(sent, f"{symbol} 24h quote volume", allow_none=True)
    if volume is not None and volume < 0:
        raise MalformedResponse(f"{symbol} 24h quote volume is negative: {volume}")
    return Quote(symbol, price, when(raw.get("timestamp")), mark, volume)


@strict
def position(raw: dict[str, Any]) -> Position | None:
    """Return an open position from ccxt's structure, or None when flat."""
    contracts = dec(raw.get("contracts"), "position contracts", allow_none=True)
    if contracts is None or contracts == 0:
        return None
    symbol = raw["symbol"]
    info = raw.get("info") or {}
    margin = dec(info.get("isolatedWallet"), "isolated wallet", allow_none=True)
    if margin is None:  # Bybit: positionBalance; ccxt's collateral adds the unrealised PnL
        margin = dec(info.get("positionBalance"), "position balance", allow_none=True)
    if margin is None:
        margin = req(raw.get("collateral") or raw.get("initialMargin"), f"{symbol} margin")
    if margin < 0:
        raise MalformedResponse(f"{symbol} isolated margin is negative: {margin}")
    leverage = raw.get("leverage") or info.get("leverage") or 1
    return Position(
        symbol=symbol,
        side=PositionSide.SHORT if raw.get("side") == "short" else PositionSide.LONG,
        contracts=abs(contracts),
        entry_price=positive(raw.get("entryPrice"), f"{symbol} entry price"),
        isolated_margin=margin,
        leverage=int(Decimal(str(leverage))),
        contract_size=positive(raw.get("contractSize") or 1, f"{symbol} contract size"),
        liquidation_price=dec(
            raw.get("liquidationPrice") or None, "liquidation price", allow_none=True
        ),
        margin_mode=_margin_mode(raw.get("marginMode")),
        mark_price=dec(
            info.get("markPrice") or raw.get("markPrice") or None,
            f"{symbol} mark price",
            allow_none=True,
        ),
    )


def _margin_mode(raw: Any) -> str | None:
    """Return ``"isolated"``/``"cross"`` from ccxt's ``marginMode`` (``"crossed"`` too)."""
    text = str(raw or "").lower()
    if text.startswith("isolated"):
        return "isolated"
    if text.startswith("cross"):
        return "cross"
    return None


ADL_CLIENT_ID = "adl_autoclose"
"""Binance's client id of every auto-deleveraging order."""
LIQUIDATION_CLIENT_ID_PREFIX = "autoclose-"
"""Binance's client id prefix of a liquidation order (``autoclose-<number>``)."""
FORCED_EXEC_TYPES = {"BustTrade": ForcedClose.LIQUIDATION, "AdlTrade": ForcedClose.ADL}
"""Bybit v5 execution types of a liquidation (taken over by the exchange) and of an ADL."""
TRADE_EXEC_TYPES = frozenset({"Trade", *FORCED_EXEC_TYPES})
"""Bybit v5 execution types that change a position (funding is ``Funding``)."""


def forced_by_client_id(client_order_id: str | None) -> ForcedClose | None:
    """Return how Binance forced an order, told by its client id; None for anyone else's."""
    text = str(client_order_id or "")
    if text == ADL_CLIENT_ID:
        return ForcedClose.ADL
    if text.startswith(LIQUIDATION_CLIENT_ID_PREFIX):
        return ForcedClose.LIQUIDATION
    return None


def forced_by_exec_type(exec_type: Any) -> ForcedClose | None:
    """Return how Bybit forced an execution, told by its ``execType``; None for a ``Trade``."""
    return FORCED_EXEC_TYPES.get(str(exec_type or ""))


@strict
def fill(raw: dict[str, Any], venue: str) -> Fill:
    """Return a fill from a ccxt trade (fee and realised PnL as the venue reports them).

    A liquidation or ADL fill says so (``forced``) when the trade does: Bybit's ``execType``
    (``BustTrade``, ``AdlTrade``), or a Binance client id ``autoclose-…``/``adl_autoclose`` where
    an answer carries one. Binance's trade list carries none: see `CcxtVenue.fetch_fills`.
    """
    fee = raw.get("fee") or {}
    info = raw.get("info") or {}
    pnl = info.get("realizedPnl", info.get("closedPnl", info.get("execPnl", 0)))
    client_id = (
        raw.get("clientOrderId") or info.get("clientOrderId") or info.get("orderLinkId") or None
    )
    return Fill(
        venue=venue,
        trade_id=str(raw["id"]),
        symbol=raw["symbol"],
        side=Side(raw["side"]),
        amount=positive(raw.get("amount"), "trade amount"),
        price=positive(raw.get("price"), "trade price"),
        fee=req(fee.get("cost") or 0, "trade fee"),
        fee_currency=str(fee.get("currency") or "USDT"),
        realized_pnl=req(pnl or 0, "realized pnl"),
        timestamp=when(raw.get("timestamp")),
        client_order_id=str(client_id) if client_id else None,
        venue_order_id=str(raw["order"]) if raw.get("order") not in (None, "") else None,
        forced=forced_by_exec_type(info.get("execType")) or forced_by_client_id(client_id),
    )


@strict
def funding(raw: dict[str, Any], venue: str, sign: int) -> FundingPayment:
    """Return a funding payment from ccxt's funding history entry, + meaning received.

    Rate and position come from the entry when the exchange puts them there (Bybit's funding
    execution: ``feeRate`` and ``execQty``, signed here so that a short is negative); else they
    are None (Binance's income entry has neither: see `CcxtVenue.fetch_funding`).
    """
    info = raw.get("info") or {}
    payment_id = raw.get("id") or info.get("tranId") or f"{raw['symbol']}@{raw['timestamp']}"
    rate = dec(info.get("fundingRate", info.get("feeRate")), "funding rate", allow_none=True)
    size = dec(info.get("size", info.get("execQty")), "funding position", allow_none=True)
    amount = sign * req(raw.get("amount"), "funding amount")
    return FundingPayment(
        venue=venue,
        payment_id=str(payment_id),
        symbol=raw["symbol"],
        timestamp=when(raw.get("timestamp")),
        rate=rate,
        position_contracts=_signed_size(size, amount, rate, info.get("side")),
        amount=amount,
        currency=str(raw.get("code") or "USDT"),
    )


def _signed_size(
    size: Decimal | None, amount: Decimal, rate: Decimal | None, side: Any
) -> Decimal | None:
    """Return a funding entry's position size signed (short < 0); None when unknown or zero.

    The payment decides the sign where it can (``amount = −position × mark × rate``); a zero
    payment leaves it to the entry's side (``Sell``: a short).
    """
    if size is None or size == 0:
        return None
    if amount and rate:
        return -abs(size) if (amount > 0) == (rate > 0) else abs(size)
    return -abs(size) if str(side).lower() == "sell" else abs(size)


@strict
def funding_charge(raw: dict[str, Any]) -> tuple[str, int, Decimal, Decimal | None]:
    """Return (symbol, time ms, rate, mark) of a ccxt funding-rate history entry.

    The mark is Binance's ``markPrice`` "associated with a particular funding fee charge" (None
    when the answer has none); rate and mark are read from the raw strings, exactly.
    """
    info = raw.get("info") or {}
    rate = req(info.get("fundingRate", raw.get("fundingRate")), "funding rate")
    mark = dec(info.get("markPrice"), "funding mark price", allow_none=True)
    return raw["symbol"], int(raw["timestamp"]), rate, mark if mark else None


@strict
def forced_order(raw: dict[str, Any]) -> tuple[str, str, str | None, int]:
    """Return (Binance symbol id, order id, client id, time ms) of a /fapi/v1/forceOrders row."""
    client_id = raw.get("clientOrderId") or None
    at = int(raw.get("time") or raw["updateTime"])
    return str(raw["symbol"]), str(raw["orderId"]), client_id and str(client_id), at


@strict
def adl_rank(raw: dict[str, Any]) -> tuple[str, int | None]:
    """Return (unified symbol, rank or None) of ccxt's auto-deleveraging structure.

    The rank is a whole number ≥ 0 (Binance's quantile, Bybit's ``adlRankIndicator``).
    """
    rank = dec(raw.get("rank"), "ADL rank", allow_none=True)
    if rank is not None and (rank < 0 or rank != rank.to_integral_value()):
        raise MalformedResponse(f"{raw.get('symbol')} ADL rank is not a whole number ≥ 0: {rank}")
    return str(raw["symbol"]), None if rank is None else int(rank)


FUNDING_AMOUNT_PRECISION = Decimal("1e-8")
"""Binance rounds income to 8 decimals: the uncertainty a derived position has to live with."""


def funding_position(
    amount: Decimal, rate: Decimal, mark: Decimal, contract_size: Decimal, step: Decimal
) -> Decimal | None:
    """Return the signed position a funding payment was charged on, or None if ambiguous.

    The exchange charges ``amount = −position × contract size × mark × rate`` (+ received); the
    position is that solved for and rounded to the lot ``step``. None when the rate or the mark
    is zero, when the rounding of the amount could hide a lot step, or when the amount is no
    whole number of lots (e.g. a payment capped by an exhausted isolated margin).
    """
    per_contract = contract_size * mark * rate
    if not per_contract or step <= 0:
        return None
    exact = -amount / per_contract
    slack = FUNDING_AMOUNT_PRECISION / abs(per_contract)
    if slack * 2 >= step:
        return None
    contracts = (exact / step).to_integral_value() * step
    if contracts == 0 or abs(exact - contracts) > slack:
        return None
    return contracts


@strict
def order(
    raw: dict[str, Any], client_order_id: str, reduce_only: bool, fills: tuple[Fill, ...]
) -> OrderResult:
    """Return an order result from ccxt's order structure and its fills."""
    status = _STATUS.get(str(raw.get("status")), OrderStatus.UNKNOWN)
    amount = req(raw.get("amount"), "order amount")
    filled = dec(raw.get("filled"), "order filled", allow_none=True) or Decimal(0)
    if status in (OrderStatus.CANCELED, OrderStatus.FILLED) and 0 < filled < amount:
        status = OrderStatus.PARTIALLY_FILLED  # Bybit's PartiallyFilledCanceled is ccxt "closed"
    client_id = raw.get("clientOrderId") or client_order_id
    forced = forced_by_client_id(client_id)
    fills = tuple(  # Binance's trade list names no client id: the order's answer does
        f if f.client_order_id else replace(f, client_order_id=client_id, forced=f.forced or forced)
        for f in fills
    )
    return OrderResult(
        client_order_id=client_id,
        venue_order_id=str(raw["id"]),
        symbol=raw["symbol"],
        side=Side(raw["side"]),
        amount=amount,
        filled=filled,
        average_price=dec(raw.get("average"), "average price", allow_none=True),
        status=status,
        reduce_only=bool(raw.get("reduceOnly", reduce_only)),
        timestamp=when(raw.get("timestamp")),
        fills=fills,
    )


def unconfirmed(intent: OrderIntent, venue_order_id: str, ms: Any, reason: str) -> OrderResult:
    """Return an accepted order whose outcome is not known yet (to be looked up by client id)."""
    return OrderResult(
        client_order_id=intent.client_order_id,
        venue_order_id=venue_order_id,
        symbol=intent.symbol,
        side=intent.side,
        amount=intent.amount,
        filled=ZERO,
        average_price=None,
        status=OrderStatus.UNKNOWN,
        reduce_only=intent.reduce_only,
        timestamp=when(ms),
        reason=reason,
    )

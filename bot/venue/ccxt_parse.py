"""Convert ccxt's unified structures into hedgebot's domain types (Decimal from ccxt's strings)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.clock import from_ms
from bot.domain import (
    ZERO,
    Fill,
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
from bot.errors import MalformedResponse

IMPLAUSIBLE = Decimal("1e15")
"""No price, amount or balance hedgebot trades with comes near this; larger is corruption."""

_STATUS = {
    "open": OrderStatus.OPEN,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "expired": OrderStatus.CANCELED,
    "rejected": OrderStatus.REJECTED,
}


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


def quote(raw: dict[str, Any]) -> Quote:
    """Return a quote from a ccxt ticker, priced by the venue's own last trade price.

    ccxt reconstructs a missing or zero last price from other fields (weighted average, change):
    hedgebot never trades on a reconstructed price, so it reads Binance's and Bybit's raw
    ``lastPrice`` and refuses the ticker when the venue did not send a usable one.
    """
    symbol = raw["symbol"]
    price = positive((raw.get("info") or {}).get("lastPrice"), f"{symbol} last price")
    mark = dec(raw.get("markPrice"), f"{symbol} mark price", allow_none=True)
    return Quote(symbol, price, when(raw.get("timestamp")), mark)


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
    )


def _margin_mode(raw: Any) -> str | None:
    """Return ``"isolated"``/``"cross"`` from ccxt's ``marginMode`` (``"crossed"`` too)."""
    text = str(raw or "").lower()
    if text.startswith("isolated"):
        return "isolated"
    if text.startswith("cross"):
        return "cross"
    return None


def fill(raw: dict[str, Any], venue: str) -> Fill:
    """Return a fill from a ccxt trade (fee and realised PnL as the venue reports them)."""
    fee = raw.get("fee") or {}
    info = raw.get("info") or {}
    pnl = info.get("realizedPnl", info.get("closedPnl", info.get("execPnl", 0)))
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
        client_order_id=raw.get("clientOrderId")
        or info.get("clientOrderId")
        or info.get("orderLinkId")
        or None,
        venue_order_id=str(raw["order"]) if raw.get("order") is not None else None,
        is_liquidation=str(info.get("clientOrderId", "")).startswith("autoclose"),
    )


def funding(raw: dict[str, Any], venue: str, sign: int) -> FundingPayment:
    """Return a funding payment from ccxt's funding history entry, + meaning received."""
    info = raw.get("info") or {}
    payment_id = raw.get("id") or info.get("tranId") or f"{raw['symbol']}@{raw['timestamp']}"
    rate = dec(info.get("fundingRate") or info.get("feeRate"), "funding rate", allow_none=True)
    size = dec(info.get("size") or info.get("execQty"), "funding position", allow_none=True)
    return FundingPayment(
        venue=venue,
        payment_id=str(payment_id),
        symbol=raw["symbol"],
        timestamp=when(raw.get("timestamp")),
        rate=rate if rate is not None else Decimal(0),
        position_contracts=size if size is not None else Decimal(0),
        amount=sign * req(raw.get("amount"), "funding amount"),
        currency=str(raw.get("code") or "USDT"),
    )


def order(
    raw: dict[str, Any], client_order_id: str, reduce_only: bool, fills: tuple[Fill, ...]
) -> OrderResult:
    """Return an order result from ccxt's order structure and its fills."""
    status = _STATUS.get(str(raw.get("status")), OrderStatus.UNKNOWN)
    amount = req(raw.get("amount"), "order amount")
    filled = dec(raw.get("filled"), "order filled", allow_none=True) or Decimal(0)
    if status in (OrderStatus.CANCELED, OrderStatus.FILLED) and 0 < filled < amount:
        status = OrderStatus.PARTIALLY_FILLED  # Bybit's PartiallyFilledCanceled is ccxt "closed"
    return OrderResult(
        client_order_id=raw.get("clientOrderId") or client_order_id,
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

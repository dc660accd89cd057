"""Binance's JSON shapes, field by field: numbers as strings where Binance sends strings."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from bot.core.clock import to_ms
from bot.core.domain import ZERO, Bracket, ForcedClose, Market, Side
from bot.emulator.account import OrderRecord, PositionView, binance_id
from bot.market.series import Bar
from bot.sim.exchange import SimFunding, SimTrade

JsonDict = dict[str, object]

PERPETUAL_DELIVERY_MS = 4133404800000
MAX_PRICE = Decimal(10) ** 9
MAX_QTY = Decimal(10) ** 8  # published like Binance's LOT_SIZE cap; the simulation has no cap
EIGHT_PLACES = Decimal("1E-8")


def plain(value: Decimal) -> str:
    """Return ``value`` in fixed-point notation without trailing zeros."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def money(value: Decimal) -> str:
    """Return an amount of money with Binance's 8 decimals."""
    return format(value.quantize(EIGHT_PLACES, ROUND_HALF_EVEN), "f")


def places(step: Decimal) -> int:
    """Return the number of decimals of a tick or lot step."""
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def side(value: Side) -> str:
    """Return Binance's side name."""
    return value.value.upper()


def futures_symbol(market: Market) -> JsonDict:
    """Return one ``symbols`` entry of /fapi/v1/exchangeInfo."""
    tick, step = market.price_tick, market.amount_step
    lot = {"stepSize": plain(step), "minQty": plain(market.min_amount), "maxQty": plain(MAX_QTY)}
    return {
        "symbol": binance_id(market.symbol),
        "pair": binance_id(market.symbol),
        "contractType": "PERPETUAL",
        "deliveryDate": PERPETUAL_DELIVERY_MS,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": market.base,
        "quoteAsset": market.quote,
        "marginAsset": market.quote,
        "pricePrecision": places(tick),
        "quantityPrecision": places(step),
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": plain(tick),
                "maxPrice": plain(MAX_PRICE),
                "tickSize": plain(tick),
            },
            {"filterType": "LOT_SIZE", **lot},
            {"filterType": "MARKET_LOT_SIZE", **lot},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MIN_NOTIONAL", "notional": plain(market.min_notional)},
        ],
        "orderTypes": ["LIMIT", "MARKET"],
        "timeInForce": ["IOC"],
    }


def spot_symbol(base: str, quote: str, tick: Decimal) -> JsonDict:
    """Return one ``symbols`` entry of /api/v3/exchangeInfo."""
    return {
        "symbol": f"{base}{quote}",
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "orderTypes": ["LIMIT", "MARKET"],
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": plain(tick),
                "maxPrice": plain(MAX_PRICE),
                "tickSize": plain(tick),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": "0.00001",
                "maxQty": "9000",
                "stepSize": "0.00001",
            },
            {"filterType": "NOTIONAL", "minNotional": "5", "maxNotional": "9000000"},
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
    }


def order(record: OrderRecord, number: int, with_time: bool = True) -> JsonDict:
    """Return an order as /fapi/v1/order answers (``with_time`` False: the POST answer).

    ``number`` is its ``orderId``: Binance numbers orders per symbol.
    """
    sim = record.sim
    average = sim.average_price or ZERO
    body: JsonDict = {
        "orderId": number,
        "symbol": binance_id(sim.symbol),
        "status": record.status,
        "clientOrderId": sim.client_order_id,
        "price": plain(record.price),
        "avgPrice": plain(average),
        "origQty": plain(sim.amount),
        "executedQty": plain(sim.filled),
        "cumQty": plain(sim.filled),
        "cumQuote": money(sim.filled * average),
        "timeInForce": record.time_in_force,
        "type": record.type,
        "reduceOnly": sim.reduce_only,
        "closePosition": False,
        "side": side(sim.side),
        "positionSide": "BOTH",
        "stopPrice": "0",
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "origType": record.type,
        "priceMatch": "NONE",
        "selfTradePreventionMode": "EXPIRE_MAKER",
        "goodTillDate": 0,
        "updateTime": record.update_ms,
    }
    if with_time:
        body["time"] = to_ms(sim.time)
    return body


def acknowledged(record: OrderRecord, number: int) -> JsonDict:
    """Return the ``newOrderRespType=ACK`` answer: accepted, nothing reported filled yet."""
    body = order(record, number, with_time=False)
    body.update(status="NEW", avgPrice="0.00", executedQty="0", cumQty="0", cumQuote="0")
    return body


def trade(fill: SimTrade, number: Callable[[str], int]) -> JsonDict:
    """Return one /fapi/v1/userTrades entry (taker fills; liquidations carry their clearance).

    ``id`` and ``orderId`` are the trade's and its order's numbers within the symbol
    (``number`` of the simulation's ids), as Binance numbers them. No client order id: Binance's
    trade list has none, whoever placed the order.
    """
    return {
        "buyer": fill.side is Side.BUY,
        "commission": money(fill.fee),
        "commissionAsset": "USDT",
        "id": number(fill.trade_id),
        "maker": False,
        "orderId": number(fill.order_id),
        "price": plain(fill.price),
        "qty": plain(fill.amount),
        "quoteQty": money(fill.amount * fill.price),
        "realizedPnl": money(fill.realized_pnl),
        "side": side(fill.side),
        "positionSide": "BOTH",
        "symbol": binance_id(fill.symbol),
        "time": to_ms(fill.time),
    }


@dataclass(frozen=True, slots=True)
class Income:
    """One /fapi/v1/income entry with the keys it is filtered by."""

    symbol_id: str
    kind: str
    time_ms: int
    tran_id: int
    body: JsonDict


def incomes(
    trades: Sequence[SimTrade], funding: Sequence[SimFunding], number: Callable[[str], int]
) -> list[Income]:
    """Return the income ledger, oldest first: funding, commissions, realised PnL, clearances.

    ``income`` > 0 is received. ``tranId`` is the simulation's account-wide id times ten plus
    the kind, so ids never collide; ``tradeId`` is the trade's number in its symbol (``number``).
    """
    rows: list[Income] = []

    def add(symbol: str, kind: str, amount: Decimal, at: int, tran: int, ref: str = "") -> None:
        body: JsonDict = {
            "symbol": binance_id(symbol),
            "incomeType": kind,
            "income": money(amount),
            "asset": "USDT",
            "info": kind,
            "time": at,
            "tranId": tran,
            "tradeId": ref,
        }
        rows.append(Income(binance_id(symbol), kind, at, tran, body))

    for payment in funding:
        tran = int(payment.payment_id) * 10 + 1
        add(payment.symbol, "FUNDING_FEE", payment.amount, to_ms(payment.time), tran)
    for fill in trades:
        base, at, ref = int(fill.trade_id) * 10, to_ms(fill.time), str(number(fill.trade_id))
        if fill.forced is ForcedClose.LIQUIDATION:
            add(fill.symbol, "INSURANCE_CLEAR", -fill.fee, at, base + 4)
        else:
            add(fill.symbol, "COMMISSION", -fill.fee, at, base + 2, ref)
        if fill.realized_pnl != 0:
            add(fill.symbol, "REALIZED_PNL", fill.realized_pnl, at, base + 3, ref)
    rows.sort(key=lambda row: (row.time_ms, row.tran_id))
    return rows


def brackets(symbol_id: str, table: Sequence[Bracket]) -> JsonDict:
    """Return one /fapi/v1/leverageBracket entry (numbers, as Binance sends them)."""
    return {
        "symbol": symbol_id,
        "notionalCoef": 1.0,
        "brackets": [
            {
                "bracket": index,
                "initialLeverage": b.max_leverage,
                "notionalCap": _number(b.cap),
                "notionalFloor": _number(b.floor),
                "maintMarginRatio": float(b.mmr),
                "cum": float(b.cum),
            }
            for index, b in enumerate(table, start=1)
        ],
    }


def position_v3(view: PositionView) -> JsonDict:
    """Return one /fapi/v3/positionRisk entry."""
    return {
        "symbol": view.symbol_id,
        "positionSide": "BOTH",
        "positionAmt": plain(view.amount),
        "entryPrice": plain(view.entry_price),
        "breakEvenPrice": plain(view.entry_price),
        "markPrice": plain(view.mark_price),
        "unRealizedProfit": money(view.unrealized_pnl),
        "liquidationPrice": money(view.liquidation_price),
        "isolatedMargin": money(_isolated_margin(view)),
        "notional": money(view.notional),
        "marginAsset": "USDT",
        "isolatedWallet": money(view.isolated_wallet if view.isolated else ZERO),
        "initialMargin": money(view.initial_margin),
        "maintMargin": money(view.maint_margin),
        "positionInitialMargin": money(view.initial_margin),
        "openOrderInitialMargin": "0",
        "adl": view.adl_rank,
        "bidNotional": "0",
        "askNotional": "0",
        "updateTime": view.update_ms,
    }


def position_v2(view: PositionView) -> JsonDict:
    """Return one /fapi/v2/positionRisk entry (carries leverage and margin type)."""
    return {
        "symbol": view.symbol_id,
        "positionAmt": plain(view.amount),
        "entryPrice": plain(view.entry_price),
        "breakEvenPrice": plain(view.entry_price),
        "markPrice": plain(view.mark_price),
        "unRealizedProfit": money(view.unrealized_pnl),
        "liquidationPrice": money(view.liquidation_price),
        "leverage": str(view.leverage),
        "maxNotionalValue": plain(view.max_notional),
        "marginType": "isolated" if view.isolated else "cross",
        "isolatedMargin": money(_isolated_margin(view)),
        "isAutoAddMargin": "false",
        "positionSide": "BOTH",
        "notional": money(view.notional),
        "isolatedWallet": money(view.isolated_wallet if view.isolated else ZERO),
        "updateTime": view.update_ms,
        "isolated": view.isolated,
        "adlQuantile": view.adl_rank,
    }


def adl_quantile(view: PositionView) -> JsonDict:
    """Return one /fapi/v1/adlQuantile entry of a one-way position (its rank under ``BOTH``)."""
    return {
        "symbol": view.symbol_id,
        "adlQuantile": {"LONG": 0, "SHORT": 0, "BOTH": view.adl_rank},
    }


def account_position(view: PositionView) -> JsonDict:
    """Return one ``positions`` entry of /fapi/v3/account."""
    return {
        "symbol": view.symbol_id,
        "positionSide": "BOTH",
        "positionAmt": plain(view.amount),
        "unrealizedProfit": money(view.unrealized_pnl),
        "isolatedMargin": money(_isolated_margin(view)),
        "notional": money(view.notional),
        "isolatedWallet": money(view.isolated_wallet if view.isolated else ZERO),
        "initialMargin": money(view.initial_margin),
        "maintMargin": money(view.maint_margin),
        "updateTime": view.update_ms,
    }


def ticker_24hr(symbol_id: str, bars: Sequence[Bar], close_ms: int) -> JsonDict:
    """Return a /fapi/v1/ticker/24hr entry from the bars closed in the last 24 hours."""
    first, last = bars[0], bars[-1]
    volume = sum((b.volume for b in bars), ZERO)
    quote_volume = sum((b.volume * b.close for b in bars), ZERO)
    change = last.close - first.open
    return {
        "symbol": symbol_id,
        "priceChange": plain(change),
        "priceChangePercent": format((change / first.open * 100).quantize(Decimal("0.001")), "f"),
        "weightedAvgPrice": money(quote_volume / volume if volume else last.close),
        "lastPrice": plain(last.close),
        "lastQty": "0",
        "openPrice": plain(first.open),
        "highPrice": plain(max(b.high for b in bars)),
        "lowPrice": plain(min(b.low for b in bars)),
        "volume": plain(volume),
        "quoteVolume": money(quote_volume),
        "openTime": first.open_ms,
        "closeTime": close_ms,
        "firstId": 0,
        "lastId": 0,
        "count": 0,
    }


def kline(bar: Bar, timeframe_ms: int) -> list[object]:
    """Return one kline row: open time, OHLCV strings, close time, quote volume, counts."""
    return [
        bar.open_ms,
        plain(bar.open),
        plain(bar.high),
        plain(bar.low),
        plain(bar.close),
        plain(bar.volume),
        bar.open_ms + timeframe_ms - 1,
        money(bar.volume * bar.close),
        0,
        "0",
        "0",
        "0",
    ]


def _isolated_margin(view: PositionView) -> Decimal:
    """Return Binance's ``isolatedMargin``: the isolated wallet plus the unrealised PnL."""
    return view.isolated_wallet + view.unrealized_pnl if view.isolated else ZERO


def _number(value: Decimal) -> int | float:
    """Return a JSON number: an int when whole."""
    return int(value) if value == value.to_integral_value() else float(value)

"""Bybit v5 JSON shapes, field by field: numbers as strings, times as millisecond strings."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from bot.core.clock import to_ms
from bot.core.domain import ZERO, Bracket, ForcedClose, Market
from bot.emulator.account import ADL_PREFIX, LIQUIDATION_PREFIX, OrderRecord, binance_id
from bot.emulator.bybit.state import BybitPosition, exec_uuid, order_uuid, side_name
from bot.emulator.codec import MAX_PRICE, MAX_QTY, money, places, plain
from bot.market.series import Bar
from bot.sim.exchange import SimFunding, SimTrade

JsonDict = dict[str, object]

LAUNCH_MS = "1585526400000"
FUNDING_INTERVAL_MINUTES = 480


def envelope(result: object, now_ms: int) -> JsonDict:
    """Return Bybit's success envelope around ``result``."""
    return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": now_ms}


def listing(category: str, rows: Sequence[object], cursor: str = "") -> JsonDict:
    """Return a list result: ``category``, ``list`` and ``nextPageCursor``."""
    return {"category": category, "list": list(rows), "nextPageCursor": cursor}


# -- markets -------------------------------------------------------------------------------


def linear_instrument(market: Market) -> JsonDict:
    """Return one /v5/market/instruments-info entry of a USDT perpetual."""
    tick, step = market.price_tick, market.amount_step
    return {
        "symbol": binance_id(market.symbol),
        "contractType": "LinearPerpetual",
        "status": "Trading",
        "baseCoin": market.base,
        "quoteCoin": market.quote,
        "launchTime": LAUNCH_MS,
        "deliveryTime": "0",
        "deliveryFeeRate": "",
        "priceScale": str(places(tick)),
        "leverageFilter": {
            "minLeverage": "1",
            "maxLeverage": f"{market.max_leverage}.00",
            "leverageStep": "0.01",
        },
        "priceFilter": {
            "minPrice": plain(tick),
            "maxPrice": plain(MAX_PRICE),
            "tickSize": plain(tick),
        },
        "lotSizeFilter": {
            "maxOrderQty": plain(MAX_QTY),
            "maxMktOrderQty": plain(MAX_QTY),
            "minOrderQty": plain(market.min_amount),
            "qtyStep": plain(step),
            "postOnlyMaxOrderQty": plain(MAX_QTY),
            "minNotionalValue": plain(market.min_notional),
        },
        "unifiedMarginTrade": True,
        "fundingInterval": FUNDING_INTERVAL_MINUTES,
        "settleCoin": market.quote,
        "copyTrading": "both",
        "upperFundingRate": "0.00375",
        "lowerFundingRate": "-0.00375",
        "isPreListing": False,
        "preListingInfo": None,
        "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"},
        "displayName": "",
    }


def spot_instrument(base: str, quote: str, tick: Decimal) -> JsonDict:
    """Return one /v5/market/instruments-info entry of a spot pair."""
    return {
        "symbol": f"{base}{quote}",
        "baseCoin": base,
        "quoteCoin": quote,
        "innovation": "0",
        "status": "Trading",
        "marginTrading": "none",
        "stTag": "0",
        "lotSizeFilter": {
            "basePrecision": "0.00001",
            "quotePrecision": "0.00000001",
            "minOrderQty": "0.00001",
            "maxOrderQty": "9000",
            "minOrderAmt": "5",
            "maxOrderAmt": "9000000",
        },
        "priceFilter": {"tickSize": plain(tick)},
        "riskParameters": {"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.05"},
    }


def _day(bars: Sequence[Bar]) -> JsonDict:
    """Return the 24-hour fields shared by spot and linear tickers."""
    first, last = bars[0], bars[-1]
    volume = sum((b.volume for b in bars), ZERO)
    turnover = sum((b.volume * b.close for b in bars), ZERO)
    change = (last.close - first.open) / first.open
    return {
        "lastPrice": plain(last.close),
        "prevPrice24h": plain(first.open),
        "price24hPcnt": format(change.quantize(Decimal("0.000001")), "f"),
        "highPrice24h": plain(max(b.high for b in bars)),
        "lowPrice24h": plain(min(b.low for b in bars)),
        "turnover24h": money(turnover),
        "volume24h": plain(volume),
        "bid1Price": plain(last.close),
        "bid1Size": "0",
        "ask1Price": plain(last.close),
        "ask1Size": "0",
    }


def linear_ticker(
    symbol_id: str,
    bars: Sequence[Bar],
    mark: Decimal,
    index: Decimal,
    funding_rate: Decimal,
    next_funding_ms: int,
) -> JsonDict:
    """Return one linear /v5/market/tickers entry (``openInterestValue`` marks a contract)."""
    return {
        "symbol": symbol_id,
        **_day(bars),
        "prevPrice1h": plain(bars[-1].open),
        "indexPrice": plain(index),
        "markPrice": plain(mark),
        "openInterest": "0",
        "openInterestValue": "0",
        "fundingRate": plain(funding_rate),
        "nextFundingTime": str(next_funding_ms),
        "predictedDeliveryPrice": "",
        "basisRate": "",
        "deliveryFeeRate": "",
        "deliveryTime": "0",
        "basis": "",
    }


def spot_ticker(symbol_id: str, bars: Sequence[Bar]) -> JsonDict:
    """Return one spot /v5/market/tickers entry."""
    return {"symbol": symbol_id, **_day(bars), "usdIndexPrice": plain(bars[-1].close)}


def kline(bar: Bar) -> list[str]:
    """Return one /v5/market/kline row: start, open, high, low, close, volume, turnover."""
    return [
        str(bar.open_ms),
        plain(bar.open),
        plain(bar.high),
        plain(bar.low),
        plain(bar.close),
        plain(bar.volume),
        money(bar.volume * bar.close),
    ]


def risk_tiers(symbol_id: str, tiers: Sequence[Bracket]) -> list[JsonDict]:
    """Return the /v5/market/risk-limit entries of one symbol (``riskLimitValue``: the cap)."""
    return [
        {
            "id": index,
            "symbol": symbol_id,
            "riskLimitValue": plain(tier.cap),
            "maintenanceMargin": plain(tier.mmr),
            "initialMargin": plain(Decimal(1) / tier.max_leverage),
            "isLowestRisk": 1 if index == 1 else 0,
            "maxLeverage": f"{tier.max_leverage}.00",
            "mmDeduction": plain(tier.cum) if index > 1 else "",
        }
        for index, tier in enumerate(tiers, start=1)
    ]


# -- account -------------------------------------------------------------------------------


def wallet_coin(
    coin: str,
    wallet: Decimal,
    usd_price: Decimal,
    *,
    position_im: Decimal = ZERO,
    position_mm: Decimal = ZERO,
    unrealised: Decimal = ZERO,
    realised: Decimal = ZERO,
) -> JsonDict:
    """Return one ``coin`` entry of a UNIFIED wallet (``availableToWithdraw`` deprecated: "")."""
    equity = wallet + unrealised
    return {
        "coin": coin,
        "equity": money(equity),
        "usdValue": money(equity * usd_price),
        "walletBalance": money(wallet),
        "free": "",
        "locked": "0",
        "spotHedgingQty": "0",
        "borrowAmount": "0",
        "availableToWithdraw": "",
        "availableToBorrow": "",
        "accruedInterest": "0",
        "totalOrderIM": "0",
        "totalPositionIM": money(position_im),
        "totalPositionMM": money(position_mm),
        "unrealisedPnl": money(unrealised),
        "cumRealisedPnl": money(realised),
        "bonus": "0",
        "marginCollateral": True,
        "collateralSwitch": True,
    }


def position(view: BybitPosition) -> JsonDict:
    """Return one /v5/position/list entry (UTA: ``tradeMode`` is always 0)."""
    size = view.size
    side = "Buy" if size > 0 else "Sell" if size < 0 else ""
    liq = view.liquidation_price
    bust = view.bust_price
    return {
        "positionIdx": 0,
        "riskId": view.risk_id,
        "riskLimitValue": plain(view.risk_limit_value),
        "symbol": view.symbol_id,
        "side": side,
        "size": plain(abs(size)),
        "avgPrice": plain(view.entry_price),
        "positionValue": money(view.value),
        "tradeMode": 0,
        "autoAddMargin": 0,
        "positionStatus": "Normal",
        "leverage": str(view.leverage),
        "markPrice": plain(view.mark_price),
        "liqPrice": plain(liq) if liq is not None else "",
        "bustPrice": plain(bust) if bust is not None else "",
        "positionIM": money(view.initial_margin),
        "positionMM": money(view.maintenance_margin),
        "positionBalance": money(view.position_margin),
        "tpslMode": "Full",
        "takeProfit": "0",
        "stopLoss": "0",
        "trailingStop": "0",
        "sessionAvgPrice": "",
        "unrealisedPnl": money(view.unrealised_pnl),
        "curRealisedPnl": money(view.realised_pnl),
        "cumRealisedPnl": money(view.realised_pnl),
        "adlRankIndicator": view.adl_rank,
        "isReduceOnly": False,
        "mmrSysUpdatedTime": "",
        "leverageSysUpdatedTime": "",
        "createdTime": str(view.created_ms),
        "updatedTime": str(view.updated_ms),
        "seq": view.updated_ms,
    }


# -- orders and executions -----------------------------------------------------------------


def create_type(client_order_id: str | None, liquidation: bool = False) -> str:
    """Return Bybit's ``createType``: the exchange's liquidation and ADL orders, or the user's."""
    if liquidation or (client_order_id or "").startswith(LIQUIDATION_PREFIX):
        return "CreateByLiq"
    if client_order_id == ADL_PREFIX:
        return "CreateByAdl_PassThrough"
    return "CreateByUser"


def exec_type(trade: SimTrade) -> str:
    """Return Bybit's ``execType`` of a trade: ``BustTrade``, ``AdlTrade`` or ``Trade``."""
    if trade.forced is ForcedClose.LIQUIDATION:
        return "BustTrade"
    return "AdlTrade" if trade.forced is ForcedClose.ADL else "Trade"


def order_status(record: OrderRecord) -> str:
    """Return Bybit's status of an order the account records in Binance's words.

    ``New`` rests; ``Filled``; any other end is ``PartiallyFilledCanceled`` when something filled,
    else ``Cancelled`` (the unfilled rest of a market or IOC order is cancelled).
    """
    if record.status == "NEW":
        return "New"
    if record.sim.filled == record.sim.amount:
        return "Filled"
    return "PartiallyFilledCanceled" if record.sim.filled > 0 else "Cancelled"


def order(record: OrderRecord, fees: Decimal, last_price: Decimal) -> JsonDict:
    """Return one /v5/order/realtime or /v5/order/history entry."""
    sim = record.sim
    filled = sim.filled
    leaves = sim.amount - filled if record.status == "NEW" else ZERO
    average = sim.average_price if filled and sim.average_price is not None else ZERO
    created = to_ms(sim.time)
    created_by = create_type(sim.client_order_id)
    forced = created_by != "CreateByUser"  # the exchange's order: no link id, a market order
    return {
        "orderId": order_uuid(sim.order_id),
        "orderLinkId": "" if forced else sim.client_order_id,
        "blockTradeId": "",
        "symbol": binance_id(sim.symbol),
        "price": plain(record.price),
        "qty": plain(sim.amount),
        "side": side_name(sim.side),
        "isLeverage": "",
        "positionIdx": 0,
        "orderStatus": order_status(record),
        "createType": created_by,
        "cancelType": "UNKNOWN",
        "rejectReason": "EC_NoError",
        "avgPrice": plain(average) if filled else "",
        "leavesQty": plain(leaves),
        "leavesValue": money(leaves * record.price) if leaves else "0",
        "cumExecQty": plain(filled),
        "cumExecValue": money(filled * average),
        "cumExecFee": money(fees),
        "cumFeeDetail": {"USDT": money(fees)} if filled else {},
        "timeInForce": record.time_in_force,
        "orderType": "Market" if forced else record.type,
        "stopOrderType": "",
        "orderIv": "",
        "marketUnit": "",
        "triggerPrice": "",
        "takeProfit": "",
        "stopLoss": "",
        "tpslMode": "",
        "ocoTriggerBy": "",
        "tpLimitPrice": "",
        "slLimitPrice": "",
        "tpTriggerBy": "",
        "slTriggerBy": "",
        "triggerDirection": 0,
        "triggerBy": "",
        "lastPriceOnCreated": plain(last_price),
        "basePrice": "",
        "reduceOnly": sim.reduce_only,
        "closeOnTrigger": False,
        "placeType": "",
        "smpType": "None",
        "smpGroup": 0,
        "smpOrderId": "",
        "slippageToleranceType": "UNKNOWN",
        "slippageTolerance": "",
        "createdTime": str(created),
        "updatedTime": str(record.update_ms),
    }


def trade_execution(
    trade: SimTrade,
    record: OrderRecord | None,
    fee_rate: Decimal,
    closed_size: Decimal,
) -> JsonDict:
    """Return one ``execType=Trade`` (``BustTrade``, ``AdlTrade``) /v5/execution/list entry.

    ``execFee`` > 0 is paid; ``execPnl`` is the closed PnL of the execution, fee excluded.
    """
    created_by = create_type(trade.client_order_id, trade.forced is ForcedClose.LIQUIDATION)
    forced = created_by != "CreateByUser"
    kind = exec_type(trade)
    return {
        "symbol": binance_id(trade.symbol),
        "orderId": order_uuid(trade.order_id),
        "orderLinkId": "" if forced else trade.client_order_id or "",
        "side": side_name(trade.side),
        "orderPrice": plain(record.price if record is not None else trade.price),
        "orderQty": plain(record.sim.amount if record is not None else trade.amount),
        "leavesQty": "0",
        "createType": created_by,
        "orderType": record.type if record is not None and not forced else "Market",
        "stopOrderType": "UNKNOWN",
        "execFee": money(trade.fee),
        "execFeeV2": "",
        "execId": exec_uuid(trade.trade_id),
        "execPrice": plain(trade.price),
        "execQty": plain(trade.amount),
        "execType": kind,
        "execValue": money(trade.amount * trade.price),
        "execTime": str(to_ms(trade.time)),
        "isMaker": False,
        "feeRate": plain(ZERO if kind == "AdlTrade" else fee_rate),  # an ADL fill pays none
        "tradeIv": "",
        "markIv": "",
        "markPrice": plain(trade.price),
        "indexPrice": "",
        "underlyingPrice": "",
        "blockTradeId": "",
        "closedSize": plain(closed_size),
        "seq": int(trade.trade_id),
        "execPnl": money(trade.realized_pnl),
        "feeCurrency": "USDT",
        "extraFees": "",
    }


def funding_execution(payment: SimFunding) -> JsonDict:
    """Return one ``execType=Funding`` /v5/execution/list entry.

    Bybit books funding as a fee: ``execFee`` > 0 is paid, < 0 received, so ``execFee`` is minus
    the simulation's amount (> 0 received); ``feeRate`` is the funding rate.
    """
    size = abs(payment.position_contracts)
    return {
        "symbol": binance_id(payment.symbol),
        "orderId": "",
        "orderLinkId": "",
        "side": "Sell" if payment.position_contracts < 0 else "Buy",
        "orderPrice": "0",
        "orderQty": "0",
        "leavesQty": "0",
        "createType": "",
        "orderType": "UNKNOWN",
        "stopOrderType": "UNKNOWN",
        "execFee": money(-payment.amount),
        "execFeeV2": "",
        "execId": exec_uuid(payment.payment_id),
        "execPrice": plain(payment.mark_price),
        "execQty": plain(size),
        "execType": "Funding",
        "execValue": money(size * payment.mark_price),
        "execTime": str(to_ms(payment.time)),
        "isMaker": False,
        "feeRate": plain(payment.rate),
        "tradeIv": "",
        "markIv": "",
        "markPrice": plain(payment.mark_price),
        "indexPrice": "",
        "underlyingPrice": "",
        "blockTradeId": "",
        "closedSize": "0",
        "seq": int(payment.payment_id),
        "execPnl": "0",
        "feeCurrency": "USDT",
        "extraFees": "",
    }

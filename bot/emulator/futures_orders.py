"""Signed /fapi order endpoints: new order, query, cancel, open, all and forced orders, trades.

Orders are MARKET or LIMIT with ``timeInForce=IOC``, one-way mode. A market order fills at the last
price plus the venue's slippage; an IOC limit fills the same way when its price is marketable
against that fill price, else it expires unfilled. Nothing rests on the book unless the
``rest_orders`` fault says so: such an order is answered NEW, listed by /fapi/v1/openOrders,
cancellable (CANCELED) until it fills (see `bot.emulator.account`); cancelling any other order
answers -2011. As on Binance, ``newClientOrderId`` only has to be unique among open orders:
re-sending the id of a resting order is -4116, re-sending a done one places a new order (the
hazard clients must reconcile against), and a query by client id finds the latest one.

Order and trade ids are numbers within their symbol (1, 2, … on each), as Binance numbers them:
two symbols show the same ids. Liquidations are the exchange's orders (client id
``autoclose-…``), listed by /fapi/v1/forceOrders and answered like any order; their trades are in
/fapi/v1/userTrades, which, as on Binance, carries no client order id for any trade.
"""

from __future__ import annotations

import secrets
from decimal import Decimal

from bot.core.clock import to_ms
from bot.core.domain import ZERO, Side
from bot.emulator import codec
from bot.emulator.account import (
    ADL_PREFIX,
    LIQUIDATION_PREFIX,
    Account,
    OrderRecord,
    final_status,
)
from bot.emulator.codec import JsonDict
from bot.emulator.errors import BinanceError, invalid, missing
from bot.emulator.faults import ORDER_ENDPOINT, FaultInjector, FaultKind
from bot.emulator.params import Params, decimal, flag, integer, limit, required

WEEK_MS = 7 * 86_400_000


class FuturesOrders:
    """Order endpoints of one emulated futures account."""

    def __init__(self, account: Account, faults: FaultInjector) -> None:
        """Place orders on ``account``; partial fills come from ``faults``."""
        self.account = account
        self.faults = faults

    async def new_order(self, params: Params) -> JsonDict:
        """Answer POST /fapi/v1/order."""
        account = self.account
        symbol = account.symbol(required(params, "symbol"))
        side = _side(required(params, "side"))
        kind = required(params, "type").upper()
        if kind not in ("MARKET", "LIMIT"):
            raise BinanceError(-1116, "Invalid orderType.")
        if account.dual_side_position or params.get("positionSide", "BOTH").upper() != "BOTH":
            raise BinanceError(-4061, "Order's position side does not match user's setting.")
        amount = decimal(params, "quantity")
        reduce_only = flag(params, "reduceOnly")
        client_id = params.get("newClientOrderId") or secrets.token_hex(11)
        last = await account.last_price(symbol)
        now = account.venue.clock.now()
        sim = account.sim
        price = ZERO
        time_in_force = "GTC"
        marketable = True
        if kind == "LIMIT":
            time_in_force = required(params, "timeInForce").upper()
            if time_in_force != "IOC":
                raise BinanceError(-1115, "Invalid timeInForce: the emulator fills IOC only.")
            price = decimal(params, "price")
            if price <= 0 or price % sim.markets[symbol].price_tick:
                raise BinanceError(-4014, "Price not increased by tick size.")
            fill = sim.fill_price(side, last)
            marketable = price >= fill if side is Side.BUY else price <= fill
        if account.is_resting(client_id):
            raise BinanceError(-4116, "ClientOrderId is duplicated.")
        basis = last if marketable else price  # what min notional is checked at
        sim.check_order(symbol, side, amount, reduce_only, basis)
        rest = self.faults.take(FaultKind.REST, *ORDER_ENDPOINT)
        if rest is not None:
            order = sim.open_order(
                symbol,
                side,
                amount,
                client_order_id=client_id,
                reduce_only=reduce_only,
                price=basis,
                time=now,
            )
            record = OrderRecord(order, kind, time_in_force, price, "NEW", to_ms(now))
            account.accept(record, self.faults.now() + rest.seconds)
            return self._answer(params, record)
        if marketable:
            partial = self.faults.take(FaultKind.PARTIAL_FILL, *ORDER_ENDPOINT)
            order = sim.market_order(
                symbol,
                side,
                amount,
                client_order_id=client_id,
                reduce_only=reduce_only,
                price=last,
                time=now,
                fill_ratio=partial.ratio if partial else Decimal(1),
            )
        else:
            partial = None
            order = sim.expire_order(
                symbol,
                side,
                amount,
                client_order_id=client_id,
                reduce_only=reduce_only,
                price=price,
                time=now,
            )
        status = final_status(order, partial.order_status if partial else None)
        record = OrderRecord(order, kind, time_in_force, price, status, to_ms(now))
        account.accept(record)
        return self._answer(params, record)

    def _answer(self, params: Params, record: OrderRecord) -> JsonDict:
        """Answer a new order as ``newOrderRespType`` asks (ACK by default)."""
        number = self.account.number(record)
        if params.get("newOrderRespType", "ACK").upper() == "RESULT":
            return codec.order(record, number, with_time=False)
        return codec.acknowledged(record, number)

    def _order(self, record: OrderRecord) -> JsonDict:
        return codec.order(record, self.account.number(record))

    async def query_order(self, params: Params) -> JsonDict:
        """Answer GET /fapi/v1/order by ``orderId`` or ``origClientOrderId`` (-2013 unknown)."""
        return self._order(self._find(params))

    async def cancel_order(self, params: Params) -> JsonDict:
        """Answer DELETE /fapi/v1/order: a resting order is CANCELED, any other is -2011."""
        try:
            record = self._find(params)
        except BinanceError as error:
            if error.code != -2013:
                raise
            raise BinanceError(-2011, "Unknown order sent.") from None
        self.account.cancel_resting(record)
        return codec.order(record, self.account.number(record), with_time=False)

    async def open_orders(self, params: Params) -> list[JsonDict]:
        """Answer GET /fapi/v1/openOrders: the resting orders (of ``symbol``), oldest first."""
        symbol = self.account.symbol(params["symbol"]) if "symbol" in params else None
        return [self._order(record) for record in self.account.open_orders(symbol)]

    async def all_orders(self, params: Params) -> list[JsonDict]:
        """Answer GET /fapi/v1/allOrders for one symbol by ``orderId``, liquidations included."""
        symbol = self.account.symbol(required(params, "symbol"))
        from_id = integer(params, "orderId")
        start = integer(params, "startTime")
        end = integer(params, "endTime")
        number = self.account.number
        rows = [
            record
            for record in self.account.all_orders(symbol)
            if (from_id is None or number(record) >= from_id)
            and (start is None or to_ms(record.sim.time) >= start)
            and (end is None or to_ms(record.sim.time) <= end)
        ]
        count = limit(params, 500, 1000)
        chosen = rows[:count] if from_id is not None or start is not None else rows[-count:]
        return [self._order(record) for record in chosen]

    async def force_orders(self, params: Params) -> list[JsonDict]:
        """Answer GET /fapi/v1/forceOrders: the account's liquidation and ADL orders.

        ``autoCloseType`` LIQUIDATION or ADL (both when absent); without ``startTime``, the 7
        days before ``endTime`` (or now); ``limit`` 1..100 (50); oldest first.
        """
        symbol = self.account.symbol(params["symbol"]) if "symbol" in params else None
        kind = params.get("autoCloseType")
        if kind is not None and kind not in ("LIQUIDATION", "ADL"):
            raise invalid("autoCloseType")
        prefix = {"LIQUIDATION": LIQUIDATION_PREFIX, "ADL": ADL_PREFIX}.get(kind or "", "")
        end = integer(params, "endTime")
        start = integer(params, "startTime")
        if start is None:
            start = (end if end is not None else self.account.now_ms()) - WEEK_MS
        records = sorted(self.account.forced.values(), key=lambda r: (r.sim.time, r.order_id))
        rows = [
            record
            for record in records
            if (symbol is None or record.sim.symbol == symbol)
            and record.sim.client_order_id.startswith(prefix)
            and to_ms(record.sim.time) >= start
            and (end is None or to_ms(record.sim.time) <= end)
        ]
        return [self._order(record) for record in rows[: limit(params, 50, 100)]]

    async def user_trades(self, params: Params) -> list[JsonDict]:
        """Answer GET /fapi/v1/userTrades: the last 7 days by default, oldest first.

        ``id``, ``fromId`` and ``orderId`` are numbers within the symbol, as on Binance.
        """
        symbol_id = required(params, "symbol")
        symbol = self.account.symbol(symbol_id)
        order_id = integer(params, "orderId")
        from_id = integer(params, "fromId")
        start = integer(params, "startTime")
        end = integer(params, "endTime")
        if start is None and end is None and from_id is None and order_id is None:
            start = self.account.now_ms() - WEEK_MS
        number = self.account.sim.number
        rows = [
            fill
            for fill in self.account.sim.trades
            if fill.symbol == symbol
            and (order_id is None or number(fill.order_id) == order_id)
            and (from_id is None or number(fill.trade_id) >= from_id)
            and (start is None or to_ms(fill.time) >= start)
            and (end is None or to_ms(fill.time) <= end)
        ]
        count = limit(params, 500, 1000)
        chosen = rows[:count] if start is not None or from_id is not None else rows[-count:]
        return [codec.trade(fill, number) for fill in chosen]

    def _find(self, params: Params) -> OrderRecord:
        symbol_id = required(params, "symbol")
        self.account.symbol(symbol_id)
        order_id = integer(params, "orderId")
        client_id = params.get("origClientOrderId")
        if order_id is None and not client_id:
            raise missing("orderId")
        return self.account.find_order(symbol_id, order_id, client_id)


def _side(text: str) -> Side:
    """Return the side of ``BUY``/``SELL``."""
    try:
        return Side(text.lower())
    except ValueError:
        raise invalid("side") from None

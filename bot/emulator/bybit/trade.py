"""Private order and execution endpoints: create, realtime, history, cancel, execution list.

Orders are linear ``Market`` or ``Limit`` with ``timeInForce=IOC``, one-way mode (``positionIdx``
0), filled at once by the simulation like on the Binance face; nothing rests on the book unless
the ``rest_orders`` fault says so (status ``New`` until it fills, cancellable). The create answer
carries only ``orderId`` and ``orderLinkId``, as Bybit's does. Statuses: ``Filled``;
``PartiallyFilledCanceled`` when a partial-fill fault leaves a rest (ccxt: ``closed``);
``Cancelled`` for an IOC limit that missed or a cancelled resting order. An ``orderLinkId`` is
never accepted twice (110072).

Queries follow Bybit's priority ``orderId > orderLinkId > symbol``: by id the realtime endpoint
answers an order in any status; without one it lists the open (resting) orders or, with
``openOnly=1``, recent closed ones. The execution list is newest first, 7 days at most per query
(the last 7 days by default), ``limit`` 1..100 (default 50), paged by ``nextPageCursor``; funding
settlements are ``execType=Funding`` executions whose ``execFee`` is the payment with Bybit's sign
(> 0 paid).
"""

from __future__ import annotations

import re
import secrets
from decimal import Decimal

from bot.core.clock import to_ms
from bot.core.domain import ZERO, Side
from bot.emulator.account import Account, OrderRecord, binance_id, final_status
from bot.emulator.bybit import codec
from bot.emulator.bybit.codec import JsonDict
from bot.emulator.bybit.errors import (
    DUPLICATE_LINK_ID,
    ORDER_FINISHED,
    ORDER_NOT_FOUND,
    BybitError,
    Params,
    category,
    decimal,
    from_sim,
    params_error,
    required,
)
from bot.emulator.bybit.state import BybitState, closed_sizes, order_uuid, page, window
from bot.emulator.errors import BinanceError
from bot.emulator.faults import ORDER_ENDPOINT, FaultInjector, FaultKind
from bot.sim.exchange import SimRejected

LINK_ID = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
TRADE_EXEC_TYPES = ("Trade", "BustTrade", "AdlTrade")
RECENT_CLOSED = 500


class BybitTrade:
    """Order endpoints of one emulated unified account."""

    def __init__(self, state: BybitState, faults: FaultInjector) -> None:
        """Place orders on ``state``'s account; partial fills come from ``faults``."""
        self.state = state
        self.account: Account = state.account
        self.faults = faults

    # -- orders ----------------------------------------------------------------------------
    async def create(self, params: Params) -> JsonDict:
        """Answer /v5/order/create: only the ids, the order already executed."""
        category(params, "linear")
        account, sim = self.account, self.account.sim
        symbol = self.state.linear_symbol(required(params, "symbol"))
        side = _side(required(params, "side"))
        kind = required(params, "orderType")
        if kind not in ("Market", "Limit"):
            raise params_error("params error: orderType invalid")
        amount = decimal(params, "qty")
        position_idx = params.get("positionIdx", "0")
        if self.state.hedge_mode or position_idx != "0":
            raise params_error("position idx not match position mode")
        link_id = params.get("orderLinkId") or secrets.token_hex(16)
        if not LINK_ID.match(link_id):
            raise params_error("params error: orderLinkId invalid")
        if link_id in account.latest_by_client_id:
            raise BybitError(DUPLICATE_LINK_ID, "OrderLinkedID is duplicate")
        reduce_only = params.get("reduceOnly", "false").lower() == "true"
        try:
            last = await account.last_price(symbol)
        except BinanceError:
            raise params_error("no price for this symbol yet") from None
        now = account.venue.clock.now()
        price, time_in_force, marketable = ZERO, "IOC", True
        if kind == "Limit":
            time_in_force = params.get("timeInForce", "GTC")
            if time_in_force != "IOC":
                raise params_error("params error: the emulator fills IOC limit orders only")
            price = decimal(params, "price")
            if price <= 0 or price % sim.markets[symbol].price_tick:
                raise params_error("params error: price invalid (tickSize)")
            fill = sim.fill_price(side, last)
            marketable = price >= fill if side is Side.BUY else price <= fill
        basis = last if marketable else price  # what min notional is checked at
        try:
            sim.check_order(symbol, side, amount, reduce_only, basis)
        except SimRejected as rejection:
            raise from_sim(rejection, sim.markets[symbol].min_notional) from None
        rest = self.faults.take(FaultKind.REST, *ORDER_ENDPOINT)
        if rest is not None:
            order = sim.open_order(
                symbol,
                side,
                amount,
                client_order_id=link_id,
                reduce_only=reduce_only,
                price=basis,
                time=now,
            )
            record = OrderRecord(order, kind, time_in_force, price, "NEW", to_ms(now))
            account.accept(record, self.faults.now() + rest.seconds)
            return {"orderId": order_uuid(order.order_id), "orderLinkId": link_id}
        partial = self.faults.take(FaultKind.PARTIAL_FILL, *ORDER_ENDPOINT) if marketable else None
        try:
            if marketable:
                order = sim.market_order(
                    symbol,
                    side,
                    amount,
                    client_order_id=link_id,
                    reduce_only=reduce_only,
                    price=last,
                    time=now,
                    fill_ratio=partial.ratio if partial else Decimal(1),
                )
            else:
                order = sim.expire_order(
                    symbol,
                    side,
                    amount,
                    client_order_id=link_id,
                    reduce_only=reduce_only,
                    price=price,
                    time=now,
                )
        except SimRejected as rejection:
            raise from_sim(rejection, sim.markets[symbol].min_notional) from None
        status = final_status(order, partial.order_status if partial else None)
        record = OrderRecord(order, kind, time_in_force, price, status, to_ms(now))
        account.accept(record)
        return {"orderId": order_uuid(order.order_id), "orderLinkId": link_id}

    async def realtime(self, params: Params) -> JsonDict:
        """Answer /v5/order/realtime (by id: any status; else open, or recent closed)."""
        category(params, "linear")
        found = self._by_id(params)
        if found is not None:
            return codec.listing("linear", [self._order(r) for r in found])
        wanted_open = params.get("openOnly", "0") != "1"
        records = [r for r in self._filtered(params) if self._rests(r) == wanted_open]
        chosen, cursor = page(params, records[:RECENT_CLOSED], 20, 50)
        return codec.listing("linear", [self._order(r) for r in chosen], cursor)

    async def history(self, params: Params) -> JsonDict:
        """Answer /v5/order/history: closed orders of a 7-day window, newest first."""
        category(params, "linear")
        found = self._by_id(params)
        if found is not None:
            return codec.listing("linear", [self._order(r) for r in found])
        start, end = window(params, self.account.now_ms())
        status = params.get("orderStatus")
        records = [
            r
            for r in self._filtered(params)
            if start <= to_ms(r.sim.time) <= end
            and (status is None or codec.order_status(r) == status)
        ]
        chosen, cursor = page(params, records, 20, 50)
        return codec.listing("linear", [self._order(r) for r in chosen], cursor)

    async def cancel(self, params: Params) -> JsonDict:
        """Answer /v5/order/cancel: a resting order is cancelled, any other is finished."""
        category(params, "linear")
        self.state.linear_symbol(required(params, "symbol"))
        found = self._by_id(params)
        if found is None:
            raise params_error("params error: orderId or orderLinkId is required")
        if not found:
            raise BybitError(ORDER_NOT_FOUND, "Order does not exist.")
        record = found[0]
        if not self._rests(record):
            raise BybitError(ORDER_FINISHED, "Order has been finished or canceled")
        self.account.cancel_resting(record)
        return {
            "orderId": order_uuid(record.sim.order_id),
            "orderLinkId": record.sim.client_order_id,
        }

    def _rests(self, record: OrderRecord) -> bool:
        return record.order_id in self.account.resting

    def _by_id(self, params: Params) -> list[OrderRecord] | None:
        """Return the order asked by ``orderId``/``orderLinkId`` (maybe none), None if not asked."""
        order_id, link_id = params.get("orderId"), params.get("orderLinkId")
        if not order_id and not link_id:
            return None
        record = self.state.find_order(order_id, link_id)
        symbol_id = params.get("symbol")
        if record is None or (symbol_id and binance_id(record.sim.symbol) != symbol_id):
            return []
        return [record]

    def _filtered(self, params: Params) -> list[OrderRecord]:
        """Return the orders of ``symbol`` (or every linear order), newest first."""
        symbol_id = params.get("symbol")
        if not symbol_id and not params.get("settleCoin") and not params.get("baseCoin"):
            raise params_error("params error: symbol, baseCoin or settleCoin is required")
        if symbol_id:
            self.state.linear_symbol(symbol_id)
        every = [*self.account.orders.values(), *self.account.forced.values()]
        records = [r for r in every if not symbol_id or binance_id(r.sim.symbol) == symbol_id]
        return sorted(records, key=lambda r: r.order_id, reverse=True)

    def _order(self, record: OrderRecord) -> JsonDict:
        last = self.account.mark_price(record.sim.symbol)
        return codec.order(record, self.state.order_fees(record), last)

    # -- executions ------------------------------------------------------------------------
    async def executions(self, params: Params) -> JsonDict:
        """Answer /v5/execution/list: trades (``Trade``/``BustTrade``/``AdlTrade``) and funding.

        Newest first; one ``execType`` or every type when none is asked, as Bybit does.
        """
        category(params, "linear")
        account, sim = self.account, self.account.sim
        kind = params.get("execType")
        order_id, link_id = params.get("orderId"), params.get("orderLinkId")
        record = self.state.find_order(order_id, link_id) if order_id or link_id else None
        by_order = bool(order_id or link_id)
        symbol_id = params.get("symbol")
        symbol = self.state.linear_symbol(symbol_id) if symbol_id and not by_order else None
        start, end = window(params, account.now_ms()) if not by_order else (0, 0)

        def wanted(at: int, of_symbol: str) -> bool:
            if by_order:
                return True
            return start <= at <= end and (symbol is None or of_symbol == symbol)

        rows: list[tuple[int, int, JsonDict]] = []
        closed = closed_sizes(sim.trades)
        fee_rate = sim.taker_fee
        if kind in (None, *TRADE_EXEC_TYPES):
            for trade in sim.trades:
                if kind is not None and kind != codec.exec_type(trade):
                    continue
                if by_order and (record is None or trade.order_id != record.sim.order_id):
                    continue
                at = to_ms(trade.time)
                if wanted(at, trade.symbol):
                    number = int(trade.order_id)
                    origin = account.orders.get(number) or account.forced.get(number)
                    body = codec.trade_execution(trade, origin, fee_rate, closed[trade.trade_id])
                    rows.append((at, int(trade.trade_id), body))
        if kind in (None, "Funding") and not by_order:
            for payment in sim.funding:
                at = to_ms(payment.time)
                if wanted(at, payment.symbol):
                    rows.append((at, int(payment.payment_id), codec.funding_execution(payment)))
        return self._page(params, rows)

    def _page(self, params: Params, rows: list[tuple[int, int, JsonDict]]) -> JsonDict:
        rows.sort(key=lambda row: (row[0], row[1]), reverse=True)
        chosen, cursor = page(params, [body for _, _, body in rows], 50, 100)
        return codec.listing("linear", chosen, cursor)


def _side(text: str) -> Side:
    """Return the side of Bybit's ``Buy``/``Sell``."""
    if text == "Buy":
        return Side.BUY
    if text == "Sell":
        return Side.SELL
    raise params_error("params error: side invalid")

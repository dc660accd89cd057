"""Bybit v5 stream records from the emulated account, in the REST face's shapes plus ``category``.

Private topics carry ``{"id", "topic", "creationTime", "data": [...]}``: ``order`` (the current
state of each order that changed; the exchange's own with ``createType`` ``CreateByLiq`` or
``CreateByAdl_PassThrough``), ``execution`` (``Trade``, ``BustTrade``, ``AdlTrade`` and
``Funding``), ``position`` (with ``adlRankIndicator``; a flat one has ``side: ""``) and ``wallet``.
The public ``tickers.<SYMBOL>`` topic sends snapshots with ``markPrice``. Times are replay-clock
times, like the REST face's object times.
"""

from __future__ import annotations

import uuid

from bot.emulator.account import Account, OrderRecord
from bot.emulator.bybit import codec
from bot.emulator.bybit.account import BybitAccountEndpoints
from bot.emulator.bybit.codec import JsonDict
from bot.emulator.bybit.market import BybitMarket
from bot.emulator.bybit.state import BybitState, closed_sizes
from bot.emulator.streams.changes import AccountChanges

CATEGORY = "linear"


class BybitEvents:
    """Encode account changes as Bybit's private records and tickers."""

    def __init__(
        self, state: BybitState, endpoints: BybitAccountEndpoints, market: BybitMarket
    ) -> None:
        """Read the account behind ``state``; the wallet and tickers as the REST face shows them."""
        self.state = state
        self.account: Account = state.account
        self._endpoints = endpoints
        self._market = market

    def orders(self, changes: AccountChanges) -> list[JsonDict]:
        """Return the present state of each order that changed, in the order of its first step."""
        records: dict[int, OrderRecord] = {}
        for event in changes.orders:
            records.setdefault(event.record.order_id, event.record)
        return [self._order(record) for record in records.values()]

    def executions(self, changes: AccountChanges) -> list[JsonDict]:
        """Return the executions of the new trades and funding settlements."""
        sim = self.account.sim
        closed = closed_sizes(sim.trades) if changes.trades else {}
        rows: list[JsonDict] = []
        for trade in changes.trades:
            number = int(trade.order_id)
            origin = self.account.orders.get(number) or self.account.forced.get(number)
            body = codec.trade_execution(trade, origin, sim.taker_fee, closed[trade.trade_id])
            rows.append({"category": CATEGORY, **body})
        rows += [{"category": CATEGORY, **codec.funding_execution(p)} for p in changes.funding]
        return rows

    def positions(self, changes: AccountChanges) -> list[JsonDict]:
        """Return the positions that changed (``entryPrice`` as the stream names it)."""
        rows: list[JsonDict] = []
        for change in changes.positions:
            row = codec.position(self.state.position(change.symbol))
            rows.append({"category": CATEGORY, **row, "entryPrice": row["avgPrice"]})
        return rows

    def wallet(self) -> list[JsonDict]:
        """Return the UNIFIED wallet."""
        return [self._endpoints.unified_wallet()]

    def ticker(self, symbol_id: str) -> JsonDict | None:
        """Return the linear ticker of ``symbol_id`` (None before its first close)."""
        return self._market.linear_ticker(symbol_id, self.account.now_ms())

    def _order(self, record: OrderRecord) -> JsonDict:
        last = self.account.mark_price(record.sim.symbol)
        row = codec.order(record, self.state.order_fees(record), last)
        return {"category": CATEGORY, **row}


def topic_frame(topic: str, data: list[JsonDict], now_ms: int) -> JsonDict:
    """Return one private topic message."""
    return {"id": uuid.uuid4().hex, "topic": topic, "creationTime": now_ms, "data": data}


def ticker_frame(symbol_id: str, data: JsonDict, now_ms: int, sequence: int) -> JsonDict:
    """Return one ``tickers.<SYMBOL>`` snapshot."""
    topic = f"tickers.{symbol_id}"
    return {"topic": topic, "type": "snapshot", "data": data, "cs": sequence, "ts": now_ms}

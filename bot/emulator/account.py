"""The emulator's view of one PaperVenue: symbol ids, prices, positions and order records.

State and rules stay in the venue's `SimExchange`; this module only adds what Binance shows but the
simulation does not keep (how an order was asked: type, time in force, limit price, status; the
position mode flag; which orders rest) and derives Binance's position figures from the simulated
position. Every accepted order, fill, liquidation, reset and leverage change is logged in
``audit`` (`bot.emulator.audit`).

What a test or a chaos soak does to the account besides the API (plain methods; a ``symbol`` is
unified, ``"BTC/USDT:USDT"``, or Binance's id, ``"BTCUSDT"``):

- ``fill_resting(symbol=None)``: fill every resting order (see the ``rest_orders`` fault) in full
  at the current last price, under the rules that apply now (a reduce-only order fills only what
  still reduces the position and expires otherwise); they end FILLED (or EXPIRED);
- ``reset_to_defaults()``: the exchange lost its state: every position disappears without a trade
  (its isolated margin returns to the wallet; the wallet and the spot balances stay), resting
  orders vanish, every symbol is back to leverage 20 and cross margin, one-way mode, and the order
  history and client-id index are forgotten (a query by an old id answers -2013). The trade and
  funding ledgers stay;
- ``external_trade(symbol, side, amount, reduce_only=False)``: someone else's market order (client
  id ``web_…``), filled and listed like any order; returns its order id;
- a liquidation (the simulation closing a position at its liquidation price) is an order of the
  exchange's, as on Binance: client id ``autoclose-<ms><n>``, a LIMIT IOC order FILLED at that
  price, kept in ``forced`` (not in ``orders``, which holds the orders someone placed), answered by
  the order endpoints and /fapi/v1/forceOrders; its trade is in the trade ledger like any other.

Ids: the methods above and the audit log use the simulation's account-wide ids; the Binance face
shows each order's and trade's number within its symbol (``number``), as Binance numbers them.
- ``set_leverage_out_of_band(symbol, leverage)`` and ``set_margin_type_out_of_band(symbol,
  isolated)``: a setting changed on the website (a margin type only while flat, as on Binance;
  ValueError otherwise);
- ``set_mark(symbol, price)``: the mark moves to ``price`` (a squeeze the candles do not show) until
  the next bar closes (``clear_mark`` ends it sooner); a position whose liquidation price it
  reaches is liquidated at once;
- ``auto_deleverage(symbol, fraction=…|amount=…, price=None)``: the exchange closes (part of) the
  position at ``price`` (the mark when None), without fee, as an order of its own: client id
  ``adl_autoclose``, kept in ``forced`` beside the liquidations, its trade in the ledger;
- ``set_adl_rank(symbol, rank)``: the ADL rank the faces report for the position
  (`bot.emulator.adl`).

``listeners`` are called (without arguments, synchronously) after anything above or any order
changed the account: the stream hub (`bot.emulator.streams.hub`) wakes on them.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from bot.core.clock import to_ms
from bot.core.domain import ZERO, Bracket, ForcedClose, Market, OrderStatus, Side
from bot.emulator.adl import AdlRanks
from bot.emulator.audit import AuditEvent, AuditTrail
from bot.emulator.errors import BinanceError
from bot.margin.binance import bracket_for
from bot.market.series import BarSeries
from bot.sim.exchange import SimExchange, SimOrder, SimRejected, SimTrade
from bot.sim.paper import PaperVenue

EXTERNAL_PREFIX = "web_"
ID_BASE_PER_SECOND = 1_000_000
"""Ids a restarted emulator skips per wall-clock second since the epoch (`restart_id_base`)."""
LIQUIDATION_PREFIX = "autoclose-"
"""Client id prefix of Binance's liquidation orders (``autoclose-1596107620040000020``)."""
ADL_PREFIX = "adl_autoclose"
"""Client id of Binance's auto-deleveraging orders."""


def restart_id_base(now: float | None = None) -> int:
    """Return a first id above every id an earlier start of the emulator can have issued.

    Exchanges never reuse an id; an emulator process that starts again would, and a journal
    kept across the restart would take its new trades and payments for ones it holds. Starting
    at ``seconds since the epoch × 10⁶`` leaves a million ids per second of the earlier run (and
    stays below 2⁵³ until the year 2255).
    """
    return int(time.time() if now is None else now) * ID_BASE_PER_SECOND


def binance_id(symbol: str) -> str:
    """Return Binance's id of a unified symbol: ``"BTC/USDT:USDT"`` -> ``"BTCUSDT"``."""
    return symbol.split(":", 1)[0].replace("/", "")


@dataclass(slots=True)
class OrderRecord:
    """An order as it was asked, beside the simulated order that holds its state."""

    sim: SimOrder
    type: str  # MARKET or LIMIT
    time_in_force: str  # GTC for market orders, IOC for limits
    price: Decimal  # limit price, 0 for market orders
    status: str  # Binance's status: NEW (resting), FILLED, EXPIRED, PARTIALLY_FILLED, CANCELED
    update_ms: int

    @property
    def order_id(self) -> int:
        """Return Binance's numeric order id."""
        return int(self.sim.order_id)


@dataclass(frozen=True, slots=True)
class PositionView:
    """One symbol's position with the figures Binance derives from it (signed ``amount``)."""

    symbol_id: str
    amount: Decimal
    entry_price: Decimal
    mark_price: Decimal
    isolated_wallet: Decimal
    isolated: bool
    leverage: int
    liquidation_price: Decimal
    maint_margin: Decimal
    max_notional: Decimal
    update_ms: int
    adl_rank: int = 0

    @property
    def notional(self) -> Decimal:
        """Return the signed notional at the mark price (contract size 1)."""
        return self.amount * self.mark_price

    @property
    def unrealized_pnl(self) -> Decimal:
        """Return the unrealised PnL at the mark price."""
        return self.amount * (self.mark_price - self.entry_price)

    @property
    def initial_margin(self) -> Decimal:
        """Return the initial margin of the notional at the current leverage."""
        return abs(self.notional) / self.leverage


class Account:
    """One emulated Binance account backed by a PaperVenue."""

    def __init__(self, venue: PaperVenue, spot_balances: Mapping[str, Decimal] | None) -> None:
        """Index the venue's markets by Binance id; spot balances default to its holdings."""
        self.venue = venue
        self.sim: SimExchange = venue.exchange
        self.quote = venue.quote
        self.spot_balances = dict(spot_balances if spot_balances is not None else venue.holdings)
        self.symbols = {binance_id(symbol): symbol for symbol in self.sim.markets}
        self.orders: dict[int, OrderRecord] = {}
        self.forced: dict[int, OrderRecord] = {}  # the exchange's liquidation orders, by id
        self.latest_by_client_id: dict[str, int] = {}
        self._by_number: dict[tuple[str, int], OrderRecord] = {}
        self._adopted = len(self.sim.trades)
        self.dual_side_position = False
        self.multi_assets_margin = False
        self.market_time_in_force = "GTC"  # what a face reports for market orders
        self.resting: dict[int, float] = {}  # order id -> fault-clock time it fills by itself
        self.adl = AdlRanks()
        self.listeners: list[Callable[[], None]] = []
        self._marks: dict[str, tuple[Decimal, int]] = {}  # set by hand: price, bar it holds for
        self._trail = AuditTrail(self.sim)

    # -- audit -----------------------------------------------------------------------------
    @property
    def audit(self) -> list[AuditEvent]:
        """Return the append-only audit log (`bot.emulator.audit`), up to date."""
        self._sync()
        return self._trail.events

    def audit_since(self, seq: int) -> list[AuditEvent]:
        """Return the audit events after ``seq`` (0: all)."""
        self._sync()
        return self._trail.since(seq)

    def catch_up(self, now: float) -> None:
        """Bring the simulation to its clock, fill resting orders due by ``now``, audit."""
        self.venue.catch_up()
        for order_id in [i for i, due in self.resting.items() if due <= now]:
            self._fill(self.orders[order_id])
        self._sync()

    def _sync(self) -> None:
        """Record the liquidation orders of new liquidation trades, then follow the audit."""
        trades = self.sim.trades
        for trade in trades[self._adopted :]:
            if trade.forced is ForcedClose.LIQUIDATION:  # an ADL's order is made with it
                self._adopt(trade)
        self._adopted = len(trades)
        self._trail.sync()
        self._changed()

    def _changed(self) -> None:
        """Tell the listeners that the account may have changed."""
        for listener in self.listeners:
            listener()

    def _adopt(self, trade: SimTrade) -> None:
        """Record the exchange's liquidation order behind a liquidation trade."""
        ms = to_ms(trade.time)
        client_id = f"{LIQUIDATION_PREFIX}{ms}{self.sim.number(trade.order_id):06d}"
        order = SimOrder(
            trade.order_id,
            client_id,
            trade.symbol,
            trade.side,
            trade.amount,
            False,
            trade.time,
            OrderStatus.FILLED,
            trade.amount,
            trade.price,
        )
        record = OrderRecord(order, "LIMIT", "IOC", trade.price, "FILLED", ms)
        self.forced[record.order_id] = record
        self._by_number[(trade.symbol, self.number(record))] = record

    # -- numbers ---------------------------------------------------------------------------
    def number(self, record: OrderRecord) -> int:
        """Return Binance's ``orderId`` of an order: its number within its symbol."""
        return self.sim.number(record.sim.order_id)

    def venue_order_id(self, sim_order_id: str | int) -> str:
        """Return the ``orderId`` Binance shows for an account-wide order id."""
        return str(self.sim.number(str(sim_order_id)))

    def venue_trade_id(self, sim_trade_id: str) -> str:
        """Return the trade ``id`` Binance shows for an account-wide trade id."""
        return str(self.sim.number(sim_trade_id))

    # -- time and markets ------------------------------------------------------------------
    def now_ms(self) -> int:
        """Return the replay clock's now in epoch milliseconds."""
        return to_ms(self.venue.clock.now())

    def symbol(self, symbol_id: str) -> str:
        """Return the unified symbol of a Binance id, or refuse with -1121."""
        if symbol_id not in self.symbols:
            raise BinanceError(-1121, "Invalid symbol.")
        return self.symbols[symbol_id]

    def market(self, symbol_id: str) -> Market:
        """Return the market of a Binance id."""
        return self.sim.markets[self.symbol(symbol_id)]

    def perp_series(self, symbol: str) -> BarSeries | None:
        """Return the perp candles of a unified symbol."""
        return self.venue.data.perp.get(self.sim.markets[symbol].base)

    def spot_series(self, symbol_id: str) -> BarSeries | None:
        """Return the spot candles of a spot id such as ``"BTCUSDT"``."""
        if not symbol_id.endswith(self.quote):
            return None
        return self.venue.data.spot.get(symbol_id.removesuffix(self.quote))

    async def last_price(self, symbol: str) -> Decimal:
        """Return the last traded price of a perp, or refuse while no bar has closed yet."""
        quote = (await self.venue.fetch_quotes([symbol])).get(symbol)
        if quote is None:
            raise BinanceError(-1000, f"No price for {binance_id(symbol)} yet.")
        return quote.price

    def mark_price(self, symbol: str) -> Decimal:
        """Return the mark price of a perp (its first bar's close before any bar closed).

        A mark set by hand (`set_mark`) holds until the next bar closes.
        """
        try:
            mark = self.venue.mark_price(symbol)
        except KeyError:
            series = self.perp_series(symbol)
            mark = series.bars[0].close if series else ZERO
        held = self._marks.get(symbol)
        if held is None:
            return mark
        if held[1] != self._bar_ms(symbol):
            del self._marks[symbol]
            return mark
        return held[0]

    def _bar_ms(self, symbol: str) -> int:
        """Return the open time of the perp's last closed bar (-1 before the first)."""
        series = self.perp_series(symbol)
        bar = series.last_closed(self.now_ms()) if series is not None else None
        return bar.open_ms if bar is not None else -1

    def unified(self, symbol: str) -> str:
        """Return the unified symbol of a unified symbol or a Binance id (ValueError if unknown)."""
        unified = self.symbols.get(symbol, symbol)
        if unified not in self.sim.markets:
            raise ValueError(f"unknown symbol {symbol!r}")
        return unified

    def last_price_now(self, symbol: str) -> Decimal:
        """Return the perp's last price at the replay clock's now (the last closed bar's close)."""
        self.venue.catch_up()
        series = self.perp_series(symbol)
        bar = series.last_closed(self.now_ms()) if series is not None else None
        if bar is None:
            raise BinanceError(-1000, f"No price for {binance_id(symbol)} yet.")
        return bar.close

    # -- orders ----------------------------------------------------------------------------
    def accept(self, record: OrderRecord, rest_until: float | None = None) -> None:
        """Remember an accepted order by id and latest client id, and audit it with its fills.

        ``rest_until`` (fault-clock seconds, ``math.inf`` for never) makes it a resting order that
        fills by itself at the first request after that time.
        """
        self.orders[record.order_id] = record
        self.latest_by_client_id[record.sim.client_order_id] = record.order_id
        self._by_number[(record.sim.symbol, self.number(record))] = record
        if rest_until is not None:
            self.resting[record.order_id] = rest_until
        self._trail.accepted(record.sim)
        self._changed()

    def is_resting(self, client_id: str) -> bool:
        """Return whether the latest order with this client id rests on the book."""
        return self.latest_by_client_id.get(client_id) in self.resting

    def open_orders(self, symbol: str | None = None) -> list[OrderRecord]:
        """Return the resting orders (of ``symbol``), oldest first."""
        records = (self.orders[order_id] for order_id in self.resting)
        return [r for r in records if symbol is None or r.sim.symbol == symbol]

    def cancel_resting(self, record: OrderRecord) -> None:
        """Cancel a resting order; any other answers Binance's -2011."""
        if self.resting.pop(record.order_id, None) is None:
            raise BinanceError(-2011, "Unknown order sent.")
        self.sim.cancel_open(record.sim)
        record.status = "CANCELED"
        record.update_ms = self.now_ms()
        self._changed()

    def fill_resting(self, symbol: str | None = None) -> list[int]:
        """Fill every resting order (of ``symbol``) at the current last price; return their ids."""
        wanted = self.unified(symbol) if symbol is not None else None
        self.venue.catch_up()
        self._sync()
        chosen = self.open_orders(wanted)
        for record in chosen:
            self._fill(record)
        return [record.order_id for record in chosen]

    def _fill(self, record: OrderRecord) -> None:
        del self.resting[record.order_id]
        now = self.venue.clock.now()
        self.sim.fill_open(record.sim, self.last_price_now(record.sim.symbol), now)
        record.status = final_status(record.sim)
        record.update_ms = to_ms(now)
        self._sync()

    def external_trade(
        self, symbol: str, side: str, amount: Decimal, reduce_only: bool = False
    ) -> int:
        """Fill someone else's market order (client id ``web_…``); return its order id.

        The simulation's refusals (`SimRejected`: quantity, reduce-only, margin) propagate.
        """
        unified = self.unified(symbol)
        price = self.last_price_now(unified)
        self._sync()
        now = self.venue.clock.now()
        order = self.sim.market_order(
            unified,
            Side(side),
            amount,
            client_order_id=EXTERNAL_PREFIX + secrets.token_hex(8),
            reduce_only=reduce_only,
            price=price,
            time=now,
        )
        tif = self.market_time_in_force
        self.accept(OrderRecord(order, "MARKET", tif, ZERO, final_status(order), to_ms(now)))
        return int(order.order_id)

    # -- settings and state ----------------------------------------------------------------
    def set_leverage(self, symbol: str, leverage: int) -> None:
        """Set ``symbol``'s leverage (the simulation's -4028 when out of range) and audit it."""
        self.sim.set_leverage(symbol, leverage)
        self._trail.leverage(symbol, leverage)
        self._changed()

    def set_leverage_out_of_band(self, symbol: str, leverage: int) -> None:
        """Change a symbol's leverage as on the website (ValueError when out of range)."""
        try:
            self.set_leverage(self.unified(symbol), leverage)
        except SimRejected as refused:
            raise ValueError(refused.message) from None

    def set_margin_type_out_of_band(self, symbol: str, isolated: bool) -> None:
        """Switch a symbol's margin type as on the website (ValueError with a position)."""
        unified = self.unified(symbol)
        self.venue.catch_up()
        if (unified in self.sim.isolated) == isolated:
            return
        if self.sim.position(unified).contracts != 0:
            raise ValueError("Margin type cannot be changed if there exists position.")
        if isolated:
            self.sim.isolated.add(unified)
        else:
            self.sim.isolated.discard(unified)
        self._changed()

    def liquidate(self, symbol: str) -> int:
        """Let the mark wick through ``symbol``'s liquidation price: the exchange closes it.

        A squeeze the candles do not show; the position is liquidated at its liquidation price
        as the simulation does (`SimExchange.check_liquidation`). Return the liquidation
        order's id; ValueError when flat.
        """
        unified = self.unified(symbol)
        self.venue.catch_up()
        self._sync()
        price = self.sim.liquidation_price(unified)
        if price is None:
            raise ValueError(f"no position in {unified} to liquidate")
        trade = self.sim.check_liquidation(unified, price, price, self.venue.clock.now())
        assert trade is not None, "a range at the liquidation price always reaches it"
        self._sync()
        return self.number(self.forced[int(trade.order_id)])

    def set_mark(self, symbol: str, price: Decimal) -> int | None:
        """Move ``symbol``'s mark to ``price`` until the next bar closes (`mark_price`).

        A position whose liquidation price the mark reaches is liquidated at once, as
        `liquidate` does; return that liquidation order's id, else None.
        """
        if price <= 0:
            raise ValueError(f"a mark price is > 0, got {price}")
        unified = self.unified(symbol)
        self.venue.catch_up()
        self._sync()
        self._marks[unified] = (price, self._bar_ms(unified))
        trade = self.sim.check_liquidation(unified, price, price, self.venue.clock.now())
        self._sync()
        return self.number(self.forced[int(trade.order_id)]) if trade is not None else None

    def clear_mark(self, symbol: str | None = None) -> None:
        """Drop the marks set by hand (of ``symbol``): the candles' marks apply again."""
        if symbol is None:
            self._marks.clear()
        else:
            self._marks.pop(self.unified(symbol), None)
        self._changed()

    def auto_deleverage(
        self,
        symbol: str,
        *,
        fraction: Decimal | None = None,
        amount: Decimal | None = None,
        price: Decimal | None = None,
    ) -> int:
        """Let the exchange auto-deleverage ``symbol``'s position; return the ADL order's id.

        Closes ``fraction`` of the position, or ``amount`` contracts (rounded down to the lot
        step), at ``price`` (the bankrupt counterparty's price, profitable for this side; the mark
        when None), without fee or slippage. The order is the exchange's (client id
        ``adl_autoclose``, LIMIT IOC, FILLED), kept in ``forced``. ValueError when flat or when
        nothing would be closed.
        """
        unified = self.unified(symbol)
        if (fraction is None) == (amount is None):
            raise ValueError("give either fraction or amount")
        self.venue.catch_up()
        self._sync()
        held = self.sim.position(unified).contracts
        if held == 0:
            raise ValueError(f"no position in {unified} to deleverage")
        wanted = amount if amount is not None else abs(held) * (fraction or ZERO)
        step = self.sim.markets[unified].amount_step
        size = (wanted / step).to_integral_value(ROUND_DOWN) * step
        if not 0 < size <= abs(held):
            raise ValueError(f"cannot deleverage {wanted} of a position of {abs(held)}")
        at = price if price is not None else self.mark_price(unified)
        now = self.venue.clock.now()
        sim = self.sim
        saved = sim.taker_fee, sim.slippage_bps
        sim.taker_fee = sim.slippage_bps = ZERO  # an ADL fill is at the price given, no fee
        try:
            order = sim.market_order(
                unified,
                Side.BUY if held < 0 else Side.SELL,
                size,
                client_order_id=ADL_PREFIX,
                reduce_only=True,
                price=at,
                time=now,
                forced=ForcedClose.ADL,
            )
        finally:
            sim.taker_fee, sim.slippage_bps = saved
        record = OrderRecord(order, "LIMIT", "IOC", at, "FILLED", to_ms(now))
        self.forced[record.order_id] = record
        self._by_number[(unified, self.number(record))] = record
        self._sync()
        return self.number(record)

    def set_adl_rank(self, symbol: str, rank: int | None) -> None:
        """Set the ADL rank the faces report for ``symbol``'s position (None: the default)."""
        self.adl.set(self.unified(symbol), rank)
        self._changed()

    def reset_to_defaults(self) -> None:
        """Lose the exchange's state as a restart would (see the module docstring)."""
        self.venue.catch_up()
        self._sync()
        lost = self.sim.lose_state()
        self.resting.clear()
        self.orders.clear()
        self.forced.clear()
        self.latest_by_client_id.clear()
        self._by_number.clear()
        self.dual_side_position = False
        self.multi_assets_margin = False
        self.adl.clear()
        self._trail.reset(self.sim.markets, lost)
        self._changed()

    def find_order(self, symbol_id: str, number: int | None, client_id: str | None) -> OrderRecord:
        """Return the order by Binance ``orderId`` (``number``) or client id; else -2013.

        Liquidation orders (``forced``) are found like any other.
        """
        symbol = self.symbols.get(symbol_id)
        record: OrderRecord | None = None
        if number is not None:
            record = self._by_number.get((symbol, number)) if symbol is not None else None
        elif client_id is not None:
            order_id = self.latest_by_client_id.get(client_id)
            record = self.orders.get(order_id) if order_id is not None else None
            if record is None:
                record = next(
                    (r for r in self.forced.values() if r.sim.client_order_id == client_id), None
                )
        if record is None or binance_id(record.sim.symbol) != symbol_id:
            raise BinanceError(-2013, "Order does not exist.")
        return record

    def all_orders(self, symbol: str) -> list[OrderRecord]:
        """Return every order of ``symbol``, ours, others' and the exchange's, by ``orderId``."""
        every = (*self.orders.values(), *self.forced.values())
        records = [r for r in every if r.sim.symbol == symbol]
        return sorted(records, key=self.number)

    # -- positions -------------------------------------------------------------------------
    def position_view(self, symbol: str) -> PositionView:
        """Return Binance's figures for ``symbol``'s (possibly flat) position."""
        pos = self.sim.position(symbol)
        leverage = self.sim.leverage_of(symbol)
        brackets = self.sim.brackets(symbol)
        mark = self.mark_price(symbol)
        notional = abs(pos.contracts) * mark
        bracket = _bracket(brackets, notional)
        return PositionView(
            symbol_id=binance_id(symbol),
            amount=pos.contracts,
            entry_price=pos.entry_price,
            mark_price=mark,
            isolated_wallet=pos.isolated_margin,
            isolated=symbol in self.sim.isolated,
            leverage=leverage,
            liquidation_price=self.sim.liquidation_price(symbol) or ZERO,
            maint_margin=notional * bracket.mmr - bracket.cum if notional else ZERO,
            max_notional=max((b.cap for b in brackets if b.max_leverage >= leverage), default=ZERO),
            update_ms=self._last_update_ms(symbol),
            adl_rank=self.adl.rank(symbol, pos.contracts != 0),
        )

    def positions(self) -> list[PositionView]:
        """Return the views of every market, open or flat, in id order."""
        return [self.position_view(self.symbols[sid]) for sid in sorted(self.symbols)]

    def _last_update_ms(self, symbol: str) -> int:
        times = [t.time for t in self.sim.trades if t.symbol == symbol]
        times += [f.time for f in self.sim.funding if f.symbol == symbol]
        return to_ms(max(times)) if times else 0


def final_status(order: SimOrder, partial_status: str | None = None) -> str:
    """Return Binance's status of a done order.

    The unfilled rest of market and IOC orders expires; a partial-fill fault may ask for
    ``partial_status`` instead.
    """
    if order.filled == order.amount:
        return "FILLED"
    if order.filled == 0 or partial_status is None:
        return "EXPIRED"
    return partial_status


def _bracket(brackets: tuple[Bracket, ...], notional: Decimal) -> Bracket:
    """Return the bracket of ``notional``, the last one beyond the largest cap."""
    return brackets[-1] if notional >= brackets[-1].cap else bracket_for(brackets, notional)

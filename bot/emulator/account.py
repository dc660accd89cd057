"""The emulator's view of one PaperVenue: symbol ids, prices, positions and order records.

State and rules stay in the venue's `SimExchange`; this module only adds what Binance shows but the
simulation does not keep (how an order was asked: type, time in force, limit price, final status;
the position mode flag) and derives Binance's position figures from the simulated position.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from bot.clock import to_ms
from bot.domain import ZERO, Market
from bot.emulator.errors import BinanceError
from bot.market.series import BarSeries
from bot.risk import Bracket, bracket_for
from bot.venue.paper import PaperVenue
from bot.venue.simcore import SimExchange, SimOrder


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
    status: str  # Binance's final status: FILLED, EXPIRED, PARTIALLY_FILLED, CANCELED
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
        self.latest_by_client_id: dict[str, int] = {}
        self.dual_side_position = False
        self.multi_assets_margin = False

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
        """Return the mark price of a perp (its first bar's close before any bar closed)."""
        try:
            return self.venue.mark_price(symbol)
        except KeyError:
            series = self.perp_series(symbol)
            return series.bars[0].close if series else ZERO

    # -- orders ----------------------------------------------------------------------------
    def record(self, record: OrderRecord) -> None:
        """Remember an order so it can be found by id and by its latest client id."""
        self.orders[record.order_id] = record
        self.latest_by_client_id[record.sim.client_order_id] = record.order_id

    def find_order(
        self, symbol_id: str, order_id: int | None, client_id: str | None
    ) -> OrderRecord:
        """Return the order by id or client id, or refuse with -2013."""
        if order_id is None and client_id is not None:
            order_id = self.latest_by_client_id.get(client_id)
        record = self.orders.get(order_id) if order_id is not None else None
        if record is None or binance_id(record.sim.symbol) != symbol_id:
            raise BinanceError(-2013, "Order does not exist.")
        return record

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
        )

    def positions(self) -> list[PositionView]:
        """Return the views of every market, open or flat, in id order."""
        return [self.position_view(self.symbols[sid]) for sid in sorted(self.symbols)]

    def _last_update_ms(self, symbol: str) -> int:
        times = [t.time for t in self.sim.trades if t.symbol == symbol]
        times += [f.time for f in self.sim.funding if f.symbol == symbol]
        return to_ms(max(times)) if times else 0


def _bracket(brackets: tuple[Bracket, ...], notional: Decimal) -> Bracket:
    """Return the bracket of ``notional``, the last one beyond the largest cap."""
    return brackets[-1] if notional >= brackets[-1].cap else bracket_for(brackets, notional)

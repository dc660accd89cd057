"""The simulated exchange account: one implementation behind PaperVenue and the emulator.

USDT-margined linear perps, one-way mode, isolated margin, market orders (the emulator can leave
one open to fill later: `open_order`, `fill_open`). Accounting follows Binance USDⓈ-M:
- opening or growing a position moves ``notional / leverage`` from the wallet into the position's
  isolated margin, and the taker fee out of the wallet;
- reducing releases margin pro rata and settles realised PnL and the fee in the wallet;
- a trade larger than the position on its other side flips it: the whole position closes (all its
  margin and the PnL come home), then the rest opens on the other side at the trade's price with
  fresh margin; the one fee is on the whole trade, and the wallet must margin the new side after
  the close (-2019 otherwise, nothing changed);
- funding settles in the position's isolated margin (Binance sends the isolated wallet with each
  funding update): ``amount = −signed size × mark × rate`` (rate > 0: shorts receive); the isolated
  margin never goes negative: a charge beyond it takes all of it, and the position is checked for
  liquidation at once;
- when the mark reaches the liquidation price (`bot.margin.binance.liquidation_price`, with the
  symbol's maintenance brackets) the position is closed at that price and what is left of its
  isolated margin goes to the insurance fund (journaled as the liquidation fill's fee). Another
  venue's published method can stand in: ``liquidation_method``
  (`bot.margin.venues.LiquidationMethod`, Binance by default), with ``brackets`` returning that
  venue's tiers in its own units.
Rejections carry Binance's error codes so the emulator can speak them verbatim. Ids of orders,
trades and funding are unique in the account; each order and trade also has its number within its
symbol (`SimExchange.number`), which the Binance face shows, as Binance numbers them per symbol.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from bot.core.domain import ZERO, Bracket, ForcedClose, Market, OrderStatus, PositionSide, Side
from bot.margin.venues import LiquidationMethod, liquidation_price_for

BPS = Decimal("0.0001")


class SimRejected(Exception):
    """The simulated exchange refused a request, with Binance's code and message."""

    def __init__(self, code: int, message: str) -> None:
        """Keep the exchange code beside the message."""
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


MARGIN_INSUFFICIENT = -2019
REDUCE_ONLY_REJECTED = -2022
MIN_NOTIONAL = -4164
BAD_PRECISION = -1111
BAD_QUANTITY = -4003
NO_NEED_TO_CHANGE_MARGIN = -4046
MARGIN_TYPE_WITH_POSITION = -4048


@dataclass(slots=True)
class SimPosition:
    """A position as the simulated exchange keeps it; ``contracts`` < 0 is a short."""

    symbol: str
    contracts: Decimal = ZERO
    entry_price: Decimal = ZERO
    isolated_margin: Decimal = ZERO

    @property
    def side(self) -> PositionSide:
        """Return the position's side."""
        return PositionSide.SHORT if self.contracts < 0 else PositionSide.LONG


@dataclass(slots=True)
class SimOrder:
    """An order on the simulated exchange."""

    order_id: str
    client_order_id: str
    symbol: str
    side: Side
    amount: Decimal
    reduce_only: bool
    time: datetime
    status: OrderStatus = OrderStatus.OPEN
    filled: Decimal = ZERO
    average_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class SimTrade:
    """One execution on the simulated exchange; ``forced``: the exchange's liquidation or ADL."""

    trade_id: str
    order_id: str
    client_order_id: str | None
    symbol: str
    side: Side
    amount: Decimal
    price: Decimal
    fee: Decimal
    realized_pnl: Decimal
    time: datetime
    forced: ForcedClose | None = None


@dataclass(frozen=True, slots=True)
class SimFunding:
    """One funding settlement on one position."""

    payment_id: str
    symbol: str
    time: datetime
    rate: Decimal
    mark_price: Decimal
    position_contracts: Decimal
    amount: Decimal


@dataclass(slots=True)
class SimExchange:
    """State and rules of one simulated futures account."""

    markets: dict[str, Market]
    brackets: Callable[[str], tuple[Bracket, ...]]
    wallet: Decimal
    taker_fee: Decimal = Decimal("0.0005")
    slippage_bps: Decimal = ZERO
    default_leverage: int = 20
    liquidation_method: LiquidationMethod = LiquidationMethod.BINANCE
    """Whose isolated liquidation formula applies (Binance's or Bybit's)."""
    positions: dict[str, SimPosition] = field(default_factory=dict)
    leverage: dict[str, int] = field(default_factory=dict)
    isolated: set[str] = field(default_factory=set)
    orders: dict[str, SimOrder] = field(default_factory=dict)  # by client order id
    trades: list[SimTrade] = field(default_factory=list)
    funding: list[SimFunding] = field(default_factory=list)
    numbers: dict[str, int] = field(default_factory=dict)
    """Each order's and trade's number within its symbol, by its id (see `number`)."""
    _sequence: int = 0
    _base: int = 0
    _per_symbol: dict[tuple[str, str], int] = field(default_factory=dict)

    def _next_id(self, symbol: str | None = None, kind: str = "") -> str:
        """Return the next account-wide id; number it within ``symbol`` and ``kind`` too."""
        self._sequence += 1
        sim_id = str(self._sequence)
        if symbol is not None:
            key = (symbol, kind)
            following = self._per_symbol.get(key, self._base) + 1
            self._per_symbol[key] = self.numbers[sim_id] = following
        return sim_id

    def start_ids_at(self, base: int) -> None:
        """Issue every later id and number above ``base`` (before any was issued).

        A real exchange never issues an id twice; a simulation started again would, from 1. A
        base that grows with the wall clock (`bot.emulator.account.restart_id_base`) keeps a
        restarted emulator's ids apart from those a journal holds from its earlier runs.
        """
        if self._sequence or self._per_symbol:
            raise ValueError("ids were issued already")
        self._sequence = base
        self._base = base

    def number(self, sim_id: str) -> int:
        """Return the number of an order or trade within its symbol, as Binance numbers them.

        Ids (``order_id``, ``trade_id``) are unique in the account; Binance USDⓈ-M numbers
        orders and trades per symbol (1, 2, … for each), so two symbols show the same numbers.
        Numbers survive `lose_state`, as the exchange's do.
        """
        return self.numbers.get(sim_id, int(sim_id))

    def market(self, symbol: str) -> Market:
        """Return the market of ``symbol`` or refuse like the exchange does."""
        if symbol not in self.markets:
            raise SimRejected(-1121, "Invalid symbol.")
        return self.markets[symbol]

    def position(self, symbol: str) -> SimPosition:
        """Return the (possibly flat) position of ``symbol``."""
        return self.positions.setdefault(symbol, SimPosition(symbol))

    def leverage_of(self, symbol: str) -> int:
        """Return the leverage set on ``symbol``."""
        return self.leverage.get(symbol, self.default_leverage)

    def set_leverage(self, symbol: str, leverage: int) -> None:
        """Set the leverage of ``symbol``."""
        market = self.market(symbol)
        if not 1 <= leverage <= market.max_leverage:
            raise SimRejected(-4028, f"Leverage {leverage} is not valid")
        self.leverage[symbol] = leverage

    def set_isolated(self, symbol: str) -> None:
        """Switch ``symbol`` to isolated margin; already isolated is Binance's -4046."""
        self.market(symbol)
        if symbol in self.isolated:
            raise SimRejected(NO_NEED_TO_CHANGE_MARGIN, "No need to change margin type.")
        if self.position(symbol).contracts != 0:
            raise SimRejected(
                MARGIN_TYPE_WITH_POSITION, "Margin type cannot be changed if there exists position."
            )
        self.isolated.add(symbol)

    def liquidation_price(self, symbol: str) -> Decimal | None:
        """Return the liquidation price of the open position, or None when flat."""
        pos = self.position(symbol)
        if pos.contracts == 0:
            return None
        market = self.markets[symbol]
        return liquidation_price_for(
            self.liquidation_method,
            pos.side,
            abs(pos.contracts),
            pos.entry_price,
            pos.isolated_margin,
            self.brackets(symbol),
            market.contract_size,
        )

    def _validate(
        self, market: Market, side: Side, amount: Decimal, reduce_only: bool, price: Decimal
    ) -> None:
        if amount <= 0 or amount < market.min_amount:
            raise SimRejected(BAD_QUANTITY, f"Quantity less than or equal to {market.min_amount}.")
        if amount % market.amount_step != 0:
            raise SimRejected(
                BAD_PRECISION, "Precision is over the maximum defined for this asset."
            )
        held = self.position(market.symbol).contracts
        if reduce_only:
            if not _reduces(side, held) or amount > abs(held):
                raise SimRejected(REDUCE_ONLY_REJECTED, "ReduceOnly Order is rejected.")
        elif amount * market.contract_size * price < market.min_notional:
            raise SimRejected(
                MIN_NOTIONAL,
                f"Order's notional must be no smaller than {market.min_notional} "
                "(unless you choose reduce only).",
            )

    def fill_price(self, side: Side, price: Decimal) -> Decimal:
        """Return the execution price of a market order: ``price`` moved by the slippage."""
        slip = self.slippage_bps * BPS
        return price * (1 + slip) if side is Side.BUY else price * (1 - slip)

    def market_order(
        self,
        symbol: str,
        side: Side,
        amount: Decimal,
        *,
        client_order_id: str,
        reduce_only: bool,
        price: Decimal,
        time: datetime,
        fill_ratio: Decimal = Decimal(1),
        forced: ForcedClose | None = None,
    ) -> SimOrder:
        """Execute a market order at ``price`` (plus slippage); return the order.

        ``forced``: the order is the exchange's own (an ADL), and so is its trade.
        """
        market = self.market(symbol)
        self._validate(market, side, amount, reduce_only, price)
        executed = (
            amount
            if fill_ratio >= 1
            else (
                (amount * fill_ratio / market.amount_step).to_integral_value() * market.amount_step
            )
        )
        fill = self.fill_price(side, price)
        order_id = self._next_id(symbol, "order")
        order = SimOrder(order_id, client_order_id, symbol, side, amount, reduce_only, time)
        if executed > 0:
            trade = self._execute(order, executed, fill, time, forced)
            order.filled = trade.amount
            order.average_price = trade.price
        order.status = OrderStatus.FILLED if executed == amount else OrderStatus.PARTIALLY_FILLED
        self.orders[client_order_id] = order
        return order

    def expire_order(
        self,
        symbol: str,
        side: Side,
        amount: Decimal,
        *,
        client_order_id: str,
        reduce_only: bool,
        price: Decimal,
        time: datetime,
    ) -> SimOrder:
        """Validate an order priced at ``price`` and record it as expired unfilled (IOC miss)."""
        order = self.open_order(
            symbol,
            side,
            amount,
            client_order_id=client_order_id,
            reduce_only=reduce_only,
            price=price,
            time=time,
        )
        order.status = OrderStatus.CANCELED
        return order

    def check_order(
        self, symbol: str, side: Side, amount: Decimal, reduce_only: bool, price: Decimal
    ) -> None:
        """Refuse an order priced at ``price`` that the exchange would not accept now."""
        self._validate(self.market(symbol), side, amount, reduce_only, price)

    def open_order(
        self,
        symbol: str,
        side: Side,
        amount: Decimal,
        *,
        client_order_id: str,
        reduce_only: bool,
        price: Decimal,
        time: datetime,
    ) -> SimOrder:
        """Validate an order priced at ``price`` and record it open and unfilled (it rests)."""
        self.check_order(symbol, side, amount, reduce_only, price)
        order_id = self._next_id(symbol, "order")
        order = SimOrder(order_id, client_order_id, symbol, side, amount, reduce_only, time)
        self.orders[client_order_id] = order
        return order

    def fill_open(self, order: SimOrder, price: Decimal, time: datetime) -> SimTrade | None:
        """Execute an open order at ``price`` (plus slippage) under the rules that apply now.

        A reduce-only order fills only up to the position it reduces; one that would now increase
        the position, or an order the wallet cannot margin any more, ends unfilled (CANCELED).
        """
        amount = order.amount
        if order.reduce_only:
            held = self.position(order.symbol).contracts
            amount = min(amount, abs(held)) if _reduces(order.side, held) else ZERO
        trade = None
        if amount > 0:
            try:
                trade = self._execute(order, amount, self.fill_price(order.side, price), time)
            except SimRejected:
                trade = None
        if trade is None:
            order.status = OrderStatus.CANCELED
            return None
        order.filled = trade.amount
        order.average_price = trade.price
        filled = trade.amount == order.amount
        order.status = OrderStatus.FILLED if filled else OrderStatus.PARTIALLY_FILLED
        return trade

    def cancel_open(self, order: SimOrder) -> None:
        """Cancel an open order (it never filled)."""
        order.status = OrderStatus.CANCELED

    def lose_state(self) -> dict[str, Decimal]:
        """Forget positions, open orders, leverage and margin types, as a restarted exchange.

        No trade records the loss; each position's isolated margin returns to the wallet, so the
        collateral stays. Return the signed contracts each symbol held before.
        """
        lost = {symbol: pos.contracts for symbol, pos in self.positions.items()}
        self.wallet += sum((pos.isolated_margin for pos in self.positions.values()), ZERO)
        self.positions.clear()
        self.orders.clear()
        self.leverage.clear()
        self.isolated.clear()
        return lost

    def _execute(
        self,
        order: SimOrder,
        amount: Decimal,
        price: Decimal,
        time: datetime,
        forced: ForcedClose | None = None,
    ) -> SimTrade:
        market = self.markets[order.symbol]
        pos = self.position(order.symbol)
        signed = amount if order.side is Side.BUY else -amount
        notional = amount * market.contract_size * price
        fee = notional * self.taker_fee
        opening = pos.contracts == 0 or (pos.contracts > 0) == (signed > 0)
        realized = ZERO
        if opening:
            margin = notional / self.leverage_of(order.symbol)
            if margin + fee > self.wallet:
                raise SimRejected(MARGIN_INSUFFICIENT, "Margin is insufficient.")
            total = abs(pos.contracts) + amount
            pos.entry_price = (abs(pos.contracts) * pos.entry_price + amount * price) / total
            pos.contracts += signed
            pos.isolated_margin += margin
            self.wallet -= margin + fee
        elif amount > abs(pos.contracts):
            # A flip: close the whole position (all of its margin comes home with the PnL), then
            # open the rest on the other side at this price with fresh margin. One fill, one fee.
            held = abs(pos.contracts)
            direction = Decimal(1) if pos.contracts > 0 else Decimal(-1)
            realized = direction * held * market.contract_size * (price - pos.entry_price)
            rest = amount - held
            margin = rest * market.contract_size * price / self.leverage_of(order.symbol)
            if margin + fee > self.wallet + pos.isolated_margin + realized:
                raise SimRejected(MARGIN_INSUFFICIENT, "Margin is insufficient.")
            self.wallet += pos.isolated_margin + realized - fee - margin
            pos.contracts += signed
            pos.entry_price = price
            pos.isolated_margin = margin
        else:
            direction = Decimal(1) if pos.contracts > 0 else Decimal(-1)
            realized = direction * amount * market.contract_size * (price - pos.entry_price)
            released = pos.isolated_margin * amount / abs(pos.contracts)
            pos.contracts += signed
            pos.isolated_margin -= released
            self.wallet += released + realized - fee
            if pos.contracts == 0:
                self.wallet += pos.isolated_margin  # rounding remainder goes home
                pos.isolated_margin = ZERO
                pos.entry_price = ZERO
        trade = SimTrade(
            self._next_id(order.symbol, "trade"),
            order.order_id,
            order.client_order_id,
            order.symbol,
            order.side,
            amount,
            price,
            fee,
            realized,
            time,
            forced,
        )
        self.trades.append(trade)
        return trade

    def add_margin(self, symbol: str, amount: Decimal) -> None:
        """Move ``amount`` from the wallet into the isolated margin of ``symbol``'s position."""
        pos = self.position(symbol)
        if pos.contracts == 0:
            raise SimRejected(-4051, "Isolated balance insufficient (no position).")
        if amount <= 0 or amount > self.wallet:
            raise SimRejected(MARGIN_INSUFFICIENT, "Margin is insufficient.")
        self.wallet -= amount
        pos.isolated_margin += amount

    def apply_funding(
        self, symbol: str, rate: Decimal, mark: Decimal, time: datetime
    ) -> SimFunding | None:
        """Settle one funding event on ``symbol``'s position; None when flat.

        The isolated margin never goes negative: a payment larger than the margin takes all of it
        (the payment records what was taken), and the position, its margin exhausted, is checked
        for liquidation at ``mark`` at once.
        """
        pos = self.position(symbol)
        if pos.contracts == 0:
            return None
        size = self.markets[symbol].contract_size
        amount = max(-pos.contracts * size * mark * rate, -pos.isolated_margin)
        pos.isolated_margin += amount
        payment = SimFunding(self._next_id(), symbol, time, rate, mark, pos.contracts, amount)
        self.funding.append(payment)
        if pos.isolated_margin == 0:
            self.check_liquidation(symbol, mark, mark, time)
        return payment

    def check_liquidation(
        self, symbol: str, high: Decimal, low: Decimal, time: datetime
    ) -> SimTrade | None:
        """Liquidate ``symbol``'s position if the mark range [low, high] reached its price."""
        pos = self.position(symbol)
        liq = self.liquidation_price(symbol)
        if liq is None:
            return None
        hit = high >= liq if pos.contracts < 0 else low <= liq
        if not hit:
            return None
        market = self.markets[symbol]
        amount = abs(pos.contracts)
        direction = Decimal(1) if pos.contracts > 0 else Decimal(-1)
        realized = direction * amount * market.contract_size * (liq - pos.entry_price)
        clearance = pos.isolated_margin + realized  # what is left goes to the insurance fund
        side = Side.BUY if pos.contracts < 0 else Side.SELL
        trade = SimTrade(
            self._next_id(symbol, "trade"),
            self._next_id(symbol, "order"),
            None,
            symbol,
            side,
            amount,
            liq,
            max(clearance, ZERO),
            realized,
            time,
            forced=ForcedClose.LIQUIDATION,
        )
        pos.contracts = ZERO
        pos.isolated_margin = ZERO
        pos.entry_price = ZERO
        self.trades.append(trade)
        return trade


def _reduces(side: Side, held: Decimal) -> bool:
    """Return whether an order on ``side`` reduces a position of ``held`` signed contracts."""
    return (side is Side.BUY and held < 0) or (side is Side.SELL and held > 0)

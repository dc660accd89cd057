"""A small in-memory `Venue` for unit tests of the engine, the order manager and reconciliation.

It keeps what an exchange account keeps (markets, prices, spot holdings, a futures wallet,
one-way isolated positions, orders by client order id, fills, funding) and answers like Binance
USDⓈ-M where it matters to the bot:

- order ids and trade ids are numbered per symbol (``BTC`` trade 1 and ``ETH`` trade 1 both exist);
- the trade list (`fetch_fills`) carries no client order id, only the exchange's order id; an
  order's own answer (`place_order`, `find_order`) carries its fills with the client id;
- a market order fills at once at the current price unless the test makes it rest;
- a reduce-only order that would not reduce the position is rejected, as is a client order id the
  exchange already knows.

Knobs a test turns (each counts down and then stops): `rest_next` (the order rests, filled later
by `fill_resting`), `lose_answers` (the order is booked, then the answer is lost: a transient
error), `miss_lookups` (a lookup says "no such order", like Binance -2013 while it lags),
`fail_lookups` (a lookup fails with a transient error), `reject_next` (a rejection before
booking), `external_trade` (someone else trades the account), `forget_orders` (the exchange loses
its order records; trades stay) and `pay_funding`.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.core.clock import Clock
from bot.core.domain import (
    ZERO,
    Bracket,
    Fill,
    FundingPayment,
    Holding,
    Market,
    OrderIntent,
    OrderResult,
    OrderStatus,
    Position,
    PositionSide,
    Quote,
    Side,
    Wallets,
    base_of,
    perp_symbol,
)
from bot.core.errors import (
    AuthError,
    InsufficientMargin,
    InvalidOrderError,
    RejectedError,
    VenueTimeout,
    VenueUnavailable,
)
from bot.journal.records import RebalanceRecord, RebalanceStatus, RunMode
from bot.journal.store import Journal
from bot.margin.venues import LiquidationMethod
from bot.settings.config import Config, parse_config
from tests.conftest import paper_config_dict

QUOTE = "USDT"
DEFAULT_LEVERAGE = 20
"""Binance's leverage (and cross margin) on a symbol nobody has set up."""
BAR_SECONDS = 4 * 3600


def fake_market(asset: str, step: Decimal, min_notional: Decimal = Decimal(5)) -> Market:
    """Return Binance-like rules of ``asset``'s linear perp (one contract = one unit)."""
    return Market(
        symbol=perp_symbol(asset, QUOTE),
        base=asset,
        quote=QUOTE,
        contract_size=Decimal(1),
        amount_step=step,
        min_amount=step,
        min_notional=min_notional,
        price_tick=Decimal("0.01"),
        max_leverage=125,
    )


@dataclass
class FakeOrder:
    """An order as the exchange keeps it."""

    venue_order_id: str
    client_order_id: str
    symbol: str
    side: Side
    amount: Decimal
    reduce_only: bool
    time: datetime
    status: OrderStatus = OrderStatus.OPEN
    fills: list[Fill] = field(default_factory=list)

    @property
    def filled(self) -> Decimal:
        """Return the contracts traded so far."""
        return sum((f.amount for f in self.fills), ZERO)

    @property
    def average_price(self) -> Decimal | None:
        """Return the average price of the fills, None before the first."""
        filled = self.filled
        if filled == 0:
            return None
        return sum((f.amount * f.price for f in self.fills), ZERO) / filled


@dataclass
class FakePosition:
    """A one-way isolated position: signed contracts (negative = short)."""

    contracts: Decimal = ZERO
    entry_price: Decimal = ZERO
    isolated_margin: Decimal = ZERO


@dataclass
class _Countdown:
    """A knob that acts on the next ``times`` calls."""

    times: int = 0

    def take(self) -> bool:
        if self.times <= 0:
            return False
        self.times -= 1
        return True


class FakeVenue:
    """An in-memory exchange account implementing the `Venue` protocol."""

    def __init__(
        self,
        clock: Clock,
        prices: Mapping[str, Decimal],
        holdings: Mapping[str, Decimal],
        *,
        markets: Mapping[str, Market] | None = None,
        collateral: Decimal = Decimal(100_000),
        taker_fee: Decimal = Decimal("0.0005"),
        name: str = "fake",
    ) -> None:
        """Open an account: spot ``holdings``, ``collateral`` USDT in the futures wallet."""
        self.name = name
        self.clock = clock
        self.writes = 0
        """Orders, cancels, margin moves and leg settings asked so far (the `Venue` count)."""
        self.prices: dict[str, Decimal] = dict(prices)
        """Asset -> price: its spot price, its perp's last and mark price."""
        self.holdings: dict[str, Decimal] = dict(holdings)
        self.markets: dict[str, Market] = dict(
            markets or {perp_symbol(a): fake_market(a, Decimal("0.001")) for a in prices}
        )
        self.wallet = collateral
        """Free USDT of the futures wallet: collateral less isolated margins and fees, plus realised
        P&L and funding."""
        self.taker_fee = taker_fee
        self.positions: dict[str, FakePosition] = {}
        self.leverage: dict[str, int] = {}
        self.isolated: set[str] = set()
        self.orders: dict[str, FakeOrder] = {}
        """Client order id -> order: what the exchange remembers (see `forget_orders`)."""
        self.accepted: list[FakeOrder] = []
        """Every order the exchange ever booked, in order (survives `forget_orders`)."""
        self.sent: list[str] = []
        """Client order id of every order request that reached the exchange, booked or not."""
        self.trades: list[Fill] = []
        """Every trade of the account, as the trade list reports it (no client order id)."""
        self.funding: list[FundingPayment] = []
        self.funding_rates: dict[str, Decimal] = {}
        self._order_numbers: dict[str, int] = {}
        self._trade_numbers: dict[str, int] = {}
        self._rest = _Countdown()
        self._lose = _Countdown()
        self._lost_error: BaseException | None = None
        self._miss = _Countdown()
        self._fail = _Countdown()
        self._reject = _Countdown()
        self._reject_error: RejectedError | AuthError | None = None
        self.adl_ranks: dict[str, int] = {}
        """Symbol -> the ADL rank `fetch_adl_ranks` reports."""
        self.adl_rank_error: Exception | None = None
        """Raised by `fetch_adl_ranks` when set (an exchange that refuses the call)."""

    # -- knobs -----------------------------------------------------------------------------
    def rest_next(self, times: int = 1) -> None:
        """Let the next ``times`` orders rest unfilled (``OPEN``) until `fill_resting`."""
        self._rest.times = times

    def lose_answers(self, times: int = 1, error: BaseException | None = None) -> None:
        """Book the next ``times`` orders, then lose the answer: raise ``error`` instead.

        The default error is a `VenueTimeout` (a transient error: the outcome is unknown); a test
        passes another exception to play a process that dies right after the exchange booked.
        """
        self._lose.times = times
        self._lost_error = error

    def miss_lookups(self, times: int = 1) -> None:
        """Let the next ``times`` lookups say the order does not exist (Binance -2013 lag)."""
        self._miss.times = times

    def fail_lookups(self, times: int = 1) -> None:
        """Let the next ``times`` lookups fail with a transient error."""
        self._fail.times = times

    def reject_next(self, times: int = 1, error: RejectedError | AuthError | None = None) -> None:
        """Refuse the next ``times`` orders before booking them (an `AuthError`: refused keys)."""
        self._reject.times = times
        self._reject_error = error

    def fill_resting(self) -> list[FakeOrder]:
        """Fill every resting order at the current price; return them."""
        resting = [o for o in self.orders.values() if o.status is OrderStatus.OPEN]
        for order in resting:
            self._trade(order.symbol, order.side, order.amount - order.filled, order)
            order.status = OrderStatus.FILLED
        return resting

    def external_trade(
        self, symbol: str, side: Side, amount: Decimal, *, reduce_only: bool = False
    ) -> FakeOrder:
        """Trade the account from outside the bot (a person, another program): no client id."""
        order = self._book(f"web_{len(self.accepted) + 1}", symbol, side, amount, reduce_only)
        self._trade(symbol, side, amount, order)
        order.status = OrderStatus.FILLED
        return order

    def forget_orders(self) -> None:
        """Lose every order record (an exchange restart); the trades stay listed."""
        self.orders.clear()

    def pay_funding(self, symbol: str, rate: Decimal) -> FundingPayment:
        """Settle funding at ``rate`` on ``symbol``'s position (> 0: longs pay shorts)."""
        held = self.positions.get(symbol, FakePosition())
        number = len(self.funding) + 1
        mark = self.prices[base_of(symbol)]
        amount = -held.contracts * self.markets[symbol].contract_size * mark * rate
        payment = FundingPayment(
            venue=self.name,
            payment_id=f"funding-{number}",
            symbol=symbol,
            timestamp=self.clock.now(),
            rate=rate,
            position_contracts=held.contracts,
            amount=amount,
            currency=QUOTE,
        )
        self.wallet += amount
        self.funding.append(payment)
        return payment

    # -- views for assertions --------------------------------------------------------------
    def short(self, symbol: str) -> Decimal:
        """Return the short contracts held on ``symbol`` (negative when long)."""
        return -self.positions.get(symbol, FakePosition()).contracts

    def booked(self, client_order_id: str) -> list[FakeOrder]:
        """Return every order booked with this client order id."""
        return [o for o in self.accepted if o.client_order_id == client_order_id]

    # -- internals -------------------------------------------------------------------------
    def _number(self, counters: dict[str, int], symbol: str) -> str:
        counters[symbol] = counters.get(symbol, 0) + 1
        return str(counters[symbol])

    def _book(
        self, client_order_id: str, symbol: str, side: Side, amount: Decimal, reduce_only: bool
    ) -> FakeOrder:
        order = FakeOrder(
            venue_order_id=self._number(self._order_numbers, symbol),
            client_order_id=client_order_id,
            symbol=symbol,
            side=side,
            amount=amount,
            reduce_only=reduce_only,
            time=self.clock.now(),
        )
        self.orders[client_order_id] = order
        self.accepted.append(order)
        return order

    def _trade(self, symbol: str, side: Side, amount: Decimal, order: FakeOrder) -> Fill:
        """Execute ``amount`` at the current price: move the position, the wallet, the lists."""
        price = self.prices[base_of(symbol)]
        size = self.markets[symbol].contract_size
        fee = amount * size * price * self.taker_fee
        held = self.positions.setdefault(symbol, FakePosition())
        signed = amount if side is Side.BUY else -amount
        before = held.contracts
        after = before + signed
        realized = ZERO
        if before == 0 or (before > 0) == (signed > 0):  # opens or grows
            held.entry_price = (abs(before) * held.entry_price + amount * price) / abs(after)
        else:  # reduces, closes or flips
            closed = min(amount, abs(before))
            direction = Decimal(1) if before > 0 else Decimal(-1)
            realized = closed * size * (price - held.entry_price) * direction
            if after == 0:
                held.entry_price = ZERO
            elif (after > 0) != (before > 0):
                held.entry_price = price
        held.contracts = after
        leverage = self.leverage.get(symbol, DEFAULT_LEVERAGE)
        margin = abs(after) * size * held.entry_price / leverage
        self.wallet += held.isolated_margin - margin + realized - fee
        held.isolated_margin = margin
        trade = Fill(
            venue=self.name,
            trade_id=self._number(self._trade_numbers, symbol),
            symbol=symbol,
            side=side,
            amount=amount,
            price=price,
            fee=fee,
            fee_currency=QUOTE,
            realized_pnl=realized,
            timestamp=self.clock.now(),
            client_order_id=None,
            venue_order_id=order.venue_order_id,
        )
        self.trades.append(trade)
        order.fills.append(replace(trade, client_order_id=order.client_order_id))
        return trade

    def _check(self, intent: OrderIntent) -> None:
        """Refuse what Binance refuses: unknown symbol, lot, notional, reduce-only, margin."""
        market = self.markets.get(intent.symbol)
        if market is None:
            raise InvalidOrderError(f"Invalid symbol {intent.symbol}")
        if intent.client_order_id in self.orders:
            raise InvalidOrderError("ClientOrderId is duplicated.")
        amount = intent.amount
        if amount < market.min_amount or amount % market.amount_step != 0:
            raise InvalidOrderError(f"Quantity {amount} breaks the lot rules of {intent.symbol}")
        price = self.prices[market.base]
        held = self.positions.get(intent.symbol, FakePosition()).contracts
        signed = amount if intent.side is Side.BUY else -amount
        if intent.reduce_only:
            if held == 0 or (held > 0) == (signed > 0) or amount > abs(held):
                raise InvalidOrderError("ReduceOnly Order is rejected.")
            return
        notional = amount * market.contract_size * price
        if notional < market.min_notional:
            raise InvalidOrderError(
                f"Order's notional must be no smaller than {market.min_notional}"
            )
        leverage = self.leverage.get(intent.symbol, DEFAULT_LEVERAGE)
        if abs(held + signed) > abs(held) and notional / leverage > self.free_collateral():
            raise InsufficientMargin("Margin is insufficient.")

    def free_collateral(self) -> Decimal:
        """Return the wallet's free USDT (isolated margins are taken out of it)."""
        return self.wallet

    def _result(self, order: FakeOrder) -> OrderResult:
        return OrderResult(
            client_order_id=order.client_order_id,
            venue_order_id=order.venue_order_id,
            symbol=order.symbol,
            side=order.side,
            amount=order.amount,
            filled=order.filled,
            average_price=order.average_price,
            status=order.status,
            reduce_only=order.reduce_only,
            timestamp=order.time,
            fills=tuple(order.fills),
        )

    # -- Venue port ------------------------------------------------------------------------
    @property
    def liquidation_method(self) -> LiquidationMethod:
        """Return Binance's formula (the fake reports no liquidation price: the guard waits)."""
        return LiquidationMethod.BINANCE

    @property
    def bar_seconds(self) -> int:
        """Return the length of the bars of `fetch_closes` (4 h)."""
        return BAR_SECONDS

    async def load_markets(self, symbols: Iterable[str]) -> dict[str, Market]:
        """Return the rules of the listed perps among ``symbols``."""
        return {s: self.markets[s] for s in symbols if s in self.markets}

    async def fetch_wallets(self) -> Wallets:
        """Return the spot balances and the futures wallet's free USDT."""
        holdings = tuple(Holding(a, n) for a, n in sorted(self.holdings.items()))
        return Wallets(holdings, self.free_collateral())

    async def fetch_collateral(self) -> Decimal:
        """Return the free USDT of the futures wallet."""
        return self.free_collateral()

    async def fetch_quotes(self, symbols: Iterable[str]) -> dict[str, Quote]:
        """Return each known spot or perp symbol's price, seen now (perps carry a mark)."""
        now = self.clock.now()
        quotes: dict[str, Quote] = {}
        for symbol in symbols:
            price = self.prices.get(base_of(symbol))
            if price is None or (":" in symbol and symbol not in self.markets):
                continue
            mark = price if ":" in symbol else None
            quotes[symbol] = Quote(symbol, price, now, mark, Decimal(10_000_000))
        return quotes

    async def fetch_closes(self, assets: Iterable[str], count: int) -> dict[str, list[Decimal]]:
        """Return ``count`` closes per known asset, all at its current price."""
        return {a: [self.prices[a]] * count for a in assets if a in self.prices}

    async def fetch_funding_rates(self, symbols: Iterable[str]) -> dict[str, Decimal]:
        """Return the funding rates a test set."""
        return {s: self.funding_rates[s] for s in symbols if s in self.funding_rates}

    async def fetch_positions(self, symbols: Iterable[str]) -> dict[str, Position]:
        """Return the open positions among ``symbols``."""
        positions: dict[str, Position] = {}
        for symbol in symbols:
            held = self.positions.get(symbol)
            if held is None or held.contracts == 0:
                continue
            positions[symbol] = Position(
                symbol=symbol,
                side=PositionSide.SHORT if held.contracts < 0 else PositionSide.LONG,
                contracts=abs(held.contracts),
                entry_price=held.entry_price,
                isolated_margin=held.isolated_margin,
                leverage=self.leverage.get(symbol, DEFAULT_LEVERAGE),
                contract_size=self.markets[symbol].contract_size,
                liquidation_price=None,
                margin_mode="isolated" if symbol in self.isolated else "cross",
            )
        return positions

    async def setup_leg(self, symbol: str, leverage: int) -> None:
        """Set isolated margin and leverage."""
        self.writes += 1
        if symbol not in self.markets:
            raise InvalidOrderError(f"Invalid symbol {symbol}")
        self.isolated.add(symbol)
        self.leverage[symbol] = leverage

    async def add_margin(self, symbol: str, amount: Decimal) -> None:
        """Move free collateral into ``symbol``'s isolated margin."""
        self.writes += 1
        held = self.positions.get(symbol)
        if held is None or held.contracts == 0:
            raise InvalidOrderError(f"no position on {symbol}")
        if amount > self.free_collateral():
            raise InsufficientMargin("Margin is insufficient.")
        self.wallet -= amount
        held.isolated_margin += amount

    async def fetch_brackets(self, symbols: Iterable[str]) -> dict[str, tuple[Bracket, ...]]:
        """Return one bracket per symbol (0.4 % maintenance margin)."""
        bracket = Bracket(ZERO, Decimal(10) ** 9, 125, Decimal("0.004"), ZERO)
        return {symbol: (bracket,) for symbol in symbols}

    async def fetch_adl_ranks(self, symbols: Iterable[str]) -> dict[str, int | None]:
        """Return the ranks set in ``adl_ranks`` (None for the others); refuse if told to."""
        if self.adl_rank_error is not None:
            raise self.adl_rank_error
        return {symbol: self.adl_ranks.get(symbol) for symbol in symbols}

    async def place_order(self, intent: OrderIntent) -> OrderResult:
        """Book a market order; it fills at once at the current price unless told to rest."""
        self.writes += 1
        self.sent.append(intent.client_order_id)
        if self._reject.take():
            raise self._reject_error or InvalidOrderError("Order would immediately trigger.")
        self._check(intent)
        order = self._book(
            intent.client_order_id, intent.symbol, intent.side, intent.amount, intent.reduce_only
        )
        if not self._rest.take():
            self._trade(order.symbol, order.side, order.amount, order)
            order.status = OrderStatus.FILLED
        if self._lose.take():
            raise self._lost_error or VenueTimeout(
                f"{intent.client_order_id}: no answer in time (the order was booked)"
            )
        return self._result(order)

    async def find_order(self, client_order_id: str, symbol: str) -> OrderResult | None:
        """Look an order up by client id; None when the exchange does not (or no longer) know it."""
        if self._fail.take():
            raise VenueUnavailable("503 Service Unavailable")
        if self._miss.take():
            return None
        order = self.orders.get(client_order_id)
        if order is None or order.symbol != symbol:
            return None
        return self._result(order)

    async def cancel_order(
        self, client_order_id: str, symbol: str, venue_order_id: str | None
    ) -> None:
        """Cancel a resting order; a settled or unknown one is left as it is."""
        self.writes += 1
        order = self.orders.get(client_order_id)
        if order is None or order.status is not OrderStatus.OPEN:
            return
        order.status = OrderStatus.PARTIALLY_FILLED if order.filled else OrderStatus.CANCELED

    async def fetch_fills(
        self, symbols: Sequence[str], since: Mapping[str, datetime]
    ) -> list[Fill]:
        """Return the trades of ``symbols`` from each one's ``since`` (inclusive), oldest first."""
        wanted = set(symbols)
        found = [
            t
            for t in self.trades
            if t.symbol in wanted and (t.symbol not in since or t.timestamp >= since[t.symbol])
        ]
        return sorted(found, key=lambda t: (t.timestamp, int(t.trade_id)))

    async def fetch_funding(self, since: datetime | None) -> list[FundingPayment]:
        """Return funding payments after ``since``, oldest first."""
        return [p for p in self.funding if since is None or p.timestamp > since]

    async def close(self) -> None:
        """Nothing to release."""


# -- wiring shared by the tests over the fake venue ------------------------------------------
BTC, ETH = perp_symbol("BTC"), perp_symbol("ETH")
NOW = datetime(2024, 1, 5, tzinfo=UTC)
PRICES = {"BTC": Decimal(40000), "ETH": Decimal(2000)}
HOLDINGS = {"BTC": Decimal(1), "ETH": Decimal(10)}
MARKETS = {BTC: fake_market("BTC", Decimal("0.001")), ETH: fake_market("ETH", Decimal("0.01"))}


def fake_venue(clock: Clock, **options: Any) -> FakeVenue:
    """Return an account holding 1 BTC and 10 ETH, with perps of both listed and 100k USDT."""
    return FakeVenue(clock, PRICES, HOLDINGS, markets=MARKETS, **options)


def fake_config(tmp_path: Path, **risk: Any) -> Config:
    """Return a live-like config: static 40 %, 5 % deadband, isolated 2x, its own kill switch."""
    return parse_config(
        paper_config_dict(
            exchange={"name": "binanceusdm", "account": "fake"},
            strategy={"name": "static", "ratio": 0.4},
            risk={
                "leverage": 2,
                "max_leverage": 2,
                "kill_switch_file": str(tmp_path / "halt"),
                "order_settle_timeout": "60s",
                "confirm_unexplained": "60s",
                **risk,
            },
            journal={"url": f"sqlite:///{tmp_path / 'j.sqlite'}"},
        )
    )


_EMPTY_JOURNAL: list[Path] = []
_TEMPLATES = tempfile.TemporaryDirectory(prefix="fake-venue-journal-")


def open_journal(directory: Path) -> Journal:
    """Open ``directory/j.sqlite``: a fresh journal, copied from one migrated once per process.

    `Journal.open` migrates an empty file in about 0.15 s; opening a copy of an already migrated
    empty journal takes a few milliseconds and runs the same code (migrations find nothing to do).
    """
    if not _EMPTY_JOURNAL:
        template = Path(_TEMPLATES.name) / "empty.sqlite"
        Journal.open(f"sqlite:///{template}").close()
        _EMPTY_JOURNAL.append(template)
    path = directory / "j.sqlite"
    shutil.copyfile(_EMPTY_JOURNAL[0], path)
    path.chmod(0o600)
    return Journal.open(f"sqlite:///{path}")


PLANNED_RID = "20240105T000000-fake-fake"
"""The rebalance `open_planned_journal` records, for orders executed outside a cycle."""


def open_planned_journal(directory: Path) -> Journal:
    """Open a fresh journal (`open_journal`) holding one planned rebalance, `PLANNED_RID`."""
    journal = open_journal(directory)
    journal.record_rebalance(
        RebalanceRecord(
            PLANNED_RID,
            NOW,
            RunMode.LIVE,
            "fake",
            "static",
            {},
            {},
            "test",
            RebalanceStatus.PLANNED,
        )
    )
    return journal

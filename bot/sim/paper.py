"""`PaperVenue`: the `Venue` port over the simulation core and replayed (or simulated) candles.

Time comes from the clock. Before answering anything the venue catches up with it: every bar that
closed since the last call is applied in order (liquidation check against the bar's mark range,
then the bar's close becomes the price) and every funding event due is settled. Spot holdings are
the configured amounts; the futures wallet holds only the configured stablecoin collateral.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from bot.core.clock import Clock, from_ms, to_ms
from bot.core.domain import (
    ZERO,
    Bracket,
    Fill,
    FundingPayment,
    Holding,
    Market,
    OrderIntent,
    OrderResult,
    Position,
    Quote,
    Wallets,
    base_of,
    perp_symbol,
)
from bot.core.errors import InsufficientMargin, InvalidOrderError, RejectedError
from bot.margin.binance import bundled_brackets
from bot.margin.venues import LiquidationMethod
from bot.market.series import BarSeries, FundingEvent, MarketData
from bot.sim.contracts import paper_market
from bot.sim.exchange import MARGIN_INSUFFICIENT, SimExchange, SimOrder, SimRejected, SimTrade

DAY_MS = 86_400_000


def day_quote_volume(series: BarSeries, now_ms: int) -> Decimal | None:
    """Return volume × close summed over the bars closed in the 24 hours up to ``now_ms``.

    None when no bar closed in that time: the volume is unknown, not zero.
    """
    bars = series.closed_between(now_ms - DAY_MS, now_ms)
    return sum((bar.volume * bar.close for bar in bars), ZERO) if bars else None


class _Timed(Protocol):
    @property
    def time(self) -> datetime: ...


class _TimeIndex:
    """Running maximum of the times of an append-only list, to skip its old items at once."""

    def __init__(self) -> None:
        self._peaks: list[datetime] = []

    def start(self, items: Sequence[_Timed], since: datetime | None) -> int:
        """Return an index before which no item is later than ``since``."""
        peaks = self._peaks
        for item in items[len(peaks) :]:
            peaks.append(item.time if not peaks or item.time > peaks[-1] else peaks[-1])
        return 0 if since is None else bisect_right(peaks, since)


@dataclass(frozen=True, slots=True)
class HedgeAccount:
    """The hedge's result read off the paper venue: wallet, margins and open P&L."""

    equity: Decimal
    unrealized: Decimal
    open_short_notional: Decimal


class PaperVenue:
    """A simulated exchange account driven by market data and a clock."""

    def __init__(
        self,
        data: MarketData,
        clock: Clock,
        holdings: Mapping[str, Decimal],
        collateral: Decimal,
        taker_fee: Decimal,
        slippage_bps: Decimal,
        quote: str = "USDT",
        name: str = "paper",
        contracts: str = "binance",
    ) -> None:
        """Open a paper account with spot ``holdings`` and ``collateral`` in the futures wallet.

        Its perps follow the order rules ``contracts`` (``binance`` or ``bybit``) published
        (`bot.sim.contracts`).
        """
        self.name = name
        self.data = data
        self.clock = clock
        self.quote = quote
        self.holdings = dict(holdings)
        start_ms = to_ms(clock.now())
        markets = {}
        for asset, series in data.perp.items():
            bar = series.last_closed(start_ms) or (series.bars[0] if series.bars else None)
            if bar is None:  # no bar in the loaded period: nothing to list, nothing to trade
                continue
            market = paper_market(asset, bar.close, quote, contracts)
            markets[market.symbol] = market
        self.exchange = SimExchange(
            markets=markets,
            brackets=bundled_brackets,
            wallet=collateral,
            taker_fee=taker_fee,
            slippage_bps=slippage_bps,
        )
        self._last_ms = start_ms
        self._last: dict[str, Decimal] = {}
        self._mark: dict[str, Decimal] = {}
        self._seen_ms: dict[str, int] = {}
        self._trade_times = _TimeIndex()
        self._funding_times = _TimeIndex()
        self._trades_by_order: dict[str, list[SimTrade]] = {}
        self._indexed_trades = 0
        self.writes = 0
        """Orders, cancels, margin moves and leg settings asked of the simulation so far."""
        self._prime(start_ms)

    # -- time ------------------------------------------------------------------------------
    def _prime(self, t_ms: int) -> None:
        for asset, series in self.data.perp.items():
            bar = series.last_closed(t_ms)
            if bar is None:
                continue
            symbol = perp_symbol(asset, self.quote)
            mark_series = self.data.mark.get(asset)
            mark_bar = mark_series.last_closed(t_ms) if mark_series else None
            self._last[symbol] = bar.close
            self._mark[symbol] = mark_bar.close if mark_bar else bar.close
            self._seen_ms[symbol] = bar.open_ms + series.timeframe_ms

    def catch_up(self) -> None:
        """Apply every bar close and funding event between the last call and the clock's now."""
        now_ms = to_ms(self.clock.now())
        if now_ms <= self._last_ms:
            return
        for asset in self.data.perp:
            self._replay_asset(asset, now_ms)
        self._last_ms = now_ms

    def _replay_asset(self, asset: str, now_ms: int) -> None:
        symbol = perp_symbol(asset, self.quote)
        series = self.data.perp[asset]
        mark_series = self.data.mark.get(asset)
        funding = self.data.funding.get(asset)
        # Funding events are settled in time order between the bars, each at the mark known at
        # its time: those strictly before a bar's close before it, those at its close after it,
        # and those after the last close (a gap in the candles, or a call between two closes)
        # at the end, so that none is lost or seen twice whatever the catch-up cadence.
        events = list(funding.between(self._last_ms, now_ms)) if funding is not None else []
        pending = 0
        for bar in series.closed_between(self._last_ms, now_ms):
            close_ms = bar.open_ms + series.timeframe_ms
            while pending < len(events) and events[pending].time_ms < close_ms:
                self._settle_funding(symbol, events[pending])
                pending += 1
            mark_bar = mark_series.last_closed(close_ms) if mark_series else None
            if mark_bar is not None and mark_bar.open_ms != bar.open_ms:
                mark_bar = None
            high = mark_bar.high if mark_bar else bar.high
            low = mark_bar.low if mark_bar else bar.low
            self.exchange.check_liquidation(symbol, high, low, from_ms(close_ms))
            self._last[symbol] = bar.close
            self._mark[symbol] = mark_bar.close if mark_bar else bar.close
            self._seen_ms[symbol] = close_ms
            while pending < len(events) and events[pending].time_ms <= close_ms:
                self._settle_funding(symbol, events[pending])
                pending += 1
        for event in events[pending:]:
            self._settle_funding(symbol, event)

    def _settle_funding(self, symbol: str, event: FundingEvent) -> None:
        mark = self._mark.get(symbol)
        if mark is not None:  # no price seen yet: no position can be open
            self.exchange.apply_funding(symbol, event.rate, mark, from_ms(event.time_ms))

    def hedge_account(self) -> HedgeAccount:
        """Return the futures account's equity and open P&L at the current marks."""
        exchange = self.exchange
        unrealized = margin = notional = ZERO
        for symbol, pos in exchange.positions.items():
            if pos.contracts == 0:
                continue
            mark = self.mark_price(symbol)
            size = exchange.markets[symbol].contract_size
            unrealized += pos.contracts * size * (mark - pos.entry_price)
            margin += pos.isolated_margin
            notional += -pos.contracts * size * mark
        return HedgeAccount(exchange.wallet + margin + unrealized, unrealized, notional)

    def mark_price(self, symbol: str) -> Decimal:
        """Return the current mark price of a perp."""
        self.catch_up()
        return self._mark[symbol]

    # -- Venue port ------------------------------------------------------------------------
    @property
    def liquidation_method(self) -> LiquidationMethod:
        """Return the simulation's liquidation formula."""
        return self.exchange.liquidation_method

    @property
    def bar_seconds(self) -> int:
        """Return the length of the replayed candles `fetch_closes` reads."""
        return self.data.timeframe_ms // 1000

    async def load_markets(self, symbols: Iterable[str]) -> dict[str, Market]:
        """Return the paper rules of the requested perps that the data lists."""
        markets = self.exchange.markets
        return {s: markets[s] for s in symbols if s in markets}

    async def fetch_wallets(self) -> Wallets:
        """Return the configured spot holdings and the futures wallet's free USDT."""
        self.catch_up()
        holdings = tuple(Holding(a, n) for a, n in sorted(self.holdings.items()))
        return Wallets(holdings, self.exchange.wallet)

    async def fetch_collateral(self) -> Decimal:
        """Return the futures wallet's free USDT."""
        self.catch_up()
        return self.exchange.wallet

    async def fetch_quotes(self, symbols: Iterable[str]) -> dict[str, Quote]:
        """Return the last closed bar of each spot or perp symbol as its quote.

        Each quote carries its series' 24h quote volume (`day_quote_volume`).
        """
        self.catch_up()
        now_ms = to_ms(self.clock.now())
        quotes: dict[str, Quote] = {}
        for symbol in symbols:
            asset = base_of(symbol)
            if ":" in symbol:
                if symbol in self._last:
                    quotes[symbol] = Quote(
                        symbol,
                        self._last[symbol],
                        from_ms(self._seen_ms[symbol]),
                        self._mark[symbol],
                        day_quote_volume(self.data.perp[asset], now_ms),
                    )
                continue
            series = self.data.spot.get(asset)
            bar = series.last_closed(now_ms) if series else None
            if series is not None and bar is not None:
                quotes[symbol] = Quote(
                    symbol,
                    bar.close,
                    from_ms(bar.open_ms + series.timeframe_ms),
                    quote_volume=day_quote_volume(series, now_ms),
                )
        return quotes

    async def fetch_closes(self, assets: Iterable[str], count: int) -> dict[str, list[Decimal]]:
        """Return up to ``count`` recent spot closes per asset, oldest first."""
        now_ms = to_ms(self.clock.now())
        closes: dict[str, list[Decimal]] = {}
        for asset in assets:
            series = self.data.spot.get(asset)
            if series is not None:
                closes[asset] = [bar.close for bar in series.closes_until(now_ms, count)]
        return closes

    async def fetch_funding_rates(self, symbols: Iterable[str]) -> dict[str, Decimal]:
        """Return the last settled funding rate of each perp (never a future one)."""
        now_ms = to_ms(self.clock.now())
        rates: dict[str, Decimal] = {}
        for symbol in symbols:
            series = self.data.funding.get(base_of(symbol))
            event = series.last_before(now_ms) if series is not None else None
            if event is not None:
                rates[symbol] = event.rate
        return rates

    async def fetch_positions(self, symbols: Iterable[str]) -> dict[str, Position]:
        """Return the open positions among ``symbols``."""
        self.catch_up()
        positions: dict[str, Position] = {}
        for symbol in symbols:
            sim = self.exchange.positions.get(symbol)
            if sim is None or sim.contracts == 0:
                continue
            positions[symbol] = Position(
                symbol=symbol,
                side=sim.side,
                contracts=abs(sim.contracts),
                entry_price=sim.entry_price,
                isolated_margin=sim.isolated_margin,
                leverage=self.exchange.leverage_of(symbol),
                contract_size=self.exchange.markets[symbol].contract_size,
                liquidation_price=self.exchange.liquidation_price(symbol),
                margin_mode="isolated" if symbol in self.exchange.isolated else "cross",
            )
        return positions

    async def setup_leg(self, symbol: str, leverage: int) -> None:
        """Set isolated margin and leverage; already isolated is success."""
        self.writes += 1
        try:
            self.exchange.set_isolated(symbol)
        except SimRejected as rejection:
            if rejection.code != -4046:
                raise InvalidOrderError(str(rejection)) from None
        self.exchange.set_leverage(symbol, leverage)

    async def add_margin(self, symbol: str, amount: Decimal) -> None:
        """Move collateral into ``symbol``'s isolated margin."""
        self.writes += 1
        self.catch_up()
        try:
            self.exchange.add_margin(symbol, amount)
        except SimRejected as rejection:
            raise InsufficientMargin(str(rejection)) from None

    async def fetch_brackets(self, symbols: Iterable[str]) -> dict[str, tuple[Bracket, ...]]:
        """Return the bundled Binance brackets of each symbol."""
        return {symbol: bundled_brackets(symbol) for symbol in symbols}

    async def fetch_adl_ranks(self, symbols: Iterable[str]) -> dict[str, int | None]:
        """Return no ADL rank (None) for each symbol: the simulation never deleverages."""
        return dict.fromkeys(symbols)

    async def place_order(self, intent: OrderIntent) -> OrderResult:
        """Fill a market order at the last price plus slippage, with the taker fee."""
        self.writes += 1
        self.catch_up()
        if intent.symbol not in self._last:
            raise InvalidOrderError(f"no price for {intent.symbol} at {self.clock.now():%F %R}")
        try:
            order = self.exchange.market_order(
                intent.symbol,
                intent.side,
                intent.amount,
                client_order_id=intent.client_order_id,
                reduce_only=intent.reduce_only,
                price=self._last[intent.symbol],
                time=self.clock.now(),
            )
        except SimRejected as rejection:
            if rejection.code == MARGIN_INSUFFICIENT:
                raise InsufficientMargin(str(rejection)) from None
            raise RejectedError(str(rejection)) from None
        return self._result(order)

    async def find_order(self, client_order_id: str, symbol: str) -> OrderResult | None:
        """Return the order with this client id, or None."""
        order = self.exchange.orders.get(client_order_id)
        return self._result(order) if order is not None else None

    async def cancel_order(
        self, client_order_id: str, symbol: str, venue_order_id: str | None
    ) -> None:
        """Orders never rest in the simulation: there is nothing to cancel."""
        self.writes += 1

    async def fetch_fills(
        self, symbols: Sequence[str], since: Mapping[str, datetime]
    ) -> list[Fill]:
        """Return fills of ``symbols`` after each one's ``since`` (liquidations included)."""
        self.catch_up()
        wanted = set(symbols)
        earliest = None if wanted - set(since) else min((since[s] for s in wanted), default=None)
        trades = self.exchange.trades
        return [
            self._fill(trade)
            for trade in trades[self._trade_times.start(trades, earliest) :]
            if trade.symbol in wanted
            and (trade.symbol not in since or trade.time > since[trade.symbol])
        ]

    async def fetch_funding(self, since: datetime | None) -> list[FundingPayment]:
        """Return funding settlements after ``since``."""
        self.catch_up()
        payments = self.exchange.funding
        return [
            FundingPayment(
                venue=self.name,
                payment_id=payment.payment_id,
                symbol=payment.symbol,
                timestamp=payment.time,
                rate=payment.rate,
                position_contracts=payment.position_contracts,
                amount=payment.amount,
                currency=self.quote,
            )
            for payment in payments[self._funding_times.start(payments, since) :]
            if since is None or payment.time > since
        ]

    async def close(self) -> None:
        """Nothing to release."""

    # -- conversions -----------------------------------------------------------------------
    def _fill(self, trade: SimTrade) -> Fill:
        return Fill(
            venue=self.name,
            trade_id=trade.trade_id,
            symbol=trade.symbol,
            side=trade.side,
            amount=trade.amount,
            price=trade.price,
            fee=trade.fee,
            fee_currency=self.quote,
            realized_pnl=trade.realized_pnl,
            timestamp=trade.time,
            client_order_id=trade.client_order_id,
            venue_order_id=trade.order_id,
            forced=trade.forced,
        )

    def _trades_of(self, order_id: str) -> list[SimTrade]:
        trades = self.exchange.trades
        for trade in trades[self._indexed_trades :]:
            self._trades_by_order.setdefault(trade.order_id, []).append(trade)
        self._indexed_trades = len(trades)
        return self._trades_by_order.get(order_id, [])

    def _result(self, order: SimOrder) -> OrderResult:
        fills = tuple(self._fill(t) for t in self._trades_of(order.order_id))
        return OrderResult(
            client_order_id=order.client_order_id,
            venue_order_id=order.order_id,
            symbol=order.symbol,
            side=order.side,
            amount=order.amount,
            filled=order.filled,
            average_price=order.average_price,
            status=order.status,
            reduce_only=order.reduce_only,
            timestamp=order.time,
            fills=fills,
        )

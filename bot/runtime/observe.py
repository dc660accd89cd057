"""Observe: what the venue shows at the start of a cycle (holdings, quotes, positions, history)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from bot.core.clock import Clock, from_ms
from bot.core.domain import Market, Position, Quote, base_of, perp_symbol, spot_symbol
from bot.core.limits import stale_quotes
from bot.settings.config import Config
from bot.venue.base import Venue
from bot.venue.streams import MarkEvent
from strategies.base import HoldingView, StrategyNeeds
from strategies.baskets import (
    BasketRules,
    LegWeight,
    Universe,
    history_bars,
    possible_leg_assets,
)

STABLECOINS = frozenset({"USDT", "USDC", "FDUSD", "BUSD", "DAI", "TUSD", "USDP"})
"""Holdings that need no insurance: they are not valued for the hedge."""


@dataclass(frozen=True, slots=True)
class Observation:
    """What the venue showed at the start of a cycle."""

    time: datetime
    holdings: tuple[HoldingView, ...]
    quotes: Mapping[str, Quote]
    positions: Mapping[str, Position]
    collateral: Decimal
    history: Mapping[str, Sequence[Decimal]]
    history_interval_seconds: int
    """Seconds per bar of ``history``: the venue's candles, whatever the rebalance interval."""
    stale: tuple[str, ...]
    volumes: Mapping[str, Decimal] = field(default_factory=dict)
    """Perp asset -> 24h quote volume, from the perps' quotes that carry one."""
    funding_rates: Mapping[str, Decimal] = field(default_factory=dict)
    """Perp symbol -> current funding rate, fetched only for strategies that use it."""
    positions_read: tuple[datetime, int] | None = None
    """When ``positions`` were asked for, and the venue's `Venue.writes` count then."""


def with_position_marks(
    quotes: Mapping[str, Quote], positions: Mapping[str, Position]
) -> dict[str, Quote]:
    """Return ``quotes`` with each held leg's mark taken from its position where the quote has none.

    A ticker may carry only the last trade price (Binance's 24h ticker); the position read carries
    the mark the exchange liquidates by, which is what the margin guard must measure against.
    """
    marked = dict(quotes)
    for symbol, position in positions.items():
        quote = marked.get(symbol)
        if quote is not None and quote.mark is None and position.mark_price is not None:
            marked[symbol] = replace(quote, mark=position.mark_price)
    return marked


class Observer:
    """Reads one account's state from its venue, loading the markets of every possible leg.

    ``held_legs`` names the legs the journal says we hold: a new process loads their markets
    too, so that a short whose holding is gone is still seen and closed.
    """

    def __init__(
        self,
        config: Config,
        venue: Venue,
        clock: Clock,
        needs: StrategyNeeds,
        held_legs: Callable[[], set[str]],
    ) -> None:
        """Wire the parts; nothing is asked of the venue until `observe`."""
        self.config = config
        self.venue = venue
        self.clock = clock
        self.needs = needs
        self.held_legs = held_legs
        self.markets: dict[str, Market] = {}
        self.proxies = {
            asset: [LegWeight(leg.asset, leg.weight) for leg in legs]
            for asset, legs in config.hedge.proxies.items()
        }
        self.baskets: BasketRules = config.hedge.baskets.rules(venue.bar_seconds)
        """Basket rules, their lookbacks counted in the venue's history bars."""
        self.stream_prices: Callable[[], Mapping[str, MarkEvent]] | None = None
        """Fresh marks from the exchange's streams (set by `Engine.run` with a reactor)."""

    def _marked(
        self, quotes: Mapping[str, Quote], positions: Mapping[str, Position]
    ) -> dict[str, Quote]:
        """Return ``quotes`` with each perp's freshest mark (what a cycle guards and plans with).

        Streamed first (REST may lag a squeeze), else the ticker's own, else its position read's.
        """
        marked = with_position_marks(quotes, positions)
        for symbol, event in self._streamed().items():
            if symbol in marked:
                marked[symbol] = replace(marked[symbol], mark=event.mark)
        return marked

    def _streamed(self) -> Mapping[str, MarkEvent]:
        return self.stream_prices() if self.stream_prices is not None else {}

    def streamed_quotes(self, symbols: Sequence[str]) -> dict[str, Quote] | None:
        """Return quotes of ``symbols`` from the streams alone; None unless they price them all.

        A perp is priced by its streamed mark; a spot asset by its perp's streamed index (the
        spot price across exchanges that the mark is built on), so spot and perp are still two
        prices to check against each other. A symbol without a fresh streamed mark and index,
        or legs chosen by 24h volume (``hedge.baskets.min_volume``: the streams carry none),
        leave it to REST.
        """
        streamed = self._streamed()
        if not streamed or self.baskets.min_volume is not None:
            return None
        quote = self.config.hedge.quote
        quotes = {}
        for symbol in symbols:
            perp = symbol if ":" in symbol else perp_symbol(base_of(symbol), quote)
            event = streamed.get(perp)
            if event is None or event.index is None or event.time_ms is None:
                return None
            price = event.mark if ":" in symbol else event.index
            mark = event.mark if ":" in symbol else None
            quotes[symbol] = Quote(symbol, price, from_ms(event.time_ms), mark)
        return quotes

    async def observe(self) -> Observation:
        """Read holdings, prices, positions, collateral and the history the strategy needs."""
        quote = self.config.hedge.quote
        wallets = await self.venue.fetch_wallets()
        raw = [h for h in wallets.holdings if h.asset not in STABLECOINS]
        assets = [h.asset for h in raw if h.amount > 0]
        await self._ensure_markets(assets)
        spot = [spot_symbol(a, quote) for a in assets]
        position_symbols = sorted(self.markets)  # every possible leg is a loaded market
        # Each leg's own spot price is read too (one batched call): its perp is checked against it.
        leg_spots = [spot_symbol(base_of(s), quote) for s in position_symbols]
        priced = sorted(set(spot + leg_spots + position_symbols))
        quotes = self.streamed_quotes(priced) or await self.venue.fetch_quotes(priced)
        volumes = self._volumes(quotes)  # the liquidity the legs are chosen by
        perp_assets = {m.base for m in self.markets.values()}
        universe = Universe(perp_assets, self.proxies, self.baskets, volumes=volumes)
        legs = self._leg_symbols(assets, universe)
        positions_read = (self.clock.now(), self.venue.writes)
        positions = await self.venue.fetch_positions(position_symbols)
        quotes = self._marked(quotes, positions)
        now = self.clock.now()
        stale = stale_quotes(quotes, spot + legs, now, self.config.risk.max_price_age_seconds)
        holdings = tuple(
            HoldingView(h.asset, h.amount, quotes[spot_symbol(h.asset, quote)].price)
            for h in raw
            if h.amount > 0 and spot_symbol(h.asset, quote) in quotes
        )
        bars = max(self.needs.history_bars, history_bars(assets, universe))
        extra = {self.markets[s].base for s in legs} | set(self.needs.history_assets)
        wanted = sorted(set(assets) | extra)
        history = await self.venue.fetch_closes(wanted, bars) if bars else {}
        uses_rates = self.needs.uses_funding_rates
        rates = await self.venue.fetch_funding_rates(legs) if uses_rates else {}
        return Observation(
            now,
            holdings,
            quotes,
            positions,
            wallets.collateral,
            history,
            self.venue.bar_seconds,
            tuple(stale),
            volumes,
            rates,
            positions_read,
        )

    async def _ensure_markets(self, assets: Sequence[str]) -> None:
        """Load the markets of the legs the holdings may need and of every leg we hold."""
        quote = self.config.hedge.quote
        allowed = self.config.hedge.perps
        wanted = {perp_symbol(a, quote) for a in assets if allowed is None or a in allowed}
        if not self.markets:  # a new process: a short whose holding is gone must still close
            wanted.update(self.held_legs())
        for legs in self.proxies.values():
            wanted.update(perp_symbol(leg.asset, quote) for leg in legs)
        auto = self.baskets.auto_assets()
        wanted.update(perp_symbol(a, quote) for a in auto if allowed is None or a in allowed)
        missing = wanted - set(self.markets)
        if missing:
            self.markets.update(await self.venue.load_markets(sorted(missing)))

    def _leg_symbols(self, assets: Sequence[str], universe: Universe) -> list[str]:
        symbols = {
            perp_symbol(leg, self.config.hedge.quote)
            for asset in assets
            for leg in possible_leg_assets(asset, universe)
        }
        return sorted(symbols & set(self.markets))

    def _volumes(self, quotes: Mapping[str, Quote]) -> dict[str, Decimal]:
        """Return the 24h quote volume of each loaded perp whose quote carries one, by asset."""
        return {
            market.base: quote.quote_volume
            for symbol, market in self.markets.items()
            if (quote := quotes.get(symbol)) is not None and quote.quote_volume is not None
        }

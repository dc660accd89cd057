"""Public market data of both faces, from the venue's candles: only bars closed by the replay now.

The futures face serves the perp candles (last price), the mark candles and funding (the current
rate and the settled history with the mark each was charged at); the spot face serves the spot
candles. Nothing after the replay clock's now is ever visible.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from bot.core.clock import to_ms
from bot.emulator import codec
from bot.emulator.account import Account
from bot.emulator.auth import wall_ms
from bot.emulator.codec import JsonDict
from bot.emulator.errors import BinanceError
from bot.emulator.params import Params, integer, limit, required
from bot.market.history import timeframe_ms
from bot.market.series import Bar, BarSeries
from bot.sim.contracts import generated_market

DAY_MS = 86_400_000


def last_day(series: BarSeries, now_ms: int) -> Sequence[Bar]:
    """Return the bars closed in the 24 hours up to ``now_ms`` (at least the last closed one)."""
    count = max(1, DAY_MS // series.timeframe_ms)
    return series.closes_until(now_ms, count)


def ticker(symbol_id: str, series: BarSeries | None, now_ms: int) -> JsonDict | None:
    """Return the 24-hour ticker of one symbol, or None before its first close."""
    if series is None:
        return None
    bars = last_day(series, now_ms)
    if not bars:
        return None
    return codec.ticker_24hr(symbol_id, bars, bars[-1].open_ms + series.timeframe_ms)


def price(symbol_id: str, series: BarSeries | None, now_ms: int) -> JsonDict | None:
    """Return the last close of one symbol as a ``ticker/price`` entry, or None."""
    bar = series.last_closed(now_ms) if series else None
    if series is None or bar is None:
        return None
    return {
        "symbol": symbol_id,
        "price": codec.plain(bar.close),
        "time": bar.open_ms + series.timeframe_ms,
    }


def one_or_all(
    params: Params, ids: Sequence[str], entry: dict[str, JsonDict | None]
) -> JsonDict | list[JsonDict]:
    """Answer one symbol as an object (``symbol``), several as a list (``symbols``), else all."""
    if "symbol" in params:
        found = entry.get(params["symbol"])
        if found is None:
            raise BinanceError(-1121, "Invalid symbol.")
        return found
    wanted = ids
    if "symbols" in params:
        wanted = [s.strip().strip('"') for s in params["symbols"].strip("[]").split(",")]
    return [found for sid in wanted if (found := entry.get(sid)) is not None]


def klines(params: Params, series: BarSeries | None, now_ms: int, maximum: int) -> list[object]:
    """Answer ``klines``: closed bars of the data's own timeframe, paged by time."""
    interval = required(params, "interval")
    try:
        step = timeframe_ms(interval)
    except ValueError:
        raise BinanceError(-1120, "Invalid interval.") from None
    if series is None:
        raise BinanceError(-1121, "Invalid symbol.")
    if step != series.timeframe_ms:
        raise BinanceError(-1120, f"Invalid interval: the emulator serves {interval} only.")
    count = limit(params, 500, maximum)
    chosen = series.window(
        now_ms, integer(params, "startTime"), integer(params, "endTime") or None, count
    )
    return [codec.kline(bar, step) for bar in chosen]


class FuturesMarketData:
    """Public /fapi endpoints of one account's venue."""

    def __init__(self, account: Account) -> None:
        """Serve the markets and candles of ``account``."""
        self.account = account

    async def ping(self, params: Params) -> JsonDict:
        """Answer /fapi/v1/ping."""
        return {}

    async def time(self, params: Params) -> JsonDict:
        """Answer /fapi/v1/time with the wall clock that signatures are checked against."""
        return {"serverTime": wall_ms()}

    async def exchange_info(self, params: Params) -> JsonDict:
        """Answer /fapi/v1/exchangeInfo from the venue's markets."""
        markets = self.account.sim.markets
        return {
            "timezone": "UTC",
            "serverTime": wall_ms(),
            "futuresType": "U_MARGINED",
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": 2400,
                },
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            ],
            "exchangeFilters": [],
            "assets": [
                {"asset": self.account.quote, "marginAvailable": True, "autoAssetExchange": "0"}
            ],
            "symbols": [codec.futures_symbol(markets[s]) for s in sorted(markets)],
        }

    def _series(self, symbol_id: str) -> BarSeries | None:
        return self.account.perp_series(self.account.symbols[symbol_id])

    async def ticker_24hr(self, params: Params) -> JsonDict | list[JsonDict]:
        """Answer /fapi/v1/ticker/24hr (all symbols in one answer without ``symbol``)."""
        now = self.account.now_ms()
        ids = sorted(self.account.symbols)
        return one_or_all(params, ids, {s: ticker(s, self._series(s), now) for s in ids})

    async def ticker_price(self, params: Params) -> JsonDict | list[JsonDict]:
        """Answer /fapi/v1/ticker/price and /fapi/v2/ticker/price."""
        now = self.account.now_ms()
        ids = sorted(self.account.symbols)
        return one_or_all(params, ids, {s: price(s, self._series(s), now) for s in ids})

    async def premium_index(self, params: Params) -> JsonDict | list[JsonDict]:
        """Answer /fapi/v1/premiumIndex: mark, index (spot close), last settled funding rate."""
        ids = sorted(self.account.symbols)
        return one_or_all(params, ids, {s: self.premium(s) for s in ids})

    def premium(self, symbol_id: str) -> JsonDict:
        """Return the premium index entry of one symbol: mark, index, funding rate and time."""
        account = self.account
        now = account.now_ms()
        symbol = account.symbols[symbol_id]
        asset = account.sim.markets[symbol].base
        mark = account.mark_price(symbol)
        spot = account.venue.data.spot.get(asset)
        spot_bar = spot.last_closed(now) if spot else None
        funding = account.venue.data.funding.get(asset)
        last = funding.last_before(now) if funding else None
        upcoming = funding.between(now, now + 3 * DAY_MS) if funding else ()
        next_ms = upcoming[0].time_ms if upcoming else now - now % 28_800_000 + 28_800_000
        return {
            "symbol": symbol_id,
            "markPrice": codec.plain(mark),
            "indexPrice": codec.plain(spot_bar.close if spot_bar else mark),
            "estimatedSettlePrice": codec.plain(mark),
            "lastFundingRate": codec.plain(last.rate) if last else "0",
            "interestRate": "0.00010000",
            "nextFundingTime": next_ms,
            "time": now,
        }

    async def funding_rate(self, params: Params) -> list[JsonDict]:
        """Answer /fapi/v1/fundingRate: settled rates with the mark price each was charged at.

        One symbol or all; ascending; ``startTime``/``endTime`` inclusive; ``limit`` 1..1000
        (100): from ``startTime`` when given, else the latest. ``markPrice`` is the mark the
        simulation settled at (Binance: "mark price associated with a particular funding fee").
        """
        account = self.account
        ids = sorted(account.symbols)
        if "symbol" in params:
            account.symbol(params["symbol"])
            ids = [params["symbol"]]
        now = account.now_ms()
        start = integer(params, "startTime")
        end = integer(params, "endTime")
        until = min(end, now) if end is not None else now
        charged = {(f.symbol, to_ms(f.time)): f.mark_price for f in account.sim.funding}
        rows: list[tuple[int, str, JsonDict]] = []
        for symbol_id in ids:
            symbol = account.symbols[symbol_id]
            series = account.venue.data.funding.get(account.sim.markets[symbol].base)
            if series is None:
                continue
            for event in series.between(start - 1 if start is not None else -1, until):
                mark = charged.get((symbol, event.time_ms)) or self._mark_at(symbol, event.time_ms)
                body: JsonDict = {
                    "symbol": symbol_id,
                    "fundingTime": event.time_ms,
                    "fundingRate": codec.plain(event.rate),
                    "markPrice": codec.plain(mark),
                }
                rows.append((event.time_ms, symbol_id, body))
        rows.sort(key=lambda row: (row[0], row[1]))
        count = limit(params, 100, 1000)
        chosen = rows[:count] if start is not None else rows[-count:]
        return [body for _, _, body in chosen]

    def _mark_at(self, symbol: str, t_ms: int) -> Decimal:
        """Return the mark the simulation holds at ``t_ms``: its last closed bar's close."""
        account = self.account
        perp = account.perp_series(symbol)
        bar = perp.last_closed(t_ms) if perp is not None else None
        if perp is None or bar is None:
            return account.mark_price(symbol)
        marks = account.venue.data.mark.get(account.sim.markets[symbol].base)
        mark_bar = marks.last_closed(bar.open_ms + perp.timeframe_ms) if marks else None
        if mark_bar is not None and mark_bar.open_ms != bar.open_ms:
            mark_bar = None
        return (mark_bar or bar).close

    async def klines(self, params: Params) -> list[object]:
        """Answer /fapi/v1/klines from the perp candles."""
        symbol_id = required(params, "symbol")
        self.account.symbol(symbol_id)
        return klines(params, self._series(symbol_id), self.account.now_ms(), 1500)


def spot_tick(asset: str, series: BarSeries) -> Decimal:
    """Return a Binance-like price tick for a spot pair, scaled to its first close."""
    return generated_market(asset, series.bars[0].close).price_tick if series.bars else Decimal(1)

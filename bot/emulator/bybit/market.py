"""Public /v5/market endpoints: time, instruments, tickers, klines, risk limits.

Only bars closed by the replay clock's now are visible, as on the Binance face. Unlike Bybit, the
kline answer has no in-progress candle (the emulator does not know the bar before it closes).
"""

from __future__ import annotations

import time

from bot.core.domain import ZERO
from bot.emulator.account import Account
from bot.emulator.bybit import codec
from bot.emulator.bybit.codec import JsonDict
from bot.emulator.bybit.errors import (
    NOT_SUPPORTED_SYMBOLS,
    Params,
    category,
    integer,
    limit,
    params_error,
    required,
)
from bot.emulator.bybit.state import BybitState, page
from bot.emulator.marketdata import DAY_MS, last_day, spot_tick
from bot.market.series import BarSeries

FUNDING_PERIOD_MS = 8 * 3_600_000
INTERVALS_MS = {"D": DAY_MS, "W": 7 * DAY_MS}


class BybitMarket:
    """Public market data of one account's venue."""

    def __init__(self, state: BybitState) -> None:
        """Serve the markets and candles behind ``state``."""
        self.state = state
        self.account: Account = state.account

    def _spot_pairs(self) -> dict[str, tuple[str, BarSeries]]:
        quote = self.account.quote
        spot = self.account.venue.data.spot
        return {f"{asset}{quote}": (asset, series) for asset, series in sorted(spot.items())}

    async def time(self, params: Params) -> JsonDict:
        """Answer /v5/market/time with the wall clock that signatures are checked against."""
        nanos = time.time_ns()
        return {"timeSecond": str(nanos // 10**9), "timeNano": str(nanos)}

    async def instruments(self, params: Params) -> JsonDict:
        """Answer /v5/market/instruments-info (linear perpetuals or spot pairs), one page."""
        kind = category(params, "linear", "spot")
        wanted = params.get("symbol")
        rows: list[JsonDict] = []
        if params.get("status", "Trading") == "Trading":
            if kind == "linear":
                markets = self.account.sim.markets
                rows = [codec.linear_instrument(markets[s]) for s in sorted(markets)]
            else:
                quote = self.account.quote
                rows = [
                    codec.spot_instrument(asset, quote, spot_tick(asset, series))
                    for asset, series in self._spot_pairs().values()
                ]
        if wanted is not None:
            rows = [row for row in rows if row["symbol"] == wanted]
        chosen, cursor = page(params, rows, 500, 1000)
        return codec.listing(kind, chosen, cursor)

    async def tickers(self, params: Params) -> JsonDict:
        """Answer /v5/market/tickers for every symbol of the category, or one ``symbol``."""
        kind = category(params, "linear", "spot")
        now = self.account.now_ms()
        rows: dict[str, JsonDict] = {}
        if kind == "linear":
            for symbol_id in sorted(self.account.symbols):
                entry = self.linear_ticker(symbol_id, now)
                if entry is not None:
                    rows[symbol_id] = entry
        else:
            for symbol_id, (_, series) in self._spot_pairs().items():
                bars = last_day(series, now)
                if bars:
                    rows[symbol_id] = codec.spot_ticker(symbol_id, bars)
        wanted = params.get("symbol")
        if wanted is not None:
            if wanted not in rows:
                raise params_error(NOT_SUPPORTED_SYMBOLS)
            return codec.listing(kind, [rows[wanted]])
        return codec.listing(kind, list(rows.values()))

    def linear_ticker(self, symbol_id: str, now: int) -> JsonDict | None:
        """Return one linear ticker at ``now`` (ms), None before the perp's first close."""
        account = self.account
        symbol = account.symbols[symbol_id]
        series = account.perp_series(symbol)
        bars = last_day(series, now) if series is not None else ()
        if not bars:
            return None
        asset = account.sim.markets[symbol].base
        mark = account.mark_price(symbol)
        spot = account.venue.data.spot.get(asset)
        spot_bar = spot.last_closed(now) if spot else None
        funding = account.venue.data.funding.get(asset)
        last = funding.last_before(now) if funding else None
        upcoming = funding.between(now, now + 3 * DAY_MS) if funding else ()
        next_ms = (
            upcoming[0].time_ms if upcoming else now - now % FUNDING_PERIOD_MS + FUNDING_PERIOD_MS
        )
        return codec.linear_ticker(
            symbol_id,
            bars,
            mark,
            spot_bar.close if spot_bar else mark,
            last.rate if last else ZERO,
            next_ms,
        )

    async def kline(self, params: Params) -> JsonDict:
        """Answer /v5/market/kline: closed bars of the data's timeframe, newest first."""
        kind = category(params, "linear", "spot")
        symbol_id = required(params, "symbol")
        if kind == "linear":
            series = self.account.perp_series(self.state.linear_symbol(symbol_id))
        else:
            pair = self._spot_pairs().get(symbol_id)
            if pair is None:
                raise params_error(NOT_SUPPORTED_SYMBOLS)
            series = pair[1]
        interval = required(params, "interval")
        step = int(interval) * 60_000 if interval.isdigit() else INTERVALS_MS.get(interval)
        if step is None or series is None or step != series.timeframe_ms:
            raise params_error(
                f"params error: interval {interval} (the emulator serves its data's)"
            )
        chosen = series.window(
            self.account.now_ms(),
            integer(params, "start"),
            integer(params, "end") or None,
            limit(params, 200, 1000),
        )
        return {
            "category": kind,
            "symbol": symbol_id,
            "list": [codec.kline(b) for b in reversed(chosen)],
        }

    async def risk_limit(self, params: Params) -> JsonDict:
        """Answer /v5/market/risk-limit with the simulation's tiers (Bybit's reading of them)."""
        kind = category(params, "linear")
        wanted = params.get("symbol")
        rows: list[JsonDict] = []
        for symbol_id, symbol in sorted(self.account.symbols.items()):
            if wanted is None or wanted == symbol_id:
                rows += codec.risk_tiers(symbol_id, self.account.sim.brackets(symbol))
        if wanted is not None and not rows:
            raise params_error(NOT_SUPPORTED_SYMBOLS)
        return codec.listing(kind, rows)

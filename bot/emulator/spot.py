"""The spot /api/v3 subset: exchange info, account balances (the insured holdings), prices."""

from __future__ import annotations

from bot.emulator import codec
from bot.emulator.account import Account
from bot.emulator.auth import wall_ms
from bot.emulator.codec import JsonDict
from bot.emulator.marketdata import klines, one_or_all, price, spot_tick, ticker
from bot.emulator.params import Params, required
from bot.market.series import BarSeries


class Spot:
    """Spot endpoints of one emulated account: read-only, no spot trading."""

    def __init__(self, account: Account) -> None:
        """Serve ``account``'s spot balances and the venue's spot candles."""
        self.account = account

    def _pairs(self) -> dict[str, BarSeries]:
        quote = self.account.quote
        return {f"{asset}{quote}": s for asset, s in sorted(self.account.venue.data.spot.items())}

    async def ping(self, params: Params) -> JsonDict:
        """Answer /api/v3/ping."""
        return {}

    async def time(self, params: Params) -> JsonDict:
        """Answer /api/v3/time with the wall clock."""
        return {"serverTime": wall_ms()}

    async def exchange_info(self, params: Params) -> JsonDict:
        """Answer /api/v3/exchangeInfo with one pair per spot series."""
        quote = self.account.quote
        return {
            "timezone": "UTC",
            "serverTime": wall_ms(),
            "rateLimits": [],
            "exchangeFilters": [],
            "symbols": [
                codec.spot_symbol(asset, quote, spot_tick(asset, series))
                for asset, series in sorted(self.account.venue.data.spot.items())
            ],
        }

    async def account_info(self, params: Params) -> JsonDict:
        """Answer /api/v3/account: the configured spot balances, all free."""
        balances = self.account.spot_balances
        return {
            "makerCommission": 10,
            "takerCommission": 10,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": self.account.now_ms(),
            "accountType": "SPOT",
            "balances": [
                {"asset": asset, "free": codec.money(amount), "locked": "0.00000000"}
                for asset, amount in sorted(balances.items())
            ],
            "permissions": ["SPOT"],
            "uid": 1,
        }

    async def ticker_price(self, params: Params) -> JsonDict | list[JsonDict]:
        """Answer /api/v3/ticker/price (``symbol``, ``symbols`` or all)."""
        now = self.account.now_ms()
        pairs = self._pairs()
        entries = {sid: _spot_price(price(sid, s, now)) for sid, s in pairs.items()}
        return one_or_all(params, list(pairs), entries)

    async def ticker_24hr(self, params: Params) -> JsonDict | list[JsonDict]:
        """Answer /api/v3/ticker/24hr (``symbol``, ``symbols`` or all)."""
        now = self.account.now_ms()
        pairs = self._pairs()
        entries = {sid: _spot_ticker(ticker(sid, s, now)) for sid, s in pairs.items()}
        return one_or_all(params, list(pairs), entries)

    async def klines(self, params: Params) -> list[object]:
        """Answer /api/v3/klines from the spot candles."""
        series = self._pairs().get(required(params, "symbol"))
        return klines(params, series, self.account.now_ms(), 1000)


def _spot_price(entry: JsonDict | None) -> JsonDict | None:
    """Drop the futures-only ``time`` field."""
    if entry is None:
        return None
    return {"symbol": entry["symbol"], "price": entry["price"]}


def _spot_ticker(entry: JsonDict | None) -> JsonDict | None:
    """Add the spot-only fields: previous close and top of book (the last close)."""
    if entry is None:
        return None
    last = entry["lastPrice"]
    return {
        **entry,
        "prevClosePrice": entry["openPrice"],
        "bidPrice": last,
        "bidQty": "0",
        "askPrice": last,
        "askQty": "0",
    }

"""Signed /fapi account endpoints: balances, positions, leverage, margin type, income, margin.

Balances follow Binance's isolated-margin bookkeeping: ``crossWalletBalance`` and
``availableBalance`` are the simulation's free wallet, ``walletBalance`` adds every isolated
wallet, ``marginBalance`` adds the unrealised PnL and ``initialMargin`` is notional / leverage.
"""

from __future__ import annotations

from decimal import Decimal

from bot.core.domain import ZERO
from bot.emulator import codec
from bot.emulator.account import Account, PositionView
from bot.emulator.codec import JsonDict
from bot.emulator.errors import BinanceError, invalid
from bot.emulator.params import Params, decimal, flag, integer, limit, required

WEEK_MS = 7 * 86_400_000


class FuturesAccount:
    """Account-level endpoints of one emulated futures account."""

    def __init__(self, account: Account) -> None:
        """Serve ``account``."""
        self.account = account

    # -- balances --------------------------------------------------------------------------
    def _totals(self) -> dict[str, Decimal]:
        views = [v for v in self.account.positions() if v.amount != 0]
        wallet = self.account.sim.wallet
        isolated = sum((v.isolated_wallet for v in views), ZERO)
        unrealized = sum((v.unrealized_pnl for v in views), ZERO)
        return {
            "wallet": wallet + isolated,
            "unrealized": unrealized,
            "margin": wallet + isolated + unrealized,
            "initial": sum((v.initial_margin for v in views), ZERO),
            "maint": sum((v.maint_margin for v in views), ZERO),
            "cross": wallet,
        }

    def _open(self) -> list[str]:
        return [s for s, p in self.account.sim.positions.items() if p.contracts != 0]

    def _asset(self, totals: dict[str, Decimal]) -> JsonDict:
        return {
            "asset": self.account.quote,
            "walletBalance": codec.money(totals["wallet"]),
            "unrealizedProfit": codec.money(totals["unrealized"]),
            "marginBalance": codec.money(totals["margin"]),
            "maintMargin": codec.money(totals["maint"]),
            "initialMargin": codec.money(totals["initial"]),
            "positionInitialMargin": codec.money(totals["initial"]),
            "openOrderInitialMargin": "0.00000000",
            "crossWalletBalance": codec.money(totals["cross"]),
            "crossUnPnl": "0.00000000",
            "availableBalance": codec.money(totals["cross"]),
            "maxWithdrawAmount": codec.money(totals["cross"]),
            "updateTime": self.account.now_ms(),
        }

    async def account_v3(self, params: Params) -> JsonDict:
        """Answer /fapi/v3/account (what ccxt's fetch_balance reads)."""
        totals = self._totals()
        return {
            "totalInitialMargin": codec.money(totals["initial"]),
            "totalMaintMargin": codec.money(totals["maint"]),
            "totalWalletBalance": codec.money(totals["wallet"]),
            "totalUnrealizedProfit": codec.money(totals["unrealized"]),
            "totalMarginBalance": codec.money(totals["margin"]),
            "totalPositionInitialMargin": codec.money(totals["initial"]),
            "totalOpenOrderInitialMargin": "0.00000000",
            "totalCrossWalletBalance": codec.money(totals["cross"]),
            "totalCrossUnPnl": "0.00000000",
            "availableBalance": codec.money(totals["cross"]),
            "maxWithdrawAmount": codec.money(totals["cross"]),
            "assets": [self._asset(totals)],
            "positions": [codec.account_position(v) for v in self.account.positions() if v.amount],
        }

    async def balance_v2(self, params: Params) -> list[JsonDict]:
        """Answer /fapi/v2/balance."""
        totals = self._totals()
        return [
            {
                "accountAlias": "emulator",
                "asset": self.account.quote,
                "balance": codec.money(totals["wallet"]),
                "crossWalletBalance": codec.money(totals["cross"]),
                "crossUnPnl": "0.00000000",
                "availableBalance": codec.money(totals["cross"]),
                "maxWithdrawAmount": codec.money(totals["cross"]),
                "marginAvailable": True,
                "updateTime": self.account.now_ms(),
            }
        ]

    # -- positions -------------------------------------------------------------------------
    def _views(self, params: Params) -> list[PositionView]:
        if "symbol" in params:
            return [self.account.position_view(self.account.symbol(params["symbol"]))]
        return self.account.positions()

    async def position_risk_v3(self, params: Params) -> list[JsonDict]:
        """Answer /fapi/v3/positionRisk: open positions only, no leverage field."""
        return [codec.position_v3(v) for v in self._views(params) if v.amount != 0]

    async def position_risk_v2(self, params: Params) -> list[JsonDict]:
        """Answer /fapi/v2/positionRisk: every symbol, with leverage and margin type."""
        return [codec.position_v2(v) for v in self._views(params)]

    async def adl_quantile(self, params: Params) -> list[JsonDict]:
        """Answer /fapi/v1/adlQuantile: the open positions' ranks (or ``symbol``'s, even flat)."""
        views = self._views(params)
        return [codec.adl_quantile(v) for v in views if v.amount != 0 or "symbol" in params]

    async def leverage_bracket(self, params: Params) -> JsonDict | list[JsonDict]:
        """Answer /fapi/v1/leverageBracket with the brackets the simulation uses."""
        sim = self.account.sim
        if "symbol" in params:
            symbol = self.account.symbol(params["symbol"])
            return codec.brackets(params["symbol"], sim.brackets(symbol))
        return [
            codec.brackets(sid, sim.brackets(symbol))
            for sid, symbol in sorted(self.account.symbols.items())
        ]

    # -- settings --------------------------------------------------------------------------
    async def set_leverage(self, params: Params) -> JsonDict:
        """Answer POST /fapi/v1/leverage."""
        symbol_id = required(params, "symbol")
        symbol = self.account.symbol(symbol_id)
        leverage = integer(params, "leverage")
        if leverage is None:
            raise invalid("leverage")
        self.account.set_leverage(symbol, leverage)
        view = self.account.position_view(symbol)
        return {
            "leverage": leverage,
            "maxNotionalValue": codec.plain(view.max_notional),
            "symbol": symbol_id,
        }

    async def set_margin_type(self, params: Params) -> JsonDict:
        """Answer POST /fapi/v1/marginType (-4046 when unchanged, -4048 with a position)."""
        symbol = self.account.symbol(required(params, "symbol"))
        wanted = required(params, "marginType").upper()
        sim = self.account.sim
        if wanted == "ISOLATED":
            sim.set_isolated(symbol)
        elif wanted == "CROSSED":
            if symbol not in sim.isolated:
                raise BinanceError(-4046, "No need to change margin type.")
            if sim.position(symbol).contracts != 0:
                raise BinanceError(-4048, "Margin type cannot be changed if there exists position.")
            sim.isolated.discard(symbol)
        else:
            raise invalid("marginType")
        return {"code": 200, "msg": "success"}

    async def get_position_mode(self, params: Params) -> JsonDict:
        """Answer GET /fapi/v1/positionSide/dual."""
        return {"dualSidePosition": self.account.dual_side_position}

    async def set_position_mode(self, params: Params) -> JsonDict:
        """Answer POST /fapi/v1/positionSide/dual (-4059 when unchanged, as Binance does)."""
        wanted = flag(params, "dualSidePosition")
        if wanted == self.account.dual_side_position:
            raise BinanceError(-4059, "No need to change position side.")
        if self._open():
            raise BinanceError(-4068, "Position side cannot be changed if there exists position.")
        self.account.dual_side_position = wanted
        return {"code": 200, "msg": "success"}

    async def multi_assets_margin(self, params: Params) -> JsonDict:
        """Answer GET /fapi/v1/multiAssetsMargin (single-asset unless a test says otherwise)."""
        return {"multiAssetsMargin": self.account.multi_assets_margin}

    async def position_margin(self, params: Params) -> JsonDict:
        """Answer POST /fapi/v1/positionMargin; only ``type=1`` (add) is simulated."""
        symbol = self.account.symbol(required(params, "symbol"))
        amount = decimal(params, "amount")
        if integer(params, "type") != 1:
            raise invalid("type")
        self.account.sim.add_margin(symbol, amount)
        return {
            "amount": float(amount),
            "code": 200,
            "msg": "Successfully modify position margin.",
            "type": 1,
        }

    # -- history ---------------------------------------------------------------------------
    async def income(self, params: Params) -> list[JsonDict]:
        """Answer /fapi/v1/income: the last 7 days by default, oldest first, paged by time."""
        sim = self.account.sim
        rows = codec.incomes(sim.trades, sim.funding, sim.number)
        kind = params.get("incomeType")
        symbol_id = params.get("symbol")
        if symbol_id is not None:
            self.account.symbol(symbol_id)
        start = integer(params, "startTime")
        end = integer(params, "endTime")
        if start is None and end is None:
            start = self.account.now_ms() - WEEK_MS
        count = limit(params, 100, 1000)
        chosen = [
            row.body
            for row in rows
            if (kind is None or row.kind == kind)
            and (symbol_id is None or row.symbol_id == symbol_id)
            and (start is None or row.time_ms >= start)
            and (end is None or row.time_ms <= end)
        ]
        return chosen[:count] if start is not None else chosen[-count:]

"""Private account and position endpoints of a Bybit unified trading account (UTA 2.0).

- wallet: /v5/account/wallet-balance (UNIFIED: the spot coins and the USDT collateral, see
  `bot.emulator.bybit.state`), /v5/account/info, /v5/user/query-api, /v5/asset/coin/query-info;
- settings: /v5/account/set-margin-mode (account-wide: ISOLATED_MARGIN sets every market of the
  simulation isolated, REGULAR_MARGIN clears them; already in the mode answers success, switching
  with open positions answers 3400045), /v5/position/set-leverage (110043 when unchanged),
  /v5/position/switch-mode (110025 when unchanged, 110024 with open positions);
- positions: /v5/position/list (a ``symbol`` answers even when flat; ``settleCoin`` answers open
  positions only), /v5/position/add-margin (isolated positions; adding only).
"""

from __future__ import annotations

from decimal import Decimal

from bot.core.domain import ZERO
from bot.emulator.account import Account
from bot.emulator.bybit import codec
from bot.emulator.bybit.codec import JsonDict
from bot.emulator.bybit.errors import (
    ADD_MARGIN_BALANCE,
    CROSS_MARGIN_POSITION,
    LEVERAGE_NOT_MODIFIED,
    NO_POSITION_FOR_MARGIN,
    POSITION_MODE_NOT_MODIFIED,
    POSITION_MODE_WITH_POSITION,
    SET_MARGIN_MODE_FAILED,
    BybitError,
    Params,
    category,
    decimal,
    params_error,
    required,
)
from bot.emulator.bybit.state import ISOLATED, PORTFOLIO, REGULAR, BybitState, page, realised
from bot.emulator.codec import money
from bot.sim.exchange import MARGIN_INSUFFICIENT, SimRejected

ACCOUNT_TYPES = ("UNIFIED",)


class BybitAccountEndpoints:
    """Wallet, settings and positions of one emulated unified account."""

    def __init__(self, state: BybitState, api_key: str) -> None:
        """Serve ``state``; ``api_key`` is echoed by /v5/user/query-api."""
        self.state = state
        self.account: Account = state.account
        self.api_key = api_key

    # -- account information ---------------------------------------------------------------
    async def query_api(self, params: Params) -> JsonDict:
        """Answer /v5/user/query-api: a unified (``uta`` 1) master key that can trade."""
        return {
            "id": "1",
            "note": "hedgebot emulator",
            "apiKey": self.api_key,
            "readOnly": 0,
            "secret": "",
            "permissions": {
                "ContractTrade": ["Order", "Position"],
                "Spot": ["SpotTrade"],
                "Wallet": ["AccountTransfer"],
                "Options": [],
                "Derivatives": [],
                "CopyTrading": [],
                "BlockTrade": [],
                "Exchange": [],
                "NFT": [],
            },
            "ips": ["*"],
            "type": 1,
            "deadlineDay": 90,
            "expiredAt": "",
            "createdAt": "",
            "unified": 0,
            "uta": 1,
            "userID": 1,
            "inviterID": 0,
            "vipLevel": "No VIP",
            "mktMakerLevel": "0",
            "affiliateID": 0,
            "rsaPublicKey": "",
            "isMaster": True,
        }

    async def account_info(self, params: Params) -> JsonDict:
        """Answer /v5/account/info: UTA 2.0 (status 6) and the account-wide margin mode."""
        return {
            "unifiedMarginStatus": 6,
            "marginMode": self.state.margin_mode,
            "isMasterTrader": False,
            "spotHedgingStatus": "OFF",
            "updatedTime": str(self.account.now_ms()),
            "dcpStatus": "OFF",
            "timeWindow": 10,
            "smpGroup": 0,
        }

    async def coin_info(self, params: Params) -> JsonDict:
        """Answer /v5/asset/coin/query-info (what ccxt's load_markets asks with keys)."""
        bases = {m.base for m in self.account.sim.markets.values()}
        coins = sorted(set(self.account.spot_balances) | bases | {self.account.quote})
        wanted = params.get("coin")
        return {
            "rows": [
                {"name": coin, "coin": coin, "remainAmount": "0", "chains": [_chain(coin)]}
                for coin in coins
                if wanted is None or wanted == coin
            ]
        }

    async def wallet_balance(self, params: Params) -> JsonDict:
        """Answer /v5/account/wallet-balance for the UNIFIED wallet."""
        kind = required(params, "accountType")
        if kind not in ACCOUNT_TYPES:
            raise params_error("accountType only support UNIFIED")
        wanted = set(params["coin"].split(",")) if params.get("coin") else None
        return {"list": [self.unified_wallet(wanted)]}

    def unified_wallet(self, wanted: set[str] | None = None) -> JsonDict:
        """Return the UNIFIED wallet (its ``coin`` entries limited to ``wanted``)."""
        account, sim, quote = self.account, self.account.sim, self.account.quote
        views = [self.state.position(s) for s in self.state.open_symbols()]
        margins = sum((v.position_margin for v in views), ZERO)
        coins: list[JsonDict] = []
        now = account.now_ms()
        for asset, amount in sorted(account.spot_balances.items()):
            if asset == quote:
                continue
            series = account.spot_series(f"{asset}{quote}")
            bar = series.last_closed(now) if series is not None else None
            price = bar.close if bar is not None else ZERO
            coins.append(codec.wallet_coin(asset, amount, price))
        collateral = sim.wallet + margins + account.spot_balances.get(quote, ZERO)
        coins.append(
            codec.wallet_coin(
                quote,
                collateral,
                Decimal(1),
                position_im=margins,
                position_mm=sum((v.maintenance_margin for v in views), ZERO),
                unrealised=sum((v.unrealised_pnl for v in views), ZERO),
                realised=realised(sim.trades, sim.funding),
            )
        )
        if wanted is not None:
            coins = [c for c in coins if c["coin"] in wanted]
        equity = sum((Decimal(str(c["usdValue"])) for c in coins), ZERO)
        initial = sum((v.initial_margin for v in views), ZERO)
        maintenance = sum((v.maintenance_margin for v in views), ZERO)
        available = sim.wallet + account.spot_balances.get(quote, ZERO)
        return {
            "accountType": "UNIFIED",
            "accountLTV": "0",
            "accountIMRate": money(initial / equity if equity else ZERO),
            "accountMMRate": money(maintenance / equity if equity else ZERO),
            "totalEquity": money(equity),
            "totalWalletBalance": money(equity),
            "totalMarginBalance": money(equity),
            "totalAvailableBalance": money(available),
            "totalPerpUPL": money(sum((v.unrealised_pnl for v in views), ZERO)),
            "totalInitialMargin": money(initial),
            "totalMaintenanceMargin": money(maintenance),
            "coin": coins,
        }

    # -- settings --------------------------------------------------------------------------
    async def set_margin_mode(self, params: Params) -> JsonDict:
        """Answer /v5/account/set-margin-mode (account-wide)."""
        wanted = required(params, "setMarginMode")
        if wanted not in (ISOLATED, REGULAR, PORTFOLIO):
            raise params_error("params error: setMarginMode invalid")
        state, sim = self.state, self.account.sim
        if wanted == state.margin_mode:
            return {"reasons": []}
        if wanted == PORTFOLIO or state.open_symbols():
            reason = (
                "the emulator does not simulate portfolio margin"
                if wanted == PORTFOLIO
                else "Please close all positions before switching the margin mode"
            )
            raise BybitError(
                SET_MARGIN_MODE_FAILED,
                "Set margin mode failed",
                result={"reasons": [{"reasonCode": "3400045", "reasonMsg": reason}]},
            )
        if wanted == ISOLATED:
            for symbol in sorted(set(sim.markets) - sim.isolated):
                sim.set_isolated(symbol)
        else:
            sim.isolated.clear()
        return {"reasons": []}

    async def set_leverage(self, params: Params) -> JsonDict:
        """Answer /v5/position/set-leverage (one-way: buy and sell leverage must be equal)."""
        category(params, "linear")
        symbol = self.state.linear_symbol(required(params, "symbol"))
        buy, sell = decimal(params, "buyLeverage"), decimal(params, "sellLeverage")
        if buy != sell:
            raise params_error("buy leverage must be equal to sell leverage in one-way mode")
        if buy != buy.to_integral_value():
            raise params_error("params error: the emulator sets whole leverage only")
        sim = self.account.sim
        if int(buy) == sim.leverage_of(symbol):
            raise BybitError(LEVERAGE_NOT_MODIFIED, "leverage not modified")
        try:
            self.account.set_leverage(symbol, int(buy))
        except SimRejected:
            raise params_error("leverage invalid") from None
        return {}

    async def switch_mode(self, params: Params) -> JsonDict:
        """Answer /v5/position/switch-mode (``mode`` 0 one-way, 3 hedge)."""
        category(params, "linear")
        if not params.get("symbol") and not params.get("coin"):
            raise params_error("params error: symbol or coin is required")
        if params.get("symbol"):
            self.state.linear_symbol(params["symbol"])
        mode = required(params, "mode")
        if mode not in ("0", "3"):
            raise params_error("params error: mode invalid")
        hedged = mode == "3"
        if hedged == self.state.hedge_mode:
            raise BybitError(POSITION_MODE_NOT_MODIFIED, "Position mode is not modified")
        if self.state.open_symbols():
            raise BybitError(
                POSITION_MODE_WITH_POSITION,
                "You have an existing position, so position mode cannot be switched",
            )
        self.state.hedge_mode = hedged
        return {}

    # -- positions -------------------------------------------------------------------------
    async def positions(self, params: Params) -> JsonDict:
        """Answer /v5/position/list (``inverse``: none; ccxt's stream snapshot asks for both)."""
        if category(params, "linear", "inverse") == "inverse":
            return codec.listing("inverse", [])
        state = self.state
        symbol_id = params.get("symbol")
        if symbol_id:
            rows = [codec.position(state.position(state.linear_symbol(symbol_id)))]
        elif params.get("settleCoin") or params.get("baseCoin"):
            settle = params.get("settleCoin") or self.account.quote
            base = params.get("baseCoin")
            rows = [
                codec.position(state.position(symbol))
                for symbol in state.open_symbols()
                if settle == self.account.quote
                and (base is None or self.account.sim.markets[symbol].base == base)
            ]
        else:
            raise params_error("params error: symbol or settleCoin is required")
        chosen, cursor = page(params, rows, 20, 200)
        return codec.listing("linear", chosen, cursor)

    async def add_margin(self, params: Params) -> JsonDict:
        """Answer /v5/position/add-margin: move USDT into an isolated position's margin."""
        category(params, "linear")
        symbol = self.state.linear_symbol(required(params, "symbol"))
        amount = decimal(params, "margin", allow_negative=True)
        if amount <= 0:
            raise params_error("params error: the emulator adds margin only (margin > 0)")
        if self.state.margin_mode != ISOLATED:
            raise BybitError(CROSS_MARGIN_POSITION, "the position is in cross_margin")
        try:
            self.account.sim.add_margin(symbol, amount)
        except SimRejected as rejection:
            if rejection.code == MARGIN_INSUFFICIENT:
                raise BybitError(
                    ADD_MARGIN_BALANCE, "Available balance not enough to add margin"
                ) from None
            raise BybitError(
                NO_POSITION_FOR_MARGIN, "Margin cannot be set without open position"
            ) from None
        row = codec.position(self.state.position(symbol))
        return {"category": "linear", **row}


def _chain(coin: str) -> JsonDict:
    """Return one ``chains`` entry: the coin's own chain, deposits and withdrawals open."""
    return {
        "chainType": coin,
        "confirmation": "1",
        "withdrawFee": "0",
        "depositMin": "0",
        "withdrawMin": "0",
        "chain": coin,
        "chainDeposit": "1",
        "chainWithdraw": "1",
        "minAccuracy": "8",
    }

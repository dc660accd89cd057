"""Binance USDⓈ-M stream events, field by field, from the emulated account.

User data (``/private/ws``): ``ORDER_TRADE_UPDATE`` for each step of an order (the exchange's
liquidations as ``o:"LIQUIDATION"``, ADL as ``o:"ADL"``, both filled with ``x:"CALCULATED"``),
``ACCOUNT_UPDATE`` with the balance and the changed positions (``m`` the reason),
``ACCOUNT_CONFIG_UPDATE`` for a leverage change, and ``listenKeyExpired``. Market streams
(``/market/ws``): ``markPriceUpdate``. Event and transaction times are replay-clock times, like
the REST face's object times.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from bot.core.clock import to_ms
from bot.core.domain import ZERO
from bot.emulator.account import ADL_PREFIX, LIQUIDATION_PREFIX, Account, binance_id
from bot.emulator.codec import JsonDict, money, plain, side
from bot.emulator.streams.changes import OrderEvent

ASSET = "USDT"


def order_type(client_order_id: str, asked: str) -> str:
    """Return the ``o`` of an order: LIQUIDATION and ADL for the exchange's own."""
    if client_order_id.startswith(LIQUIDATION_PREFIX):
        return "LIQUIDATION"
    if client_order_id == ADL_PREFIX:
        return "ADL"
    return asked


def order_update(account: Account, event: OrderEvent, now_ms: int) -> JsonDict:
    """Return the ``ORDER_TRADE_UPDATE`` of one step of an order."""
    record, trade = event.record, event.trade
    sim = record.sim
    kind = order_type(sim.client_order_id, record.type)
    at = to_ms(trade.time) if trade is not None else record.update_ms
    body: JsonDict = {
        "s": binance_id(sim.symbol),
        "c": sim.client_order_id,
        "S": side(sim.side),
        "o": kind,
        "f": record.time_in_force,
        "q": plain(sim.amount),
        "p": plain(record.price),
        "ap": plain(event.average),
        "sp": "0",
        "x": event.execution,
        "X": event.status,
        "i": account.number(record),
        "l": plain(trade.amount) if trade is not None else "0",
        "z": plain(event.filled),
        "L": plain(trade.price) if trade is not None else "0",
        "T": at,
        "t": account.sim.number(trade.trade_id) if trade is not None else 0,
        "b": "0",
        "a": "0",
        "m": False,
        "R": sim.reduce_only,
        "wt": "CONTRACT_PRICE",
        "ot": kind,
        "ps": "BOTH",
        "cp": False,
        "rp": money(trade.realized_pnl) if trade is not None else "0",
        "pP": False,
        "si": 0,
        "ss": 0,
        "V": "EXPIRE_MAKER",
        "pm": "NONE",
        "gtd": 0,
    }
    if trade is not None:  # "will not push if no commission"
        body["N"] = ASSET
        body["n"] = money(trade.fee)
    return {"e": "ORDER_TRADE_UPDATE", "E": now_ms, "T": at, "o": body}


def account_update(account: Account, reason: str, symbols: Sequence[str], now_ms: int) -> JsonDict:
    """Return an ``ACCOUNT_UPDATE``: the USDT balance and the positions of ``symbols``."""
    sim = account.sim
    isolated = sum((p.isolated_margin for p in sim.positions.values()), ZERO)
    balance = {"a": ASSET, "wb": money(sim.wallet + isolated), "cw": money(sim.wallet), "bc": "0"}
    positions = [_position(account, symbol) for symbol in symbols]
    return {
        "e": "ACCOUNT_UPDATE",
        "E": now_ms,
        "T": now_ms,
        "a": {"m": reason, "B": [balance], "P": positions},
    }


def _position(account: Account, symbol: str) -> JsonDict:
    """Return one ``P`` entry of an ``ACCOUNT_UPDATE``."""
    view = account.position_view(symbol)
    return {
        "s": view.symbol_id,
        "pa": plain(view.amount),
        "ep": plain(view.entry_price),
        "bep": plain(view.entry_price),
        "cr": money(_realized(account, symbol)),
        "up": money(view.unrealized_pnl),
        "mt": "isolated" if view.isolated else "cross",
        "iw": money(view.isolated_wallet if view.isolated else ZERO),
        "ps": "BOTH",
        "ma": ASSET,
    }


def config_update(account: Account, symbol: str, now_ms: int) -> JsonDict:
    """Return the ``ACCOUNT_CONFIG_UPDATE`` of a leverage change."""
    leverage = account.sim.leverage_of(symbol)
    return {
        "e": "ACCOUNT_CONFIG_UPDATE",
        "E": now_ms,
        "T": now_ms,
        "ac": {"s": binance_id(symbol), "l": leverage},
    }


def mark_update(premium: JsonDict, now_ms: int) -> JsonDict:
    """Return a ``markPriceUpdate`` from a /fapi/v1/premiumIndex entry."""
    return {
        "e": "markPriceUpdate",
        "E": now_ms,
        "s": premium["symbol"],
        "p": premium["markPrice"],
        "i": premium["indexPrice"],
        "P": premium["estimatedSettlePrice"],
        "r": premium["lastFundingRate"],
        "T": premium["nextFundingTime"],
    }


def listen_key_expired(key: str, now_ms: int) -> JsonDict:
    """Return ``listenKeyExpired`` (``E`` a string, as a live futures capture shows it)."""
    return {"e": "listenKeyExpired", "E": str(now_ms), "listenKey": key}


def _realized(account: Account, symbol: str) -> Decimal:
    """Return the accumulated realised PnL (before fees) of ``symbol``."""
    return sum((t.realized_pnl for t in account.sim.trades if t.symbol == symbol), ZERO)

"""What the Bybit face keeps beside the shared simulation, and the figures it derives from it.

The simulation (the venue's `SimExchange`) holds balances, positions, orders and ledgers; the
shared `bot.emulator.account.Account` maps symbols (Bybit's linear and spot ids are Binance's,
``BTCUSDT``), prices and order records. This module adds Bybit's account-wide settings (unified
margin mode, position mode), its UUID ids, the cursor paging of its list endpoints, and the
position figures Bybit reports (position value, IM, MM, bust price) by Bybit's published method.

Unified wallet: one UNIFIED wallet holds the insured spot coins and the USDT collateral. The spot
coins are the account's ``spot_balances``; USDT's ``walletBalance`` is the simulation's free wallet
plus every isolated position margin (plus any spot USDT), and its ``totalPositionIM`` is the sum of
those position margins, so that ccxt's ``free = walletBalance - totalPositionIM`` (Bybit no longer
sends ``availableToWithdraw`` for unified accounts) is the free collateral.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from bot.core.clock import to_ms
from bot.core.domain import ZERO, ForcedClose, Side
from bot.emulator.account import Account, OrderRecord, binance_id
from bot.emulator.bybit.errors import Params, integer, limit, params_error
from bot.margin.venues import bybit_maintenance_margin, bybit_tier
from bot.sim.exchange import SimFunding, SimTrade

T = TypeVar("T")

ISOLATED = "ISOLATED_MARGIN"
REGULAR = "REGULAR_MARGIN"
PORTFOLIO = "PORTFOLIO_MARGIN"
WEEK_MS = 7 * 86_400_000
_ORDER_SPACE = 0xB0 << 96
_EXEC_SPACE = 0xE0 << 96


def order_uuid(sim_id: str) -> str:
    """Return the Bybit ``orderId`` of a simulated order id."""
    return str(uuid.UUID(int=_ORDER_SPACE | int(sim_id)))


def exec_uuid(sim_id: str) -> str:
    """Return the Bybit ``execId`` of a simulated trade or funding id."""
    return str(uuid.UUID(int=_EXEC_SPACE | int(sim_id)))


def sim_order_id(order_id: str) -> int | None:
    """Return the simulated order id of a Bybit ``orderId``, None when it is not one of ours."""
    try:
        value = uuid.UUID(order_id).int
    except ValueError:
        return None
    return value & ((1 << 96) - 1) if value >> 96 == _ORDER_SPACE >> 96 else None


def side_name(side: Side) -> str:
    """Return Bybit's side: ``Buy``/``Sell``."""
    return "Buy" if side is Side.BUY else "Sell"


def page(params: Params, rows: Sequence[T], default: int, maximum: int) -> tuple[list[T], str]:
    """Return one page of ``rows`` and Bybit's ``nextPageCursor`` ("" on the last page)."""
    size = limit(params, default, maximum)
    cursor = params.get("cursor") or ""
    if cursor and not (cursor.startswith("p") and cursor[1:].isdigit()):
        raise params_error("params error: cursor invalid")
    start = int(cursor[1:]) if cursor else 0
    chosen = list(rows[start : start + size])
    more = start + size < len(rows)
    return chosen, f"p{start + size}" if more else ""


def window(params: Params, now_ms: int, start_key: str = "startTime") -> tuple[int, int]:
    """Return Bybit's history window: 7 days at most, the last 7 days by default."""
    start = integer(params, start_key)
    end = integer(params, "endTime")
    if start is None and end is None:
        return now_ms - WEEK_MS, now_ms
    if end is None:
        assert start is not None
        return start, start + WEEK_MS
    if start is None:
        return end - WEEK_MS, end
    if end < start or end - start > WEEK_MS:
        raise params_error("The time range between startTime and endTime cannot exceed 7 days")
    return start, end


@dataclass(frozen=True, slots=True)
class BybitPosition:
    """One symbol's position with the figures Bybit reports (``size`` signed)."""

    symbol: str
    symbol_id: str
    size: Decimal
    entry_price: Decimal
    mark_price: Decimal
    position_margin: Decimal
    leverage: int
    liquidation_price: Decimal | None
    maintenance_margin: Decimal
    risk_id: int
    risk_limit_value: Decimal
    realised_pnl: Decimal
    created_ms: int
    updated_ms: int
    adl_rank: int = 0

    @property
    def value(self) -> Decimal:
        """Return Bybit's ``positionValue``: size at the entry price (contract size 1)."""
        return abs(self.size) * self.entry_price

    @property
    def initial_margin(self) -> Decimal:
        """Return ``positionValue / leverage``."""
        return self.value / self.leverage

    @property
    def unrealised_pnl(self) -> Decimal:
        """Return the unrealised PnL at the mark price."""
        return self.size * (self.mark_price - self.entry_price)

    @property
    def bust_price(self) -> Decimal | None:
        """Return the price at which the position margin is lost (equity zero)."""
        if self.size == 0:
            return None
        per_unit = self.position_margin / abs(self.size)
        price = self.entry_price + per_unit if self.size < 0 else self.entry_price - per_unit
        return max(price, ZERO)


class BybitState:
    """Bybit's settings and views of one emulated unified account."""

    def __init__(self, account: Account) -> None:
        """Wrap the shared ``account``; the account starts in cross margin and one-way mode."""
        self.account = account

    @property
    def hedge_mode(self) -> bool:
        """Return whether the account is in hedge mode (the shared position-mode flag)."""
        return self.account.dual_side_position

    @hedge_mode.setter
    def hedge_mode(self, hedged: bool) -> None:
        self.account.dual_side_position = hedged

    # -- settings --------------------------------------------------------------------------
    @property
    def margin_mode(self) -> str:
        """Return the unified account's margin mode (isolated when every market is)."""
        sim = self.account.sim
        return ISOLATED if set(sim.markets) <= sim.isolated else REGULAR

    def set_margin_mode_out_of_band(self, isolated: bool) -> None:
        """Switch the account-wide margin mode as on the website (ValueError with a position)."""
        self.account.venue.catch_up()
        sim = self.account.sim
        if (self.margin_mode == ISOLATED) == isolated:
            return
        if self.open_symbols():
            raise ValueError("Please close all positions before switching the margin mode")
        if isolated:
            sim.isolated.update(sim.markets)
        else:
            sim.isolated.clear()

    def open_symbols(self) -> list[str]:
        """Return the symbols with an open position."""
        return sorted(s for s, p in self.account.sim.positions.items() if p.contracts != 0)

    # -- ids -------------------------------------------------------------------------------
    def linear_symbol(self, symbol_id: str) -> str:
        """Return the unified perp symbol of a Bybit id, or refuse like Bybit."""
        symbol = self.account.symbols.get(symbol_id)
        if symbol is None:
            raise params_error("Not supported symbols")
        return symbol

    def find_order(self, order_id: str | None, link_id: str | None) -> OrderRecord | None:
        """Return an order by ``orderId`` (first) or ``orderLinkId``, as Bybit gives priority.

        The exchange's liquidation and ADL orders are found by ``orderId`` (they have no link id).
        """
        if order_id:
            number = sim_order_id(order_id)
            if number is None:
                return None
            return self.account.orders.get(number) or self.account.forced.get(number)
        if link_id:
            number = self.account.latest_by_client_id.get(link_id)
            return self.account.orders.get(number) if number is not None else None
        return None

    def trades_of(self, sim_order: str) -> list[SimTrade]:
        """Return the simulated trades of one order."""
        return [t for t in self.account.sim.trades if t.order_id == sim_order]

    def order_fees(self, record: OrderRecord) -> Decimal:
        """Return the fees an order paid so far (``cumExecFee``)."""
        return sum((t.fee for t in self.trades_of(record.sim.order_id)), ZERO)

    # -- positions -------------------------------------------------------------------------
    def position(self, symbol: str) -> BybitPosition:
        """Return Bybit's figures of ``symbol``'s (possibly flat) position."""
        account, sim = self.account, self.account.sim
        pos = sim.position(symbol)
        tiers = sim.brackets(symbol)
        size = pos.contracts
        tier = bybit_tier(tiers, abs(size) * pos.entry_price)
        maintenance = (
            bybit_maintenance_margin(abs(size), pos.entry_price, tiers) if size != 0 else ZERO
        )
        trades = [t for t in sim.trades if t.symbol == symbol]
        funding = [f for f in sim.funding if f.symbol == symbol]
        times = [to_ms(t.time) for t in trades] + [to_ms(f.time) for f in funding]
        return BybitPosition(
            symbol=symbol,
            symbol_id=binance_id(symbol),
            size=size,
            entry_price=pos.entry_price,
            mark_price=account.mark_price(symbol),
            position_margin=pos.isolated_margin,
            leverage=sim.leverage_of(symbol),
            liquidation_price=sim.liquidation_price(symbol),
            maintenance_margin=maintenance,
            risk_id=tiers.index(tier) + 1,
            risk_limit_value=tier.cap,
            realised_pnl=realised(trades, funding),
            created_ms=min(times, default=0),
            updated_ms=max(times, default=0),
            adl_rank=account.adl.rank(symbol, size != 0),
        )


def realised(trades: Sequence[SimTrade], funding: Sequence[SimFunding]) -> Decimal:
    """Return Bybit's cumulative realised PnL: closed PnL less fees, plus funding received."""
    total = sum((t.realized_pnl - t.fee for t in trades), ZERO)
    return total + sum((f.amount for f in funding), ZERO)


def closed_sizes(trades: Sequence[SimTrade]) -> dict[str, Decimal]:
    """Return, per trade id, the part of each execution that closed a position."""
    held: dict[str, Decimal] = {}
    closed: dict[str, Decimal] = {}
    for trade in trades:
        before = held.get(trade.symbol, ZERO)
        signed = trade.amount if trade.side is Side.BUY else -trade.amount
        reduces = before != 0 and (before > 0) != (signed > 0)
        closed[trade.trade_id] = min(trade.amount, abs(before)) if reduces else ZERO
        held[trade.symbol] = ZERO if trade.forced is ForcedClose.LIQUIDATION else before + signed
    return closed

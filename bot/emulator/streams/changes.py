"""What changed in the emulated account since the last look, in the order the exchange saw it.

`AccountWatcher.scan` compares the account with what it saw last (order statuses and fills, the
trade and funding ledgers, positions, the wallet, marks) and returns `AccountChanges` that any
stream dialect can encode. Orders follow their life: accepted (``NEW``), each fill (``TRADE``,
or ``CALCULATED`` for the exchange's liquidation and ADL orders), then an unfilled end
(``EXPIRED``/``CANCELED``). `rebase` forgets the past: a stream starts with what happens next.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from bot.core.domain import ZERO
from bot.emulator.account import ADL_PREFIX, LIQUIDATION_PREFIX, Account, OrderRecord
from bot.sim.exchange import SimFunding, SimTrade

UNFILLED_ENDS = ("EXPIRED", "CANCELED")

# Why a position changed: Binance's ``ACCOUNT_UPDATE`` reasons, LEVERAGE (its config update) and
# ADL_RANK (only Bybit's position records carry the rank).
ORDER = "ORDER"
ADL = "ADL"
FUNDING_FEE = "FUNDING_FEE"
MARGIN_TYPE_CHANGE = "MARGIN_TYPE_CHANGE"
ADJUSTMENT = "ADJUSTMENT"
LEVERAGE = "LEVERAGE"
ADL_RANK = "ADL_RANK"


def is_forced(client_order_id: str | None) -> bool:
    """Return whether a client id is one of the exchange's own orders (liquidation, ADL)."""
    return bool(client_order_id) and (
        str(client_order_id).startswith(LIQUIDATION_PREFIX) or client_order_id == ADL_PREFIX
    )


def is_adl(trade: SimTrade) -> bool:
    """Return whether a trade is an auto-deleveraging fill."""
    return trade.client_order_id == ADL_PREFIX


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """One step of one order's life, with its cumulative fill after the step."""

    record: OrderRecord
    execution: str  # Binance's execution type: NEW, TRADE, CALCULATED, EXPIRED, CANCELED
    status: str  # Binance's order status after the step
    filled: Decimal
    average: Decimal
    trade: SimTrade | None = None


@dataclass(frozen=True, slots=True)
class PositionChange:
    """A symbol whose position (or its settings) changed, and why."""

    symbol: str
    reason: str


@dataclass(frozen=True, slots=True)
class AccountChanges:
    """Everything that changed since the last scan, oldest first."""

    orders: tuple[OrderEvent, ...] = ()
    trades: tuple[SimTrade, ...] = ()
    funding: tuple[SimFunding, ...] = ()
    positions: tuple[PositionChange, ...] = ()
    wallet: bool = False
    marks: tuple[str, ...] = ()  # symbols whose mark moved


@dataclass(frozen=True, slots=True)
class _Seen:
    status: str
    filled: Decimal
    cost: Decimal


_Position = tuple[Decimal, Decimal, Decimal, bool, int, int]  # ..., isolated, leverage, ADL rank


class AccountWatcher:
    """Diff the account against what was last published."""

    def __init__(self, account: Account) -> None:
        """Watch ``account``, starting from its present state."""
        self.account = account
        self._trades = 0
        self._funding = 0
        self._orders: dict[int, _Seen] = {}
        self._positions: dict[str, _Position] = {}
        self._wallet = ZERO
        self._marks: dict[str, Decimal] = {}
        self.rebase()

    def rebase(self) -> None:
        """Take the present state as seen: the next scan reports only what follows."""
        sim = self.account.sim
        self._trades = len(sim.trades)
        self._funding = len(sim.funding)
        self._orders = {r.order_id: _seen_now(r) for r in self._records()}
        self._positions = {s: self._position(s) for s in sim.markets}
        self._wallet = sim.wallet
        self._marks = {s: self.account.mark_price(s) for s in sim.markets}

    def scan(self) -> AccountChanges:
        """Return what changed since the last scan (or rebase), and take it as seen."""
        sim = self.account.sim
        trades = tuple(sim.trades[self._trades :])
        funding = tuple(sim.funding[self._funding :])
        self._trades, self._funding = len(sim.trades), len(sim.funding)
        by_order: dict[str, list[SimTrade]] = defaultdict(list)
        for trade in trades:
            by_order[trade.order_id].append(trade)
        events: list[OrderEvent] = []
        for record in self._records():
            events += self._order_events(record, by_order.get(record.sim.order_id, []))
        positions = self._positions_changed(trades, funding)
        wallet = sim.wallet != self._wallet or bool(positions)
        self._wallet = sim.wallet
        marks = self._marks_moved()
        return AccountChanges(tuple(events), trades, funding, positions, wallet, marks)

    def _records(self) -> list[OrderRecord]:
        every = [*self.account.orders.values(), *self.account.forced.values()]
        return sorted(every, key=lambda r: r.order_id)

    def _order_events(self, record: OrderRecord, trades: Sequence[SimTrade]) -> list[OrderEvent]:
        seen = self._orders.get(record.order_id)
        events: list[OrderEvent] = []
        if seen is None:
            seen = _Seen("NEW", ZERO, ZERO)
            events.append(OrderEvent(record, "NEW", "NEW", ZERO, ZERO))
        status, filled, cost = seen.status, seen.filled, seen.cost
        execution = "CALCULATED" if is_forced(record.sim.client_order_id) else "TRADE"
        for trade in trades:
            filled += trade.amount
            cost += trade.amount * trade.price
            status = "FILLED" if filled >= record.sim.amount else "PARTIALLY_FILLED"
            events.append(OrderEvent(record, execution, status, filled, cost / filled, trade))
        if record.status in UNFILLED_ENDS and status != record.status:
            status = record.status
            average = cost / filled if filled else ZERO
            events.append(OrderEvent(record, status, status, filled, average))
        self._orders[record.order_id] = _Seen(status, filled, cost)
        return events

    def _position(self, symbol: str) -> _Position:
        sim = self.account.sim
        pos = sim.position(symbol)
        isolated, leverage = symbol in sim.isolated, sim.leverage_of(symbol)
        rank = self.account.adl.rank(symbol, pos.contracts != 0)
        return pos.contracts, pos.entry_price, pos.isolated_margin, isolated, leverage, rank

    def _positions_changed(
        self, trades: Sequence[SimTrade], funding: Sequence[SimFunding]
    ) -> tuple[PositionChange, ...]:
        traded = {t.symbol: ADL if is_adl(t) else ORDER for t in trades}
        funded = {f.symbol for f in funding}
        changed: list[PositionChange] = []
        for symbol in sorted(self.account.sim.markets):
            now, before = self._position(symbol), self._positions.get(symbol)
            if now == before:
                continue
            self._positions[symbol] = now
            if symbol in traded:
                reason = traded[symbol]
            elif symbol in funded:
                reason = FUNDING_FEE
            elif before is not None and now[3] != before[3]:
                reason = MARGIN_TYPE_CHANGE
            elif before is not None and now[:5] == before[:5]:
                reason = ADL_RANK
            elif before is not None and now[:4] == before[:4]:
                reason = LEVERAGE
            else:
                reason = ADJUSTMENT
            changed.append(PositionChange(symbol, reason))
        return tuple(changed)

    def _marks_moved(self) -> tuple[str, ...]:
        moved: list[str] = []
        for symbol in sorted(self.account.sim.markets):
            mark = self.account.mark_price(symbol)
            if mark != self._marks.get(symbol):
                self._marks[symbol] = mark
                moved.append(symbol)
        return tuple(moved)


def _seen_now(record: OrderRecord) -> _Seen:
    sim = record.sim
    return _Seen(record.status, sim.filled, sim.filled * (sim.average_price or ZERO))

"""What the exchange did over a whole trial, and which targets were in force when.

`Ledger` keeps the emulator's orders, trades and funding across account resets (a reset makes
the exchange forget its order history; the ledger does not), marks what the harness itself did
to the account (someone else's trade, a reset) as external, and turns the emulator's append-only
audit log into `Event`s at the emulator clock's time (`ClockMap`), each tied to the request during
which it happened. Without an audit log (an older emulator) the events are rebuilt from the
orders and trades: acceptances and fills only.

`TargetLog` is the harness's timestamped record of the hedge's inputs (ratio, spot balances); the
target of a leg at a moment is ratio × spot amount × spot price / perp price at that moment's
prices, taken from the same simulated candles the emulator serves.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from bot.core.clock import Clock, from_ms, to_ms
from bot.core.domain import ZERO, ForcedClose, Side
from bot.emulator.account import Account, OrderRecord
from bot.market.series import BarSeries, MarketData
from bot.sim.exchange import SimFunding, SimTrade

T = TypeVar("T")


class ClockMap:
    """Maps the audit log's ``wall`` (`time.monotonic`) to the emulator clock's time.

    The harness samples both clocks as each request arrives and before each of its own actions;
    a moment maps to the latest sample before it, plus ``rate`` × the monotonic seconds since
    (0 for a replay clock, which moves only when slept on; the speed of a scaled clock).
    """

    def __init__(self, clock: Clock, rate: float) -> None:
        """Start with one sample taken now."""
        self.clock = clock
        self.rate = rate
        self._walls: list[float] = []
        self._times: list[datetime] = []
        self.sample()

    def sample(self) -> None:
        """Remember both clocks now."""
        wall, now = time.monotonic(), self.clock.now()
        if self._walls and wall <= self._walls[-1]:
            self._times[-1] = now
            return
        self._walls.append(wall)
        self._times.append(now)

    def at(self, wall: float) -> datetime:
        """Return the emulator clock's time at monotonic ``wall``."""
        i = max(bisect_right(self._walls, wall) - 1, 0)
        return self._times[i] + timedelta(seconds=self.rate * max(wall - self._walls[i], 0.0))


@dataclass(frozen=True, slots=True)
class OrderFact:
    """The exchange's latest word on one order it accepted."""

    order_id: str
    client_order_id: str
    symbol: str
    side: Side
    amount: Decimal
    filled: Decimal
    status: str
    """Binance's status: NEW (resting), FILLED, EXPIRED, CANCELED, PARTIALLY_FILLED."""
    time: datetime
    open: bool
    external: bool


@dataclass(frozen=True, slots=True)
class Event:
    """One exchange state change, in order (``seq``), at the emulator clock's ``time``."""

    seq: int
    time: datetime
    kind: str
    symbol: str | None
    position: Decimal | None
    """Signed contracts of ``symbol`` after the event, when it changes a position."""
    client_order_id: str | None
    order_id: str | None
    amount: Decimal | None
    external: bool
    """Caused by the harness (someone else's trade, a reset), not by the bot."""


def is_open(account: Account, record: OrderRecord) -> bool:
    """Return whether the exchange still shows the order among the open (resting) ones."""
    resting = getattr(account, "resting", None)
    if isinstance(resting, Mapping):
        return record.order_id in resting
    return record.status == "NEW"


EXTERNAL_PREFIX = "web_"
"""Client ids of orders someone else placed on the account (the emulator's ``external_trade``)."""


class Ledger:
    """Orders, trades, funding and audit events of one emulated account over a trial."""

    def __init__(self, account: Account, clocks: ClockMap) -> None:
        """Watch ``account``; its audit times are mapped to the emulator clock by ``clocks``."""
        self.account = account
        self.clocks = clocks
        self.orders: dict[str, OrderFact] = {}
        self.trades: dict[str, SimTrade] = {}
        self.funding: dict[str, SimFunding] = {}
        self.external_orders: set[str] = set()
        self.external_trades: set[str] = set()
        self.external_seqs: set[int] = set()
        self.first_seen: dict[int, int] = {}
        """Audit index of an external change -> the first request that could have seen it."""
        self._marks: list[tuple[int, int]] = []  # (request number, audit length at its arrival)

    @property
    def has_audit(self) -> bool:
        """Return whether the emulator keeps an audit log."""
        return isinstance(getattr(self.account, "audit", None), list)

    def _audit(self) -> list[Any]:
        audit = getattr(self.account, "audit", None)
        return audit if isinstance(audit, list) else []

    # -- recording ----------------------------------------------------------------------------
    def snapshot(self) -> None:
        """Copy what the exchange shows now; called before a reset and at the end."""
        for order_id, record in self.account.orders.items():
            key = str(order_id)
            sim = record.sim
            self.orders[key] = OrderFact(
                key,
                sim.client_order_id,
                sim.symbol,
                sim.side,
                sim.amount,
                sim.filled,
                record.status,
                sim.time,
                is_open(self.account, record),
                key in self.external_orders or sim.client_order_id.startswith(EXTERNAL_PREFIX),
            )
        for trade in self.account.sim.trades:
            self.trades[trade.trade_id] = trade
        for payment in self.account.sim.funding:
            self.funding[payment.payment_id] = payment

    def mark(self, request: int) -> None:
        """Note that request number ``request`` arrived (its events come after this length)."""
        self._marks.append((request, len(self._audit())))

    def request_of(self, index: int) -> int:
        """Return the number of the request during which audit event ``index`` was logged."""
        found = 0
        for request, length in self._marks:
            if length > index:
                break
            found = request
        return found

    def seen_by(self, index: int) -> int:
        """Return the first request whose answer can reflect audit event ``index``."""
        return self.first_seen.get(index, self.request_of(index))

    def external(self, action: Callable[[], T], first_request: int = 0) -> T:
        """Run a harness action on the account; whatever it makes is not the bot's doing.

        ``first_request`` is the first request whose answer can reflect it.
        """
        self.clocks.sample()
        self.snapshot()
        orders = set(self.account.orders)
        trades = {t.trade_id for t in self.account.sim.trades}
        start = len(self._audit())
        try:
            return action()
        finally:
            self.external_orders |= {str(o) for o in self.account.orders if o not in orders}
            self.external_trades |= {
                t.trade_id for t in self.account.sim.trades if t.trade_id not in trades
            }
            audit = self._audit()
            for index in range(start, len(audit)):
                self.external_seqs.add(index)
                self.first_seen[index] = first_request
                order_id = getattr(audit[index], "order_id", None)
                if order_id is not None and getattr(audit[index], "kind", "") == "order_accepted":
                    self.external_orders.add(str(order_id))
            self.orders = {
                k: _replace_external(v, k in self.external_orders) for k, v in self.orders.items()
            }
            # A reset drops resting orders without a word: they will never fill.
            self.orders = {
                k: replace(v, open=False, status="CANCELED")
                if v.open and int(k) not in self.account.orders
                else v
                for k, v in self.orders.items()
            }
            self.snapshot()

    def accepted_count(self) -> int:
        """Return how many orders the exchange has accepted so far (resets included)."""
        if self.has_audit:
            return sum(1 for e in self._audit() if getattr(e, "kind", None) == "order_accepted")
        return len(set(self.orders) | {str(o) for o in self.account.orders})

    # -- reading ------------------------------------------------------------------------------
    def bot_orders(self) -> list[OrderFact]:
        """Return the orders the bot placed (not the harness's), oldest first."""
        facts = [o for o in self.orders.values() if not o.external]
        return sorted(facts, key=lambda o: int(o.order_id) if o.order_id.isdigit() else 0)

    def is_bot_trade(self, trade: SimTrade) -> bool:
        """Return whether ``trade`` executed an order the bot placed."""
        fact = self.orders.get(trade.order_id)
        return (
            trade.forced is None
            and trade.trade_id not in self.external_trades
            and trade.order_id not in self.external_orders
            and not (trade.client_order_id or "").startswith(EXTERNAL_PREFIX)
            and (fact is None or not fact.external)
        )

    def events(self) -> list[Event]:
        """Return every state change of the trial in order (audit log, else rebuilt)."""
        if not self.has_audit:
            return self._rebuilt()
        events: list[Event] = []
        for index, item in enumerate(self._audit()):
            order_id = getattr(item, "order_id", None)
            cid = getattr(item, "client_order_id", None)
            kind = str(getattr(item, "kind", ""))
            wall = getattr(item, "wall", None)
            position = getattr(item, "position", None)
            amount = getattr(item, "amount", None)
            external = (
                index in self.external_seqs
                or kind == "reset"
                or (cid or "").startswith(EXTERNAL_PREFIX)
                or (order_id is not None and str(order_id) in self.external_orders)
            )
            events.append(
                Event(
                    seq=int(getattr(item, "seq", index + 1)),
                    time=self.clocks.at(float(wall)) if wall is not None else self.clocks.at(0),
                    kind=kind,
                    symbol=getattr(item, "symbol", None),
                    position=Decimal(position) if position is not None else None,
                    client_order_id=cid,
                    order_id=str(order_id) if order_id is not None else None,
                    amount=abs(Decimal(amount)) if amount is not None else None,
                    external=external,
                )
            )
        return events

    def _rebuilt(self) -> list[Event]:
        """Acceptances and fills in the simulation's id order (one counter for both)."""
        keyed: list[tuple[int, int, OrderFact | SimTrade]] = [
            (int(fact.order_id), 0, fact) for fact in self.orders.values()
        ]
        keyed += [(int(trade.trade_id), 1, trade) for trade in self.trades.values()]
        keyed.sort(key=lambda item: (item[0], item[1]))
        held: dict[str, Decimal] = {}
        events = []
        for seq, (_, _, item) in enumerate(keyed):
            if isinstance(item, OrderFact):
                events.append(
                    Event(
                        seq,
                        item.time,
                        "order_accepted",
                        item.symbol,
                        None,
                        item.client_order_id,
                        item.order_id,
                        item.amount,
                        item.external,
                    )
                )
                continue
            signed = item.amount if item.side is Side.BUY else -item.amount
            liquidated = item.forced is ForcedClose.LIQUIDATION
            position = ZERO if liquidated else held.get(item.symbol, ZERO) + signed
            held[item.symbol] = position
            events.append(
                Event(
                    seq,
                    item.time,
                    "liquidation" if liquidated else "fill",
                    item.symbol,
                    position,
                    item.client_order_id,
                    item.order_id,
                    item.amount,
                    not liquidated and not self.is_bot_trade(item),
                )
            )
        return events

    def accepted_times(self) -> dict[str, datetime]:
        """Return when the exchange accepted each order (by order id)."""
        times = {o.order_id: o.time for o in self.orders.values()}
        for event in self.events():
            if event.kind == "order_accepted" and event.order_id is not None:
                times.setdefault(event.order_id, event.time)
        return times


def _replace_external(fact: OrderFact, external: bool) -> OrderFact:
    if fact.external == external:
        return fact
    return OrderFact(
        fact.order_id,
        fact.client_order_id,
        fact.symbol,
        fact.side,
        fact.amount,
        fact.filled,
        fact.status,
        fact.time,
        fact.open,
        external,
    )


# -- targets -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Inputs:
    """The hedge's inputs from ``time`` on: the strategy ratio and the spot balances."""

    time: datetime
    ratio: Decimal
    balances: Mapping[str, Decimal]


@dataclass
class TargetLog:
    """Timestamped inputs, and each leg's target (contracts) at any moment of the trial."""

    data: MarketData
    legs: Mapping[str, str]
    """Perp symbol -> the spot asset it hedges."""
    changes: list[Inputs] = field(default_factory=list)

    def record(self, time: datetime, ratio: Decimal, balances: Mapping[str, Decimal]) -> bool:
        """Log the inputs in force from ``time``; return False when nothing changed."""
        wanted = {a: Decimal(balances.get(a, ZERO)) for a in self.legs.values()}
        if self.changes and (
            self.changes[-1].ratio == ratio and dict(self.changes[-1].balances) == wanted
        ):
            return False
        self.changes.append(Inputs(time, ratio, wanted))
        return True

    def states(self, start: datetime, end: datetime) -> list[tuple[Inputs, datetime, datetime]]:
        """Return each input state in force at some moment of [start, end], with that span.

        Spans are closed at both ends: inputs replaced at t still explain what happened at t
        (a trial can move targets and act again without the clock moving).
        """
        found = []
        for i, change in enumerate(self.changes):
            begins = change.time if i else min(change.time, start)
            ends = self.changes[i + 1].time if i + 1 < len(self.changes) else end
            if begins <= end and ends >= start:
                found.append((change, max(begins, start), min(ends, end)))
        return found

    def _close(self, table: Mapping[str, BarSeries], asset: str, time: datetime) -> Decimal:
        series = table.get(asset)
        if series is None or not series.bars:
            return ZERO
        bar = series.last_closed(to_ms(time)) or series.bars[0]
        return bar.close

    def contracts(self, symbol: str, inputs: Inputs, time: datetime) -> list[Decimal]:
        """Return the leg's target under ``inputs`` at ``time``'s prices: per perp price."""
        asset = self.legs[symbol]
        spot = self._close(self.data.spot, asset, time)
        value = inputs.ratio * inputs.balances.get(asset, ZERO) * spot
        figures = []
        for table in (self.data.perp, self.data.mark):
            price = self._close(table, asset, time)
            if price > 0:
                figures.append(value / price)
        return figures or [ZERO]

    def _closes(self, start: datetime, end: datetime) -> list[datetime]:
        """Return ``start``, ``end`` and every candle close in between (prices change there)."""
        found = {start, end}
        for table in (self.data.spot, self.data.perp, self.data.mark):
            for series in table.values():
                for bar in series.closed_between(to_ms(start), to_ms(end)):
                    found.add(from_ms(bar.open_ms + series.timeframe_ms))
        return sorted(found)

    def candidates(self, symbol: str, start: datetime, end: datetime) -> list[Decimal]:
        """Return every target of ``symbol`` in force at some moment of [start, end]."""
        return [
            figure
            for inputs, begins, ends in self.states(start, end)
            for point in self._closes(begins, ends)
            for figure in self.contracts(symbol, inputs, point)
        ]

    def highest(self, symbol: str, start: datetime, end: datetime) -> Decimal:
        """Return the largest target of ``symbol`` in force at any moment of [start, end]."""
        return max(self.candidates(symbol, start, end))

"""`MemoryJournal`: the `Journal` API over plain lists, for replays that keep no database.

A backtest's journal lives as long as its replay and is read only by it, so SQL buys it nothing.
This one keeps the rows in memory and answers every query the way the SQLite journal does: each
value goes through the same column types (money rounded to 18 places and read back normalised,
times stored as UTC), rows are numbered per table in the order written, listings sort and filter
alike (half-open ``since <= t < until``). It has no lease: one process owns it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.dialects import sqlite

from bot.core.domain import Fill, ForcedClose, FundingPayment, OrderIntent, OrderStatus, Side
from bot.core.errors import JournalError
from bot.journal.lease import DEFAULT_TTL, Lease
from bot.journal.models import Money, UtcDateTime, to_money
from bot.journal.records import (
    EventRecord,
    JournaledOrder,
    JournalTotals,
    PositionSnapshot,
    RebalanceRecord,
    to_jsonable,
)
from bot.journal.store import CLOCK_SKEW, USDT, Journal

_DIALECT = sqlite.dialect()
_MONEY = Money()
_TIME = UtcDateTime()
_ZERO = Decimal(0)
_T = TypeVar("_T")


def _money(value: Decimal) -> Decimal:
    """Return ``value`` as the SQLite journal stores and reads it back (`Money`)."""
    stored = _MONEY.process_result_value(to_money(value), _DIALECT)
    assert stored is not None
    return stored


def _optional_money(value: Decimal | None) -> Decimal | None:
    return None if value is None else _money(value)


def _time(value: datetime) -> datetime:
    """Return ``value`` as the SQLite journal stores and reads it back (aware UTC)."""
    stored = _TIME.process_result_value(_TIME.process_bind_param(value, _DIALECT), _DIALECT)
    assert stored is not None
    return stored


def _within(
    time: datetime, since: datetime | None, until: datetime | None, *equal: tuple[Any, Any]
) -> bool:
    """Return whether ``since <= time < until`` and each (value, wanted) matches (None: any)."""
    if since is not None and time < since:
        return False
    if until is not None and time >= until:
        return False
    return all(wanted is None or value == wanted for value, wanted in equal)


def _latest(rows: Iterable[tuple[Any, _T]], limit: int | None) -> list[_T]:
    """Return the last ``limit`` items by their sort key (all when None), oldest first."""
    ordered = [item for _, item in sorted(rows, key=lambda row: row[0])]
    if limit is None:
        return ordered
    return ordered[len(ordered) - limit :] if limit > 0 else []


class MemoryJournal(Journal):
    """A `Journal` whose rows live in this process only (see the module)."""

    def __init__(self) -> None:  # no engine: nothing of the SQL journal's state is used
        """Start empty."""
        self._shown = "memory"
        self._rebalances: dict[str, RebalanceRecord] = {}
        self._orders: dict[str, tuple[int, JournaledOrder]] = {}
        self._fills: list[tuple[int, Fill]] = []
        self._fill_keys: set[tuple[str, str, str]] = set()
        self._fill_marks: dict[str, int] = {}
        """The number of each venue's latest fill."""
        self._fill_times: dict[str, dict[str, datetime]] = {}
        """The time of each venue's latest fill per symbol."""
        self._funding: list[tuple[int, FundingPayment]] = []
        self._funding_keys: set[tuple[str, str, str]] = set()
        self._funding_times: dict[str, datetime] = {}
        """The time of each venue's latest funding payment."""
        self._snapshots: list[tuple[int, PositionSnapshot]] = []
        self._events: list[tuple[int, EventRecord]] = []

    def lease(
        self,
        key: str,
        ttl: timedelta = DEFAULT_TTL,
        *,
        holder: str | None = None,
        clock: Callable[[], datetime] | None = None,
        lock_dir: Path | None = None,
    ) -> Lease:
        """Refuse: a memory journal belongs to its one process and has nothing to lease."""
        raise JournalError("a memory journal has no lease: it belongs to its own process")

    def close(self) -> None:
        """Do nothing: there is no connection to release."""

    # -- rebalances ------------------------------------------------------------------------
    def record_rebalance(self, record: RebalanceRecord) -> None:
        """Insert a rebalance; if its id exists, update status, reason, targets, inputs, note."""
        known = self._rebalances.get(record.id)
        row = dataclasses.replace(
            known if known is not None else record,
            time=_time(record.time) if known is None else known.time,
            inputs=to_jsonable(record.inputs),
            targets=to_jsonable(record.targets),
            reason=record.reason,
            status=record.status,
            note=record.note,
        )
        self._rebalances[record.id] = row  # an update keeps its place, as SQLite's rowid does

    def count_rebalances_in_slot(self, slot: str) -> int:
        """Return how many rebalances were journaled in an interval slot (ids ``slot[-#n]``)."""
        prefix = f"{slot}-#"
        return sum(1 for key in self._rebalances if key == slot or key.startswith(prefix))

    def rebalances(
        self,
        limit: int | None = None,
        *,
        venue: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[RebalanceRecord]:
        """Return the latest ``limit`` rebalances (all when None), oldest first."""
        rows = (
            ((r.time, r.id), r)
            for r in self._rebalances.values()
            if _within(r.time, since, until, (r.venue, venue))
        )
        return _latest(rows, limit)

    def latest_venue(self) -> str | None:
        """Return the venue (session) whose rebalance was written last; None when there is none."""
        return next(reversed(self._rebalances.values())).venue if self._rebalances else None

    # -- orders ----------------------------------------------------------------------------
    def record_order_intent(
        self, intent: OrderIntent, *, venue: str, rebalance_id: str | None, time: datetime
    ) -> bool:
        """Journal an intent as ``pending``; return False if its client order id exists."""
        if intent.client_order_id in self._orders:
            return False
        at = _time(time)
        order = JournaledOrder(
            client_order_id=intent.client_order_id,
            venue=venue,
            symbol=intent.symbol,
            side=Side(intent.side),
            amount=_money(intent.amount),
            reduce_only=intent.reduce_only,
            reference_price=_money(intent.reference_price),
            status=OrderStatus.PENDING,
            filled=_ZERO,
            reason=intent.reason,
            created_at=at,
            updated_at=at,
            rebalance_id=rebalance_id,
        )
        self._orders[intent.client_order_id] = (len(self._orders) + 1, order)
        return True

    def update_order(
        self,
        client_order_id: str,
        *,
        status: OrderStatus,
        time: datetime,
        venue_order_id: str | None = None,
        filled: Decimal | None = None,
        average_price: Decimal | None = None,
        reason: str | None = None,
    ) -> None:
        """Record the venue's latest word on an order; None arguments leave fields unchanged."""
        known = self._orders.get(client_order_id)
        if known is None:
            raise JournalError(f"no journaled order with client order id {client_order_id!r}")
        number, order = known
        changes: dict[str, Any] = {"status": OrderStatus(status), "updated_at": _time(time)}
        if venue_order_id is not None and venue_order_id != order.venue_order_id:
            changes["venue_order_id"] = venue_order_id
            self._claim_journaled_fills(order, venue_order_id)
        if filled is not None:
            changes["filled"] = _money(filled)
        if average_price is not None:
            changes["average_price"] = _money(average_price)
        if reason is not None:
            changes["reason"] = reason
        self._orders[client_order_id] = (number, dataclasses.replace(order, **changes))

    def _claim_journaled_fills(self, order: JournaledOrder, venue_order_id: str) -> None:
        """Give ``order`` its fills journaled before its exchange id was known (as `Journal`)."""
        since = order.created_at - CLOCK_SKEW
        for index, (number, fill) in enumerate(self._fills):
            if (
                fill.client_order_id is None
                and (fill.venue, fill.symbol, fill.venue_order_id)
                == (order.venue, order.symbol, venue_order_id)
                and fill.timestamp >= since
            ):
                claimed = dataclasses.replace(fill, client_order_id=order.client_order_id)
                self._fills[index] = (number, claimed)

    def get_order(self, client_order_id: str) -> JournaledOrder | None:
        """Return the journaled order with this client order id, or None."""
        known = self._orders.get(client_order_id)
        return None if known is None else known[1]

    def orders_in_status(self, statuses: Iterable[OrderStatus]) -> list[JournaledOrder]:
        """Return orders whose status is one of ``statuses``, oldest first."""
        wanted = {OrderStatus(status) for status in statuses}
        rows = (((o.created_at, n), o) for n, o in self._orders.values() if o.status in wanted)
        return _latest(rows, None)

    def orders(
        self,
        limit: int | None = None,
        *,
        venue: str | None = None,
        symbol: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[JournaledOrder]:
        """Return the latest ``limit`` orders by creation time (all when None), oldest first."""
        rows = (
            ((o.created_at, n), o)
            for n, o in self._orders.values()
            if _within(o.created_at, since, until, (o.venue, venue), (o.symbol, symbol))
        )
        return _latest(rows, limit)

    # -- fills and funding -----------------------------------------------------------------
    def record_fills(self, fills: Iterable[Fill]) -> int:
        """Insert fills not yet journaled (keyed by venue, symbol, trade id); return how many.

        A fill without a client order id takes the one of the journaled order it belongs to
        (same venue, symbol and venue order id) when exactly one order matches.
        """
        owners: dict[tuple[str, str, str | None], set[str]] = {}
        for _, order in self._orders.values():
            key = (order.venue, order.symbol, order.venue_order_id)
            owners.setdefault(key, set()).add(order.client_order_id)
        added = 0
        for fill in fills:
            key = (fill.venue, fill.symbol, fill.trade_id)
            if key in self._fill_keys:
                continue
            client = fill.client_order_id
            if client is None and fill.venue_order_id is not None:
                claims = owners.get((fill.venue, fill.symbol, fill.venue_order_id), set())
                client = next(iter(claims)) if len(claims) == 1 else None
            stored = Fill(
                venue=fill.venue,
                trade_id=fill.trade_id,
                symbol=fill.symbol,
                side=Side(fill.side),
                amount=_money(fill.amount),
                price=_money(fill.price),
                fee=_money(fill.fee),
                fee_currency=fill.fee_currency,
                realized_pnl=_money(fill.realized_pnl),
                timestamp=_time(fill.timestamp),
                client_order_id=client,
                venue_order_id=fill.venue_order_id,
                forced=None if fill.forced is None else ForcedClose(fill.forced),
            )
            number = len(self._fills) + 1
            self._fill_keys.add(key)
            self._fills.append((number, stored))
            self._fill_marks[fill.venue] = number
            times = self._fill_times.setdefault(fill.venue, {})
            times[fill.symbol] = max(stored.timestamp, times.get(fill.symbol, stored.timestamp))
            added += 1
        return added

    def record_funding(self, payments: Iterable[FundingPayment]) -> int:
        """Insert funding payments not yet journaled (keyed by venue, symbol and payment id).

        Return how many were new.
        """
        added = 0
        for payment in payments:
            key = (payment.venue, payment.symbol, payment.payment_id)
            if key in self._funding_keys:
                continue
            stored = FundingPayment(
                venue=payment.venue,
                payment_id=payment.payment_id,
                symbol=payment.symbol,
                timestamp=_time(payment.timestamp),
                rate=_optional_money(payment.rate),
                position_contracts=_optional_money(payment.position_contracts),
                amount=_money(payment.amount),
                currency=payment.currency,
            )
            self._funding_keys.add(key)
            self._funding.append((len(self._funding) + 1, stored))
            latest = self._funding_times.get(payment.venue, stored.timestamp)
            self._funding_times[payment.venue] = max(latest, stored.timestamp)
            added += 1
        return added

    def fills(
        self,
        limit: int | None = None,
        *,
        venue: str | None = None,
        symbol: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Fill]:
        """Return the latest ``limit`` fills (all when None), oldest first."""
        rows = (
            ((f.timestamp, n), f)
            for n, f in self._fills
            if _within(f.timestamp, since, until, (f.venue, venue), (f.symbol, symbol))
        )
        return _latest(rows, limit)

    def funding(
        self,
        limit: int | None = None,
        *,
        venue: str | None = None,
        symbol: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[FundingPayment]:
        """Return the latest ``limit`` funding payments (all when None), oldest first."""
        rows = (
            ((p.timestamp, n), p)
            for n, p in self._funding
            if _within(p.timestamp, since, until, (p.venue, venue), (p.symbol, symbol))
        )
        return _latest(rows, limit)

    def last_fill_time(self, venue: str) -> datetime | None:
        """Return the time of the venue's latest journaled fill, or None."""
        return max(self._fill_times.get(venue, {}).values(), default=None)

    def last_fill_times(self, venue: str) -> dict[str, datetime]:
        """Return the time of the venue's latest journaled fill per symbol."""
        return dict(self._fill_times.get(venue, {}))

    def last_funding_time(self, venue: str) -> datetime | None:
        """Return the time of the venue's latest journaled funding payment, or None."""
        return self._funding_times.get(venue)

    def fill_watermark(self, venue: str) -> int:
        """Return the journal's position in the venue's fills (0 when none): see `fills_after`."""
        return self._fill_marks.get(venue, 0)

    def fills_after(self, venue: str, watermark: int) -> list[Fill]:
        """Return the venue's fills journaled after ``watermark`` (a `fill_watermark`)."""
        return [f for n, f in self._fills[watermark:] if f.venue == venue]

    def unclaimed_fills(self, venue: str, symbol: str, since: datetime) -> list[Fill]:
        """Return the fills of ``symbol`` from ``since`` on that no journaled order claims."""
        claimed = {
            o.venue_order_id
            for _, o in self._orders.values()
            if o.venue == venue and o.symbol == symbol and o.venue_order_id is not None
        }
        return [
            f
            for _, f in self._fills
            if f.venue == venue
            and f.symbol == symbol
            and f.timestamp >= since
            and f.venue_order_id is not None
            and f.venue_order_id not in claimed
        ]

    def traded_symbols(self, venue: str) -> set[str]:
        """Return every symbol the venue has journaled orders or fills on."""
        ordered = {o.symbol for _, o in self._orders.values() if o.venue == venue}
        return ordered | {f.symbol for _, f in self._fills if f.venue == venue}

    # -- snapshots, events, totals ---------------------------------------------------------
    def record_snapshots(self, snapshots: Iterable[PositionSnapshot]) -> None:
        """Insert position snapshots."""
        for s in snapshots:
            stored = PositionSnapshot(
                time=_time(s.time),
                venue=s.venue,
                symbol=s.symbol,
                contracts=_money(s.contracts),
                entry_price=_money(s.entry_price),
                mark_price=_money(s.mark_price),
                isolated_margin=_money(s.isolated_margin),
                leverage=s.leverage,
                liquidation_price=_optional_money(s.liquidation_price),
                target_notional=_optional_money(s.target_notional),
                hedged_value=_optional_money(s.hedged_value),
                rebalance_id=s.rebalance_id,
            )
            self._snapshots.append((len(self._snapshots) + 1, stored))

    def snapshots(
        self,
        limit: int | None = None,
        *,
        venue: str | None = None,
        symbol: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[PositionSnapshot]:
        """Return the latest ``limit`` position snapshots (all when None), oldest first."""
        rows = (
            ((s.time, n), s)
            for n, s in self._snapshots
            if _within(s.time, since, until, (s.venue, venue), (s.symbol, symbol))
        )
        return _latest(rows, limit)

    def latest_snapshots(
        self, venue: str | None = None, *, before: datetime | None = None
    ) -> list[PositionSnapshot]:
        """Return the latest snapshot of each (venue, symbol), sorted by venue and symbol."""
        latest: dict[tuple[str, str], tuple[tuple[datetime, int], PositionSnapshot]] = {}
        for n, s in self._snapshots:
            if not _within(s.time, None, before, (s.venue, venue)):
                continue
            key, rank = (s.venue, s.symbol), (s.time, n)
            if key not in latest or rank > latest[key][0]:
                latest[key] = (rank, s)
        return [latest[key][1] for key in sorted(latest)]

    def record_event(
        self,
        kind: str,
        time: datetime,
        message: str,
        data: dict[str, Any] | None = None,
        *,
        venue: str | None = None,
    ) -> None:
        """Insert an operational event; ``data`` is made JSON-safe."""
        record = EventRecord(kind, _time(time), message, to_jsonable(data) or {}, venue)
        self._events.append((len(self._events) + 1, record))

    def events(
        self,
        limit: int | None = None,
        *,
        kind: str | None = None,
        venue: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        kinds: Collection[str] | None = None,
    ) -> list[EventRecord]:
        """Return the latest ``limit`` events (all when None), oldest first.

        ``kind``: of that kind only; ``kinds``: of any of those.
        """
        rows = (
            ((e.time, n), e)
            for n, e in self._events
            if _within(e.time, since, until, (e.venue, venue), (e.kind, kind))
            and (kinds is None or e.kind in kinds)
        )
        return _latest(rows, limit)

    def totals(
        self,
        venue: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        symbol: str | None = None,
    ) -> JournalTotals:
        """Sum fees, funding and realised PnL exactly over ``since <= t < until``.

        ``symbol`` filters fills, funding and orders; rebalances are counted by venue and time.
        """
        fills = [
            f
            for _, f in self._fills
            if _within(f.timestamp, since, until, (f.venue, venue), (f.symbol, symbol))
        ]
        amounts = [
            p.amount
            for _, p in self._funding
            if _within(p.timestamp, since, until, (p.venue, venue), (p.symbol, symbol))
        ]
        fees = _ZERO
        other_fees: dict[str, Decimal] = {}
        for fill in fills:
            if fill.fee_currency == USDT:
                fees += fill.fee
            else:
                other_fees[fill.fee_currency] = other_fees.get(fill.fee_currency, _ZERO) + fill.fee
        received = sum((amount for amount in amounts if amount > 0), _ZERO)
        paid = -sum((amount for amount in amounts if amount < 0), _ZERO)
        return JournalTotals(
            fees=fees,
            funding_received=received,
            funding_paid=paid,
            funding_net=received - paid,
            realized_pnl=sum((f.realized_pnl for f in fills), _ZERO),
            liquidation_count=sum(1 for f in fills if f.forced is ForcedClose.LIQUIDATION),
            adl_count=sum(1 for f in fills if f.forced is ForcedClose.ADL),
            fills=len(fills),
            funding_payments=len(amounts),
            orders=sum(
                1
                for _, o in self._orders.values()
                if _within(o.created_at, since, until, (o.venue, venue), (o.symbol, symbol))
            ),
            rebalances=sum(
                1
                for r in self._rebalances.values()
                if _within(r.time, since, until, (r.venue, venue))
            ),
            other_fees=other_fees,
        )

"""The `Journal`: records rebalances, orders, fills, funding and positions, and sums their cost."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    Executable,
    Table,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker
from sqlalchemy.sql import ColumnElement

from bot.core.domain import Fill, ForcedClose, FundingPayment, OrderIntent, OrderStatus, Side
from bot.core.errors import JournalError
from bot.journal.account_lock import make_private_directory
from bot.journal.file_lock import FILE_MODE
from bot.journal.identity import JournalIdentity, journal_identity
from bot.journal.lease import DEFAULT_TTL, Lease
from bot.journal.models import (
    FILL_KEY,
    FUNDING_KEY,
    Base,
    EventRow,
    FillRow,
    FundingRow,
    OrderRow,
    RebalanceRow,
    SnapshotRow,
)
from bot.journal.records import (
    CycleRecord,
    EventRecord,
    JournaledOrder,
    JournalTotals,
    PositionSnapshot,
    RebalanceRecord,
    to_jsonable,
)
from bot.journal.revision import HEAD_REVISION, MigrationError, stamped_revision
from bot.journal.urls import database_url
from bot.settings.secrets import mask, remember, url_password

log = logging.getLogger(__name__)

USDT = "USDT"
CLOCK_SKEW = timedelta(minutes=1)
"""How far an exchange's trade time may run behind our clock when the order was journaled."""
_ZERO = Decimal(0)
_Row = TypeVar("_Row", bound=Base)
_Out = TypeVar("_Out")
_LAST_FILL_TIME = select(func.max(FillRow.time)).where(FillRow.venue == bindparam("venue"))
_LAST_FUNDING_TIME = select(func.max(FundingRow.time)).where(FundingRow.venue == bindparam("venue"))


def _private_sqlite_file(database: str) -> None:
    """Create a SQLite journal's directory (0700) and file (0600) unless they exist.

    SQLite gives its ``-wal`` and ``-shm`` files the database file's mode. An existing journal
    readable by others is left as it is, with a warning.
    """
    path = Path(database).expanduser()
    make_private_directory(path.parent)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            log.warning("journal %s is readable by others; run: chmod 600 %s", path, path)
        return
    os.close(fd)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Turn on foreign keys and write-ahead logging for each new SQLite connection."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


@dataclass(frozen=True, slots=True)
class _Window:
    """Filters shared by the totals and the listings: venue, symbol, [since, until)."""

    venue: str | None = None
    symbol: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def on(
        self,
        time: InstrumentedAttribute[datetime],
        venue: InstrumentedAttribute[str] | InstrumentedAttribute[str | None],
        symbol: InstrumentedAttribute[str] | None = None,
    ) -> list[ColumnElement[bool]]:
        """Return the WHERE conditions for these columns (symbol ignored when None)."""
        conditions: list[ColumnElement[bool]] = []
        if self.venue is not None:
            conditions.append(venue == self.venue)
        if self.symbol is not None and symbol is not None:
            conditions.append(symbol == self.symbol)
        if self.since is not None:
            conditions.append(time >= self.since)
        if self.until is not None:
            conditions.append(time < self.until)
        return conditions


def _migrate(engine: Engine) -> None:
    """Bring the journal to the newest revision (Alembic is loaded only for this)."""
    from bot.journal.migrate import upgrade

    upgrade(engine)


class Journal:
    """Durable record of what the bot did and what the insurance cost.

    Every method opens its own short session and commits before returning. Database failures
    raise `JournalError`, whose message names the URL with its password masked. Time windows
    are half-open: ``since <= t < until``. Datetimes must be timezone-aware.
    """

    def __init__(self, engine: Engine, url: str, identity: JournalIdentity | None = None) -> None:
        """Wrap an engine whose schema exists; use :meth:`open` instead."""
        self._engine = engine
        self._secret = url_password(url)
        remember(self._secret)
        self._shown = mask(url, self._secret)
        self._identity = identity
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._rebalance_upsert: Executable | None = None

    @classmethod
    def open(cls, url: str) -> Journal:
        """Connect to ``url`` and migrate its schema to the newest revision.

        ``url`` is a SQLAlchemy URL: ``sqlite:///var/journal.db`` or
        ``postgresql://user:password@host/db`` (psycopg 3; see `database_url`). Migrations
        (`bot.journal.migrate`) run before the journal is returned. Its identity is taken then
        and guarded from there on (`bot.journal.identity`).
        """
        secret = url_password(url)
        remember(secret)
        engine: Engine | None = None
        try:
            parsed = database_url(url)
            if parsed.get_backend_name() == "sqlite":
                database = parsed.database
                if database and database != ":memory:" and not database.startswith("file:"):
                    _private_sqlite_file(database)
            engine = create_engine(parsed)
            if engine.dialect.name == "sqlite":
                event.listen(engine, "connect", _sqlite_pragmas)
            if stamped_revision(engine) != HEAD_REVISION:
                _migrate(engine)
            identity = journal_identity(engine, mask(url, secret), secret)
            if identity is not None:
                identity.watch(engine)
        except (SQLAlchemyError, ImportError, OSError, ValueError, MigrationError) as exc:
            if engine is not None:
                engine.dispose()
            message = mask(f"cannot open journal {url}: {exc}", secret)
            leaks = secret is not None and secret in str(exc)
            raise JournalError(message) from (None if leaks else exc)
        return cls(engine, url, identity)

    def lease(
        self,
        key: str,
        ttl: timedelta = DEFAULT_TTL,
        *,
        holder: str | None = None,
        clock: Callable[[], datetime] | None = None,
        lock_dir: Path | None = None,
    ) -> Lease:
        """Return the lease on ``key``, not yet acquired: one bot per account (`bot.journal.lease`).

        Use it as a context manager: acquired on entry (`LeaseHeld` when another instance has
        it), released on exit. ``lock_dir`` adds the per-user account lock; the lease checks
        this journal's identity while held.
        """
        return Lease(
            self._engine,
            key,
            ttl,
            holder=holder,
            clock=clock,
            where=self._shown,
            secret=self._secret,
            lock_dir=lock_dir,
            identity=self._identity,
        )

    def close(self) -> None:
        """Release every pooled connection."""
        self._engine.dispose()

    def __enter__(self) -> Journal:
        """Return the journal itself."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the journal."""
        self.close()

    def __repr__(self) -> str:
        """Show the URL with its password masked."""
        return f"Journal({self._shown!r})"

    @property
    def shown_url(self) -> str:
        """Return the journal's URL fit to print, its password masked (`secrets.mask`)."""
        return self._shown

    @contextmanager
    def _session(self, action: str) -> Iterator[Session]:
        """Yield a session in a transaction; wrap database failures in `JournalError`."""
        try:
            with self._sessions.begin() as session:
                yield session
        except SQLAlchemyError as exc:
            message = mask(f"journal {self._shown}: cannot {action}: {exc}", self._secret)
            raise JournalError(message) from exc

    @contextmanager
    def _connection(self, action: str) -> Iterator[Connection]:
        """Yield a connection in a transaction (lighter than a session for Core statements)."""
        try:
            with self._engine.begin() as connection:
                yield connection
        except SQLAlchemyError as exc:
            message = mask(f"journal {self._shown}: cannot {action}: {exc}", self._secret)
            raise JournalError(message) from exc

    def _dialect_insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        """Return an INSERT of ``table`` that can take ON CONFLICT clauses on this database."""
        dialect = self._engine.dialect.name
        if dialect == "postgresql":
            return postgresql.insert(table)
        if dialect == "sqlite":
            return sqlite.insert(table)
        raise JournalError(f"journal {self._shown}: unsupported database {dialect!r}")

    def _insert_new(self, table: Table, keys: list[str], rows: list[dict[str, Any]]) -> int:
        """Insert ``rows`` skipping those whose ``keys`` already exist; return rows inserted."""
        if not rows:
            return 0
        statement: Executable = (
            self._dialect_insert(table)
            .on_conflict_do_nothing(index_elements=keys)
            .returning(table.c.id)
        )
        with self._connection(f"insert into {table.name}") as connection:
            return len(connection.execute(statement, rows).all())

    def _recent(
        self,
        model: type[_Row],
        order: Sequence[InstrumentedAttribute[Any]],
        conditions: list[ColumnElement[bool]],
        limit: int | None,
        convert: Callable[[_Row], _Out],
    ) -> list[_Out]:
        """Return the latest ``limit`` rows (all when None), oldest first."""
        statement = (
            select(model).where(*conditions).order_by(*(c.desc() for c in order)).limit(limit)
        )
        with self._session(f"read {model.__tablename__}") as session:
            records = [convert(row) for row in session.scalars(statement)]
        records.reverse()
        return records

    def record_rebalance(self, record: RebalanceRecord) -> None:
        """Insert a rebalance; if its id exists, update status, reason, targets, inputs, note."""
        statement = self._rebalance_upsert
        if statement is None:  # built once: constructing it costs more than running it
            upsert = self._dialect_insert(Base.metadata.tables[RebalanceRow.__tablename__])
            updated = ("status", "reason", "targets", "inputs", "note")
            statement = self._rebalance_upsert = upsert.on_conflict_do_update(
                index_elements=["id"], set_={name: upsert.excluded[name] for name in updated}
            )
        row = {
            "id": record.id,
            "time": record.time,
            "mode": record.mode.value,
            "venue": record.venue,
            "strategy": record.strategy,
            "inputs": to_jsonable(record.inputs),
            "targets": to_jsonable(record.targets),
            "reason": record.reason,
            "status": record.status.value,
            "note": record.note,
        }
        with self._connection("record rebalance") as connection:
            connection.execute(statement, row)

    def record_cycle(self, cycle: CycleRecord) -> None:
        """Journal an engine cycle as its rebalance row (inserted, or updated by id)."""
        self.record_rebalance(cycle.to_rebalance())

    def count_rebalances_in_slot(self, slot: str) -> int:
        """Return how many rebalances were journaled in an interval slot (ids ``slot[-#n]``)."""
        statement = select(func.count()).where(
            or_(RebalanceRow.id == slot, RebalanceRow.id.startswith(f"{slot}-#", autoescape=True))
        )
        with self._connection("count rebalances") as connection:
            return int(connection.scalar(statement) or 0)

    def record_order_intent(
        self, intent: OrderIntent, *, venue: str, rebalance_id: str | None, time: datetime
    ) -> bool:
        """Journal an intent as ``pending``; return False if its client order id exists."""
        row = {
            "client_order_id": intent.client_order_id,
            "venue": venue,
            "rebalance_id": rebalance_id,
            "symbol": intent.symbol,
            "side": Side(intent.side).value,
            "amount": intent.amount,
            "reduce_only": intent.reduce_only,
            "reference_price": intent.reference_price,
            "status": OrderStatus.PENDING.value,
            "filled": _ZERO,
            "reason": intent.reason,
            "created_at": time,
            "updated_at": time,
        }
        orders = Base.metadata.tables[OrderRow.__tablename__]
        return self._insert_new(orders, ["client_order_id"], [row]) == 1

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
        value = OrderStatus(status).value
        with self._session("update order") as session:
            row = session.scalar(
                select(OrderRow).where(OrderRow.client_order_id == client_order_id)
            )
            if row is None:
                raise JournalError(f"no journaled order with client order id {client_order_id!r}")
            row.status = value
            row.updated_at = time
            if venue_order_id is not None and venue_order_id != row.venue_order_id:
                row.venue_order_id = venue_order_id
                # Its trades may be journaled already, pulled from a trade list that names no
                # client id before the order's exchange id was known: they are its own.
                session.execute(
                    update(FillRow)
                    .where(
                        FillRow.venue == row.venue,
                        FillRow.symbol == row.symbol,
                        FillRow.venue_order_id == venue_order_id,
                        FillRow.client_order_id.is_(None),
                        FillRow.time >= row.created_at - CLOCK_SKEW,
                    )
                    .values(client_order_id=client_order_id)
                )
            if filled is not None:
                row.filled = filled
            if average_price is not None:
                row.average_price = average_price
            if reason is not None:
                row.reason = reason

    def get_order(self, client_order_id: str) -> JournaledOrder | None:
        """Return the journaled order with this client order id, or None."""
        statement = select(OrderRow).where(OrderRow.client_order_id == client_order_id)
        with self._session("read order") as session:
            row = session.scalar(statement)
            return None if row is None else row.to_record()

    def orders_in_status(self, statuses: Iterable[OrderStatus]) -> list[JournaledOrder]:
        """Return orders whose status is one of ``statuses``, oldest first."""
        values = [OrderStatus(status).value for status in statuses]
        statement = (
            select(OrderRow)
            .where(OrderRow.status.in_(values))
            .order_by(OrderRow.created_at, OrderRow.id)
        )
        with self._session("read orders") as session:
            return [row.to_record() for row in session.scalars(statement)]

    def record_fills(self, fills: Iterable[Fill]) -> int:
        """Insert fills not yet journaled (keyed by venue, symbol, trade id); return how many.

        A fill without a client order id (exchanges' trade lists do not carry it) takes the one
        of the journaled order it belongs to: same venue, symbol and venue order id, when
        exactly one order matches. Trades of orders the journal does not know keep none.
        """
        table = Base.metadata.tables[FillRow.__tablename__]
        rows = [FillRow.values_of(f) for f in fills]
        self._claim_fills(rows)
        return self._insert_new(table, list(FILL_KEY), rows)

    def _claim_fills(self, rows: list[dict[str, Any]]) -> None:
        """Fill in ``client_order_id`` of fill rows from the journaled orders (see above)."""
        wanted = {
            (row["venue"], row["symbol"], row["venue_order_id"])
            for row in rows
            if row["client_order_id"] is None and row["venue_order_id"] is not None
        }
        if not wanted:
            return
        statement = select(
            OrderRow.venue, OrderRow.symbol, OrderRow.venue_order_id, OrderRow.client_order_id
        ).where(
            OrderRow.venue.in_({venue for venue, _, _ in wanted}),
            OrderRow.venue_order_id.in_({order for _, _, order in wanted}),
        )
        found: dict[tuple[str, str, str | None], set[str]] = {}
        with self._connection("read the orders of fills") as connection:
            for venue, symbol, order_id, client_id in connection.execute(statement):
                found.setdefault((venue, symbol, order_id), set()).add(client_id)
        for row in rows:
            key = (row["venue"], row["symbol"], row["venue_order_id"])
            owners = found.get(key, set()) if row["client_order_id"] is None else set()
            if len(owners) == 1:
                row["client_order_id"] = next(iter(owners))

    def record_funding(self, payments: Iterable[FundingPayment]) -> int:
        """Insert funding payments not yet journaled (keyed by venue, symbol and payment id).

        Return how many were new.
        """
        table = Base.metadata.tables[FundingRow.__tablename__]
        rows = [FundingRow.values_of(payment) for payment in payments]
        return self._insert_new(table, list(FUNDING_KEY), rows)

    def record_snapshots(self, snapshots: Iterable[PositionSnapshot]) -> None:
        """Insert position snapshots."""
        rows = [
            {
                "rebalance_id": s.rebalance_id,
                "time": s.time,
                "venue": s.venue,
                "symbol": s.symbol,
                "contracts": s.contracts,
                "entry_price": s.entry_price,
                "mark_price": s.mark_price,
                "isolated_margin": s.isolated_margin,
                "liquidation_price": s.liquidation_price,
                "target_notional": s.target_notional,
                "hedged_value": s.hedged_value,
                "leverage": s.leverage,
            }
            for s in snapshots
        ]
        if rows:
            table = Base.metadata.tables[SnapshotRow.__tablename__]
            with self._connection("record position snapshots") as connection:
                connection.execute(insert(table), rows)

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
        row = EventRow(kind=kind, time=time, message=message, data=to_jsonable(data), venue=venue)
        with self._session("record event") as session:
            session.add(row)

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
        conditions = _Window(venue, None, since, until).on(EventRow.time, EventRow.venue, None)
        if kind is not None:
            conditions.append(EventRow.kind == kind)
        if kinds is not None:
            conditions.append(EventRow.kind.in_(kinds))
        order = (EventRow.time, EventRow.id)
        return self._recent(EventRow, order, conditions, limit, EventRow.to_record)

    def last_fill_time(self, venue: str) -> datetime | None:
        """Return the time of the venue's latest journaled fill, or None."""
        with self._connection("read last fill time") as connection:
            return connection.scalar(_LAST_FILL_TIME, {"venue": venue})

    def unclaimed_fills(self, venue: str, symbol: str, since: datetime) -> list[Fill]:
        """Return the fills of ``symbol`` from ``since`` on that no journaled order claims.

        Those are trades of an order the exchange answered nothing about, or someone else's.
        Order ids count within their symbol (Binance numbers orders per symbol).
        """
        claimed = select(OrderRow.venue_order_id).where(
            OrderRow.venue == venue, OrderRow.symbol == symbol, OrderRow.venue_order_id.is_not(None)
        )
        statement = (
            select(FillRow)
            .where(
                FillRow.venue == venue,
                FillRow.symbol == symbol,
                FillRow.time >= since,
                FillRow.venue_order_id.is_not(None),
                FillRow.venue_order_id.not_in(claimed),
            )
            .order_by(FillRow.id)
        )
        with self._session("read unclaimed fills") as session:
            return [row.to_fill() for row in session.scalars(statement)]

    def traded_symbols(self, venue: str) -> set[str]:
        """Return every symbol the venue has journaled orders or fills on."""
        orders = select(OrderRow.symbol).where(OrderRow.venue == venue).distinct()
        fills = select(FillRow.symbol).where(FillRow.venue == venue).distinct()
        with self._connection("read traded symbols") as connection:
            found = set(connection.scalars(orders)) | set(connection.scalars(fills))
        return found

    def last_fill_times(self, venue: str) -> dict[str, datetime]:
        """Return the time of the venue's latest journaled fill per symbol."""
        statement = (
            select(FillRow.symbol, func.max(FillRow.time))
            .where(FillRow.venue == venue)
            .group_by(FillRow.symbol)
        )
        with self._connection("read last fill times") as connection:
            return {symbol: time for symbol, time in connection.execute(statement)}

    def fill_watermark(self, venue: str) -> int:
        """Return the journal's position in the venue's fills (0 when none): see `fills_after`."""
        statement = select(func.max(FillRow.id)).where(FillRow.venue == venue)
        with self._connection("read fill watermark") as connection:
            return int(connection.scalar(statement) or 0)

    def fills_after(self, venue: str, watermark: int) -> list[Fill]:
        """Return the venue's fills journaled after ``watermark`` (a `fill_watermark`)."""
        statement = (
            select(FillRow)
            .where(FillRow.venue == venue, FillRow.id > watermark)
            .order_by(FillRow.id)
        )
        with self._session("read fills after watermark") as session:
            return [row.to_fill() for row in session.scalars(statement)]

    def last_funding_time(self, venue: str) -> datetime | None:
        """Return the time of the venue's latest journaled funding payment, or None."""
        with self._connection("read last funding time") as connection:
            return connection.scalar(_LAST_FUNDING_TIME, {"venue": venue})

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
        window = _Window(venue=venue, symbol=symbol, since=since, until=until)
        fills = select(
            FillRow.fee, FillRow.fee_currency, FillRow.realized_pnl, FillRow.forced
        ).where(*window.on(FillRow.time, FillRow.venue, FillRow.symbol))
        funding = select(FundingRow.amount).where(
            *window.on(FundingRow.time, FundingRow.venue, FundingRow.symbol)
        )
        orders = select(func.count(OrderRow.id)).where(
            *window.on(OrderRow.created_at, OrderRow.venue, OrderRow.symbol)
        )
        rebalances = select(func.count(RebalanceRow.id)).where(
            *window.on(RebalanceRow.time, RebalanceRow.venue)
        )
        with self._session("compute totals") as session:
            fill_rows = session.execute(fills).all()
            amounts = list(session.scalars(funding))
            order_count = session.scalar(orders) or 0
            rebalance_count = session.scalar(rebalances) or 0
        fees = _ZERO
        other_fees: dict[str, Decimal] = {}
        for fee, currency, _pnl, _forced in fill_rows:
            if currency == USDT:
                fees += fee
            else:
                other_fees[currency] = other_fees.get(currency, _ZERO) + fee
        received = sum((amount for amount in amounts if amount > 0), _ZERO)
        paid = -sum((amount for amount in amounts if amount < 0), _ZERO)
        return JournalTotals(
            fees=fees,
            funding_received=received,
            funding_paid=paid,
            funding_net=received - paid,
            realized_pnl=sum((row.realized_pnl for row in fill_rows), _ZERO),
            liquidation_count=sum(1 for row in fill_rows if row.forced == ForcedClose.LIQUIDATION),
            adl_count=sum(1 for row in fill_rows if row.forced == ForcedClose.ADL),
            fills=len(fill_rows),
            funding_payments=len(amounts),
            orders=order_count,
            rebalances=rebalance_count,
            other_fees=other_fees,
        )

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
        conditions = _Window(venue, symbol, since, until).on(
            FillRow.time, FillRow.venue, FillRow.symbol
        )
        order = (FillRow.time, FillRow.id)
        return self._recent(FillRow, order, conditions, limit, FillRow.to_fill)

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
        conditions = _Window(venue, symbol, since, until).on(
            FundingRow.time, FundingRow.venue, FundingRow.symbol
        )
        order = (FundingRow.time, FundingRow.id)
        return self._recent(FundingRow, order, conditions, limit, FundingRow.to_payment)

    def rebalances(
        self,
        limit: int | None = None,
        *,
        venue: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[RebalanceRecord]:
        """Return the latest ``limit`` rebalances (all when None), oldest first."""
        conditions = _Window(venue, None, since, until).on(RebalanceRow.time, RebalanceRow.venue)
        order = (RebalanceRow.time, RebalanceRow.id)
        return self._recent(RebalanceRow, order, conditions, limit, RebalanceRow.to_record)

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
        conditions = _Window(venue, symbol, since, until).on(
            OrderRow.created_at, OrderRow.venue, OrderRow.symbol
        )
        order = (OrderRow.created_at, OrderRow.id)
        return self._recent(OrderRow, order, conditions, limit, OrderRow.to_record)

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
        conditions = _Window(venue, symbol, since, until).on(
            SnapshotRow.time, SnapshotRow.venue, SnapshotRow.symbol
        )
        order = (SnapshotRow.time, SnapshotRow.id)
        return self._recent(SnapshotRow, order, conditions, limit, SnapshotRow.to_record)

    def latest_venue(self) -> str | None:
        """Return the venue (session) whose rebalance was written last; None when there is none.

        "Last" is the order of writing, not the journaled time: a paper replay of 2022 run after
        one of 2024 is the latest session. SQLite keeps rows in ``rowid`` order; on PostgreSQL
        the row written by the most recent transaction has the smallest ``age(xmin)``.
        """
        dialect = self._engine.dialect.name
        table = RebalanceRow.__tablename__
        order: list[ColumnElement[Any]]
        if dialect == "sqlite":
            order = [literal_column(f"{table}.rowid").desc()]
        elif dialect == "postgresql":
            order = [func.age(literal_column(f"{table}.xmin")).asc(), RebalanceRow.time.desc()]
        else:  # pragma: no cover - the journal runs on SQLite and PostgreSQL only
            order = [RebalanceRow.time.desc()]
        statement = select(RebalanceRow.venue).order_by(*order).limit(1)
        with self._connection("read the latest session") as connection:
            return connection.scalar(statement)

    def held_symbols(self, venue: str) -> list[str]:
        """Return the legs whose latest snapshot on ``venue`` holds a position, sorted."""
        return [s.symbol for s in self.latest_snapshots(venue) if s.contracts != 0]

    def latest_snapshots(
        self, venue: str | None = None, *, before: datetime | None = None
    ) -> list[PositionSnapshot]:
        """Return the latest snapshot of each (venue, symbol), sorted by venue and symbol.

        ``before`` keeps only snapshots taken strictly before that time.
        """
        rank = (
            func.row_number()
            .over(
                partition_by=(SnapshotRow.venue, SnapshotRow.symbol),
                order_by=(SnapshotRow.time.desc(), SnapshotRow.id.desc()),
            )
            .label("rank")
        )
        ranked = select(SnapshotRow.id, rank)
        if venue is not None:
            ranked = ranked.where(SnapshotRow.venue == venue)
        if before is not None:
            ranked = ranked.where(SnapshotRow.time < before)
        latest = ranked.subquery()
        statement = (
            select(SnapshotRow)
            .join(latest, SnapshotRow.id == latest.c.id)
            .where(latest.c.rank == 1)
            .order_by(SnapshotRow.venue, SnapshotRow.symbol)
        )
        with self._session("read position snapshots") as session:
            return [row.to_record() for row in session.scalars(statement)]

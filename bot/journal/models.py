"""The journal's tables (SQLAlchemy 2.x typed ORM) and their exact money and UTC time types."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

from bot.core.domain import Fill, ForcedClose, FundingPayment, OrderStatus, Side
from bot.journal.records import (
    EventRecord,
    JournaledOrder,
    PositionSnapshot,
    RebalanceRecord,
    RebalanceStatus,
    RunMode,
    to_jsonable,
)

MONEY_SCALE = 18
"""Fractional digits kept for money: values are rounded half-even to 1e-18 when written."""

_CONTEXT = Context(prec=80)  # wide enough that quantize/normalize never round NUMERIC(38, 18)
_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)
_ONE = Decimal(1)


def to_money(value: object) -> Decimal:
    """Return ``value`` as a finite Decimal with at most 18 decimals; refuse floats."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"money must be Decimal or int, not {type(value).__name__}: {value!r}")
    amount = Decimal(value)
    if not amount.is_finite():
        raise ValueError(f"money must be finite, not {amount}")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MONEY_SCALE:
        amount = amount.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN, context=_CONTEXT)
    return amount


def _normalise(value: Decimal) -> Decimal:
    """Strip trailing zeros without switching to exponent notation for integers."""
    if value == value.to_integral_value(context=_CONTEXT):
        return value.quantize(_ONE, context=_CONTEXT)
    return value.normalize(_CONTEXT)


class Money(TypeDecorator[Decimal]):
    """Store a Decimal exactly: NUMERIC(38, 18) on PostgreSQL, text on SQLite and others."""

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Use NUMERIC on PostgreSQL; SQLite's NUMERIC is a float, so use text there."""
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(38, MONEY_SCALE, asdecimal=True))
        return dialect.type_descriptor(String())

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        """Validate and round to 18 decimals; write text (plain notation) outside PostgreSQL."""
        if value is None:
            return None
        amount = to_money(value)
        return amount if dialect.name == "postgresql" else format(amount, "f")

    def process_result_value(self, value: Any | None, dialect: Dialect) -> Decimal | None:
        """Return a normalised Decimal."""
        if value is None:
            return None
        return _normalise(value if isinstance(value, Decimal) else Decimal(str(value)))


class UtcDateTime(TypeDecorator[datetime]):
    """Store an aware datetime as UTC; refuse naive datetimes; always read back aware UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        """Convert to UTC; SQLite keeps no offset, so write it naive there."""
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, not {type(value).__name__}: {value!r}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime refused (give it a timezone): {value.isoformat()}")
        utc = value.astimezone(UTC)
        return utc if dialect.name == "postgresql" else utc.replace(tzinfo=None)

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, not {value!r}")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of the journal's tables."""


class RebalanceRow(Base):
    """One rebalance decision with its inputs, targets and outcome."""

    __tablename__ = "rebalances"

    id: Mapped[str] = mapped_column(String(), primary_key=True)
    time: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    mode: Mapped[str] = mapped_column(String())
    venue: Mapped[str] = mapped_column(String())
    strategy: Mapped[str] = mapped_column(String())
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON())
    targets: Mapped[dict[str, Any]] = mapped_column(JSON())
    reason: Mapped[str] = mapped_column(Text())
    status: Mapped[str] = mapped_column(String())
    note: Mapped[str | None] = mapped_column(Text())

    @classmethod
    def from_record(cls, record: RebalanceRecord) -> RebalanceRow:
        """Build a row from a record, making inputs and targets JSON-safe."""
        return cls(
            id=record.id,
            time=record.time,
            mode=record.mode.value,
            venue=record.venue,
            strategy=record.strategy,
            inputs=to_jsonable(record.inputs),
            targets=to_jsonable(record.targets),
            reason=record.reason,
            status=record.status.value,
            note=record.note,
        )

    def to_record(self) -> RebalanceRecord:
        """Return the row as a record."""
        return RebalanceRecord(
            id=self.id,
            time=self.time,
            mode=RunMode(self.mode),
            venue=self.venue,
            strategy=self.strategy,
            inputs=self.inputs,
            targets=self.targets,
            reason=self.reason,
            status=RebalanceStatus(self.status),
            note=self.note,
        )


class OrderRow(Base):
    """An order intent and the venue's latest word on it."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_order_id: Mapped[str] = mapped_column(String(), unique=True)
    venue_order_id: Mapped[str | None] = mapped_column(String())
    venue: Mapped[str] = mapped_column(String())
    rebalance_id: Mapped[str | None] = mapped_column(ForeignKey("rebalances.id"), index=True)
    symbol: Mapped[str] = mapped_column(String())
    side: Mapped[str] = mapped_column(String())
    amount: Mapped[Decimal] = mapped_column(Money())
    reduce_only: Mapped[bool]
    reference_price: Mapped[Decimal] = mapped_column(Money())
    status: Mapped[str] = mapped_column(String(), index=True)
    filled: Mapped[Decimal] = mapped_column(Money())
    average_price: Mapped[Decimal | None] = mapped_column(Money())
    reason: Mapped[str] = mapped_column(Text())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    def to_record(self) -> JournaledOrder:
        """Return the row as a record."""
        return JournaledOrder(
            client_order_id=self.client_order_id,
            venue=self.venue,
            symbol=self.symbol,
            side=Side(self.side),
            amount=self.amount,
            reduce_only=self.reduce_only,
            reference_price=self.reference_price,
            status=OrderStatus(self.status),
            filled=self.filled,
            reason=self.reason,
            created_at=self.created_at,
            updated_at=self.updated_at,
            venue_order_id=self.venue_order_id,
            average_price=self.average_price,
            rebalance_id=self.rebalance_id,
        )


FILL_KEY = ("venue", "symbol", "trade_id")
"""A fill's identity: Binance USDⓈ-M numbers trades per symbol, so the symbol is part of it."""
FUNDING_KEY = ("venue", "symbol", "payment_id")
"""A funding payment's identity (Binance's income ``tranId``, Bybit's ``execId``) in its symbol."""


class FillRow(Base):
    """One trade; ``client_order_id`` has no foreign key so forced fills fit.

    ``forced`` is how the exchange closed the position by itself (`ForcedClose`: ``liquidation``,
    ``adl``); NULL for an ordinary trade.
    """

    __tablename__ = "fills"
    __table_args__ = (
        UniqueConstraint(*FILL_KEY, name="uq_fills_venue_symbol_trade_id"),
        Index("ix_fills_venue_time", "venue", "time"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    venue: Mapped[str] = mapped_column(String())
    trade_id: Mapped[str] = mapped_column(String())
    client_order_id: Mapped[str | None] = mapped_column(String(), index=True)
    venue_order_id: Mapped[str | None] = mapped_column(String())
    symbol: Mapped[str] = mapped_column(String())
    side: Mapped[str] = mapped_column(String())
    amount: Mapped[Decimal] = mapped_column(Money())
    price: Mapped[Decimal] = mapped_column(Money())
    fee: Mapped[Decimal] = mapped_column(Money())
    fee_currency: Mapped[str] = mapped_column(String())
    realized_pnl: Mapped[Decimal] = mapped_column(Money())
    forced: Mapped[str | None] = mapped_column(String())
    time: Mapped[datetime] = mapped_column(UtcDateTime())

    @staticmethod
    def values_of(fill: Fill) -> dict[str, Any]:
        """Return the column values of ``fill`` for a bulk insert."""
        return {
            "venue": fill.venue,
            "trade_id": fill.trade_id,
            "client_order_id": fill.client_order_id,
            "venue_order_id": fill.venue_order_id,
            "symbol": fill.symbol,
            "side": Side(fill.side).value,
            "amount": fill.amount,
            "price": fill.price,
            "fee": fill.fee,
            "fee_currency": fill.fee_currency,
            "realized_pnl": fill.realized_pnl,
            "forced": None if fill.forced is None else ForcedClose(fill.forced).value,
            "time": fill.timestamp,
        }

    def to_fill(self) -> Fill:
        """Return the row as a domain fill."""
        return Fill(
            venue=self.venue,
            trade_id=self.trade_id,
            symbol=self.symbol,
            side=Side(self.side),
            amount=self.amount,
            price=self.price,
            fee=self.fee,
            fee_currency=self.fee_currency,
            realized_pnl=self.realized_pnl,
            timestamp=self.time,
            client_order_id=self.client_order_id,
            venue_order_id=self.venue_order_id,
            forced=None if self.forced is None else ForcedClose(self.forced),
        )


class FundingRow(Base):
    """One funding settlement; ``amount`` > 0 means received.

    ``rate`` and ``position_contracts`` are NULL where the exchange did not tell them.
    """

    __tablename__ = "funding_payments"
    __table_args__ = (
        UniqueConstraint(*FUNDING_KEY, name="uq_funding_payments_venue_symbol_payment_id"),
        Index("ix_funding_payments_venue_time", "venue", "time"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    venue: Mapped[str] = mapped_column(String())
    payment_id: Mapped[str] = mapped_column(String())
    symbol: Mapped[str] = mapped_column(String())
    time: Mapped[datetime] = mapped_column(UtcDateTime())
    rate: Mapped[Decimal | None] = mapped_column(Money())
    position_contracts: Mapped[Decimal | None] = mapped_column(Money())
    amount: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String())

    @staticmethod
    def values_of(payment: FundingPayment) -> dict[str, Any]:
        """Return the column values of ``payment`` for a bulk insert."""
        return {
            "venue": payment.venue,
            "payment_id": payment.payment_id,
            "symbol": payment.symbol,
            "time": payment.timestamp,
            "rate": payment.rate,
            "position_contracts": payment.position_contracts,
            "amount": payment.amount,
            "currency": payment.currency,
        }

    def to_payment(self) -> FundingPayment:
        """Return the row as a domain funding payment."""
        return FundingPayment(
            venue=self.venue,
            payment_id=self.payment_id,
            symbol=self.symbol,
            timestamp=self.time,
            rate=self.rate,
            position_contracts=self.position_contracts,
            amount=self.amount,
            currency=self.currency,
        )


class SnapshotRow(Base):
    """A perp position at one moment; ``contracts`` is signed (negative = short)."""

    __tablename__ = "position_snapshots"
    __table_args__ = (Index("ix_position_snapshots_venue_symbol_time", "venue", "symbol", "time"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rebalance_id: Mapped[str | None] = mapped_column(ForeignKey("rebalances.id"), index=True)
    time: Mapped[datetime] = mapped_column(UtcDateTime())
    venue: Mapped[str] = mapped_column(String())
    symbol: Mapped[str] = mapped_column(String())
    contracts: Mapped[Decimal] = mapped_column(Money())
    entry_price: Mapped[Decimal] = mapped_column(Money())
    mark_price: Mapped[Decimal] = mapped_column(Money())
    isolated_margin: Mapped[Decimal] = mapped_column(Money())
    liquidation_price: Mapped[Decimal | None] = mapped_column(Money())
    target_notional: Mapped[Decimal | None] = mapped_column(Money())
    hedged_value: Mapped[Decimal | None] = mapped_column(Money())
    leverage: Mapped[int]

    @classmethod
    def from_record(cls, snapshot: PositionSnapshot) -> SnapshotRow:
        """Build a row from a snapshot record."""
        return cls(
            rebalance_id=snapshot.rebalance_id,
            time=snapshot.time,
            venue=snapshot.venue,
            symbol=snapshot.symbol,
            contracts=snapshot.contracts,
            entry_price=snapshot.entry_price,
            mark_price=snapshot.mark_price,
            isolated_margin=snapshot.isolated_margin,
            liquidation_price=snapshot.liquidation_price,
            target_notional=snapshot.target_notional,
            hedged_value=snapshot.hedged_value,
            leverage=snapshot.leverage,
        )

    def to_record(self) -> PositionSnapshot:
        """Return the row as a snapshot record."""
        return PositionSnapshot(
            time=self.time,
            venue=self.venue,
            symbol=self.symbol,
            contracts=self.contracts,
            entry_price=self.entry_price,
            mark_price=self.mark_price,
            isolated_margin=self.isolated_margin,
            leverage=self.leverage,
            liquidation_price=self.liquidation_price,
            target_notional=self.target_notional,
            hedged_value=self.hedged_value,
            rebalance_id=self.rebalance_id,
        )


class EventRow(Base):
    """A free-form operational event (risk guard trips, reconciliations, warnings)."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(), index=True)
    time: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    message: Mapped[str] = mapped_column(Text())
    venue: Mapped[str | None] = mapped_column(String(), index=True)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))

    def to_record(self) -> EventRecord:
        """Convert to the journal's boundary type."""
        return EventRecord(self.kind, self.time, self.message, self.data or {}, self.venue)


class LeaseRow(Base):
    """Who runs the bot on an account: one row per key, see `bot.journal.lease`."""

    __tablename__ = "leases"

    key: Mapped[str] = mapped_column(String(), primary_key=True)
    holder: Mapped[str] = mapped_column(String())
    acquired_at: Mapped[datetime] = mapped_column(UtcDateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())

"""The journal as first released: rebalances, orders, fills, funding, snapshots, events.

Written out by hand from the first release's ``bot/journal/models.py`` and frozen: later model
changes go into later revisions, never here. Types are spelled as that release stored them:
money is ``NUMERIC(38, 18)`` on PostgreSQL and exact decimal text elsewhere; times are
``TIMESTAMP WITH TIME ZONE`` (naive UTC on SQLite).

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

MONEY = sa.String().with_variant(sa.Numeric(38, 18), "postgresql")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the six tables of the first release with their keys and indexes."""
    op.create_table(
        "rebalances",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("time", TIME, nullable=False),
        sa.Column("mode", sa.String(), nullable=False),
        sa.Column("venue", sa.String(), nullable=False),
        sa.Column("strategy", sa.String(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_rebalances_time", "rebalances", ["time"])

    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_order_id", sa.String(), nullable=False),
        sa.Column("venue_order_id", sa.String(), nullable=True),
        sa.Column("venue", sa.String(), nullable=False),
        sa.Column("rebalance_id", sa.String(), nullable=True),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("side", sa.String(), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("reduce_only", sa.Boolean(), nullable=False),
        sa.Column("reference_price", MONEY, nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("filled", MONEY, nullable=False),
        sa.Column("average_price", MONEY, nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("client_order_id"),
        sa.ForeignKeyConstraint(["rebalance_id"], ["rebalances.id"]),
    )
    op.create_index("ix_orders_created_at", "orders", ["created_at"])
    op.create_index("ix_orders_rebalance_id", "orders", ["rebalance_id"])
    op.create_index("ix_orders_status", "orders", ["status"])

    op.create_table(
        "fills",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("venue", sa.String(), nullable=False),
        sa.Column("trade_id", sa.String(), nullable=False),
        sa.Column("client_order_id", sa.String(), nullable=True),
        sa.Column("venue_order_id", sa.String(), nullable=True),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("side", sa.String(), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("price", MONEY, nullable=False),
        sa.Column("fee", MONEY, nullable=False),
        sa.Column("fee_currency", sa.String(), nullable=False),
        sa.Column("realized_pnl", MONEY, nullable=False),
        sa.Column("is_liquidation", sa.Boolean(), nullable=False),
        sa.Column("time", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("venue", "trade_id"),
    )
    op.create_index("ix_fills_client_order_id", "fills", ["client_order_id"])
    op.create_index("ix_fills_venue_time", "fills", ["venue", "time"])

    op.create_table(
        "funding_payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("venue", sa.String(), nullable=False),
        sa.Column("payment_id", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("time", TIME, nullable=False),
        sa.Column("rate", MONEY, nullable=False),
        sa.Column("position_contracts", MONEY, nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("currency", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("venue", "payment_id"),
    )
    op.create_index("ix_funding_payments_venue_time", "funding_payments", ["venue", "time"])

    op.create_table(
        "position_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rebalance_id", sa.String(), nullable=True),
        sa.Column("time", TIME, nullable=False),
        sa.Column("venue", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("contracts", MONEY, nullable=False),
        sa.Column("entry_price", MONEY, nullable=False),
        sa.Column("mark_price", MONEY, nullable=False),
        sa.Column("isolated_margin", MONEY, nullable=False),
        sa.Column("liquidation_price", MONEY, nullable=True),
        sa.Column("target_notional", MONEY, nullable=True),
        sa.Column("hedged_value", MONEY, nullable=True),
        sa.Column("leverage", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["rebalance_id"], ["rebalances.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_position_snapshots_rebalance_id", "position_snapshots", ["rebalance_id"])
    op.create_index(
        "ix_position_snapshots_venue_symbol_time",
        "position_snapshots",
        ["venue", "symbol", "time"],
    )

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("time", TIME, nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(none_as_null=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_events_kind", "events", ["kind"])
    op.create_index("ix_events_time", "events", ["time"])


def downgrade() -> None:
    """Drop every table of the first release (and its data)."""
    for table in (
        "events",
        "position_snapshots",
        "funding_payments",
        "fills",
        "orders",
        "rebalances",
    ):
        op.drop_table(table)

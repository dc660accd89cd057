"""Events name their venue; leases keep one bot per account.

``events.venue`` (indexed) arrived after the first release. Journals created by a release that
already had it (``create_all`` without Alembic) keep their column: it is added only when absent.
When it is added, margin-guard events, which carry their ``rebalance_id`` in ``data``, get the
venue of that rebalance; other old events keep NULL (unknown venue: they show in unfiltered
listings only). ``leases`` is new: see `bot.journal.lease`.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)

_BACKFILL = {
    "sqlite": (
        "UPDATE events SET venue = (SELECT r.venue FROM rebalances AS r WHERE r.id ="
        " CASE WHEN json_valid(events.data) THEN json_extract(events.data, '$.rebalance_id') END)"
        " WHERE venue IS NULL"
    ),
    "postgresql": (
        "UPDATE events SET venue = r.venue FROM rebalances AS r"
        " WHERE events.venue IS NULL AND r.id = events.data ->> 'rebalance_id'"
    ),
}


def upgrade() -> None:
    """Add ``events.venue`` (unless present) with its index, backfill it, create ``leases``."""
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    columns = {column["name"] for column in inspector.get_columns("events")}
    if "venue" not in columns:
        op.add_column("events", sa.Column("venue", sa.String(), nullable=True))
        backfill = _BACKFILL.get(bind.dialect.name)
        if backfill is not None:
            op.execute(backfill)
    indexes = {index["name"] for index in inspector.get_indexes("events")}
    if "ix_events_venue" not in indexes:
        op.create_index("ix_events_venue", "events", ["venue"])

    op.create_table(
        "leases",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("holder", sa.String(), nullable=False),
        sa.Column("acquired_at", TIME, nullable=False),
        sa.Column("heartbeat_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    """Drop ``leases`` and ``events.venue``."""
    op.drop_table("leases")
    op.drop_index("ix_events_venue", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("venue")

"""Fills say how the exchange forced them: ``fills.forced`` replaces ``fills.is_liquidation``.

``forced`` is NULL for an ordinary trade, ``'liquidation'`` or ``'adl'`` (auto-deleveraging) for
a position the exchange closed by itself. Earlier releases flagged both kinds as liquidations,
so every flagged row is backfilled ``'liquidation'`` (what they were journaled as; an old ADL
cannot be told apart afterwards). SQLite cannot drop a column in place everywhere: the table is
copied (Alembic's batch mode), rows intact. Downgrading flags every forced row as a liquidation.
A journal that ``create_all`` of this release made (no Alembic stamp) has ``forced`` already:
it is left as it is.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_FILLS = sa.table(
    "fills", sa.column("forced", sa.String()), sa.column("is_liquidation", sa.Boolean())
)


def _columns() -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns("fills")}


def upgrade() -> None:
    """Add ``forced``, backfill flagged rows as ``'liquidation'``, drop ``is_liquidation``.

    Each step only if needed: a journal made by ``create_all`` of this release has the new
    column already.
    """
    columns = _columns()
    if "forced" not in columns:
        op.add_column("fills", sa.Column("forced", sa.String(), nullable=True))
    if "is_liquidation" in columns:
        flagged = _FILLS.c.is_liquidation == sa.true()
        op.execute(_FILLS.update().where(flagged).values(forced="liquidation"))
        with op.batch_alter_table("fills") as batch:
            batch.drop_column("is_liquidation")


def downgrade() -> None:
    """Bring back ``is_liquidation``: true for every forced row (ADL too), then drop ``forced``."""
    with op.batch_alter_table("fills") as batch:
        batch.add_column(sa.Column("is_liquidation", sa.Boolean(), nullable=True))
    op.execute(_FILLS.update().values(is_liquidation=_FILLS.c.forced.is_not(None)))
    with op.batch_alter_table("fills") as batch:
        batch.alter_column("is_liquidation", existing_type=sa.Boolean(), nullable=False)
        batch.drop_column("forced")

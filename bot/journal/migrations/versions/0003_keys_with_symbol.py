"""Fills and funding keyed by symbol; unknown funding rate and position stored as NULL.

Binance USDⓈ-M numbers trades per symbol, so ``fills`` is unique on (venue, symbol, trade_id)
instead of (venue, trade_id), and ``funding_payments`` on (venue, symbol, payment_id). The new
keys hold more than the old ones, so no row can clash: every row is kept.
``funding_payments.rate`` and ``position_contracts`` become nullable: NULL means the exchange
did not say. Two documented backfills:

* a payment with a non-zero amount cannot have had a zero rate or a zero position (the amount is
  position × mark × rate): such zeros were written by releases that stored 0 for "unknown", and
  become NULL;
* a fill without a client order id gets the one of the journaled order with its venue, symbol and
  venue order id, when exactly one order matches (live fills were written without it).

Journals made by ``create_all`` of a release that already had the new keys keep them as they are.
SQLite cannot alter a constraint: the two tables are copied (Alembic's batch mode), rows intact.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_NAMING = {"uq": "uq_%(table_name)s_%(column_0_N_name)s"}
"""Names Alembic gives SQLite's unnamed unique constraints when it copies a table."""
_KEYS = {
    "fills": (("venue", "trade_id"), ("venue", "symbol", "trade_id")),
    "funding_payments": (("venue", "payment_id"), ("venue", "symbol", "payment_id")),
}
MONEY = sa.String().with_variant(sa.Numeric(38, 18), "postgresql")

_CLIENT_IDS = (
    "UPDATE fills SET client_order_id = (SELECT min(o.client_order_id) FROM orders AS o"
    " WHERE o.venue = fills.venue AND o.symbol = fills.symbol"
    " AND o.venue_order_id = fills.venue_order_id HAVING count(*) = 1)"
    " WHERE client_order_id IS NULL AND venue_order_id IS NOT NULL"
)
_ZERO = {"sqlite": "CAST({} AS REAL) = 0", "postgresql": "{} = 0"}


def _unique_name(table: str, columns: Sequence[str]) -> str | None:
    """Return the name of ``table``'s unique constraint on exactly ``columns``; None if absent.

    SQLite's unnamed constraints are named by `_NAMING`, as batch mode will name them.
    """
    for found in sa.inspect(op.get_bind()).get_unique_constraints(table):
        if list(found["column_names"]) == list(columns):
            return found["name"] or f"uq_{table}_{'_'.join(columns)}"
    return None


def _rekey(table: str, old: Sequence[str], new: Sequence[str]) -> None:
    """Replace the unique key on ``old`` columns by one on ``new`` (each only if needed)."""
    dropped = _unique_name(table, old)
    wanted = f"uq_{table}_{'_'.join(new)}"
    present = _unique_name(table, new)
    with op.batch_alter_table(table, naming_convention=_NAMING) as batch:
        if dropped is not None:
            batch.drop_constraint(dropped, type_="unique")
        if present is None:
            batch.create_unique_constraint(wanted, list(new))
        if table == "funding_payments":
            for column in ("rate", "position_contracts"):
                batch.alter_column(column, existing_type=MONEY, nullable=True)


def upgrade() -> None:
    """Key fills and funding by symbol, make rate and position nullable, backfill (see above)."""
    for table, (old, new) in _KEYS.items():
        _rekey(table, old, new)
    bind = op.get_bind()
    zero = _ZERO.get(bind.dialect.name)
    if zero is not None:
        for column in ("rate", "position_contracts"):
            op.execute(
                f"UPDATE funding_payments SET {column} = NULL"
                f" WHERE {zero.format(column)} AND NOT {zero.format('amount')}"
            )
    op.execute(_CLIENT_IDS)


def downgrade() -> None:
    """Key by (venue, id) again; unknown rates and positions are written as 0, as before.

    Refused by the database when two symbols share a trade or payment id (rows would clash).
    """
    for column in ("rate", "position_contracts"):
        op.execute(f"UPDATE funding_payments SET {column} = 0 WHERE {column} IS NULL")
    for table, (old, new) in _KEYS.items():
        with op.batch_alter_table(table, naming_convention=_NAMING) as batch:
            batch.drop_constraint(f"uq_{table}_{'_'.join(new)}", type_="unique")
            batch.create_unique_constraint(f"uq_{table}_{'_'.join(old)}", list(old))
            if table == "funding_payments":
                for column in ("rate", "position_contracts"):
                    batch.alter_column(column, existing_type=MONEY, nullable=False)

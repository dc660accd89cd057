"""Schema migrations of the journal (Alembic, in ``bot/journal/migrations/``).

`Journal.open` calls `upgrade`, which brings any journal to the newest revision in one
transaction. Alembic is configured here, in code: no ``alembic.ini`` is needed.

A database without an ``alembic_version`` table is handled by this rule:

* no table at all: a new journal. Its tables are made from the models (``create_all``) and it
  is stamped at the newest revision: one step instead of replaying every revision (a test proves
  the two give the same schema);
* all six tables of the first release (``rebalances``, ``orders``, ``fills``,
  ``funding_payments``, ``position_snapshots``, ``events``): a journal made by ``create_all``
  before migrations existed. It is stamped at 0001, the first release, and upgraded from there;
  revisions after 0001 only add what is missing (e.g. ``events.venue``, which later
  ``create_all`` releases already made), so no row is touched but by a documented backfill;
* some but not all of those tables: not a journal this code made; refused with the names of the
  missing tables, nothing changed.

A journal stamped with a revision this code does not know was migrated by a newer hedgebot and
is refused rather than guessed at.

Developers: ``python -m bot.journal.migrate --url URL revision -m "what changed"
--autogenerate`` writes the next numbered revision from the models' difference to ``URL``
(upgrade that database first); ``current`` and ``upgrade`` do what they say.
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, create_engine, func, inspect, select

from bot.journal.models import Base
from bot.journal.revision import MigrationError
from bot.journal.urls import database_url

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
FIRST_REVISION = "0001"
FIRST_RELEASE_TABLES = frozenset(
    {"rebalances", "orders", "fills", "funding_payments", "position_snapshots", "events"}
)
_LOCK_KEY = int.from_bytes(hashlib.sha256(b"hedgebot journal migrations").digest()[:8], "big")
MIGRATION_LOCK = _LOCK_KEY - (1 << 64) if _LOCK_KEY >= 1 << 63 else _LOCK_KEY
"""PostgreSQL advisory lock (transaction scope) that serialises concurrent migrations."""


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """Return an Alembic configuration of the journal's migrations, without a file."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """Return the newest revision this code knows."""
    head = _scripts().get_current_head()
    if head is None:  # pragma: no cover - the package always ships its revisions
        raise MigrationError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def known_revisions() -> set[str]:
    """Return every revision this code knows."""
    return {script.revision for script in _scripts().walk_revisions()}


def current_revision(connection: Connection) -> str | None:
    """Return the revision the database is stamped with, or None when it has none."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Bring the journal at ``engine`` to the newest revision (see the module's rule).

    Costs one query when it is already there. Otherwise runs in one transaction, serialised
    against other processes: an advisory lock on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite.
    """
    head = head_revision()
    with engine.connect() as connection:
        if current_revision(connection) == head:
            return
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")  # DDL in the transaction, one writer
        elif connection.dialect.name == "postgresql":
            connection.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK)))
        _upgrade(connection, head)
        connection.commit()


def _upgrade(connection: Connection, head: str) -> None:
    current = current_revision(connection)
    if current == head:  # another process migrated while we waited for the lock
        return
    config = alembic_config(connection)
    if current is None:
        tables = set(inspect(connection).get_table_names())
        if not tables:
            Base.metadata.create_all(connection)
            MigrationContext.configure(connection).stamp(_scripts(), head)
            return
        found = tables & FIRST_RELEASE_TABLES
        if not found:
            raise MigrationError(
                f"database holds tables {', '.join(sorted(tables))}, none of a journal, and no "
                "alembic_version: not a hedgebot journal; nothing changed; pass --journal a new "
                "file or an empty database"
            )
        missing = sorted(FIRST_RELEASE_TABLES - tables)
        if missing:
            raise MigrationError(
                f"database has journal tables {', '.join(sorted(found))} but not "
                f"{', '.join(missing)} and no alembic_version: not a hedgebot journal; "
                "nothing changed"
            )
        command.stamp(config, FIRST_REVISION)  # made by create_all before migrations
    elif current not in known_revisions():
        raise MigrationError(
            f"journal schema is at revision {current}, unknown to this hedgebot (newest "
            f"{head}): it was migrated by a newer version; run that version"
        )
    try:
        command.upgrade(config, "head")
    except CommandError as exc:  # pragma: no cover - revisions are checked above
        raise MigrationError(f"cannot migrate the journal: {exc}") from exc


def main(argv: Sequence[str] | None = None) -> int:
    """Developer command line: ``current``, ``upgrade``, ``revision -m MSG [--autogenerate]``."""
    parser = argparse.ArgumentParser(prog="python -m bot.journal.migrate")
    parser.add_argument("--url", required=True, help="journal URL (SQLAlchemy)")
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("current", help="print the journal's revision")
    sub.add_parser("upgrade", help="upgrade the journal to the newest revision")
    revision = sub.add_parser("revision", help="write the next numbered revision")
    revision.add_argument("-m", "--message", required=True)
    revision.add_argument("--autogenerate", action="store_true")
    args = parser.parse_args(argv)
    url = database_url(args.url)
    engine = create_engine(url)
    try:
        if args.action == "upgrade":
            upgrade(engine)
        if args.action in ("current", "upgrade"):
            with engine.connect() as connection:
                print(current_revision(connection) or "none")
            return 0
        rev_id = f"{int(head_revision()) + 1:04d}"
        config = alembic_config(url=url.render_as_string(hide_password=False))
        command.revision(config, args.message, autogenerate=args.autogenerate, rev_id=rev_id)
        return 0
    finally:
        engine.dispose()


if __name__ == "__main__":
    raise SystemExit(main())

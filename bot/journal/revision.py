"""The journal's schema revision, read without loading Alembic (~0.2 s of imports).

`Journal.open` compares the database's stamp with `HEAD_REVISION` and loads the migrations
(`bot.journal.migrate`) only when they differ: a new journal, or one an older hedgebot made.
"""

from __future__ import annotations

from sqlalchemy import Engine, inspect, text

HEAD_REVISION = "0004"
"""The newest revision in ``bot/journal/migrations/versions`` (a test holds the two equal)."""

VERSION_TABLE = "alembic_version"


class MigrationError(Exception):
    """The journal's schema cannot be brought to this code's revision."""


def stamped_revision(engine: Engine) -> str | None:
    """Return the revision the database is stamped with, or None when it has no stamp."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()

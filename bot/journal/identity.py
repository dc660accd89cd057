"""The journal's identity, taken at open and checked while the bot runs.

Delete a SQLite journal's files while a bot runs and the bot writes on, silently, into the
deleted file, while a second bot starts afresh at the same path; drop and recreate a PostgreSQL
journal's tables and the bot writes into the new, empty ones. So the journal remembers what it
opened:

* SQLite: the database file's ``(st_dev, st_ino)``. Checked before every transaction (a
  ``stat``) and before any new connection (which would create a new file at the path);
* PostgreSQL: the database's oid and the oid of every journal table, read at open and checked
  by `JournalIdentity.check` (the lease does it every cycle and on renewal). A dropped or
  recreated table, schema or database has another oid, or none.

Once the journal is found deleted or replaced, the identity stays failed: every later
transaction raises `JournalReplaced` too, so nothing more is written anywhere.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, event, text
from sqlalchemy.exc import SQLAlchemyError

from bot.core.errors import JournalError
from bot.journal.models import Base
from bot.settings.secrets import mask

_STOP = "refusing to go on: restore it or start afresh deliberately"
_DATABASE_OID = text("SELECT oid::bigint FROM pg_database WHERE datname = current_database()")
_TABLE_OIDS = text(
    "SELECT relname, oid::bigint FROM pg_class "
    "WHERE relname IN :names AND relkind IN ('r', 'p') AND pg_table_is_visible(oid)"
).bindparams(bindparam("names", expanding=True))


class JournalReplaced(JournalError):
    """The journal was deleted or replaced while the bot ran: it stops and writes nothing more."""


class JournalIdentity(ABC):
    """What the journal was at open; `check` raises `JournalReplaced` once it is not."""

    def __init__(self) -> None:
        """Start unfailed."""
        self.failure: JournalReplaced | None = None

    @abstractmethod
    def _compare(self) -> str | None:
        """Return why the journal is not the one opened, or None when it is."""

    def check(self) -> None:
        """Raise `JournalReplaced` when the journal was deleted or replaced (and ever after)."""
        if self.failure is None:
            why = self._compare()
            if why is not None:
                self.failure = JournalReplaced(why)
        if self.failure is not None:
            raise self.failure

    def guard(self, *_: Any) -> None:
        """Engine event hook before each transaction: raise once the journal has failed."""
        if self.failure is not None:
            raise self.failure

    def watch(self, engine: Engine) -> None:
        """Run `guard` before every transaction on ``engine``."""
        event.listen(engine, "begin", self.guard)


class FileIdentity(JournalIdentity):
    """A SQLite journal file, by device and inode."""

    def __init__(self, path: Path) -> None:
        """Remember ``path``'s device and inode now."""
        super().__init__()
        self.path = path
        stat = path.stat()
        self.inode = (stat.st_dev, stat.st_ino)

    def _compare(self) -> str | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            why = "is gone"
        else:
            if (stat.st_dev, stat.st_ino) == self.inode:
                return None
            why = "is another file now"
        return (
            f"journal file {self.path} {why}: the journal file was deleted or replaced while "
            f"the bot ran; {_STOP}"
        )

    def guard(self, *_: Any) -> None:
        """Check the file before each transaction and each new connection (a ``stat``)."""
        self.check()

    def watch(self, engine: Engine) -> None:
        """Check before every transaction and before a new connection could create a new file."""
        super().watch(engine)
        event.listen(engine, "do_connect", self.guard)


class TableIdentity(JournalIdentity):
    """A PostgreSQL journal, by the oids of its database and tables."""

    def __init__(self, engine: Engine, where: str, secret: str | None = None) -> None:
        """Read the oids now (SQLAlchemyError when it cannot); ``where`` names the journal."""
        super().__init__()
        self._engine = engine
        self._where = where
        self._secret = secret
        self._names = sorted(Base.metadata.tables)
        self.oids = self._read()

    def _read(self) -> tuple[int | None, dict[str, int]]:
        with self._engine.connect() as connection:
            database = connection.scalar(_DATABASE_OID)
            rows = connection.execute(_TABLE_OIDS, {"names": self._names}).all()
        return database, {str(name): int(oid) for name, oid in rows}

    def _compare(self) -> str | None:
        try:
            database, tables = self._read()
        except SQLAlchemyError as exc:
            message = f"journal {self._where}: cannot check the journal's identity: {exc}"
            message = mask(message, self._secret)
            raise JournalError(message) from None
        was_database, was_tables = self.oids
        if database != was_database:
            why = "is another database now"
        elif gone := sorted(set(was_tables) - set(tables)):
            why = f"has no table {', '.join(gone)} any more"
        elif new := sorted(t for t in was_tables if tables[t] != was_tables[t]):
            why = f"has new tables {', '.join(new)} (dropped and created again)"
        else:
            return None
        return (
            f"journal {self._where} {why}: the journal was deleted or replaced while the bot "
            f"ran; {_STOP}"
        )


def journal_identity(
    engine: Engine, where: str, secret: str | None = None
) -> JournalIdentity | None:
    """Return the identity of the journal at ``engine``; None for an in-memory SQLite one."""
    if engine.dialect.name == "postgresql":
        return TableIdentity(engine, where, secret)
    database = engine.url.database or ":memory:"
    if engine.dialect.name != "sqlite" or database.startswith((":memory:", "file:")):
        return None
    return FileIdentity(Path(database).expanduser().absolute())

"""One bot per account: a lease in the journal, renewed while the bot runs.

The key is the venue name the journal records under (``session.venue.name``): for an exchange
``<exchange>:<account>`` (``binanceusdm:main``), for a paper replay ``paper:<session>``, unique
per session, so paper replays never block each other while two bots on one exchange account do.

`run` and `rebalance` (not ``--dry-run``) take the lease before touching the venue: a row in
``leases`` (key, holder ``hostname:pid:random``, acquired, heartbeat, expires) says who runs the
account. The holder renews it every cycle and every ``ttl / 3`` in the background while it
sleeps, and deletes it on a clean exit.

For its whole life the holder also keeps a lock that dies with its process: on PostgreSQL a
session advisory lock (``pg_try_advisory_lock`` on a hash of the key) on a connection of its
own, on SQLite an ``flock`` on a file beside the database (``<db>-lease-<hash>``, removed on
release). So a second instance:

* finds the lock taken: the holder is alive; refused with `LeaseHeld` (exit code 3), naming the
  holder and when its lease expires;
* gets the lock: any previous holder is gone; its row is taken over at once, expired or not
  (a bot killed by SIGKILL or OOM is replaced without waiting for the ttl).

Where no such lock is available (``sqlite:///:memory:``, a file system without ``flock``) the
row alone decides: a live lease of another holder refuses, an expired one is taken over.

Those locks live with the journal: delete a SQLite journal's files while a bot runs and a
second bot finds no lock and no lease row. So a bot on an exchange account (``lock_dir`` given)
first takes the *account lock*, an ``flock`` on a file in a per-user directory keyed by the
lease key (`bot.journal.account_lock`); while it is held a second instance on the host is
refused with `LeaseHeld`, naming the holder written in the file, whatever journal it opened.

The lease also checks the journal's identity (`bot.journal.identity`) on acquiring, every cycle
(`renew_if_due`, `check`) and every few seconds in the background: a journal deleted or replaced
while the bot runs stops it with `JournalReplaced`, dropping the locks without writing anything.

A holder whose lease was taken over (it was frozen past its expiry, or lost its PostgreSQL
session to another instance) learns it at its next renewal and stops with `LeaseLost`. The
lease's times come from the database server on PostgreSQL (hosts need not agree on the time)
and from the local clock on SQLite.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import NoReturn

from sqlalchemy import Connection, Engine, Table, case, delete, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from bot.core.errors import JournalError
from bot.journal.account_lock import LOCK_DIR_ENV, account_lock_path, make_private_directory
from bot.journal.file_lock import FileLock
from bot.journal.identity import JournalIdentity, JournalReplaced
from bot.journal.models import Base, LeaseRow
from bot.settings.secrets import mask

log = logging.getLogger(__name__)

DEFAULT_TTL = timedelta(seconds=60)
"""How long a lease outlives its last renewal when no process lock can tell a crash."""
EXIT_CODE = 3
"""Exit code of a command refused (or stopped) because another instance holds the lease."""
_KEEPALIVE = (
    "SET tcp_keepalives_idle = 20",
    "SET tcp_keepalives_interval = 5",
    "SET tcp_keepalives_count = 4",
)
"""The lock session of a holder whose host vanished is dropped after about 40 s."""
IDENTITY_EVERY = 5.0
"""Seconds between the background checks of the journal's identity."""


class LeaseError(JournalError):
    """Another instance holds, or took over, the lease on this account."""

    exit_code = EXIT_CODE


class LeaseHeld(LeaseError):
    """The lease is held by another instance that is alive (or whose lease is live)."""


class LeaseLost(LeaseError):
    """Our lease was taken over (or its PostgreSQL session died): stop acting."""


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    """A lease row as read from the journal."""

    key: str
    holder: str
    acquired_at: datetime
    heartbeat_at: datetime
    expires_at: datetime

    def live_at(self, now: datetime) -> bool:
        """Return True while the lease is unexpired and its holder may be running.

        A holder on this host whose process is gone (killed: it could not delete its row) is
        not running, whatever the row's expiry says; one on another host is taken at its word.
        """
        return self.expires_at > now and not holder_gone(self.holder)


def holder_gone(holder: str) -> bool:
    """Return True when ``holder`` (``hostname:pid:random``) is a process of this host now gone.

    False when it exists, or runs on another host (which cannot be told from here).
    """
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's process: it exists
        return False
    return False


def holder_id() -> str:
    """Return a new holder id: ``hostname:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _digest(key: str) -> bytes:
    return hashlib.sha256(f"hedgebot lease {key}".encode()).digest()


def advisory_key(key: str) -> int:
    """Return the signed 64-bit PostgreSQL advisory lock id of a lease key."""
    value = int.from_bytes(_digest(key)[:8], "big")
    return value - (1 << 64) if value >= 1 << 63 else value


def lock_file(database: str, key: str) -> Path:
    """Return the file whose ``flock`` marks the holder of ``key`` alive (SQLite journals)."""
    path = Path(database).expanduser()
    return path.with_name(f"{path.name}-lease-{_digest(key).hex()[:16]}")


def _utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


class Lease:
    """The lease on one key; a context manager that acquires it and releases it on exit.

    Get one from `Journal.lease`. ``clock`` (aware datetimes) replaces the time source in tests.
    """

    def __init__(
        self,
        engine: Engine,
        key: str,
        ttl: timedelta = DEFAULT_TTL,
        *,
        holder: str | None = None,
        clock: Callable[[], datetime] | None = None,
        where: str = "journal",
        secret: str | None = None,
        lock_dir: Path | None = None,
        identity: JournalIdentity | None = None,
    ) -> None:
        """Describe the lease; nothing is read or written until `acquire`.

        ``lock_dir`` (`bot.journal.account_lock.lock_directory`) adds the account lock;
        ``identity`` is the journal's, checked while the lease is held.
        """
        if ttl <= timedelta(0):
            raise ValueError(f"lease ttl must be positive, not {ttl}")
        self.key = key
        self.ttl = ttl
        self.holder = holder or holder_id()
        self.lost: LeaseLost | None = None
        self.replaced: JournalReplaced | None = None
        self._engine = engine
        self._clock = clock
        self._where = where
        self._secret = secret
        self._table: Table = Base.metadata.tables[LeaseRow.__tablename__]
        self._postgres = engine.dialect.name == "postgresql"
        self._lock_id = advisory_key(key)
        self._session: Connection | None = None  # PostgreSQL: holds the advisory lock
        self._file: FileLock | None = None  # SQLite: the flock beside the database
        database = engine.url.database or ":memory:"
        if engine.dialect.name == "sqlite" and not database.startswith((":memory:", "file:")):
            self._file = FileLock(lock_file(database, key))
        self._account = None if lock_dir is None else FileLock(account_lock_path(lock_dir, key))
        self._identity = identity
        self._held = False
        self._expires_at: datetime | None = None
        self._renewed = 0.0  # time.monotonic() of the last renewal
        self._keeper: asyncio.Task[None] | None = None

    @property
    def held(self) -> bool:
        """Return True while this instance holds the lease."""
        return self._held

    @property
    def expires_at(self) -> datetime | None:
        """Return when the lease expires unless renewed (None when not held)."""
        return self._expires_at if self._held else None

    def __enter__(self) -> Lease:
        """Acquire the lease (raises `LeaseHeld`)."""
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Release the lease."""
        self.release()

    def __repr__(self) -> str:
        """Show key and holder."""
        return f"Lease({self.key!r}, holder={self.holder!r}, held={self._held})"

    # -- database plumbing --------------------------------------------------------------------
    def _error(self, action: str, exc: SQLAlchemyError) -> JournalError:
        message = f"journal {self._where}: cannot {action} lease {self.key}: {exc}"
        return JournalError(mask(message, self._secret))

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """Yield a connection in a transaction: the advisory-lock session on PostgreSQL."""
        if self._session is not None:
            with self._session.begin():
                yield self._session
        else:
            with self._engine.begin() as connection:
                yield connection

    def _now(self, connection: Connection) -> datetime:
        if self._clock is not None:
            return self._clock().astimezone(UTC)
        if self._postgres:
            moment = connection.scalar(select(func.now()))
            if isinstance(moment, datetime):
                return moment.astimezone(UTC)
        return datetime.now(UTC)

    def _read(self, connection: Connection) -> LeaseInfo | None:
        row = connection.execute(select(self._table).where(self._table.c.key == self.key)).first()
        if row is None:
            return None
        return LeaseInfo(row.key, row.holder, row.acquired_at, row.heartbeat_at, row.expires_at)

    def current(self) -> LeaseInfo | None:
        """Return the lease row of this key as the journal has it, or None."""
        try:
            with self._transaction() as connection:
                return self._read(connection)
        except SQLAlchemyError as exc:
            raise self._error("read", exc) from exc

    # -- acquire, renew, release --------------------------------------------------------------
    def acquire(self) -> LeaseInfo:
        """Take the lease, or raise `LeaseHeld` naming the live holder (see the module)."""
        if self._held:
            self.renew()
            info = self.current()
            assert info is not None
            return info
        if self._identity is not None:
            self._identity.check()
        try:
            alive_lock = self._lock()
            with self._transaction() as connection:
                info = self._claim(connection, takeover=alive_lock)
        except SQLAlchemyError as exc:
            self._unlock()
            raise self._error("acquire", exc) from exc
        except BaseException:
            self._unlock()
            raise
        self._held = True
        self.lost = None
        self._expires_at = info.expires_at
        self._renewed = time.monotonic()
        log.info("lease %s acquired by %s until %s", self.key, self.holder, info.expires_at)
        return info

    def _lock(self) -> bool:
        """Take the process locks; True when held, False when none exists; `LeaseHeld` if busy.

        The account lock comes first: it refuses whatever journal the other instance opened.
        """
        self._lock_account()
        if self._postgres:
            self._lock_session()
            return True
        if self._file is None:
            return False
        got = self._file.acquire(f"{self.holder}\n")
        if got is False:
            raise LeaseHeld(self._held_message(self.current(), alive=True))
        return bool(got)

    def _lock_account(self) -> None:
        """Take the account lock (when there is one), or raise `LeaseHeld` naming its holder."""
        if self._account is None:
            return
        path = self._account.path
        fix = f"set {LOCK_DIR_ENV} to a private directory where locks work"
        try:
            make_private_directory(path.parent)
        except OSError as exc:
            raise JournalError(f"cannot create the account lock directory: {exc}; {fix}") from exc
        got = self._account.acquire(f"{self.holder}\n{self._where}\n")
        if got is None:
            raise JournalError(f"cannot lock the account lock file {path}; {fix}")
        if got is False:
            raise LeaseHeld(self._account_held_message())

    def _account_held_message(self) -> str:
        assert self._account is not None
        path = self._account.path
        info = self.current()
        if info is not None:
            return self._held_message(info, alive=True, lock=f"account lock {path}")
        lines = (self._account.read() or "").splitlines()
        holder = lines[0] if lines else "of unknown holder"
        journal = f" and journals to {lines[1]}" if len(lines) > 1 else ""
        return (
            f"another hedgebot is running {self.key} (journal {self._where}): its process "
            f"{holder} holds the account lock {path}{journal}, but this journal has no lease "
            "of it: was the journal deleted or replaced? Stop that instance first."
        )

    def _unlock(self) -> None:
        self._unlock_session()
        for lock in (self._file, self._account):
            if lock is not None:
                lock.release()

    def _lock_session(self) -> None:
        """Open our own session and take the advisory lock, or raise `LeaseHeld`."""
        session = self._engine.connect()
        try:
            for statement in _KEEPALIVE:
                session.execute(text(statement))
            locked = session.scalar(select(func.pg_try_advisory_lock(self._lock_id)))
            session.commit()
            if not locked:
                info = self._read(session)
                session.rollback()
                raise LeaseHeld(self._held_message(info, alive=True))
        except BaseException:
            session.close()
            raise
        self._session = session

    def _unlock_session(self) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        try:
            if not session.invalidated:
                session.rollback()
                session.scalar(select(func.pg_advisory_unlock(self._lock_id)))
                session.commit()
        except SQLAlchemyError as exc:  # the lock dies with the session anyway
            log.warning("lease %s: cannot unlock: %s", self.key, exc)
        finally:
            session.close()

    def _claim(self, connection: Connection, *, takeover: bool) -> LeaseInfo:
        """Write our row: over any row when we hold the process lock, else a free/expired one."""
        table = self._table
        now = self._now(connection)
        expires = now + self.ttl
        before = self._read(connection) if takeover else None
        insert = (postgresql.insert if self._postgres else sqlite.insert)(table)
        statement = (
            insert.values(
                key=self.key,
                holder=self.holder,
                acquired_at=now,
                heartbeat_at=now,
                expires_at=expires,
            )
            .on_conflict_do_update(
                index_elements=[table.c.key],
                set_={
                    "holder": insert.excluded.holder,
                    "acquired_at": case(
                        (table.c.holder == self.holder, table.c.acquired_at),
                        else_=insert.excluded.acquired_at,
                    ),
                    "heartbeat_at": insert.excluded.heartbeat_at,
                    "expires_at": insert.excluded.expires_at,
                },
                where=None
                if takeover
                else or_(table.c.holder == self.holder, table.c.expires_at <= now),
            )
            .returning(table.c.acquired_at)
        )
        row = connection.execute(statement).first()
        if row is None:
            raise LeaseHeld(self._held_message(self._read(connection), now=now))
        if before is not None and before.holder != self.holder and before.expires_at > now:
            log.warning(
                "lease %s taken over from %s: its process is gone (lease valid until %s)",
                self.key,
                before.holder,
                _utc(before.expires_at),
            )
        return LeaseInfo(self.key, self.holder, row.acquired_at, now, expires)

    def _held_message(
        self,
        info: LeaseInfo | None,
        *,
        alive: bool = False,
        now: datetime | None = None,
        lock: str | None = None,
    ) -> str:
        head = f"another hedgebot is running {self.key} (journal {self._where}): "
        lock = lock or ("PostgreSQL advisory lock" if self._postgres else "lock file")
        if info is None and alive:
            return (
                f"{head}its process holds the lease's {lock} but this journal has no lease row: "
                "it is taking the lease right now, or its journal was deleted or replaced. Stop "
                "that instance first."
            )
        if info is None:
            return f"{head}it is taking the lease right now. Stop that instance first."
        held = (
            f"lease held by {info.holder} since {_utc(info.acquired_at)}, last heartbeat "
            f"{_utc(info.heartbeat_at)}, "
        )
        moment = now or datetime.now(UTC)
        if info.expires_at > moment:
            held += f"expires {_utc(info.expires_at)} unless renewed"
        else:
            held += f"expired {_utc(info.expires_at)}"
        if alive:
            return (
                f"{head}{held}; its process is alive (it holds the lease's {lock}). "
                "Stop that instance first."
            )
        return (
            f"{head}{held}. Stop that instance first; if it crashed, start again once the "
            "lease has expired."
        )

    def renew(self) -> None:
        """Extend the lease by ``ttl`` from now; raise `LeaseLost` when it is no longer ours.

        Check the journal's identity first: `JournalReplaced` when it was deleted or replaced.
        """
        self._verify()
        if not self._held:
            raise LeaseLost(f"lease {self.key} is not held by {self.holder}")
        try:
            with self._transaction() as connection:
                self._extend(connection)
        except LeaseLost:
            raise
        except JournalReplaced as exc:  # the journal's guard, between the check and the write
            self._abandon(exc)
        except SQLAlchemyError as exc:
            if not (self._postgres and self._session is not None and self._session.invalidated):
                raise self._error("renew", exc) from exc
            self._relock(exc)  # the session holding the advisory lock died: get a new one
        self._renewed = time.monotonic()

    def _extend(self, connection: Connection) -> None:
        table = self._table
        now = self._now(connection)
        expires = now + self.ttl
        renewed = connection.execute(
            update(table)
            .where(table.c.key == self.key, table.c.holder == self.holder)
            .values(heartbeat_at=now, expires_at=expires)
        ).rowcount
        if renewed != 1:
            info = self._read(connection)
            taker = "nobody holds it now" if info is None else f"now held by {info.holder}"
            self._lose(
                f"lease on {self.key} lost by {self.holder}: another instance took it over "
                f"({taker}); this instance stops"
            )
        self._expires_at = expires

    def _relock(self, cause: SQLAlchemyError) -> None:
        """Reopen the PostgreSQL session, retake the advisory lock and renew, or lose."""
        self._unlock_session()
        try:
            self._lock_session()
            with self._transaction() as connection:
                self._extend(connection)
        except LeaseHeld:
            self._lose(
                f"lease on {self.key} lost by {self.holder}: its PostgreSQL session died and "
                "another instance holds the advisory lock now; this instance stops"
            )
        except SQLAlchemyError as exc:
            self._unlock_session()
            raise self._error("renew", exc) from cause

    def _lose(self, message: str) -> None:
        self.lost = LeaseLost(message)
        self._held = False
        self._unlock_session()
        for lock in (self._file, self._account):
            if lock is not None:
                lock.forget()
        log.error("%s", message)
        raise self.lost

    def _verify(self) -> None:
        """Raise what stopped the lease; check the journal's identity, abandoning on failure."""
        if self.lost is not None:
            raise self.lost
        if self.replaced is not None:
            raise self.replaced
        if self._identity is None or not self._held:
            return
        try:
            self._identity.check()
        except JournalReplaced as exc:
            self._abandon(exc)

    def _abandon(self, error: JournalReplaced) -> NoReturn:
        """Stop holding without touching the journal: it is not ours any more."""
        self.replaced = error
        self._held = False
        session, self._session = self._session, None
        if session is not None:  # closing the connection drops the advisory lock, no SQL
            session.invalidate()
            session.close()
        for lock in (self._file, self._account):
            if lock is not None:
                lock.release()
        raise error

    def renew_if_due(self) -> None:
        """Check the journal's identity, renew when a third of the ttl has passed (every cycle)."""
        self._verify()
        if time.monotonic() - self._renewed >= self.ttl.total_seconds() / 3:
            self.renew()

    def check(self) -> None:
        """Raise `LeaseLost` or `JournalReplaced` if the lease or the journal was lost."""
        self._verify()

    def release(self) -> None:
        """Delete our lease row and drop the process lock; a no-op when not held."""
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.cancel()
        if not self._held:
            self._unlock()
            return
        self._held = False
        try:
            with self._transaction() as connection:
                connection.execute(
                    delete(self._table).where(
                        self._table.c.key == self.key, self._table.c.holder == self.holder
                    )
                )
        except SQLAlchemyError as exc:  # it expires by itself
            log.warning("lease %s: cannot release, it expires by itself: %s", self.key, exc)
        finally:
            self._unlock()
        log.info("lease %s released by %s", self.key, self.holder)

    def keep_alive(
        self, stop: asyncio.Event | None = None, every: float | None = None
    ) -> asyncio.Task[None]:
        """Renew every ``every`` seconds (ttl / 3) in the background until `release`.

        The journal's identity is checked every `IDENTITY_EVERY` seconds in between. When the
        lease or the journal is lost, `lost` or `replaced` is set, ``stop`` is set and the task
        ends; `check` raises then. A failing database is retried until the lease would have
        expired.
        """
        period = every if every is not None else self.ttl.total_seconds() / 3
        tick = min(period, IDENTITY_EVERY)

        async def beat() -> None:
            while self._held:
                await asyncio.sleep(tick)
                try:
                    if time.monotonic() - self._renewed >= period:
                        self.renew()
                    else:
                        self._verify()
                except (LeaseLost, JournalReplaced):
                    break
                except JournalError as exc:
                    expiry = self._expires_at
                    if expiry is None or datetime.now(UTC) < expiry:
                        log.warning("%s; retrying in %.0f s", exc, tick)
                        continue
                    try:
                        self._lose(f"lease on {self.key} expired while renewal failed: {exc}")
                    except LeaseLost:
                        break
            if stop is not None and (self.lost is not None or self.replaced is not None):
                stop.set()

        if self._keeper is not None:
            self._keeper.cancel()
        self._keeper = asyncio.get_running_loop().create_task(beat(), name=f"lease {self.key}")
        return self._keeper

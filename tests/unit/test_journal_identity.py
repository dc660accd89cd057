"""The journal's identity: a bot whose journal was deleted or replaced stops and writes nothing."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot.journal.identity import JournalReplaced
from bot.journal.lease import LeaseHeld
from bot.journal.store import Journal
from bot.journal.urls import database_url
from tests.postgres import PostgresServer

KEY = "binanceusdm:main"
STOP = "while the bot ran; refusing to go on: restore it or start afresh deliberately"
NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def journal_files(database: Path) -> list[Path]:
    return list(database.parent.glob(f"{database.name}*"))


def test_an_unchanged_journal_passes_every_check(journal_url: str) -> None:
    with Journal.open(journal_url) as journal, journal.lease(KEY) as lease:
        for _ in range(3):
            lease.renew_if_due()
            lease.check()
            journal.record_event("note", NOW, "still here")
        lease.renew()
    assert len(journal.events()) == 3


def test_a_deleted_sqlite_journal_stops_the_lease_and_every_write(tmp_path: Path) -> None:
    database = tmp_path / "journal.sqlite"
    locks = tmp_path / "locks"
    journal = Journal.open(f"sqlite:///{database}")
    lease = journal.lease(KEY, lock_dir=locks)
    lease.acquire()
    journal.record_event("note", NOW, "before")
    for path in journal_files(database):
        path.unlink()
    with pytest.raises(JournalReplaced) as stopped:
        lease.renew_if_due()
    assert str(stopped.value) == (
        f"journal file {database} is gone: the journal file was deleted or replaced {STOP}"
    )
    assert not lease.held and lease.replaced is stopped.value
    assert not list(locks.iterdir())  # the account lock is let go: another bot may start
    with pytest.raises(JournalReplaced):
        lease.check()
    with pytest.raises(JournalReplaced):
        journal.record_event("note", NOW, "after")  # not into the deleted file
    lease.release()  # writes nothing either
    journal.close()
    assert not database.exists()  # no new file was made at the path


def test_a_replaced_sqlite_journal_is_left_as_it_is(tmp_path: Path) -> None:
    database = tmp_path / "journal.sqlite"
    with Journal.open(f"sqlite:///{database}") as journal, journal.lease(KEY) as lease:
        journal.record_event("note", NOW, "before")
        copy = tmp_path / "copy.sqlite"
        shutil.copy(database, copy)
        copy.replace(database)  # same path, another file
        content = database.read_bytes()
        with pytest.raises(JournalReplaced, match=f"{database} is another file now: .* {STOP}"):
            journal.totals()
        with pytest.raises(JournalReplaced):
            lease.renew()
    assert database.read_bytes() == content


async def test_the_background_check_stops_the_loop_within_a_tick(tmp_path: Path) -> None:
    database = tmp_path / "journal.sqlite"
    with Journal.open(f"sqlite:///{database}") as journal, journal.lease(KEY) as lease:
        stop = asyncio.Event()
        lease.keep_alive(stop, every=0.05)
        for path in journal_files(database):
            path.unlink()
        await asyncio.wait_for(stop.wait(), 5)
        with pytest.raises(JournalReplaced, match="is gone"):
            lease.check()


def test_an_in_memory_journal_has_nothing_to_check() -> None:
    with Journal.open("sqlite:///:memory:") as journal, journal.lease(KEY) as lease:
        lease.renew()
        lease.check()


@pytest.mark.postgres
def test_a_postgres_journal_dropped_and_recreated_stops_the_lease(
    postgres: PostgresServer,
) -> None:
    url = postgres.new_database()
    raw = create_engine(database_url(url))
    journal = Journal.open(url)
    lease = journal.lease(KEY)
    lease.acquire()
    with raw.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    with Journal.open(url) as fresh:  # another bot migrated a fresh journal
        with pytest.raises(LeaseHeld, match="PostgreSQL advisory lock"):
            fresh.lease(KEY).acquire()
        with pytest.raises(JournalReplaced) as stopped:
            lease.renew_if_due()
        message = str(stopped.value)
        assert message.startswith(f"journal {url} has new tables ")
        assert message.endswith(f"the journal was deleted or replaced {STOP}")
        with pytest.raises(JournalReplaced):
            journal.record_event("note", NOW, "into the new journal")
        lease.release()
        assert fresh.events() == []  # nothing was written into the new journal
        with fresh.lease(KEY) as successor:  # the advisory lock went with the stopped lease
            assert successor.held
    journal.close()
    raw.dispose()


@pytest.mark.postgres
def test_a_postgres_journal_whose_tables_are_gone_stops_the_lease(
    postgres: PostgresServer,
) -> None:
    url = postgres.new_database()
    raw = create_engine(database_url(url))
    with Journal.open(url) as journal, journal.lease(KEY) as lease:
        with raw.begin() as connection:
            connection.execute(text("DROP TABLE events, rebalances CASCADE"))
        with pytest.raises(JournalReplaced, match=r"has no table events, rebalances any more"):
            lease.check()
    raw.dispose()

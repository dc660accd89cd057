"""One bot per account: the journal's lease, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot.journal.lease import EXIT_CODE, Lease, LeaseHeld, LeaseLost, lock_file
from bot.journal.store import Journal
from bot.journal.urls import database_url
from tests.postgres import PostgresServer

KEY = "binanceusdm:main"
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def journal(journal_url: str) -> Iterator[Journal]:
    with Journal.open(journal_url) as opened:
        yield opened


def crash(lease: Lease) -> None:
    """What a SIGKILL leaves behind: the row, without the process lock."""
    lease._unlock()  # the kernel (flock) or PostgreSQL (session) drops it with the process


def test_second_instance_is_refused_naming_the_holder_and_the_expiry(journal: Journal) -> None:
    with journal.lease(KEY) as first:
        assert first.held and first.holder.count(":") == 2
        second = journal.lease(KEY)
        with pytest.raises(LeaseHeld) as refused:
            second.acquire()
        message = str(refused.value)
        assert f"another hedgebot is running {KEY}" in message
        assert f"lease held by {first.holder}" in message
        assert first.expires_at is not None
        assert f"expires {first.expires_at:%Y-%m-%d %H:%M:%S} UTC" in message
        assert "its process is alive" in message
        assert refused.value.exit_code == EXIT_CODE == 3
        assert not second.held
        info = second.current()
        assert info is not None and info.holder == first.holder
        with journal.lease("binanceusdm:other") as other:  # another account: no conflict
            assert other.held
    with journal.lease(KEY) as third:  # released on exit: free again
        assert third.held
    assert journal.lease(KEY).current() is None


def test_lease_of_a_crashed_holder_is_taken_over_at_once(journal: Journal) -> None:
    dead = journal.lease(KEY, holder="oldhost:4242:deadbeef")
    dead.acquire()
    crash(dead)
    with journal.lease(KEY) as successor:
        info = successor.current()
        assert info is not None and info.holder == successor.holder
        assert info.expires_at > datetime.now(UTC)
    with pytest.raises(LeaseLost, match=r"now held by|nobody holds it"):
        dead.renew()  # were it only frozen, it would stop at its next renewal


def test_expired_lease_of_a_crashed_holder_is_taken_over(journal: Journal) -> None:
    clock = Clock()
    dead = journal.lease(KEY, timedelta(seconds=60), holder="oldhost:1:dead", clock=clock)
    dead.acquire()
    crash(dead)
    taker = journal.lease(KEY, clock=Clock(T0 + timedelta(minutes=5)))
    with taker:
        info = taker.current()
        assert info is not None and info.holder == taker.holder
        assert info.acquired_at == T0 + timedelta(minutes=5)


def test_a_live_process_keeps_its_lease_even_past_expiry(journal: Journal) -> None:
    """Hung, not dead: it may wake up and trade, so it is not replaced."""
    hung = journal.lease(KEY, timedelta(seconds=60), clock=Clock())
    with (
        hung,
        pytest.raises(LeaseHeld, match="expired 2026-01-05 12:01:00 UTC; its process is alive"),
    ):
        journal.lease(KEY).acquire()


def test_without_a_process_lock_the_expiry_decides(tmp_path: Path) -> None:
    """``sqlite:///:memory:`` has no file to lock: a live row refuses, an expired one is taken."""
    with Journal.open("sqlite:///:memory:") as journal:
        first = journal.lease(KEY, timedelta(seconds=60), clock=Clock())
        first.acquire()
        with pytest.raises(LeaseHeld, match="expires 2026-01-05 12:01:00 UTC unless renewed"):
            journal.lease(KEY, clock=Clock(T0 + timedelta(seconds=59))).acquire()
        later = Clock(T0 + timedelta(seconds=61))
        with journal.lease(KEY, clock=later) as taker:
            assert taker.held
            with pytest.raises(LeaseLost, match=f"now held by {taker.holder}"):
                first.renew()
            assert first.lost is not None and not first.held
            with pytest.raises(LeaseLost):
                first.check()


def test_renewal_moves_the_expiry_and_release_deletes_the_row(journal: Journal) -> None:
    clock = Clock()
    lease = journal.lease(KEY, timedelta(seconds=30), clock=clock)
    lease.acquire()
    clock.now += timedelta(seconds=20)
    lease.renew()
    info = lease.current()
    assert info is not None
    assert (info.acquired_at, info.heartbeat_at) == (T0, T0 + timedelta(seconds=20))
    assert info.expires_at == T0 + timedelta(seconds=50) == lease.expires_at
    assert lease.acquire().acquired_at == T0  # acquiring again keeps it
    lease.renew_if_due()  # renewed just now: nothing to do
    lease.release()
    assert lease.current() is None and not lease.held
    lease.release()  # twice is fine


def test_sqlite_lock_file_lives_beside_the_journal_while_held(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'journal.sqlite'}"
    path = lock_file(str(tmp_path / "journal.sqlite"), KEY)
    assert path.parent == tmp_path and path.name.startswith("journal.sqlite-lease-")
    with Journal.open(url) as journal, journal.lease(KEY) as lease:
        assert path.read_text() == f"{lease.holder}\n"
    assert not path.exists()


async def test_keep_alive_renews_in_the_background_and_stops_when_lost(
    journal: Journal, journal_url: str
) -> None:
    lease = journal.lease(KEY, timedelta(seconds=30))
    lease.acquire()
    first = lease.current()
    assert first is not None
    stop = asyncio.Event()
    keeper = lease.keep_alive(stop, every=0.05)
    await asyncio.sleep(0.3)
    renewed = lease.current()
    assert renewed is not None and renewed.heartbeat_at > first.heartbeat_at
    assert not stop.is_set()
    raw = create_engine(database_url(journal_url))
    with raw.begin() as connection:  # another instance took over (as if we had been frozen)
        connection.execute(text("UPDATE leases SET holder = 'elsewhere:1:x'"))
    raw.dispose()
    await asyncio.wait_for(stop.wait(), 5)
    assert keeper.done()
    assert lease.lost is not None and "now held by elsewhere:1:x" in str(lease.lost)
    with pytest.raises(LeaseLost):
        lease.renew_if_due()
    lease.release()  # not ours any more: the other holder's row stays
    info = lease.current()
    assert info is not None and info.holder == "elsewhere:1:x"


@pytest.mark.postgres
def test_postgres_holder_keeps_an_advisory_lock_and_survives_losing_its_session(
    postgres: PostgresServer,
) -> None:
    url = postgres.new_database()
    raw = create_engine(url)
    advisory = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
    with Journal.open(url) as journal, journal.lease(KEY) as lease:
        with raw.connect() as connection:
            assert connection.scalar(text(advisory)) == 1
            killed = connection.scalar(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND granted"
                )
            )
            assert killed
        lease.renew()  # reconnects, takes the advisory lock again, finds the row still ours
        assert lease.held
        with pytest.raises(LeaseHeld, match="PostgreSQL advisory lock"):
            journal.lease(KEY).acquire()
    with raw.connect() as connection:
        assert connection.scalar(text(advisory)) == 0
    raw.dispose()

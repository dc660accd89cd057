"""The per-user account lock: one bot per exchange account, whatever journal each one opened."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.errors import JournalError
from bot.journal.account_lock import LOCK_DIR_ENV, account_lock_path, lock_directory
from bot.journal.file_lock import FileLock
from bot.journal.lease import EXIT_CODE, LeaseHeld, lock_file
from bot.journal.store import Journal

KEY = "binanceusdm:main"


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_lock_directory_prefers_the_env_var_then_the_runtime_then_the_state_directory() -> None:
    assert lock_directory({LOCK_DIR_ENV: "/x/locks", "XDG_RUNTIME_DIR": "/run/u"}) == Path(
        "/x/locks"
    )
    assert lock_directory({"XDG_RUNTIME_DIR": "/run/user/7"}) == Path("/run/user/7/hedgebot")
    assert lock_directory({"XDG_STATE_HOME": "/s"}) == Path("/s/hedgebot/locks")
    assert lock_directory({}) == Path.home() / ".local/state/hedgebot/locks"


def test_lock_file_name_is_readable_and_distinct_per_key(tmp_path: Path) -> None:
    path = account_lock_path(tmp_path, KEY)
    assert path.parent == tmp_path and path.name.startswith("binanceusdm_main-")
    assert path.suffix == ".lock"
    assert account_lock_path(tmp_path, "binanceusdm/main") != path
    assert account_lock_path(tmp_path, KEY) == path


def test_a_bot_on_a_fresh_journal_is_refused_naming_the_holder(
    journal_url: str, tmp_path: Path
) -> None:
    locks = tmp_path / "run" / "locks"  # made, each level 0700
    other = tmp_path / "fresh" / "journal.sqlite"
    with Journal.open(journal_url) as journal, journal.lease(KEY, lock_dir=locks) as first:
        path = account_lock_path(locks, KEY)
        assert path.read_text().splitlines()[0] == first.holder
        assert (mode(path), mode(locks), mode(locks.parent)) == (0o600, 0o700, 0o700)
        with Journal.open(sqlite_url(other)) as fresh:
            second = fresh.lease(KEY, lock_dir=locks)
            with pytest.raises(LeaseHeld) as refused:
                second.acquire()
            assert refused.value.exit_code == EXIT_CODE == 3
            message = str(refused.value)
            assert f"another hedgebot is running {KEY} (journal {sqlite_url(other)})" in message
            assert f"its process {first.holder} holds the account lock {path}" in message
            assert "this journal has no lease of it" in message
            assert not second.held and second.current() is None
            assert not lock_file(str(other), KEY).exists()  # its own locks were let go
    assert not path.exists()
    with Journal.open(sqlite_url(other)) as fresh, fresh.lease(KEY, lock_dir=locks) as second:
        assert second.held  # released on exit: free again


def test_on_one_journal_the_refusal_keeps_the_lease_details(tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    with (
        Journal.open(sqlite_url(tmp_path / "j.sqlite")) as journal,
        journal.lease(KEY, lock_dir=locks) as first,
        pytest.raises(LeaseHeld) as refused,
    ):
        journal.lease(KEY, lock_dir=locks).acquire()
    message = str(refused.value)
    assert f"lease held by {first.holder}" in message
    assert f"its process is alive (it holds the lease's account lock {locks}/" in message


def test_another_account_is_not_blocked(tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    with (
        Journal.open(sqlite_url(tmp_path / "j.sqlite")) as journal,
        journal.lease(KEY, lock_dir=locks),
        journal.lease("bybit:main", lock_dir=locks) as other,
    ):
        assert other.held
        assert len(list(locks.iterdir())) == 2


def test_a_crashed_holders_lock_file_is_taken_over(tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    locks.mkdir()
    dead = FileLock(account_lock_path(locks, KEY))
    assert dead.acquire("oldhost:1:dead\n") is True
    dead.forget()  # what the kernel does when the process dies: the file stays, unlocked
    with (
        Journal.open(sqlite_url(tmp_path / "j.sqlite")) as journal,
        journal.lease(KEY, lock_dir=locks) as lease,
    ):
        assert dead.read() == f"{lease.holder}\nsqlite:///{tmp_path / 'j.sqlite'}\n"


def test_an_unusable_lock_directory_refuses_to_start_saying_what_to_set(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with Journal.open(sqlite_url(tmp_path / "j.sqlite")) as journal:
        lease = journal.lease(KEY, lock_dir=blocker / "locks")
        with pytest.raises(JournalError, match=f"account lock directory.*set {LOCK_DIR_ENV}"):
            lease.acquire()
        assert not lease.held and lease.current() is None


def test_release_never_removes_a_successors_lock_file(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    first = FileLock(path)
    assert first.acquire("first\n") is True
    path.unlink()  # someone deleted it: a successor makes and locks a new one
    successor = FileLock(path)
    assert successor.acquire("successor\n") is True
    first.release()
    assert path.read_text() == "successor\n"
    successor.release()
    assert not path.exists()

"""Shared fixtures: where the real market history lives, and config builders."""

from __future__ import annotations

import decimal
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.journal.account_lock import LOCK_DIR_ENV
from bot.market.history import DATA_DIR_ENV, default_shared_data_dir
from tests.postgres import REQUIRE_ENV, URL_ENV, PostgresServer, Unavailable, postgres_server

JOURNAL_BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
"""Journal databases the journal tests run on: every one of them, each test a fresh database."""

TEST_SETTINGS = frozenset({LOCK_DIR_ENV, URL_ENV, REQUIRE_ENV})
"""The HEDGEBOT_* variables a test may see: the test run's own settings, not the bot's."""

USER_DATA_DIR = os.environ.get(DATA_DIR_ENV)
"""$HEDGEBOT_DATA_DIR as the test run started: where `shared_data_dir` finds real history."""

MEMORY_TEMP_ROOT = Path("/dev/shm")
"""Where `tmp_path` lives when the machine has it: a RAM file system (Linux)."""


def _cache_bytecode() -> None:
    """Let this run and every interpreter it starts keep compiled modules (``__pycache__``).

    Some machines set $PYTHONDONTWRITEBYTECODE. The suite starts ~60 `hedgebot` processes and two
    xdist workers: without the cache each compiles bot/ again (~0.45 s) and each worker rewrites
    every test module's asserts again (~6 s). Python's default is restored for the test run only.
    """
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.dont_write_bytecode = False


def pytest_configure(config: pytest.Config) -> None:
    """Put the tests' temporary directories on a RAM file system when there is one.

    Every SQLite journal commit waits for an fsync on a disk (a replayed year makes ~19,000), on
    tmpfs it does not; files, modes, locks and inodes behave the same. The PostgreSQL test server
    runs with fsync off for the same reason (tests/postgres.py). ``--basetemp`` or
    $PYTEST_DEBUG_TEMPROOT chosen by the user win.
    """
    _cache_bytecode()
    if config.option.basetemp or os.environ.get("PYTEST_DEBUG_TEMPROOT"):
        return
    if MEMORY_TEMP_ROOT.is_dir() and os.access(MEMORY_TEMP_ROOT, os.W_OK | os.X_OK):
        os.environ["PYTEST_DEBUG_TEMPROOT"] = str(MEMORY_TEMP_ROOT)


WORKERS_PER_CORE = 2
"""xdist workers per core for ``-n auto``: many tests mostly wait on the wall clock (hedgebot
subprocesses starting and settling, sockets, the streams' timers), and a second worker per core
runs while they wait."""


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """Return the workers ``-n auto`` starts: `WORKERS_PER_CORE` per core this process may use."""
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return WORKERS_PER_CORE * (len(usable) if usable else os.cpu_count() or 1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the tests marked ``slow`` first (stable order otherwise).

    The workers of pytest-xdist take tests from the front of the list and steal from each
    other's end: long tests started first leave short ones to even out the finish, instead of
    one worker running a 30 s test while the other waits.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def fresh_decimal_context() -> Iterator[None]:
    """Give every test Python's default decimal context (ccxt rewrites the current one)."""
    with decimal.localcontext(decimal.DefaultContext):
        yield


@pytest.fixture(autouse=True)
def root_logging_restored() -> Iterator[None]:
    """Take away the handlers a command run in-process installs (`bot.cli.main` logging).

    They write to the test's captured stream, closed once the test ends: a later test's log
    record would print "--- Logging error ---".
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(autouse=True)
def hermetic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hide the user's HEDGEBOT_* settings ($HEDGEBOT_DATA_DIR, API keys) from every test.

    A test that needs one sets it itself with ``monkeypatch.setenv``; real history reaches a
    test through `shared_data_dir`, which remembers $HEDGEBOT_DATA_DIR.
    """
    for name in list(os.environ):
        if name.startswith("HEDGEBOT_") and name not in TEST_SETTINGS:
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def private_lock_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep account locks out of the real home, in subprocesses too."""
    directory = tmp_path_factory.mktemp("locks")
    monkeypatch.setenv("HEDGEBOT_LOCK_DIR", str(directory))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(directory))  # survives the tests' HEDGEBOT_* filter


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """Return ../shared/data (or $HEDGEBOT_DATA_DIR); skip the test when it is absent."""
    directory = Path(USER_DATA_DIR) if USER_DATA_DIR else default_shared_data_dir()
    if directory is None or not directory.is_dir():
        pytest.skip("real market history not found (../shared/data or $HEDGEBOT_DATA_DIR)")
    return directory


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """Return the session's PostgreSQL server (tests/postgres.py); skip when there is none."""
    try:
        with postgres_server() as server:
            yield server
    except Unavailable as missing:
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{missing} (and ${REQUIRE_ENV} is set)")
        pytest.skip(str(missing))


def _journal_url(request: pytest.FixtureRequest, directory: Path) -> str:
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres")
        return server.new_database()
    return f"sqlite:///{directory / 'journal' / 'journal.sqlite'}"  # its directory is made


@pytest.fixture(params=JOURNAL_BACKENDS)
def journal_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Return the URL of a fresh, empty journal database: SQLite, then PostgreSQL."""
    return _journal_url(request, tmp_path)


@pytest.fixture(scope="module", params=JOURNAL_BACKENDS)
def module_journal_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """Return a fresh journal database URL shared by a module's tests, on each backend."""
    return _journal_url(request, tmp_path_factory.mktemp("journal"))


def paper_config_dict(**overrides: Any) -> dict[str, Any]:
    """Return a minimal valid paper config as a TOML-shaped dict, with section overrides."""
    base: dict[str, Any] = {
        "interval": "4h",
        "exchange": {"name": "paper", "account": "test"},
        "paper": {
            "collateral": 50000,
            "taker_fee": 0.0005,
            "slippage_bps": 2,
            "holdings": {"BTC": 1},
        },
        "strategy": {"name": "static", "ratio": 0.4},
        "hedge": {"deadband": 0.05},
        "risk": {"leverage": 1, "max_leverage": 2},
        "journal": {"url": "sqlite:///:memory:"},
    }
    for section, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(section), dict):
            base[section] = {**base[section], **value}
        else:
            base[section] = value
    return base

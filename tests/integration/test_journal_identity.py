"""Two bots on one account after the journal was deleted or replaced while the first one ran.

Bot A runs `hedgebot run` on the emulator's account; its journal's files are deleted (SQLite) or
its schema dropped and created again (PostgreSQL), and A hangs for a moment (SIGSTOP). Bot B,
started on the same account, finds a fresh journal but is refused (exit 3) by the per-user
account lock, naming A. A, resumed, notices that its journal is not the one it opened and stops,
non-zero, with one line and no traceback.

A is a real process (its pid holds the lock, it is stopped and resumed); the emulator serves from
a thread and B runs in-process (`tests.cli_inprocess`): another pid, the same exit and output.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot.journal.urls import database_url
from tests.emulator_process import emulator_thread
from tests.integration.test_cli_lease import ACCOUNT, KEYS, REPO, hedgebot, read_line_with

GONE = "was deleted or replaced while the bot ran; refusing to go on: restore it or start afresh"


@pytest.fixture()
def live_config(tmp_path: Path, journal_url: str) -> Iterator[tuple[Path, dict[str, str]]]:
    """Start the emulator; return a config on it and the journal, and an env with a lock dir."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("HEDGEBOT_")}, **KEYS}
    env["HEDGEBOT_LOCK_DIR"] = str(tmp_path / "locks")
    with emulator_thread(["BTC", "ETH"], env) as port:
        config = tmp_path / "emulator.toml"
        config.write_text(
            (REPO / "config" / "emulator.toml")
            .read_text()
            .replace("127.0.0.1:8765", f"127.0.0.1:{port}")
            .replace('perps = ["BTC", "ETH", "ADA", "XRP", "LTC"]', 'perps = ["BTC", "ETH"]')
            .replace("sqlite:///var/hedgebot-emulator.sqlite", journal_url)
        )
        yield config, env


def replace_journal(journal_url: str) -> None:
    """Delete a SQLite journal's files, or drop and recreate a PostgreSQL journal's schema."""
    url = database_url(journal_url)
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        database = Path(url.database)
        files = list(database.parent.glob(f"{database.name}*"))
        assert database in files
        for path in files:
            path.unlink()
        return
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def wait(process: subprocess.Popen[str], timeout: float) -> tuple[int, str]:
    """Return the exit code and stderr of ``process`` once it ended."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    if process.poll() is None:
        process.kill()
    _, stderr = process.communicate(timeout=10)
    return process.returncode, stderr


@pytest.mark.slow
def test_a_second_bot_on_a_fresh_journal_is_refused_and_the_first_stops(
    live_config: tuple[Path, dict[str, str]],
    journal_url: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    config, env = live_config
    first = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--config", str(config)],
        cwd=config.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = read_line_with(first, rf"lease on {ACCOUNT} held by ")
        holder = line.split(" held by ")[1].strip()
        assert holder.startswith(f"{socket.gethostname()}:{first.pid}:")
        read_line_with(first, r" orders \d+ funding ")  # the first cycle is done: A sleeps
        (lock,) = (tmp_path / "locks").iterdir()
        assert lock.read_text().splitlines()[0] == holder
        assert (lock.stat().st_mode & 0o777, lock.parent.stat().st_mode & 0o777) == (0o600, 0o700)

        replace_journal(journal_url)
        first.send_signal(signal.SIGSTOP)  # A hangs (or is slow to notice): it keeps its locks
        second = hedgebot(capfd, config, env, "run")
        assert second.returncode == 3, (second.stdout, second.stderr)
        assert f"another hedgebot is running {ACCOUNT}" in second.stderr
        assert f"its process {holder} holds the account lock {lock}" in second.stderr
        assert "this journal has no lease of it" in second.stderr
        first.send_signal(signal.SIGCONT)

        code, stderr = wait(first, 30)  # the identity is checked every 5 s in the background
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert code == 2, stderr
    assert "Traceback" not in stderr
    (message,) = [line for line in stderr.splitlines() if line.startswith("hedgebot: ")]
    assert GONE in message
    if journal_url.startswith("sqlite"):
        path = database_url(journal_url).database
        assert re.match(rf"hedgebot: journal file {re.escape(str(path))} is ", message)
    assert not lock.exists()  # A released its account lock: another bot may start now

"""One bot per account from the command line: a second `hedgebot run` on the same account exits 3.

When the first is killed (SIGKILL, no clean exit), its lease is taken over at once.

The live path, offline: the emulator serves the account (from a thread), `config/emulator.toml`
points the bot at it; the journal is SQLite, then PostgreSQL. The first bot is a real process (its
pid is in the lease, it is killed); the commands refused beside it, and the paper run, run
in-process (`tests.cli_inprocess`): another pid, the same exit code and output.
"""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.journal.store import Journal
from tests.cli_inprocess import run_cli
from tests.emulator_process import emulator_thread

REPO = Path(__file__).resolve().parents[2]
KEYS = {"HEDGEBOT_API_KEY": "lease-key", "HEDGEBOT_API_SECRET": "lease-secret"}
ACCOUNT = "binanceusdm:emulator"


@pytest.fixture()
def live_config(tmp_path: Path, journal_url: str) -> Iterator[tuple[Path, dict[str, str]]]:
    """Start the emulator; return a config that points at it and at the journal, and the env."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("HEDGEBOT_")}, **KEYS}
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


def hedgebot(
    capfd: pytest.CaptureFixture[str], config: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    """Run ``hedgebot <args> --config <config>`` in-process, in the config's directory."""
    return run_cli([*args, "--config", str(config)], capfd, cwd=config.parent, env=env)


def read_line_with(process: subprocess.Popen[str], pattern: str, timeout: float = 30) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.2)
        if not ready:
            continue
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if re.search(pattern, line):
            return line
    raise AssertionError(f"no line matching {pattern!r} in {seen}")


@pytest.mark.slow
def test_second_instance_exits_3_naming_the_holder_and_a_killed_ones_lease_is_taken_over(
    live_config: tuple[Path, dict[str, str]],
    journal_url: str,
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
        assert re.fullmatch(rf"{re.escape(socket.gethostname())}:{first.pid}:[0-9a-f]{{8}}", holder)

        second = hedgebot(capfd, config, env, "run")
        assert second.returncode == 3, (second.stdout, second.stderr)
        assert f"another hedgebot is running {ACCOUNT}" in second.stderr
        assert f"lease held by {holder}" in second.stderr
        assert re.search(r"expires \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", second.stderr)
        assert "its process is alive" in second.stderr
        assert KEYS["HEDGEBOT_API_SECRET"] not in second.stdout + second.stderr

        placing = hedgebot(
            capfd, config, env, "rebalance", "--yes"
        )  # one-shot placing: refused too
        assert placing.returncode == 3 and f"lease held by {holder}" in placing.stderr

        first.kill()  # SIGKILL: no clean exit, the lease row stays behind
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    with Journal.open(journal_url) as journal:
        left = journal.lease(ACCOUNT).current()
        assert left is not None and left.holder == holder
        with journal.lease(ACCOUNT) as successor:  # its lock died with it: taken over at once
            info = successor.current()
            assert info is not None and info.holder == successor.holder


def test_a_paper_run_holds_its_session_lease_and_releases_it_on_exit(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Paper sessions lease ``paper:<session>``: unique, so replays never block each other."""
    database = tmp_path / "journal.sqlite"
    config = tmp_path / "paper.toml"
    config.write_text(
        'interval = "4h"\n[exchange]\nname = "paper"\naccount = "test"\n'
        "[paper]\ncollateral = 50000\n[paper.holdings]\nBTC = 1\n"
        f"[journal]\nurl = 'sqlite:///{database}'\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEDGEBOT_")}
    done = hedgebot(capfd, config, env, "run", "--max-cycles", "2", "--quiet")
    assert done.returncode == 0, done.stderr
    with Journal.open(f"sqlite:///{database}") as journal:
        (venue,) = {r.venue for r in journal.rebalances()}
        assert venue.startswith("paper:")
        assert journal.lease(venue).current() is None
    assert not list(tmp_path.glob("*-lease-*"))  # the lock file went with the lease

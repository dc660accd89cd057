"""Colour where it means something, the lease in `status`, and `-q` silencing warnings.

The colour cases run `status` in-process on a journal written by hand: three legs (on target,
off target, near liquidation) and a failed last cycle. ``FORCE_COLOR`` stands for the terminal.
"""

from __future__ import annotations

import os
import re
import socket
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from bot.cli.commands.status import LeaseState
from bot.journal.lease import LeaseInfo, holder_gone
from bot.journal.records import PositionSnapshot, RebalanceRecord, RebalanceStatus, RunMode
from bot.journal.store import Journal
from bot.reporting.terminal import color_enabled
from tests.cli_inprocess import run_cli
from tests.tiny_config import tiny_config

VENUE = "paper:colour"
T0 = datetime(2024, 3, 1, 8, tzinfo=UTC)
D = Decimal
GREEN, YELLOW, BOLD_RED = "\x1b[32m", "\x1b[33m", "\x1b[1;31m"

CONFIG = """\
[exchange]
name = "paper"
account = "colour"

[paper.holdings]
BTC = 1

[journal]
url = "sqlite:///var/colour.sqlite"
"""


def environment(**extra: str) -> dict[str, str]:
    unset = ("NO_COLOR", "FORCE_COLOR", "HEDGEBOT_DATA_DIR")
    return {k: v for k, v in os.environ.items() if k not in unset} | extra


def leg(symbol: str, contracts: str, mark: str, liquidation: str, target: str) -> PositionSnapshot:
    return PositionSnapshot(
        time=T0,
        venue=VENUE,
        symbol=symbol,
        contracts=D(contracts),
        entry_price=D(mark),
        mark_price=D(mark),
        isolated_margin=D(1000),
        leverage=1,
        liquidation_price=D(liquidation),
        target_notional=D(target),
        hedged_value=D(target) / D("0.4"),
    )


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    """A paper config and its journal: BTC on target, ADA off target, ETH 15% from liquidation
    (the warning level is 25%), the last cycle failed."""
    (tmp_path / "colour.toml").write_text(CONFIG, encoding="utf-8")
    with Journal.open(f"sqlite:///{tmp_path / 'var' / 'colour.sqlite'}") as journal:
        holdings = {"BTC": {"amount": "1", "price": "40000", "value": "40000"}}
        journal.record_rebalance(
            RebalanceRecord(
                "r1",
                T0,
                RunMode.PAPER,
                VENUE,
                "static",
                {"holdings": holdings},
                {},
                "the exchange refused the order",
                RebalanceStatus.FAILED,
            )
        )
        journal.record_snapshots(
            [
                leg("BTC/USDT:USDT", "-0.4", "40000", "80000", "16000"),  # 16,000 = target
                leg("ETH/USDT:USDT", "-4", "2000", "2300", "8000"),  # 15% from liquidation
                leg("ADA/USDT:USDT", "-1000", "0.5", "1", "2000"),  # 500 of 2,000
            ]
        )
    return tmp_path


def rows(out: str) -> dict[str, str]:
    """Return each leg's row of the status table, escape codes and all."""
    found = {}
    for line in out.splitlines():
        plain = re.sub(r"\x1b\[[0-9;]*m", "", line)
        if plain.startswith(("BTC/", "ETH/", "ADA/")):
            found[plain.split()[0]] = line
    return found


def test_on_a_terminal_the_legs_and_a_failed_cycle_are_coloured_by_meaning(
    workdir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    done = run_cli(
        ["status", "-c", "colour.toml"], capfd, cwd=workdir, env=environment(FORCE_COLOR="1")
    )
    assert done.returncode == 0, done.stderr
    legs = rows(done.stdout)
    assert legs["ETH/USDT:USDT"].startswith(BOLD_RED) and "15.0%" in legs["ETH/USDT:USDT"]
    assert legs["BTC/USDT:USDT"].startswith(GREEN) and "100.0%" in legs["BTC/USDT:USDT"]
    assert legs["ADA/USDT:USDT"].startswith(YELLOW) and "10.0%" in legs["ADA/USDT:USDT"]
    assert f"{BOLD_RED}failed\x1b[0m — the exchange refused the order" in done.stdout
    assert not color_enabled()  # the mode was the command's: text rendered now is plain


def test_piped_the_same_status_has_no_escape_codes(
    workdir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    done = run_cli(["status", "-c", "colour.toml"], capfd, cwd=workdir, env=environment())
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout
    assert rows(done.stdout)["ETH/USDT:USDT"].split()[7] == "15.0%"  # liq. distance
    assert ": failed — the exchange refused the order" in done.stdout


def test_status_names_the_bot_holding_the_lease_and_its_heartbeat(
    workdir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    beat = datetime.now(UTC) - timedelta(seconds=20)
    with (
        Journal.open(f"sqlite:///{workdir / 'var' / 'colour.sqlite'}") as journal,
        journal.lease(VENUE, holder="host-a:4242:beef", clock=lambda: beat),
    ):
        done = run_cli(["status", "-c", "colour.toml"], capfd, cwd=workdir, env=environment())
    assert done.returncode == 0, done.stderr
    said = re.search(
        r"lease: held by host-a:4242:beef since (.+) UTC, last heartbeat (\d+) s ago", done.stdout
    )
    assert said is not None, done.stdout
    assert said[1] == f"{beat:%Y-%m-%d %H:%M:%S}" and 20 <= int(said[2]) <= 80


def test_a_lease_that_expired_or_none_means_no_bot_holds_it() -> None:
    now = datetime(2024, 3, 1, 12, tzinfo=UTC)
    info = LeaseInfo(
        VENUE,
        "host-a:4242:beef",
        now - timedelta(hours=3),
        now - timedelta(hours=2),
        now - timedelta(minutes=119),
    )
    assert LeaseState(None, now).line() == "lease: no bot holds the lease"
    assert LeaseState(info, now).line() == (
        "lease: no bot holds the lease (host-a:4242:beef's expired 2024-03-01 10:01:00 UTC, "
        "last heartbeat 2 h ago)"
    )
    live = LeaseInfo(
        VENUE,
        "host-a:4242:beef",
        now - timedelta(days=3),
        now - timedelta(seconds=150),
        now + timedelta(seconds=30),
    )
    assert LeaseState(live, now).line() == (
        "lease: held by host-a:4242:beef since 2024-02-27 12:00:00 UTC, last heartbeat 2 min ago"
    )


def test_a_killed_holder_on_this_host_holds_nothing_however_fresh_its_lease() -> None:
    """A bot killed with SIGKILL leaves its row unexpired: its process is what tells."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: its pid names no process now
    now = datetime.now(UTC)
    killed = f"{socket.gethostname()}:{child.pid}:dead"
    info = LeaseInfo(VENUE, killed, now - timedelta(hours=1), now, now + timedelta(seconds=55))
    assert holder_gone(killed) and not info.live_at(now)
    assert LeaseState(info, now).line() == (
        f"lease: no bot holds the lease ({killed}'s process is gone, last heartbeat 0 s ago; "
        "the next `hedgebot run` takes over at once)"
    )
    alive = f"{socket.gethostname()}:{os.getpid()}:here"
    elsewhere = "another-host:1:beef"
    assert not holder_gone(alive) and not holder_gone(elsewhere)  # another host: its word
    assert LeaseInfo(VENUE, alive, now, now, now + timedelta(seconds=55)).live_at(now)


PAPER = tiny_config("quiet", "var/quiet.sqlite", {"BTC": "0.1"}, ratio=None)


def test_quiet_silences_warnings_but_the_log_file_keeps_them(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "quiet.toml").write_text(PAPER, encoding="utf-8")
    argv = ["run", "-c", "quiet.toml", "--max-cycles", "1"]
    assert run_cli(argv, capfd, cwd=tmp_path).returncode == 0
    journal = tmp_path / "var" / "quiet.sqlite"
    journal.chmod(stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)  # 0644: warned
    warning = "is readable by others; run: chmod 600"

    loud = run_cli(argv, capfd, cwd=tmp_path)
    assert loud.returncode == 0 and warning in loud.stderr, loud.stderr

    quiet = run_cli([*argv, "-q", "--log-file", "quiet.log"], capfd, cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    assert "hedge P&L" in quiet.stdout  # -q still prints the summary
    logged = (tmp_path / "quiet.log").read_text(encoding="utf-8")
    assert warning in logged and " INFO " in logged

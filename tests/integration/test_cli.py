"""The `hedgebot` command as a newcomer runs it, on the shipped configs.

In-process (`tests.cli_inprocess.run_cli`: its own directory, environment, fd-level output);
a real subprocess where the process is the point: SIGINT.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.journal.store import Journal
from tests.cli_inprocess import run_cli

REPO = Path(__file__).resolve().parents[2]
Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture()
def hedgebot(capfd: pytest.CaptureFixture[str]) -> Cli:
    """Return ``hedgebot(*args, cwd=...)``: the command in-process, without $HEDGEBOT_DATA_DIR."""

    def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        environment = {k: v for k, v in os.environ.items() if k != "HEDGEBOT_DATA_DIR"}
        return run_cli(args, capfd, cwd=cwd, env=environment)

    return run


def wait_for_rebalances(path: Path, count: int, process: subprocess.Popen[str]) -> bool:
    """Wait until the running bot journaled ``count`` cycles (False if it exited first)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if path.exists():
            with contextlib.suppress(sqlite3.Error):
                connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
                try:
                    (found,) = connection.execute("SELECT count(*) FROM rebalances").fetchone()
                finally:
                    connection.close()
                if found >= count:
                    return True
        time.sleep(0.1)
    return False


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "config", tmp_path / "config")
    return tmp_path


@pytest.mark.slow
def test_demo_on_the_simulated_market_completes_and_journals_every_fill(
    workdir: Path, hedgebot: Cli
) -> None:
    result = hedgebot("run", "--config", "config/paper.toml", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "SIMULATED MARKET" in result.stdout
    assert "hedge P&L" in result.stdout and "unreconciled" not in result.stdout
    with Journal.open(f"sqlite:///{workdir / 'var/hedgebot-paper.sqlite'}") as journal:
        totals = journal.totals()
        assert totals.fills > 0 and totals.funding_payments > 0
        assert totals.rebalances == 540
        assert totals.orders == totals.fills  # every market order filled whole, once


def test_rebalance_dry_run_prints_the_plan_and_places_nothing(workdir: Path, hedgebot: Cli) -> None:
    result = hedgebot("rebalance", "--dry-run", "--config", "config/paper.toml", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "dry run: nothing placed." in result.stdout
    for leg in ("BTC/USDT:USDT", "ETH/USDT:USDT", "ADA/USDT:USDT", "XRP/USDT:USDT"):
        assert leg in result.stdout
    assert "sell" in result.stdout  # the plan opens shorts
    with Journal.open(f"sqlite:///{workdir / 'var/hedgebot-paper.sqlite'}") as journal:
        totals = journal.totals()
        assert (totals.orders, totals.fills, totals.rebalances) == (0, 0, 0)


def test_rebalance_with_yes_places_and_shows_fills(workdir: Path, hedgebot: Cli) -> None:
    result = hedgebot("rebalance", "--yes", "--config", "config/paper.toml", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert " sell " in result.stdout and "fee" in result.stdout
    status = hedgebot("status", "--config", "config/paper.toml", cwd=workdir)
    assert status.returncode == 0, status.stderr
    assert "liq. distance" in status.stdout and "ADA/USDT:USDT" in status.stdout
    assert "carry cost" in status.stdout
    listing = hedgebot("journal", "fills", "--csv", "--config", "config/paper.toml", cwd=workdir)
    lines = listing.stdout.strip().splitlines()
    assert lines[0].startswith("venue,trade_id") and len(lines) == 1 + 5


def test_rebalance_refuses_to_place_without_confirmation_when_not_interactive(
    workdir: Path, hedgebot: Cli
) -> None:
    result = hedgebot("rebalance", "--config", "config/paper.toml", cwd=workdir)
    assert result.returncode == 1
    assert "pass --yes" in result.stdout


BAD_CONFIGS = {
    "negative ratio": ("[strategy]\nname = 'static'\nratio = -0.2\n", "strategy.ratio"),
    "leverage over the cap": ("[risk]\nleverage = 10\n", "risk.leverage"),
    "unknown strategy": ("[strategy]\nname = 'yolo'\n", "strategy.name"),
    "missing holdings": ("", "paper.holdings"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_exits_non_zero_naming_the_field_and_writes_nothing(
    tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """In process (`main`, what the entry point runs): no process behaviour is at stake here."""
    body, field = BAD_CONFIGS[case]
    holdings = "" if case == "missing holdings" else "[paper.holdings]\nBTC = 1\n"
    journal = tmp_path / "journal.sqlite"
    config = tmp_path / "bad.toml"
    config.write_text(f"{body}{holdings}[journal]\nurl = 'sqlite:///{journal}'\n")
    for command in (["check-config", str(config)], ["run", "--config", str(config)]):
        code = main(command)
        out, err = capsys.readouterr()
        assert code == 2, (case, out, err)
        assert field in err and "Traceback" not in out + err, err
    assert not journal.exists()


def test_check_config_prints_the_effective_config_with_secrets_masked(
    tmp_path: Path, hedgebot: Cli
) -> None:
    config = tmp_path / "ok.toml"
    config.write_text(
        "[paper.holdings]\nBTC = 1\n[journal]\nurl = 'postgresql://bot:hunter2@db:5432/hedge'\n"
    )
    result = hedgebot("check-config", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout and '"ratio"' not in result.stdout
    assert "hunter2" not in result.stdout and "bot:***@db" in result.stdout
    assert '"deadband": "0.05"' in result.stdout


def test_sigint_finishes_the_cycle_closes_the_journal_and_exits_0(workdir: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if k != "HEDGEBOT_DATA_DIR"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot",
            "run",
            "--config",
            "config/paper.toml",
            "--speed",
            str(4 * 3600 * 10),
        ],  # ten 4h cycles per second
        cwd=workdir,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    journal_file = workdir / "var/hedgebot-paper.sqlite"
    assert wait_for_rebalances(journal_file, 5, process), process.communicate()[1]
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "hedge P&L" in out  # the summary is printed after the interrupted replay
    with Journal.open(f"sqlite:///{workdir / 'var/hedgebot-paper.sqlite'}") as journal:
        rebalances = journal.rebalances()
        assert 5 <= len(rebalances) < 540  # stopped part-way
        assert all(r.status in ("done", "held") for r in rebalances)  # no half-written cycle
        assert journal.totals().orders == journal.totals().fills


def test_halt_stops_orders_from_the_next_cycle_and_resume_restarts_them(
    workdir: Path, hedgebot: Cli
) -> None:
    halted = hedgebot("halt", "--reason", "drill", "--config", "config/paper.toml", cwd=workdir)
    assert halted.returncode == 0 and "halted" in halted.stdout
    run = hedgebot("run", "-q", "--max-cycles", "2", "--config", "config/paper.toml", cwd=workdir)
    assert run.returncode == 0, run.stderr
    with Journal.open(f"sqlite:///{workdir / 'var/hedgebot-paper.sqlite'}") as journal:
        assert [r.status for r in journal.rebalances()] == ["halted", "halted"]
        assert "drill" in (journal.rebalances()[-1].note or "")
        assert journal.totals().orders == 0
        assert [e.kind for e in journal.events()] == ["kill_switch"]
        (halted_venue,) = {r.venue for r in journal.rebalances()}
    resumed = hedgebot("resume", "--config", "config/paper.toml", cwd=workdir)
    assert resumed.returncode == 0 and "resumed" in resumed.stdout
    run = hedgebot("run", "-q", "--max-cycles", "1", "--config", "config/paper.toml", cwd=workdir)
    assert run.returncode == 0, run.stderr
    with Journal.open(f"sqlite:///{workdir / 'var/hedgebot-paper.sqlite'}") as journal:
        latest = [r for r in journal.rebalances() if r.venue != halted_venue]
        assert [r.status for r in latest] == ["done"]  # a new session: its own venue name
        assert journal.totals(venue=latest[0].venue).orders > 0

"""The live path from the command line, offline: the emulator + `config/emulator.toml`.

The emulator serves from a thread and the commands run in-process (`tests.cli_inprocess`): what a
process would print, its exit code, what it journals; no process behaviour is at stake here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.journal.store import Journal
from tests.cli_inprocess import run_cli
from tests.emulator_process import emulator_thread

REPO = Path(__file__).resolve().parents[2]
KEYS = {"HEDGEBOT_API_KEY": "cli-key", "HEDGEBOT_API_SECRET": "cli-secret-do-not-print"}


@pytest.fixture()
def emulator(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("HEDGEBOT_")}, **KEYS}
    with emulator_thread(["BTC", "ETH"], env) as port:
        shutil.copytree(REPO / "config", tmp_path / "config")
        config = tmp_path / "config" / "emulator.toml"
        config.write_text(
            config.read_text()
            .replace("127.0.0.1:8765", f"127.0.0.1:{port}")
            .replace('perps = ["BTC", "ETH", "ADA", "XRP", "LTC"]', 'perps = ["BTC", "ETH"]')
        )
        yield tmp_path, env


Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture()
def hedgebot(capfd: pytest.CaptureFixture[str]) -> Cli:
    """Return ``hedgebot(cwd, env, *args)``: the command on `config/emulator.toml`, in-process."""

    def run(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli([*args, "--config", "config/emulator.toml"], capfd, cwd=cwd, env=env)

    return run


@pytest.mark.slow
def test_emulator_config_runs_the_live_path_offline(
    emulator: tuple[Path, dict[str, str]], hedgebot: Cli
) -> None:
    cwd, env = emulator
    plan = hedgebot(cwd, env, "rebalance", "--dry-run")
    assert plan.returncode == 0, plan.stderr
    assert "dry run: nothing placed." in plan.stdout and "BTC/USDT:USDT" in plan.stdout
    placed = hedgebot(cwd, env, "rebalance", "--yes")
    assert placed.returncode == 0, placed.stderr
    assert placed.stdout.count(": sell ") == 2
    again = hedgebot(cwd, env, "rebalance", "--yes")  # the same slot: its own row, nothing to do
    assert again.returncode == 0, again.stderr
    assert ": sell " not in again.stdout
    loop = hedgebot(cwd, env, "run", "--max-cycles", "1", "-v", "--log-json")
    assert loop.returncode == 0, loop.stderr
    assert "held" in loop.stdout  # the hedge placed above is within its deadband
    log_lines = [json.loads(line) for line in loop.stderr.splitlines() if line.strip()]
    assert log_lines, "INFO logging produced nothing"
    assert any(
        "-binanceusdm:emulator-emulator" in (line["rebalance_id"] or "") for line in log_lines
    )
    status = hedgebot(cwd, env, "status")
    assert "ETH/USDT:USDT" in status.stdout and "40.0%" in status.stdout
    with Journal.open(f"sqlite:///{cwd / 'var/hedgebot-emulator.sqlite'}") as journal:
        totals = journal.totals()
        assert (totals.orders, totals.fills) == (2, 2)
    everything = plan.stdout + plan.stderr + placed.stdout + placed.stderr + loop.stdout
    everything += loop.stderr + status.stdout + status.stderr
    assert KEYS["HEDGEBOT_API_SECRET"] not in everything
    assert KEYS["HEDGEBOT_API_KEY"] not in everything
    stored = (cwd / "var/hedgebot-emulator.sqlite").read_bytes()
    for wal in (cwd / "var").glob("hedgebot-emulator.sqlite-*"):
        stored += wal.read_bytes()
    assert KEYS["HEDGEBOT_API_SECRET"].encode() not in stored
    assert KEYS["HEDGEBOT_API_KEY"].encode() not in stored


def test_missing_keys_fail_with_the_way_to_provide_them(
    emulator: tuple[Path, dict[str, str]], hedgebot: Cli
) -> None:
    cwd, env = emulator
    bare = {k: v for k, v in env.items() if not k.startswith("HEDGEBOT_API")}
    result = hedgebot(cwd, bare, "rebalance", "--dry-run")
    assert result.returncode == 2
    assert "HEDGEBOT_API_KEY" in result.stderr and "secrets_file" in result.stderr

"""`hedgebot backtest` on a real terminal shows a progress bar with its ETA, then the table.

The command runs as a process of its own under a pseudo-terminal (`pty`), on a tiny history
written here (BTC, 4h candles, 20 days), over ten of those days; piped (in-process), no bar. The
runner tells each replayed cycle (from worker processes too) without changing what it computes.
"""

from __future__ import annotations

import asyncio
import math
import os
import pty
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from bot.backtest.runner import RunSpec, replay_in_processes, run_one
from bot.settings.config import StrategyConfig, parse_config
from bot.sim.paper_account import build_paper
from tests.cli_inprocess import run_cli
from tests.conftest import paper_config_dict

REPO = Path(__file__).resolve().parents[2]
BAR_MS = 4 * 3600 * 1000
JAN_2022 = 1_640_995_200_000
HEADER = "timestamp_ms,open,high,low,close,volume\n"
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")

CONFIG = """\
interval = "4h"

[exchange]
name = "paper"
account = "bars"

[paper]
collateral = 50000

[paper.holdings]
BTC = 1
"""


def history(directory: Path) -> None:
    """BTC spot and perp candles: 120 bars (20 days) swinging ±3% around 40,000."""
    directory.mkdir()
    rows = []
    for n in range(120):
        price = 40_000 * (1 + 0.03 * math.sin(n / 5))
        rows.append(f"{JAN_2022 + n * BAR_MS},{price},{price * 1.01},{price * 0.99},{price},1\n")
    for market in ("spot", "perp"):
        (directory / f"binance_{market}_BTCUSDT_4h.csv").write_text(HEADER + "".join(rows))


def backtest_argv() -> list[str]:
    return [
        sys.executable,
        "-m",
        "bot",
        "backtest",
        "-c",
        "bars.toml",
        "--data-dir",
        "data",
        "--from",
        "2022-01-06",
        "--to",
        "2022-01-16",
        "--out",
        "out",
    ]


def environment() -> dict[str, str]:
    unset = ("NO_COLOR", "FORCE_COLOR", "HEDGEBOT_DATA_DIR")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    return env | {"TERM": "xterm-256color", "COLUMNS": "120", "PYTHONPATH": str(REPO)}


def run_in_terminal(
    argv: list[str], cwd: Path, extra: dict[str, str] | None = None
) -> tuple[int, str]:
    """Run ``argv`` with a pseudo-terminal as stdin, stdout and stderr; return code and output.

    ``extra``: environment variables on top of `environment`.
    """
    leader, follower = pty.openpty()
    env = environment() | (extra or {})
    process = subprocess.Popen(
        argv, cwd=cwd, env=env, stdin=follower, stdout=follower, stderr=follower
    )
    os.close(follower)
    chunks = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: every end of the terminal is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    code = process.wait(timeout=60)
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_a_backtest_on_a_terminal_shows_a_progress_bar_with_eta_then_the_table(
    tmp_path: Path,
) -> None:
    (tmp_path / "bars.toml").write_text(CONFIG, encoding="utf-8")
    history(tmp_path / "data")

    code, out = run_in_terminal(backtest_argv(), tmp_path)

    assert code == 0, out
    assert "\x1b[" in out  # a terminal: cursor moves and colours
    shown = ESCAPES.sub("", out)
    assert re.search(r"static ━+ +0% +ETA -:--:--", shown), shown  # at the start, ETA unknown
    assert re.search(r"static ━+ 100% 2022-01-16 ETA 0:00:00", shown), shown  # at the end
    table = shown.index("max drawdown")
    assert shown.index("100%") < table < shown.index("wrote out/metrics.json")


@pytest.mark.parametrize(
    ("flags", "extra"), [(["--no-color"], {}), ([], {"NO_COLOR": "1"})], ids=["flag", "env"]
)
def test_no_color_on_a_terminal_shows_no_bar_and_no_escape_codes(
    tmp_path: Path, flags: list[str], extra: dict[str, str]
) -> None:
    (tmp_path / "bars.toml").write_text(CONFIG, encoding="utf-8")
    history(tmp_path / "data")

    code, out = run_in_terminal([*backtest_argv(), *flags], tmp_path, extra)

    assert code == 0, out
    assert "\x1b" not in out and "━" not in out and "ETA" not in out
    assert "  static: 60 cycles in" in out and "max drawdown" in out


def test_a_piped_backtest_shows_no_bar(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bars.toml").write_text(CONFIG, encoding="utf-8")
    history(tmp_path / "data")

    done = run_cli(backtest_argv()[3:], capfd, cwd=tmp_path, env=environment())

    assert done.returncode == 0, done.stderr
    assert "━" not in done.stdout and "ETA" not in done.stdout and "\x1b" not in done.stdout
    assert "  static: 60 cycles in" in done.stdout and "max drawdown" in done.stdout


def test_the_runner_tells_each_cycle_and_computes_the_same_whether_told_or_not() -> None:
    config = parse_config(
        paper_config_dict(paper={"holdings": {"BTC": 1}, "collateral": 50000, "simulated_bars": 30})
    )
    runs = [
        (RunSpec(ratio, StrategyConfig.model_validate({"name": "static", "ratio": ratio})), venue)
        for ratio, venue in (("0.2", "paper:a"), ("0.4", "paper:b"))
    ]
    base = build_paper(config, None)
    spec, venue = runs[0]
    told: list[tuple[str, datetime]] = []
    watched = asyncio.run(run_one(config, base, spec, venue, on_cycle=lambda *t: told.append(t)))
    unwatched = asyncio.run(run_one(config, base, spec, venue))
    assert told == [(venue, point.time) for point in watched.points]  # every cycle, in order
    assert watched.points == unwatched.points and watched.totals == unwatched.totals

    heard: list[tuple[str, datetime]] = []
    in_processes = list(replay_in_processes(config, base, runs, 2, lambda *t: heard.append(t)))
    assert in_processes[0].points == watched.points
    for name in ("paper:a", "paper:b"):  # each worker told its parent, time moving forward
        times = [at for said, at in heard if said == name]
        assert times and times == sorted(times)
        assert all(base.start <= at <= base.end for at in times)

"""`status`, `rebalance --dry-run` and `report` in plain mode, to the character.

A small paper replay on the seeded simulated market (6 cycles, 4h apart) journals a session; the
commands run in-process (`run_cli`) and their stdout is compared with `tests/snapshots/*.txt`,
the session's tag (wall time and random) replaced by ``SESSION``. Plain mode is what a pipe gets;
``--no-color`` and ``NO_COLOR`` win over ``FORCE_COLOR``. Set ``HEDGEBOT_UPDATE_SNAPSHOTS=1`` to
rewrite the files after a deliberate change of layout, then read the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.cli_inprocess import run_cli
from tests.tiny_config import tiny_config

SNAPSHOTS = Path(__file__).resolve().parents[1] / "snapshots"
SESSION = re.compile(r"paper:\d{8}T\d{6}-[0-9a-f]{4}")
ESCAPE = "\x1b["
UPDATE = bool(os.environ.get("HEDGEBOT_UPDATE_SNAPSHOTS"))
"""Read before the tests hide the HEDGEBOT_* variables (tests/conftest.py)."""

CONFIG = tiny_config("snap", "var/snap.sqlite", {"BTC": "0.1", "ETH": "1"})


def environment(**extra: str) -> dict[str, str]:
    """The test's environment without colour or data settings of its own, plus ``extra``."""
    unset = ("NO_COLOR", "FORCE_COLOR", "HEDGEBOT_DATA_DIR")
    return {k: v for k, v in os.environ.items() if k not in unset} | extra


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "snap.toml").write_text(CONFIG, encoding="utf-8")
    return tmp_path


@pytest.fixture()
def replayed(workdir: Path, capfd: pytest.CaptureFixture[str]) -> Path:
    """The work directory after a 6-cycle paper replay journaled in var/snap.sqlite."""
    done = run_cli(["run", "-c", "snap.toml", "--max-cycles", "6"], capfd, cwd=workdir)
    assert done.returncode == 0, done.stderr
    return workdir


def matches_snapshot(out: str, name: str) -> None:
    """Assert ``out`` (session tag replaced) is the text of tests/snapshots/``name``."""
    text = SESSION.sub("paper:SESSION", out)
    path = SNAPSHOTS / name
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert ESCAPE not in text
    assert text == path.read_text(encoding="utf-8")


def test_status_in_plain_mode_matches_its_snapshot_even_with_force_color_and_no_color(
    replayed: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    argv = ["status", "-c", "snap.toml", "--no-color"]
    done = run_cli(argv, capfd, cwd=replayed, env=environment(FORCE_COLOR="1"))
    assert done.returncode == 0, done.stderr
    matches_snapshot(done.stdout, "status.txt")
    assert "lease: no bot holds the lease" in done.stdout  # the replay released it


def test_report_in_plain_mode_matches_its_snapshot_with_no_color_set(
    replayed: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    env = environment(FORCE_COLOR="1", NO_COLOR="1")
    done = run_cli(["report", "-c", "snap.toml"], capfd, cwd=replayed, env=env)
    assert done.returncode == 0, done.stderr
    matches_snapshot(done.stdout, "report.txt")


def test_rebalance_dry_run_piped_matches_its_snapshot(
    workdir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    argv = ["rebalance", "--dry-run", "-c", "snap.toml"]
    done = run_cli(argv, capfd, cwd=workdir, env=environment())
    assert done.returncode == 0, done.stderr
    matches_snapshot(done.stdout, "rebalance_dry_run.txt")

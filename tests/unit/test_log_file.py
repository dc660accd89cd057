"""`hedgebot run --log-file`: every line carries its rebalance id, the file rotates, mode 0600."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest

from bot.runtime.logs import PrivateRotatingFileHandler, log_file, rebalance_id
from tests.cli_inprocess import run_cli
from tests.tiny_config import tiny_config

TINY = tiny_config("logs", "var/logs.sqlite")


@pytest.mark.parametrize("flags", [[], ["-v"], ["-q"]], ids=["plain", "verbose", "quiet"])
def test_run_logs_to_a_private_file_with_the_rebalance_id_on_every_line(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    """The file takes every cycle's INFO line whatever stderr shows (-v or not, -q or not)."""
    (tmp_path / "tiny.toml").write_text(TINY, encoding="utf-8")
    (tmp_path / "logs").mkdir()
    argv = ["run", "-c", "tiny.toml", *flags, "--max-cycles", "2"]
    done = run_cli([*argv, "--log-file", "logs/bot.log"], capfd, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    path = tmp_path / "logs" / "bot.log"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = path.read_text(encoding="utf-8").splitlines()
    assert any(" INFO " in line for line in lines), lines
    ids = {line.split("[", 1)[1].split("]", 1)[0] for line in lines}
    assert len(ids - {"-"}) == 2, ids  # two cycles, each line stamped with its own id
    assert " INFO " not in done.stderr  # stderr keeps warnings and errors only


def test_the_log_file_rotates_at_the_size_given(tmp_path: Path) -> None:
    path = tmp_path / "bot.log"
    log = logging.getLogger("test.rotation")
    token = rebalance_id.set("20220110T0000-paper-logs")
    try:
        with log_file(path, max_bytes=2048, backups=2, as_json=False):
            for n in range(100):
                log.warning("line %03d %s", n, "x" * 40)
    finally:
        rebalance_id.reset(token)

    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["bot.log", "bot.log.1", "bot.log.2"]
    for name in files:
        rotated = tmp_path / name
        assert rotated.stat().st_size <= 2048
        assert stat.S_IMODE(rotated.stat().st_mode) == 0o600
        text = rotated.read_text(encoding="utf-8")
        assert all("[20220110T0000-paper-logs]" in line for line in text.splitlines())
    assert "line 099" in path.read_text(encoding="utf-8")
    assert not any(isinstance(h, PrivateRotatingFileHandler) for h in logging.getLogger().handlers)


def test_json_log_lines_carry_the_rebalance_id_and_mask_secrets(tmp_path: Path) -> None:
    path = tmp_path / "bot.log"
    log = logging.getLogger("test.json")
    token = rebalance_id.set("20220110T0000-paper-logs")
    try:
        with log_file(path, max_bytes=1 << 20, backups=1, as_json=True):
            log.warning("journal %s", "postgresql://bot:hunter2@db/hedge", extra={"leg": "BTC"})
            try:
                raise ValueError("postgresql://bot:hunter2@db/hedge")
            except ValueError:
                log.exception("failed")
    finally:
        rebalance_id.reset(token)

    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [line["rebalance_id"] for line in lines] == ["20220110T0000-paper-logs"] * 2
    assert lines[0]["message"] == "journal postgresql://bot:***@db/hedge"
    assert lines[0]["leg"] == "BTC" and lines[0]["level"] == "WARNING"
    assert "ValueError" in lines[1]["exception"]
    assert "hunter2" not in path.read_text(encoding="utf-8")

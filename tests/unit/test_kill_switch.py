"""The kill switch: one file per exchange account, named in every message, failing safe."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.core.errors import StorageError
from bot.runtime.kill_switch import (
    LEGACY_FILE,
    KillSwitch,
    account_label,
    halted_message,
    kill_switch_file,
    kill_switch_for,
    with_kill_switch,
)
from bot.settings.config import Config, parse_config
from tests.conftest import paper_config_dict

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def config(exchange: dict[str, Any] | None = None, **risk: Any) -> Config:
    data = paper_config_dict()
    if exchange is not None:
        data["exchange"] = exchange
    if risk:
        data["risk"] = {**data.get("risk", {}), **risk}
    return parse_config(data)


def test_each_exchange_account_has_its_own_file_by_default() -> None:
    paper = config({"name": "paper", "account": "demo"})
    emulator = config({"name": "binanceusdm", "account": "emulator"})
    bybit = config({"name": "bybit", "account": "demo"})
    assert kill_switch_file(paper) == Path("var/halt/paper-demo.halt")
    assert kill_switch_file(emulator) == Path("var/halt/binanceusdm-emulator.halt")
    assert kill_switch_file(bybit) == Path("var/halt/bybit-demo.halt")
    assert account_label(emulator) == "binanceusdm:emulator"


def test_a_file_named_in_the_config_wins_even_the_old_default_written_out() -> None:
    assert kill_switch_file(config(kill_switch_file="ops/stop")) == Path("ops/stop")
    assert kill_switch_file(config(kill_switch_file=LEGACY_FILE)) == Path(LEGACY_FILE)
    assert kill_switch_file(config(kill_switch_file="")) == Path("var/halt/paper-test.halt")


def test_the_resolved_file_is_what_the_engine_reads() -> None:
    resolved = with_kill_switch(config({"name": "paper", "account": "demo"}))
    assert resolved.risk.kill_switch_file == "var/halt/paper-demo.halt"
    assert kill_switch_file(with_kill_switch(resolved)) == Path("var/halt/paper-demo.halt")


def test_halting_the_paper_demo_leaves_the_emulator_account_trading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    paper = kill_switch_for(config({"name": "paper", "account": "demo"}))
    emulator = kill_switch_for(config({"name": "binanceusdm", "account": "emulator"}))
    paper.halt("drill", NOW)
    assert paper.reason() == "drill (since 2026-01-02 03:04:05 UTC)"
    assert emulator.reason() is None
    assert paper.resume() and not paper.resume()
    assert paper.reason() is None


def test_the_shared_file_of_earlier_versions_still_halts_until_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    KillSwitch(LEGACY_FILE).halt("old halt", NOW)
    switch = kill_switch_for(config({"name": "paper", "account": "demo"}))
    assert switch.halted_by() == Path(LEGACY_FILE)
    assert "old halt" in (switch.reason() or "") and LEGACY_FILE in (switch.reason() or "")
    own = kill_switch_for(config({"name": "paper", "account": "demo"}, kill_switch_file="x.halt"))
    assert own.reason() is None  # a file of the user's own is the only one it obeys
    assert switch.resume()
    assert not Path(LEGACY_FILE).exists() and switch.reason() is None


def test_a_switch_that_cannot_be_read_halts(tmp_path: Path) -> None:
    (tmp_path / "halt").mkdir()
    switch = KillSwitch(tmp_path / "halt")
    assert "cannot be read" in (switch.reason() or "")


def test_a_reason_is_kept_on_one_line(tmp_path: Path) -> None:
    switch = KillSwitch(tmp_path / "halt")
    switch.halt("exchange\nincident  ", NOW)
    assert switch.reason() == "exchange incident (since 2026-01-02 03:04:05 UTC)"
    switch.halt("   ", NOW)
    assert (switch.reason() or "").startswith("halted by operator")


def test_a_switch_that_cannot_be_written_says_which_file_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where a directory should be")
    switch = KillSwitch(tmp_path / "blocker" / "x.halt")
    with pytest.raises(
        StorageError, match=r"cannot write the kill switch .*risk\.kill_switch_file"
    ):
        switch.halt("drill", NOW)


def test_the_halted_line_names_account_file_reason_and_resume(tmp_path: Path) -> None:
    switch = KillSwitch(tmp_path / "x.halt", account="binanceusdm:emulator")
    switch.halt("drill", NOW)
    line = halted_message(switch, "config/emulator.toml")
    assert line.startswith(f"binanceusdm:emulator is halted by the kill switch {tmp_path}/x.halt")
    assert "drill" in line and "`hedgebot resume --config config/emulator.toml`" in line
    assert "\n" not in line

"""`hedgebot backtest` arguments: compare specs, crash windows, periods and clear refusals."""

from __future__ import annotations

import argparse
import importlib.util
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.backtest.windows import RISES, WINDOWS, find_window
from bot.cli.commands.backtest import parse_spec, resolve_period
from bot.cli.main import main
from bot.core.errors import ConfigError
from bot.settings.config import parse_config
from tests.conftest import paper_config_dict

CONFIG = str(Path(__file__).resolve().parents[2] / "config" / "paper.toml")


def test_a_plain_number_is_the_static_strategy_at_that_ratio() -> None:
    spec = parse_spec("0.4")
    assert spec.label == "static 40%"
    assert spec.strategy.name == "static" and spec.strategy.params() == {"ratio": "0.4"}


def test_a_name_with_parameters_is_validated_by_the_strategy() -> None:
    spec = parse_spec("volatility_regime:window=7d,hysteresis=0.1")
    assert spec.label == "volatility_regime:window=7d,hysteresis=0.1"
    assert spec.strategy.params() == {"window": "7d", "hysteresis": "0.1"}
    with pytest.raises(ConfigError, match=r"strategy\.ratio"):
        parse_spec("static:ratio=9")
    with pytest.raises(ConfigError, match="unknown strategy 'nope'"):
        parse_spec("nope")
    with pytest.raises(ConfigError, match="key=value"):
        parse_spec("static:ratio")


def test_a_toml_file_contributes_its_strategy_table(tmp_path: Path) -> None:
    path = tmp_path / "regime.toml"
    path.write_text('[strategy]\nname = "volatility_regime"\nwindow = "7d"\n', encoding="utf-8")
    spec = parse_spec(str(path))
    assert spec.label == "regime" and spec.strategy.name == "volatility_regime"
    with pytest.raises(ConfigError, match="cannot read"):
        parse_spec(str(tmp_path / "missing.toml"))


def _args(**given: Any) -> argparse.Namespace:
    values: dict[str, Any] = {"window": None, "since": None, "until": None}
    return argparse.Namespace(**{**values, **given})


def test_the_period_comes_from_the_window_then_from_and_to() -> None:
    config = parse_config(paper_config_dict())
    window = find_window("may-2021")
    period = resolve_period(config, _args(window="may-2021"))
    assert (period.start, period.end) == (window.start, window.end)
    assert period.title.startswith("may-2021: ")
    later = datetime(2021, 5, 10, tzinfo=UTC)
    period = resolve_period(config, _args(window="may-2021", since=later))
    assert (period.start, period.end) == (later, window.end)
    with pytest.raises(ConfigError, match="must be after"):
        resolve_period(config, _args(since=later, until=later))
    with pytest.raises(ConfigError, match="november-2022"):
        resolve_period(config, _args(window="crash"))


def test_a_rising_period_listed_by_window_list_is_a_window_too() -> None:
    config = parse_config(paper_config_dict())
    calm = RISES["q1-2023"]
    period = resolve_period(config, _args(window="q1-2023"))
    assert (period.start, period.end) == (calm.start, calm.end)
    assert period.title == "q1-2023: recovery after FTX"
    assert find_window("november-2022") is WINDOWS["november-2022"]
    with pytest.raises(ConfigError, match=r"unknown window 'nope'.*q1-2023.*--window list"):
        find_window("nope")


def test_the_named_windows_cover_the_six_crashes() -> None:
    assert list(WINDOWS) == [
        "march-2020",
        "may-2021",
        "may-june-2022",
        "november-2022",
        "august-2024",
        "october-2025",
    ]
    assert all(w.start < w.end for w in WINDOWS.values())


def test_window_list_prints_the_windows(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", "--config", CONFIG, "--window", "list"]) == 0
    assert "october-2025" in capsys.readouterr().out


def test_plots_without_matplotlib_are_refused_before_any_replay(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name)
    )
    assert main(["backtest", "--config", CONFIG, "--plots"]) == 2
    assert "--plots needs matplotlib" in capsys.readouterr().err


def test_a_backtest_without_history_says_where_to_get_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HEDGEBOT_DATA_DIR", raising=False)
    assert main(["backtest", "--config", CONFIG]) == 2
    assert "backtest needs market history" in capsys.readouterr().err

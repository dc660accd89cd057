"""Shared fixtures: where the real market history lives, and config builders."""

from __future__ import annotations

import decimal
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.market.history import DATA_DIR_ENV, default_shared_data_dir


@pytest.fixture(autouse=True)
def fresh_decimal_context() -> Iterator[None]:
    """Give every test Python's default decimal context (ccxt rewrites the current one)."""
    with decimal.localcontext(decimal.DefaultContext):
        yield


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """Return ../shared/data (or $HEDGEBOT_DATA_DIR); skip the test when it is absent."""
    explicit = os.environ.get(DATA_DIR_ENV)
    directory = Path(explicit) if explicit else default_shared_data_dir()
    if directory is None or not directory.is_dir():
        pytest.skip("real market history not found (../shared/data or $HEDGEBOT_DATA_DIR)")
    return directory


def paper_config_dict(**overrides: Any) -> dict[str, Any]:
    """Return a minimal valid paper config as a TOML-shaped dict, with section overrides."""
    base: dict[str, Any] = {
        "interval": "4h",
        "exchange": {"name": "paper", "account": "test"},
        "paper": {
            "collateral": 50000,
            "taker_fee": 0.0005,
            "slippage_bps": 2,
            "holdings": {"BTC": 1},
        },
        "strategy": {"name": "static", "ratio": 0.4},
        "hedge": {"deadband": 0.05},
        "risk": {"leverage": 1, "max_leverage": 2},
        "journal": {"url": "sqlite:///:memory:"},
    }
    for section, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(section), dict):
            base[section] = {**base[section], **value}
        else:
            base[section] = value
    return base

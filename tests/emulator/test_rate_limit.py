"""`exchange.ccxt_rate_limit`: ccxt paces an exchange by its request weights, not the emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bot.core.errors import ConfigError
from bot.settings.config import load_config, parse_config
from bot.settings.secrets import ApiCredentials
from bot.venue.factory import build_ccxt_venue
from tests.conftest import paper_config_dict

REPO = Path(__file__).resolve().parents[2]
EMULATOR = "http://127.0.0.1:8765"


def paced(exchange: dict[str, Any]) -> tuple[bool, bool]:
    """Return ``enableRateLimit`` of the futures and the spot client the factory builds."""
    config = parse_config(paper_config_dict(exchange={"account": "emu", **exchange}))
    venue = build_ccxt_venue(config, ApiCredentials(SecretStr("k"), SecretStr("s")))
    return bool(venue.futures.enableRateLimit), bool(venue.spot.enableRateLimit)


@pytest.mark.parametrize("name", ["binanceusdm", "bybit"])
def test_an_exchange_is_paced_by_ccxt_and_the_emulator_is_not_unless_asked(name: str) -> None:
    assert paced({"name": name}) == (True, True)
    assert paced({"name": name, "ccxt_rate_limit": True}) == (True, True)
    assert paced({"name": name, "api_url": EMULATOR}) == (False, False)
    assert paced({"name": name, "api_url": EMULATOR, "ccxt_rate_limit": True}) == (True, True)
    assert paced({"name": name, "api_url": EMULATOR, "ccxt_rate_limit": False}) == (False, False)


def test_switching_ccxt_pacing_off_on_an_exchange_is_refused() -> None:
    data = paper_config_dict(exchange={"name": "binanceusdm", "ccxt_rate_limit": False})
    with pytest.raises(ConfigError, match="ccxt_rate_limit: false is for the local emulator only"):
        parse_config(data)


def test_the_emulator_config_is_unpaced_by_ccxt_with_the_highest_budget() -> None:
    exchange = load_config(REPO / "config" / "emulator.toml").exchange
    assert exchange.api_url is not None and not exchange.paced_by_ccxt
    assert exchange.requests_per_second == 50

"""One masking place (`secrets.mask`): URL passwords and known secrets, nothing else."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from pydantic import SecretStr

import bot.settings.secrets as secrets_module
from bot.core.errors import ConfigError
from bot.journal.store import Journal
from bot.runtime.logs import JsonFormatter, MaskingFormatter
from bot.settings.config import parse_config
from bot.settings.secrets import (
    KEY_ENV,
    SECRET_ENV,
    ApiCredentials,
    load_credentials,
    mask,
    mask_url,
    remember,
)
from bot.venue.factory import build_ccxt_venue
from tests.conftest import paper_config_dict


@pytest.fixture(autouse=True)
def no_known_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets_module, "_known", set())
    for name in (KEY_ENV, SECRET_ENV):
        monkeypatch.delenv(name, raising=False)


def test_a_one_letter_password_garbles_nothing() -> None:
    remember("p")
    text = "cannot open journal postgresql://user:p@db.example/hedge: password p rejected"
    assert mask(text) == (
        "cannot open journal postgresql://user:***@db.example/hedge: password *** rejected"
    )


def test_short_secrets_only_as_whole_tokens_long_ones_anywhere() -> None:
    remember("hunter2")
    remember("0123456789abcdefXYZ")
    assert mask("hunter2 hunter22 xhunter2 (hunter2)") == "*** hunter22 xhunter2 (***)"
    assert mask("sig=0123456789abcdefXYZ&k=1 and a0123456789abcdefXYZb") == (
        "sig=***&k=1 and a***b"
    )


def test_url_password_field_even_when_unknown_and_quoted() -> None:
    url = "postgresql://bot:p%40ss%2Fw%3Ard@127.0.0.1:5432/journal"
    assert mask_url(url) == "postgresql://bot:***@127.0.0.1:5432/journal"
    remember("p@ss/w:rd")  # its URL-quoted forms are masked too, wherever they appear
    assert mask("dsn password=p%40ss%2Fw%3Ard") == "dsn password=***"


def test_urls_without_a_password_are_left_alone() -> None:
    for text in (
        "http://127.0.0.1:8765/fapi/v1/order?x=a@b",
        "sqlite:///var/hedgebot-paper.sqlite",
        "postgresql://bot@db/journal",
        "static hedge: 40.0% of every holding",
    ):
        assert mask(text) == text


def test_api_keys_loaded_or_in_the_environment_are_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(KEY_ENV, "env-key-123456789")
    monkeypatch.setenv(SECRET_ENV, "env-secret-abcdefghij")
    load_credentials(None)
    assert mask("key env-key-123456789 secret env-secret-abcdefghij") == "key *** secret ***"


def test_journal_errors_name_the_url_with_its_password_masked() -> None:
    with pytest.raises(Exception) as raised:
        Journal.open("postgresql://hedge:p@127.0.0.1:1/journal?connect_timeout=2")
    message = str(raised.value)
    assert message.startswith("cannot open journal postgresql://hedge:***@127.0.0.1:1/journal")
    assert "o***en" not in message and ":p@" not in message


def test_log_lines_are_masked_plain_and_json() -> None:
    remember("s3cret-value-long-enough")
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "bad %s at %s", ("s3cret-value-long-enough", "u"), None
    )
    record.rebalance_id = "-"
    assert "s3cret" not in MaskingFormatter("%(message)s").format(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "bad *** at u"


def test_a_secret_pasted_into_the_config_is_refused_without_echo() -> None:
    pasted = "sk_live_pasted_9f8e7d6c5b4a"
    for section in ({"exchange": {"name": "paper", "api_secret": pasted}}, {"api_key": pasted}):
        with pytest.raises(ConfigError) as raised:
            parse_config(paper_config_dict(**section))
        message = str(raised.value)
        assert pasted not in message and "secrets do not belong in a config file" in message
    assert mask(f"echo {pasted}") == "echo ***"  # remembered: masked wherever it shows up


def test_unknown_fields_never_echo_their_value() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(paper_config_dict(exchange={"name": "paper", "acount": "typo-value-x"}))
    assert "exchange.acount: unknown field" in str(raised.value)
    assert "typo-value-x" not in str(raised.value)


@pytest.mark.parametrize(
    ("name", "testnet", "message"),
    [
        ("bybit", True, 'true does not say which: write "demo"'),
        ("binanceusdm", True, 'true does not say which: write "demo"'),
        ("binanceusdm", "testnet", "Binance USDⓈ-M has no sandbox in ccxt"),
        ("paper", "demo", "paper mode trades on no exchange"),
        ("bybit", "sandbox", "Input should be 'demo' or 'testnet'"),
    ],
)
def test_testnet_choices_are_checked(name: str, testnet: object, message: str) -> None:
    with pytest.raises(ConfigError, match=r"exchange\.testnet") as raised:
        parse_config(paper_config_dict(exchange={"name": name, "testnet": testnet}))
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("name", "testnet", "host", "environment"),
    [
        ("bybit", "demo", "api-demo.", "demo trading"),
        ("bybit", "testnet", "api-testnet.", "testnet"),
        ("bybit", None, "https://api.", "PRODUCTION"),
        ("bybit", False, "https://api.", "PRODUCTION"),
        ("binanceusdm", "demo", "demo-fapi.binance.com", "demo trading"),
        ("binanceusdm", None, "https://fapi.binance.com", "PRODUCTION"),
    ],
)
def test_testnet_picks_ccxt_demo_trading_or_sandbox(
    name: str, testnet: object, host: str, environment: str
) -> None:
    config = parse_config(paper_config_dict(exchange={"name": name, "testnet": testnet}))
    assert config.exchange.environment == environment
    venue = build_ccxt_venue(config, ApiCredentials(SecretStr("k"), SecretStr("s")))
    try:
        urls = venue.futures.urls["api"]
        assert any(host in str(url) for url in urls.values()), urls
        sandbox = testnet == "testnet"
        assert bool(venue.futures.isSandboxModeEnabled) == sandbox
        assert bool(venue.futures.options.get("enableDemoTrading")) == (testnet == "demo")
    finally:
        asyncio.run(venue.close())

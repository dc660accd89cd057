"""Build a `CcxtVenue` from the configuration and the API keys."""

from __future__ import annotations

from typing import Any

import ccxt.async_support as ccxt_async

from bot.config import Config
from bot.secrets import ApiCredentials
from bot.venue.capabilities import CAPABILITIES, Capabilities
from bot.venue.ccxt_venue import CcxtVenue
from bot.venue.gate import RequestGate
from bot.venue.urls import point_at

TIMEFRAMES = {3600: "1h", 4 * 3600: "4h", 86400: "1d"}


def _client(exchange_id: str, options: dict[str, Any], credentials: ApiCredentials) -> Any:
    cls = getattr(ccxt_async, exchange_id)
    return cls(
        {
            "apiKey": credentials.key.get_secret_value(),
            "secret": credentials.secret.get_secret_value(),
            "enableRateLimit": True,
            "options": dict(options),
        }
    )


def _testnet(client: Any, caps: Capabilities) -> None:
    if caps.demo_trading:
        client.enable_demo_trading(True)
    else:
        client.set_sandbox_mode(True)


def build_ccxt_venue(config: Config, credentials: ApiCredentials) -> CcxtVenue:
    """Return the configured exchange account as a venue (testnet or emulator when asked)."""
    exchange = config.exchange
    caps = CAPABILITIES[exchange.name]
    futures = _client(caps.futures_id, caps.futures_options, credentials)
    spot = _client(caps.spot_id, caps.spot_options, credentials) if caps.spot_id else None
    for client in (c for c in (futures, spot) if c is not None):
        if exchange.testnet:
            _testnet(client, caps)
        if exchange.api_url:
            point_at(client, exchange.api_url)
    timeframe = TIMEFRAMES.get(config.interval_seconds, "4h")
    return CcxtVenue(
        futures,
        spot,
        caps,
        name=f"{exchange.name}:{exchange.account}",
        timeframe=timeframe,
        order_type=exchange.order_type,
        max_slippage_bps=exchange.max_slippage_bps,
        gate=RequestGate(
            rate_per_second=exchange.requests_per_second, default_cooldown=caps.ban_cooldown
        ),
        quote=config.hedge.quote,
    )

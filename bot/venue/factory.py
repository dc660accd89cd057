"""Build a `CcxtVenue` from the configuration and the API keys."""

from __future__ import annotations

import ssl
from functools import lru_cache
from typing import Any

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro
import certifi
from ccxt.base import errors as ccxt_errors

from bot.core.errors import ConfigError
from bot.settings.config import Config
from bot.settings.secrets import ApiCredentials
from bot.venue.capabilities import CAPABILITIES
from bot.venue.ccxt_venue import CcxtVenue
from bot.venue.gate import RequestGate
from bot.venue.streams import Streams
from bot.venue.urls import point_at

TIMEFRAMES = {3600: "1h", 4 * 3600: "4h", 86400: "1d"}
CCXT_DEMO_FLOOR = "4.5.6"
"""First ccxt release whose Binance clients have ``enable_demo_trading`` (Bybit's is older)."""
STREAM_PATHS: dict[str, tuple[tuple[tuple[str, ...], str], ...]] = {
    "binanceusdm": ((("linear",), "/ws"),),
    "bybit": (
        (("public", "linear"), "/v5/public/linear"),
        (("private", "contract"), "/v5/private"),
    ),
}
"""Where an emulator (``exchange.api_url``) serves each websocket ccxt.pro dials, by its
``urls['api']['ws']`` key: ccxt derives ``/market/ws/<n>``, ``/private/ws?listenKey=K`` and Bybit's
topics from these bases."""
STREAM_OPTIONS = {"watchPositions": {"fetchPositionsSnapshot": False}}
"""No REST position snapshot behind the watches: the cycle reads positions itself, and the
stream's events are compared with what the last cycle saw."""


@lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """Return the process's TLS context, with the CA bundle ccxt ships (certifi's).

    ccxt builds one per client when none is given, reading the bundle again (~30 ms of CPU) each
    time a client is made; every client of the process shares this one instead.
    """
    return ssl.create_default_context(cafile=certifi.where())


def _client(
    exchange_id: str,
    options: dict[str, Any],
    credentials: ApiCredentials,
    paced: bool,
    package: Any = ccxt_async,
) -> Any:
    cls = getattr(package, exchange_id)
    client = cls(
        {
            "apiKey": credentials.key.get_secret_value(),
            "secret": credentials.secret.get_secret_value(),
            "enableRateLimit": paced,  # off only against the local emulator (config.py)
            "options": dict(options),
        }
    )
    client.ssl_context = tls_context()
    return client


def _environment(client: Any, testnet: str | None) -> None:
    """Point ``client`` at ccxt's demo trading (``"demo"``) or its sandbox (``"testnet"``).

    ccxt refuses demo trading on a client in sandbox mode (and the config allows only one).
    """
    try:
        if testnet == "demo":
            client.enable_demo_trading(True)
        elif testnet == "testnet":
            client.set_sandbox_mode(True)
    except (ccxt_errors.NotSupported, KeyError, AttributeError) as exc:
        raise ConfigError(
            f"exchange.testnet: ccxt {ccxt_async.__version__} cannot put {client.id} in "
            f"{'demo trading' if testnet == 'demo' else 'sandbox mode'} ({exc}); "
            f"check the value against the README (ccxt >= {CCXT_DEMO_FLOOR} needed)"
        ) from None


def build_ccxt_venue(config: Config, credentials: ApiCredentials) -> CcxtVenue:
    """Return the configured exchange account as a venue (testnet or emulator when asked)."""
    exchange = config.exchange
    caps = CAPABILITIES[exchange.name]
    paced = exchange.paced_by_ccxt
    futures = _client(caps.futures_id, caps.futures_options, credentials, paced)
    spot = _client(caps.spot_id, caps.spot_options, credentials, paced) if caps.spot_id else None
    for client in (c for c in (futures, spot) if c is not None):
        _environment(client, exchange.testnet)
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


def build_streams(config: Config, credentials: ApiCredentials) -> Streams | None:
    """Return the account's websocket streams; None for paper mode or ``exchange.streams`` off.

    A ccxt.pro client of the same exchange, keys, environment and API URL as the REST clients,
    sharing their TLS context; against an emulator its websockets go to the emulator too.
    """
    exchange = config.exchange
    if exchange.name == "paper" or not exchange.streams:
        return None
    caps = CAPABILITIES[exchange.name]
    options = {**caps.futures_options, **STREAM_OPTIONS}
    client = _client(caps.futures_id, options, credentials, exchange.paced_by_ccxt, ccxt_pro)
    _environment(client, exchange.testnet)
    if exchange.api_url:
        point_at(client, exchange.api_url)
        ws_base = exchange.api_url.replace("http://", "ws://", 1)
        for keys, path in STREAM_PATHS[exchange.name]:
            entry = client.urls["api"]["ws"]
            for key in keys[:-1]:
                entry = entry[key]
            entry[keys[-1]] = ws_base + path
    return Streams(client, listen_key=exchange.name == "binanceusdm")

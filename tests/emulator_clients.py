"""Point the real ccxt Binance clients at an emulator. TEST-ONLY helpers.

`point_at` rewrites the host of every ``urls['api']`` entry and keeps each path.
`make_binance_clients` builds a USDⓈ-M client and a spot client for an emulator with the options
that avoid calls the emulator does not serve. The clients are small subclasses whose only change is
`get_exceptions_by_url`: ccxt picks Binance's per-market error table from the URL's *host*
(``fapi.binance.com`` -> linear), so on ``127.0.0.1`` codes such as -2019 or -4164 would come back
as a bare ``ExchangeError``. The subclasses pick the table from the URL's *path* instead. Production
code must build plain ``ccxt.async_support`` clients and must not rely on this mapping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro

from bot.venue.capabilities import BYBIT
from bot.venue.factory import tls_context
from bot.venue.urls import point_at

PATH_MARKET_TYPES = (
    ("/fapi/", "linear"),
    ("/futures/", "linear"),
    ("/dapi/", "inverse"),
    ("/eapi/", "option"),
    ("/papi/", "portfolioMargin"),
    ("/api/", "spot"),
    ("/sapi/", "spot"),
)


def _local_exceptions(exchange: Any, url: str | None, exact_or_broad: str) -> dict[str, Any] | None:
    """Return Binance's error table for a local URL, chosen by path; None when not local."""
    if url is None or urlsplit(url).hostname not in ("127.0.0.1", "localhost"):
        return None
    path = urlsplit(url).path
    for prefix, market_type in PATH_MARKET_TYPES:
        if path.startswith(prefix):
            table: dict[str, Any] = exchange.exceptions.get(market_type, {}).get(exact_or_broad, {})
            return table
    return {}


class _ErrorTableByPath:
    """Pick Binance's error table by the URL's path on 127.0.0.1, else ccxt's choice by host."""

    def get_exceptions_by_url(self, url: str | None, exactOrBroad: str) -> dict[str, Any]:
        """Return the error table by path on 127.0.0.1, else ccxt's choice by host."""
        local = _local_exceptions(self, url, exactOrBroad)
        if local is not None:
            return local
        table: dict[str, Any] = super().get_exceptions_by_url(url, exactOrBroad)  # type: ignore[misc]
        return table


class EmulatedBinanceUsdm(_ErrorTableByPath, ccxt_async.binanceusdm):  # type: ignore[misc]
    """ccxt's binanceusdm with Binance's error-code mapping on a local emulator. TEST-ONLY."""


class EmulatedBinance(_ErrorTableByPath, ccxt_async.binance):  # type: ignore[misc]
    """ccxt's binance (spot) with Binance's error-code mapping on a local emulator. TEST-ONLY."""


def binance_futures_options() -> dict[str, Any]:
    """Return USDⓈ-M options that avoid calls the emulator does not serve (a fresh dict)."""
    return {
        "fetchCurrencies": False,
        "fetchMarkets": {"types": ["linear"]},
        "fetchPositionsRisk": {"useV2": True},
    }


def client_config(
    key: str, secret: str, enable_rate_limit: bool, timeout_ms: int | None, options: dict[str, Any]
) -> dict[str, Any]:
    """Return a ccxt client's constructor config: keys, rate limiting, timeout, ``options``."""
    config: dict[str, Any] = {
        "apiKey": key,
        "secret": secret,
        "enableRateLimit": enable_rate_limit,
        "options": options,
    }
    if timeout_ms is not None:
        config["timeout"] = timeout_ms
    return config


def make_binance_clients(
    base_url: str,
    api_key: str,
    api_secret: str,
    *,
    enable_rate_limit: bool = True,
    timeout_ms: int | None = None,
) -> tuple[Any, Any]:
    """Return ``(binanceusdm, binance spot)`` clients pointed at the emulator at ``base_url``.

    Options: ``fetchCurrencies`` off (else load_markets calls a sapi capital endpoint),
    ``fetchMarkets.types`` limited to ``linear`` / ``spot``, and
    ``fetchPositionsRisk.useV2`` so positions carry leverage and margin type.
    """
    futures = EmulatedBinanceUsdm(
        client_config(api_key, api_secret, enable_rate_limit, timeout_ms, binance_futures_options())
    )
    spot_options = {
        "fetchCurrencies": False,
        "fetchMarkets": {"types": ["spot"]},
        "fetchMargins": False,
        "defaultType": "spot",
    }
    spot = EmulatedBinance(
        client_config(api_key, api_secret, enable_rate_limit, timeout_ms, spot_options)
    )
    point_at(futures, base_url)
    point_at(spot, base_url)
    futures.ssl_context = spot.ssl_context = tls_context()
    return futures, spot


def make_bybit_client(
    base_url: str,
    key: str,
    secret: str,
    *,
    enable_rate_limit: bool = True,
    timeout_ms: int | None = None,
) -> Any:
    """Return a plain ``ccxt.async_support.bybit`` pointed at the Bybit emulator. TEST-ONLY.

    The options are production's (`bot.venue.capabilities.BYBIT`: unified account preset, so no
    account probes; linear and spot markets). ccxt's Bybit error table does not depend on the host,
    so no subclass is needed. With keys, ``load_markets`` also asks /v5/asset/coin/query-info
    (``has['fetchCurrencies']``), which the emulator serves.
    """
    config = client_config(key, secret, enable_rate_limit, timeout_ms, dict(BYBIT.futures_options))
    client = ccxt_async.bybit(config)
    point_at(client, base_url)
    client.ssl_context = tls_context()
    return client


# -- ccxt.pro clients (websocket streams) --------------------------------------------------------


class EmulatedProBinanceUsdm(_ErrorTableByPath, ccxt_pro.binanceusdm):  # type: ignore[misc]
    """ccxt.pro's binanceusdm with Binance's error-code mapping on a local emulator. TEST-ONLY."""


def ws_base(base_url: str) -> str:
    """Return the websocket base (``ws://127.0.0.1:PORT``) of an emulator's REST URL."""
    return base_url.replace("http://", "ws://", 1)


def make_pro_binance_client(
    base_url: str,
    api_key: str,
    api_secret: str,
    *,
    enable_rate_limit: bool = False,
    timeout_ms: int | None = 3000,
) -> Any:
    """Return a ccxt.pro binanceusdm pointed at the emulator's REST and websocket URLs.

    REST as `make_binance_clients`' futures client; streams at ``urls['api']['ws']['linear']`` =
    ``ws://127.0.0.1:PORT/ws``, which ccxt turns into ``/market/ws/<n>`` and
    ``/private/ws?listenKey=K``.
    """
    options = binance_futures_options()
    client = EmulatedProBinanceUsdm(
        client_config(api_key, api_secret, enable_rate_limit, timeout_ms, options)
    )
    point_at(client, base_url)
    client.urls["api"]["ws"]["linear"] = ws_base(base_url) + "/ws"
    client.ssl_context = tls_context()
    client.timeout_on_exit = 0
    return client


def make_pro_bybit_client(
    base_url: str,
    api_key: str,
    api_secret: str,
    *,
    enable_rate_limit: bool = False,
    timeout_ms: int | None = 3000,
) -> Any:
    """Return a ccxt.pro bybit pointed at the emulator's REST and websocket URLs.

    Production's options (`bot.venue.capabilities.BYBIT`: ``enableUnifiedAccount/Margin`` preset,
    so picking the private URL probes nothing); streams at ``ws.public.linear`` =
    ``ws://127.0.0.1:PORT/v5/public/linear`` and ``ws.private.contract`` = ``…/v5/private``.
    """
    options = dict(BYBIT.futures_options)
    client = ccxt_pro.bybit(
        client_config(api_key, api_secret, enable_rate_limit, timeout_ms, options)
    )
    point_at(client, base_url)
    ws = client.urls["api"]["ws"]
    ws["public"]["linear"] = ws_base(base_url) + "/v5/public/linear"
    ws["private"]["contract"] = ws_base(base_url) + "/v5/private"
    client.ssl_context = tls_context()
    client.timeout_on_exit = 0
    return client


async def started(watch: Awaitable[Any]) -> asyncio.Task[Any]:
    """Start a ccxt.pro watch in a task and let it register its future before the test acts.

    A warm client registers synchronously up to its first wait; a cold one (first call) must
    also be seen subscribed by the emulator (`StreamHub.wait_subscribed`).
    """
    task = asyncio.ensure_future(watch)
    for _ in range(3):
        await asyncio.sleep(0)
    return task


async def until(
    first: Awaitable[list[Any]],
    again: Callable[[], Awaitable[list[Any]]],
    wanted: Callable[[Any], bool],
    within: float = 5.0,
) -> Any:
    """Return the first item a watch returns that is ``wanted``: ``first``, then ``again()``.

    ccxt.pro resolves a watch on the first message; later messages of the same burst update its
    cache, so the item is in the first answer or arrives with a later one.
    """
    async with asyncio.timeout(within):
        items = await first
        while True:
            found = [item for item in items if wanted(item)]
            if found:
                return found[-1]
            items = await again()

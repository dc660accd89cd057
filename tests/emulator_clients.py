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

from typing import Any
from urllib.parse import urlsplit

import ccxt.async_support as ccxt_async

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


class EmulatedBinanceUsdm(ccxt_async.binanceusdm):  # type: ignore[misc]
    """ccxt's binanceusdm with Binance's error-code mapping on a local emulator. TEST-ONLY."""

    def get_exceptions_by_url(self, url: str | None, exactOrBroad: str) -> dict[str, Any]:
        """Return the error table by path on 127.0.0.1, else ccxt's choice by host."""
        local = _local_exceptions(self, url, exactOrBroad)
        return local if local is not None else super().get_exceptions_by_url(url, exactOrBroad)


class EmulatedBinance(ccxt_async.binance):  # type: ignore[misc]
    """ccxt's binance (spot) with Binance's error-code mapping on a local emulator. TEST-ONLY."""

    def get_exceptions_by_url(self, url: str | None, exactOrBroad: str) -> dict[str, Any]:
        """Return the error table by path on 127.0.0.1, else ccxt's choice by host."""
        local = _local_exceptions(self, url, exactOrBroad)
        return local if local is not None else super().get_exceptions_by_url(url, exactOrBroad)


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
    common: dict[str, Any] = {
        "apiKey": api_key,
        "secret": api_secret,
        "enableRateLimit": enable_rate_limit,
    }
    if timeout_ms is not None:
        common["timeout"] = timeout_ms
    futures = EmulatedBinanceUsdm(
        {
            **common,
            "options": {
                "fetchCurrencies": False,
                "fetchMarkets": {"types": ["linear"]},
                "fetchPositionsRisk": {"useV2": True},
            },
        }
    )
    spot = EmulatedBinance(
        {
            **common,
            "options": {
                "fetchCurrencies": False,
                "fetchMarkets": {"types": ["spot"]},
                "fetchMargins": False,
                "defaultType": "spot",
            },
        }
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
    config: dict[str, Any] = {
        "apiKey": key,
        "secret": secret,
        "enableRateLimit": enable_rate_limit,
        "options": dict(BYBIT.futures_options),
    }
    if timeout_ms is not None:
        config["timeout"] = timeout_ms
    client = ccxt_async.bybit(config)
    point_at(client, base_url)
    client.ssl_context = tls_context()
    return client

"""Quotes read through real ccxt carry the 24h quote volume the exchange's tickers serve."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.live.conftest import LiveRig, close_rig, open_rig

PERPS = {"BTC/USDT:USDT": "BTCUSDT", "ETH/USDT:USDT": "ETHUSDT", "ADA/USDT:USDT": "ADAUSDT"}
SPOTS = {"BTC/USDT": "BTCUSDT", "ADA/USDT": "ADAUSDT"}


@pytest.fixture(params=["binanceusdm", "bybit"])
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LiveRig]:
    opened = await open_rig(tmp_path, f"sqlite:///{tmp_path / 'journal.sqlite'}", request.param)
    yield opened
    await close_rig(opened)


async def served_volumes(rig: LiveRig) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """Return the 24h quote volume per exchange id as the emulator serves it: perps, spot."""
    venue = rig.venue
    if venue.spot is venue.futures:  # Bybit v5: /v5/market/tickers, ``turnover24h``
        linear = await venue.futures.public_get_v5_market_tickers({"category": "linear"})
        spot = await venue.futures.public_get_v5_market_tickers({"category": "spot"})
        return by_id(linear["result"]["list"], "turnover24h"), by_id(
            spot["result"]["list"], "turnover24h"
        )
    perps = await venue.futures.fapipublic_get_ticker_24hr()  # /fapi/v1/ticker/24hr
    spots = await venue.spot.public_get_ticker_24hr()  # /api/v3/ticker/24hr
    return by_id(perps, "quoteVolume"), by_id(spots, "quoteVolume")


def by_id(rows: list[dict[str, Any]], field: str) -> dict[str, Decimal]:
    return {row["symbol"]: Decimal(row[field]) for row in rows}


async def test_parsed_quotes_carry_the_served_24h_quote_volume(rig: LiveRig) -> None:
    quotes = await rig.venue.fetch_quotes([*PERPS, *SPOTS])
    perps, spots = await served_volumes(rig)

    for symbol, symbol_id in PERPS.items():
        assert perps[symbol_id] > 0
        assert quotes[symbol].quote_volume == perps[symbol_id], symbol
    for symbol, symbol_id in SPOTS.items():
        assert spots[symbol_id] > 0
        assert quotes[symbol].quote_volume == spots[symbol_id], symbol

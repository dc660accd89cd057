"""Fixtures: a simulated market, a replay clock, the emulated venue and ccxt clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from bot.core.clock import ReplayClock, to_ms
from bot.emulator.bybit.server import BybitEmulator
from bot.emulator.faults import FaultInjector
from bot.emulator.server import BinanceEmulator
from bot.market.series import MarketData
from bot.market.simulated import simulate_market
from bot.sim.paper import PaperVenue
from tests.emulator_clients import (
    make_binance_clients,
    make_pro_binance_client,
    make_pro_bybit_client,
)

KEY = "emulator-test-key"
SECRET = "emulator-test-secret"
ASSETS = ("BTC", "ETH", "ADA")
HOLDINGS = {"BTC": Decimal(1), "ETH": Decimal(10), "ADA": Decimal(20000)}
COLLATERAL = Decimal(50000)
DATA_START = datetime(2024, 1, 1, tzinfo=UTC)
NOW = datetime(2024, 1, 5, 1, tzinfo=UTC)  # one hour after a bar close and a funding time
BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"


class FakeMonotonic:
    """Seconds that tests move by hand, for ban and back-off windows."""

    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


@pytest.fixture(scope="session")
def market_data() -> MarketData:
    return simulate_market(list(ASSETS), to_ms(DATA_START), bars=120)


@pytest.fixture
def clock() -> ReplayClock:
    return ReplayClock(NOW)


@pytest.fixture
def venue(market_data: MarketData, clock: ReplayClock) -> PaperVenue:
    return PaperVenue(market_data, clock, HOLDINGS, COLLATERAL, Decimal("0.0005"), Decimal(2))


@pytest.fixture
def monotonic() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
async def emulator(venue: PaperVenue, monotonic: FakeMonotonic) -> AsyncIterator[BinanceEmulator]:
    server = BinanceEmulator(venue, KEY, SECRET, faults=FaultInjector(now=monotonic))
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def bybit_emulator(
    venue: PaperVenue, monotonic: FakeMonotonic
) -> AsyncIterator[BybitEmulator]:
    server = BybitEmulator(venue, KEY, SECRET, faults=FaultInjector(now=monotonic))
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def pro_binance(emulator: BinanceEmulator) -> AsyncIterator[Any]:
    """A ccxt.pro binanceusdm client of the Binance emulator."""
    client = make_pro_binance_client(emulator.base_url, KEY, SECRET)
    yield client
    await client.close()


@pytest.fixture
async def pro_bybit(bybit_emulator: BybitEmulator) -> AsyncIterator[Any]:
    """A ccxt.pro bybit client of the Bybit emulator."""
    client = make_pro_bybit_client(bybit_emulator.base_url, KEY, SECRET)
    yield client
    await client.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session, for raw frames ccxt hides."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def clients(emulator: BinanceEmulator) -> AsyncIterator[tuple[Any, Any]]:
    futures, spot = make_binance_clients(
        emulator.base_url, KEY, SECRET, enable_rate_limit=False, timeout_ms=3000
    )
    for client in (futures, spot):
        client.timeout_on_exit = 0  # plain HTTP on localhost: no TLS shutdown to wait for
    yield futures, spot
    await asyncio.gather(futures.close(), spot.close())


@pytest.fixture
def futures(clients: tuple[Any, Any]) -> Any:
    return clients[0]


@pytest.fixture
def spot(clients: tuple[Any, Any]) -> Any:
    return clients[1]


def decimal(value: Any) -> Decimal:
    """Return a ccxt number as a Decimal, digit for digit."""
    return Decimal(str(value))


async def isolated_2x(client: Any, symbol: str = BTC) -> None:
    """Load the markets and set ``symbol``'s leg up: isolated margin, 2x."""
    await client.load_markets()
    await client.set_margin_mode("isolated", symbol)
    await client.set_leverage(2, symbol)


async def open_short(futures: Any, symbol: str = BTC, amount: float = 0.5, **params: Any) -> Any:
    """Set the leg up (isolated, 2x) and sell ``amount`` at market."""
    await isolated_2x(futures, symbol)
    return await futures.create_order(symbol, "market", "sell", amount, None, params)

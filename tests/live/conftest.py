"""The live path end to end: Engine → CcxtVenue → real ccxt clients → the Binance emulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.core.clock import ReplayClock, to_ms
from bot.emulator.bybit.server import BybitEmulator
from bot.emulator.faults import FaultInjector
from bot.emulator.server import BinanceEmulator
from bot.journal.records import RunMode
from bot.journal.store import Journal
from bot.market.simulated import simulate_market
from bot.runtime.engine import Engine
from bot.settings.config import Config, parse_config
from bot.sim.paper import PaperVenue
from bot.venue.capabilities import BINANCE, BYBIT
from bot.venue.ccxt_venue import CcxtVenue
from bot.venue.gate import RequestGate
from strategies.registry import create_strategy
from tests.conftest import paper_config_dict
from tests.emulator_clients import make_binance_clients, make_bybit_client

KEY = "live-test-key"
SECRET = "live-test-secret"
HOLDINGS = {"BTC": Decimal(1), "ETH": Decimal(10), "ADA": Decimal(20000)}
COLLATERAL = Decimal(60000)
DATA_START = datetime(2024, 1, 1, tzinfo=UTC)
NOW = datetime(2024, 1, 5, 0, tzinfo=UTC)


@dataclass
class FaultRow:
    """One line of the fault matrix's table."""

    case: str
    orders: int
    duplicates: int
    fills_journaled: int
    fills_on_venue: int
    funding_journaled: int
    funding_on_venue: int
    recovered: bool


FAULT_ROWS: list[FaultRow] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the fault matrix: case, orders, duplicates, journal vs ledger, recovered."""
    if not FAULT_ROWS:
        return
    write = terminalreporter.write_line
    write("")
    write("fault matrix (j = journal, v = emulator ledger)")
    write(
        f"{'case':<50} {'orders':>6} {'dupes':>5} {'fills j/v':>10} {'funding j/v':>12} "
        f"{'recovered':>9}"
    )
    for row in FAULT_ROWS:
        fills = f"{row.fills_journaled}/{row.fills_on_venue}"
        funding = f"{row.funding_journaled}/{row.funding_on_venue}"
        write(
            f"{row.case:<50} {row.orders:>6} {row.duplicates:>5} {fills:>10} {funding:>12} "
            f"{'yes' if row.recovered else 'NO':>9}"
        )


class FakeMonotonic:
    """Seconds that move only when the test (or a back-off sleep) moves them."""

    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


@dataclass
class LiveRig:
    config: Config
    clock: ReplayClock
    paper: PaperVenue
    emulator: BinanceEmulator
    venue: CcxtVenue
    journal: Journal
    engine: Engine
    monotonic: FakeMonotonic

    @property
    def sim(self):  # type: ignore[no-untyped-def]
        return self.paper.exchange


def live_config(
    tmp_path: Path,
    ratio: str = "0.4",
    journal_url: str | None = None,
    exchange: str = "binanceusdm",
) -> Config:
    return parse_config(
        paper_config_dict(
            exchange={"name": exchange, "account": "emu"},
            paper={"holdings": {"BTC": 1}},
            strategy={"name": "static", "ratio": ratio},
            risk={
                "leverage": 2,
                "max_leverage": 2,
                "kill_switch_file": str(tmp_path / "halt"),
                "max_price_age": "5h",
            },
            journal={"url": journal_url or f"sqlite:///{tmp_path / 'journal.sqlite'}"},
        )
    )


@pytest.fixture
def live_journal_url(tmp_path: Path) -> str:
    """The rig's journal: SQLite; a module overrides this with `journal_url` to run on all."""
    return f"sqlite:///{tmp_path / 'journal.sqlite'}"


async def open_rig(tmp_path: Path, journal_url: str, exchange: str = "binanceusdm") -> LiveRig:
    """Start an emulator of ``exchange`` over a fresh simulation and wire the engine to it."""
    data = simulate_market(list(HOLDINGS), to_ms(DATA_START), bars=240)
    clock = ReplayClock(NOW)
    paper = PaperVenue(data, clock, HOLDINGS, COLLATERAL, Decimal("0.0005"), Decimal(2))
    monotonic = FakeMonotonic()
    faults = FaultInjector(now=monotonic)
    emulator: BinanceEmulator
    if exchange == "bybit":
        emulator = BybitEmulator(paper, KEY, SECRET, faults=faults)
        await emulator.start()
        futures = make_bybit_client(
            emulator.base_url, KEY, SECRET, enable_rate_limit=False, timeout_ms=2000
        )
        spot, capabilities = None, BYBIT
    else:
        emulator = BinanceEmulator(paper, KEY, SECRET, faults=faults)
        await emulator.start()
        futures, spot = make_binance_clients(
            emulator.base_url, KEY, SECRET, enable_rate_limit=False, timeout_ms=2000
        )
        capabilities = BINANCE
    for client in (futures, spot):
        if client is not None:
            client.timeout_on_exit = 0

    async def fake_sleep(seconds: float) -> None:
        monotonic.seconds += seconds
        await asyncio.sleep(0)

    gate = RequestGate(rate_per_second=1000, clock=monotonic, sleep=fake_sleep)
    venue = CcxtVenue(futures, spot, capabilities, name=f"{exchange}:emu", gate=gate)
    config = live_config(tmp_path, journal_url=journal_url, exchange=exchange)
    journal = Journal.open(config.journal.url)
    strategy = create_strategy(config.strategy.name, config.strategy.params())
    engine = Engine(config, venue, journal, strategy, clock, RunMode.LIVE)
    return LiveRig(config, clock, paper, emulator, venue, journal, engine, monotonic)


async def close_rig(rig: LiveRig) -> None:
    """Close the journal, the ccxt clients and the emulator."""
    rig.journal.close()
    await rig.venue.close()
    await rig.emulator.stop()


@pytest.fixture
async def rig(tmp_path: Path, live_journal_url: str) -> AsyncIterator[LiveRig]:
    opened = await open_rig(tmp_path, live_journal_url)
    yield opened
    await close_rig(opened)

"""A wall-clock rig for the streams: `Engine.run` with its `Reactor` on real ccxt(.pro) clients.

The emulator's market is anchored at the wall clock (a `ScaledClock` at speed 1), the clients
are production's (`build_ccxt_venue`, `build_streams` with ``exchange.api_url``), the interval is
an hour: whatever happens between the first cycle and the end of a test is the streams' doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bot.core.clock import WallClock, to_ms
from bot.emulator.bybit.server import BybitEmulator
from bot.emulator.server import BinanceEmulator
from bot.emulator.standalone import ScaledClock
from bot.emulator.streams.binance import USER_DATA
from bot.journal.records import RunMode
from bot.journal.store import Journal
from bot.market.simulated import simulate_market
from bot.runtime.engine import CycleReport, Engine
from bot.runtime.reaction import Reactor, streaming
from bot.settings.config import Config, parse_config
from bot.settings.secrets import ApiCredentials
from bot.sim.paper import PaperVenue
from bot.venue.factory import build_ccxt_venue, build_streams
from bot.venue.streams import Streams
from strategies.registry import create_strategy

KEY, SECRET = "streams-key", "streams-secret"
HOLDINGS = {"BTC": Decimal(1), "ETH": Decimal(10)}
BTC = "BTC/USDT:USDT"
RATIO = Decimal("0.4")
DEADBAND = Decimal("0.05")
WAIT = 10.0


@dataclass
class StreamRig:
    """The emulator, the engine running its loop, and what the loop did."""

    emulator: BinanceEmulator
    config: Config
    engine: Engine
    journal: Journal
    streams: Streams | None
    reactor: Reactor | None
    reports: list[CycleReport] = field(default_factory=list)
    loop: asyncio.Future[int] | None = None
    halt: asyncio.Event = field(default_factory=asyncio.Event)

    async def stop(self) -> None:
        """Stop the loop (its final journal sync included) and wait for it."""
        self.halt.set()
        if self.loop is not None:
            await asyncio.wait_for(self.loop, WAIT)

    def contracts(self, symbol: str = BTC) -> Decimal:
        """Return the emulator's signed position in ``symbol`` (short < 0)."""
        position = self.emulator.account.sim.positions.get(symbol)
        return Decimal(0) if position is None else position.contracts

    def hedged(self, symbol: str = BTC) -> bool:
        """Return whether ``symbol``'s short is within the deadband of its target."""
        mark = self.emulator.account.mark_price(symbol)
        spot = HOLDINGS[symbol.split("/")[0]] * mark
        target = RATIO * spot
        return abs(-self.contracts(symbol) * mark - target) <= DEADBAND * target

    def journal_matches_exchange(self) -> None:
        """Assert every trade on the exchange is journaled exactly once, and nothing else."""
        fills = [(f.symbol, f.trade_id) for f in self.journal.fills(venue=self.engine.venue.name)]
        assert len(fills) == len(set(fills)), "a fill journaled twice"
        trades = {self.emulator.trade_key(t) for t in self.emulator.account.sim.trades}
        assert set(fills) == trades

    async def until(self, done: Callable[[], bool], within: float = WAIT) -> float:
        """Wait until ``done()``; return the wall seconds it took."""
        start = time.monotonic()
        async with asyncio.timeout(within):
            while not done():  # noqa: ASYNC110 - the emulator's state has no event to wait on
                await asyncio.sleep(0.02)
        return time.monotonic() - start

    async def quiet(self) -> None:
        """Wait until the streams are up with the user data subscribed, and no cycle is due."""
        hub = self.emulator.hub
        topic = "position" if isinstance(self.emulator, BybitEmulator) else USER_DATA
        async with asyncio.timeout(WAIT):
            await hub.wait_subscribed(topic)
        reactor = self.reactor
        if reactor is not None:
            await self.until(lambda: reactor.streams_up)
            await asyncio.sleep(0.3)  # events of the last cycle's own orders, if any
            await self.until(lambda: not reactor.busy)


def make_emulator(exchange: str) -> BinanceEmulator:
    """Return an emulator whose simulated market is anchored at the wall clock."""
    now = datetime.now(UTC)
    start = now - timedelta(days=7, seconds=now.timestamp() % (4 * 3600))
    data = simulate_market(list(HOLDINGS), to_ms(start), bars=120)
    clock = ScaledClock(now, 1.0)
    venue = PaperVenue(data, clock, HOLDINGS, Decimal(60000), Decimal("0.0005"), Decimal(2))
    if exchange == "bybit":
        return BybitEmulator(venue, KEY, SECRET)
    return BinanceEmulator(venue, KEY, SECRET)


def rig_config(tmp_path: Path, exchange: str, url: str, streams: bool) -> Config:
    """Return the rig's config: an hour's interval, 2× leverage, 0.4 of the holdings."""
    return parse_config(
        {
            "interval": "1h",
            "exchange": {
                "name": exchange,
                "account": "streams",
                "api_url": url,
                "requests_per_second": 50,
                "streams": streams,
            },
            "strategy": {"name": "static", "ratio": str(RATIO)},
            "hedge": {"deadband": str(DEADBAND)},
            "risk": {
                "leverage": 2,
                "max_leverage": 2,
                "max_price_age": "5h",
                "max_basis": "0.5",
                "kill_switch_file": str(tmp_path / "halt"),
            },
            "journal": {"url": f"sqlite:///{tmp_path / 'journal.sqlite'}"},
        }
    )


async def build_rig(
    tmp_path: Path,
    exchange: str = "binanceusdm",
    *,
    streams: bool = True,
    tune: Callable[[Streams], Any] | None = None,
    interval: int | None = None,
) -> StreamRig:
    """Start an emulator and build the bot on it (loop not started; `looping` runs it).

    ``interval``: seconds between heartbeat cycles instead of the rig's hour.
    """
    emulator = make_emulator(exchange)
    url = await emulator.start()
    config = rig_config(tmp_path, exchange, url, streams)
    if interval is not None:
        config = config.model_copy(update={"interval": f"{interval}s"})
    credentials = ApiCredentials(SecretStr(KEY), SecretStr(SECRET))
    venue = build_ccxt_venue(config, credentials)
    built = build_streams(config, credentials)
    if built is not None and tune is not None:
        tune(built)
    journal = Journal.open(config.journal.url)
    strategy = create_strategy(config.strategy.name, config.strategy.params())
    engine = Engine(config, venue, journal, strategy, WallClock(), RunMode.LIVE)
    reactor = Reactor(config.risk) if built is not None else None
    return StreamRig(emulator, config, engine, journal, built, reactor)


@contextlib.asynccontextmanager
async def looping(
    rig: StreamRig, on_cycle: Callable[[CycleReport], None], first_cycle_wait: float = WAIT
) -> AsyncIterator[StreamRig]:
    """Run ``rig``'s loop (and its streams) for the block; yield once the first cycle ended.

    Stops the loop and closes the journal, the venue and the emulator at the end.
    """
    built, reactor = rig.streams, rig.reactor
    try:
        async with contextlib.AsyncExitStack() as stack:
            if built is not None and reactor is not None:
                await stack.enter_async_context(streaming(built, reactor))
            run = rig.engine.run(rig.halt, on_cycle=on_cycle, reactor=reactor)
            loop = rig.loop = asyncio.ensure_future(run)
            try:
                await rig.until(lambda: bool(rig.reports) or loop.done(), first_cycle_wait)
                if loop.done():
                    loop.result()
                if built is not None:
                    await rig.quiet()
                yield rig
            finally:
                await rig.stop()
    finally:
        rig.journal.close()
        await rig.engine.venue.close()
        await rig.emulator.stop()


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path,
    exchange: str = "binanceusdm",
    *,
    streams: bool = True,
    tune: Callable[[Streams], Any] | None = None,
) -> AsyncIterator[StreamRig]:
    """Start an emulator and the bot's loop on it; yield once the first cycle hedged."""
    rig = await build_rig(tmp_path, exchange, streams=streams, tune=tune)
    async with looping(rig, rig.reports.append) as started:
        yield started

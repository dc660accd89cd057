"""Run the Binance emulator on its own, for a bot (or ccxt) in another process.

``await run_standalone(data_dir, assets, port, api_key, api_secret, speed)`` builds a PaperVenue on
the history in ``data_dir`` (``load_history``), or on a seeded SIMULATED market when ``data_dir`` is
None, starts the emulator on 127.0.0.1:``port`` and serves until cancelled. Replay time starts a
week into the data and runs at ``speed`` times the wall clock (``speed=3600``: an hour per second).
The simulated market is anchored so that replay time starts at the wall clock's *now*: at speed 1
a bot on the real clock sees fresh prices (`config/emulator.toml`). History replays its own dates,
so a wall-clock bot would rightly refuse those prices as stale: drive it with a replay clock.
Spot holdings default to about 10 000 USDT of each asset at the start; the futures wallet holds
``collateral`` USDT. The websocket streams are served on the same port; `serve` logs their URLs.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bot.core.clock import from_ms, to_ms
from bot.core.errors import ConfigError
from bot.emulator.account import restart_id_base
from bot.emulator.server import BinanceEmulator
from bot.market.history import find_data_dir, load_history
from bot.market.series import MarketData
from bot.market.simulated import simulate_market
from bot.sim.paper import PaperVenue

log = logging.getLogger(__name__)

SIMULATED_BARS = 365 * 6  # a year of 4-hour bars
BAR = timedelta(hours=4)
WARMUP = timedelta(days=7)
HOLDING_VALUE = Decimal(10_000)


class ScaledClock:
    """Replay time that runs ``speed`` times as fast as the wall clock from ``start``."""

    def __init__(self, start: datetime, speed: float) -> None:
        """Start at ``start`` now; ``speed`` must be > 0."""
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self._start = start
        self._wall_start = time.monotonic()
        self.speed = speed

    def now(self) -> datetime:
        """Return the scaled time."""
        elapsed = (time.monotonic() - self._wall_start) * self.speed
        return self._start + timedelta(seconds=elapsed)

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of scaled time."""
        await asyncio.sleep(seconds / self.speed)


def _market(data_dir: str | None, assets: Sequence[str]) -> MarketData:
    if data_dir is None:  # anchored so that replay time starts at the wall clock's now
        now = datetime.now(UTC)
        start = now - WARMUP - timedelta(seconds=now.timestamp() % BAR.total_seconds())
        return simulate_market(assets, to_ms(start), SIMULATED_BARS)
    directory = find_data_dir(data_dir)
    assert directory is not None  # find_data_dir returns an explicit directory or raises
    return load_history(directory, assets)


async def listen(start: Callable[[int], Awaitable[str]], port: int) -> str:
    """Start an emulator's server on ``port`` (``start`` = its ``start``); return its URL.

    A port in use (or not allowed) raises `ConfigError` naming the port and the fix.
    """
    try:
        return await start(port)
    except OverflowError:
        raise ConfigError(f"--port {port}: not a TCP port; use 1..65535") from None
    except OSError as error:
        why = error.strerror or str(error)
        if error.errno == errno.EADDRINUSE:
            why = "already in use (another emulator, or another program)"
        raise ConfigError(
            f"cannot listen on 127.0.0.1:{port}: {why}; pick another port with --port "
            "(and the same in the config's exchange.api_url)"
        ) from None


def _default_holdings(data: MarketData, start_ms: int) -> dict[str, Decimal]:
    holdings: dict[str, Decimal] = {}
    for asset, series in data.spot.items():
        bar = series.last_closed(start_ms) or (series.bars[0] if series.bars else None)
        if bar is not None and bar.close > 0:
            holdings[asset] = (HOLDING_VALUE / bar.close).quantize(Decimal("0.0001"))
    return holdings


async def run_standalone(
    data_dir: str | None,
    assets: list[str],
    port: int,
    api_key: str,
    api_secret: str,
    speed: float,
    *,
    collateral: Decimal = Decimal(100_000),
    holdings: Mapping[str, Decimal] | None = None,
    taker_fee: Decimal = Decimal("0.0005"),
    slippage_bps: Decimal = Decimal(2),
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve an emulated Binance account on 127.0.0.1:``port`` until cancelled.

    ``on_ready`` is called with the URL once the server listens.
    """
    venue, start = standalone_venue(
        data_dir, assets, speed, collateral, holdings, taker_fee, slippage_bps
    )
    # A restarted emulator never reissues an id a journal holds from an earlier run.
    emulator = BinanceEmulator(venue, api_key, api_secret, id_base=restart_id_base())
    await serve(emulator, "Binance", port, start, speed, on_ready)


def standalone_venue(
    data_dir: str | None,
    assets: list[str],
    speed: float,
    collateral: Decimal,
    holdings: Mapping[str, Decimal] | None,
    taker_fee: Decimal,
    slippage_bps: Decimal,
    contracts: str = "binance",
) -> tuple[PaperVenue, datetime]:
    """Return the paper account an emulator serves, and the replay time it starts at.

    Its perps follow the order rules the venue ``contracts`` published (`bot.sim.contracts`).
    """
    data = _market(data_dir, assets)
    first_ms, last_ms = data.common_range_ms(assets)
    start = min(from_ms(first_ms) + WARMUP, from_ms(last_ms))
    venue = PaperVenue(
        data,
        ScaledClock(start, speed),
        holdings if holdings is not None else _default_holdings(data, to_ms(start)),
        collateral,
        taker_fee,
        slippage_bps,
        contracts=contracts,
    )
    return venue, start


async def serve(
    emulator: BinanceEmulator,
    face: str,
    port: int,
    start: datetime,
    speed: float,
    on_ready: Callable[[str], None] | None,
) -> None:
    """Listen on 127.0.0.1:``port``, announce the URL, and serve until cancelled."""
    url = await listen(emulator.start, port)
    if on_ready is not None:
        on_ready(url)
    label = emulator.venue.data.label
    streams = ", ".join(f"{name} {ws}" for name, ws in emulator.ws_urls.items())
    log.warning(
        "%s emulator at %s (streams: %s) on %s, replay from %s ×%g",
        face,
        url,
        streams,
        label,
        start,
        speed,
    )
    try:
        await asyncio.Event().wait()
    finally:
        await emulator.stop()

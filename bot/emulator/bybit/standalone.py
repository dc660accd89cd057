"""Run the Bybit emulator on its own, for a bot (or ccxt's bybit) in another process.

The Bybit twin of `bot.emulator.standalone.run_standalone`, with the same market, clock and
account: ``await run_bybit_standalone(data_dir, assets, port, api_key, api_secret, speed)`` builds
a PaperVenue on the history in ``data_dir`` (or on a seeded SIMULATED market anchored at the wall
clock's now when ``data_dir`` is None), starts `BybitEmulator` (v5 REST, unified trading account)
on 127.0.0.1:``port`` and serves until cancelled. Replay time starts a week into the data and runs
at ``speed`` times the wall clock. Spot holdings default to about 10 000 USDT of each asset; the
unified wallet holds ``collateral`` USDT.

A bot reaches it with ``exchange.name = "bybit"`` and ``exchange.api_url`` set to the URL it
prints (`config/bybit-emulator.toml`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from decimal import Decimal

from bot.clock import from_ms, to_ms
from bot.emulator.account import restart_id_base
from bot.emulator.bybit.server import BybitEmulator
from bot.emulator.standalone import WARMUP, ScaledClock, _default_holdings, _market, listen
from bot.venue.paper import PaperVenue

log = logging.getLogger(__name__)


async def run_bybit_standalone(
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
    """Serve an emulated Bybit account on 127.0.0.1:``port`` until cancelled.

    ``on_ready`` is called with the URL once the server listens; a port in use raises
    `ConfigError` (`bot.emulator.standalone.listen`).
    """
    data = _market(data_dir, assets)
    first_ms, last_ms = data.common_range_ms(assets)
    start = min(from_ms(first_ms) + WARMUP, from_ms(last_ms))
    clock = ScaledClock(start, speed)
    venue = PaperVenue(
        data,
        clock,
        holdings if holdings is not None else _default_holdings(data, to_ms(start)),
        collateral,
        taker_fee,
        slippage_bps,
    )
    # A restarted emulator never reissues an id a journal holds from an earlier run.
    emulator = BybitEmulator(venue, api_key, api_secret, id_base=restart_id_base())
    url = await listen(emulator.start, port)
    if on_ready is not None:
        on_ready(url)
    log.warning("Bybit emulator at %s on %s, replay from %s ×%g", url, data.label, start, speed)
    try:
        await asyncio.Event().wait()
    finally:
        await emulator.stop()

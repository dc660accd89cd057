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

from collections.abc import Callable, Mapping
from decimal import Decimal

from bot.emulator.account import restart_id_base
from bot.emulator.bybit.server import BybitEmulator
from bot.emulator.standalone import serve, standalone_venue


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
    venue, start = standalone_venue(
        data_dir, assets, speed, collateral, holdings, taker_fee, slippage_bps, "bybit"
    )
    # A restarted emulator never reissues an id a journal holds from an earlier run.
    emulator = BybitEmulator(venue, api_key, api_secret, id_base=restart_id_base())
    await serve(emulator, "Bybit", port, start, speed, on_ready)

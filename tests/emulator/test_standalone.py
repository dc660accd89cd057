"""The standalone emulator: a scaled clock and a server that runs until cancelled."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from datetime import UTC, datetime

from bot.emulator.standalone import ScaledClock, run_standalone
from tests.emulator_clients import make_binance_clients


async def test_scaled_clock_runs_faster_than_the_wall() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    clock = ScaledClock(start, speed=3600)
    await asyncio.sleep(0.05)
    elapsed = (clock.now() - start).total_seconds()
    assert 150 <= elapsed <= 3600  # about 3 simulated minutes for 50 ms


async def test_run_standalone_serves_until_cancelled() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    task = asyncio.create_task(run_standalone(None, ["BTC", "ETH"], port, "k", "s", 60.0))
    futures, spot = make_binance_clients(f"http://127.0.0.1:{port}", "k", "s")
    futures.timeout_on_exit = spot.timeout_on_exit = 0
    try:
        for _ in range(100):
            with contextlib.suppress(Exception):
                await futures.load_markets()
                break
            await asyncio.sleep(0.02)
        assert "BTC/USDT:USDT" in futures.markets
        balance = await spot.fetch_balance()
        assert set(balance["total"]) == {"BTC", "ETH"}
        assert (await futures.fetch_balance())["USDT"]["free"] == 100_000
    finally:
        await asyncio.gather(futures.close(), spot.close())
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

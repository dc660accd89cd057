"""`hedgebot emulator --exchange bybit`: the Bybit face served on its own until cancelled."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import pytest

from bot.core.errors import ConfigError
from bot.emulator.bybit.standalone import run_bybit_standalone
from tests.emulator_clients import make_bybit_client


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_bybit_standalone_serves_ccxt_bybit_until_cancelled() -> None:
    port = free_port()
    ready: list[str] = []
    task = asyncio.create_task(
        run_bybit_standalone(None, ["BTC", "ETH"], port, "k", "s", 60.0, on_ready=ready.append)
    )
    client = make_bybit_client(f"http://127.0.0.1:{port}", "k", "s")
    client.timeout_on_exit = 0
    try:
        for _ in range(200):
            if ready:
                break
            await asyncio.sleep(0.02)
        assert ready == [f"http://127.0.0.1:{port}"]
        await client.load_markets()
        assert {"BTC/USDT:USDT", "ETH/USDT:USDT", "BTC/USDT"} <= set(client.markets)
        balance = await client.fetch_balance()
        assert balance["USDT"]["total"] == 100_000
        assert balance["BTC"]["total"] > 0 and balance["ETH"]["total"] > 0
    finally:
        await client.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_port_in_use_is_named() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            await run_bybit_standalone(None, ["BTC"], port, "k", "s", 1.0)

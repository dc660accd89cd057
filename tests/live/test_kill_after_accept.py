"""A real bot process SIGKILLed after the exchange accepted its order and before it journaled
the fill; the next process reconciles by client order id and never doubles the order."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from bot.core.clock import to_ms
from bot.emulator.server import BinanceEmulator
from bot.emulator.standalone import ScaledClock
from bot.journal.store import Journal
from bot.market.simulated import simulate_market
from bot.sim.paper import PaperVenue

KEY, SECRET = "kill-key", "kill-secret"
HOLDINGS = {"BTC": Decimal(1), "ETH": Decimal(10), "ADA": Decimal(20000)}


def emulator_now() -> BinanceEmulator:
    """An emulator whose simulated market is anchored at the wall clock (fresh prices)."""
    now = datetime.now(UTC)
    start = now - timedelta(days=7, seconds=now.timestamp() % (4 * 3600))
    data = simulate_market(list(HOLDINGS), to_ms(start), bars=120)
    clock = ScaledClock(now, 1.0)
    venue = PaperVenue(data, clock, HOLDINGS, Decimal(60000), Decimal("0.0005"), Decimal(2))
    return BinanceEmulator(venue, KEY, SECRET)


def write_config(tmp_path: Path, url: str, journal_url: str) -> Path:
    config = tmp_path / "live.toml"
    config.write_text(
        "[exchange]\nname = 'binanceusdm'\naccount = 'kill'\n"
        f"api_url = '{url}'\n"
        "requests_per_second = 50\n"  # the emulator's budget (config/emulator.toml)
        "[strategy]\nname = 'static'\nratio = 0.4\n"
        "[risk]\nleverage = 2\nmax_price_age = '5h'\n"
        f"kill_switch_file = '{tmp_path / 'halt'}'\n"
        f"[journal]\nurl = '{journal_url}'\n"
    )
    return config


async def hedgebot(config: Path, *args: str) -> asyncio.subprocess.Process:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HEDGEBOT_")},
        "HEDGEBOT_API_KEY": KEY,
        "HEDGEBOT_API_SECRET": SECRET,
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        "--config",
        str(config),
        cwd=config.parent,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


@pytest.mark.slow
async def test_sigkill_after_accept_then_restart_ends_with_one_order_per_intent(
    tmp_path: Path, journal_url: str
) -> None:
    emulator = emulator_now()
    url = await emulator.start()
    try:
        config = write_config(tmp_path, url, journal_url)
        emulator.faults.hang("POST", "/fapi/v1/order", seconds=120)  # accept, never answer
        bot = await hedgebot(config, "rebalance", "--yes")
        for _ in range(600):  # wait until the exchange has accepted the first order
            if emulator.account.orders:
                break
            await asyncio.sleep(0.05)
        assert len(emulator.account.orders) == 1
        bot.send_signal(signal.SIGKILL)  # a real SIGKILL: no handler, no cleanup
        await bot.wait()
        assert bot.returncode == -signal.SIGKILL
        killed_cid = next(iter(emulator.account.orders.values())).sim.client_order_id
        with Journal.open(journal_url) as journal:
            order = journal.get_order(killed_cid)
            assert order is not None and order.status == "pending"  # written ahead, unconfirmed
            assert journal.fills() == []

        emulator.faults.clear()
        restart = await hedgebot(config, "run", "--max-cycles", "1")
        _, err = await restart.communicate()
        assert restart.returncode == 0, err.decode()

        per_intent = Counter(r.sim.client_order_id for r in emulator.account.orders.values())
        assert max(per_intent.values()) == 1  # never two orders for one intent
        legs = {f"{asset}/USDT:USDT" for asset in HOLDINGS}
        assert {r.sim.symbol for r in emulator.account.orders.values()} == legs
        assert len(emulator.account.orders) == len(legs)  # the killed leg was not re-sent
        sim = emulator.account.sim
        with Journal.open(journal_url) as journal:
            order = journal.get_order(killed_cid)
            assert order is not None and order.status == "filled"
            assert "by client order id" in order.reason
            journaled = {(f.symbol, f.trade_id) for f in journal.fills()}
            assert journaled == {emulator.trade_key(t) for t in sim.trades}
            assert [e.kind for e in journal.events(kind="reconcile")] == ["reconcile"]
        for symbol in legs:
            position = sim.positions[symbol]
            mark = emulator.account.venue.mark_price(symbol)
            spot = HOLDINGS[symbol.split("/")[0]] * mark
            assert (
                abs(-position.contracts * mark - Decimal("0.4") * spot)
                <= Decimal("0.06") * Decimal("0.4") * spot
            )
    finally:
        await emulator.stop()

"""The fault matrix: each bad night against the emulator, and the invariants that must survive it.

For every case: at most one order per intent (client order id), every leg's short within its
target plus the deadband and one lot, every fill and funding payment journaled exactly once, and
the loop recovering without a human. The table of outcomes is printed at the end of the module.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal

import psycopg
import pytest
from sqlalchemy.engine import make_url

from bot.core.errors import JournalError, VenueError
from bot.runtime.engine import CycleReport
from tests.live.conftest import FAULT_ROWS, FaultRow, LiveRig

ORDER = ("POST", "/fapi/v1/order")
HOURS_4 = 4 * 3600


async def next_cycle(rig: LiveRig) -> CycleReport:
    await rig.clock.sleep(HOURS_4)
    return await rig.engine.cycle()


def check_invariants(rig: LiveRig, case: str, last: CycleReport) -> FaultRow:
    account = rig.emulator.account
    per_intent = Counter(record.sim.client_order_id for record in account.orders.values())
    duplicates = sum(count - 1 for count in per_intent.values())
    name = rig.venue.name
    fills = rig.journal.fills(venue=name)
    funding = rig.journal.funding(venue=name)
    assert duplicates == 0, per_intent
    keys = {(f.symbol, f.trade_id) for f in fills}  # Binance numbers trades per symbol
    assert len(fills) == len(keys)  # each fill once
    assert keys == {rig.emulator.trade_key(t) for t in rig.sim.trades}
    eight = Decimal("0.00000001")  # Binance reports income with 8 decimals
    assert sorted(p.amount for p in funding) == sorted(
        p.amount.quantize(eight) for p in rig.sim.funding
    )
    deadband = rig.config.hedge.deadband
    for target in last.targets:
        position = rig.sim.positions.get(target.symbol)
        contracts = -position.contracts if position is not None else Decimal(0)
        mark = rig.paper.mark_price(target.symbol)
        lot = rig.sim.markets[target.symbol].amount_step * mark
        assert contracts * mark <= target.notional * (1 + deadband) + lot, target.symbol
    recovered = last.status in ("done", "held") and all(
        abs(contracts_short(rig, t.symbol) * rig.paper.mark_price(t.symbol) - t.notional)
        <= deadband * t.notional
        + rig.sim.markets[t.symbol].amount_step * rig.paper.mark_price(t.symbol)
        for t in last.targets
    )
    row = FaultRow(
        case,
        len(account.orders),
        duplicates,
        len(fills),
        len(rig.sim.trades),
        len(funding),
        len(rig.sim.funding),
        recovered,
    )
    FAULT_ROWS.append(row)
    assert recovered, (case, last.status, last.notes)
    return row


def contracts_short(rig: LiveRig, symbol: str) -> Decimal:
    position = rig.sim.positions.get(symbol)
    return -position.contracts if position is not None else Decimal(0)


async def settle(rig: LiveRig, cycles: int = 2) -> CycleReport:
    """Let the loop run a few more cycles (funding settles on the way)."""
    report = await next_cycle(rig)
    for _ in range(cycles - 1):
        report = await next_cycle(rig)
    await rig.engine.sync_journal()
    return report


async def response_dropped(rig: LiveRig) -> CycleReport:
    rig.emulator.faults.drop(*ORDER, times=3)
    await rig.engine.cycle()
    return await settle(rig)


async def server_errors(rig: LiveRig) -> CycleReport:
    rig.emulator.faults.server_error(*ORDER, 503, after_handling=True, times=2)
    rig.emulator.faults.server_error("GET", "/fapi/v1/ticker/24hr", 502, times=2)
    await rig.engine.cycle()
    return await settle(rig)


async def rate_limit_then_ban(rig: LiveRig) -> CycleReport:
    rig.emulator.faults.rate_limit(None, None, retry_after=30, ban_seconds=600)
    await rig.engine.cycle()
    assert rig.emulator.faults.bans == 0
    rig.emulator.faults.ban(120)
    return await settle(rig)


async def clock_skew(rig: LiveRig) -> CycleReport:
    skew = "Timestamp for this request is outside of the recvWindow."
    rig.emulator.faults.reject(*ORDER, code=-1021, message=skew)
    rig.emulator.faults.reject("GET", None, code=-1021, message=skew)
    await rig.engine.cycle()
    return await settle(rig)


async def partial_fills(rig: LiveRig) -> CycleReport:
    rig.emulator.faults.partial_fill(Decimal("0.5"), times=3)
    first = await rig.engine.cycle()
    assert any(e.status == "partially_filled" for e in first.executions)
    return await settle(rig)


async def margin_rejection(rig: LiveRig) -> CycleReport:
    rig.emulator.faults.reject(*ORDER, code=-2019, message="Margin is insufficient.")
    first = await rig.engine.cycle()
    assert first.status == "partial"
    return await settle(rig)


async def emulator_restart(rig: LiveRig) -> CycleReport:
    await rig.engine.cycle()
    port = int(rig.emulator.base_url.rsplit(":", 1)[1])
    await rig.emulator.stop()
    await rig.clock.sleep(HOURS_4)
    with pytest.raises(VenueError):
        await rig.engine.cycle()
    await rig.emulator.start(port)  # same account state: the simulation object lives on
    return await settle(rig)


@contextmanager
def journal_unavailable(url: str) -> Iterator[None]:
    """Make the journal database refuse the bot: an exclusive lock (SQLite) or, on PostgreSQL,
    no connections allowed and the bot's sessions terminated."""
    if url.startswith("sqlite"):
        locker = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        return
    target = make_url(url)
    admin = target.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    with psycopg.connect(admin, autocommit=True) as connection:
        name = target.database
        connection.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        try:
            yield
        finally:
            connection.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


async def journal_locked(rig: LiveRig) -> CycleReport:
    with journal_unavailable(rig.config.journal.url):
        with pytest.raises(JournalError):
            await rig.engine.cycle()
        assert not rig.emulator.account.orders  # nothing sent that could not be journaled
    return await settle(rig)


async def network_down_for_cycles(rig: LiveRig) -> CycleReport:
    await rig.engine.cycle()
    port = int(rig.emulator.base_url.rsplit(":", 1)[1])
    await rig.emulator.stop()
    reports: list[CycleReport] = []
    sleeps = 0
    real_sleep = rig.clock.sleep

    async def sleep_and_heal(seconds: float) -> None:
        nonlocal sleeps
        sleeps += 1
        if sleeps == 4:  # three failed attempts, then the network is back
            await rig.emulator.start(port)
        await real_sleep(seconds)

    rig.clock.sleep = sleep_and_heal  # type: ignore[method-assign]
    await rig.engine.run(asyncio.Event(), None, reports.append, max_cycles=2)
    assert sleeps >= 4 and len(reports) == 2
    return reports[-1]


CASES: dict[str, Callable[[LiveRig], Awaitable[CycleReport]]] = {
    "response dropped after accept": response_dropped,
    "5xx bursts (order executed + reads)": server_errors,
    "429 then 418 ban": rate_limit_then_ban,
    "clock skew (-1021)": clock_skew,
    "partial fills": partial_fills,
    "order rejected for margin (-2019)": margin_rejection,
    "emulator restart (state kept)": emulator_restart,
    "journal locked / unavailable": journal_locked,
    "network down for several cycles": network_down_for_cycles,
}


@pytest.fixture
def live_journal_url(journal_url: str) -> str:
    """The whole matrix runs on each journal backend: SQLite and PostgreSQL."""
    return journal_url


@pytest.mark.parametrize("case", list(CASES))
async def test_fault_keeps_the_invariants(rig: LiveRig, case: str) -> None:
    last = await CASES[case](rig)
    backend = "sqlite" if rig.config.journal.url.startswith("sqlite") else "postgresql"
    check_invariants(rig, f"{case} [{backend}]", last)

"""`hedgebot rebalance`: plan once, show the plan, place it after confirmation, exit."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from contextlib import ExitStack

from bot.cli.session import Session, check_access, open_session
from bot.core.errors import Halted
from bot.journal.account_lock import lock_directory
from bot.journal.records import RunMode
from bot.journal.store import Journal
from bot.reporting.display import holdings_table, money, plan_table
from bot.runtime.engine import Engine
from bot.runtime.kill_switch import halted_message, kill_switch_for, with_kill_switch
from bot.settings.config import Config


async def rebalance_once(config: Config, args: argparse.Namespace) -> int:
    """Run one cycle; with ``--dry-run`` only plan and show, placing nothing.

    Exit codes: 0 placed (or nothing to do, or a dry run), 1 not placed (declined, skipped,
    failed), 4 halted by the kill switch (`Halted`), 5 the exchange refused the keys.
    """
    config = with_kill_switch(config)  # the engine and this command watch the same file
    session = open_session(config, args.data_dir)
    try:
        await check_access(session)  # wrong keys: one line now, before any lease or journal row
        return await _rebalance(config, args, session)
    finally:
        await session.venue.close()


async def _rebalance(config: Config, args: argparse.Namespace, session: Session) -> int:
    print(f"hedgebot rebalance — {session.label}")
    for note in session.notes:
        print(f"note: {note}")
    print(f"as of {session.clock.now():%Y-%m-%d %H:%M} UTC\n")
    mode = RunMode.DRY_RUN if args.dry_run else session.mode
    with Journal.open(config.journal.url) as journal, ExitStack() as held:
        # One bot per account: placing needs the lease (a dry run only reads, so it does not),
        # and on an exchange the account lock too (a paper session's key is its own).
        lock_dir = None if session.paper is not None else lock_directory()
        lease = (
            None
            if args.dry_run
            else held.enter_context(journal.lease(session.venue.name, lock_dir=lock_dir))
        )
        if lease is not None:
            lease.keep_alive()  # renewed while the confirmation prompt waits
        engine = Engine(config, session.venue, journal, session.strategy, session.clock, mode)
        plan = await engine.cycle(dry_run=True)
        print(holdings_table(plan))
        print(f"\nstrategy: {plan.reason}")
        policy = await engine.legs.policy_notes(plan.observation)
        for note in [*plan.notes, *policy]:
            print(f"note: {note}")
        print()
        print(plan_table(plan))
        intents = [p.intent for p in plan.plans if p.intent is not None]
        switch = kill_switch_for(config)
        halted = switch.reason() is not None
        if plan.status == "skipped":
            print(f"\nnothing placed: {plan.reason}")
            return 1
        if args.dry_run or not intents:
            if halted:
                print(f"\nnote: {halted_message(switch, args.config)}")
            print("\ndry run: nothing placed." if args.dry_run else "\nnothing to do.")
            return 0
        if halted:
            raise Halted(halted_message(switch, args.config))
        if not args.yes:
            if not sys.stdin.isatty():
                print("\nrefusing to place orders without confirmation: pass --yes")
                return 1
            if not await _confirm(f"\nplace {len(intents)} order(s)? [y/N] "):
                return 1
        if lease is not None:
            lease.renew()  # raises LeaseLost if another instance took over meanwhile
        report = await engine.cycle()
        if report.status == "halted":  # halted while the confirmation prompt waited
            raise Halted(halted_message(switch, args.config))
        print()
        for execution in report.executions:
            result = execution.result
            if result is None:
                print(f"{execution.intent.symbol}: {execution.status.value} — {execution.reason}")
                continue
            for fill in result.fills:
                print(
                    f"{fill.symbol}: {fill.side.value} {fill.amount} @ {money(fill.price, 4)} "
                    f"fee {money(fill.fee, 4)} {fill.fee_currency} (order {result.client_order_id})"
                )
        return 0 if report.status in ("done", "held") else 1


async def _confirm(prompt: str) -> bool:
    """Ask ``prompt`` on the terminal; True for y or yes, else say nothing was placed.

    stdin is read from the event loop, not a thread: a thread blocked in ``input()`` cannot be
    interrupted, and `asyncio.run` would wait for it forever after Ctrl-C. Ctrl-D (end of input)
    declines; Ctrl-C cancels the command (which releases the lease) and exits 130.
    """
    print(prompt, end="", flush=True)
    try:
        line = await _read_line(sys.stdin.fileno())
    except asyncio.CancelledError:
        print("\nnothing placed: interrupted.", flush=True)
        raise
    if not line:
        print("\nnothing placed: no answer (end of input).")
        return False
    if line.decode(errors="replace").strip().lower() in ("y", "yes"):
        return True
    print("nothing placed.")
    return False


async def _read_line(fd: int) -> bytes:
    """Return the next line the terminal gives on ``fd`` (b"" at end of input)."""
    loop = asyncio.get_running_loop()
    line: asyncio.Future[bytes] = loop.create_future()

    def readable() -> None:
        if not line.done():
            line.set_result(os.read(fd, 4096))

    loop.add_reader(fd, readable)
    try:
        return await line
    finally:
        loop.remove_reader(fd)

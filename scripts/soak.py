"""Chaos soak: random faults, random kills and moving targets; invariants checked after each trial.

    python scripts/soak.py --trials N --seed S [--journal URL] [--kill process|task]
                           [--exchange binanceusdm|bybit] [--faults KIND,...] [--max-minutes M]
                           [--keep] [-v]

Trial i runs with seed S + i (see ``tests/chaos/harness.py``): a fresh emulated exchange on
127.0.0.1 and a fresh journal, the bot killed 1-3 times at random moments while faults fire and
the targets move, then left to settle; the invariants of ``tests/chaos/invariants.py`` are checked
against the emulator's audit log and the journal. ``--kill process`` (the default) SIGKILLs real
``hedgebot run`` processes; ``--kill task`` cancels an in-process engine at a random request
(fast, deterministic per seed).

``--journal``: SQLite files in the work directory (default); ``postgres`` for a private
PostgreSQL server started like the test suite's (``tests/postgres.py``; or the server of
``$HEDGEBOT_TEST_POSTGRES_URL``); or a ``postgresql://user:password@host/db`` URL of a role with
CREATEDB: each trial gets a database of its own, dropped at the end.

Prints the table (trials, kills, faults drawn per kind, violations, wall time) and every failing
seed with its violations; exits 1 if any trial found a violation (or could not run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).absolute().parents[1]))  # the tests package

from tests.chaos.catalogue import ALL_KINDS
from tests.chaos.harness import (
    NEW_RISK_KNOBS,
    JournalSource,
    SqliteJournals,
    TrialResult,
    format_report,
    run_trial,
)
from tests.postgres import PostgresServer, postgres_server


class PostgresJournals:
    """A database of its own per trial on one PostgreSQL server."""

    def __init__(self, server: PostgresServer) -> None:
        self.server = server

    def new(self, directory: Path) -> str:
        directory.mkdir(parents=True, exist_ok=True)
        return self.server.new_database()


@contextlib.contextmanager
def journals_for(spec: str | None) -> Iterator[tuple[JournalSource, str]]:
    """Yield the journal source named on the command line and a label for the table."""
    if spec is None or spec == "sqlite":
        yield SqliteJournals(), "sqlite"
        return
    if spec == "postgres" or spec.startswith(("postgresql:", "postgresql+psycopg:")):
        if spec == "postgres":
            with postgres_server() as server:
                yield PostgresJournals(server), "postgresql (private server)"
            return
        given = PostgresServer.from_url(spec)
        try:
            yield PostgresJournals(given), "postgresql"
        finally:
            given.stop()
        return
    raise SystemExit(f"--journal: expected sqlite, postgres or a postgresql:// URL, got {spec!r}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Chaos soak of the live order path against the exchange emulator."
    )
    parser.add_argument("--trials", type=int, required=True, help="number of trials")
    parser.add_argument("--seed", type=int, required=True, help="seed of the first trial")
    parser.add_argument(
        "--journal", help="sqlite (default), postgres (private server) or a postgresql:// URL"
    )
    parser.add_argument("--kill", choices=("process", "task"), default="process")
    parser.add_argument("--exchange", choices=("binanceusdm", "bybit"), default="binanceusdm")
    parser.add_argument(
        "--max-minutes",
        type=float,
        default=0.0,
        help="start no trial after this many minutes (0: no limit; each trial is bounded anyway)",
    )
    parser.add_argument("--workdir", type=Path, help="where trial directories go (default: temp)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--no-new-knobs",
        action="store_true",
        help="leave order_settle_timeout, confirm_unexplained and max_basis out of the config "
        "(for a bot that does not know them yet)",
    )
    parser.add_argument(
        "--faults",
        type=fault_kinds,
        default=ALL_KINDS,
        help="comma-separated fault kinds to draw from (default: all: " + ",".join(ALL_KINDS) + ")",
    )
    parser.add_argument(
        "--streams",
        action="store_true",
        help="process mode: the bot follows the emulator's websocket streams, and stream faults "
        "(dropped sockets, a stale stream, an expired listen key) are drawn too",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per trial, logs")
    args = parser.parse_args(argv)
    if args.trials < 1:
        parser.error("--trials must be at least 1")
    return args


def fault_kinds(text: str) -> tuple[str, ...]:
    """Parse ``--faults``: known kinds only."""
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = sorted(set(kinds) - set(ALL_KINDS))
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(
            f"unknown fault kind(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(ALL_KINDS)}"
        )
    return kinds


def trial_line(result: TrialResult) -> str:
    state = "FAIL" if result.failed else "ok"
    faults = sum(result.faults.values())
    return (
        f"seed {result.seed:>6}: {state:<4} {result.kills} kill(s), {faults} fault(s), "
        f"{len(result.violations)} violation(s), {result.wall:.1f}s"
    )


async def soak(
    args: argparse.Namespace, journals: JournalSource, workdir: Path
) -> list[TrialResult]:
    deadline = time.monotonic() + args.max_minutes * 60 if args.max_minutes > 0 else None
    results: list[TrialResult] = []
    knobs = NEW_RISK_KNOBS and not args.no_new_knobs
    for seed in range(args.seed, args.seed + args.trials):
        if deadline is not None and time.monotonic() > deadline:
            print(f"time limit reached: {len(results)} of {args.trials} trials run", flush=True)
            break
        result = await run_trial(
            seed,
            args.kill,
            args.exchange,
            journals,
            workdir,
            knobs=knobs,
            kinds=args.faults,
            streams=args.streams,
        )
        results.append(result)
        if args.verbose or result.failed:
            print(trial_line(result), flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.verbose else logging.CRITICAL,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    made = args.workdir is None
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="hedgebot-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        with journals_for(args.journal) as (journals, label):
            results = asyncio.run(soak(args, journals, workdir))
    finally:
        if made and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    title = (
        f"chaos soak: {len(results)} trial(s), seeds {args.seed}..{args.seed + len(results) - 1}, "
        f"kill {args.kill}, {args.exchange}{', streams' if args.streams else ''}, "
        f"journal {label}; "
        f"{time.perf_counter() - started:.1f}s in all"
    )
    print(format_report(results, title))
    if args.keep or not made:
        print(f"trial directories (configs, bot logs, SQLite journals): {workdir}")
    return 1 if any(r.failed for r in results) or not results else 0


if __name__ == "__main__":
    sys.exit(main())

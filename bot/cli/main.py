"""The `hedgebot` command line.

Commands: run, rebalance, status, journal, report, halt, resume, backtest, stress, emulator,
notify, check-config.
Every failure ends in one line on stderr, ``hedgebot: <what is wrong>; <how to fix it>``, and a
non-zero exit code (see `bot.core.errors` for the table: 1 nothing done, 2 bad input, 3 lease held,
4 halted, 5 keys refused, 70 a bug); never a traceback (``-v`` shows one for a bug).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import errno
import json
import logging
import math
import os
import re
import shutil
import sys
import traceback
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

from bot.core.errors import (
    EXIT_BUG,
    EXIT_INTERRUPTED,
    AuthError,
    ConfigError,
    HedgebotError,
    JournalError,
    NothingToShow,
    StorageError,
)
from bot.journal.records import to_jsonable
from bot.journal.store import Journal
from bot.journal.urls import database_url
from bot.observability.access import HttpAccess, http_access, parse_address
from bot.reporting.terminal import use_color, wants_color
from bot.runtime.kill_switch import kill_switch_for, with_kill_switch
from bot.runtime.logs import configure_logging, log_file, quiet_console
from bot.settings.config import Config, load_config
from bot.settings.secrets import mask, mask_url

log = logging.getLogger(__name__)

DEFAULT_CONFIG = "config/paper.toml"
MIN_FREE_BYTES = 1 << 20
"""A command that writes refuses to start with less free space where it writes."""
SHM_BYTES = 32 * 1024
"""The size SQLite gives a journal's ``-shm`` file when it first maps it."""
_DISK_FULL = ("disk i/o error", "disk is full", "no space left", "file too large")
"""How SQLite and the OS say a write did not fit."""
_NOISE = ("[SQL:", "[parameters:", "(Background on this error at:")
"""Lines of SQLAlchemy's messages that say nothing to an operator."""


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors in one line (and `main` returning instead of exiting)."""

    def error(self, message: str) -> NoReturn:
        """Print ``hedgebot <command>: <problem> (see --help)`` and exit 2."""
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def _utc(text: str) -> datetime:
    """Parse an ISO date or time; without an offset it is UTC. Returned in UTC."""
    try:
        moment = datetime.fromisoformat(text)
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):  # OverflowError: a year 1 or 9999 moved out by its offset
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date; write e.g. 2022-01-01 or 2022-01-01T12:00 (UTC)"
        ) from None


def _number(
    kind: Callable[[str], Any], low: float, inclusive: bool, what: str, high: float = math.inf
) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number; {what}") from None
        out = value < low or (value == low and not inclusive) or value > high
        if out or value != value:  # NaN too
            raise argparse.ArgumentTypeError(f"{text}: {what}")
        return value

    return parse


_MOST = 10**9
"""The largest count an option takes (cycles, rows, backups): beyond it SQLite or time overflow."""
_positive_int = _number(
    int, 1, True, f"use a whole number of at least 1 and at most {_MOST:,}", _MOST
)
_count = _number(int, 0, True, f"use a whole number of at least 0 and at most {_MOST:,}", _MOST)
_speed = _number(float, 0, True, "use 0 (flat out) or a positive number")
_positive_speed = _number(float, 0, False, "use a positive number (1 = real time)")


def _port(text: str) -> int:
    value = _number(int, 1, True, "use a TCP port, 1..65535")(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{text}: use a TCP port, 1..65535")
    return int(value)


_SIZE = re.compile(r"^(\d+)([KMG]?)$")


def _size(text: str) -> int:
    """Parse a size in bytes, ``K``, ``M`` or ``G`` (binary: 10M = 10 MiB); at least 1 KiB."""
    found = _SIZE.match(text.strip().upper())
    value = int(found[1]) << (10 * " KMG".index(found[2] or " ")) if found else 0
    if value < 1024:
        raise argparse.ArgumentTypeError(f"{text!r}: write a size of at least 1K, e.g. 10M")
    return value


def _address(text: str) -> tuple[str, int]:
    try:
        return parse_address(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


_ASSET = re.compile(r"^[A-Z0-9]{2,15}$")


def _assets(text: str) -> list[str]:
    assets = [a.strip().upper() for a in text.split(",") if a.strip()]
    bad = [a for a in assets if not _ASSET.match(a)]
    if not assets or bad:
        shown = f"{', '.join(bad)} is not an asset; " if bad else ""
        raise argparse.ArgumentTypeError(f"{shown}write assets like BTC,ETH,ADA")
    return assets


_MOST_RISE = Decimal(10)
"""The largest rise ``--shock`` takes (+1000%): a scenario, not an overflow."""


def _shock(text: str) -> tuple[str, Decimal]:
    """Parse ``--shock BTC=-35%`` into (asset, fraction); a price cannot fall 100% or more."""
    asset, _, move = text.partition("=")
    asset = asset.strip().upper()
    move = move.strip()
    example = "write shocks like BTC=-35% or SOL=+40%"
    if not _ASSET.match(asset):
        shown = asset or "no asset"
        raise argparse.ArgumentTypeError(f"{text!r}: {shown} is not an asset; {example}")
    try:
        fraction = Decimal(move.removesuffix("%")) / 100
    except ArithmeticError:
        fraction = None
    if not move.endswith("%") or fraction is None or not fraction.is_finite():
        raise argparse.ArgumentTypeError(f"{text!r}: the move is not a percentage; {example}")
    if fraction <= -1:
        raise argparse.ArgumentTypeError(
            f"{text!r}: a price cannot fall 100% or more; use e.g. {asset}=-99%"
        )
    if fraction > _MOST_RISE:
        raise argparse.ArgumentTypeError(
            f"{text!r}: a shock moves a price between -100% and +1000%; use e.g. {asset}=+40%"
        )
    return asset, fraction


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", default=DEFAULT_CONFIG, help="TOML config file")
    parser.add_argument("--journal", help="journal URL (overrides journal.url)")
    parser.add_argument("--verbose", "-v", action="store_true", help="log at INFO level")
    parser.add_argument("--log-json", action="store_true", help="log JSON lines (for collectors)")
    _add_no_color(parser)


def _add_no_color(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-color",
        action="store_true",
        help="plain text, no colours (also when stdout is not a terminal or $NO_COLOR is set)",
    )


def _add_paper(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        help="history CSV directory for paper replay (default: paper.data_dir, then "
        "$HEDGEBOT_DATA_DIR; none = simulated market)",
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of every command."""
    parser = _Parser(
        prog="hedgebot",
        description="Insure a crypto spot portfolio with short USDT-margined perps.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="keep the hedge, cycle after cycle")
    _add_common(run)
    _add_paper(run)
    run.add_argument(
        "--speed",
        type=_speed,
        default=0.0,
        help="paper replay: simulated seconds per wall second (0 = flat out)",
    )
    run.add_argument("--max-cycles", type=_positive_int, help="stop after this many cycles")
    run.add_argument("--quiet", "-q", action="store_true", help="print only the summary")
    run.add_argument(
        "--http",
        type=_address,
        metavar="HOST:PORT",
        help="serve /metrics (Prometheus), /healthz and the status page (/) there, e.g. "
        "127.0.0.1:8080 (default: off; a non-loopback address needs a token)",
    )
    run.add_argument(
        "--http-token",
        help="bearer token the HTTP endpoints require (prefer $HEDGEBOT_HTTP_TOKEN: a flag "
        "shows in the process list)",
    )
    run.add_argument(
        "--log-file",
        metavar="PATH",
        help="also log to PATH (mode 0600, rotated; stderr then keeps warnings and errors)",
    )
    run.add_argument(
        "--log-max-size",
        type=_size,
        default="10M",
        metavar="SIZE",
        help="rotate the log file at this size, e.g. 512K, 10M (default: 10M)",
    )
    run.add_argument(
        "--log-backups",
        type=_positive_int,
        default=5,
        metavar="N",
        help="rotated log files to keep: PATH.1 .. PATH.N (default: 5)",
    )
    run.set_defaults(handler=start_run)

    rebalance = commands.add_parser("rebalance", help="plan, show, place once, exit")
    _add_common(rebalance)
    _add_paper(rebalance)
    rebalance.add_argument("--dry-run", action="store_true", help="show the plan, place nothing")
    rebalance.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    rebalance.set_defaults(handler=start_rebalance)

    status = commands.add_parser("status", help="holdings, hedge per leg, liquidation, costs")
    _add_common(status)
    status.add_argument("--venue", help="venue/session to show (default: the latest)")
    status.set_defaults(handler=start_status)

    journal = commands.add_parser("journal", help="list what the journal recorded")
    _add_common(journal)
    journal.add_argument("what", choices=["fills", "funding", "rebalances", "orders"])
    journal.add_argument("--venue", help="only this venue/session")
    journal.add_argument("--limit", type=_count, default=50, help="latest N rows (0 = all)")
    journal.add_argument("--csv", action="store_true", help="write CSV to stdout")
    journal.set_defaults(handler=start_journal)

    report = commands.add_parser("report", help="cost of insurance: fees, funding, P&L per leg")
    _add_common(report)
    report.add_argument("--venue", help="venue/session to report (default: the latest)")
    report.add_argument("--from", dest="since", type=_utc, help="start, e.g. 2022-01-01")
    report.add_argument("--to", dest="until", type=_utc, help="end (exclusive)")
    report.set_defaults(handler=start_report)

    halt = commands.add_parser("halt", help="kill switch: stop new orders (recording goes on)")
    _add_common(halt)
    halt.add_argument("--reason", default="halted by operator", help="why (journaled)")
    halt.set_defaults(handler=start_halt)

    resume = commands.add_parser("resume", help="undo `halt`: allow orders again")
    _add_common(resume)
    resume.set_defaults(handler=start_resume)

    emulator = commands.add_parser(
        "emulator",
        help="serve an emulated Binance USDⓈ-M or Bybit v5 account on 127.0.0.1 (offline testing)",
    )
    emulator.add_argument("--data-dir", help="history to replay (default: simulated market)")
    emulator.add_argument(
        "--assets", type=_assets, default="BTC,ETH,ADA,XRP,LTC", help="comma-separated"
    )
    emulator.add_argument("--port", type=_port, default=8765)
    emulator.add_argument(
        "--speed", type=_positive_speed, default=1.0, help="replay s per wall second"
    )
    emulator.add_argument(
        "--exchange",
        choices=["binance", "bybit"],
        default="binance",
        help="which API to emulate: Binance USDⓈ-M + spot, or Bybit v5 (unified account)",
    )
    emulator.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    emulator.set_defaults(handler=start_emulator)

    backtest = commands.add_parser(
        "backtest", help="replay history: hedged vs unhedged, metrics, plots"
    )
    _add_common(backtest)
    _add_paper(backtest)
    backtest.add_argument("--from", dest="since", type=_utc, help="start, e.g. 2022-01-01")
    backtest.add_argument("--to", dest="until", type=_utc, help="end, e.g. 2023-01-01")
    backtest.add_argument(
        "--window", help="named period, crash or rising: november-2022, q1-2023 (list: 'list')"
    )
    backtest.add_argument(
        "--compare",
        nargs="+",
        metavar="SPEC",
        help="strategies side by side: a ratio (0.4 = static 40%%), NAME, "
        "NAME:key=value,… or a TOML file's [strategy]; default: the config's",
    )
    backtest.add_argument("--out", default="var/backtest", help="directory for JSON, CSV, PNG")
    backtest.add_argument("--plots", action="store_true", help="write PNG figures (matplotlib)")
    backtest.add_argument("--quiet", "-q", action="store_true", help="print only the table")
    backtest.add_argument(
        "--frontier",
        action="store_true",
        help="crash loss removed vs calm upside given up, against the static line",
    )
    backtest.add_argument(
        "--crash",
        nargs="+",
        metavar="PERIOD",
        help="--frontier's crash windows: names, tuning, held-out, all or FROM:TO (default all)",
    )
    backtest.add_argument(
        "--calm",
        nargs="+",
        metavar="PERIOD",
        help="--frontier's rising periods: names, tuning, held-out, all or FROM:TO (default all)",
    )
    backtest.add_argument(
        "--static",
        nargs="+",
        metavar="RATIO",
        help="--frontier's static line (default 0.2 0.4 0.6 0.8 1)",
    )
    backtest.set_defaults(handler=start_backtest)

    stress = commands.add_parser(
        "stress",
        help="what-if: crash, squeeze, historical crash days, custom shocks on today's hedge",
        description="Apply price shocks at once to today's holdings and hedge (live, or the paper "
        "account a paper config opens) and show per asset, per leg and in total: spot and hedge "
        "P&L, the share of the loss removed, liquidation prices and distances after the move, "
        "what the margin guard would do, and the margin the legs need to ride the move at full "
        "size. Scenarios: crash (BTC -30%%, other assets -60%%), squeeze (+40%%), each crash "
        "window's worst day replayed on today's holdings (needs --data-dir or "
        "$HEDGEBOT_DATA_DIR), and --shock. The hedge stressed is the open legs; with none open, "
        "the legs the strategy would open now (entry at today's mark, margin at risk.leverage, "
        "fees left out), and the output says so.",
    )
    stress.add_argument("--config", "-c", default=DEFAULT_CONFIG, help="TOML config file")
    stress.add_argument(
        "--data-dir",
        help="history CSV directory: the crash days, and a paper config's replay (default: "
        "paper.data_dir, then $HEDGEBOT_DATA_DIR; none = no crash days, simulated paper market)",
    )
    stress.add_argument(
        "--shock",
        action="append",
        type=_shock,
        metavar="ASSET=PCT",
        help="a custom scenario's move of one asset, e.g. --shock BTC=-35%% --shock SOL=-70%% "
        "(repeat; assets not named stay)",
    )
    stress.add_argument("--json", action="store_true", help="print JSON instead of the tables")
    stress.add_argument("--plot", metavar="PNG", help="also draw a PNG figure (matplotlib)")
    stress.add_argument("--verbose", "-v", action="store_true", help="log at INFO level")
    stress.add_argument("--log-json", action="store_true", help="log JSON lines (for collectors)")
    _add_no_color(stress)
    stress.set_defaults(handler=start_stress)

    notify = commands.add_parser(
        "notify", help="list the alert targets ($HEDGEBOT_NOTIFY_URLS), or --test each one"
    )
    _add_common(notify)
    notify.add_argument("--test", action="store_true", help="send one message to every target")
    notify.set_defaults(handler=start_notify)

    serve = commands.add_parser(
        "serve", help="the status page and its JSON API over a journal (bot not running here)"
    )
    _add_common(serve)
    serve.add_argument("--venue", help="venue/session to show (default: the latest)")
    serve.add_argument(
        "--http",
        type=_address,
        default="127.0.0.1:8080",
        metavar="HOST:PORT",
        help="where to serve (default: 127.0.0.1:8080; a non-loopback address needs a token)",
    )
    serve.add_argument(
        "--http-token",
        help="token the page and API require (prefer $HEDGEBOT_HTTP_TOKEN: a flag shows in the "
        "process list)",
    )
    serve.add_argument("--out", metavar="DIR", help="also show a `backtest --out` directory")
    serve.set_defaults(handler=start_serve)

    check = commands.add_parser("check-config", help="validate a config and print it")
    check.add_argument("file", help="TOML config file")
    check.set_defaults(handler=start_check_config)
    return parser


# -- configuration and journal, checked before anything runs -----------------------------------
def _load(path_text: str) -> Config:
    """Read a config file; every way it can be unreadable is a `ConfigError` with the fix."""
    path = Path(path_text).expanduser()
    if not path.exists():
        raise ConfigError(
            f"config file {path_text} does not exist (working directory {Path.cwd()}); pass "
            "--config FILE, e.g. config/paper.toml from the project directory"
        )
    if path.is_dir():
        raise ConfigError(f"config {path_text} is a directory; pass a TOML file in it")
    try:
        return load_config(path)
    except UnicodeDecodeError:
        raise ConfigError(f"config {path_text} is not a UTF-8 text (TOML) file") from None
    except OSError as error:
        raise ConfigError(
            f"cannot read config {path_text}: {error.strerror}; make it readable "
            f"(chmod u+r {path_text})"
        ) from None


def _config(args: argparse.Namespace) -> Config:
    config = _load(args.config)
    if getattr(args, "journal", None):
        journal = config.journal.model_copy(update={"url": args.journal})
        config = config.model_copy(update={"journal": journal})
    return with_kill_switch(config)


def _sqlite_file(url: str) -> Path | None:
    """Return the file of a SQLite journal URL; None for other databases or bad URLs."""
    try:
        parsed = database_url(url)
    except Exception:  # a bad URL is named by Journal.open
        return None
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None
    return Path(database).expanduser()


def _existing_ancestor(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path.cwd()


def _free_bytes(directory: Path) -> int | None:
    try:
        return shutil.disk_usage(directory).free
    except OSError:
        return None


def check_writable(path: Path, what: str, elsewhere: str) -> None:
    """Raise `StorageError` when ``path`` cannot be written, or its disk is (nearly) full.

    ``path`` is a file, or where one would be created; below `MIN_FREE_BYTES` free is full.
    ``elsewhere`` is the other fix, e.g. ``pass --journal elsewhere``.
    """
    if path.exists():
        if path.is_dir():
            raise StorageError(f"{what} {path} is a directory; {elsewhere}")
        where, targets = path.parent, [path, path.parent]  # SQLite adds -wal and -shm files
    else:
        where = _existing_ancestor(path.parent)
        if not where.is_dir():
            raise StorageError(f"{what} {path}: {where} is not a directory; {elsewhere}")
        targets = [where]
    for target in targets:
        if not os.access(target, os.W_OK):
            said = "" if target == path else f": {target}"
            raise StorageError(
                f"{what} {path}{said} is read-only; make it writable (chmod u+w {target}) "
                f"or {elsewhere}"
            )
    free = _free_bytes(where)
    if free is not None and free < MIN_FREE_BYTES:
        raise StorageError(
            f"{what} {path}: its disk has only {free // 1024} KiB free; free some space "
            f"or {elsewhere}"
        )


def _short(shm: Path) -> bool:
    """Return True when SQLite's shared-memory file is missing or not yet of its first size."""
    try:
        return shm.stat().st_size < SHM_BYTES
    except OSError:
        return True


def _journal_to_read(config: Config) -> Journal:
    """Open the journal of a reading command; a SQLite file that does not exist is an error."""
    url = config.journal.url
    path = _sqlite_file(url)
    if path is not None and path.is_dir():
        raise ConfigError(f"journal {path} is a directory; pass a SQLite file: --journal URL")
    if path is not None and not path.exists():
        raise ConfigError(
            f"journal {mask_url(url)} does not exist: nothing was recorded there; run "
            "`hedgebot run` or `hedgebot rebalance` first, or fix --journal / journal.url"
        )
    shm = None if path is None else path.with_name(f"{path.name}-shm")
    if path is not None and shm is not None and _short(shm):  # SQLite must create or grow it
        free = _free_bytes(path.parent)
        if not os.access(path.parent, os.W_OK):
            raise StorageError(
                f"journal {path} is in a read-only directory, where SQLite cannot create its "
                f"{shm.name} file; copy the journal to a writable directory and pass --journal"
            )
        if free is not None and free < MIN_FREE_BYTES:
            raise StorageError(
                f"journal {path}: its disk has only {free // 1024} KiB free, too little for "
                f"SQLite's {shm.name} file; free some space"
            )
    return Journal.open(url)


def _check_journal_writable(config: Config) -> None:
    """Refuse a journal that cannot be written, or whose directory would be made elsewhere.

    A missing directory is made only inside the working directory (``var/`` of the demo): a
    mistyped absolute path must not create folders anywhere.
    """
    path = _sqlite_file(config.journal.url)
    if path is None:
        return
    folder = path.parent.resolve()
    if not folder.exists() and Path.cwd().resolve() not in folder.parents:
        raise ConfigError(
            f"journal {path}: directory {path.parent} does not exist; create it "
            f"(mkdir -p {path.parent}) or fix --journal / journal.url"
        )
    check_writable(path, "journal", "pass --journal elsewhere")


# -- the commands -------------------------------------------------------------------------------
async def _run_checked(
    config: Config, args: argparse.Namespace, http: HttpAccess | None = None
) -> int:
    from bot.cli.commands.run import alerting, run_loop
    from bot.cli.session import check_access, open_session

    async with alerting(config) as notifier:  # refused keys and a crash are alerts too
        if not config.is_paper:  # wrong or revoked keys: say so now, not after a lease, retries
            session = open_session(config, None)
            try:
                await check_access(session)
            finally:
                await session.venue.close()
        return await run_loop(config, args, notifier, http)


def start_run(args: argparse.Namespace) -> int:
    """Run the loop until the replay ends or a signal arrives."""
    config = _config(args)
    http = None if args.http is None else http_access(args.http, args.http_token)
    _check_journal_writable(config)
    with ExitStack() as stack:
        if args.log_file is not None:
            _open_log_file(args, stack)
        return asyncio.run(_run_checked(config, args, http))


def _open_log_file(args: argparse.Namespace, stack: ExitStack) -> None:
    """Log to ``--log-file`` until ``stack`` closes; raise `StorageError` if it cannot be opened."""
    path = Path(args.log_file).expanduser()
    try:
        stack.enter_context(log_file(path, args.log_max_size, args.log_backups, args.log_json))
    except OSError as error:
        why = error.strerror or str(error)
        if not path.parent.is_dir():
            why = f"directory {path.parent} does not exist"
        raise StorageError(
            f"--log-file {path}: cannot open it ({why}); create the directory, make it "
            "writable, or pass --log-file elsewhere"
        ) from None


def start_notify(args: argparse.Namespace) -> int:
    """List the alert targets, or send a test message to each."""
    from bot.cli.commands.notify import run_notify

    return run_notify(_config(args), args)


def start_rebalance(args: argparse.Namespace) -> int:
    """Plan once, show, and (after confirmation) place."""
    from bot.cli.commands.rebalance import rebalance_once

    config = _config(args)
    if not args.dry_run:
        _check_journal_writable(config)
    return asyncio.run(rebalance_once(config, args))


def start_status(args: argparse.Namespace) -> int:
    """Show the hedge as the journal last saw it."""
    from bot.cli.commands.status import (
        LegBands,
        read_adl_ranks,
        read_kill_switch,
        read_lease,
        resolve_venue,
        show_status,
    )

    config = _config(args)
    with _journal_to_read(config) as journal:
        venue = resolve_venue(journal, args.venue, mask_url(config.journal.url))
        ranks = asyncio.run(read_adl_ranks(config, venue, journal.held_symbols(venue)))
        lease = read_lease(journal, venue)
        switch = read_kill_switch(journal, venue, config, args.config)
        print(show_status(journal, venue, ranks, LegBands.of(config), lease, switch))
    return 0


def start_serve(args: argparse.Namespace) -> int:
    """Serve the status page over the journal until interrupted."""
    from bot.cli.commands.serve import run_serve

    config = _config(args)
    access = http_access(args.http, args.http_token)
    with _journal_to_read(config) as journal:
        return run_serve(config, journal, args.venue, access, args.out)


def start_report(args: argparse.Namespace) -> int:
    """Print the cost-of-insurance report."""
    from bot.cli.commands.report import show_report
    from bot.cli.commands.status import resolve_venue, session_span

    if args.since is not None and args.until is not None and args.until <= args.since:
        raise ConfigError(
            f"--to {args.until:%Y-%m-%d %H:%M} must be after --from {args.since:%Y-%m-%d %H:%M}"
        )
    config = _config(args)
    with _journal_to_read(config) as journal:
        venue = resolve_venue(journal, args.venue, mask_url(config.journal.url))
        try:
            text = show_report(journal, venue, args.since, args.until, datetime.now(UTC))
        except ValueError:
            since = f"{args.since:%Y-%m-%d %H:%M}" if args.since else "the start"
            until = f"{args.until:%Y-%m-%d %H:%M}" if args.until else "the end"
            raise NothingToShow(
                f"nothing journaled for venue {venue} from {since} to {until}"
                f"{session_span(journal, venue)}; widen --from/--to"
            ) from None
    print(text)
    return 0


def start_backtest(args: argparse.Namespace) -> int:
    """Replay history for one or more strategies beside the unhedged portfolio."""
    from bot.cli.commands.backtest import run_backtest

    config = _config(args)
    if args.journal:  # replays journal in memory unless told; a journal named must take them
        _check_journal_writable(config)
    return run_backtest(config, args)


def start_stress(args: argparse.Namespace) -> int:
    """Stress today's holdings and hedge with named, historical and custom shocks."""
    from bot.cli.commands.stress import run_stress

    config = _config(args)
    if args.plot:
        check_writable(Path(args.plot).expanduser(), "--plot", "pass --plot elsewhere")
    return asyncio.run(run_stress(config, args))


def _journal_kill_switch(config: Config, message: str, data: dict[str, Any], done: str) -> None:
    """Journal a kill-switch event; a journal that cannot take it is said, the switch stays."""
    now = datetime.now(UTC)
    try:
        _check_journal_writable(config)
        with Journal.open(config.journal.url) as journal:
            journal.record_event("kill_switch", now, message, data)
    except HedgebotError as error:
        raise JournalError(
            f"{done}, but the journal could not record it ({_one_line(str(error))}); "
            "fix the journal: the kill switch file is what counts"
        ) from None


def start_halt(args: argparse.Namespace) -> int:
    """Turn the kill switch on: the file first (it is what stops orders), then the journal."""
    config = _config(args)
    switch = kill_switch_for(config)
    before = switch.reason()
    switch.halt(args.reason, datetime.now(UTC))
    account = switch.account
    data = {"path": str(switch.path), "account": account}
    _journal_kill_switch(
        config, f"halted {account}: {args.reason}", data, f"{account} is halted ({switch.path})"
    )
    again = f" (it already was: {before})" if before else ""
    print(
        f"halted {account}: no new orders from the next cycle on{again}. Kill switch "
        f"{switch.path}; `hedgebot resume --config {args.config}` undoes it."
    )
    return 0


def start_resume(args: argparse.Namespace) -> int:
    """Turn the kill switch off (and the legacy shared one, if any)."""
    config = _config(args)
    switch = kill_switch_for(config)
    account = switch.account
    files = [str(p) for p in (switch.path, *switch.also) if p.exists()]
    if not switch.resume():
        print(f"{account} was not halted ({switch.path} does not exist): nothing to do.")
        return 0
    data = {"path": str(switch.path), "removed": files, "account": account}
    _journal_kill_switch(
        config, f"resumed {account}", data, f"{account} is resumed ({', '.join(files)} removed)"
    )
    print(f"resumed {account}: orders allowed from the next cycle on (removed {', '.join(files)}).")
    return 0


def start_emulator(args: argparse.Namespace) -> int:
    """Serve the exchange emulator until interrupted; keys from the environment."""
    from bot.emulator.bybit.standalone import run_bybit_standalone
    from bot.emulator.standalone import run_standalone
    from bot.settings.secrets import KEY_ENV, SECRET_ENV

    assets: list[str] = args.assets if isinstance(args.assets, list) else _assets(args.assets)
    key = os.environ.get(KEY_ENV, "emulator-key")
    secret = os.environ.get(SECRET_ENV, "emulator-secret")
    serve = run_bybit_standalone if args.exchange == "bybit" else run_standalone
    face = "Bybit v5" if args.exchange == "bybit" else "Binance"

    def ready(url: str) -> None:
        print(f"{face} emulator on {url} ({', '.join(assets)}); Ctrl-C stops", flush=True)

    try:
        asyncio.run(
            serve(args.data_dir, assets, args.port, key, secret, args.speed, on_ready=ready)
        )
    except KeyboardInterrupt:
        return 0
    return 0


def _row(item: Any) -> dict[str, Any]:
    data: dict[str, Any] = asdict(item) if is_dataclass(item) and not isinstance(item, type) else {}
    return {k: to_jsonable(v) for k, v in data.items()}


def start_journal(args: argparse.Namespace) -> int:
    """List fills, funding payments, rebalances or orders."""
    from bot.cli.commands.status import resolve_venue

    config = _config(args)
    with _journal_to_read(config) as journal:
        venue = resolve_venue(journal, args.venue, mask_url(config.journal.url))
        listing: dict[str, Callable[..., Sequence[Any]]] = {
            "fills": journal.fills,
            "funding": journal.funding,
            "rebalances": journal.rebalances,
            "orders": journal.orders,
        }
        rows = [_row(item) for item in listing[args.what](args.limit or None, venue=venue)]
    if args.csv:
        names = list(rows[0]) if rows else []
        writer = csv.DictWriter(sys.stdout, fieldnames=names)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: json.dumps(v) if isinstance(v, dict) else v for k, v in row.items()}
            )
        return 0
    from bot.cli.commands.status import journal_table

    print(journal_table(args.what, rows))
    return 0


_SECRET_NAME = re.compile(r"(key|secret|password|token|passphrase)", re.IGNORECASE)


def mask_secrets(value: Any, name: str = "") -> Any:
    """Return ``value`` with secret-looking fields replaced by ``***`` and secrets masked."""
    if isinstance(value, dict):
        return {k: mask_secrets(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(v, name) for v in value]
    if isinstance(value, str):
        if _SECRET_NAME.search(name) and value:
            return "***"
        return mask_url(value)
    if isinstance(value, Decimal):
        return str(value)
    return value


def start_check_config(args: argparse.Namespace) -> int:
    """Validate a config file and print the effective configuration."""
    config = _load(args.file)
    effective = mask_secrets(config.model_dump(mode="json"))
    print(f"# {args.file}: valid")
    print(json.dumps(effective, indent=2, sort_keys=False))
    return 0


# -- one line per failure -----------------------------------------------------------------------
def _one_line(message: str) -> str:
    """Return ``message`` on one line: SQL noise dropped, listed items joined with ``;``."""
    lines = [line.strip() for line in message.splitlines()]
    kept = [line for line in lines if line and not line.startswith(_NOISE)]
    if not kept:
        return "(no message)"
    text = kept[0]
    for line in kept[1:]:
        item = line.removeprefix("- ")
        text += (" " if text.endswith(":") else "; ") + item
    return text


def _describe(error: BaseException) -> str:
    """Return the one line that names ``error`` and its fix."""
    if isinstance(error, AuthError):
        return (
            f"the exchange refused the API keys: {_one_line(str(error))}. Authentication and "
            "permission errors are not transient: nothing was retried. Check HEDGEBOT_API_KEY / "
            "HEDGEBOT_API_SECRET (or exchange.secrets_file), that the key may trade USDⓈ-M "
            "futures, and its IP allow-list"
        )
    if isinstance(error, HedgebotError):
        text = _one_line(str(error))
        if isinstance(error, JournalError) and any(m in text.lower() for m in _DISK_FULL):
            text += "; is its disk full? free some space, or pass --journal elsewhere"
        elif isinstance(error, JournalError) and text.startswith("cannot open journal"):
            text += "; check --journal / journal.url"
        return text
    if isinstance(error, OSError):
        name = f" {error.filename}" if error.filename else ""
        why = error.strerror or str(error)
        if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            fix = "free some space on that disk, or point the journal and var/ elsewhere"
        elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            fix = "make it writable, or point the journal and var/ elsewhere"
        else:
            fix = "check that path"
        return f"cannot use{name}: {why}; {fix}"
    return (
        f"unexpected {type(error).__name__}: {_one_line(str(error))}. This is a bug: run again "
        "with -v for the traceback and report it"
    )


def _fail(error: BaseException, code: int, verbose: bool) -> int:
    print(f"hedgebot: {mask(_describe(error))}", file=sys.stderr, flush=True)
    if verbose and code == EXIT_BUG:
        traceback.print_exception(error, file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `hedgebot` console script."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # --help, or a usage error already said in one line
        return done.code if isinstance(done.code, int) else 2
    verbose = bool(getattr(args, "verbose", False))
    configure_logging(verbose, getattr(args, "log_json", False))
    if getattr(args, "quiet", False):
        quiet_console()  # -q: errors only on stderr (a --log-file still takes INFO)
    use_color(wants_color(getattr(args, "no_color", False), sys.stdout, os.environ))
    try:
        return int(args.handler(args))
    except HedgebotError as error:
        return _fail(error, error.exit_code, verbose)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as error:  # a full disk, a read-only directory: one line, no traceback
        return _fail(error, 2, verbose)
    except Exception as error:  # the last resort: one line, never a traceback
        log.debug("unexpected error", exc_info=True)
        return _fail(error, EXIT_BUG, verbose)
    finally:
        use_color(False)  # the mode was this command's: text rendered after it is plain

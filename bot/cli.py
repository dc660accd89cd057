"""The `hedgebot` command line: run · rebalance · status · journal · check-config."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import re
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bot.config import Config, load_config
from bot.errors import HedgebotError
from bot.journal.lease import LeaseError
from bot.journal.records import to_jsonable
from bot.journal.store import Journal
from bot.logs import configure_logging

DEFAULT_CONFIG = "config/paper.toml"


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", default=DEFAULT_CONFIG, help="TOML config file")
    parser.add_argument("--journal", help="journal URL (overrides journal.url)")
    parser.add_argument("--verbose", "-v", action="store_true", help="log at INFO level")
    parser.add_argument("--log-json", action="store_true", help="log JSON lines (for collectors)")


def _add_paper(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        help="history CSV directory for paper replay (default: paper.data_dir, then "
        "$HEDGEBOT_DATA_DIR; none = simulated market)",
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of every command."""
    parser = argparse.ArgumentParser(
        prog="hedgebot",
        description="Insure a crypto spot portfolio with short USDT-margined perps.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="keep the hedge, cycle after cycle")
    _add_common(run)
    _add_paper(run)
    run.add_argument(
        "--speed",
        type=float,
        default=0.0,
        help="paper replay: simulated seconds per wall second (0 = flat out)",
    )
    run.add_argument("--max-cycles", type=int, help="stop after this many cycles")
    run.add_argument("--quiet", "-q", action="store_true", help="print only the summary")
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
    journal.add_argument("--limit", type=int, default=50, help="latest N rows (0 = all)")
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
        "emulator", help="serve an emulated Binance USDⓈ-M account on 127.0.0.1 (offline testing)"
    )
    emulator.add_argument("--data-dir", help="history to replay (default: simulated market)")
    emulator.add_argument("--assets", default="BTC,ETH,ADA,XRP,LTC", help="comma-separated")
    emulator.add_argument("--port", type=int, default=8765)
    emulator.add_argument("--speed", type=float, default=1.0, help="replay s per wall second")
    emulator.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    emulator.set_defaults(handler=start_emulator)

    backtest = commands.add_parser(
        "backtest", help="replay history: hedged vs unhedged, metrics, plots"
    )
    _add_common(backtest)
    _add_paper(backtest)
    backtest.add_argument("--from", dest="since", type=_utc, help="start, e.g. 2022-01-01")
    backtest.add_argument("--to", dest="until", type=_utc, help="end, e.g. 2023-01-01")
    backtest.add_argument("--window", help="named crash window, e.g. november-2022 (list: 'list')")
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
    backtest.set_defaults(handler=start_backtest)

    check = commands.add_parser("check-config", help="validate a config and print it")
    check.add_argument("file", help="TOML config file")
    check.set_defaults(handler=start_check_config)
    return parser


def _config(args: argparse.Namespace) -> Config:
    config = load_config(args.config)
    if getattr(args, "journal", None):
        journal = config.journal.model_copy(update={"url": args.journal})
        config = config.model_copy(update={"journal": journal})
    return config


def start_run(args: argparse.Namespace) -> int:
    """Run the loop until the replay ends or a signal arrives."""
    from bot.commands.run import run_loop

    return asyncio.run(run_loop(_config(args), args))


def start_rebalance(args: argparse.Namespace) -> int:
    """Plan once, show, and (after confirmation) place."""
    from bot.commands.rebalance import rebalance_once

    return asyncio.run(rebalance_once(_config(args), args))


def start_status(args: argparse.Namespace) -> int:
    """Show the hedge as the journal last saw it."""
    from bot.commands.status import show_status

    config = _config(args)
    with Journal.open(config.journal.url) as journal:
        print(show_status(journal, args.venue))
    return 0


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def start_report(args: argparse.Namespace) -> int:
    """Print the cost-of-insurance report."""
    from bot.commands.report import show_report

    config = _config(args)
    with Journal.open(config.journal.url) as journal:
        print(show_report(journal, args.venue, args.since, args.until))
    return 0


def start_backtest(args: argparse.Namespace) -> int:
    """Replay history for one or more strategies beside the unhedged portfolio."""
    from bot.commands.backtest import run_backtest

    return run_backtest(_config(args), args)


def start_halt(args: argparse.Namespace) -> int:
    """Turn the kill switch on."""
    from bot.commands.report import halt
    from bot.kill_switch import KillSwitch

    config = _config(args)
    with Journal.open(config.journal.url) as journal:
        switch = KillSwitch(config.risk.kill_switch_file)
        print(halt(switch, journal, args.reason, datetime.now(UTC)))
    return 0


def start_resume(args: argparse.Namespace) -> int:
    """Turn the kill switch off."""
    from bot.commands.report import resume
    from bot.kill_switch import KillSwitch

    config = _config(args)
    with Journal.open(config.journal.url) as journal:
        print(resume(KillSwitch(config.risk.kill_switch_file), journal, datetime.now(UTC)))
    return 0


def start_emulator(args: argparse.Namespace) -> int:
    """Serve the exchange emulator until interrupted; keys from the environment."""
    from bot.emulator.standalone import run_standalone
    from bot.secrets import KEY_ENV, SECRET_ENV

    assets = [a.strip().upper() for a in args.assets.split(",") if a.strip()]
    key = os.environ.get(KEY_ENV, "emulator-key")
    secret = os.environ.get(SECRET_ENV, "emulator-secret")
    print(f"Binance emulator on http://127.0.0.1:{args.port} ({', '.join(assets)}); Ctrl-C stops")
    try:
        asyncio.run(run_standalone(args.data_dir, assets, args.port, key, secret, args.speed))
    except KeyboardInterrupt:
        return 0
    return 0


def _row(item: Any) -> dict[str, Any]:
    data: dict[str, Any] = asdict(item) if is_dataclass(item) and not isinstance(item, type) else {}
    return {k: to_jsonable(v) for k, v in data.items()}


def start_journal(args: argparse.Namespace) -> int:
    """List fills, funding payments, rebalances or orders."""
    from bot.commands.status import latest_venue

    config = _config(args)
    with Journal.open(config.journal.url) as journal:
        venue = args.venue or latest_venue(journal)
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
    from bot.commands.status import journal_table

    print(journal_table(args.what, rows))
    return 0


_SECRET_NAME = re.compile(r"(key|secret|password|token|passphrase)", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(://[^:/@]+:)[^@]+@")


def mask_secrets(value: Any, name: str = "") -> Any:
    """Return ``value`` with secret-looking fields and URL passwords replaced by ``***``."""
    if isinstance(value, dict):
        return {k: mask_secrets(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(v, name) for v in value]
    if isinstance(value, str):
        if _SECRET_NAME.search(name) and value:
            return "***"
        return _URL_PASSWORD.sub(r"\1***@", value)
    if isinstance(value, Decimal):
        return str(value)
    return value


def start_check_config(args: argparse.Namespace) -> int:
    """Validate a config file and print the effective configuration."""
    config = load_config(args.file)
    effective = mask_secrets(config.model_dump(mode="json"))
    print(f"# {args.file}: valid")
    print(json.dumps(effective, indent=2, sort_keys=False))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `hedgebot` console script."""
    args = build_parser().parse_args(argv)
    configure_logging(getattr(args, "verbose", False), getattr(args, "log_json", False))
    try:
        return int(args.handler(args))
    except LeaseError as error:  # another instance runs this account
        print(f"hedgebot: {error}", file=sys.stderr)
        return error.exit_code
    except HedgebotError as error:
        print(f"hedgebot: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def install_stop_signals(stop: asyncio.Event) -> None:
    """Make SIGINT and SIGTERM finish the current step and stop the loop."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - non-Unix
            signal.signal(signum, lambda *_: stop.set())

"""`hedgebot serve`: the status page over a journal, for a bot that is not running here."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from bot.cli.commands.status import resolve_venue
from bot.journal.store import Journal
from bot.observability.access import HttpAccess
from bot.observability.backtests import results_dir
from bot.observability.page import StatusPage
from bot.observability.server import build_app, serving
from bot.observability.state import journal_state
from bot.runtime.kill_switch import kill_switch_for
from bot.settings.config import Config

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def serve_page(page: StatusPage, access: HttpAccess, title: str) -> int:
    """Serve ``page`` (of ``title``) on ``access`` until SIGINT or SIGTERM; return 0."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    try:
        async with serving(build_app(None, access.token, page), access) as bound:
            print(
                f"status page of {title} on {bound.shown}/ (API under {bound.shown}/api/); "
                "Ctrl-C stops",
                flush=True,
            )
            await stop.wait()
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
    return 0


def run_serve(
    config: Config, journal: Journal, venue: str | None, access: HttpAccess, out: str | None
) -> int:
    """Serve the status page of ``venue`` (default: the latest at each read) in ``journal``.

    ``out``: a `hedgebot backtest --out` directory whose results the page also shows.
    """
    shown = resolve_venue(journal, venue, journal.shown_url)
    backtests: Path | None = None if out is None else results_dir(out)
    state = journal_state(journal, kill_switch_for(config))
    page = StatusPage(journal, venue, config.interval_seconds, state, backtests)
    title = shown if venue else f"{shown} (and any later session)"
    return asyncio.run(serve_page(page, access, title))

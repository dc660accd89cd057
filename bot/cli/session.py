"""Wiring: the venue, clock and strategy a command runs the engine with (paper or live)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from bot.core.clock import Clock, WallClock
from bot.core.errors import AuthError, TransientError
from bot.journal.records import RunMode
from bot.settings.config import Config
from bot.sim.paper_account import PaperSetup, build_strategy, open_paper
from bot.venue.base import Venue
from strategies.base import Strategy

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Session:
    """Everything a command needs to run the engine: strategy, venue, clock, mode, labels."""

    strategy: Strategy
    venue: Venue
    clock: Clock
    mode: RunMode
    label: str
    notes: tuple[str, ...] = ()
    paper: PaperSetup | None = None


def open_session(config: Config, data_dir: str | Path | None, speed: float = 0.0) -> Session:
    """Open the configured venue: a paper account on replayed data, or an exchange via ccxt."""
    if config.is_paper:
        strategy, setup = open_paper(config, data_dir, speed)
        return Session(
            strategy,
            setup.venue,
            setup.clock,
            RunMode.PAPER,
            f"paper venue, {setup.data.label}",
            tuple(setup.notes),
            setup,
        )
    from bot.settings.secrets import load_credentials
    from bot.venue.factory import build_ccxt_venue

    venue = build_ccxt_venue(config, load_credentials(config.exchange.secrets_file))
    where = config.exchange.api_url or config.exchange.environment
    return Session(
        build_strategy(config), venue, WallClock(), RunMode.LIVE, f"{venue.name} ({where})"
    )


async def check_access(session: Session) -> None:
    """Make one authenticated read on an exchange before anything else; paper needs none.

    Wrong, revoked or under-privileged keys raise `AuthError` (exit code 5) naming the venue,
    at once: no lease taken, nothing journaled, no retry. A transient failure (network, 5xx) is
    left to the caller's retries.
    """
    if session.paper is not None:
        return
    venue = session.venue
    try:
        await venue.fetch_collateral()
    except AuthError as error:
        raise type(error)(f"{venue.name}: {error}") from None
    except TransientError as error:
        log.warning("could not check the API keys on %s yet (%s); going on", venue.name, error)

"""The bot's state as the status page says it: running or not, halted or not.

`hedgebot run` serves the page itself, so it is running; it says whether its kill switch is on
and whether its last cycle left something to look at again soon. `hedgebot serve` reads the
journal of a bot that may run elsewhere: a live lease on the venue says it does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.journal.store import Journal
from bot.runtime.engine import Engine
from bot.runtime.kill_switch import KillSwitch


@dataclass(frozen=True, slots=True)
class BotState:
    """Running or not (and how that is known), the kill switch's reason, a recheck due soon."""

    running: bool
    detail: str
    halted: str | None = None
    sooner: bool = False
    """The last cycle left an order in flight or a doubt: the loop looks again within seconds."""

    def switch_line(self, config_file: str) -> str:
        """Say the kill switch as `hedgebot status` prints it: off, or on, why and the way out."""
        if self.halted is None:
            return "kill switch: off"
        resume = f"`hedgebot resume --config {config_file}`"
        return f"kill switch: ON — {self.halted}; {resume} lifts it"


StateSource = Callable[[str], BotState]
"""Reads the state of a venue's bot now (in a worker thread: it may read files and the journal)."""


def running_state(engine: Engine) -> StateSource:
    """Return the state of the bot that runs ``engine`` and serves the page."""

    def state(_venue: str) -> BotState:
        return BotState(
            True,
            "running: `hedgebot run` serves this page",
            engine.kill_switch.reason(),
            engine.needs_recheck,
        )

    return state


def journal_state(
    journal: Journal,
    switch: KillSwitch,
    wall: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> StateSource:
    """Return the state of a venue's bot as its journal lease and ``switch`` tell it."""

    def state(venue: str) -> BotState:
        lease = journal.lease(venue).current()
        halted = switch.reason()
        if lease is not None and lease.live_at(wall()):
            renewed = f"{lease.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC"
            return BotState(True, f"running elsewhere: its lease was renewed at {renewed}", halted)
        return BotState(False, "not running: `hedgebot serve` shows its journal", halted)

    return state

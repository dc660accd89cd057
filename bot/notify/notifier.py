"""The `Notifier`: alerts through each target's `Gate` to background sends that never block.

`Notifier.notify` returns at once: every send runs in a task of its own, bounded by the timeout;
a target that does not take a message is logged (by its label, never its URL) and sent it again
after ``retry_after`` seconds, up to ``retries`` times (`retry_due`, called after each cycle).
`drain` waits a bounded time for the sends in flight, for the last words of a run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from bot.notify.alerts import Alert
from bot.notify.gate import Gate
from bot.notify.targets import Target
from bot.notify.watch import JournalWatch
from bot.settings.config import NotifyConfig
from bot.settings.secrets import mask

log = logging.getLogger(__name__)

Send = Callable[[Target, Alert, float], Awaitable[bool]]
"""Send one alert to one target within a timeout; return whether it was taken."""


@dataclass(frozen=True, slots=True)
class _Retry:
    due: float
    target: Target
    alert: Alert
    attempt: int


class Notifier:
    """Fans alerts out to targets in background tasks; dedup, rate limit and retries per target."""

    def __init__(
        self,
        targets: Sequence[Target],
        config: NotifyConfig,
        *,
        timeout: float | None = None,
        retry_after: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        send: Send | None = None,
    ) -> None:
        """Set up one gate per target; ``timeout`` and ``retry_after`` override the config's.

        ``send`` replaces apprise (tests); ``clock`` gives seconds for the gates and retries.
        """
        self.targets = tuple(targets)
        self.timeout = float(config.timeout_seconds if timeout is None else timeout)
        self.retry_after = float(config.retry_seconds if retry_after is None else retry_after)
        self.retries = config.retries
        self.clock = clock
        self._send = send
        self.gates = {
            t.label: Gate(
                t.min_severity, config.dedup_seconds, config.rate_limit, config.rate_window_seconds
            )
            for t in self.targets
        }
        self._tasks: set[asyncio.Task[None]] = set()
        self._retries: list[_Retry] = []
        self.sent: list[tuple[str, str]] = []
        """(target label, alert key) of every message a target took, oldest first."""

    def check(self) -> None:
        """Raise `ConfigError` when apprise cannot use a target's URL (loads apprise)."""
        from bot.notify.sender import check_target

        for target in self.targets:
            check_target(target)

    def notify(self, alert: Alert) -> None:
        """Send ``alert`` in the background to every target whose gate lets it through."""
        now = self.clock()
        alert = alert.masked()
        for target in self.targets:
            gate = self.gates[target.label]
            if gate.admit(alert, now):
                held = gate.take_held_back()
                shown = alert
                if held:
                    note = f"\n({held} earlier alert(s) held back by the rate limit)"
                    shown = replace(alert, body=alert.body + note)
                self._spawn(target, shown, 1)

    def retry_due(self) -> None:
        """Send again, in the background, the messages whose retry time has come."""
        now = self.clock()
        due = [r for r in self._retries if r.due <= now]
        self._retries = [r for r in self._retries if r.due > now]
        for retry in due:
            self._spawn(retry.target, retry.alert, retry.attempt)

    @property
    def pending(self) -> int:
        """Return how many sends are in flight or waiting for a retry."""
        return len(self._tasks) + len(self._retries)

    async def drain(self, seconds: float | None = None) -> None:
        """Wait up to ``seconds`` (default: the send timeout) for the sends in flight."""
        if self._tasks:
            limit = self.timeout if seconds is None else seconds
            await asyncio.wait(set(self._tasks), timeout=limit)

    def _spawn(self, target: Target, alert: Alert, attempt: int) -> None:
        """Start a send in a task kept referenced until it ends (failures are logged)."""
        task = asyncio.get_running_loop().create_task(
            self._deliver(target, alert, attempt), name=f"notify {target.label}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, target: Target, alert: Alert, attempt: int) -> None:
        send = self._send if self._send is not None else _apprise()
        try:
            taken = await asyncio.wait_for(send(target, alert, self.timeout), self.timeout)
        except TimeoutError:
            taken, why = False, f"no answer in {self.timeout:g} s"
        except Exception as error:  # a broken target must never break the bot
            taken, why = False, mask(f"{type(error).__name__}: {error}")
        else:
            why = "refused or unreachable"
        if taken:
            self.sent.append((target.label, alert.key))
            return
        if attempt <= self.retries:
            due = self.clock() + self.retry_after
            self._retries.append(_Retry(due, target, alert, attempt + 1))
            log.warning(
                "notify target %s did not take %r (%s); retrying in %g s",
                target.label,
                alert.title,
                why,
                self.retry_after,
            )
        else:
            log.error(
                "notify target %s did not take %r (%s) after %d attempts; dropped",
                target.label,
                alert.title,
                why,
                attempt,
            )


def _apprise() -> Send:
    """Return the apprise sender, importing apprise on first use."""
    from bot.notify.sender import send

    return send


def tell_new(notifier: Notifier, watch: JournalWatch) -> None:
    """After a cycle: alert on the new journal rows and the digest when due; retry what is due.

    A journal that cannot be read is logged: alerts never break a cycle.
    """
    try:
        alerts = watch.new_alerts()
        digest = watch.digest_due()
    except Exception as error:  # the cycle goes on whatever the alerts' reads do
        log.warning("alerts could not read the journal: %s", mask(str(error)))
        alerts, digest = [], None
    for alert in [*alerts, *([digest] if digest is not None else [])]:
        notifier.notify(alert)
    notifier.retry_due()

"""Sending one alert to one target through apprise, within a timeout.

apprise (~0.2 s to import) is loaded with this module, which `bot.notify.notifier` imports only
when a message is first sent. apprise's own socket timeouts are set to the send timeout, so a
worker thread it leaves behind ends soon after too.
"""

from __future__ import annotations

import asyncio
import logging

import apprise

from bot.core.errors import ConfigError
from bot.notify.alerts import Alert, Severity
from bot.notify.targets import Target

log = logging.getLogger(__name__)

_TYPES = {
    Severity.INFO: apprise.NotifyType.INFO,
    Severity.WARNING: apprise.NotifyType.WARNING,
    Severity.ERROR: apprise.NotifyType.FAILURE,
    Severity.CRITICAL: apprise.NotifyType.FAILURE,
}


def check_target(target: Target) -> None:
    """Raise `ConfigError` when apprise does not know ``target``'s URL (named by its label)."""
    if apprise.Apprise.instantiate(target.url.get_secret_value()) is None:
        raise ConfigError(
            f"notify target {target.label}: apprise cannot use this URL (unknown scheme or a "
            "part missing); see https://github.com/caronc/apprise/wiki for the URL of a service"
        )


async def send(target: Target, alert: Alert, within: float) -> bool:
    """Send ``alert`` to ``target``; return whether it was taken, False after ``within`` s."""
    service = apprise.Apprise.instantiate(target.url.get_secret_value())
    if service is None:
        log.error("notify target %s: apprise cannot use its URL", target.label)
        return False
    service.socket_connect_timeout = within
    service.socket_read_timeout = within
    sender = apprise.Apprise()
    sender.add(service)
    try:
        result = await asyncio.wait_for(
            sender.async_notify(
                body=alert.body, title=alert.title, notify_type=_TYPES[alert.severity]
            ),
            within,
        )
    except TimeoutError:
        return False
    return bool(result)

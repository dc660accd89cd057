"""`hedgebot notify`: list the alert targets (by number and scheme), or `--test` every one."""

from __future__ import annotations

import argparse
import asyncio
import logging

from bot.core.errors import ConfigError, NothingToShow
from bot.notify.alerts import Alert, Severity
from bot.notify.sender import check_target, send
from bot.notify.targets import Target, parse_targets
from bot.settings.config import Config
from bot.settings.secrets import NOTIFY_ENV, load_notify_urls, mask

log = logging.getLogger(__name__)


def configured_targets(config: Config) -> tuple[Target, ...]:
    """Return the targets of the environment or the secrets file; say how to set them if none."""
    entries = load_notify_urls(config.exchange.secrets_file)
    targets = parse_targets(entries, Severity.named(config.notify.min_severity))
    if not targets:
        raise ConfigError(
            f"no notify targets: set {NOTIFY_ENV} to apprise URLs (space-separated, e.g. "
            "tgram://TOKEN/CHAT_ID, optionally LEVEL=URL) or put notify_urls in the secrets file"
        )
    for target in targets:
        check_target(target)
    return targets


async def _try(target: Target, alert: Alert, within: float) -> bool:
    try:
        return await send(target, alert, within)
    except Exception as error:  # one line per target, whatever apprise raised
        log.warning("notify target %s: %s", target.label, mask(f"{type(error).__name__}: {error}"))
        return False


async def send_test(config: Config, targets: tuple[Target, ...]) -> list[bool]:
    """Send one test message to every target, whatever its level; return which took it."""
    account = f"{config.exchange.name}:{config.exchange.account}"
    alert = Alert(
        "test",
        Severity.INFO,
        f"hedgebot test message ({account})",
        "If you read this, hedgebot's alerts reach you here.",
        "test",
    )
    timeout = float(config.notify.timeout_seconds)
    return list(await asyncio.gather(*(_try(t, alert, timeout) for t in targets)))


def run_notify(config: Config, args: argparse.Namespace) -> int:
    """List the targets, or send the test message to each (exit 1 when one did not take it)."""
    targets = configured_targets(config)
    if not args.test:
        for target in targets:
            print(f"notify target {target.label}: {target.min_severity.name.lower()} and above")
        return 0
    taken = asyncio.run(send_test(config, targets))
    for target, ok in zip(targets, taken, strict=True):
        print(f"notify target {target.label}: {'sent' if ok else 'FAILED'}")
    failed = [t.label for t, ok in zip(targets, taken, strict=True) if not ok]
    if failed:
        raise NothingToShow(
            f"{len(failed)} of {len(targets)} notify targets did not take the test message "
            f"({', '.join(failed)}); check the URL, the service and the network (-v says more)"
        )
    return 0

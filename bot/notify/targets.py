"""Alert targets: ``[LEVEL=]URL`` entries (from `bot.settings.secrets.load_notify_urls`) (pure).

``URL`` is an apprise URL (``tgram://TOKEN/CHAT``, ``json://host:port/path``…); ``LEVEL`` (info,
warning, error, critical) is the least severity that target gets, else ``notify.min_severity``.
A target is shown only by its number and scheme: its URL carries a token.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import SecretStr

from bot.core.errors import ConfigError
from bot.notify.alerts import Severity
from bot.settings.secrets import NOTIFY_ENV

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://\S+$")
_LEVEL = re.compile(r"^([A-Za-z]+)=(?=[A-Za-z][A-Za-z0-9+.-]*://)")


@dataclass(frozen=True, slots=True)
class Target:
    """One place alerts go: its URL (a secret), its floor, and how it is named in output."""

    url: SecretStr
    min_severity: Severity
    label: str


def parse_targets(entries: Sequence[str], default: Severity) -> tuple[Target, ...]:
    """Return the targets of ``entries``; raise `ConfigError` naming a bad one (never its URL)."""
    targets = []
    for number, entry in enumerate(entries, 1):
        where = f"notify target {number} (from {NOTIFY_ENV} or notify_urls)"
        level, url = default, entry
        found = _LEVEL.match(entry)
        if found is not None:
            try:
                level = Severity.named(found.group(1))
            except ValueError as error:
                raise ConfigError(f"{where}: {error}, as in error=tgram://…") from None
            url = entry[found.end() :]
        match = _URL.match(url)
        if match is None:
            raise ConfigError(
                f"{where} is not a URL; write SCHEME://…, e.g. tgram://TOKEN/CHAT_ID or "
                "json://host:port/path, optionally after LEVEL= (e.g. error=…)"
            )
        targets.append(Target(SecretStr(url), level, f"#{number} {match.group(1).lower()}"))
    return tuple(targets)

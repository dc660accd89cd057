"""Who may read the bot's HTTP endpoints: the bind address and the bearer token (pure, no I/O)."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

from bot.core.errors import ConfigError
from bot.settings.secrets import remember

TOKEN_ENV = "HEDGEBOT_HTTP_TOKEN"
"""The environment variable that holds the bearer token (safer than ``--http-token``)."""
MIN_TOKEN_LENGTH = 16
"""The shortest token accepted: anything shorter is guessed, whatever the bind address."""
MAKE_TOKEN = 'python -c "import secrets; print(secrets.token_urlsafe(24))"'
"""The command the refusal of a weak token suggests."""


@dataclass(frozen=True, slots=True)
class HttpAccess:
    """Where to serve and the token a request must bear (None: none, loopback only)."""

    host: str
    port: int
    token: str | None = None

    @property
    def shown(self) -> str:
        """Return the address as a URL, without the token."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def parse_address(text: str) -> tuple[str, int]:
    """Parse ``HOST:PORT`` (``[::1]:9108`` for IPv6; a bare port binds 127.0.0.1); port 0: any."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = "127.0.0.1", text
    host = host.removeprefix("[").removesuffix("]") or "127.0.0.1"
    if not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"{text!r}: write HOST:PORT, e.g. 127.0.0.1:9108")
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    """Return True for ``localhost`` and loopback IP addresses."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def http_access(address: tuple[str, int], token: str | None) -> HttpAccess:
    """Return the access for ``address``; the token is ``token`` or `TOKEN_ENV`, and masked.

    A non-loopback address without a token is refused (`ConfigError`): the metrics and the
    status page tell the account's size and positions. So is a weak token (`check_token`).
    """
    token = token or os.environ.get(TOKEN_ENV) or None
    if token is not None:
        check_token(token)  # before `remember`: a space remembered would mask every space
    remember(token)
    host, port = address
    if token is None and not is_loopback(host):
        raise ConfigError(
            f"--http {host}:{port} is not a loopback address; serving the metrics and the status "
            f"page there needs a token: set {TOKEN_ENV} (or --http-token), or bind 127.0.0.1"
        )
    return HttpAccess(host, port, token)


def check_token(token: str) -> None:
    """Refuse (`ConfigError`) a token with whitespace or shorter than `MIN_TOKEN_LENGTH`.

    The message never shows the token.
    """
    if len(token) < MIN_TOKEN_LENGTH or any(char.isspace() for char in token):
        raise ConfigError(
            f"the HTTP token ({TOKEN_ENV} or --http-token) must be at least {MIN_TOKEN_LENGTH} "
            f"characters without whitespace; make one with: {MAKE_TOKEN}"
        )

"""Point a ccxt client at another host (an exchange emulator), keeping every API path."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit


def point_at(exchange: Any, base_url: str) -> None:
    """Send every API of ``exchange`` to ``base_url``'s scheme and host, keeping the paths."""
    target = urlsplit(base_url)

    def rewrite(entry: Any) -> Any:
        if isinstance(entry, str):
            parts = urlsplit(entry)
            return urlunsplit((target.scheme, target.netloc, parts.path, parts.query, ""))
        if isinstance(entry, dict):
            return {key: rewrite(value) for key, value in entry.items()}
        return entry

    exchange.urls["api"] = rewrite(exchange.urls["api"])

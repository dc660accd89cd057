"""API keys, and the one place where secrets are masked in anything hedgebot prints or writes.

API keys come from the environment or a secrets file, never from a config in the repository.
Order of precedence: ``HEDGEBOT_API_KEY`` / ``HEDGEBOT_API_SECRET``, then a TOML secrets file
(``exchange.secrets_file`` or ``HEDGEBOT_SECRETS_FILE``) holding ``api_key`` and ``api_secret``.
Alert targets (apprise URLs, which carry tokens) come the same way: ``HEDGEBOT_NOTIFY_URLS``
(entries separated by whitespace), then ``notify_urls`` (a string or a list) in the secrets file.
The file should be readable by its owner only; a warning says so otherwise. Values are kept in
pydantic `SecretStr`, whose ``repr`` and ``str`` print ``**********``.

Masking (`mask`, `mask_url`): every message that may carry a secret (journal and lease errors,
log lines, the journal URL shown by `run`) goes through `mask`, which replaces

* the password field of any URL (``postgresql://user:PASSWORD@host``) with ``***``, and
* each *known* secret: the API key and secret loaded here or set in the environment, and the
  password of every journal URL opened (`remember`). A secret of at least
  `SUBSTRING_MIN_LENGTH` characters is replaced wherever it occurs; a shorter one only where it
  stands as a whole token (not inside a longer word), so a password ``p`` never turns
  ``cannot open journal`` into ``cannot o***en journal``.

Nothing else is changed.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.core.errors import ConfigError

log = logging.getLogger(__name__)

KEY_ENV = "HEDGEBOT_API_KEY"
SECRET_ENV = "HEDGEBOT_API_SECRET"
FILE_ENV = "HEDGEBOT_SECRETS_FILE"
NOTIFY_ENV = "HEDGEBOT_NOTIFY_URLS"
MASK = "***"
SUBSTRING_MIN_LENGTH = 12
"""Secrets this long are masked wherever they occur; shorter ones only as whole tokens."""

_URL_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*:)([^@/\s]*)@")
_known: set[str] = set()
_known_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class ApiCredentials:
    """An exchange API key pair."""

    key: SecretStr
    secret: SecretStr


def remember(secret: str | None) -> None:
    """Mask ``secret`` (and its URL-quoted forms) in everything `mask` sees from now on."""
    if not secret:
        return
    with _known_lock:
        _known.update(form for form in (secret, quote(secret, safe=""), quote_plus(secret)) if form)


def known_secrets() -> frozenset[str]:
    """Return the secrets `mask` replaces: those remembered and the API keys in the environment."""
    with _known_lock:
        known = set(_known)
    known.update(value for name in (KEY_ENV, SECRET_ENV) if (value := os.environ.get(name)))
    return frozenset(known)


def url_password(url: str) -> str | None:
    """Return the password field of ``url`` (``scheme://user:password@host``), if any."""
    try:
        password = make_url(url).password
    except (ArgumentError, ValueError, TypeError):
        match = _URL_PASSWORD.search(url)
        return match.group(2) if match else None
    return None if password is None else str(password)


def _pattern(secret: str) -> re.Pattern[str]:
    if len(secret) >= SUBSTRING_MIN_LENGTH:
        return re.compile(re.escape(secret))
    return re.compile(rf"(?<![\w]){re.escape(secret)}(?![\w])")


def mask(text: str, *secrets: str | None) -> str:
    """Return ``text`` with URL passwords and every known secret (and ``secrets``) as ``***``."""
    text = _URL_PASSWORD.sub(rf"\1{MASK}@", text)
    candidates = known_secrets() | {s for s in secrets if s}
    for secret in sorted(candidates, key=len, reverse=True):  # longest first: no partial leftovers
        if secret != MASK and secret in text:
            text = _pattern(secret).sub(MASK, text)
    return text


def mask_url(url: str) -> str:
    """Return ``url`` fit to print: its password field (and any known secret) masked."""
    return mask(url, url_password(url))


def _read_secrets(path: Path) -> dict[str, Any]:
    try:
        mode = path.stat().st_mode
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"secrets file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"secrets file {path} is not valid TOML: {error}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("secrets file %s is readable by others; run: chmod 600 %s", path, path)
    return data


def _from_file(path: Path) -> ApiCredentials:
    data = _read_secrets(path)
    missing = [k for k in ("api_key", "api_secret") if not data.get(k)]
    if missing:
        raise ConfigError(f"secrets file {path} lacks {', '.join(missing)}")
    return _credentials(str(data["api_key"]), str(data["api_secret"]))


def _credentials(key: str, secret: str) -> ApiCredentials:
    remember(key)
    remember(secret)
    return ApiCredentials(SecretStr(key), SecretStr(secret))


def load_credentials(secrets_file: str | None) -> ApiCredentials:
    """Return the API key pair from the environment or the secrets file; say how to set it.

    Both values are remembered for `mask` from here on.
    """
    key, secret = os.environ.get(KEY_ENV), os.environ.get(SECRET_ENV)
    if key and secret:
        return _credentials(key, secret)
    path = secrets_file or os.environ.get(FILE_ENV)
    if path:
        return _from_file(Path(path).expanduser())
    raise ConfigError(
        f"no API keys: set {KEY_ENV} and {SECRET_ENV}, or point exchange.secrets_file "
        f"(or {FILE_ENV}) to a TOML file with api_key and api_secret (chmod 600)"
    )


_URL_PART = re.compile(r"[/?&=:@#]+")
_HOST_NAME = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def _remember_notify_url(entry: str) -> None:
    """Remember an alert URL whole and each part of it that may be a token.

    A part counts as a token at 8 or more characters when it is not a dotted host name and has a
    digit or 16 or more characters: apprise writes a URL's parts apart in its logs.
    """
    remember(entry)
    for part in _URL_PART.split(entry.partition("://")[2]):
        token_like = len(part) >= 16 or any(ch.isdigit() for ch in part)
        if len(part) >= 8 and token_like and not _HOST_NAME.match(part):
            remember(part)


def load_notify_urls(secrets_file: str | None) -> list[str]:
    """Return the alert target entries from the environment or the secrets file (maybe none).

    Each entry is remembered for `mask`, whole and by its token-like parts.
    """
    entries = os.environ.get(NOTIFY_ENV, "").split()
    path = secrets_file or os.environ.get(FILE_ENV)
    if not entries and path:
        data = _read_secrets(Path(path).expanduser())
        urls = data.get("notify_urls", [])
        entries = urls.split() if isinstance(urls, str) else [str(url) for url in urls]
    for entry in entries:
        _remember_notify_url(entry)
    return entries

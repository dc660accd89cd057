"""API keys: from the environment or a secrets file, never from a config in the repository.

Order of precedence: ``HEDGEBOT_API_KEY`` / ``HEDGEBOT_API_SECRET``, then a TOML secrets file
(``exchange.secrets_file`` or ``HEDGEBOT_SECRETS_FILE``) holding ``api_key`` and ``api_secret``.
The file should be readable by its owner only; a warning says so otherwise. Values are kept in
pydantic `SecretStr`, whose ``repr`` and ``str`` print ``**********``.
"""

from __future__ import annotations

import logging
import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from bot.errors import ConfigError

log = logging.getLogger(__name__)

KEY_ENV = "HEDGEBOT_API_KEY"
SECRET_ENV = "HEDGEBOT_API_SECRET"
FILE_ENV = "HEDGEBOT_SECRETS_FILE"


@dataclass(frozen=True, slots=True)
class ApiCredentials:
    """An exchange API key pair."""

    key: SecretStr
    secret: SecretStr


def _from_file(path: Path) -> ApiCredentials:
    try:
        mode = path.stat().st_mode
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"secrets file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"secrets file {path} is not valid TOML: {error}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("secrets file %s is readable by others; run: chmod 600 %s", path, path)
    missing = [k for k in ("api_key", "api_secret") if not data.get(k)]
    if missing:
        raise ConfigError(f"secrets file {path} lacks {', '.join(missing)}")
    return ApiCredentials(SecretStr(str(data["api_key"])), SecretStr(str(data["api_secret"])))


def load_credentials(secrets_file: str | None) -> ApiCredentials:
    """Return the API key pair from the environment or the secrets file; say how to set it."""
    key, secret = os.environ.get(KEY_ENV), os.environ.get(SECRET_ENV)
    if key and secret:
        return ApiCredentials(SecretStr(key), SecretStr(secret))
    path = secrets_file or os.environ.get(FILE_ENV)
    if path:
        return _from_file(Path(path).expanduser())
    raise ConfigError(
        f"no API keys: set {KEY_ENV} and {SECRET_ENV}, or point exchange.secrets_file "
        f"(or {FILE_ENV}) to a TOML file with api_key and api_secret (chmod 600)"
    )

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.core.errors import ConfigError
from bot.settings.secrets import FILE_ENV, KEY_ENV, SECRET_ENV, load_credentials


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (KEY_ENV, SECRET_ENV, FILE_ENV):
        monkeypatch.delenv(name, raising=False)


def write_secrets(tmp_path: Path, mode: int) -> Path:
    path = tmp_path / "secrets.toml"
    path.write_text('api_key = "file-key"\napi_secret = "file-secret"\n')
    path.chmod(mode)
    return path


def test_environment_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "env-key")
    monkeypatch.setenv(SECRET_ENV, "env-secret")
    credentials = load_credentials(str(write_secrets(tmp_path, 0o600)))
    assert credentials.key.get_secret_value() == "env-key"
    assert credentials.secret.get_secret_value() == "env-secret"


def test_owner_only_file_is_read_silently(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        credentials = load_credentials(str(write_secrets(tmp_path, 0o600)))
    assert credentials.secret.get_secret_value() == "file-secret"
    assert not caplog.records


def test_group_readable_file_warns_without_printing_the_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FILE_ENV, str(write_secrets(tmp_path, 0o644)))
    with caplog.at_level(logging.WARNING):
        credentials = load_credentials(None)
    assert "chmod 600" in caplog.text and "file-secret" not in caplog.text
    assert "file-secret" not in repr(credentials) and "file-secret" not in str(credentials)


def test_no_keys_anywhere_says_how_to_provide_them() -> None:
    with pytest.raises(ConfigError, match=KEY_ENV):
        load_credentials(None)


def test_incomplete_file_names_what_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "secrets.toml"
    path.write_text('api_key = "only-key"\n')
    with pytest.raises(ConfigError, match="api_secret"):
        load_credentials(str(path))

"""PostgreSQL URLs of the journal, and the test session's PostgreSQL fixture itself."""

from __future__ import annotations

from pathlib import Path

import pytest

import tests.postgres
from bot.journal.store import Journal
from bot.journal.urls import database_url
from tests.postgres import URL_ENV, PostgresServer, Unavailable, postgres_server


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://bot:pw@db:5432/hedge", "postgresql+psycopg"),
        ("postgres://bot:pw@db/hedge", "postgresql+psycopg"),
        ("postgresql+psycopg://bot:pw@db/hedge", "postgresql+psycopg"),
        ("postgresql+psycopg2://bot:pw@db/hedge", "postgresql+psycopg2"),  # explicit: kept
        ("sqlite:///var/journal.sqlite", "sqlite"),
    ],
)
def test_plain_postgresql_urls_mean_psycopg_3(url: str, driver: str) -> None:
    parsed = database_url(url)
    assert parsed.drivername == driver
    assert parsed.password in (None, "pw")


@pytest.mark.postgres
def test_journal_opens_a_plain_postgresql_url(postgres: PostgresServer) -> None:
    url = postgres.new_database().replace("postgresql+psycopg://", "postgresql://")
    with Journal.open(url) as journal:
        assert journal._engine.dialect.driver == "psycopg"
        assert journal.totals().fills == 0


def test_without_binaries_or_url_the_server_is_unavailable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(URL_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(tests.postgres, "SEARCH", ())
    assert tests.postgres.find_binaries() is None
    with pytest.raises(Unavailable, match="PostgreSQL not found"), postgres_server():
        pass

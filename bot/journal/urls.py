"""Journal URLs: the one place a configured URL becomes SQLAlchemy's."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url


def database_url(url: str) -> URL:
    """Parse ``url``; plain ``postgresql://`` (or ``postgres://``) means psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed

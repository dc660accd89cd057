"""The service files: what the image leaves out, the compose health check, the systemd unit."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def ignored(path: str, patterns: list[str]) -> bool:
    """Return True when a `.dockerignore` pattern (last match wins, ``!`` re-includes) drops it."""
    parts = path.split("/")
    dropped = False
    for pattern in patterns:
        keep = pattern.startswith("!")
        pattern = pattern.removeprefix("!").removeprefix("**/").rstrip("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        if any(fnmatch.fnmatch(p, pattern) for p in prefixes + parts):
            dropped = not keep
    return dropped


def dockerignore() -> list[str]:
    text = (REPO / ".dockerignore").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def test_the_image_leaves_out_journals_secrets_and_build_output() -> None:
    patterns = dockerignore()
    for path in (
        "var/hedgebot.sqlite",
        "var/hedgebot.halt",
        "hedgebot.sqlite",
        "hedgebot.sqlite-wal",
        "config/old.sqlite",
        ".env",
        "binance.secrets.toml",
        "secrets.toml",
        "config/secrets-live.toml",
        ".git/HEAD",
        ".venv/bin/python",
        "build/lib/bot/__init__.py",
        "hedgebot.egg-info/PKG-INFO",
        "bot/__pycache__/x.pyc",
        ".mypy_cache/3.11/x.json",
    ):
        assert ignored(path, patterns), path
    for path in ("bot/cli/main.py", "strategies/static.py", "config/paper.toml", "pyproject.toml"):
        assert not ignored(path, patterns), path


def test_compose_runs_the_bot_with_postgres_and_checks_healthz() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    bot, postgres = compose["services"]["bot"], compose["services"]["postgres"]
    assert "postgres" in bot["depends_on"] and postgres["volumes"]
    assert any("/app/var" in volume for volume in bot["volumes"])
    command = bot["command"]
    assert command[command.index("--http") + 1] == "127.0.0.1:9108"
    assert any(word.startswith("postgresql://") for word in command)
    assert "http://127.0.0.1:9108/healthz" in " ".join(bot["healthcheck"]["test"])


def test_the_dockerfile_checks_healthz_and_runs_as_uid_10001() -> None:
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert "HEALTHCHECK" in text and "127.0.0.1:9108/healthz" in text
    assert "USER 10001" in text and "--uid 10001" in text
    assert "COPY bot" not in text.split("FROM ")[-1]  # no source tree in the final stage


def test_the_systemd_unit_restarts_on_failure_as_its_own_user() -> None:
    unit = (REPO / "scripts/systemd/hedgebot.service").read_text(encoding="utf-8")
    for line in (
        "User=hedgebot",
        "EnvironmentFile=/etc/hedgebot/hedgebot.env",
        "Restart=on-failure",
        "--journal sqlite:////var/lib/hedgebot/journal.sqlite",
        "--log-file /var/log/hedgebot/hedgebot.log",
    ):
        assert line in unit, line

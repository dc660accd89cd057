"""No secret in anything a run prints, logs or writes; everything it writes is private.

Runs the command line the way an operator would, in-process (`tests.cli_inprocess`: each command
with its own environment and a fresh secrets registry, every byte written to stdout and stderr
captured at the file descriptor level): the live path against the local Binance emulator (served
from a thread) with keys in the environment, a paper replay, `status`, `report`,
`journal`, `check-config`, all on a PostgreSQL journal whose URL carries a password, with
``--log-json -v``; a config with an API secret pasted into it; a journal that cannot be opened.
Then every byte of output, every log line, every row of the journal (PostgreSQL) and every file
written (SQLite journal and its WAL, lease and account locks, var/) is searched for each secret.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.cli_inprocess import run_cli
from tests.emulator_process import emulator_thread
from tests.postgres import PostgresServer

REPO = Path(__file__).resolve().parents[2]
API_KEY = "hb-test-key-Zq8fW2vN"
API_SECRET = "hb-test-secret-Jx4tR7mK9pLq"
PASTED = "pasted-into-config-Vb6nH3sD"
PASSWORD = "pg-s3cr3t7"  # short: masked as a whole token only, so nothing else is garbled


Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture()
def run(capfd: pytest.CaptureFixture[str]) -> Cli:
    """Return ``run(cwd, env, *args)``: ``hedgebot <args>`` in-process, output captured."""

    def command(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(args, capfd, cwd=cwd, env=env)

    return command


def secrets_in(text: str | bytes) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return [s for s in (API_KEY, API_SECRET, PASTED, PASSWORD) if s.encode() in data]


def written_files(*roots: Path) -> Iterator[Path]:
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and path.suffix != ".toml":
                yield path


@pytest.fixture()
def environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEDGEBOT_")}
    env.update(HEDGEBOT_API_KEY=API_KEY, HEDGEBOT_API_SECRET=API_SECRET)
    env["HEDGEBOT_LOCK_DIR"] = str(tmp_path / "state" / "locks")
    env["XDG_RUNTIME_DIR"] = str(tmp_path / "state")
    return env


def password_url(server: PostgresServer) -> str:
    """Return a fresh database's URL with a password (the test server trusts any password)."""
    url = make_url(server.new_database()).set(drivername="postgresql", password=PASSWORD)
    return url.render_as_string(hide_password=False)


def journal_dump(url: str) -> str:
    """Return every row of every table of the PostgreSQL journal as text."""
    info = make_url(url)
    with psycopg.connect(
        host=info.host, port=info.port, user=info.username, dbname=info.database
    ) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        ]
        rows = []
        for table in tables:
            rows += [str(r) for r in connection.execute(f'SELECT t::text FROM "{table}" AS t')]
    assert any("hb-" in row for row in rows), "the journal holds no order: nothing was checked"
    return "\n".join(rows)


@pytest.mark.slow
@pytest.mark.postgres
def test_no_secret_in_output_logs_journal_or_files(
    postgres: PostgresServer, tmp_path: Path, environment: dict[str, str], run: Cli
) -> None:
    url = password_url(postgres)
    work = tmp_path / "work"
    with emulator_thread(["BTC", "ETH"], environment) as port:
        shutil.copytree(REPO / "config", work / "config")
        live = work / "config" / "emulator.toml"
        live.write_text(
            live.read_text()
            .replace("127.0.0.1:8765", f"127.0.0.1:{port}")
            .replace('perps = ["BTC", "ETH", "ADA", "XRP", "LTC"]', 'perps = ["BTC", "ETH"]')
        )
        common = ["--config", "config/emulator.toml", "--journal", url, "-v", "--log-json"]
        results = [
            run(work, environment, "rebalance", "--yes", *common),
            run(work, environment, "run", "--max-cycles", "1", *common),
            run(work, environment, "status", *common),
            run(work, environment, "report", *common),
            run(work, environment, "journal", "orders", *common),
        ]
    paper = ["--config", "config/paper.toml", "--journal", url, "-v", "--log-json"]
    results.append(run(work, environment, "run", "--max-cycles", "3", *paper))
    for result in results:
        assert result.returncode == 0, [*result.args[:2], result.stdout, result.stderr]
    shown = make_url(url).render_as_string(hide_password=True)
    assert shown in results[1].stdout  # the live run names its journal, password masked
    assert shown in results[-1].stdout  # the paper run too, in its header and its summary
    assert results[-1].stdout.count(shown) == 2
    for result in results:
        for line in result.stderr.splitlines():
            json.loads(line)  # every log line is JSON: nothing printed around the logger
    assert any("INFO" in r.stderr for r in results), "no INFO log lines: -v did not take effect"

    pasted = work / "config" / "pasted.toml"
    pasted.write_text(
        (work / "config" / "paper.toml")
        .read_text()
        .replace('account = "demo"', f'account = "demo"\napi_secret = "{PASTED}"')
    )
    refused = run(work, environment, "run", "--config", "config/pasted.toml", "--journal", url)
    assert refused.returncode == 2 and "exchange.api_secret" in refused.stderr
    assert "secrets do not belong in a config file" in refused.stderr
    checked = run(work, environment, "check-config", "config/pasted.toml")
    assert checked.returncode == 2
    bad = url.replace(f":{make_url(url).port}/", ":1/")
    unreachable = run(work, environment, "status", "--journal", bad)
    assert unreachable.returncode != 0
    user, host = make_url(url).username, make_url(url).host
    assert f"cannot open journal postgresql://{user}:***@{host}:1/" in unreachable.stderr

    output = "".join(r.stdout + r.stderr for r in [*results, refused, checked, unreachable])
    assert secrets_in(output) == []
    assert secrets_in(journal_dump(url)) == []
    files = list(written_files(work, tmp_path / "state"))
    for path in files:
        assert secrets_in(path.read_bytes()) == [], path


def test_sqlite_journal_lease_and_var_files_are_private(
    tmp_path: Path, environment: dict[str, str], run: Cli
) -> None:
    work = tmp_path / "work"
    shutil.copytree(REPO / "config", work / "config")
    paper = ["--config", "config/paper.toml", "--max-cycles", "3", "-v", "--log-json"]
    result = run(work, environment, "run", *paper)
    assert result.returncode == 0, result.stderr
    assert secrets_in(result.stdout + result.stderr) == []
    var = work / "var"
    journal = var / "hedgebot-paper.sqlite"
    assert journal.is_file()
    assert stat.S_IMODE(var.stat().st_mode) == 0o700
    files = list(written_files(var, tmp_path / "state"))
    assert journal in files
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert secrets_in(path.read_bytes()) == [], path


def test_an_open_journal_its_wal_and_its_lease_lock_are_private(tmp_path: Path) -> None:
    from bot.journal.store import Journal

    database = tmp_path / "deep" / "journal.sqlite"
    with Journal.open(f"sqlite:///{database}") as journal, journal.lease("paper:x") as lease:
        journal.record_event("test", __import__("datetime").datetime.now().astimezone(), "hello")
        assert lease.held
        made = sorted(p.name for p in database.parent.iterdir())
        assert made == [
            "journal.sqlite",
            *sorted(p.name for p in database.parent.glob("journal.sqlite-*")),
        ]
        assert any(name.endswith("-wal") for name in made) and any("-lease-" in n for n in made)
        for path in database.parent.iterdir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(database.parent.stat().st_mode) == 0o700

"""`hedgebot serve`: the status page over a journal until stopped; bad input is one line, no
traceback, a non-zero exit (in-process, as `tests/integration/test_cli_bad_input.py`)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.journal.records import RunMode
from bot.journal.store import Journal
from bot.runtime.engine import Engine
from bot.settings.config import load_config
from bot.sim.paper_account import build_paper, build_strategy
from tests.cli_inprocess import run_cli
from tests.tiny_config import tiny_config

JOURNAL = "var/tiny.sqlite"
TOKEN = "serve-token-of-the-test-0123456"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(
    url: str, token: str | None = None, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    headers = {**(headers or {}), **({} if token is None else {"Authorization": f"Bearer {token}"})}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture()
def journaled(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> Path:
    """A working directory whose tiny config's journal holds one paper rebalance."""
    (tmp_path / "tiny.toml").write_text(tiny_config(journal=JOURNAL), encoding="utf-8")
    done = run_cli(["rebalance", "--yes", "-c", "tiny.toml"], capfd, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return tmp_path


def wait_up(url: str) -> tuple[int, str]:
    """GET ``url`` (with the token) once the server answers."""
    for _ in range(200):
        try:
            return get(url, TOKEN)
        except OSError:
            threading.Event().wait(0.02)
    raise AssertionError(f"{url} never answered")


def serve_visited(
    cwd: Path,
    capfd: pytest.CaptureFixture[str],
    visit: Callable[[str], None],
    argv: tuple[str, ...] = ("serve", "-c", "tiny.toml"),
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` on a free port with `TOKEN`; ``visit`` it from beside, then SIGINT stops it.

    ``visit`` takes the server's base URL.
    """
    port = free_port()

    def visitor() -> None:  # from beside the server, as a browser would
        try:
            visit(f"http://127.0.0.1:{port}")
        finally:
            os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=visitor, name="test-server-visitor", daemon=True)
    thread.start()
    env = {**os.environ, "HEDGEBOT_HTTP_TOKEN": TOKEN}
    result = run_cli([*argv, "--http", f"0.0.0.0:{port}"], capfd, cwd=cwd, env=env)
    thread.join(5)
    assert f"on http://0.0.0.0:{port}/" in result.stdout
    return result


def test_serve_shows_the_journal_until_interrupted(
    journaled: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    seen: dict[str, tuple[int, str]] = {}

    def visit(base: str) -> None:
        seen["status"] = wait_up(f"{base}/api/status")
        seen["anonymous"] = get(f"{base}/api/status")
        seen["page"] = get(f"{base}/", TOKEN)

    result = serve_visited(journaled, capfd, visit)

    assert result.returncode == 0, result.stderr
    assert "status page of paper:" in result.stdout
    assert TOKEN not in result.stdout + result.stderr
    code, body = seen["status"]
    assert code == 200
    status = json.loads(body)
    assert status["venue"].startswith("paper:")
    assert status["state"]["running"] is False  # `rebalance` released its lease
    assert [leg["symbol"] for leg in status["legs"]] == ["BTC/USDT:USDT"]
    printed = run_cli(["status", "-c", "tiny.toml"], capfd, cwd=journaled).stdout
    row = next(line for line in printed.splitlines() if line.startswith("BTC/USDT:USDT"))
    assert re.split(r"\s{2,}", row)[:11] == list(status["legs"][0]["shown"].values())
    assert seen["anonymous"][0] == 401
    assert seen["page"][0] == 200 and "hedgebot status" in seen["page"][1]


def taken_port() -> tuple[socket.socket, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock, int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (["--journal", "sqlite:///var/none.sqlite"], 2, "does not exist: nothing was recorded"),
        (["--http", "localhost:http"], 2, "argument --http: 'localhost:http': write HOST:PORT"),
        (["--http", "0.0.0.0:8080"], 2, "is not a loopback address"),
        (["--venue", "paper:nope"], 2, "--venue paper:nope: no such venue in the journal"),
        (["--out", "missing"], 2, "--out missing: no such directory"),
        (["--out", "var"], 2, "--out var holds no metrics.json"),
        (["--http", "127.0.0.1:{taken}"], 2, "cannot serve --http on http://127.0.0.1:{taken}"),
    ],
)
def test_bad_input_is_one_line_and_a_non_zero_exit(
    journaled: Path,
    capfd: pytest.CaptureFixture[str],
    args: list[str],
    code: int,
    said: str,
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HEDGEBOT_HTTP_TOKEN"}
    listener, taken = taken_port()
    with listener:
        argv = ["serve", "-c", "tiny.toml", *(a.format(taken=taken) for a in args)]
        result = run_cli(argv, capfd, cwd=journaled, env=env)
    assert result.returncode == code
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert said.format(taken=taken) in result.stderr


def test_an_empty_journal_has_nothing_to_show(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "tiny.toml").write_text(tiny_config(journal=JOURNAL), encoding="utf-8")
    Journal.open(f"sqlite:///{tmp_path / JOURNAL}").close()
    result = run_cli(["serve", "-c", "tiny.toml"], capfd, cwd=tmp_path)
    assert result.returncode == 1
    assert "is empty: run `hedgebot run`" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "token"),
    [
        (["--http", "0.0.0.0:8183"], " "),
        (["--http", "127.0.0.1:8183"], "sixteen chars ok"),
        (["--http", "0.0.0.0:8183", "--http-token", "a"], None),
        (["--http-token", "fifteen-chars-x"], None),
    ],
)
def test_a_weak_token_is_refused_with_how_to_make_one(
    journaled: Path, capfd: pytest.CaptureFixture[str], args: list[str], token: str | None
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HEDGEBOT_HTTP_TOKEN"}
    if token is not None:
        env["HEDGEBOT_HTTP_TOKEN"] = token
    result = run_cli(["serve", "-c", "tiny.toml", *args], capfd, cwd=journaled, env=env)
    assert result.returncode == 2
    assert result.stdout == "" and result.stderr.count("\n") == 1
    assert "at least 16 characters without whitespace" in result.stderr
    assert "secrets.token_urlsafe(24)" in result.stderr
    assert "fifteen-chars-x" not in result.stderr and "sixteen chars ok" not in result.stderr


def test_an_oversized_request_is_a_400_and_one_log_line_no_traceback(
    journaled: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    seen: list[int] = []

    def visit(base: str) -> None:
        wait_up(f"{base}/api/status")
        seen.append(get(f"{base}/api/status?x={'a' * 9000}")[0])
        seen.append(get(f"{base}/api/status", TOKEN, {"X-Long": "b" * 9000})[0])
        seen.append(get(f"{base}/api/status", TOKEN)[0])

    result = serve_visited(journaled, capfd, visit)

    assert result.returncode == 0, result.stderr
    assert seen == [400, 400, 200]
    assert "Traceback" not in result.stderr and "aaaa" not in result.stderr
    logged = [line for line in result.stderr.splitlines() if "Error handling request" in line]
    assert len(logged) == 2 and result.stderr.count("\n") == 2
    assert all("LineTooLong (answered 400)" in line for line in logged)


def journal_a_later_session(cwd: Path) -> str:
    """Journal one cycle of a new paper session with the tiny config; return its venue."""
    config = load_config(cwd / "tiny.toml")
    config = config.model_copy(
        update={"journal": config.journal.model_copy(update={"url": f"sqlite:///{cwd / JOURNAL}"})}
    )
    setup = build_paper(config, None, session="later")
    with Journal.open(config.journal.url) as journal:
        engine = Engine(
            config, setup.venue, journal, build_strategy(config), setup.clock, RunMode.PAPER
        )
        asyncio.run(engine.run(asyncio.Event(), setup.end, lambda _report: None, 1))
    return setup.venue.name


def test_serve_without_venue_follows_the_latest_session(
    journaled: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    venues: list[str] = []

    def visit(base: str) -> None:
        venues.append(json.loads(wait_up(f"{base}/api/status")[1])["venue"])
        venues.append(journal_a_later_session(journaled))
        venues.append(json.loads(get(f"{base}/api/status", TOKEN)[1])["venue"])

    result = serve_visited(journaled, capfd, visit)

    assert result.returncode == 0, result.stderr
    first, later, shown = venues
    assert later != first and shown == later
    assert "(and any later session)" in result.stdout
    printed = run_cli(["status", "-c", "tiny.toml"], capfd, cwd=journaled).stdout
    assert printed.startswith(f"venue {later}\n")


def test_serve_with_venue_stays_on_it(journaled: Path, capfd: pytest.CaptureFixture[str]) -> None:
    with Journal.open(f"sqlite:///{journaled / JOURNAL}") as journal:
        first = journal.latest_venue()
    assert first is not None
    venues: list[str] = []

    def visit(base: str) -> None:
        wait_up(f"{base}/api/status")
        journal_a_later_session(journaled)
        venues.append(json.loads(get(f"{base}/api/status", TOKEN)[1])["venue"])

    result = serve_visited(journaled, capfd, visit, ("serve", "-c", "tiny.toml", "--venue", first))

    assert result.returncode == 0, result.stderr
    assert venues == [first]


def test_status_says_the_kill_switch_and_how_to_lift_it(
    journaled: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    def switch_line() -> str:
        printed = run_cli(["status", "-c", "tiny.toml"], capfd, cwd=journaled).stdout
        return next(line for line in printed.splitlines() if line.startswith("kill switch:"))

    assert switch_line() == "kill switch: off"
    halt = run_cli(["halt", "-c", "tiny.toml", "--reason", "ops drill"], capfd, cwd=journaled)
    assert halt.returncode == 0, halt.stderr
    assert re.fullmatch(
        r"kill switch: ON — ops drill \(since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\); "
        r"`hedgebot resume --config tiny.toml` lifts it",
        switch_line(),
    )
    run_cli(["resume", "-c", "tiny.toml"], capfd, cwd=journaled)
    assert switch_line() == "kill switch: off"


def test_healthz_of_a_halted_run_names_its_config_in_resume(
    journaled: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (journaled / "emu30.toml").write_text(tiny_config(journal=JOURNAL), encoding="utf-8")
    halt = run_cli(["halt", "-c", "emu30.toml", "--reason", "ops drill"], capfd, cwd=journaled)
    assert halt.returncode == 0, halt.stderr
    seen: list[tuple[int, str]] = []

    def visit(base: str) -> None:
        seen.append(wait_up(f"{base}/healthz"))
        for _ in range(200):  # before the first cycle: no cycle yet
            if seen[-1][1].startswith("halted:"):
                return
            threading.Event().wait(0.02)
            seen.append(get(f"{base}/healthz", TOKEN))

    argv = ("run", "-c", "emu30.toml", "--speed", "14400", "--max-cycles", "200", "-q")
    result = serve_visited(journaled, capfd, visit, argv)

    assert result.returncode == 0, result.stderr
    code, text = seen[-1]
    assert code == 503 and "ops drill" in text
    assert "`hedgebot resume --config emu30.toml` allows orders again" in text

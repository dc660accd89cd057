"""`hedgebot serve`: the status page over a journal until stopped; bad input is one line, no
traceback, a non-zero exit (in-process, as `tests/integration/test_cli_bad_input.py`)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bot.journal.store import Journal
from tests.cli_inprocess import run_cli
from tests.tiny_config import tiny_config

JOURNAL = "var/tiny.sqlite"
TOKEN = "serve-token-of-the-test-0123456"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str, token: str | None = None) -> tuple[int, str]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
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


def test_serve_shows_the_journal_until_interrupted(
    journaled: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    seen: dict[str, tuple[int, str]] = {}

    def visit() -> None:  # from beside the server, as a browser would; then SIGINT stops it
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                seen["status"] = get(f"{base}/api/status", TOKEN)
                break
            except OSError:
                threading.Event().wait(0.02)
        seen["anonymous"] = get(f"{base}/api/status")
        seen["page"] = get(f"{base}/", TOKEN)
        os.kill(os.getpid(), signal.SIGINT)

    visitor = threading.Thread(target=visit, name="test-server-visitor", daemon=True)
    visitor.start()
    env = {**os.environ, "HEDGEBOT_HTTP_TOKEN": TOKEN}
    argv = ["serve", "-c", "tiny.toml", "--http", f"0.0.0.0:{port}"]
    result = run_cli(argv, capfd, cwd=journaled, env=env)
    visitor.join(5)

    assert result.returncode == 0, result.stderr
    assert "status page of paper:" in result.stdout
    assert f"on http://0.0.0.0:{port}/" in result.stdout
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

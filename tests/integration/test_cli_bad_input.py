"""Every command × every kind of bad input: one line on stderr, a non-zero exit, no traceback.

Each case names the command line, what is prepared before it (a journal with one session, a
halted account, a history directory, a full disk…), the exit code (`bot.core.errors`: 1 nothing to
show, 2 bad input, 4 halted, 5 keys refused) and a fragment of the one line. Every case also
checks that nothing was written: the same files, the same journal rows.

The CLI runs in-process (`bot.cli.main.main`) except where only a process shows the failure: a port
taken by another program, a read-only journal (SIGBUS in earlier versions), a file size limit.
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import pytest

import bot.cli.main
from bot.cli.main import main
from bot.journal.store import Journal
from tests.emulator_process import emulator_thread
from tests.tiny_config import (
    BAR_MS,
    CANDLES_HEADER,
    JAN_2022,
    TINY_JOURNAL,
    candle_rows,
    tiny_config,
)

REPO = Path(__file__).resolve().parents[2]
JOURNAL = TINY_JOURNAL
TINY = tiny_config(journal=JOURNAL)


# -- what a case prepares (in the working directory) ---------------------------------------------
def config_text(text: str, name: str = "tiny.toml") -> Callable[[Path], None]:
    def write(cwd: Path) -> None:
        (cwd / name).write_text(text, encoding="utf-8")

    return write


def config_bytes(data: bytes) -> Callable[[Path], None]:
    def write(cwd: Path) -> None:
        (cwd / "tiny.toml").write_bytes(data)

    return write


def tiny_with(old: str, new: str) -> Callable[[Path], None]:
    assert old in TINY
    return config_text(TINY.replace(old, new))


def candles(path: Path, first_ms: int, count: int, price: float = 40_000.0) -> None:
    path.write_text(CANDLES_HEADER + candle_rows(first_ms, [price] * count), encoding="utf-8")


def history(perp_first_ms: int = JAN_2022) -> Callable[[Path], None]:
    """Write ``data/``: BTC spot over January–February 2022, its perp from ``perp_first_ms``."""

    def write(cwd: Path) -> None:
        data = cwd / "data"
        data.mkdir()
        candles(data / "binance_spot_BTCUSDT_4h.csv", JAN_2022, 360)
        candles(data / "binance_perp_BTCUSDT_4h.csv", perp_first_ms, 100)

    return write


def session(cwd: Path) -> None:
    """Journal one paper rebalance (and nothing else)."""
    assert main(["rebalance", "--yes", "-c", "tiny.toml"]) == 0


def empty_journal(cwd: Path) -> None:
    Journal.open(f"sqlite:///{JOURNAL}").close()


def halted(cwd: Path) -> None:
    assert main(["halt", "-c", "tiny.toml", "--reason", "drill"]) == 0


def both(*steps: Callable[[Path], None]) -> Callable[[Path], None]:
    def run(cwd: Path) -> None:
        for step in steps:
            step(cwd)

    return run


def directory(name: str) -> Callable[[Path], None]:
    def make(cwd: Path) -> None:
        (cwd / name).mkdir(parents=True)

    return make


def plain_file(name: str) -> Callable[[Path], None]:
    def make(cwd: Path) -> None:
        (cwd / name).parent.mkdir(parents=True, exist_ok=True)
        (cwd / name).write_text("not what was expected\n", encoding="utf-8")

    return make


@dataclass(frozen=True)
class Case:
    argv: tuple[str, ...]
    code: int
    says: str
    setup: Callable[[Path], None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    disk_full: bool = False
    writes: tuple[str, ...] = ()
    """Files the command rightly writes although it fails (a halt the journal cannot record)."""


def c(*argv: str) -> tuple[str, ...]:
    """A command line with the tiny config (``-c tiny.toml``)."""
    return (*argv, "-c", "tiny.toml")


CASES: dict[str, Case] = {
    # -- configuration: missing, a directory, not TOML, not text, invalid values
    "run, no config": Case(("run",), 2, "config file config/paper.toml does not exist"),
    "rebalance, missing config": Case(("rebalance", "-c", "nope.toml"), 2, "pass --config"),
    "status, config is a directory": Case(
        ("status", "-c", "conf"), 2, "is a directory", directory("conf")
    ),
    "check-config, a directory": Case(
        ("check-config", "conf"), 2, "is a directory", directory("conf")
    ),
    "report, garbage config": Case(
        c("report"), 2, "is not valid TOML", config_text("garbage [[[\n")
    ),
    "journal, binary config": Case(
        c("journal", "fills"), 2, "not a UTF-8", config_bytes(b"\xff\xfe\x00garbage")
    ),
    "halt, unknown strategy": Case(
        c("halt"), 2, "unknown strategy 'nope'", tiny_with('name = "static"', 'name = "nope"')
    ),
    "run, negative collateral": Case(
        c("run"), 2, "paper.collateral", tiny_with("collateral = 10000", "collateral = -5")
    ),
    "rebalance, two bad fields on one line": Case(
        c("rebalance", "--yes"),
        2,
        "paper.collateral: Input should be greater than or equal to 0 (got -5); interval: '-4h'",
        config_text(TINY.replace("collateral = 10000", "collateral = -5").replace("4h", "-4h")),
    ),
    "backtest, no holdings": Case(
        c("backtest"), 2, "paper.holdings", config_text('[exchange]\nname = "paper"\n')
    ),
    "check-config, unknown field": Case(
        ("check-config", "tiny.toml"), 2, "unknown field", tiny_with("[paper]", "[paper]\nx = 1")
    ),
    # -- usage: unknown commands and choices, bad numbers and dates
    "unknown command": Case(("frobnicate",), 2, "invalid choice: 'frobnicate'"),
    "no command": Case((), 2, "required: command"),
    "journal, unknown listing": Case(c("journal", "nope"), 2, "invalid choice: 'nope'"),
    "run, zero cycles": Case(c("run", "--max-cycles", "0"), 2, "at least 1"),
    "run, cycles not a number": Case(c("run", "--max-cycles", "abc"), 2, "'abc' is not a number"),
    "run, negative speed": Case(c("run", "--speed", "-1"), 2, "--speed: -1"),
    "journal, negative limit": Case(c("journal", "fills", "--limit", "-5"), 2, "at least 0"),
    "report, bad date": Case(c("report", "--from", "garbage"), 2, "'garbage' is not a date"),
    "report, impossible date": Case(c("report", "--to", "2022-13-01"), 2, "is not a date"),
    "backtest, bad date": Case(c("backtest", "--to", "yesterday"), 2, "is not a date"),
    "stress, a shock without %": Case(
        c("stress", "--shock", "BTC=-35"), 2, "the move is not a percentage"
    ),
    "run, cycles beyond any run": Case(
        c("run", "--max-cycles", "99999999999999999999999"), 2, "at most 1,000,000,000"
    ),
    "journal, limit beyond any query": Case(
        c("journal", "fills", "--limit", "99999999999999999999999999"), 2, "at most 1,000,000,000"
    ),
    "stress, a shock beyond +1000%": Case(
        c("stress", "--shock", "BTC=+99999999999999999999999999999%"),
        2,
        "a shock moves a price between -100% and +1000%",
    ),
    "stress, a shock of an asset neither held nor hedged": Case(
        c("stress", "--shock", "FOO=-10%"),
        2,
        "--shock FOO: neither held nor hedged, the shock would change nothing; shock one of BTC",
    ),
    "stress, plot in a missing directory": Case(
        c("stress", "--plot", "missing/x.png"),
        2,
        "--plot missing/x.png: the directory missing does not exist; create it",
    ),
    "emulator, port out of range": Case(("emulator", "--port", "70000"), 2, "1..65535"),
    "emulator, port zero": Case(("emulator", "--port", "0"), 2, "1..65535"),
    "emulator, zero speed": Case(("emulator", "--speed", "0"), 2, "use a positive number"),
    "emulator, no assets": Case(("emulator", "--assets", ","), 2, "write assets like BTC"),
    "emulator, bad asset": Case(("emulator", "--assets", "BTC,$$"), 2, "$$ is not an asset"),
    "notify, unknown severity": Case(
        c("notify", "--test"),
        2,
        "notify target 1 (from HEDGEBOT_NOTIFY_URLS or notify_urls): unknown severity 'loud'",
        env={"HEDGEBOT_NOTIFY_URLS": "loud=json://127.0.0.1:9/hook/tokenTOKEN1234"},
    ),
    "run, malformed notify URL": Case(
        c("run"),
        2,
        "notify target 2 (from HEDGEBOT_NOTIFY_URLS or notify_urls) is not a URL",
        env={"HEDGEBOT_NOTIFY_URLS": "json://127.0.0.1:9/hook tokenTOKEN1234"},
    ),
    # -- market history: missing directory (option, config, environment), bad files, periods
    "run, data dir missing": Case(
        c("run", "--data-dir", "nowhere"), 2, "--data-dir: data directory nowhere does not exist"
    ),
    "rebalance, data dir missing": Case(
        c("rebalance", "--dry-run", "--data-dir", "nowhere"), 2, "pass an existing history"
    ),
    "rebalance, data dir from the environment missing": Case(
        c("rebalance", "--yes"),
        2,
        "point $HEDGEBOT_DATA_DIR at an existing history directory, or unset it",
        env={"HEDGEBOT_DATA_DIR": "nowhere"},
    ),
    "run, data dir from the config missing": Case(
        c("run"),
        2,
        "paper.data_dir: data directory nowhere",
        tiny_with("simulated_bars = 30", 'simulated_bars = 30\ndata_dir = "nowhere"'),
    ),
    "backtest, data dir missing": Case(c("backtest", "--data-dir", "nowhere"), 2, "nowhere"),
    "backtest, data dir from the environment missing": Case(
        c("backtest"), 2, "$HEDGEBOT_DATA_DIR", env={"HEDGEBOT_DATA_DIR": "nowhere"}
    ),
    "run, log file in a missing directory": Case(
        c("run", "--log-file", "nowhere/bot.log"),
        2,
        "--log-file nowhere/bot.log: cannot open it (directory nowhere does not exist)",
    ),
    "run, data dir is a file": Case(
        c("run", "--data-dir", "data"), 2, "not a directory", plain_file("data")
    ),
    "run, data dir without the holding": Case(
        c("run", "--data-dir", "data"), 2, "no spot history of BTC", directory("data")
    ),
    "rebalance, garbage candles": Case(
        c("rebalance", "--dry-run", "--data-dir", "data"),
        2,
        "binance_spot_BTCUSDT_4h.csv: header ['not what was expected']",
        plain_file("data/binance_spot_BTCUSDT_4h.csv"),
    ),
    "backtest, a period without candles": Case(
        c("backtest", "--data-dir", "data", "--from", "2010-01-01", "--to", "2010-02-01"),
        2,
        "no candles of BTC between 2010-01-01 and 2010-02-01",
        history(),
    ),
    "backtest, unknown window": Case(
        c("backtest", "--data-dir", "data", "--window", "nope"), 2, "unknown window"
    ),
    "backtest, from after to": Case(
        c("backtest", "--from", "2022-02-01", "--to", "2022-01-01"), 2, "must be after --from"
    ),
    "backtest, unknown strategy to compare": Case(
        c("backtest", "--data-dir", "data", "--compare", "nope"),
        2,
        "unknown strategy 'nope'",
        history(),
    ),
    "backtest, negative ratio to compare": Case(
        c("backtest", "--data-dir", "data", "--compare", "static:ratio=-1"),
        2,
        "strategy.ratio",
        history(),
    ),
    "backtest, journal in a directory that is a file": Case(
        c("backtest", "--journal", "sqlite:///blocker/j.sqlite"),
        2,
        "journal blocker/j.sqlite: blocker is not a directory",
        plain_file("blocker"),
    ),
    "backtest, out is a file": Case(
        c("backtest", "--data-dir", "data", "--out", "out"),
        2,
        "--out out: cannot create the directory",
        both(history(), plain_file("out")),
    ),
    "rebalance, perp without bars in the replay": Case(
        c("rebalance", "--dry-run", "--data-dir", "data"),
        2,
        "the perp history of BTC in data has no bars in the replay period",
        history(perp_first_ms=JAN_2022 - 200 * BAR_MS),
    ),
    "run, perp without bars in the replay": Case(
        c("run", "--data-dir", "data"), 2, "has no bars", history(JAN_2022 - 200 * BAR_MS)
    ),
    "backtest, perp without bars in the replay": Case(
        c("backtest", "--data-dir", "data"), 2, "has no bars", history(JAN_2022 - 200 * BAR_MS)
    ),
    "emulator, data dir missing": Case(
        ("emulator", "--data-dir", "nowhere"), 2, "--data-dir: data directory nowhere"
    ),
    "emulator, asset without history": Case(
        ("emulator", "--data-dir", "data", "--assets", "ETH"),
        2,
        "no spot candles for asset 'ETH'",
        history(),
    ),
    # -- the journal: missing, empty, unknown venue, empty period, unusable URL, full disk
    "status, no journal": Case(c("status"), 2, f"journal sqlite:///{JOURNAL} does not exist"),
    "journal, no journal": Case(c("journal", "orders"), 2, "run `hedgebot run`"),
    "report, no journal": Case(c("report"), 2, "does not exist"),
    "run, journal in a directory that does not exist": Case(
        c("run", "--journal", "sqlite:////nonexistent-hedgebot-dir/j.sqlite"),
        2,
        "directory /nonexistent-hedgebot-dir does not exist",
    ),
    "report, a date out of range once in UTC": Case(
        c("report", "--from", "0001-01-01T00:00+05:00"), 2, "is not a date"
    ),
    "serve, no journal": Case(c("serve"), 2, f"journal sqlite:///{JOURNAL} does not exist"),
    "serve, a public address without a token": Case(
        c("serve", "--http", "0.0.0.0:0"), 2, "is not a loopback address", empty_journal
    ),
    "status, empty journal": Case(c("status"), 1, "is empty", empty_journal),
    "report, empty journal": Case(c("report"), 1, "is empty", empty_journal),
    "status, unknown venue": Case(
        c("status", "--venue", "nope"), 2, "--venue nope: no such venue in the journal", session
    ),
    "journal, unknown venue": Case(
        c("journal", "fills", "--venue", "nope"), 2, "it has paper:", session
    ),
    "report, unknown venue": Case(
        c("report", "--venue", "nope"), 2, "leave --venue out for the latest", session
    ),
    "report, empty period": Case(
        c("report", "--from", "2030-01-01"), 1, "nothing journaled for venue paper:", session
    ),
    "report, from after to": Case(
        c("report", "--from", "2022-02-01", "--to", "2022-01-01"), 2, "must be after --from"
    ),
    "status, journal URL not a database": Case(
        c("status", "--journal", "nope://x"), 2, "cannot open journal nope://x"
    ),
    "status, journal is a directory": Case(
        c("status", "--journal", "sqlite:///var"), 2, "is a directory", directory("var")
    ),
    "rebalance, journal is a directory": Case(
        c("rebalance", "--yes", "--journal", "sqlite:///var"), 2, "is a directory", directory("var")
    ),
    "run, full disk": Case(c("run"), 2, "KiB free; free some space", disk_full=True),
    "rebalance, full disk": Case(c("rebalance", "--yes"), 2, "KiB free", disk_full=True),
    "status, full disk": Case(c("status"), 2, "too little for SQLite", session, disk_full=True),
    "halt, full disk": Case(
        c("halt"),
        2,
        "paper:tiny is halted (var/halt/paper-tiny.halt), but the journal could not record it",
        disk_full=True,
        writes=("var/halt/paper-tiny.halt",),
    ),
    # -- the kill switch
    "rebalance, halted": Case(
        c("rebalance", "--yes"),
        4,
        "paper:tiny is halted by the kill switch var/halt/paper-tiny.halt: drill (since",
        halted,
    ),
    "rebalance, halted, says how to resume": Case(
        c("rebalance", "--yes"), 4, "`hedgebot resume --config tiny.toml`", halted
    ),
    "resume, full disk": Case(
        c("resume"),
        2,
        "paper:tiny is resumed (var/halt/paper-tiny.halt removed), but the journal could not",
        both(session, halted),
        disk_full=True,
        writes=("var/halt/paper-tiny.halt",),
    ),
    "resume, switch path is a directory": Case(
        c("resume"),
        2,
        "cannot remove the kill switch var/halt/paper-tiny.halt",
        directory("var/halt/paper-tiny.halt"),
    ),
    "run, --http on a public address without a token": Case(
        c("run", "--http", "0.0.0.0:9108"), 2, "0.0.0.0:9108 is not a loopback address"
    ),
    "halt, switch path is a directory": Case(
        c("halt"),
        2,
        "cannot write the kill switch var/halt/paper-tiny.halt",
        directory("var/halt/paper-tiny.halt"),
    ),
}


class DiskUsage(NamedTuple):
    total: int
    used: int
    free: int


def snapshot(cwd: Path) -> tuple[set[str], tuple[int, int, int] | None]:
    """Return the files under ``cwd`` (SQLite's -wal/-shm aside) and the journal's row counts."""
    files = {
        str(p.relative_to(cwd))
        for p in cwd.rglob("*")
        if p.is_file() and not p.name.endswith(("-wal", "-shm"))
    }
    rows = None
    if (cwd / JOURNAL).is_file():
        with Journal.open(f"sqlite:///{JOURNAL}") as journal:
            totals = journal.totals()
            rows = (totals.rebalances, totals.orders, totals.fills)
    return files, rows


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("hedgebot"), err
    return lines[0]


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_ends_in_one_line_and_a_non_zero_exit(
    name: str, tiny_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    case = CASES[name]
    if case.setup is not None:
        case.setup(tiny_dir)
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    before = snapshot(tiny_dir)
    capsys.readouterr()
    if case.disk_full:
        monkeypatch.setattr(
            bot.cli.main.shutil, "disk_usage", lambda _: DiskUsage(1 << 30, 0, 4096)
        )

    code = main(list(case.argv))

    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    line = one_line(err)
    assert case.says in line, line
    assert code == case.code, line
    monkeypatch.undo()
    monkeypatch.chdir(tiny_dir)
    files, rows = snapshot(tiny_dir)
    assert files ^ before[0] <= set(case.writes), "a failed command left or took files"
    assert rows == before[1], "a failed command changed the journal"


# -- the emulator: a port in use ----------------------------------------------------------------
@pytest.fixture()
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_emulator_on_a_port_in_use_says_so(
    taken_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["emulator", "--port", str(taken_port), "--assets", "BTC"])
    line = one_line(capsys.readouterr().err)
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{taken_port}: already in use" in line
    assert "pick another port with --port" in line


def hedgebot(
    *args: str, cwd: Path, limit_file_size: int | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEDGEBOT_")}

    def limit() -> None:
        if limit_file_size is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_size, limit_file_size))

    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=limit,
    )


def test_emulator_process_on_a_port_in_use_exits_in_one_line(
    taken_port: int, tmp_path: Path
) -> None:
    done = hedgebot("emulator", "--port", str(taken_port), "--assets", "BTC", cwd=tmp_path)
    assert done.returncode == 2
    assert "already in use" in one_line(done.stderr)
    assert done.stdout == ""  # the ready line is printed only once it listens


# -- a read-only journal, a file size limit: the process must end in one line, not a signal -------
@pytest.fixture()
def read_only_journal(tiny_dir: Path) -> Iterator[Path]:
    session(tiny_dir)
    journal = tiny_dir / JOURNAL
    if os.geteuid() == 0:  # root writes read-only files: make it immutable instead
        made = subprocess.run(["chattr", "+i", str(journal)], capture_output=True, check=False)
        if made.returncode != 0:
            pytest.skip("running as root where chattr +i is not available")
        try:
            yield journal
        finally:
            subprocess.run(["chattr", "-i", str(journal)], check=False)
        return
    journal.chmod(0o444)
    journal.parent.chmod(0o555)
    try:
        yield journal
    finally:
        journal.parent.chmod(0o755)
        journal.chmod(0o644)


@pytest.mark.parametrize("command", [("run", "--max-cycles", "1"), ("rebalance", "--yes")])
def test_a_read_only_journal_is_refused_in_one_line(
    read_only_journal: Path, command: tuple[str, ...], tiny_dir: Path
) -> None:
    done = hedgebot(*c(*command), cwd=tiny_dir)
    assert done.returncode == 2, done.stderr  # not -SIGBUS
    line = one_line(done.stderr)
    assert f"journal {JOURNAL}" in line and "read-only" in line and "--journal" in line


def test_a_journal_that_cannot_grow_is_said_in_one_line(tiny_dir: Path) -> None:
    done = hedgebot(*c("rebalance", "--yes"), cwd=tiny_dir, limit_file_size=0)
    assert done.returncode == 2, done.stderr
    assert "is its disk full? free some space" in one_line(done.stderr)


# -- keys the exchange refuses: exit 5 at once, nothing retried, nothing journaled ---------------
KEYS = {"HEDGEBOT_API_KEY": "bad-input-key", "HEDGEBOT_API_SECRET": "bad-input-secret"}


@pytest.fixture(scope="module")
def emulator_port() -> Iterator[int]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("HEDGEBOT_")}, **KEYS}
    with emulator_thread(["BTC"], env) as port:
        yield port


WRONG_KEYS: dict[str, tuple[dict[str, str], tuple[str, ...], str]] = {
    "run, wrong secret": ({**KEYS, "HEDGEBOT_API_SECRET": "wrong"}, ("run",), '"code":-1022'),
    "rebalance, wrong secret": (
        {**KEYS, "HEDGEBOT_API_SECRET": "wrong"},
        ("rebalance", "--yes"),
        "Signature for this request is not valid",
    ),
    "rebalance --dry-run, unknown key": (
        {**KEYS, "HEDGEBOT_API_KEY": "revoked"},
        ("rebalance", "--dry-run"),
        '"code":-2015',
    ),
    "run, unknown key": ({**KEYS, "HEDGEBOT_API_KEY": "revoked"}, ("run",), "Invalid API-key"),
}


@pytest.mark.parametrize("name", list(WRONG_KEYS))
def test_refused_keys_stop_at_once_with_exit_code_5(
    name: str,
    emulator_port: int,
    tiny_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    keys, command, code_said = WRONG_KEYS[name]
    config = (REPO / "config" / "emulator.toml").read_text(encoding="utf-8")
    config = config.replace("127.0.0.1:8765", f"127.0.0.1:{emulator_port}")
    (tiny_dir / "emulator.toml").write_text(config, encoding="utf-8")
    for key, value in keys.items():
        monkeypatch.setenv(key, value)

    code = main([*command, "-c", "emulator.toml", "--journal", f"sqlite:///{JOURNAL}"])

    out, err = capsys.readouterr()
    line = one_line(err)
    assert code == 5, line
    assert "Traceback" not in out + err and "retrying" not in err
    assert line.startswith("hedgebot: the exchange refused the API keys: binanceusdm:emulator")
    assert code_said in line and "not transient" in line and "HEDGEBOT_API_KEY" in line
    assert keys["HEDGEBOT_API_SECRET"] not in out + err
    assert not (tiny_dir / JOURNAL).exists()  # no lease, no rebalance row: nothing journaled


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_config_says_how_to_read_it(
    tiny_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tiny_dir / "tiny.toml").chmod(0)
    assert main(list(c("run"))) == 2
    assert "cannot read config tiny.toml: Permission denied" in one_line(capsys.readouterr().err)


def test_an_unexpected_error_is_one_line_too_and_exit_code_70(
    tiny_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(_: object) -> int:
        raise RuntimeError("something nobody foresaw")

    monkeypatch.setattr(bot.cli.main, "start_status", broken)
    assert main(list(c("status"))) == 70
    line = one_line(capsys.readouterr().err)
    assert "unexpected RuntimeError: something nobody foresaw" in line and "-v" in line
    assert main(list(c("status", "-v"))) == 70
    assert "Traceback" in capsys.readouterr().err  # asked for with -v


def test_every_command_has_a_bad_input_case() -> None:
    commands = bot.cli.main.build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    covered = {case.argv[0] for case in CASES.values() if case.argv}
    assert set(commands) <= covered, set(commands) - covered

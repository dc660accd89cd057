"""`hedgebot rebalance` on a terminal: Ctrl-C or Ctrl-D at the confirmation prompt declines.

The command runs as a process of its own whose controlling terminal is a pseudo-terminal (`pty`),
so ^C is the terminal's SIGINT and ^D its end of input, as at a shell. Either way nothing is placed
and the lease is released: Ctrl-C exits 130, Ctrl-D 1.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import sqlite3
import subprocess
import sys
import termios
import time
from pathlib import Path

from bot.core.errors import EXIT_INTERRUPTED, EXIT_NOTHING_DONE
from tests.tiny_config import TINY_JOURNAL, tiny_config

REPO = Path(__file__).resolve().parents[2]
PROMPT = b"order(s)? [y/N] "


def _take_terminal() -> None:
    """In the child: make the pty on stdin the controlling terminal (^C becomes SIGINT)."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _read_until(leader: int, wanted: bytes, timeout: float = 30) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                seen += os.read(leader, 65536)
            except OSError:  # EIO: the command closed the terminal
                break
    return seen


def answer_prompt(cwd: Path, keys: bytes) -> tuple[int, str]:
    """Run ``rebalance`` on a terminal, type ``keys`` at its prompt; return exit code and output."""
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEDGEBOT_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "rebalance", "-c", "tiny.toml", "--no-color"],
        cwd=cwd,
        env=env | {"PYTHONPATH": str(REPO)},
        stdin=follower,
        stdout=follower,
        stderr=follower,
        start_new_session=True,
        preexec_fn=_take_terminal,
    )
    os.close(follower)
    try:
        shown = _read_until(leader, PROMPT)
        assert PROMPT in shown, shown.decode(errors="replace")
        os.write(leader, keys)
        code = process.wait(timeout=10)  # hung here before: a thread stuck in input()
        shown += _read_until(leader, b"\0", timeout=0.5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(leader)
    return code, shown.decode(errors="replace")


def journaled(cwd: Path) -> tuple[int, int]:
    """Return the leases held and the orders journaled."""
    with sqlite3.connect(cwd / TINY_JOURNAL) as db:
        leases = db.execute("select count(*) from leases").fetchone()[0]
        orders = db.execute("select count(*) from orders").fetchone()[0]
    return leases, orders


def test_ctrl_c_at_the_prompt_places_nothing_frees_the_lease_and_exits_130(
    tmp_path: Path,
) -> None:
    (tmp_path / "tiny.toml").write_text(tiny_config(journal=TINY_JOURNAL), encoding="utf-8")

    code, shown = answer_prompt(tmp_path, b"\x03")

    assert code == EXIT_INTERRUPTED, shown
    assert "nothing placed: interrupted." in shown
    assert "Traceback" not in shown and "This is a bug" not in shown
    assert journaled(tmp_path) == (0, 0)  # the lease released, no order


def test_ctrl_d_at_the_prompt_declines_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "tiny.toml").write_text(tiny_config(journal=TINY_JOURNAL), encoding="utf-8")

    code, shown = answer_prompt(tmp_path, b"\x04")

    assert code == EXIT_NOTHING_DONE, shown
    assert "nothing placed: no answer (end of input)." in shown
    assert "EOFError" not in shown and "This is a bug" not in shown
    assert journaled(tmp_path) == (0, 0)

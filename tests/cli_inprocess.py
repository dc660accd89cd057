"""Run the `hedgebot` command line in the test's process, as a fresh process would run it.

`hedgebot` (``python -m bot``) is `bot.cli.main.main`; a subprocess pays ~1.5-2 s of CPU importing
ccxt, SQLAlchemy, pydantic and aiohttp before doing anything. Where being a separate process is not
what a test is about, `run_cli` calls `main` instead, with the command's own working directory,
environment and stdin (/dev/null: not interactive), its stdout and stderr captured at the file
descriptor level (``capfd``: every byte the process would write), and what a process would start
afresh put back afterwards: the logging set-up `main` installs, the signal handlers the run loop
installs, the secrets `bot.settings.secrets` remembers (a later command must not mask a secret it
would leak on its own), the decimal context.
"""

from __future__ import annotations

import decimal
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

import bot.cli.main
import bot.settings.secrets

SERVER_THREAD = "test-server"
"""Name prefix of threads a test serves from beside the command (the emulator): their log records
are not the command's, and stay out of its stderr as another process's would."""


class _NotFromServers(logging.Filter):
    """Drop the records of `SERVER_THREAD` threads."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep a record unless a server thread wrote it."""
        return not (record.threadName or "").startswith(SERVER_THREAD)


@contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    """Make ``os.environ`` exactly ``env`` for the block, then put it back."""
    saved = dict(os.environ)
    for name in saved.keys() - env.keys():
        del os.environ[name]
    os.environ.update(env)
    try:
        yield
    finally:
        for name in os.environ.keys() - saved.keys():
            del os.environ[name]
        os.environ.update(saved)


@contextmanager
def _working_directory(cwd: Path) -> Iterator[None]:
    """Run the block in ``cwd``, then go back."""
    before = Path.cwd()
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(before)


@contextmanager
def _no_stdin() -> Iterator[None]:
    """Give the command /dev/null as stdin, as ``subprocess.run`` in a test gives it no terminal."""
    before = sys.stdin
    with open(os.devnull, encoding="utf-8") as devnull:
        sys.stdin = devnull
        try:
            yield
        finally:
            sys.stdin = before


@contextmanager
def _logging_restored() -> Iterator[None]:
    """Filter server threads out of the handlers `main` installs; restore the root logger after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure: Callable[[bool, bool], None] = bot.cli.main.configure_logging

    def configure_without_servers(verbose: bool, as_json: bool) -> None:
        configure(verbose, as_json)
        for handler in root.handlers:
            handler.addFilter(_NotFromServers())

    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(bot.cli.main, "configure_logging", configure_without_servers)
            yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


@contextmanager
def _signals_restored() -> Iterator[None]:
    """Put back the SIGINT and SIGTERM handlers the run loop replaces."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


@contextmanager
def _fresh_secrets() -> Iterator[None]:
    """Start with no remembered secret (a new process's state); restore the test's after."""
    known = bot.settings.secrets._known
    with bot.settings.secrets._known_lock:
        saved = set(known)
        known.clear()
    try:
        yield
    finally:
        with bot.settings.secrets._known_lock:
            known.clear()
            known.update(saved)


def run_cli(
    argv: Sequence[str],
    capfd: pytest.CaptureFixture[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``hedgebot <argv>`` in ``cwd`` with environment ``env`` (None: the test's own).

    Return what `subprocess.run` would: ``args`` (``argv``), the exit code, stdout and stderr.
    Output the test wrote before the call is discarded.
    """
    capfd.readouterr()
    with ExitStack() as stack:
        stack.enter_context(_environment(os.environ.copy() if env is None else env))
        stack.enter_context(_working_directory(cwd))
        stack.enter_context(_no_stdin())
        stack.enter_context(_logging_restored())
        stack.enter_context(_signals_restored())
        stack.enter_context(_fresh_secrets())
        stack.enter_context(decimal.localcontext(decimal.DefaultContext))
        code = bot.cli.main.main(list(argv))
        sys.stdout.flush()
        sys.stderr.flush()
    out, err = capfd.readouterr()
    return subprocess.CompletedProcess(list(argv), code, out, err)

"""Run the Binance emulator for a bot: `hedgebot emulator` as a separate process, or in a thread.

A thread (`emulator_thread`) costs no interpreter start; a process (`emulator_process`) is for
what must not share the test's process (the cycle benchmark, the emulator command itself).
"""

from __future__ import annotations

import asyncio
import logging
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from bot.emulator.standalone import run_standalone
from bot.settings.secrets import KEY_ENV, SECRET_ENV
from tests.cli_inprocess import SERVER_THREAD

HOST = "127.0.0.1"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_until_listening(port: int, timeout: float = 30.0) -> None:
    """Wait until something accepts connections on ``port``; raise TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"the emulator did not listen on {HOST}:{port} within {timeout:.0f} s")


READY = "emulator on http://"
"""What `hedgebot emulator` prints on stdout once it listens."""


def wait_until_ready(server: subprocess.Popen[str], port: int, timeout: float = 30.0) -> None:
    """Wait for ``server``'s ready line; raise RuntimeError if it exits first (port in use…).

    Its own line, not a connection to the port: another program listening there would answer.
    """
    assert server.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(server.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=0.1):
                line = server.stdout.readline()
                if READY in line and f":{port}" in line:
                    return
                if line:
                    continue
            if server.poll() is not None:
                raise RuntimeError(f"the emulator exited with code {server.returncode}")
    raise TimeoutError(f"the emulator did not listen on {HOST}:{port} within {timeout:.0f} s")


@contextmanager
def emulator_process(assets: Sequence[str], env: Mapping[str, str]) -> Iterator[int]:
    """Start `hedgebot emulator` for ``assets`` (keys from ``env``); yield its port; stop it."""
    port = free_port()
    command = [sys.executable, "-m", "bot", "emulator", "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--assets", ",".join(assets)],
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        wait_until_ready(server, port)
        yield port
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stdout is not None:
            server.stdout.close()


@contextmanager
def emulator_thread(assets: Sequence[str], env: Mapping[str, str]) -> Iterator[int]:
    """Serve the emulator `emulator_process` starts, from a thread of this process; yield its port.

    The same server (`run_standalone`: a simulated market, real time) with the keys from ``env``
    (the command's defaults when absent). Its log records go nowhere, as the process's stderr does:
    the emulator's own loggers are detached for the block, and `run_cli` leaves out what the
    thread logs through others (aiohttp, asyncio).
    """
    port = free_port()
    key, secret = env.get(KEY_ENV, "emulator-key"), env.get(SECRET_ENV, "emulator-secret")
    listening = threading.Event()
    running: list[tuple[asyncio.AbstractEventLoop, asyncio.Task[object]]] = []
    failed: list[BaseException] = []

    async def serve() -> None:
        task = asyncio.current_task()
        assert task is not None
        running.append((asyncio.get_running_loop(), task))
        try:
            await run_standalone(
                None, list(assets), port, key, secret, 1.0, on_ready=lambda _: listening.set()
            )
        except asyncio.CancelledError:
            pass
        except BaseException as error:  # a port taken meanwhile: said by the test's thread
            failed.append(error)
        finally:
            listening.set()

    server = threading.Thread(
        target=asyncio.run, args=(serve(),), name=f"{SERVER_THREAD}-emulator", daemon=True
    )
    emulator_log = logging.getLogger("bot.emulator")
    quiet = logging.NullHandler()
    emulator_log.addHandler(quiet)
    emulator_log.propagate = False
    server.start()
    try:
        if not listening.wait(timeout=30) or failed:
            raise RuntimeError(f"the emulator did not listen on {HOST}:{port}: {failed}")
        yield port
    finally:
        for loop, task in running:
            loop.call_soon_threadsafe(task.cancel)
        server.join(timeout=10)
        emulator_log.propagate = True
        emulator_log.removeHandler(quiet)

"""Run `hedgebot emulator` as a separate process (tests of the CLI, the cycle benchmark)."""

from __future__ import annotations

import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

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

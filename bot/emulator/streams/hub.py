"""`StreamHub`: follow the emulated account and feed every open websocket what changed.

Each face's sockets are `Session` objects that turn `AccountChanges` into their own frames. The
hub publishes (catch the account up, scan it, send each session its frames) when woken (after
each REST request and each account operation: `Account.listeners`), on a timer while any socket is
open (``tick_seconds``; marks and tickers are pushed on every tick, as exchanges push them every
second), and when a test asks (`flush`, `tick`). With no socket open it sleeps; the first socket
starts from the account's present state (no replay, as on the exchanges).

Stream faults, for tests and chaos soaks:

- ``await drop_sockets()``: the server closes every socket now (code 1001); pending ccxt watches
  fail with ``NetworkError`` and a new call dials again;
- ``stale = True``: sockets stay open and answer pings and subscriptions, but no event is
  delivered (what happens meanwhile is lost, as on a stalled stream) until ``stale = False``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

from bot.emulator.account import Account
from bot.emulator.routing import Route
from bot.emulator.streams.changes import AccountChanges, AccountWatcher

log = logging.getLogger(__name__)

SocketHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
DROP_CODE = 1001  # "going away"
CLOSE_SECONDS = 2.0  # how long a server close waits for the client's answer
JSON_SEPARATORS = (",", ":")


def websocket(heartbeat: float | None = None) -> web.WebSocketResponse:
    """Return a server websocket that pings every ``heartbeat`` seconds (None: never)."""
    return web.WebSocketResponse(timeout=CLOSE_SECONDS, heartbeat=heartbeat)


class Session(ABC):
    """One open websocket: what it subscribed to, and the frames account changes make for it."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        """Wrap a prepared websocket."""
        self.ws = ws
        self.topics: set[str] = set()

    @abstractmethod
    def messages(self, changes: AccountChanges, periodic: bool) -> list[object]:
        """Return the frames ``changes`` make here (``periodic``: the timer's tick too)."""

    async def send(self, *bodies: object) -> None:
        """Send JSON frames; a socket closing meanwhile drops them."""
        for body in bodies:
            if self.ws.closed:
                return
            with contextlib.suppress(ConnectionResetError):
                await self.ws.send_str(json.dumps(body, separators=JSON_SEPARATORS))


class StreamFace(Protocol):
    """A face's streams: its socket routes on the REST app, fed by one hub."""

    hub: StreamHub

    def routes(self) -> list[Route]:
        """Return the REST endpoints the streams add (Binance's listen keys)."""
        ...

    def sockets(self) -> list[tuple[str, SocketHandler]]:
        """Return (path, handler) of each websocket endpoint."""
        ...

    def urls(self, base_url: str) -> dict[str, str]:
        """Return the websocket base URLs a client is pointed at, by what they are for."""
        ...


class StreamHub:
    """The open sockets of one emulator and the publisher that feeds them."""

    def __init__(
        self, account: Account, now: Callable[[], float], tick_seconds: float = 1.0
    ) -> None:
        """Follow ``account``; ``now`` is the fault clock resting orders fill by."""
        self.account = account
        self.tick_seconds = tick_seconds
        self.stale = False
        self.sessions: set[Session] = set()
        self.sent = 0  # frames delivered (not acks): a stale stream's count stands still
        self._now = now
        self._watcher = AccountWatcher(account)
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._subscriptions = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        account.listeners.append(self.wake)

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Start publishing in the background (on the running loop)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="emulator-stream-hub")

    async def stop(self) -> None:
        """Stop publishing and close every socket."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.drop_sockets()

    async def attach(self, session: Session) -> None:
        """Feed ``session`` from now on (the first socket starts from the present state)."""
        async with self._lock:
            if not self.sessions:
                self.account.catch_up(self._now())
                self._watcher.rebase()
            self.sessions.add(session)
        await self.subscribed_changed()

    async def detach(self, session: Session) -> None:
        """Stop feeding ``session``."""
        self.sessions.discard(session)
        await self.subscribed_changed()

    # -- publishing ------------------------------------------------------------------------
    def wake(self) -> None:
        """Ask for a publish soon (the account may have changed)."""
        self._wake.set()

    async def flush(self) -> None:
        """Publish what changed now, without the periodic pushes."""
        await self._publish(periodic=False)

    async def tick(self) -> None:
        """Publish now as the timer does: what changed, and every mark or ticker subscribed."""
        await self._publish(periodic=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + self.tick_seconds
        while True:
            timeout = max(0.0, due - loop.time()) if self.sessions else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            periodic = loop.time() >= due
            if periodic or not self.sessions:
                due = loop.time() + self.tick_seconds
            try:
                await self._publish(periodic)
            except Exception:  # a failed publish must not end the streams
                log.exception("stream publish failed")

    async def _publish(self, periodic: bool) -> None:
        async with self._lock:
            if not self.sessions:
                return
            self.account.catch_up(self._now())
            changes = self._watcher.scan()
            if self.stale:
                return
            frames = [(s, s.messages(changes, periodic)) for s in list(self.sessions)]
        for session, bodies in frames:
            self.sent += len(bodies)
            await session.send(*bodies)

    # -- subscriptions ---------------------------------------------------------------------
    def subscribed(self, topic: str) -> bool:
        """Return whether an open socket subscribed ``topic`` (a stream or topic name)."""
        return any(topic in s.topics for s in self.sessions)

    async def subscribed_changed(self) -> None:
        """Wake whoever waits on subscriptions (a session changed its topics)."""
        async with self._subscriptions:
            self._subscriptions.notify_all()

    async def wait_subscribed(self, topic: str) -> None:
        """Wait until an open socket subscribed ``topic`` (bound it with `asyncio.timeout`)."""
        async with self._subscriptions:
            await self._subscriptions.wait_for(lambda: self.subscribed(topic))

    # -- faults ----------------------------------------------------------------------------
    async def drop_sockets(self, code: int = DROP_CODE) -> int:
        """Close every open socket from the server side now; return how many."""
        sessions = list(self.sessions)
        await asyncio.gather(
            *(s.ws.close(code=code, message=b"emulator: stream dropped") for s in sessions)
        )
        return len(sessions)

"""Bybit v5 streams: the private socket (auth, topics) and the public linear tickers.

``/v5/private``: ``{"op": "auth", "args": [key, expires, signature]}`` first (`BybitAuthenticator
.stream_refusal`; a refusal is ``success: false`` with the request echoed, which ccxt raises as
``AuthenticationError``), then ``{"op": "subscribe", "req_id": N, "args": [...]}`` for ``order``,
``execution``, ``position`` and ``wallet`` (`bybit_events`); before auth a subscription is refused
("Request not authorized"). ``/v5/public/linear``: ``tickers.<SYMBOL>``, a snapshot at once, then
on every mark move and every hub tick. Both answer ``{"op": "ping"}`` (private with ``op: pong``,
public with ``ret_msg: pong``, as Bybit does) and acknowledge each (un)subscription with
``success``, ``op`` and ``req_id``. Unknown topics are refused.
"""

from __future__ import annotations

import itertools
import json
import secrets

from aiohttp import web

from bot.emulator.account import binance_id
from bot.emulator.auth import wall_ms
from bot.emulator.bybit.account import BybitAccountEndpoints
from bot.emulator.bybit.auth import BybitAuthenticator
from bot.emulator.bybit.market import BybitMarket
from bot.emulator.bybit.state import BybitState
from bot.emulator.routing import Route
from bot.emulator.streams.bybit_events import BybitEvents, ticker_frame, topic_frame
from bot.emulator.streams.changes import AccountChanges
from bot.emulator.streams.hub import Session, SocketHandler, StreamHub, websocket

PRIVATE_TOPICS = frozenset({"order", "execution", "position", "wallet"})
TICKERS = "tickers."
Request = dict[str, object]


class BybitSession(Session):
    """A Bybit socket: its connection id, and the answers to its requests."""

    def __init__(self, ws: web.WebSocketResponse, events: BybitEvents) -> None:
        """Feed ``ws`` records made by ``events``."""
        super().__init__(ws)
        self.events = events
        self.conn_id = secrets.token_hex(10)

    def answer(self, request: Request, success: bool, message: str = "") -> Request:
        """Return the acknowledgement of ``request`` (its ``op`` and ``req_id`` echoed)."""
        body: Request = {"success": success, "ret_msg": message, "conn_id": self.conn_id}
        if "req_id" in request:
            body["req_id"] = request["req_id"]
        body["op"] = request.get("op")
        return body


class PrivateSession(BybitSession):
    """The private socket: account topics once authenticated."""

    authenticated = False

    def messages(self, changes: AccountChanges, periodic: bool) -> list[object]:
        """Return a message per subscribed topic that changed."""
        events, now = self.events, self.events.account.now_ms()
        parts = {
            "order": events.orders(changes) if changes.orders else [],
            "execution": events.executions(changes) if changes.trades or changes.funding else [],
            "position": events.positions(changes) if changes.positions else [],
            "wallet": events.wallet() if changes.wallet else [],
        }
        return [
            topic_frame(topic, data, now)
            for topic, data in parts.items()
            if data and topic in self.topics
        ]


class PublicSession(BybitSession):
    """The public linear socket: tickers."""

    _sequence = itertools.count(1)

    def messages(self, changes: AccountChanges, periodic: bool) -> list[object]:
        """Return the snapshots of the tickers subscribed whose mark moved (all on a tick)."""
        moved = {binance_id(symbol) for symbol in changes.marks}
        wanted = {t for t in self.topics if periodic or t.removeprefix(TICKERS) in moved}
        return self.tickers(wanted)

    def tickers(self, topics: set[str]) -> list[object]:
        """Return a snapshot of each ticker topic."""
        now = self.events.account.now_ms()
        frames: list[object] = []
        for topic in sorted(topics):
            symbol_id = topic.removeprefix(TICKERS)
            data = self.events.ticker(symbol_id)
            if data is not None:
                frames.append(ticker_frame(symbol_id, data, now, next(self._sequence)))
        return frames


class BybitStreams:
    """The stream side of the Bybit face."""

    def __init__(self, hub: StreamHub, api_key: str, api_secret: str) -> None:
        """Serve the streams of ``hub``'s account to clients holding this key pair."""
        self.hub = hub
        self.account = hub.account
        state = BybitState(hub.account)
        self.events = BybitEvents(state, BybitAccountEndpoints(state, api_key), BybitMarket(state))
        self._auth = BybitAuthenticator(api_key, api_secret)

    def routes(self) -> list[Route]:
        """Return the REST endpoints the streams need: none on Bybit."""
        return []

    def sockets(self) -> list[tuple[str, SocketHandler]]:
        """Return the websocket endpoints."""
        return [("/v5/private", self.private), ("/v5/public/linear", self.public)]

    def urls(self, base_url: str) -> dict[str, str]:
        """Return ccxt's ``ws.public.linear`` and ``ws.private.contract`` for this server."""
        base = base_url.replace("http://", "ws://", 1)
        return {
            "public.linear": f"{base}/v5/public/linear",
            "private.contract": f"{base}/v5/private",
        }

    # -- sockets ---------------------------------------------------------------------------
    async def private(self, request: web.Request) -> web.StreamResponse:
        """Serve the private socket."""
        ws = websocket()
        await ws.prepare(request)
        session = PrivateSession(ws, self.events)
        await self._serve(session)
        return ws

    async def public(self, request: web.Request) -> web.StreamResponse:
        """Serve the public linear socket."""
        ws = websocket()
        await ws.prepare(request)
        session = PublicSession(ws, self.events)
        await self._serve(session)
        return ws

    async def _serve(self, session: PrivateSession | PublicSession) -> None:
        await self.hub.attach(session)
        try:
            async for message in session.ws:
                if message.type == web.WSMsgType.TEXT:
                    await self._request(session, message.data)
        finally:
            await self.hub.detach(session)

    async def _request(self, session: PrivateSession | PublicSession, text: str) -> None:
        """Answer one request frame."""
        try:
            request = json.loads(text)
        except ValueError:
            request = None
        if not isinstance(request, dict):
            await session.send(session.answer({}, False, "error:request not json"))
            return
        op = request.get("op")
        if op == "ping":
            await session.send(self._pong(session, request))
        elif op == "auth" and isinstance(session, PrivateSession):
            await self._authenticate(session, request)
        elif op in ("subscribe", "unsubscribe"):
            await self._subscribe(session, request, op == "subscribe")
        else:
            await session.send(session.answer(request, False, "error:invalid op"))

    def _pong(self, session: BybitSession, request: Request) -> Request:
        if isinstance(session, PrivateSession):
            pong: Request = {"req_id": request.get("req_id"), "op": "pong"}
            return {**pong, "args": [str(wall_ms())], "conn_id": session.conn_id}
        return session.answer(request, True, "pong")

    async def _authenticate(self, session: PrivateSession, request: Request) -> None:
        refusal = self._auth.stream_refusal(request.get("args"))
        if refusal is None:
            session.authenticated = True
            await session.send(session.answer(request, True))
            return
        echoed = {"op": "auth", "args": request.get("args")}
        await session.send({**session.answer(request, False, refusal), "request": echoed})

    async def _subscribe(
        self, session: PrivateSession | PublicSession, request: Request, subscribe: bool
    ) -> None:
        args = request.get("args")
        topics = {str(a) for a in args} if isinstance(args, list) else set()
        if isinstance(session, PrivateSession):
            if not session.authenticated:
                await session.send(session.answer(request, False, "Request not authorized"))
                return
            unknown = topics - PRIVATE_TOPICS
        else:
            unknown = {t for t in topics if not self._ticker_served(t)}
        if unknown or not topics:
            topic = ",".join(sorted(unknown))
            await session.send(session.answer(request, False, f"error:handler not found,{topic}"))
            return
        if subscribe:
            session.topics |= topics
        else:
            session.topics -= topics
        await session.send(session.answer(request, True))
        await self.hub.subscribed_changed()
        if subscribe and isinstance(session, PublicSession) and not self.hub.stale:
            await session.send(*session.tickers(topics))

    def _ticker_served(self, topic: str) -> bool:
        return topic.startswith(TICKERS) and topic.removeprefix(TICKERS) in self.account.symbols

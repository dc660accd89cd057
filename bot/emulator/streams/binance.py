"""Binance USDⓈ-M streams: listen keys, the user data stream and the mark price streams.

REST (keyed, no signature): ``POST|PUT|DELETE /fapi/v1/listenKey`` (`listen_keys`). Sockets:

- user data at ``/private/ws?listenKey=K``, ``/private/ws/K`` and ``/ws/K`` (what ccxt dials
  and the two forms Binance documents); a key that is not the active one is refused before the
  upgrade (HTTP 400, -1125). Events: `binance_events`. When the key lapses (or
  `expire_listen_key`), each of its sockets gets ``listenKeyExpired`` and is closed; a DELETE
  closes them without it;
- market streams at ``/market/ws`` and ``/market/ws/<n>``: ``SUBSCRIBE``/``UNSUBSCRIBE``/
  ``LIST_SUBSCRIPTIONS`` requests (acked ``{"result": null, "id": N}``) for
  ``<symbol>@markPrice[@1s]`` and ``!markPrice@arr[@1s]``; the current mark is pushed at once,
  then on every move and every hub tick. Any other stream is refused (error code 2).

Pings are websocket control frames, answered by the server; the server pings every 3 minutes.
"""

from __future__ import annotations

import asyncio
import json
import re

from aiohttp import web

from bot.emulator.account import Account, binance_id
from bot.emulator.marketdata import FuturesMarketData
from bot.emulator.params import Params
from bot.emulator.routing import Route
from bot.emulator.streams import binance_events as events
from bot.emulator.streams.changes import ADL_RANK, LEVERAGE, AccountChanges
from bot.emulator.streams.hub import Session, SocketHandler, StreamHub, websocket
from bot.emulator.streams.listen_keys import ListenKeys, unknown_key

HEARTBEAT_SECONDS = 180.0
USER_DATA = "userData"
LISTEN_KEY_PATH = "/fapi/v1/listenKey"
MARK_STREAM = re.compile(r"^(?:(?P<symbol>[a-z0-9]+)@markprice|(?P<all>!markprice@arr))(?:@1s)?$")


class UserDataSession(Session):
    """One user data socket: every order, fill and balance change of the account."""

    def __init__(self, ws: web.WebSocketResponse, key: str, account: Account) -> None:
        """Feed ``ws``, opened with listen key ``key``."""
        super().__init__(ws)
        self.key = key
        self.account = account
        self.topics = {USER_DATA}

    def messages(self, changes: AccountChanges, periodic: bool) -> list[object]:
        """Return the order, account and config updates of ``changes``."""
        account, now = self.account, self.account.now_ms()
        frames: list[object] = [events.order_update(account, e, now) for e in changes.orders]
        by_reason: dict[str, list[str]] = {}
        for change in changes.positions:
            if change.reason == LEVERAGE:
                frames.append(events.config_update(account, change.symbol, now))
            elif change.reason != ADL_RANK:  # Binance streams no rank: /fapi/v1/adlQuantile
                by_reason.setdefault(change.reason, []).append(change.symbol)
        frames += [events.account_update(account, r, s, now) for r, s in by_reason.items()]
        return frames


class MarkPriceSession(Session):
    """One market socket: the mark price streams it subscribed."""

    def __init__(self, ws: web.WebSocketResponse, market: FuturesMarketData) -> None:
        """Feed ``ws`` the marks of ``market``'s account."""
        super().__init__(ws)
        self.market = market

    def messages(self, changes: AccountChanges, periodic: bool) -> list[object]:
        """Return the mark updates of the streams subscribed (all of them on a tick)."""
        moved = {binance_id(symbol) for symbol in changes.marks}
        return self.marks(self.topics, None if periodic else moved)

    def marks(self, streams: set[str], moved: set[str] | None = None) -> list[object]:
        """Return the frames of ``streams`` (only of symbol ids in ``moved`` unless None)."""
        account = self.market.account
        now = account.now_ms()
        frames: list[object] = []
        for stream in sorted(streams):
            match = MARK_STREAM.match(stream.lower())
            if match is None:
                continue
            if match["all"]:
                if moved is None or moved:
                    ids = sorted(account.symbols)
                    frames.append([events.mark_update(self.market.premium(i), now) for i in ids])
            else:
                symbol_id = match["symbol"].upper()
                if moved is None or symbol_id in moved:
                    frames.append(events.mark_update(self.market.premium(symbol_id), now))
        return frames


class BinanceStreams:
    """The stream side of the Binance face."""

    def __init__(self, hub: StreamHub) -> None:
        """Serve the streams of ``hub``'s account."""
        self.hub = hub
        self.account = hub.account
        self.market = FuturesMarketData(hub.account)
        self.listen_keys = ListenKeys(self._expired)
        self._closing: set[asyncio.Task[None]] = set()

    def routes(self) -> list[Route]:
        """Return the listen key endpoints (API key header, no signature)."""
        return [
            Route("POST", LISTEN_KEY_PATH, self.new_listen_key, keyed=True),
            Route("PUT", LISTEN_KEY_PATH, self.keep_listen_key, keyed=True),
            Route("DELETE", LISTEN_KEY_PATH, self.close_listen_key, keyed=True),
        ]

    def sockets(self) -> list[tuple[str, SocketHandler]]:
        """Return the websocket endpoints."""
        return [
            ("/private/ws", self.user_data),
            ("/private/ws/{key}", self.user_data),
            ("/ws/{key}", self.user_data),
            ("/market/ws", self.market_streams),
            ("/market/ws/{index}", self.market_streams),
        ]

    def urls(self, base_url: str) -> dict[str, str]:
        """Return ccxt's ``urls['api']['ws']['linear']`` for this server."""
        return {"linear": base_url.replace("http://", "ws://", 1) + "/ws"}

    # -- listen keys -----------------------------------------------------------------------
    async def new_listen_key(self, params: Params) -> dict[str, str]:
        """Answer POST /fapi/v1/listenKey: the active key, extended, or a new one."""
        return {"listenKey": self.listen_keys.create()}

    async def keep_listen_key(self, params: Params) -> dict[str, str]:
        """Answer PUT /fapi/v1/listenKey: extend the active key (-1125 when none)."""
        return {"listenKey": self.listen_keys.keepalive()}

    async def close_listen_key(self, params: Params) -> dict[str, str]:
        """Answer DELETE /fapi/v1/listenKey: close the key and its sockets."""
        key = self.listen_keys.active
        self.listen_keys.close()
        if key is not None:
            await self._close_sockets(key, expired=False)
        return {}

    async def expire_listen_key(self) -> str | None:
        """Let the active key lapse now (fault): ``listenKeyExpired``, then its sockets close."""
        key = self.listen_keys.expire_now()
        await asyncio.gather(*self._closing)
        return key

    def _expired(self, key: str) -> None:
        task = asyncio.create_task(self._close_sockets(key, expired=True))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close_sockets(self, key: str, *, expired: bool) -> None:
        sessions = [s for s in self.hub.sessions if isinstance(s, UserDataSession) and s.key == key]
        for session in sessions:
            if expired:
                await session.send(events.listen_key_expired(key, self.account.now_ms()))
            await session.ws.close()

    # -- sockets ---------------------------------------------------------------------------
    async def user_data(self, request: web.Request) -> web.StreamResponse:
        """Serve a user data socket for the listen key in the path or the query."""
        key = request.match_info.get("key") or request.query.get("listenKey", "")
        if not self.listen_keys.valid(key):
            return web.json_response(unknown_key().body(), status=400)
        ws = websocket(HEARTBEAT_SECONDS)
        await ws.prepare(request)
        session = UserDataSession(ws, key, self.account)
        await self.hub.attach(session)
        try:
            async for _ in ws:  # the user data stream takes no requests
                pass
        finally:
            await self.hub.detach(session)
        return ws

    async def market_streams(self, request: web.Request) -> web.StreamResponse:
        """Serve a market socket: subscription requests in, mark price updates out."""
        ws = websocket(HEARTBEAT_SECONDS)
        await ws.prepare(request)
        session = MarkPriceSession(ws, self.market)
        await self.hub.attach(session)
        try:
            async for message in ws:
                if message.type == web.WSMsgType.TEXT:
                    await self._request(session, message.data)
        finally:
            await self.hub.detach(session)
        return ws

    async def _request(self, session: MarkPriceSession, text: str) -> None:
        """Answer one market stream request."""
        try:
            request = json.loads(text)
        except ValueError:
            await session.send({"error": {"code": 3, "msg": "Invalid JSON"}, "id": None})
            return
        ident = request.get("id") if isinstance(request, dict) else None
        method = request.get("method") if isinstance(request, dict) else None
        streams = request.get("params") if isinstance(request, dict) else None
        if method == "LIST_SUBSCRIPTIONS":
            await session.send({"result": sorted(session.topics), "id": ident})
            return
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE") or not isinstance(streams, list):
            await session.send({"error": {"code": 2, "msg": "Invalid request"}, "id": ident})
            return
        wanted = {str(s) for s in streams}
        if not all(self._served(s) for s in wanted):
            await session.send({"error": {"code": 2, "msg": "Invalid stream"}, "id": ident})
            return
        if method == "UNSUBSCRIBE":
            session.topics -= wanted
        else:
            session.topics |= wanted
        await session.send({"result": None, "id": ident})
        await self.hub.subscribed_changed()
        if method == "SUBSCRIBE" and not self.hub.stale:
            await session.send(*session.marks(wanted))

    def _served(self, stream: str) -> bool:
        match = MARK_STREAM.match(stream.lower())
        if match is None:
            return False
        return bool(match["all"]) or match["symbol"].upper() in self.account.symbols

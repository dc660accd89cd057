"""`BinanceEmulator`: an aiohttp server on 127.0.0.1 that speaks Binance's REST dialect.

It serves USDⓈ-M futures (``/fapi/...``) and the spot ``/api/v3`` subset over one `PaperVenue`, so
paper mode and the emulator share one simulation. Every request is counted in ``requests``, passes
the fault injector (``faults``), is authenticated when Binance signs it, and is answered after the
venue caught up with its clock and the resting orders due by the fault clock filled. Object times
(orders, trades, funding) are replay-clock times; ``serverTime`` and the signature window use the
wall clock.

The exchange's websocket streams are served on the same port (``streams``: `bot.emulator.streams`,
fed by ``hub``): listen keys, the user data stream and mark prices here, the v5 private and public
sockets on the Bybit face. ``ws_urls`` names where a ccxt.pro client is pointed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from bot.emulator.account import Account
from bot.emulator.auth import Authenticator
from bot.emulator.errors import BinanceError
from bot.emulator.faults import Fault, FaultInjector, FaultKind, Throttle
from bot.emulator.futures_account import FuturesAccount
from bot.emulator.futures_orders import FuturesOrders
from bot.emulator.marketdata import FuturesMarketData
from bot.emulator.routing import Route
from bot.emulator.spot import Spot
from bot.emulator.streams.binance import BinanceStreams
from bot.emulator.streams.hub import StreamFace, StreamHub
from bot.sim.exchange import SimRejected, SimTrade
from bot.sim.paper import PaperVenue

HOST = "127.0.0.1"
SERVER_ERROR_BODY = {
    "code": -1001,
    "msg": "Internal error; unable to process your request. Please try again.",
}


class BinanceEmulator:
    """Binance's REST face over one PaperVenue, for the real ccxt clients."""

    def __init__(
        self,
        venue: PaperVenue,
        api_key: str,
        api_secret: str,
        spot_balances: Mapping[str, Decimal] | None = None,
        *,
        faults: FaultInjector | None = None,
        id_base: int = 0,
    ) -> None:
        """Serve ``venue`` to clients holding this key pair; spot balances default to holdings.

        ``id_base``: the first ids are above it (`bot.emulator.account.restart_id_base` for an
        emulator a journal outlives); 0 numbers from 1, as tests expect.
        """
        if id_base:
            venue.exchange.start_ids_at(id_base)
        self.venue = venue
        self.account = Account(venue, spot_balances)
        self.faults = faults if faults is not None else FaultInjector()
        self.requests: list[tuple[str, str]] = []
        self.base_url = ""
        self._auth = Authenticator(api_key, api_secret)
        self.hub = StreamHub(self.account, self.faults.now)
        self.streams = self._streams(api_key, api_secret)
        self._routes = {(route.method, route.path): route for route in self._route_table()}
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()

    def _streams(self, api_key: str, api_secret: str) -> StreamFace:
        """Return this face's streams (another face overrides it)."""
        return BinanceStreams(self.hub)

    @property
    def ws_urls(self) -> dict[str, str]:
        """Return the websocket base URLs of the running server, by what they are for."""
        return self.streams.urls(self.base_url)

    def _route_table(self) -> list[Route]:
        market = FuturesMarketData(self.account)
        account = FuturesAccount(self.account)
        orders = FuturesOrders(self.account, self.faults)
        spot = Spot(self.account)
        return [
            Route("GET", "/fapi/v1/ping", market.ping),
            Route("GET", "/fapi/v1/time", market.time),
            Route("GET", "/fapi/v1/exchangeInfo", market.exchange_info),
            Route("GET", "/fapi/v1/ticker/24hr", market.ticker_24hr),
            Route("GET", "/fapi/v1/ticker/price", market.ticker_price),
            Route("GET", "/fapi/v2/ticker/price", market.ticker_price),
            Route("GET", "/fapi/v1/premiumIndex", market.premium_index),
            Route("GET", "/fapi/v1/fundingRate", market.funding_rate),
            Route("GET", "/fapi/v1/klines", market.klines),
            Route("GET", "/fapi/v1/leverageBracket", account.leverage_bracket, signed=True),
            Route("GET", "/fapi/v2/balance", account.balance_v2, signed=True),
            Route("GET", "/fapi/v3/balance", account.balance_v2, signed=True),
            Route("GET", "/fapi/v3/account", account.account_v3, signed=True),
            Route("GET", "/fapi/v2/positionRisk", account.position_risk_v2, signed=True),
            Route("GET", "/fapi/v3/positionRisk", account.position_risk_v3, signed=True),
            Route("POST", "/fapi/v1/leverage", account.set_leverage, signed=True),
            Route("POST", "/fapi/v1/marginType", account.set_margin_type, signed=True),
            Route("GET", "/fapi/v1/positionSide/dual", account.get_position_mode, signed=True),
            Route("POST", "/fapi/v1/positionSide/dual", account.set_position_mode, signed=True),
            Route("GET", "/fapi/v1/multiAssetsMargin", account.multi_assets_margin, signed=True),
            Route("POST", "/fapi/v1/positionMargin", account.position_margin, signed=True),
            Route("GET", "/fapi/v1/income", account.income, signed=True),
            Route("POST", "/fapi/v1/order", orders.new_order, signed=True),
            Route("GET", "/fapi/v1/order", orders.query_order, signed=True),
            Route("DELETE", "/fapi/v1/order", orders.cancel_order, signed=True),
            Route("GET", "/fapi/v1/openOrders", orders.open_orders, signed=True),
            Route("GET", "/fapi/v1/allOrders", orders.all_orders, signed=True),
            Route("GET", "/fapi/v1/userTrades", orders.user_trades, signed=True),
            Route("GET", "/fapi/v1/forceOrders", orders.force_orders, signed=True),
            Route("GET", "/fapi/v1/adlQuantile", account.adl_quantile, signed=True),
            *self.streams.routes(),
            Route("GET", "/api/v3/ping", spot.ping),
            Route("GET", "/api/v3/time", spot.time),
            Route("GET", "/api/v3/exchangeInfo", spot.exchange_info),
            Route("GET", "/api/v3/ticker/price", spot.ticker_price),
            Route("GET", "/api/v3/ticker/24hr", spot.ticker_24hr),
            Route("GET", "/api/v3/klines", spot.klines),
            Route("GET", "/api/v3/account", spot.account_info, signed=True),
        ]

    def trade_key(self, trade: SimTrade) -> tuple[str, str]:
        """Return (symbol, trade id) as this face reports a simulated trade: the journal's key.

        Binance numbers trades per symbol, so the id alone names no trade.
        """
        return trade.symbol, self.account.venue_trade_id(trade.trade_id)

    # -- life cycle ------------------------------------------------------------------------
    async def start(self, port: int = 0) -> str:
        """Listen on 127.0.0.1:``port`` (0 = any free port); return the base URL."""
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        app = web.Application()
        for path, handler in self.streams.sockets():  # before the catch-all REST route
            app.router.add_get(path, handler)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
        await web.SockSite(runner, sock).start()
        self._runner = runner
        self._stopping.clear()
        self.base_url = f"http://{HOST}:{sock.getsockname()[1]}"
        self.hub.start()
        return self.base_url

    async def stop(self) -> None:
        """Release held answers, close every socket and the server."""
        self._stopping.set()
        await self.hub.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- request pipeline ------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method, path = request.method, request.path
        self.requests.append((method, path))
        body = await request.text() if request.can_read_body else ""
        faults = self.faults
        throttle = faults.throttle(method, path)
        if throttle is not None:
            return self._throttled(throttle)
        error = faults.take(FaultKind.SERVER_ERROR, method, path)
        if error is not None and not error.after_handling:
            return self._server_error(error)
        delay = faults.take(FaultKind.DELAY, method, path)
        if delay is not None:
            await self._pause(delay.seconds)
        response = await self._answer(request, body)
        self.hub.wake()
        corrupt = faults.take(FaultKind.CORRUPT, method, path)
        if corrupt is not None and corrupt.mutate is not None:
            response = _corrupted(response, corrupt.mutate)
        if error is not None:
            return self._server_error(error)
        if faults.take(FaultKind.DROP, method, path) is not None:
            _abort(request)
        else:
            hang = faults.take(FaultKind.HANG, method, path)
            if hang is not None:
                await self._pause(hang.seconds)
                _abort(request)
        return response

    async def _answer(self, request: web.Request, body: str) -> web.Response:
        route = self._routes.get((request.method, request.path))
        if route is None:
            return web.Response(status=404, text="Not Found")
        query = request.query_string
        params = dict(parse_qsl(query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        try:
            rejection = self.faults.rejection(request.method, request.path)
            if rejection is not None:
                raise rejection
            if route.signed:
                self._auth.check(request.headers.get("X-MBX-APIKEY"), query, body, params)
            elif route.keyed:
                self._auth.check_key(request.headers.get("X-MBX-APIKEY"))
            self.account.catch_up(self.faults.now())
            return _json(await route.handler(params))
        except BinanceError as refused:
            return _json(refused.body(), refused.status)
        except SimRejected as refused:
            return _json({"code": refused.code, "msg": refused.message}, 400)

    def _throttled(self, throttle: Throttle) -> web.Response:
        """Return a throttled call's answer: Binance's 429/418 JSON with ``Retry-After``."""
        headers = {"Retry-After": str(throttle.retry_after)}
        return _json(throttle.body, throttle.status, headers)

    def _server_error(self, fault: Fault) -> web.Response:
        """Return a 5xx answer in this face's dialect (another face overrides it)."""
        return _server_error(fault)

    async def _pause(self, seconds: float) -> None:
        """Wait ``seconds``, or less when the server stops."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)


def _json(
    body: object, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """Return a compact JSON answer."""
    text = json.dumps(body, separators=(",", ":"))
    return web.Response(text=text, status=status, headers=headers, content_type="application/json")


def _corrupted(response: web.Response, mutate: Callable[[Any], Any]) -> web.Response:
    """Return ``response`` with its JSON body replaced by ``mutate(body)`` (fault injection)."""
    assert response.text is not None
    changed = mutate(json.loads(response.text))
    text = changed if isinstance(changed, str) else json.dumps(changed)
    return web.Response(
        status=response.status,
        text=text,
        content_type="application/json",
        headers={
            k: v
            for k, v in response.headers.items()
            if k.lower() not in ("content-type", "content-length")
        },
    )


def _server_error(fault: Fault) -> web.Response:
    """Return a 5xx answer: Binance's JSON -1001, or the fault's HTML page."""
    if fault.message:
        return web.Response(text=fault.message, status=fault.status, content_type="text/html")
    return _json(SERVER_ERROR_BODY, fault.status)


def _abort(request: web.Request) -> None:
    """Cut the connection so the client never sees the answer."""
    if request.transport is not None:
        request.transport.abort()

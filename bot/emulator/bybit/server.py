"""`BybitEmulator`: Bybit's v5 REST face over the same PaperVenue as the Binance face.

One simulation, two faces: this class reuses `BinanceEmulator`'s life cycle, request log and fault
pipeline (delay, drop after handling, hang, 5xx, rejection, rate limit and ban) and replaces what
Bybit says differently: the routes, the ``{retCode, retMsg, result, retExtInfo, time}`` envelope,
the ``X-BAPI-*`` signature, the parameters (query string for GET, JSON body for POST) and the
fault answers (a rejection is ``retCode`` = the armed code; a rate limit is ``retCode`` 10006 with
``X-Bapi-Limit-Reset-Timestamp``; a ban is HTTP 403 "access too frequent"; a 5xx is an HTML page).
The chaos faults and account operations are the Binance face's: resting orders (``New``), reset,
someone else's trade, settings changed out of band, the audit log, and wrong prices and positions
in Bybit's dialect (`bot.emulator.bybit.chaos`). The v5 websockets (`bot.emulator.streams.bybit`)
are served on the same port.

The simulation liquidates by Bybit's published isolated-margin method (`LiquidationMethod.BYBIT`)
with the venue's tiers, which /v5/market/risk-limit publishes. Object times are replay-clock
times; the envelope ``time``, /v5/market/time and the signature window use the wall clock.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from urllib.parse import parse_qsl

from aiohttp import web

from bot.emulator.auth import wall_ms
from bot.emulator.bybit import codec
from bot.emulator.bybit.account import BybitAccountEndpoints
from bot.emulator.bybit.auth import BybitAuthenticator
from bot.emulator.bybit.chaos import BYBIT_ANSWERS
from bot.emulator.bybit.errors import RATE_LIMITED, BybitError, params_error
from bot.emulator.bybit.market import BybitMarket
from bot.emulator.bybit.state import BybitState, exec_uuid
from bot.emulator.bybit.trade import BybitTrade
from bot.emulator.errors import BinanceError
from bot.emulator.faults import Fault, FaultInjector, Throttle
from bot.emulator.routing import Route
from bot.emulator.server import BinanceEmulator
from bot.emulator.streams.bybit import BybitStreams
from bot.emulator.streams.hub import StreamFace
from bot.margin.venues import LiquidationMethod
from bot.sim.exchange import SimRejected, SimTrade
from bot.sim.paper import PaperVenue

BAN_PAGE = "access too frequent"
GATEWAY_PAGE = "<html><head><title>{status}</title></head><body><h1>{status}</h1></body></html>"


class BybitEmulator(BinanceEmulator):
    """Bybit's v5 REST face (unified trading account) over one PaperVenue."""

    def __init__(
        self,
        venue: PaperVenue,
        api_key: str,
        api_secret: str,
        spot_balances: Mapping[str, Decimal] | None = None,
        *,
        faults: FaultInjector | None = None,
        liquidation: LiquidationMethod = LiquidationMethod.BYBIT,
        id_base: int = 0,
    ) -> None:
        """Serve ``venue`` to clients holding this key pair; spot balances default to holdings."""
        venue.exchange.liquidation_method = liquidation
        self._api_key = api_key
        super().__init__(venue, api_key, api_secret, spot_balances, faults=faults, id_base=id_base)
        self.faults.answers = BYBIT_ANSWERS
        self.account.market_time_in_force = "IOC"
        self.account.adl.default = 2
        self._bybit_auth = BybitAuthenticator(api_key, api_secret)

    def _streams(self, api_key: str, api_secret: str) -> StreamFace:
        """Return the v5 private and public linear sockets."""
        return BybitStreams(self.hub, api_key, api_secret)

    def _route_table(self) -> list[Route]:
        self.state = BybitState(self.account)
        market = BybitMarket(self.state)
        account = BybitAccountEndpoints(self.state, self._api_key)
        trade = BybitTrade(self.state, self.faults)
        return [
            Route("GET", "/v5/market/time", market.time),
            Route("GET", "/v5/market/instruments-info", market.instruments),
            Route("GET", "/v5/market/tickers", market.tickers),
            Route("GET", "/v5/market/kline", market.kline),
            Route("GET", "/v5/market/risk-limit", market.risk_limit),
            Route("GET", "/v5/asset/coin/query-info", account.coin_info, signed=True),
            Route("GET", "/v5/user/query-api", account.query_api, signed=True),
            Route("GET", "/v5/account/info", account.account_info, signed=True),
            Route("GET", "/v5/account/wallet-balance", account.wallet_balance, signed=True),
            Route("POST", "/v5/account/set-margin-mode", account.set_margin_mode, signed=True),
            Route("GET", "/v5/position/list", account.positions, signed=True),
            Route("POST", "/v5/position/set-leverage", account.set_leverage, signed=True),
            Route("POST", "/v5/position/switch-mode", account.switch_mode, signed=True),
            Route("POST", "/v5/position/add-margin", account.add_margin, signed=True),
            Route("POST", "/v5/order/create", trade.create, signed=True),
            Route("GET", "/v5/order/realtime", trade.realtime, signed=True),
            Route("GET", "/v5/order/history", trade.history, signed=True),
            Route("POST", "/v5/order/cancel", trade.cancel, signed=True),
            Route("GET", "/v5/execution/list", trade.executions, signed=True),
        ]

    def trade_key(self, trade: SimTrade) -> tuple[str, str]:
        """Return (symbol, ``execId``) of a simulated trade: Bybit's ids are UUIDs."""
        return trade.symbol, exec_uuid(trade.trade_id)

    # -- request pipeline ------------------------------------------------------------------
    async def _answer(self, request: web.Request, body: str) -> web.Response:
        route = self._routes.get((request.method, request.path))
        if route is None:
            return web.Response(status=404, text="Not Found")
        query = request.rel_url.raw_query_string
        try:
            rejection = self.faults.rejection(request.method, request.path)
            if rejection is not None:
                raise BybitError(rejection.code, rejection.message)
            params = _params(query, body if request.method == "POST" else "")
            if route.signed:
                if request.method == "POST":
                    self._bybit_auth.check(request.headers, body)
                else:
                    self._bybit_auth.check(request.headers, query, query=True)
            self.account.catch_up(self.faults.now())
            result = await route.handler(params)
            return _json(codec.envelope(result, wall_ms()))
        except BybitError as refused:
            return _json(refused.body(), refused.status)
        except (SimRejected, BinanceError) as refused:  # a path no handler translated
            return _json(params_error(str(refused)).body())

    def _throttled(self, throttle: Throttle) -> web.Response:
        """Return 10006 (the API limit, HTTP 200) or, during a ban, HTTP 403 (the IP limit)."""
        if throttle.status == 418:
            return web.Response(status=403, text=BAN_PAGE, content_type="text/plain")
        reset = wall_ms() + throttle.retry_after * 1000
        headers = {
            "X-Bapi-Limit": "10",
            "X-Bapi-Limit-Status": "0",
            "X-Bapi-Limit-Reset-Timestamp": str(reset),
        }
        refused = BybitError(RATE_LIMITED, "Too many visits. Exceeded the API Rate Limit.")
        return _json(refused.body(), 200, headers)

    def _server_error(self, fault: Fault) -> web.Response:
        """Return a gateway's HTML error page (Bybit's 5xx come from its gateway)."""
        text = fault.message or GATEWAY_PAGE.format(status=fault.status)
        return web.Response(text=text, status=fault.status, content_type="text/html")


def _params(query: str, body: str) -> dict[str, str]:
    """Return the request's parameters as strings: the query string, then the JSON body."""
    params = dict(parse_qsl(query, keep_blank_values=True))
    if body:
        try:
            decoded = json.loads(body)
        except ValueError:
            raise params_error("params error: request body is not JSON") from None
        if not isinstance(decoded, dict):
            raise params_error("params error: request body must be a JSON object")
        for key, value in decoded.items():
            if value is None:
                continue
            if isinstance(value, bool):
                params[key] = "true" if value else "false"
            else:
                params[key] = str(value)
    return params


def _json(
    body: object, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """Return a compact JSON answer."""
    text = json.dumps(body, separators=(",", ":"))
    return web.Response(text=text, status=status, headers=headers, content_type="application/json")

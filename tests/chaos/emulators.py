"""The emulator of a trial, with two hooks the harness needs and the faces' endpoint names.

`TrackedBinance` and `TrackedBybit` are the emulator faces unchanged except for one override of
the request pipeline's entry: every request is counted, ``on_arrival`` is called as it arrives
(before it is handled: the task mode's "kill at the k-th request" and mid-run account events) and
``on_answered`` once it was handled, before the answer is written (the process mode's "SIGKILL
right after the exchange accepted an order"). ``wait_idle`` waits until no request is in flight,
so that what a killed client left in flight has reached the account before the harness moves on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.emulator.bybit.server import BybitEmulator
from bot.emulator.server import BinanceEmulator

Hook = Callable[[str, str, int], None]
"""(method, path, request number since the emulator started)."""


class _Tracking:
    """Request counting and hooks; mixed in before an emulator face."""

    arrived: int
    symbol_asked: dict[int, str | None]
    """Request number -> the ``symbol`` its query string named (None: every symbol)."""
    in_flight: int
    on_arrival: Hook | None
    on_answered: Hook | None
    _idle: asyncio.Event

    def _init_tracking(self) -> None:
        self.symbol_asked: dict[int, str | None] = {}
        self.arrived = 0
        self.in_flight = 0
        self.on_arrival = None
        self.on_answered = None
        self._idle = asyncio.Event()
        self._idle.set()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.arrived += 1
        number = self.arrived
        self.in_flight += 1
        self._idle.clear()
        method, path = request.method, request.path
        self.symbol_asked[number] = request.query.get("symbol")
        try:
            if self.on_arrival is not None:
                self.on_arrival(method, path, number)
            response: web.StreamResponse = await super()._handle(request)  # type: ignore[misc]
            if self.on_answered is not None:
                self.on_answered(method, path, number)
            return response
        finally:
            self.in_flight -= 1
            if self.in_flight == 0:
                self._idle.set()

    async def wait_idle(self, seconds: float) -> bool:
        """Wait until no request is being handled; return False after ``seconds``."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), seconds)
        return self._idle.is_set()


class TrackedBinance(_Tracking, BinanceEmulator):
    """The Binance USDⓈ-M face with request hooks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Build the face, then the hooks."""
        super().__init__(*args, **kwargs)
        self._init_tracking()


class TrackedBybit(_Tracking, BybitEmulator):
    """The Bybit v5 face with request hooks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Build the face, then the hooks."""
        super().__init__(*args, **kwargs)
        self._init_tracking()


Tracked = TrackedBinance | TrackedBybit


@dataclass(frozen=True, slots=True)
class Face:
    """What differs between the exchange faces for the harness: endpoints and ids."""

    exchange: str
    order: tuple[str, str]
    reads: tuple[tuple[str, str], ...]
    """Endpoints read every cycle: tickers, positions, balances."""
    positions: frozenset[str]
    """Paths that answer the positions (GET)."""
    trades: frozenset[str]
    """Paths that answer the trade list (GET)."""
    marks_liquidations: bool
    """Whether the trade list itself marks a liquidation (Bybit's ``BustTrade``)."""


BINANCE_FACE = Face(
    "binanceusdm",
    ("POST", "/fapi/v1/order"),
    (
        ("GET", "/fapi/v1/ticker/24hr"),
        ("GET", "/fapi/v2/positionRisk"),
        ("GET", "/fapi/v3/account"),
        ("GET", "/api/v3/account"),
        ("GET", "/fapi/v1/userTrades"),
    ),
    frozenset({"/fapi/v2/positionRisk", "/fapi/v3/positionRisk"}),
    frozenset({"/fapi/v1/userTrades"}),
    marks_liquidations=False,
)
BYBIT_FACE = Face(
    "bybit",
    ("POST", "/v5/order/create"),
    (
        ("GET", "/v5/market/tickers"),
        ("GET", "/v5/position/list"),
        ("GET", "/v5/account/wallet-balance"),
        ("GET", "/v5/execution/list"),
    ),
    frozenset({"/v5/position/list"}),
    frozenset({"/v5/execution/list"}),
    marks_liquidations=True,
)
FACES = {face.exchange: face for face in (BINANCE_FACE, BYBIT_FACE)}

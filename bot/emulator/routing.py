"""What a handler is: an endpoint, whether Binance wants it signed, and the coroutine."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.emulator.params import Params

Handler = Callable[[Params], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint of the emulator."""

    method: str
    path: str
    handler: Handler
    signed: bool = False

"""What a handler is: an endpoint, whether Binance wants it signed or keyed, and the coroutine."""

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
    keyed: bool = False  # the API key header only, no signature (Binance's user data stream)

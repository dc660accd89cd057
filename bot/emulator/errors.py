"""Binance error replies: the code, message and HTTP status the emulator answers with."""

from __future__ import annotations

AUTH_CODES = frozenset({-2014, -2015})
"""Codes Binance sends with HTTP 401; every other request error comes with 400."""


class BinanceError(Exception):
    """A request refused with Binance's ``{"code": ..., "msg": ...}`` body."""

    def __init__(self, code: int, message: str, status: int | None = None) -> None:
        """Keep the code, the message and the HTTP status (401 for key errors, else 400)."""
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status if status is not None else (401 if code in AUTH_CODES else 400)

    def body(self) -> dict[str, object]:
        """Return the JSON body Binance sends."""
        return {"code": self.code, "msg": self.message}


def missing(name: str) -> BinanceError:
    """Return Binance's -1102 for a mandatory parameter that was not sent."""
    return BinanceError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def invalid(name: str) -> BinanceError:
    """Return Binance's -1130 for a parameter with an invalid value."""
    return BinanceError(-1130, f"Data sent for parameter '{name}' is not valid.")

"""Read request parameters the way Binance validates them."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from bot.emulator.errors import invalid, missing

Params = Mapping[str, str]


def required(params: Params, name: str) -> str:
    """Return a mandatory parameter or refuse with -1102."""
    value = params.get(name)
    if value is None or value == "":
        raise missing(name)
    return value


def decimal(params: Params, name: str) -> Decimal:
    """Return a mandatory positive-or-zero decimal parameter."""
    text = required(params, name)
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise missing(name) from None
    if not value.is_finite() or value < 0:
        raise missing(name)
    return value


def integer(params: Params, name: str, default: int | None = None) -> int | None:
    """Return an integer parameter, ``default`` when absent."""
    text = params.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise invalid(name) from None


def flag(params: Params, name: str) -> bool:
    """Return a ``true``/``false`` parameter (absent = false)."""
    text = params.get(name, "false").lower()
    if text not in ("true", "false"):
        raise invalid(name)
    return text == "true"


def limit(params: Params, default: int, maximum: int) -> int:
    """Return the ``limit`` parameter, capped like Binance caps it."""
    value = integer(params, "limit", default)
    if value is None or value < 1:
        raise invalid("limit")
    return min(value, maximum)

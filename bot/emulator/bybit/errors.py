"""Bybit v5 refusals (``retCode``/``retMsg`` in the JSON envelope) and request-parameter checks.

Bybit answers almost every refusal with HTTP 200 and a non-zero ``retCode``; ccxt maps the code
(``bybit.describe()['exceptions']['exact']``), not the status. The simulation refuses with Binance
codes (`bot.sim.exchange`); `from_sim` translates them to what Bybit sends for the same cause.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from bot.emulator.auth import wall_ms
from bot.sim.exchange import (
    BAD_PRECISION,
    BAD_QUANTITY,
    MARGIN_INSUFFICIENT,
    MIN_NOTIONAL,
    REDUCE_ONLY_REJECTED,
    SimRejected,
)

Params = Mapping[str, str]

PARAMS_ERROR = 10001
TIMESTAMP_WINDOW = 10002
INVALID_API_KEY = 10003
INVALID_SIGN = 10004
RATE_LIMITED = 10006
ORDER_NOT_FOUND = 110001
INSUFFICIENT_BALANCE = 110007  # "ab not enough for new order": ccxt InsufficientFunds
ORDER_FINISHED = 110008
ADD_MARGIN_BALANCE = 110014
CROSS_MARGIN_POSITION = 110015
REDUCE_ONLY_RULE = 110017  # ccxt InvalidOrder
POSITION_MODE_WITH_POSITION = 110024
POSITION_MODE_NOT_MODIFIED = 110025  # ccxt NoChange
NO_POSITION_FOR_MARGIN = 110033
LEVERAGE_NOT_MODIFIED = 110043  # ccxt BadRequest
DUPLICATE_LINK_ID = 110072
MIN_ORDER_VALUE = 110094
SET_MARGIN_MODE_FAILED = 3400045

NOT_SUPPORTED_SYMBOLS = "Not supported symbols"  # ccxt's broad match: BadSymbol


class BybitError(Exception):
    """A request refused with Bybit's envelope: ``retCode`` != 0, HTTP ``status`` (200 mostly)."""

    def __init__(
        self, code: int, message: str, *, status: int = 200, result: object | None = None
    ) -> None:
        """Keep the code, the message, the HTTP status and an optional ``result`` body."""
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.result = result

    def body(self) -> dict[str, object]:
        """Return Bybit's JSON envelope of this refusal."""
        return {
            "retCode": self.code,
            "retMsg": self.message,
            "result": self.result if self.result is not None else {},
            "retExtInfo": {},
            "time": wall_ms(),
        }


def params_error(message: str) -> BybitError:
    """Return Bybit's 10001 (ccxt BadRequest)."""
    return BybitError(PARAMS_ERROR, message)


def from_sim(rejection: SimRejected, market_min_notional: Decimal | None = None) -> BybitError:
    """Return what Bybit answers for the cause the simulation refused with (Binance code)."""
    code = rejection.code
    if code == MARGIN_INSUFFICIENT:
        return BybitError(INSUFFICIENT_BALANCE, "ab not enough for new order")
    if code == REDUCE_ONLY_REJECTED:
        return BybitError(REDUCE_ONLY_RULE, "Reduce-only rule not satisfied")
    if code == MIN_NOTIONAL:
        floor = f"{market_min_notional}" if market_min_notional is not None else "the minimum"
        return BybitError(MIN_ORDER_VALUE, f"Order does not meet minimum order value {floor}USDT")
    if code == BAD_PRECISION:
        return params_error("Qty invalid: not a multiple of qtyStep")
    if code == BAD_QUANTITY:
        return params_error("The number of contracts exceeds minimum limit allowed")
    if code == -1121:
        return params_error(NOT_SUPPORTED_SYMBOLS)
    return params_error(rejection.message)


# -- parameters -----------------------------------------------------------------------------


def required(params: Params, name: str) -> str:
    """Return a mandatory parameter or refuse with 10001."""
    value = params.get(name)
    if value is None or value == "":
        raise params_error(f"params error: {name} is required")
    return value


def decimal(params: Params, name: str, *, allow_negative: bool = False) -> Decimal:
    """Return a mandatory finite decimal parameter (>= 0 unless ``allow_negative``)."""
    text = required(params, name)
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise params_error(f"params error: {name} invalid") from None
    if not value.is_finite() or (value < 0 and not allow_negative):
        raise params_error(f"params error: {name} invalid")
    return value


def integer(params: Params, name: str, default: int | None = None) -> int | None:
    """Return an integer parameter, ``default`` when absent."""
    text = params.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise params_error(f"params error: {name} invalid") from None


def limit(params: Params, default: int, maximum: int) -> int:
    """Return ``limit`` within Bybit's documented ``[1, maximum]`` (outside it: 10001)."""
    value = integer(params, "limit", default)
    if value is None or not 1 <= value <= maximum:
        raise params_error(f"params error: limit must be in [1, {maximum}]")
    return value


def category(params: Params, *allowed: str) -> str:
    """Return ``category`` when it is one the emulator serves on this endpoint."""
    value = required(params, "category")
    if value not in allowed:
        raise params_error(f"category only support {', '.join(allowed)}")
    return value

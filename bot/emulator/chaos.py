"""Plausible-but-wrong answers: where a face says prices and positions, and how to falsify them.

Each face has a `WrongAnswers` dialect: the paths that carry the perp's last price, its mark price
and the positions, and the ``corrupt`` mutations that falsify their JSON bodies. The fault injector
arms them (``wrong_price``, ``empty_positions``, ``flip_positions``); this module only rewrites
bodies. Numbers stay strings in the face's format; an answer of another shape (an error) passes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bot.emulator.codec import plain

Mutation = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class WrongAnswers:
    """One face's endpoints of prices and positions and the mutations that falsify them."""

    price_paths: tuple[str, ...]  # GET answers carrying a perp's last price
    mark_paths: tuple[str, ...]  # GET answers carrying only its mark price
    position_paths: tuple[str, ...]
    wrong_price: Callable[[str, Decimal, bool], Mutation]  # (symbol id, factor, also mark)
    empty_positions: Mutation
    flip_positions: Mutation


def scaled(body: Any, symbol_id: str, factor: Decimal, fields: Collection[str]) -> Any:
    """Return ``body`` with ``fields`` times ``factor`` in every object of ``symbol_id``."""
    if isinstance(body, list):
        return [scaled(item, symbol_id, factor, fields) for item in body]
    if not isinstance(body, dict):
        return body
    if body.get("symbol") == symbol_id:
        return {
            key: _times(value, factor) if key in fields else value for key, value in body.items()
        }
    return {key: scaled(value, symbol_id, factor, fields) for key, value in body.items()}


def _times(text: Any, factor: Decimal) -> Any:
    """Return a decimal string times ``factor`` (anything else unchanged)."""
    return plain(Decimal(text) * factor) if isinstance(text, str) else text


def negated(text: Any) -> Any:
    """Return a decimal string with its sign flipped, in the same format (zero stays)."""
    if not isinstance(text, str) or Decimal(text) == 0:
        return text
    return text[1:] if text.startswith("-") else f"-{text}"


# -- Binance USDⓈ-M ------------------------------------------------------------------------

BINANCE_FLIPPED = ("positionAmt", "notional", "unRealizedProfit")


def _binance_wrong_price(symbol_id: str, factor: Decimal, also_mark: bool) -> Mutation:
    fields = {"lastPrice", "price", *(("markPrice",) if also_mark else ())}
    return lambda body: scaled(body, symbol_id, factor, fields)


def _binance_empty(body: Any) -> Any:
    return [] if isinstance(body, list) else body


def _binance_flip(body: Any) -> Any:
    if not isinstance(body, list):
        return body
    return [_binance_flipped(entry) for entry in body]


def _binance_flipped(entry: Any) -> Any:
    amount = entry.get("positionAmt") if isinstance(entry, dict) else None
    if not isinstance(amount, str) or Decimal(amount) == 0:
        return entry
    return {key: negated(v) if key in BINANCE_FLIPPED else v for key, v in entry.items()}


BINANCE_ANSWERS = WrongAnswers(
    price_paths=("/fapi/v1/ticker/24hr", "/fapi/v1/ticker/price", "/fapi/v2/ticker/price"),
    mark_paths=("/fapi/v1/premiumIndex",),
    position_paths=("/fapi/v2/positionRisk", "/fapi/v3/positionRisk"),
    wrong_price=_binance_wrong_price,
    empty_positions=_binance_empty,
    flip_positions=_binance_flip,
)

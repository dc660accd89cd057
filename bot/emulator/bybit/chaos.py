"""Plausible-but-wrong answers in Bybit's v5 dialect (see `bot.emulator.chaos`).

The perp's last and mark prices both live in /v5/market/tickers (``category=linear``; the spot
tickers of the same id are left alone); positions live in /v5/position/list, sized without sign
and sided by ``side``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot.emulator.chaos import Mutation, WrongAnswers, negated, scaled

SIDES = {"Buy": "Sell", "Sell": "Buy"}


def _linear_list(body: Any) -> list[Any] | None:
    """Return the ``result.list`` of a linear answer, None for any other answer."""
    result = body.get("result") if isinstance(body, dict) else None
    if not isinstance(result, dict) or result.get("category") != "linear":
        return None
    rows = result.get("list")
    return rows if isinstance(rows, list) else None


def _with_list(body: dict[str, Any], rows: list[Any]) -> dict[str, Any]:
    return {**body, "result": {**body["result"], "list": rows}}


def _wrong_price(symbol_id: str, factor: Decimal, also_mark: bool) -> Mutation:
    fields = {"lastPrice", *(("markPrice",) if also_mark else ())}

    def mutate(body: Any) -> Any:
        rows = _linear_list(body)
        return body if rows is None else _with_list(body, scaled(rows, symbol_id, factor, fields))

    return mutate


def _empty(body: Any) -> Any:
    return body if _linear_list(body) is None else _with_list(body, [])


def _flip(body: Any) -> Any:
    rows = _linear_list(body)
    return body if rows is None else _with_list(body, [_flipped(row) for row in rows])


def _flipped(row: Any) -> Any:
    if not isinstance(row, dict) or row.get("side") not in SIDES:
        return row
    return {**row, "side": SIDES[row["side"]], "unrealisedPnl": negated(row.get("unrealisedPnl"))}


BYBIT_ANSWERS = WrongAnswers(
    price_paths=("/v5/market/tickers",),
    mark_paths=(),
    position_paths=("/v5/position/list",),
    wrong_price=_wrong_price,
    empty_positions=_empty,
    flip_positions=_flip,
)

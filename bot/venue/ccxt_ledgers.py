"""What the exchanges keep beside their trade and income lists, read through ccxt.

`CcxtVenue` journals fills and funding from the trade and income lists; some of what a record
needs is elsewhere:

- Bybit's execution list, read with every execution type (`bybit_executions`): ccxt's
  fetch_my_trades asks for ``execType=Trade`` and so never sees a liquidation (``BustTrade``) or an
  ADL (``AdlTrade``);
- Binance's forced-orders list (`forced_orders`, GET /fapi/v1/forceOrders): the only place that
  says which orders were liquidations (``autoclose-…``) or ADL (``adl_autoclose``), since
  userTrades names no client order id;
- Binance's funding-rate history (`funding_charges`, GET /fapi/v1/fundingRate): the settled rate
  and the mark each funding fee was charged at, which the income list does not carry.

Every call goes through the venue's gate (``read``); answers that are not lists of entries are
refused as `MalformedResponse`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from functools import partial
from typing import Any

from bot.core.errors import MalformedResponse
from bot.venue import ccxt_parse as parse

Read = Callable[[str, Callable[[], Awaitable[Any]]], Awaitable[Any]]
"""The venue's gated read: ``read(name, call)``."""
Charge = tuple[int, Decimal, Decimal | None]
"""A settled funding: (time ms, rate, mark charged at or None)."""

WEEK_MS = 7 * 86_400_000
MATCH_MS = 60_000
"""A funding payment and the rate entry it was charged at are at most this far apart (ms)."""
FORCED_PAGE = 100
"""Binance's largest page of forced orders."""
MAX_SPLITS = 8
"""How often a full page of forced orders is split before giving up on the rest."""
RATE_PAGE = 1000
"""Binance's largest page of funding rates."""


def ledger_page(name: str, page: Any) -> list[dict[str, Any]]:
    """Return a ledger page as ccxt parsed it, or refuse an answer that is not a list of rows."""
    if not isinstance(page, list) or not all(isinstance(row, dict) for row in page):
        raise MalformedResponse(f"{name}: the exchange's answer is not a list of entries")
    return page


def exec_type(trade: dict[str, Any]) -> str | None:
    """Return a Bybit execution's ``execType`` (ccxt keeps it in ``info`` only)."""
    info = trade.get("info")
    return info.get("execType") if isinstance(info, dict) else None


def nearest(charges: Sequence[Charge], at: int) -> Charge | None:
    """Return the charge whose time is nearest ``at``, within `MATCH_MS`; None when none is."""
    near = [c for c in charges if abs(c[0] - at) <= MATCH_MS]
    return min(near, key=lambda c: abs(c[0] - at)) if near else None


async def bybit_executions(
    futures: Any, symbol: str, since: int | None, limit: int, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """Return one page of Bybit's execution list, every type, parsed as ccxt trades.

    Bybit takes one ``execType`` or none, so none is asked (funding settlements come along and
    are left out by the caller). The page's ``nextPageCursor`` rides in one entry's ``info``, as
    ccxt puts it.
    """
    market = futures.market(symbol)
    request = {"category": "linear", "symbol": market["id"], "limit": limit, **params}
    if since is not None:
        request["startTime"] = since
    response = await futures.privateGetV5ExecutionList(request)
    rows = futures.add_pagination_cursor_to_result(response)
    return list(futures.parse_trades(rows, market))


async def forced_orders(
    read: Read, futures: Any, symbol: str | None, start: int, end: int
) -> dict[tuple[str, str], str | None]:
    """Return the client ids of Binance's liquidation and ADL orders of ``[start, end]`` ms.

    Keyed by (unified symbol, order id); every symbol's when ``symbol`` is None (weight 50
    instead of 20). The endpoint answers 7 days and 100 orders at most per call.
    """
    found: dict[tuple[str, str], str | None] = {}
    while start <= end:
        stop = min(end, start + WEEK_MS - 1)
        await _forced_window(read, futures, symbol, start, stop, found, 0)
        start = stop + 1
    return found


async def _forced_window(
    read: Read,
    futures: Any,
    symbol: str | None,
    start: int,
    end: int,
    found: dict[tuple[str, str], str | None],
    depth: int,
) -> None:
    request: dict[str, Any] = {"startTime": start, "endTime": end, "limit": FORCED_PAGE}
    if symbol is not None:
        request["symbol"] = futures.market(symbol)["id"]
    call = partial(futures.fapiPrivateGetForceOrders, request)
    page = ledger_page("forced orders", await read("fetch_forced_orders", call))
    times = []
    for row in page:
        symbol_id, order_id, client_id, at = parse.forced_order(row)
        found[(futures.safe_symbol(symbol_id, None, None, "swap"), order_id)] = client_id
        times.append(at)
    if len(page) < FORCED_PAGE or depth >= MAX_SPLITS:
        return
    # A full page holds the oldest or the newest of the window: read what is left beside it.
    first, last = min(times), max(times)
    if first > start:
        await _forced_window(read, futures, symbol, start, first, found, depth + 1)
    if last < end:
        await _forced_window(read, futures, symbol, last, end, found, depth + 1)


async def funding_charges(
    read: Read, futures: Any, symbol: str | None, start: int, end: int
) -> dict[str, list[Charge]]:
    """Return Binance's settled funding of ``[start, end]`` ms by symbol, oldest first.

    One symbol's, or every symbol's (one call for all the legs). Pages forward from the last
    time seen, inclusive (an instant shared by many symbols may straddle two pages), until a
    page is short.
    """
    charges: dict[str, dict[int, Charge]] = {}
    cursor = start
    while True:
        call = partial(
            futures.fetch_funding_rate_history, symbol, cursor, RATE_PAGE, {"endTime": end}
        )
        page = ledger_page("funding rates", await read("fetch_funding_rates", call))
        last = cursor
        for row in page:
            found, at, rate, mark = parse.funding_charge(row)
            charges.setdefault(found, {})[at] = (at, rate, mark)
            last = max(last, at)
        if len(page) < RATE_PAGE or last <= cursor:
            return {s: sorted(by_time.values()) for s, by_time in charges.items()}
        cursor = last

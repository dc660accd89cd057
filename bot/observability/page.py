"""The status page and its read-only JSON API, on the bot's own aiohttp server.

``/`` is the page (HTML, JS and CSS shipped under ``static/``: no CDN); it reads
``/api/status`` (state, holdings, legs, running costs, cost of insurance), ``/api/snapshots``
(the charts over ``?from=&to=``, ISO dates), ``/api/events`` (the timeline: guard actions,
liquidations, ADL, mismatches, the kill switch…, newest first, ``?from=&to=&limit=``) and
``/api/backtest`` (a `hedgebot backtest --out` directory, when one is given). A bad query
parameter is a 400 with one line saying which and what to write.

Every journal read runs in a worker thread (`asyncio.to_thread`), at most `READERS` at a time,
so a long read never holds the loop the bot's cycles run on. The status model (a year of 4h
cycles is seconds of reading) is read again only once the journal has news for the venue: a
rebalance row, a fill or a funding payment. Without a venue named, the page shows the journal's
latest venue (session) at each read: a new paper run's session as soon as it writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from bot.core.errors import HedgebotError, NothingToShow
from bot.journal.store import Journal
from bot.observability.backtests import backtest_json
from bot.observability.model import StatusModel, status_model
from bot.observability.series import cost_points, ratio_points, value_points
from bot.observability.state import StateSource
from bot.observability.views import (
    BadQuery,
    Window,
    event_json,
    parse_limit,
    parse_window,
    series_json,
    status_json,
)
from bot.settings.secrets import mask

STATIC_DIR = Path(__file__).with_name("static")
"""The page's files (package data)."""
READERS = 2
"""Journal reads the page runs at once; more requests wait their turn."""
NO_STORE = {"Cache-Control": "no-store"}
TIMELINE = (
    "margin_guard",
    "liquidation",
    "adl",
    "position_mismatch",
    "implausible_price",
    "leg_settings",
    "reconcile",
    "order_cancel",
)
"""The kinds of venue events on the timeline (the margin policy has its lines under the legs)."""

_Result = TypeVar("_Result")


class StatusPage:
    """What the page shows of one venue's journal; the reads block, `read` runs them aside."""

    def __init__(
        self,
        journal: Journal,
        venue: str | None,
        interval_seconds: int,
        state: StateSource,
        backtests: Path | None = None,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """Show ``venue`` of ``journal`` (None: the latest); ``backtests``: an ``--out`` dir."""
        self.journal = journal
        self.named = venue
        self.interval_seconds = interval_seconds
        self.state = state
        self.backtests = backtests
        self.wall = wall
        self._readers = asyncio.Semaphore(READERS)
        self._model: tuple[tuple[object, ...], StatusModel] | None = None

    async def read(self, work: Callable[[], _Result]) -> _Result:
        """Run the blocking ``work`` in a worker thread, `READERS` at a time."""
        async with self._readers:
            return await asyncio.to_thread(work)

    def venue(self) -> str:
        """Return the venue shown now: the one named, else the journal's latest (blocking)."""
        venue = self.named or self.journal.latest_venue()
        if venue is None:
            raise NothingToShow("the journal is empty")
        return venue

    def _news(self, venue: str) -> tuple[object, ...]:
        """Return what changes whenever a cycle or a sync journals something for ``venue``."""
        latest = self.journal.rebalances(1, venue=venue)
        last = (latest[-1].id, latest[-1].status) if latest else None
        fills = self.journal.fill_watermark(venue)
        return (venue, last, fills, self.journal.last_funding_time(venue))

    def status(self) -> dict[str, Any]:
        """Return `/api/status` (blocking)."""
        venue = self.venue()
        news = self._news(venue)
        if self._model is None or self._model[0] != news:
            self._model = (news, status_model(self.journal, venue, self.wall()))
        return status_json(self._model[1], self.state(venue), self.interval_seconds)

    def snapshots(self, window: Window) -> dict[str, Any]:
        """Return `/api/snapshots` over ``window`` (blocking)."""
        journal, venue = self.journal, self.venue()
        since, until = window.since, window.until
        before = None if since is None else journal.totals(venue=venue, until=since)
        return series_json(
            window,
            value_points(journal.rebalances(venue=venue, since=since, until=until)),
            ratio_points(journal.snapshots(venue=venue, since=since, until=until)),
            cost_points(
                before,
                journal.fills(venue=venue, since=since, until=until),
                journal.funding(venue=venue, since=since, until=until),
            ),
        )

    def events(self, window: Window, limit: int) -> list[dict[str, Any]]:
        """Return `/api/events`: the venue's `TIMELINE` events and the kill switch's, newest first.

        The kill switch is the account's: `hedgebot halt` journals it without a venue.
        """
        since, until, venue = window.since, window.until, self.venue()
        found = self.journal.events(limit, kinds=TIMELINE, venue=venue, since=since, until=until)
        switch = self.journal.events(limit, kind="kill_switch", since=since, until=until)
        found += [event for event in switch if event.venue in (None, venue)]
        found.sort(key=lambda event: event.time, reverse=True)
        return [event_json(event) for event in found[:limit]]

    def backtest(self) -> dict[str, Any] | None:
        """Return `/api/backtest`, or None without a results directory (blocking)."""
        return None if self.backtests is None else backtest_json(self.backtests)


def _query_error(error: BadQuery) -> web.Response:
    return web.Response(status=400, text=f"bad query: {error}\n", headers=NO_STORE)


def add_page(app: web.Application, page: StatusPage) -> None:
    """Serve ``page`` and its API from ``app``."""

    async def answer(work: Callable[[], object]) -> web.Response:
        try:
            data = await page.read(work)
        except HedgebotError as error:  # the journal cannot be read now: say so, stay up
            text = " ".join(mask(str(error)).split())
            return web.Response(status=503, text=f"journal unavailable: {text}\n")
        return web.json_response(data, headers=NO_STORE)

    async def index(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / "index.html", headers=NO_STORE)

    async def status(_request: web.Request) -> web.Response:
        return await answer(page.status)

    async def snapshots(request: web.Request) -> web.Response:
        try:
            window = parse_window(request.query)
        except BadQuery as error:
            return _query_error(error)
        return await answer(lambda: page.snapshots(window))

    async def events(request: web.Request) -> web.Response:
        try:
            window, limit = parse_window(request.query), parse_limit(request.query)
        except BadQuery as error:
            return _query_error(error)
        return await answer(lambda: page.events(window, limit))

    async def backtest(_request: web.Request) -> web.Response:
        return await answer(page.backtest)

    app.router.add_get("/", index)
    app.router.add_get("/api/status", status)
    app.router.add_get("/api/snapshots", snapshots)
    app.router.add_get("/api/events", events)
    app.router.add_get("/api/backtest", backtest)
    app.router.add_static("/static/", STATIC_DIR)


def login_form() -> str:
    """Return the login form's HTML (package data)."""
    return (STATIC_DIR / "login.html").read_text(encoding="utf-8")

"""The JSON of the status page's API, and the checks of its query parameters (pure).

Figures travel twice: exact (decimal strings, as the journal keeps them) and ``shown``, the text
`hedgebot status` and `hedgebot report` print for them (`bot.observability.cells`), which the page
displays as it is. Free text from the journal (reasons, notes, event messages) is masked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bot.core.domain import ZERO
from bot.journal.records import EventRecord, to_jsonable
from bot.notify.alerts import alert_for_event
from bot.observability.cells import (
    carry_cells,
    cost_cells,
    holding_cells,
    leg_cells,
    totals_cells,
)
from bot.observability.model import StatusModel
from bot.observability.series import CostPoint, RatioPoint, ValuePoint
from bot.observability.state import BotState
from bot.reporting.display import money
from bot.runtime.engine import rebalance_slot
from bot.settings.secrets import mask

EVENT_LIMIT = 200
"""Events `/api/events` returns unless ``limit`` says otherwise."""
MAX_EVENT_LIMIT = 5000
"""The most events one request may ask for."""


class BadQuery(ValueError):
    """A query parameter the API cannot use; the message says which and what to write."""


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open period ``[since, until)`` of the journal; None: unbounded."""

    since: datetime | None = None
    until: datetime | None = None


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


def _date(name: str, text: str) -> datetime:
    """Return ``text`` as a UTC time (UTC unless it says); `BadQuery` if it is none in UTC."""
    try:
        moment = datetime.fromisoformat(text)
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):  # OverflowError: out of range once in UTC
        raise BadQuery(
            f"{name}={text!r} is not a date; write e.g. {name}=2022-01-01 or "
            f"{name}=2022-01-01T12:00 (UTC)"
        ) from None


def parse_window(query: Mapping[str, str]) -> Window:
    """Return the period ``from``/``to`` name (ISO dates, UTC unless they say); else `BadQuery`."""
    since = _date("from", query["from"]) if query.get("from") else None
    until = _date("to", query["to"]) if query.get("to") else None
    if since is not None and until is not None and until <= since:
        raise BadQuery(f"to={query['to']} must be after from={query['from']}")
    return Window(since, until)


def parse_limit(query: Mapping[str, str]) -> int:
    """Return ``limit`` (default `EVENT_LIMIT`, 1..`MAX_EVENT_LIMIT`); `BadQuery` if bad."""
    text = query.get("limit")
    if not text:
        return EVENT_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_EVENT_LIMIT:
        raise BadQuery(f"limit={text!r}: write a whole number from 1 to {MAX_EVENT_LIMIT}")
    return int(text)


def _exact(item: Any, shown: Mapping[str, str]) -> dict[str, Any]:
    """Return a dataclass's fields as JSON (exact decimals) with its ``shown`` text."""
    return {**to_jsonable(item), "shown": dict(shown)}


def _state(model: StatusModel, state: BotState, interval_seconds: int) -> dict[str, Any]:
    last = model.last
    upcoming = None
    if state.running and last is not None:
        upcoming = rebalance_slot(last.time, interval_seconds) + timedelta(seconds=interval_seconds)
    return {
        "running": state.running,
        "detail": state.detail,
        "halted": None if state.halted is None else mask(state.halted),
        "last_cycle": None
        if last is None
        else {
            "id": last.id,
            "time": last.time.isoformat(),
            "time_shown": _when(last.time),
            "status": last.status.value,
            "reason": mask(last.reason),
            "notes": [mask(note) for note in model.notes],
        },
        "next_cycle": None if upcoming is None else upcoming.isoformat(),
        "next_cycle_shown": _when(upcoming),
        "sooner": state.sooner,
    }


def status_json(model: StatusModel, state: BotState, interval_seconds: int) -> dict[str, Any]:
    """Return `/api/status`: the bot's state, holdings, legs, running costs, cost of insurance."""
    totals = model.totals
    insurance = model.insurance
    policy = model.policy
    return {
        "venue": model.venue,
        "interval_seconds": interval_seconds,
        "state": _state(model, state, interval_seconds),
        "holdings": [_exact(h, holding_cells(h)) for h in model.holdings],
        "holdings_total": money(sum((h.value for h in model.holdings), ZERO)),
        "legs": [_exact(leg, leg_cells(leg)) for leg in model.legs],
        "totals": {
            **to_jsonable(totals),
            "shown": totals_cells(totals),
        },
        "carry": None if insurance is None else carry_cells(insurance),
        "insurance": None
        if insurance is None
        else {
            "since": insurance.since.isoformat(),
            "until": insurance.until.isoformat(),
            "since_shown": _when(insurance.since),
            "until_shown": _when(insurance.until),
            "days": f"{insurance.days:.1f}",
            "legs": [cost_cells(insurance, leg) for leg in insurance.legs],
            "total": cost_cells(insurance, insurance.total),
        },
        "policy": None
        if policy is None
        else {
            "time_shown": _when(policy.time),
            "collateral": money(Decimal(str(policy.data["collateral"]))),
            "legs": [
                {"reachable": bool(leg["reachable"]), "note": mask(str(leg["note"]))}
                for leg in policy.data["legs"]
            ],
        },
    }


def series_json(
    window: Window,
    values: Sequence[ValuePoint],
    ratios: Mapping[str, Sequence[RatioPoint]],
    costs: Sequence[CostPoint],
) -> dict[str, Any]:
    """Return `/api/snapshots`: the charts' series over ``window``, exact decimals."""
    return {
        "from": None if window.since is None else window.since.isoformat(),
        "to": None if window.until is None else window.until.isoformat(),
        "portfolio": to_jsonable(values),
        "hedge_ratio": {symbol: to_jsonable(points) for symbol, points in ratios.items()},
        "costs": to_jsonable(costs),
    }


def event_json(event: EventRecord) -> dict[str, Any]:
    """Return one timeline entry: when, kind, severity and title (as alerts say it), message."""
    alert = alert_for_event(event)
    title = alert.title if alert is not None else event.kind.replace("_", " ")
    severity = alert.severity.name.lower() if alert is not None else "info"
    symbol = event.data.get("symbol")
    return {
        "time": event.time.isoformat(),
        "time_shown": f"{event.time:%Y-%m-%d %H:%M:%S} UTC",
        "kind": event.kind,
        "severity": severity,
        "title": mask(title),
        "symbol": None if symbol is None else str(symbol),
        "message": mask(event.message),
    }

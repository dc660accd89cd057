"""`event_calendar`: raise the hedge around scheduled macro or regulatory events, then hand back.

From ``lead`` before each event until ``lag`` after it, the holdings it concerns are hedged at
``ratio`` (default 100%); outside every window they get ``base_ratio`` (default 0), so combined
with another strategy under `max_of` the other strategy's ratio takes over again.

Events come from the config (``events = [{ name = "FOMC", time = 2024-03-20T18:00:00Z }]``) and/or
a CSV file with the header ``time,name,assets`` (UTC ISO times; ``assets`` optional, space
separated). The file is read once, when the configuration is validated.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import Field, field_validator, model_validator

from strategies.base import HedgeDecision, StrategyInput, StrategyNeeds, StrategyParams
from strategies.units import Duration, describe, parse_duration, percent

Ratio = Annotated[Decimal, Field(ge=0, le=3)]
Asset = Annotated[str, Field(pattern=r"^[A-Z0-9]{2,15}$")]


class Event(StrategyParams):
    """One scheduled event."""

    name: Annotated[str, Field(min_length=1)]
    time: datetime
    """When it happens, UTC (a time without zone is read as UTC)."""
    assets: tuple[Asset, ...] | None = None
    """Holdings it concerns; unset = every holding."""

    @field_validator("time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def read_events(path: Path) -> list[dict[str, Any]]:
    """Return the rows of an events CSV (``time,name[,assets]``) as event dicts."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as error:
        raise ValueError(f"cannot read events file {path}: {error.strerror}") from None
    events: list[dict[str, Any]] = []
    for line, row in enumerate(rows, start=2):
        if not row.get("time") or not row.get("name"):
            raise ValueError(f"{path} line {line}: needs a time and a name, got {row}")
        event: dict[str, Any] = {"time": row["time"].strip(), "name": row["name"].strip()}
        if assets := (row.get("assets") or "").split():
            event["assets"] = assets
        events.append(event)
    return events


class EventCalendarParams(StrategyParams):
    """Parameters of the event-calendar strategy."""

    events: tuple[Event, ...] = ()
    file: str | None = None
    """CSV of further events (``time,name,assets``), relative to the working directory."""
    lead: Duration = parse_duration("24h")
    """How long before an event the hedge goes up."""
    lag: Duration = parse_duration("24h")
    """How long after an event the hedge stays up before handing back."""
    ratio: Ratio = Decimal(1)
    base_ratio: Ratio = Decimal(0)
    """Ratio outside every event window."""

    @model_validator(mode="before")
    @classmethod
    def _load_file(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("file"):
            listed = list(data.get("events") or [])
            return {**data, "events": listed + read_events(Path(str(data["file"])))}
        return data

    @model_validator(mode="after")
    def _something_scheduled(self) -> EventCalendarParams:
        if not self.events:
            raise ValueError("no events: list some under events or give a file")
        if self.ratio < self.base_ratio:
            raise ValueError(f"ratio {self.ratio} is below base_ratio {self.base_ratio}")
        return self


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _span(delta: timedelta) -> str:
    minutes = int(abs(delta.total_seconds()) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    return f"{days}d {hours}h" if days else f"{hours}h {minutes:02d}m"


class EventCalendar:
    """Hedge at ``ratio`` around each scheduled event, at ``base_ratio`` otherwise."""

    name: ClassVar[str] = "event_calendar"
    Params: ClassVar[type[StrategyParams]] = EventCalendarParams
    needs = StrategyNeeds()

    def __init__(self, params: EventCalendarParams) -> None:
        """Keep the events in time order."""
        self.params = params
        self.events = tuple(sorted(params.events, key=lambda e: e.time))

    def _active(self, now: datetime) -> list[Event]:
        lead, lag = self.params.lead, self.params.lag
        return [e for e in self.events if e.time - lead <= now < e.time + lag]

    def decide(self, view: StrategyInput) -> HedgeDecision:
        """Return ``ratio`` for holdings concerned by an event in its window, else the base."""
        params, now = self.params, view.time
        active = self._active(now)
        ratios: dict[str, Decimal] = {}
        for holding in view.holdings:
            concerned = any(e.assets is None or holding.asset in e.assets for e in active)
            ratios[holding.asset] = params.ratio if concerned else params.base_ratio
        window = f"{describe(params.lead)} before to {describe(params.lag)} after"
        if active:
            parts = []
            for event in active:
                timing = (
                    f"in {_span(event.time - now)}"
                    if event.time > now
                    else f"{_span(now - event.time)} ago"
                )
                scope = f" for {', '.join(event.assets)}" if event.assets else ""
                parts.append(f"{event.name} at {_when(event.time)} ({timing}){scope}")
            reason = (
                f"scheduled event: {'; '.join(parts)} → hedge raised to {percent(params.ratio)} "
                f"from {window} the event"
            )
        else:
            reason = (
                f"no scheduled event in its window ({window}): hedge {percent(params.base_ratio)}"
            )
            past = [e for e in self.events if e.time + params.lag <= now]
            if past:
                reason += f"; handed back after {past[-1].name} ({_when(past[-1].time)})"
            coming = [e for e in self.events if e.time - params.lead > now]
            if coming:
                nxt = coming[0]
                reason += (
                    f"; next: {nxt.name} at {_when(nxt.time)}, hedge rises at "
                    f"{_when(nxt.time - params.lead)}"
                )
        return HedgeDecision(
            ratios=ratios,
            reason=reason,
            inputs={
                "active_events": [f"{e.name} {e.time.isoformat()}" for e in active],
                "lead": describe(params.lead),
                "lag": describe(params.lag),
            },
        )

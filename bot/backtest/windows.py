"""Named crash windows: periods a backtest can replay by name (``--window november-2022``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bot.core.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Window:
    """A replay period around one market crash, with a lead-in so the hedge is in place."""

    name: str
    start: datetime
    end: datetime
    what: str


def _utc(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


WINDOWS: dict[str, Window] = {
    w.name: w
    for w in (
        Window("march-2020", _utc(2020, 2, 20), _utc(2020, 4, 1), "COVID crash (12–13 March)"),
        Window("may-2021", _utc(2021, 5, 1), _utc(2021, 6, 1), "leverage flush (12–19 May)"),
        Window(
            "may-june-2022",
            _utc(2022, 5, 1),
            _utc(2022, 7, 1),
            "LUNA collapse (7–12 May), then Celsius and 3AC (13–18 June)",
        ),
        Window("november-2022", _utc(2022, 11, 1), _utc(2022, 12, 1), "FTX collapse (6–10 Nov)"),
        Window(
            "august-2024", _utc(2024, 7, 25), _utc(2024, 8, 25), "yen carry-trade unwind (5 Aug)"
        ),
        Window(
            "october-2025", _utc(2025, 10, 1), _utc(2025, 11, 1), "liquidation cascade (10 Oct)"
        ),
    )
}


def find_window(name: str) -> Window:
    """Return the named window, or raise `ConfigError` listing the names there are."""
    try:
        return WINDOWS[name]
    except KeyError:
        raise ConfigError(
            f"--window: unknown crash window {name!r}; use one of {', '.join(WINDOWS)}"
        ) from None


def describe_windows() -> str:
    """Return one line per window: name, period and what happened."""
    return "\n".join(
        f"{w.name:<15} {w.start:%Y-%m-%d} → {w.end:%Y-%m-%d}  {w.what}" for w in WINDOWS.values()
    )
